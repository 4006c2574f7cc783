/*
 * cli.c - helpers every mags command uses (see cli.h): colours that only
 * appear on a terminal, the "mags: <message>" error convention, opening a
 * client from the configuration and resolving <name|id> arguments.
 */
#include "mags/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

/* ---- output ---------------------------------------------------------------- */

static bool use_color(FILE *f)
{
	static int out = -1, err = -1;
	int *cached = f == stderr ? &err : &out;
	const char *nc;

	if (f != stdout && f != stderr)
		return false;
	if (*cached < 0) {
		nc = getenv("NO_COLOR");
		*cached = (!nc || !*nc) && isatty(fileno(f));
	}
	return *cached;
}

const char *cli_color(FILE *f, enum cli_color c)
{
	static const char *const seq[] = {
		[CLI_RED] = "\033[31m",
		[CLI_GREEN] = "\033[32m",
		[CLI_GRAY] = "\033[90m",
		[CLI_BOLD] = "\033[1m",
	};

	return use_color(f) ? seq[c] : "";
}

const char *cli_reset(FILE *f)
{
	return use_color(f) ? "\033[0m" : "";
}

static void vline(FILE *f, enum cli_color c, const char *prefix,
		  const char *fmt, va_list ap)
{
	fputs(cli_color(f, c), f);
	fputs(prefix, f);
	vfprintf(f, fmt, ap);
	fputs(cli_reset(f), f);
	fputc('\n', f);
	fflush(f);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, CLI_RED, "mags: ", fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, CLI_RED, "mags: ", fmt, ap);
	va_end(ap);
	if (cmd)
		cli_hint(stderr, "See 'mags %s --help'.", cmd);
	else
		cli_hint(stderr, "See 'mags --help'.");
	return CLI_EXIT_USAGE;
}

int cli_fail(const struct mags_err *err)
{
	cli_error("%s", err->msg[0] ? err->msg : "unknown error");
	if (err->code == MAGS_E_UNAUTHORIZED)
		cli_hint(stderr, "Run 'mags login' or set MAGS_API_TOKEN.");
	return CLI_EXIT_FAIL;
}

void cli_ok(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(f, CLI_GREEN, "", fmt, ap);
	va_end(ap);
}

void cli_hint(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(f, CLI_GRAY, "", fmt, ap);
	va_end(ap);
}

void cli_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
}

/* ---- client ---------------------------------------------------------------- */

int cli_open(struct cli_ctx *ctx, bool need_token)
{
	struct mags_err err = { 0 };

	memset(ctx, 0, sizeof(*ctx));
	if (mags_config_load(&ctx->cfg, &err) < 0)
		return cli_fail(&err);
	if (need_token && !ctx->cfg.api_token) {
		cli_error("not logged in");
		cli_hint(stderr, "Run 'mags login' or set MAGS_API_TOKEN.");
		mags_config_release(&ctx->cfg);
		return CLI_EXIT_FAIL;
	}
	ctx->client = mags_client_new(ctx->cfg.api_url, ctx->cfg.api_token, &err);
	if (!ctx->client) {
		if (strcmp(ctx->cfg.url_source, "default") != 0)
			err_wrap(&err, "%s", strcmp(ctx->cfg.url_source, "config") == 0 ?
				 "api_url in ~/.mags/config.json" : ctx->cfg.url_source);
		mags_config_release(&ctx->cfg);
		return cli_fail(&err);
	}
	return 0;
}

void cli_close(struct cli_ctx *ctx)
{
	mags_client_free(ctx->client);
	ctx->client = NULL;
	mags_config_release(&ctx->cfg);
}

bool cli_job_is_live(const char *status)
{
	return status && (strcmp(status, "running") == 0 ||
			  strcmp(status, "sleeping") == 0 ||
			  strcmp(status, "accepted") == 0);
}

int cli_resolve(struct mags_client *c, const char *arg, char **id, json_t **job,
		struct mags_err *err)
{
	json_t *st = NULL, *list = NULL, *jobs, *it, *found = NULL;
	size_t i;
	int r;

	*id = NULL;
	if (job)
		*job = NULL;
	r = mags_job_status(c, arg, &st, err);
	if (r == 0) {
		*id = xstrdup(cli_jstr(st, "request_id", arg));
		if (job)
			*job = st;
		else
			json_decref(st);
		return 0;
	}
	if (mags_client_last_status(c) != 404 && mags_client_last_status(c) != 400)
		return r;
	/* Not an id: look for a recent job by name or workspace. */
	r = mags_job_list(c, 1, 100, &list, err);
	if (r < 0)
		return r;
	jobs = json_object_get(list, "jobs");
	json_array_foreach(jobs, i, it) {
		if (strcmp(cli_jstr(it, "name", ""), arg) != 0 &&
		    strcmp(cli_jstr(it, "workspace_id", ""), arg) != 0)
			continue;
		if (!found)
			found = it;
		if (cli_job_is_live(cli_jstr(it, "status", NULL))) {
			found = it;
			break;
		}
	}
	if (!found) {
		json_decref(list);
		return err_set(err, MAGS_E_NOT_FOUND, ENOENT,
			       "no job with id or name '%s'", arg);
	}
	*id = xstrdup(cli_jstr(found, "request_id", arg));
	json_decref(list);
	if (!job)
		return 0;
	/* The list item may be a summary: fetch the whole job. */
	r = mags_job_status(c, *id, job, err);
	if (r < 0) {
		free(*id);
		*id = NULL;
	}
	return r;
}

/* ---- arguments ---------------------------------------------------------------- */

int cli_parse_target(const char *cmd, int argc, char **argv, const char **target,
		     bool *json, bool *follow)
{
	bool dashdash = false;

	*target = NULL;
	*json = false;
	if (follow)
		*follow = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = true;
		} else if (!dashdash && strcmp(a, "--json") == 0) {
			*json = true;
		} else if (!dashdash && follow &&
			   (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0)) {
			*follow = true;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			return cli_usage_error(cmd, "unknown option '%s'", a);
		} else if (*target) {
			return cli_usage_error(cmd, "unexpected argument '%s'", a);
		} else {
			*target = a;
		}
	}
	if (!*target)
		return cli_usage_error(cmd, "missing <name|id>");
	return 0;
}


int cli_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

const char *cli_jstr(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

const char *cli_time(const char *iso, char *buf, size_t len)
{
	size_t n;

	if (!iso || !*iso)
		return "-";
	n = strlen(iso);
	/* 2026-11-27T09:12:26.123Z -> 2026-11-27 09:12:26 */
	if (n >= 19 && iso[10] == 'T') {
		snprintf(buf, len, "%.10s %.8s", iso, iso + 11);
		return buf;
	}
	snprintf(buf, len, "%s", iso);
	return buf;
}

void cli_table(int ncols, const char *const *head, const char **cells,
	       size_t nrows)
{
	int *width = xcalloc((size_t)ncols, sizeof(*width));

	for (int c = 0; c < ncols; c++)
		width[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < nrows * (size_t)ncols; i++) {
		int w;

		if (!cells[i] || !*cells[i])
			cells[i] = "-";
		w = (int)strlen(cells[i]);
		if (w > width[i % ncols])
			width[i % ncols] = w < 64 ? w : 64;
	}
	fputs(cli_color(stdout, CLI_BOLD), stdout);
	for (int c = 0; c < ncols; c++) {
		if (c == ncols - 1)
			fputs(head[c], stdout);
		else
			printf("%-*s  ", width[c], head[c]);
	}
	fputs(cli_reset(stdout), stdout);
	fputc('\n', stdout);
	for (size_t r = 0; r < nrows; r++) {
		for (int c = 0; c < ncols; c++) {
			const char *cell = cells[r * ncols + c];

			if (c == ncols - 1)
				fputs(cell, stdout);
			else
				printf("%-*s  ", width[c], cell);
		}
		fputc('\n', stdout);
	}
	fflush(stdout);
	free(width);
}

const char *cli_jcell(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_length(v) ? json_string_value(v) : "-";
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.0f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

const char *cli_bytes(double bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%.0f B", bytes);
		return buf;
	}
	while (bytes >= 1024 && u < 3) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", bytes, unit[u]);
	return buf;
}

void cli_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}
