/*
 * cron.h - cron expressions: parse one, and find the next time it fires.
 *
 * Pure functions on plain values, no clock and no allocation, so the
 * scheduler, the API's validation and the tests all call the same code.
 * Times are unix seconds in UTC.
 */
#ifndef MAGS_MAGSD_CRON_H
#define MAGS_MAGSD_CRON_H

#include <stdint.h>

#include "common/err.h"

/* Longest expression cron_parse() accepts, in bytes. */
#define CRON_EXPR_MAX 256

/* Flags: the field's text started with '*' (Vixie cron's DOM_STAR and
 * DOW_STAR), which decides how day-of-month and day-of-week combine. */
#define CRON_DOM_STAR 0x1
#define CRON_DOW_STAR 0x2

/* A parsed expression: one bit per allowed value. Plain data, so callers
 * keep it on the stack or inside their own structs; nothing to release. */
struct cron_expr {
	uint64_t minutes;  /* bit n: minute n, 0-59 */
	uint32_t hours;    /* bit n: hour n, 0-23 */
	uint32_t days;     /* bit n: day of month n, 1-31 */
	uint16_t months;   /* bit n: month n, 1-12 */
	uint8_t weekdays;  /* bit n: weekday n, 0-6, 0 = Sunday (7 folded into 0) */
	uint8_t flags;     /* CRON_DOM_STAR | CRON_DOW_STAR */
};

/*
 * Parse a standard 5-field expression "minute hour day-of-month month
 * day-of-week", fields separated by spaces or tabs, or one of the macros
 * @hourly @daily @midnight @weekly @monthly @yearly @annually.
 *
 * A field is a comma-separated list of items: '*', a value 'a', a range
 * 'a-b', or any of these with a step: '*' + '/n', 'a-b/n', 'a/n' (from a
 * to the end of the field's range). Months take JAN-DEC and weekdays
 * SUN-SAT, case-insensitive; weekday 0 and 7 are both Sunday. A step runs
 * from 1 to the number of values of its field (1-60 for minutes, 1-7 for
 * weekdays, where '*' and 'a/n' run up to 7, Sunday again, as in croniter).
 *
 * Returns 0 and fills *out, or -EINVAL, leaves *out alone and fills err
 * (code MAGS_E_BAD_REQUEST, may be NULL) with what is wrong, naming the
 * field when one is at fault:
 *   cron expression: minute field '61': value out of range 0-59
 * Everything else is rejected that way: an empty or NULL expression, more
 * than CRON_EXPR_MAX bytes, control or non-ASCII bytes, a field count
 * other than 5, empty list items, reversed ranges ('5-1', 'FRI-MON'),
 * steps of 0 or larger than the field, trailing characters ('5x', '1-2-3'),
 * unknown names and macros (including @reboot, meaningless for a scheduled
 * job) and other crons' extensions (L, W, #, ?). Thread-safe; no allocation.
 */
int cron_parse(const char *expr, struct cron_expr *out, struct mags_err *err);

/*
 * The first time strictly after `after` at which e fires, at second 0, or
 * -1 if it never fires (e.g. "0 0 30 2 *").
 *
 * Classic (Vixie) rule for days: if both day-of-month and day-of-week are
 * restricted (neither field starts with '*'), a day matches when either
 * matches, so "0 0 13 * FRI" fires on every 13th and on every Friday;
 * otherwise both must match. A step on '*' still starts with '*': a
 * day-of-month of '*' + '/2' with day-of-week MON means odd days that are
 * Mondays.
 *
 * The search skips by month, day and hour, and gives up after 401 years:
 * the Gregorian calendar repeats every 400 years, so -1 means "never",
 * not "not soon". Even the worst case takes well under a millisecond.
 * `after` must lie within +-2^50 seconds of the epoch, else -1.
 */
int64_t cron_next(const struct cron_expr *e, int64_t after);

#endif
