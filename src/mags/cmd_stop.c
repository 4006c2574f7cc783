/*
 * cmd_stop.c - `mags stop <name|id>`: stop a running job.
 */
#include "mags/cli.h"

#include "common/banned.h"

const char cmd_stop_usage[] =
	"Usage: mags stop <name|id>\n"
	"\n"
	"Stop a running job. Stopping a job that already ended does nothing.\n"
	"\n"
	"Examples:\n"
	"  mags stop myproject\n"
	"  mags stop 3f2a9c1e-...\n";

int cmd_stop(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target;
	char *id = NULL;
	json_t *job = NULL, *after = NULL;
	bool json;
	int r;

	r = cli_parse_target("stop", argc, argv, &target, &json, NULL);
	if (r)
		return r;
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, &job, &err);
	if (r < 0)
		goto fail;
	if (mags_status_is_terminal(cli_jstr(job, "status", NULL))) {
		if (json)
			cli_print_json(job);
		else
			cli_hint(stdout, "Job %s already ended (%s).", id,
				 cli_jstr(job, "status", ""));
		r = 0;
		goto out;
	}
	r = mags_job_stop(ctx.client, id, &after, &err);
	if (r < 0)
		goto fail;
	if (json)
		cli_print_json(after);
	else
		cli_ok(stdout, "Stopped job %s", id);
	r = 0;
	goto out;
fail:
	r = cli_fail(&err);
out:
	free(id);
	json_decref(job);
	json_decref(after);
	cli_close(&ctx);
	return r;
}
