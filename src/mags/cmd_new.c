/*
 * cmd_new.c - `mags new <name> [-p] [--base W] [--disk GB]`: create a
 * sandbox that stays up (contract §1.5) and wait until it runs, printing
 * the lines of the 1.8.12 CLI word for word. new_sandbox() is also how
 * `mags ssh` starts a missing sandbox and how `mags resize` re-creates one.
 */
#include "mags/cli.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mags/new_args.h"
#include "common/banned.h"

const char cmd_new_usage[] =
	"Usage: mags new <name> [-p] [--base <workspace>] [--disk <GB>] [options]\n"
	"\n"
	"Create a sandbox that stays up for 'mags ssh' and 'mags exec', and wait\n"
	"until it runs. Without -p its data lives on the server's local disk only.\n"
	"\n"
	"Options:\n"
	"  -p, --persistent           Save the workspace to the object store (survives\n"
	"                             the sandbox)\n"
	"  --base <workspace>         Start from an existing workspace (read-only base)\n"
	"  --disk <GB>                Disk size in GB (default: 2)\n"
	"  --no-sleep                 Never auto-sleep this sandbox\n"
	"  --idle-timeout <seconds>   Sleep after this long idle (default: the\n"
	"                             server's, 10 min)\n"
	"  --url                      Enable a public URL once it runs\n"
	"  --port <port>              Port the URL exposes (default: 8080)\n"
	"  --startup-command <cmd>    Command to run when it wakes (default: sleep infinity)\n"
	"  --wait <seconds>           How long to wait for it to run (default: 30,\n"
	"                             or $MAGS_NEW_TIMEOUT)\n"
	"\n"
	"Examples:\n"
	"  mags new myvm                # Create VM (local disk only)\n"
	"  mags new myvm -p             # Create VM with S3 persistence\n"
	"  mags new fork --base golden --disk 5\n";

static int poll_interval_ms(void)
{
	const char *v = getenv("MAGS_POLL_INTERVAL_MS");
	int ms = 1000;

	if (v && *v)
		cli_parse_int(v, 1, 60000, &ms);
	return ms;
}

/* Print the URL of a fresh sandbox (--url); a failure is only a hint. */
static void enable_url(struct mags_client *c, const char *id, int port)
{
	struct mags_err err = { 0 };
	json_t *out = NULL;

	if (mags_job_access(c, id, port, &out, &err) < 0)
		cli_hint(stderr, " URL access is not available: %s", err.msg);
	else if (cli_jstr(out, "url", NULL))
		printf(" URL: %s\n", cli_jstr(out, "url", ""));
	json_decref(out);
}

int new_sandbox(struct mags_client *c, const struct new_args *a, char **id_out)
{
	struct mags_err err = { 0 };
	json_t *req = new_args_request(a), *resp = NULL, *st = NULL;
	_cleanup_free_ char *id = NULL;
	int interval = poll_interval_ms();
	int64_t deadline;
	int r;

	if (id_out)
		*id_out = NULL;
	r = mags_job_submit(c, req, &resp, &err);
	json_decref(req);
	if (r < 0)
		return cli_fail(&err);
	id = xstrdup(cli_jstr(resp, "request_id", ""));
	json_decref(resp);
	deadline = time_mono_ms() + (int64_t)a->wait_s * 1000;
	for (;;) {
		char status[32];

		r = mags_job_status(c, id, &st, &err);
		if (r < 0)
			return cli_fail(&err);
		snprintf(status, sizeof(status), "%s", cli_jstr(st, "status", ""));
		/* a sandbox with a short idle time may be asleep already: it
		 * was running, and the next exec or login wakes it */
		if (strcmp(status, "running") == 0 || strcmp(status, "sleeping") == 0)
			break;
		if (strcmp(status, "error") == 0 || mags_status_is_terminal(status)) {
			const char *msg = cli_jstr(st, "error_message", NULL);

			fprintf(stderr, "%sVM creation failed: %s%s\n",
				cli_color(stderr, CLI_RED),
				msg && *msg ? msg : strcmp(status, "error") == 0 ?
				"Unknown error" : status,
				cli_reset(stderr));
			json_decref(st);
			return CLI_EXIT_FAIL;
		}
		json_decref(st);
		st = NULL;
		if (time_mono_ms() >= deadline) {
			fprintf(stderr, "%sVM creation timed out after %ds (still %s)%s\n",
				cli_color(stderr, CLI_RED), a->wait_s, status,
				cli_reset(stderr));
			cli_hint(stderr, " Check it with: mags status %s", a->name);
			return CLI_EXIT_FAIL;
		}
		cli_sleep_ms(interval);
	}
	json_decref(st);
	cli_ok(stdout, "VM '%s' created successfully%s", a->name,
	       a->persistent ? " (persistent)" : " (local disk)");
	printf(" ID: %s\n", id);
	printf(" SSH: mags ssh %s\n", a->name);
	fflush(stdout);
	if (!a->persistent)
		cli_hint(stdout, " Data is on local disk only. Use -p flag for S3 persistence.");
	if (a->url)
		enable_url(c, id, a->port);
	fflush(stdout);
	if (id_out) {
		*id_out = id;
		id = NULL;
	}
	return 0;
}

int cmd_new(int argc, char **argv)
{
	struct new_args a;
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	int r;

	r = new_args_parse(argc, argv, &a, &err);
	if (r == 1) {
		fputs(cmd_new_usage, stdout);
		return 0;
	}
	if (r < 0)
		return cli_usage_error("new", "%s", err.msg);
	if (!a.name) {
		fprintf(stderr, "%sError: Name required%s\n", cli_color(stderr, CLI_RED),
			cli_reset(stderr));
		fputs("\nUsage: mags new <name> [-p] [--base <workspace>] [--disk <GB>]\n"
		      " -p, --persistent Enable S3 data persistence\n\n", stderr);
		return CLI_EXIT_FAIL;
	}
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = new_sandbox(ctx.client, &a, NULL);
	cli_close(&ctx);
	return r;
}
