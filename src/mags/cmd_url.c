/*
 * cmd_url.c - `mags url <name|id> [port]` (public URL for a live sandbox,
 * POST /mags-jobs/{id}/access) and the stable aliases on
 * /mags-url-aliases: `mags url alias <sub> <workspace>`, `url alias list`,
 * `url alias remove <sub>`.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char cmd_url_usage[] =
	"Usage: mags url <name|id> [port] [--json]\n"
	"       mags url alias <subdomain> <workspace>\n"
	"       mags url alias list [--json]\n"
	"       mags url alias remove <subdomain>\n"
	"\n"
	"Enable public URL access for a running sandbox (port default: 8080), or\n"
	"manage stable URL aliases: <subdomain> always points at the live\n"
	"sandbox of <workspace>.\n"
	"\n"
	"Examples:\n"
	"  mags url webapp\n"
	"  mags url webapp 3000\n"
	"  mags url alias myapp webapp\n"
	"  mags url alias list\n"
	"  mags url alias remove myapp\n";

/* Drop --json from argv (anywhere), keep the rest in order. */
static int take_json(int argc, char **argv, bool *json)
{
	int n = 0;

	*json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = true;
		else
			argv[n++] = argv[i];
	}
	return n;
}

static int alias_list(struct cli_ctx *ctx, bool json)
{
	static const char *const head[] = { "SUBDOMAIN", "WORKSPACE", "URL", "CREATED" };
	struct mags_err err = { 0 };
	json_t *out = NULL, *arr, *it;
	const char **cells;
	char (*tbuf)[32];
	size_t i, n;

	if (mags_url_alias_list(ctx->client, &out, &err) < 0)
		return cli_fail(&err);
	if (json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	arr = json_object_get(out, "aliases");
	if (!json_is_array(arr))
		arr = json_object_get(out, "url_aliases");
	n = json_array_size(arr);
	if (n == 0) {
		cli_hint(stdout, "No URL aliases.");
		json_decref(out);
		return 0;
	}
	cells = xcalloc(n * 4, sizeof(*cells));
	tbuf = xcalloc(n, sizeof(*tbuf));
	json_array_foreach(arr, i, it) {
		cells[i * 4] = cli_jstr(it, "subdomain", cli_jstr(it, "alias", NULL));
		cells[i * 4 + 1] = cli_jstr(it, "workspace_id", NULL);
		cells[i * 4 + 2] = cli_jstr(it, "url", NULL);
		cells[i * 4 + 3] = cli_time(cli_jstr(it, "created_at", NULL), tbuf[i],
					    sizeof(tbuf[i]));
	}
	cli_table(4, head, cells, n);
	free(cells);
	free(tbuf);
	json_decref(out);
	return 0;
}

static int cmd_alias(int argc, char **argv, bool json)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL;
	int r;

	/* argv[0] is "alias". */
	if (argc < 2)
		return cli_usage_error("url", "missing <subdomain> <workspace>, 'list' or 'remove <subdomain>'");
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return cli_usage_error("url", "unknown option '%s'", argv[i]);
	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		r = cli_open(&ctx, true);
		if (r)
			return r;
		r = alias_list(&ctx, json);
		cli_close(&ctx);
		return r;
	}
	if ((strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "delete") == 0) &&
	    argc == 3) {
		r = cli_open(&ctx, true);
		if (r)
			return r;
		r = mags_url_alias_delete(ctx.client, argv[2], &out, &err);
		if (r < 0)
			r = cli_fail(&err);
		else if (json)
			cli_print_json(out);
		else
			cli_ok(stdout, "URL alias '%s' removed", argv[2]);
		json_decref(out);
		cli_close(&ctx);
		return r < 0 ? CLI_EXIT_FAIL : r;
	}
	if (argc != 3)
		return cli_usage_error("url", "usage: mags url alias <subdomain> <workspace>");
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = mags_url_alias_create(ctx.client, argv[1], argv[2], &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
	} else if (json) {
		cli_print_json(out);
	} else {
		cli_ok(stdout, "URL alias '%s' -> workspace '%s'", argv[1], argv[2]);
		if (cli_jstr(out, "url", NULL))
			printf("URL: %s\n", cli_jstr(out, "url", ""));
	}
	json_decref(out);
	cli_close(&ctx);
	return r;
}

int cmd_url(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target;
	char *id = NULL;
	json_t *out = NULL;
	bool json;
	int port = 8080, r;

	argc = take_json(argc, argv, &json);
	if (argc >= 2 && strcmp(argv[1], "alias") == 0)
		return cmd_alias(argc - 1, argv + 1, json);
	/* [003] spelling: mags url enable <name> [port]. */
	if (argc >= 3 && strcmp(argv[1], "enable") == 0) {
		argv++;
		argc--;
	}
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return cli_usage_error("url", "unknown option '%s'", argv[i]);
	if (argc < 2)
		return cli_usage_error("url", "missing <name|id>");
	if (argc > 3)
		return cli_usage_error("url", "unexpected argument '%s'", argv[3]);
	target = argv[1];
	if (argc == 3 && cli_parse_int(argv[2], 1, 65535, &port) < 0)
		return cli_usage_error("url", "invalid port '%s': want 1 to 65535", argv[2]);
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, NULL, &err);
	if (r == 0)
		r = mags_job_access(ctx.client, id, port, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
	} else if (cli_jstr(out, "url", NULL)) {
		cli_ok(stdout, "URL: %s", cli_jstr(out, "url", ""));
		cli_hint(stdout, "Port %d of '%s' is public.", port, target);
	} else {
		r = cli_error("the server enabled access but sent no URL");
		goto out;
	}
	r = 0;
out:
	free(id);
	json_decref(out);
	cli_close(&ctx);
	return r;
}
