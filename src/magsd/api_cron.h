/*
 * api_cron.h - the pure parts of /mags-cron (api_cron.c): reading a
 * create/update body, checking a cron job as a whole, and its JSON form.
 * No I/O, so they are unit-tested and fuzzed directly.
 */
#ifndef MAGS_MAGSD_API_CRON_H
#define MAGS_MAGSD_API_CRON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/store.h"

/* Which fields a body carried (struct api_cron_input.set). */
#define API_CRON_NAME       0x01
#define API_CRON_EXPR       0x02   /* cron_expression or its alias schedule */
#define API_CRON_SCRIPT     0x04
#define API_CRON_WORKSPACE  0x08   /* workspace_id or [003] workspace; null clears */
#define API_CRON_PERSISTENT 0x10
#define API_CRON_ENABLED    0x20
#define API_CRON_ENV        0x40   /* environment; null or {} clears */

struct api_cron_input {
	unsigned set;
	char *name;
	char *expr;
	const char *expr_field;   /* "cron_expression" or "schedule": for messages */
	char *script;
	char *workspace_id;       /* NULL = none */
	char *environment;        /* compact JSON object text, NULL = none */
	int persistent;
	int enabled;              /* create: default 1 */
};

/* Parse a POST (patch 0: name, cron_expression or schedule, and script are
 * required and non-empty) or PATCH (patch 1: any subset) body. Types only;
 * values are checked by api_cron_check. 0 (release in) or -EINVAL with
 * err (MAGS_E_BAD_REQUEST) naming the field. Unknown fields are ignored. */
int api_cron_parse(const char *body, size_t len, int patch, struct api_cron_input *in,
		   struct mags_err *err);
void api_cron_input_release(struct api_cron_input *in);

/* Check a whole cron job: its expression (a message naming expr_field) and
 * that it fires at all, then the job its firings submit (the POST
 * /mags-jobs validator: name, script, workspace_id, environment limits).
 * 0 and *next = its first run after now (ms), or -EINVAL with err. */
int api_cron_check(const struct store_cron *c, const char *expr_field, int default_timeout,
		   int max_disk_gb, int64_t now, int64_t *next, struct mags_err *err);

/* The API object: id, name, cron_expression (and alias schedule), script,
 * workspace_id, persistent, enabled, environment, timezone ("UTC"),
 * created_at, next_run_at (null while disabled), last_run_at, last_job_id,
 * last_status (the last firing's job status, or "skipped"/"error"),
 * last_error, run_count, skip_count. With script_max > 0 a longer script
 * is cut there (at a UTF-8 boundary) and "script_truncated": true added.
 * New reference. */
json_t *api_cron_to_json(const struct store_cron *c, size_t script_max);

#endif
