/*
 * cmd_cron.c - `mags cron add|create|list|remove|delete|enable|disable`:
 * scheduled jobs on /mags-cron. The server runs each as a fresh sandbox at
 * its times; here are only the requests and a table.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/util.h"
#include "mags/cron_args.h"
#include "common/banned.h"

const char cmd_cron_usage[] =
	"Usage: mags cron add --name <name> --schedule <expr> [-w <workspace>] [-p] <script>\n"
	"       mags cron create '<expr>' '<script>' [--name <name>]\n"
	"       mags cron list [--json]\n"
	"       mags cron remove <id>          (also: delete)\n"
	"       mags cron enable <id>\n"
	"       mags cron disable <id>\n"
	"\n"
	"Schedule scripts with standard 5-field cron expressions\n"
	"(minute hour day month weekday, UTC) or @hourly, @daily, @weekly, ...\n"
	"\n"
	"Cron Options:\n"
	"  -n, --name <name>          Cron job name (required)\n"
	"  -s, --schedule <expr>      Cron expression, e.g. \"0 */2 * * *\" (required)\n"
	"  -w, --workspace <name>     Workspace ID for storage\n"
	"  -p, --persistent           Keep VM alive after script\n"
	"  --disabled                 Create it paused\n"
	"\n"
	"Examples:\n"
	"  mags cron add --name \"daily-backup\" --schedule \"0 0 * * *\" 'tar czf /root/backup.tar.gz /root/data'\n"
	"  mags cron add --name \"health-check\" --schedule \"*/5 * * * *\" -w monitors 'curl -sf https://myapp.com/health'\n"
	"  mags cron list\n"
	"  mags cron disable <id>\n";

static int cron_add(int argc, char **argv, bool json)
{
	struct mags_err err = { 0 };
	struct cron_args a;
	struct cli_ctx ctx;
	char name[32];
	json_t *req, *out = NULL;
	char tbuf[32];
	int r;

	r = cron_args_parse(argc, argv, &a, name, sizeof(name), &err);
	if (r == 1) {
		fputs(cmd_cron_usage, stdout);
		return 0;
	}
	if (r < 0)
		return cli_usage_error("cron", "%s", err.msg);
	r = cli_open(&ctx, true);
	if (r)
		return r;
	req = cron_args_request(&a);
	r = mags_cron_create(ctx.client, req, &out, &err);
	json_decref(req);
	if (r < 0) {
		r = cli_fail(&err);
	} else if (json) {
		cli_print_json(out);
	} else {
		char idbuf[32];

		cli_ok(stdout, "Cron job '%s' created (ID: %s)", a.name,
		       cli_jcell(out, "id", idbuf, sizeof(idbuf)));
		printf(" Schedule: %s\n", a.schedule);
		if (cli_jstr(out, "next_run_at", NULL))
			printf(" Next run: %s\n", cli_time(cli_jstr(out, "next_run_at", NULL),
							   tbuf, sizeof(tbuf)));
	}
	json_decref(out);
	cli_close(&ctx);
	return r;
}

static int cron_list(bool json)
{
	static const char *const head[] = { "ID", "NAME", "SCHEDULE", "ENABLED",
					    "NEXT RUN", "LAST RUN" };
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL, *arr, *it;
	const char **cells;
	char (*buf)[4][96];
	size_t i, n;
	int r;

	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = mags_cron_list(ctx.client, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
		goto out;
	}
	arr = json_object_get(out, "cron_jobs");
	n = json_array_size(arr);
	if (n == 0) {
		cli_hint(stdout, "No cron jobs.");
		goto out;
	}
	cells = xcalloc(n * 6, sizeof(*cells));
	buf = xcalloc(n, sizeof(*buf));
	json_array_foreach(arr, i, it) {
		const char **row = cells + i * 6;
		const char *last = cli_jstr(it, "last_run_at", NULL);
		const char *lstatus = cli_jstr(it, "last_status", NULL);
		char t[32];

		row[0] = cli_jcell(it, "id", buf[i][0], sizeof(buf[i][0]));
		row[1] = cli_jstr(it, "name", NULL);
		row[2] = cli_jstr(it, "cron_expression", NULL);
		row[3] = cli_jcell(it, "enabled", buf[i][1], sizeof(buf[i][1]));
		row[4] = cli_time(cli_jstr(it, "next_run_at", NULL), buf[i][2],
				  sizeof(buf[i][2]));
		if (last && lstatus && *lstatus)
			snprintf(buf[i][3], sizeof(buf[i][3]), "%s (%s)",
				 cli_time(last, t, sizeof(t)), lstatus);
		else
			snprintf(buf[i][3], sizeof(buf[i][3]), "%s", cli_time(last, t, sizeof(t)));
		row[5] = buf[i][3];
	}
	cli_table(6, head, cells, n);
	free(cells);
	free(buf);
out:
	json_decref(out);
	cli_close(&ctx);
	return r;
}

/* remove / enable / disable <id>. */
static int cron_one(const char *sub, int argc, char **argv, bool json)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL, *fields = NULL;
	bool del = strcmp(sub, "remove") == 0 || strcmp(sub, "delete") == 0 ||
		   strcmp(sub, "rm") == 0;
	const char *id;
	int r;

	if (argc < 2)
		return cli_usage_error("cron", "missing <id>");
	if (argc > 2)
		return cli_usage_error("cron", "unexpected argument '%s'", argv[2]);
	id = argv[1];
	r = cli_open(&ctx, true);
	if (r)
		return r;
	if (del) {
		r = mags_cron_delete(ctx.client, id, &out, &err);
	} else {
		fields = json_pack("{s:b}", "enabled", strcmp(sub, "enable") == 0);
		r = mags_cron_update(ctx.client, id, fields, &out, &err);
	}
	if (r < 0)
		r = cli_fail(&err);
	else if (json)
		cli_print_json(out);
	else if (del)
		cli_ok(stdout, "Cron job %s removed", id);
	else
		cli_ok(stdout, "Cron job %s %s", id,
		       strcmp(sub, "enable") == 0 ? "enabled" : "disabled");
	json_decref(fields);
	json_decref(out);
	cli_close(&ctx);
	return r;
}

int cmd_cron(int argc, char **argv)
{
	const char *sub;
	bool json = false;
	int n = 0;

	/* --json may sit anywhere; the rest is the subcommand's. */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[n++] = argv[i];
	}
	argc = n;
	if (argc < 2)
		return cli_usage_error("cron", "missing subcommand: add, create, list, remove, enable or disable");
	sub = argv[1];
	if (strcmp(sub, "add") == 0 || strcmp(sub, "create") == 0)
		return cron_add(argc - 1, argv + 1, json);
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (argc > 2)
			return cli_usage_error("cron", "unexpected argument '%s'", argv[2]);
		return cron_list(json);
	}
	if (strcmp(sub, "remove") == 0 || strcmp(sub, "delete") == 0 ||
	    strcmp(sub, "rm") == 0 || strcmp(sub, "enable") == 0 ||
	    strcmp(sub, "disable") == 0)
		return cron_one(sub, argc - 1, argv + 1, json);
	return cli_usage_error("cron", "unknown subcommand '%s'", sub);
}
