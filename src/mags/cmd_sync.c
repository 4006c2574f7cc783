/*
 * cmd_sync.c - `mags sync <name|id>`: save a live sandbox's workspace to
 * the object store now, without stopping it (POST /mags-jobs/{id}/sync),
 * e.g. to use it as a --base right away.
 */
#include "mags/cli.h"

#include "common/banned.h"

const char cmd_sync_usage[] =
	"Usage: mags sync <name|id> [--json]\n"
	"\n"
	"Sync a running sandbox's workspace to the object store now, without\n"
	"stopping it (a golden image becomes usable as --base at once).\n"
	"\n"
	"Examples:\n"
	"  mags run -w golden -p 'pip install numpy'\n"
	"  mags sync golden\n"
	"  mags run --base golden 'python3 -c \"import numpy\"'\n";

int cmd_sync(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target;
	char *id = NULL;
	json_t *job = NULL, *out = NULL;
	bool json;
	int r;

	r = cli_parse_target("sync", argc, argv, &target, &json, NULL);
	if (r)
		return r;
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, &job, &err);
	if (r == 0)
		r = mags_job_sync(ctx.client, id, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
	} else {
		const char *ws = cli_jstr(job, "workspace_id", NULL);

		cli_ok(stdout, "Workspace '%s' synced", ws && *ws ? ws : target);
	}
	r = 0;
out:
	free(id);
	json_decref(job);
	json_decref(out);
	cli_close(&ctx);
	return r;
}
