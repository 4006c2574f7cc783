/*
 * cmd_resize.c - `mags resize <workspace> --disk <GB>` (contract §1.12).
 *
 * The workspace's live job, if any, is stopped first and a second passes
 * (as in the 1.8.12 SDKs). Then the server resizes the workspace's disk
 * (POST /mags-workspaces/{id}/resize) and, if a sandbox was running, it is
 * started again with the new size. A server without that endpoint (404 or
 * 405) gets the SDKs' way instead: the sandbox is created again as
 * persistent with the new disk_gb (`mags new <workspace> -p --disk GB`).
 */
#include "mags/cli.h"

#include <getopt.h>
#include <string.h>

#include "mags/new_args.h"
#include "common/banned.h"

const char cmd_resize_usage[] =
	"Usage: mags resize <workspace> --disk <GB>\n"
	"\n"
	"Resize a workspace's disk. Its running sandbox (if any) is stopped (a\n"
	"persistent workspace is saved first), the disk resized, and the sandbox\n"
	"started again with the new size.\n"
	"\n"
	"Examples:\n"
	"  mags resize myproject --disk 5    # Resize to 5 GB\n";

enum { OPT_DISK = 1000, OPT_WAIT };

static const struct option resize_options[] = {
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ NULL, 0, NULL, 0 },
};

int cmd_resize(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct new_args a;
	struct cli_ctx ctx;
	char *id = NULL;
	json_t *job = NULL;
	bool was_live;
	int c, r;

	new_args_init(&a);
	a.persistent = true;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", resize_options, NULL)) != -1) {
		switch (c) {
		case OPT_DISK:
			if (cli_parse_int(optarg, 1, 1024, &a.disk_gb) < 0)
				return cli_usage_error("resize", "invalid value '%s' for --disk: want GB from 1 to 1024", optarg);
			break;
		case OPT_WAIT:
			if (cli_parse_int(optarg, 1, 86400, &a.wait_s) < 0)
				return cli_usage_error("resize", "invalid value '%s' for --wait", optarg);
			break;
		case ':':
			return cli_usage_error("resize", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("resize", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("resize", "missing <workspace>");
	if (argc - optind > 1)
		return cli_usage_error("resize", "unexpected argument '%s'", argv[optind + 1]);
	if (a.disk_gb == 0)
		return cli_usage_error("resize", "missing --disk <GB>");
	a.name = argv[optind];
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, a.name, &id, &job, &err);
	if (r < 0 && err.code != MAGS_E_NOT_FOUND) {
		r = cli_fail(&err);
		goto out;
	}
	was_live = r == 0 && cli_job_is_live(cli_jstr(job, "status", NULL));
	if (was_live) {
		err_clear(&err);
		if (mags_job_stop(ctx.client, id, NULL, &err) < 0) {
			r = cli_fail(&err);
			goto out;
		}
		cli_hint(stdout, "Stopped job %s", id);
		cli_sleep_ms(1000);
		/* Start it again the way it was: synced or local-disk only. */
		a.persistent = json_is_true(json_object_get(job, "persistent")) &&
			       !json_is_true(json_object_get(job, "no_sync"));
	}
	err_clear(&err);
	r = mags_workspace_resize(ctx.client, a.name, a.disk_gb, NULL, &err);
	if (r == 0) {
		cli_ok(stdout, "Workspace '%s' resized to %d GB", a.name, a.disk_gb);
		r = was_live ? new_sandbox(ctx.client, &a, NULL) : 0;
	} else if (mags_client_last_status(ctx.client) == 404 ||
		   mags_client_last_status(ctx.client) == 405) {
		/* No resize endpoint (or no such workspace yet): the SDKs' way. */
		a.persistent = true;
		r = new_sandbox(ctx.client, &a, NULL);
	} else {
		r = cli_fail(&err);
	}
out:
	free(id);
	json_decref(job);
	cli_close(&ctx);
	return r;
}
