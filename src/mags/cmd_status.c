/*
 * cmd_status.c - `mags status <name|id>`: one job as "key: value" lines.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const char cmd_status_usage[] =
	"Usage: mags status <name|id> [--json]\n"
	"\n"
	"Check a job's status. <name|id> is a job id, or the name or workspace of\n"
	"a recent job (a running one first).\n"
	"\n"
	"Options:\n"
	"  --json    Print the API's JSON\n"
	"\n"
	"Examples:\n"
	"  mags status 3f2a9c1e-...\n"
	"  mags status myproject\n";

static void kv(const char *key, const char *val)
{
	printf("%s%-11s%s %s\n", cli_color(stdout, CLI_BOLD), key,
	       cli_reset(stdout), val && *val ? val : "-");
}

static void print_job(json_t *job)
{
	char buf[64];
	json_t *v;
	const char *status = cli_jstr(job, "status", "-");
	const char *emsg = cli_jstr(job, "error_message", NULL);

	kv("ID:", cli_jstr(job, "request_id", NULL));
	kv("Name:", cli_jstr(job, "name", NULL));
	kv("Workspace:", cli_jstr(job, "workspace_id", NULL));
	printf("%s%-11s%s %s%s%s\n", cli_color(stdout, CLI_BOLD), "Status:",
	       cli_reset(stdout),
	       strcmp(status, "error") == 0 ? cli_color(stdout, CLI_RED) :
	       strcmp(status, "completed") == 0 ? cli_color(stdout, CLI_GREEN) : "",
	       status, cli_reset(stdout));
	v = json_object_get(job, "exit_code");
	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, sizeof(buf), "-");
	kv("Exit code:", buf);
	if (emsg && *emsg)
		kv("Error:", emsg);
	kv("Type:", cli_jstr(job, "type", NULL));
	v = json_object_get(job, "persistent");
	if (json_is_boolean(v))
		kv("Persistent:", json_is_true(v) ? "yes" : "no");
	kv("Created:", cli_time(cli_jstr(job, "created_at", NULL), buf, sizeof(buf)));
	kv("Started:", cli_time(cli_jstr(job, "started_at", NULL), buf, sizeof(buf)));
	kv("Finished:", cli_time(cli_jstr(job, "finished_at", NULL), buf, sizeof(buf)));
	v = json_object_get(job, "duration_ms");
	if (json_is_integer(v)) {
		json_int_t ms = json_integer_value(v);

		snprintf(buf, sizeof(buf), "%lld.%03llds", (long long)(ms / 1000),
			 (long long)(ms % 1000));
		kv("Duration:", buf);
	}
	fflush(stdout);
}

int cmd_status(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target;
	char *id = NULL;
	json_t *job = NULL;
	bool json;
	int r;

	r = cli_parse_target("status", argc, argv, &target, &json, NULL);
	if (r)
		return r;
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, &job, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json)
		cli_print_json(job);
	else
		print_job(job);
	r = 0;
out:
	free(id);
	json_decref(job);
	cli_close(&ctx);
	return r;
}
