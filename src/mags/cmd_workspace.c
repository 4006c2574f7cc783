/*
 * cmd_workspace.c - `mags workspace list` (GET /mags-workspaces) and
 * `mags workspace delete <id>` (DELETE /mags-workspaces/{id}).
 */
#include "mags/cli.h"

#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char cmd_workspace_usage[] =
	"Usage: mags workspace list [--json]\n"
	"       mags workspace delete <id>\n"
	"\n"
	"List workspaces, or delete one with its saved data (its sandbox must\n"
	"not be running).\n"
	"\n"
	"Examples:\n"
	"  mags workspace list\n"
	"  mags workspace delete myproject\n";

/* The first of several spellings a server may use for a field. */
static json_t *member(json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		json_t *v = json_object_get(o, *keys);

		if (v && !json_is_null(v))
			return v;
	}
	return NULL;
}

static int ws_list(struct cli_ctx *ctx, bool json)
{
	static const char *const head[] = { "WORKSPACE", "PERSISTENT", "SIZE",
					    "LAST SYNCED", "BASE", "JOBS" };
	static const char *const k_size[] = { "size_bytes", "size", NULL };
	static const char *const k_sync[] = { "last_synced_at", "last_sync_at",
					      "synced_at", NULL };
	static const char *const k_base[] = { "base_workspace_id", "base", NULL };
	static const char *const k_jobs[] = { "job_count", "jobs", NULL };
	struct mags_err err = { 0 };
	json_t *out = NULL, *arr, *it, *v;
	const char **cells;
	char (*buf)[4][40];
	size_t i, n;

	if (mags_workspace_list(ctx->client, &out, &err) < 0)
		return cli_fail(&err);
	if (json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	arr = json_object_get(out, "workspaces");
	n = json_array_size(arr);
	if (n == 0) {
		cli_hint(stdout, "No workspaces yet.");
		json_decref(out);
		return 0;
	}
	cells = xcalloc(n * 6, sizeof(*cells));
	buf = xcalloc(n, sizeof(*buf));
	json_array_foreach(arr, i, it) {
		const char **row = cells + i * 6;

		row[0] = cli_jstr(it, "workspace_id", cli_jstr(it, "name", NULL));
		row[1] = cli_jcell(it, "persistent", buf[i][0], sizeof(buf[i][0]));
		v = member(it, k_size);
		if (json_is_number(v))
			row[2] = cli_bytes(json_number_value(v), buf[i][1], sizeof(buf[i][1]));
		else
			row[2] = json_is_string(v) ? json_string_value(v) : NULL;
		v = member(it, k_sync);
		row[3] = cli_time(json_is_string(v) ? json_string_value(v) : NULL,
				  buf[i][2], sizeof(buf[i][2]));
		v = member(it, k_base);
		row[4] = json_is_string(v) ? json_string_value(v) : NULL;
		v = member(it, k_jobs);
		if (json_is_integer(v)) {
			snprintf(buf[i][3], sizeof(buf[i][3]), "%lld",
				 (long long)json_integer_value(v));
			row[5] = buf[i][3];
		} else if (json_is_array(v)) {
			snprintf(buf[i][3], sizeof(buf[i][3]), "%zu", json_array_size(v));
			row[5] = buf[i][3];
		}
	}
	cli_table(6, head, cells, n);
	free(cells);
	free(buf);
	json_decref(out);
	return 0;
}

int cmd_workspace(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *sub = NULL, *arg = NULL;
	json_t *out = NULL;
	bool json = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return cli_usage_error("workspace", "unknown option '%s'", argv[i]);
		else if (!sub)
			sub = argv[i];
		else if (!arg)
			arg = argv[i];
		else
			return cli_usage_error("workspace", "unexpected argument '%s'", argv[i]);
	}
	if (!sub)
		return cli_usage_error("workspace", "missing 'list' or 'delete <id>'");
	if ((strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) && !arg) {
		r = cli_open(&ctx, true);
		if (r)
			return r;
		r = ws_list(&ctx, json);
		cli_close(&ctx);
		return r;
	}
	if (strcmp(sub, "delete") == 0 || strcmp(sub, "remove") == 0 ||
	    strcmp(sub, "rm") == 0) {
		if (!arg)
			return cli_usage_error("workspace", "missing <id>");
		r = cli_open(&ctx, true);
		if (r)
			return r;
		r = mags_workspace_delete(ctx.client, arg, &out, &err);
		if (r < 0)
			r = cli_fail(&err);
		else if (json)
			cli_print_json(out);
		else
			cli_ok(stdout, "Workspace '%s' deleted", arg);
		json_decref(out);
		cli_close(&ctx);
		return r < 0 ? CLI_EXIT_FAIL : r;
	}
	return cli_usage_error("workspace", "unknown subcommand '%s'", sub);
}
