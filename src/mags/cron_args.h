/*
 * cron_args.h - `mags cron add` and `mags cron create` arguments to a
 * POST /mags-cron request. Pure logic, covered by unit tests.
 */
#ifndef MAGS_CLI_CRON_ARGS_H
#define MAGS_CLI_CRON_ARGS_H

#include <stdbool.h>

#include "common/err.h"
#include "mags/mags.h"

struct cron_args {
	const char *name;       /* -n/--name (required for add) */
	const char *schedule;   /* -s/--schedule, or create's first operand */
	const char *workspace;  /* -w/--workspace */
	const char *script;     /* the last operand */
	bool persistent;        /* -p/--persistent */
	bool disabled;          /* --disabled: create it paused */
};

/*
 * Parse argv, argv[0] being "add" or "create":
 *   add [-n|--name N] [-s|--schedule S] [-w W] [-p] <script>
 *   create '<expr>' '<script>' [-n N] [-w W] [-p]     ([003] spelling)
 * Here -n is the cron job's name, not -w's alias as in `mags run`. For
 * create without a name the name is "cron-" and 8 random hex digits.
 * Returns 0, 1 for --help, or -EINVAL with err naming what is missing.
 */
int cron_args_parse(int argc, char **argv, struct cron_args *a,
		    char *name_buf, size_t name_len, struct mags_err *err);

/* {"name", "cron_expression", "script", "workspace_id"?, "persistent"?,
 * "enabled"}. A new reference. */
json_t *cron_args_request(const struct cron_args *a);

#endif
