/*
 * cmd_logs.c - `mags logs <name|id> [-f]`: a job's output, stdout records
 * to stdout and stderr records to stderr; with -f, streamed until the job
 * ends.
 */
#include "mags/cli.h"
#include "mags/termsafe.h"

#include <string.h>

#include "common/banned.h"

const char cmd_logs_usage[] =
	"Usage: mags logs <name|id> [-f] [--json]\n"
	"\n"
	"View a job's output: stdout lines on stdout, stderr lines on stderr.\n"
	"\n"
	"Options:\n"
	"  -f, --follow    Keep printing new output until the job ends\n"
	"  --json          Print the API's JSON (with -f: one object per line)\n"
	"\n"
	"Examples:\n"
	"  mags logs myproject\n"
	"  mags logs 3f2a9c1e-... -f\n";

static void print_record(const char *message, size_t len, const char *source)
{
	FILE *f = strcmp(source, "stdout") == 0 ? stdout : stderr;
	bool system = strcmp(source, "stdout") != 0 && strcmp(source, "stderr") != 0;

	if (f == stderr)
		fflush(stdout);
	if (system)
		fputs(cli_color(f, CLI_GRAY), f);
	termsafe_write(f, message, len);
	if (system)
		fputs(cli_reset(f), f);
	fputc('\n', f);
	fflush(f);
}

static void print_json_record(json_t *rec)
{
	json_t *m = json_object_get(rec, "message");

	print_record(json_is_string(m) ? json_string_value(m) : "",
		     json_is_string(m) ? json_string_length(m) : 0,
		     cli_jstr(rec, "source", "stdout"));
}

static int on_event(const struct mags_log_event *ev, void *arg)
{
	bool json = *(bool *)arg;

	if (json) {
		fwrite(ev->line, 1, ev->line_len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	} else if (!ev->end) {
		print_json_record(ev->json);
	}
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target;
	char *id = NULL;
	json_t *out = NULL, *rec;
	bool json, follow;
	size_t i;
	int r;

	r = cli_parse_target("logs", argc, argv, &target, &json, &follow);
	if (r)
		return r;
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, NULL, &err);
	if (r < 0)
		goto fail;
	if (follow) {
		r = mags_job_follow(ctx.client, id, on_event, &json, &err);
		if (r < 0)
			goto fail;
		goto out;
	}
	r = mags_job_logs(ctx.client, id, &out, &err);
	if (r < 0)
		goto fail;
	if (json) {
		cli_print_json(out);
		goto out;
	}
	json_array_foreach(json_object_get(out, "logs"), i, rec)
		print_json_record(rec);
	goto out;
fail:
	r = cli_fail(&err);
out:
	free(id);
	json_decref(out);
	cli_close(&ctx);
	return r;
}
