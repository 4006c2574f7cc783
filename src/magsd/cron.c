/*
 * cron.c - cron expressions (see cron.h).
 *
 * A parsed expression is five bitsets, one per field, so matching a time is
 * a handful of bit tests. cron_next() walks the calendar forward in its own
 * proleptic Gregorian arithmetic (no gmtime, no time zone, no clock):
 * whole months are skipped when the month does not match, whole days when
 * the day does not, whole hours when the hour does not, and the minute is
 * then found with one bit scan. A year therefore costs at most a few
 * hundred steps, which is what lets "never" be decided exactly: the
 * Gregorian calendar repeats every 400 years (146097 days, a whole number
 * of weeks), so an expression that does not fire in 401 years never does.
 */
#include "magsd/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

/* ---- parsing ---------------------------------------------------------- */

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec",
};

static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat",
};

struct cron_field {
	const char *name;             /* as it appears in error messages */
	int lo, hi;                   /* values accepted */
	int step_max;                 /* the number of distinct values */
	const char *const *names;     /* 3-letter names, or NULL */
	int n_names, name_base;       /* names[i] is value name_base + i */
};

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const struct cron_field cron_fields[F_COUNT] = {
	[F_MINUTE] = { "minute", 0, 59, 60, NULL, 0, 0 },
	[F_HOUR] = { "hour", 0, 23, 24, NULL, 0, 0 },
	[F_DOM] = { "day-of-month", 1, 31, 31, NULL, 0, 0 },
	[F_MONTH] = { "month", 1, 12, 12, month_names, 12, 1 },
	/* 7 is Sunday again; '*' and 'a/n' run to 7 as croniter's do */
	[F_DOW] = { "day-of-week", 0, 7, 7, weekday_names, 7, 0 },
};

static const struct {
	const char *name;
	const char *fields;
} cron_macros[] = {
	{ "@hourly", "0 * * * *" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

/* One field being parsed: where errors go and what to quote in them. */
struct field_ctx {
	const struct cron_field *f;
	const char *text;
	struct mags_err *err;
};

static int field_fail(struct field_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int field_fail(struct field_ctx *c, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(c->err, MAGS_E_BAD_REQUEST, EINVAL,
		       "cron expression: %s field '%s': %s", c->f->name,
		       c->text, why);
}

/* A number (saturating well above any field's range, so "99999999999"
 * reports "out of range" instead of overflowing) or a 3-letter name. */
static int parse_value(struct field_ctx *c, const char **pp, int *v)
{
	const struct cron_field *f = c->f;
	const char *p = *pp, *start = p;
	int all_digits = 1, n = 0, i;
	size_t len;

	while (isalnum((unsigned char)*p)) {
		if (!isdigit((unsigned char)*p))
			all_digits = 0;
		else if (n < 100000)
			n = n * 10 + (*p - '0');
		p++;
	}
	len = (size_t)(p - start);
	if (len == 0) {
		if (*p == '\0' || *p == ',')
			return field_fail(c, "missing value after '%c'", p[-1]);
		return field_fail(c, "unexpected '%c'", *p);
	}
	if (all_digits) {
		if (n < f->lo || n > f->hi)
			return field_fail(c, "value out of range %d-%d", f->lo,
					  f->hi);
		*v = n;
		*pp = p;
		return 0;
	}
	if (f->names && isalpha((unsigned char)*start)) {
		for (i = 0; len == 3 && i < f->n_names; i++) {
			if (strncasecmp(start, f->names[i], 3) == 0) {
				*v = f->name_base + i;
				*pp = p;
				return 0;
			}
		}
		return field_fail(c, "unknown name '%.*s'", (int)len, start);
	}
	return field_fail(c, "invalid value '%.*s'", (int)len, start);
}

/* One list item: '*', 'a' or 'a-b', then optionally '/n'. */
static int parse_item(struct field_ctx *c, const char **pp, uint64_t *bits)
{
	const struct cron_field *f = c->f;
	const char *p = *pp, *start = p;
	int a, b, step = 1, single = 0, r, v;

	if (*p == '*') {
		a = f->lo;
		b = f->hi;
		p++;
	} else {
		if ((r = parse_value(c, &p, &a)) < 0)
			return r;
		if (*p == '-') {
			p++;
			if ((r = parse_value(c, &p, &b)) < 0)
				return r;
			if (b < a)
				return field_fail(c, "reversed range '%.*s'",
						  (int)(p - start), start);
		} else {
			b = a;
			single = 1;
		}
	}
	if (*p == '/') {
		p++;
		if (!isdigit((unsigned char)*p))
			return field_fail(c, "step after '/' must be a number");
		for (v = 0; isdigit((unsigned char)*p); p++)
			if (v < 100000)
				v = v * 10 + (*p - '0');
		if (v < 1 || v > f->step_max)
			return field_fail(c, "step out of range 1-%d", f->step_max);
		step = v;
		if (single)           /* 'a/n' runs from a to the end */
			b = f->hi;
	}
	if (*p != '\0' && *p != ',')
		return field_fail(c, "unexpected '%c'", *p);
	for (v = a; v <= b; v += step)
		*bits |= 1ULL << v;
	*pp = p;
	return 0;
}

static int parse_field(const struct cron_field *f, const char *text,
		       uint64_t *bits, struct mags_err *err)
{
	struct field_ctx c = { f, text, err };
	const char *p = text;
	int r;

	*bits = 0;
	for (;;) {
		if (*p == '\0' || *p == ',')
			return field_fail(&c, "empty list item");
		if ((r = parse_item(&c, &p, bits)) < 0)
			return r;
		if (*p == '\0')
			return 0;
		p++;                  /* the ',' */
	}
}

static int fail(struct mags_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct mags_err *err, const char *fmt, ...)
{
	char msg[MAGS_ERR_MSG_MAX - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "cron expression: %s", msg);
}

int cron_parse(const char *expr, struct cron_expr *out, struct mags_err *err)
{
	char buf[CRON_EXPR_MAX + 1];
	char *tok[F_COUNT + 1];
	struct cron_expr e;
	uint64_t bits[F_COUNT];
	size_t len, i;
	int ntok = 0, r;
	char *p;

	len = expr ? strnlen(expr, CRON_EXPR_MAX + 1) : 0;
	if (len > CRON_EXPR_MAX)
		return fail(err, "longer than %d characters", CRON_EXPR_MAX);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)expr[i];
		if ((ch < 0x20 || ch > 0x7e) && ch != '\t')
			return fail(err, "invalid character at offset %zu", i);
	}
	memcpy(buf, expr ? expr : "", len);
	buf[len] = '\0';

	/* Split on blanks; count fields past 5 only to report how many. */
	for (p = buf; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (ntok <= F_COUNT)
			tok[ntok] = p;
		ntok++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (ntok == 0)
		return fail(err, "empty");

	if (tok[0][0] == '@') {
		for (i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++)
			if (strcasecmp(tok[0], cron_macros[i].name) == 0)
				break;
		if (i == sizeof(cron_macros) / sizeof(cron_macros[0]))
			return fail(err, "unknown macro '%s'", tok[0]);
		if (ntok > 1)
			return fail(err, "unexpected '%s' after '%s'", tok[1], tok[0]);
		return cron_parse(cron_macros[i].fields, out, err);
	}
	if (ntok != F_COUNT)
		return fail(err, "expected 5 fields (minute hour day-of-month "
			    "month day-of-week), got %d", ntok);

	for (i = 0; i < F_COUNT; i++)
		if ((r = parse_field(&cron_fields[i], tok[i], &bits[i], err)) < 0)
			return r;

	memset(&e, 0, sizeof(e));
	e.minutes = bits[F_MINUTE];
	e.hours = (uint32_t)bits[F_HOUR];
	e.days = (uint32_t)bits[F_DOM];
	e.months = (uint16_t)bits[F_MONTH];
	e.weekdays = (uint8_t)((bits[F_DOW] | (bits[F_DOW] >> 7)) & 0x7f);
	if (tok[F_DOM][0] == '*')
		e.flags |= CRON_DOM_STAR;
	if (tok[F_DOW][0] == '*')
		e.flags |= CRON_DOW_STAR;
	*out = e;
	return 0;
}

/* ---- the next firing -------------------------------------------------- */

/* Beyond this the day arithmetic below could overflow; ~35 million years. */
#define CRON_TIME_LIMIT (INT64_C(1) << 50)

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back
 * (Howard Hinnant's algorithms, exact for any int64 year in range). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* The lowest set bit at or above `from` (< 64), or -1. */
static int next_bit(uint64_t bits, int from)
{
	bits &= ~UINT64_C(0) << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

/* A day of the calendar, walked forward one day or one month at a time. */
struct cal {
	int64_t y;
	int m, d;    /* 1-12, 1-31 */
	int wday;    /* 0-6, 0 = Sunday */
};

static void cal_next_month(struct cal *c)
{
	c->wday = (c->wday + days_in_month(c->y, c->m) - c->d + 1) % 7;
	c->d = 1;
	if (++c->m > 12) {
		c->m = 1;
		c->y++;
	}
}

static void cal_next_day(struct cal *c)
{
	if (c->d == days_in_month(c->y, c->m)) {
		cal_next_month(c);
		return;
	}
	c->d++;
	c->wday = (c->wday + 1) % 7;
}

/* Both fields must match unless both are restricted (the classic rule). */
static int day_rule_and(const struct cron_expr *e)
{
	return (e->flags & (CRON_DOM_STAR | CRON_DOW_STAR)) != 0;
}

static int day_matches(const struct cron_expr *e, const struct cal *c)
{
	int dom = (e->days >> c->d) & 1;
	int dow = (e->weekdays >> c->wday) & 1;

	return day_rule_and(e) ? dom && dow : dom || dow;
}

/* Move on from a day that does not match. When both fields must match,
 * go straight to the next day the day-of-month field allows, or to the
 * next month: "0 0 31 4 *" then costs one step a year, not thirty. */
static void cal_skip_day(const struct cron_expr *e, struct cal *c)
{
	int d;

	if (!day_rule_and(e)) {
		cal_next_day(c);
		return;
	}
	d = next_bit(e->days, c->d + 1);
	if (d < 0 || d > days_in_month(c->y, c->m)) {
		cal_next_month(c);
		return;
	}
	c->wday = (c->wday + d - c->d) % 7;
	c->d = d;
}

int64_t cron_next(const struct cron_expr *e, int64_t after)
{
	struct cal c;
	int64_t t, day, last_year;
	int hour, min, h, mn;

	if (after < -CRON_TIME_LIMIT || after > CRON_TIME_LIMIT)
		return -1;
	if (!e->minutes || !e->hours || !e->months || !(e->days | e->weekdays))
		return -1;            /* not from cron_parse: nothing can match */

	t = floor_div(after, 60) + 1;        /* first candidate, in minutes */
	day = floor_div(t, 1440);
	hour = (int)(t - day * 1440) / 60;
	min = (int)(t - day * 1440) % 60;
	civil_from_days(day, &c.y, &c.m, &c.d);
	/* 1970-01-01 was a Thursday */
	c.wday = (int)(day + 4 - floor_div(day + 4, 7) * 7);
	last_year = c.y + 401;

	while (c.y <= last_year) {
		if (!((e->months >> c.m) & 1)) {
			cal_next_month(&c);
			hour = min = 0;
			continue;
		}
		if (!day_matches(e, &c)) {
			cal_skip_day(e, &c);
			hour = min = 0;
			continue;
		}
		if ((h = next_bit(e->hours, hour)) < 0) {
			cal_next_day(&c);
			hour = min = 0;
			continue;
		}
		if (h != hour) {
			hour = h;
			min = 0;
		}
		if ((mn = next_bit(e->minutes, min)) >= 0)
			return (days_from_civil(c.y, c.m, c.d) * 1440 +
				hour * 60 + mn) * 60;
		hour++;               /* 24 finds no hour: on to the next day */
		min = 0;
	}
	return -1;
}
