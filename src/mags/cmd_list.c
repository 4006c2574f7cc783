/*
 * cmd_list.c - `mags list`: recent jobs as a table, newest first.
 */
#include "mags/cli.h"

#include <getopt.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char cmd_list_usage[] =
	"Usage: mags list [--page N] [--page-size N] [--json]\n"
	"\n"
	"List recent jobs, newest first.\n"
	"\n"
	"Options:\n"
	"  --page <n>         Page to show (default: 1)\n"
	"  --page-size <n>    Jobs per page (default: 20)\n"
	"  --json             Print the API's JSON\n"
	"\n"
	"Examples:\n"
	"  mags list\n"
	"  mags list --page 2 --page-size 50\n";

enum { OPT_PAGE = 1000, OPT_PAGE_SIZE, OPT_JSON };

static const struct option list_options[] = {
	{ "page", required_argument, NULL, OPT_PAGE },
	{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

#define NCOLS 5

static void print_row(const char *cells[NCOLS], const int width[NCOLS])
{
	for (int i = 0; i < NCOLS; i++) {
		if (i == NCOLS - 1)
			fputs(cells[i], stdout);
		else
			printf("%-*s  ", width[i], cells[i]);
	}
	fputc('\n', stdout);
}

static void print_table(json_t *jobs)
{
	static const char *const head[NCOLS] = { "ID", "NAME", "STATUS", "EXIT", "CREATED" };
	size_t n = json_array_size(jobs);
	char (*exitbuf)[16] = xcalloc(n ? n : 1, sizeof(*exitbuf));
	char (*timebuf)[32] = xcalloc(n ? n : 1, sizeof(*timebuf));
	const char *(*rows)[NCOLS] = xcalloc(n ? n : 1, sizeof(*rows));
	int width[NCOLS];
	json_t *job;
	size_t i;

	for (int c = 0; c < NCOLS; c++)
		width[c] = (int)strlen(head[c]);
	json_array_foreach(jobs, i, job) {
		json_t *code = json_object_get(job, "exit_code");
		const char *name = cli_jstr(job, "name", NULL);

		if (json_is_integer(code))
			snprintf(exitbuf[i], sizeof(exitbuf[i]), "%lld",
				 (long long)json_integer_value(code));
		else
			snprintf(exitbuf[i], sizeof(exitbuf[i]), "-");
		rows[i][0] = cli_jstr(job, "request_id", "-");
		rows[i][1] = name && *name ? name : "-";
		rows[i][2] = cli_jstr(job, "status", "-");
		rows[i][3] = exitbuf[i];
		rows[i][4] = cli_time(cli_jstr(job, "created_at", NULL), timebuf[i],
				      sizeof(timebuf[i]));
		for (int c = 0; c < NCOLS; c++) {
			int w = (int)strlen(rows[i][c]);

			if (w > width[c])
				width[c] = w < 64 ? w : 64;
		}
	}
	fputs(cli_color(stdout, CLI_BOLD), stdout);
	for (int c = 0; c < NCOLS; c++) {
		if (c == NCOLS - 1)
			fputs(head[c], stdout);
		else
			printf("%-*s  ", width[c], head[c]);
	}
	fputs(cli_reset(stdout), stdout);
	fputc('\n', stdout);
	for (i = 0; i < n; i++)
		print_row(rows[i], width);
	free(rows);
	free(exitbuf);
	free(timebuf);
}

int cmd_list(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL, *jobs;
	int c, page = 0, page_size = 0, r;
	bool json = false;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", list_options, NULL)) != -1) {
		switch (c) {
		case OPT_PAGE:
			if (cli_parse_int(optarg, 1, 1000000, &page) < 0)
				return cli_usage_error("list", "invalid value '%s' for --page", optarg);
			break;
		case OPT_PAGE_SIZE:
			if (cli_parse_int(optarg, 1, 1000, &page_size) < 0)
				return cli_usage_error("list", "invalid value '%s' for --page-size", optarg);
			break;
		case OPT_JSON:
			json = true;
			break;
		case ':':
			return cli_usage_error("list", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("list", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = mags_job_list(ctx.client, page, page_size, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
		goto out;
	}
	jobs = json_object_get(out, "jobs");
	if (json_array_size(jobs) == 0) {
		cli_hint(stdout, page > 1 ? "No jobs on page %d." : "No jobs yet.", page);
	} else {
		json_int_t total = json_integer_value(json_object_get(out, "total"));
		json_int_t pg = json_integer_value(json_object_get(out, "page"));
		json_int_t ps = json_integer_value(json_object_get(out, "page_size"));

		print_table(jobs);
		if (pg > 0 && ps > 0 && total > pg * ps)
			cli_hint(stdout, "Page %lld of %lld (%lld jobs); next: mags list --page %lld",
				 (long long)pg, (long long)((total + ps - 1) / ps),
				 (long long)total, (long long)pg + 1);
	}
	r = 0;
out:
	json_decref(out);
	cli_close(&ctx);
	return r;
}
