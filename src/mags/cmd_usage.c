/*
 * cmd_usage.c - `mags usage [--days N]`: the account's usage over a window
 * (GET /mags-usage?window_days=N).
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const char cmd_usage_usage[] =
	"Usage: mags usage [--days N] [--json]\n"
	"\n"
	"Show usage: jobs run and sandbox time over the last N days (default:\n"
	"the server's window, 30 days).\n"
	"\n"
	"Examples:\n"
	"  mags usage\n"
	"  mags usage --days 7\n";

static void kv(const char *key, const char *val)
{
	printf("%s%-14s%s %s\n", cli_color(stdout, CLI_BOLD), key,
	       cli_reset(stdout), val);
}

int cmd_usage(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL, *v;
	bool json = false;
	int days = 0, r;
	char buf[64];
	const char *key;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--days") == 0 || strncmp(a, "--days=", 7) == 0) {
			const char *val = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);

			if (cli_parse_int(val, 1, 3650, &days) < 0)
				return cli_usage_error("usage", "invalid value '%s' for --days",
						       val ? val : "");
		} else {
			return cli_usage_error("usage", "unexpected argument '%s'", a);
		}
	}
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = mags_usage(ctx.client, days, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
		goto out;
	}
	v = json_object_get(out, "window_days");
	if (json_is_integer(v))
		days = (int)json_integer_value(v);
	if (days > 0)
		printf("Usage over the last %d days\n", days);
	kv("Jobs:", cli_jcell(out, "total_jobs", buf, sizeof(buf)));
	v = json_object_get(out, "vm_seconds");
	if (json_is_number(v)) {
		double s = json_number_value(v);

		snprintf(buf, sizeof(buf), "%.0f s (%.1f h)", s, s / 3600);
		kv("VM time:", buf);
	}
	/* Whatever else the server counts, as it names it. */
	json_object_foreach(out, key, v) {
		char label[64];

		if (strcmp(key, "total_jobs") == 0 || strcmp(key, "vm_seconds") == 0 ||
		    strcmp(key, "window_days") == 0 || !(json_is_number(v) || json_is_string(v)))
			continue;
		snprintf(label, sizeof(label), "%s:", key);
		kv(label, cli_jcell(out, key, buf, sizeof(buf)));
	}
	fflush(stdout);
out:
	json_decref(out);
	cli_close(&ctx);
	return r;
}
