/*
 * Unit tests for cron firing decisions (src/magsd/scheduler.c) and the
 * pure parts of /mags-cron and /mags-usage (api_cron.c, api_usage.c).
 *
 * The clock is injected: scheduler_plan() takes "now", and the restart
 * tests drive a fake daemon that keeps only what the store keeps
 * (next_run_at, the last job's status) across its "restarts".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "magsd/api_cron.h"
#include "magsd/api_usage.h"
#include "magsd/scheduler.h"

#define MIN 60000LL
#define HOUR (60 * MIN)

/* unix ms of a UTC date and time */
static int64_t at(int y, int mo, int d, int h, int mi, int s, int ms)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm) * 1000 + ms;
}

static struct cron_expr parse(const char *s)
{
	struct cron_expr e;
	struct mags_err err = { 0 };

	if (cron_parse(s, &e, &err) < 0)
		fail_msg("'%s': %s", s, err.msg);
	return e;
}

static void first_plan_computes_the_next_run(void **state)
{
	struct cron_expr e = parse("*/5 * * * *");
	struct scheduler_plan p;

	scheduler_plan(&e, 0, at(2026, 11, 27, 9, 41, 2, 500), "", &p);
	assert_int_equal(p.action, SCHEDULER_WAIT);
	assert_int_equal(p.next_run_at, at(2026, 11, 27, 9, 45, 0, 0));
	/* exactly on a firing second: that one is now, the next is later */
	scheduler_plan(&e, 0, at(2026, 11, 27, 9, 45, 0, 0), "", &p);
	assert_int_equal(p.next_run_at, at(2026, 11, 27, 9, 50, 0, 0));
}

static void not_due_waits_and_keeps_the_time(void **state)
{
	struct cron_expr e = parse("*/5 * * * *");
	struct scheduler_plan p;
	int64_t next = at(2026, 11, 27, 9, 45, 0, 0);

	scheduler_plan(&e, next, next - 1, "", &p);
	assert_int_equal(p.action, SCHEDULER_WAIT);
	assert_int_equal(p.next_run_at, next);
}

static void due_fires_and_moves_to_the_following_run(void **state)
{
	struct cron_expr e = parse("*/5 * * * *");
	struct scheduler_plan p;
	int64_t next = at(2026, 11, 27, 9, 45, 0, 0);

	scheduler_plan(&e, next, next, "", &p);
	assert_int_equal(p.action, SCHEDULER_FIRE);
	assert_int_equal(p.next_run_at, next + 5 * MIN);
	/* a late wake-up (a busy loop) still fires once, for the same slot */
	scheduler_plan(&e, next, next + 3200, "completed", &p);
	assert_int_equal(p.action, SCHEDULER_FIRE);
	assert_int_equal(p.next_run_at, next + 5 * MIN);
}

static void missed_runs_fire_once(void **state)
{
	struct cron_expr e = parse("*/5 * * * *");
	struct scheduler_plan p;
	int64_t missed = at(2026, 11, 27, 10, 0, 0, 0);
	int64_t now = at(2026, 11, 27, 13, 27, 15, 0);

	scheduler_plan(&e, missed, now, "error", &p);
	assert_int_equal(p.action, SCHEDULER_FIRE);
	assert_int_equal(p.next_run_at, at(2026, 11, 27, 13, 30, 0, 0));
	/* asked again at the same moment with what was stored: nothing */
	scheduler_plan(&e, p.next_run_at, now, "accepted", &p);
	assert_int_equal(p.action, SCHEDULER_WAIT);
	assert_int_equal(p.next_run_at, at(2026, 11, 27, 13, 30, 0, 0));
}

static void a_running_previous_job_means_skip(void **state)
{
	static const char *const going[] = { "accepted", "running", "sleeping" };
	static const char *const ended[] = { "", "completed", "error", "stopped" };
	struct cron_expr e = parse("* * * * *");
	struct scheduler_plan p;
	int64_t next = at(2026, 1, 1, 0, 0, 0, 0);

	for (size_t i = 0; i < sizeof(going) / sizeof(going[0]); i++) {
		scheduler_plan(&e, next, next, going[i], &p);
		assert_int_equal(p.action, SCHEDULER_SKIP);
		/* a skip still moves on: no retry every loop round */
		assert_int_equal(p.next_run_at, next + MIN);
		assert_true(scheduler_previous_running(going[i]));
	}
	for (size_t i = 0; i < sizeof(ended) / sizeof(ended[0]); i++) {
		scheduler_plan(&e, next, next, ended[i], &p);
		assert_int_equal(p.action, SCHEDULER_FIRE);
		assert_false(scheduler_previous_running(ended[i]));
	}
	assert_false(scheduler_previous_running(NULL));
}

static void a_clock_set_back_recomputes(void **state)
{
	struct cron_expr e = parse("0 * * * *");
	struct scheduler_plan p;
	int64_t now = at(2026, 11, 27, 9, 41, 0, 0);

	/* stored while the clock said 2027 */
	scheduler_plan(&e, at(2027, 3, 1, 0, 0, 0, 0), now, "", &p);
	assert_int_equal(p.action, SCHEDULER_WAIT);
	assert_int_equal(p.next_run_at, at(2026, 11, 27, 10, 0, 0, 0));
}

static void an_expression_that_never_fires_has_no_next_run(void **state)
{
	struct cron_expr e = parse("0 0 30 2 *");
	struct scheduler_plan p;

	assert_int_equal(scheduler_next_run(&e, at(2026, 1, 1, 0, 0, 0, 0)), 0);
	scheduler_plan(&e, 0, at(2026, 1, 1, 0, 0, 0, 0), "", &p);
	assert_int_equal(p.action, SCHEDULER_WAIT);
	assert_int_equal(p.next_run_at, 0);
}

/*
 * A fake daemon: while up it wakes exactly at the stored next_run_at (the
 * timerfd), and once at each start-up; while down nothing happens. Only
 * next_run_at survives a restart, as in the store. Jobs end at once.
 * Returns the number of firings; times[] gets them.
 */
struct window { int64_t from, to; };

static int simulate(const char *expr, int64_t created, int64_t end,
		    const struct window *up, size_t n_up, int64_t *times, int max)
{
	struct cron_expr e = parse(expr);
	struct scheduler_plan p;
	int64_t next = 0;
	int fired = 0;

	scheduler_plan(&e, 0, created, "", &p);
	next = p.next_run_at;
	for (size_t w = 0; w < n_up; w++) {
		int64_t now = up[w].from;          /* start-up: look once */
		for (;;) {
			scheduler_plan(&e, next, now, "completed", &p);
			if (p.action == SCHEDULER_FIRE) {
				assert_true(fired < max);
				times[fired++] = now;
			}
			next = p.next_run_at;
			if (!next || next >= up[w].to || next >= end)
				break;
			now = next;                     /* the timer wakes at :00 */
		}
	}
	return fired;
}

static void downtime_costs_one_firing_not_one_per_missed_run(void **state)
{
	int64_t day = at(2026, 11, 27, 0, 0, 0, 0);
	struct window up[] = {
		{ day + 30 * 1000, day + 5 * HOUR + 30 * MIN },     /* 00:00:30-05:30 */
		{ day + 9 * HOUR + 10 * MIN, day + 24 * HOUR },     /* 09:10-24:00 */
	};
	int64_t t[64];
	int n = simulate("0 * * * *", day + 30 * 1000, day + 24 * HOUR, up, 2, t, 64);

	/* 01..05 while up, one catch-up at 09:10 for 06..09, then 10..23 */
	assert_int_equal(n, 5 + 1 + 14);
	assert_int_equal(t[0], day + 1 * HOUR);
	assert_int_equal(t[4], day + 5 * HOUR);
	assert_int_equal(t[5], day + 9 * HOUR + 10 * MIN);
	assert_int_equal(t[6], day + 10 * HOUR);
	assert_int_equal(t[19], day + 23 * HOUR);
	for (int i = 0; i < n; i++)
		if (i != 5)
			assert_int_equal(t[i] % MIN, 0);   /* exact to the second */
}

static void restarts_without_missed_runs_change_nothing(void **state)
{
	int64_t day = at(2026, 11, 27, 0, 0, 0, 0);
	struct window one[] = { { day, day + 2 * HOUR } };
	struct window many[] = {
		{ day, day + 10 * MIN + 1000 }, { day + 10 * MIN + 2000, day + 47 * MIN },
		{ day + 47 * MIN + 500, day + 2 * HOUR },
	};
	int64_t a[200], b[200];
	int na = simulate("*/7 * * * *", day, day + 2 * HOUR, one, 1, a, 200);
	int nb = simulate("*/7 * * * *", day, day + 2 * HOUR, many, 3, b, 200);

	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na * sizeof(a[0]));
}

/* ---- api_cron_parse / api_cron_check ---- */

static int parse_body(const char *body, int patch, struct api_cron_input *in, char *msg)
{
	struct mags_err err = { 0 };
	int r = api_cron_parse(body, strlen(body), patch, in, &err);

	snprintf(msg, MAGS_ERR_MSG_MAX, "%s", err.msg);
	return r;
}

static void create_needs_name_expression_and_script(void **state)
{
	struct api_cron_input in;
	char msg[MAGS_ERR_MSG_MAX];

	assert_int_equal(parse_body("{\"cron_expression\":\"* * * * *\",\"script\":\"x\"}", 0,
				    &in, msg), -EINVAL);
	assert_string_equal(msg, "'name' is required");
	assert_int_equal(parse_body("{\"name\":\"n\",\"script\":\"x\"}", 0, &in, msg), -EINVAL);
	assert_string_equal(msg, "'cron_expression' is required");
	assert_int_equal(parse_body("{\"name\":\"n\",\"schedule\":\"@daily\"}", 0, &in, msg),
			 -EINVAL);
	assert_string_equal(msg, "'script' is required");
	assert_int_equal(parse_body("[1]", 0, &in, msg), -EINVAL);
	assert_int_equal(parse_body("{\"name\":1}", 0, &in, msg), -EINVAL);
	assert_string_equal(msg, "'name' must be a string");
	assert_int_equal(parse_body("{\"a\":1,\"a\":2}", 0, &in, msg), -EINVAL);

	assert_int_equal(parse_body("{\"name\":\"n\",\"schedule\":\"@daily\",\"script\":\"x\","
				    "\"workspace\":\"w\",\"environment\":{\"B\":\"2\",\"A\":\"1\"}}",
				    0, &in, msg), 0);
	assert_string_equal(in.expr, "@daily");
	assert_string_equal(in.expr_field, "schedule");
	assert_string_equal(in.workspace_id, "w");
	assert_string_equal(in.environment, "{\"A\":\"1\",\"B\":\"2\"}");
	assert_int_equal(in.enabled, 1);
	api_cron_input_release(&in);

	assert_int_equal(parse_body("{\"name\":\"n\",\"schedule\":\"@daily\",\"script\":\"x\","
				    "\"cron_expression\":\"@hourly\"}", 0, &in, msg), -EINVAL);
}

static void patch_takes_any_subset(void **state)
{
	struct api_cron_input in;
	char msg[MAGS_ERR_MSG_MAX];

	assert_int_equal(parse_body("{\"enabled\":false}", 1, &in, msg), 0);
	assert_int_equal(in.set, API_CRON_ENABLED);
	assert_int_equal(in.enabled, 0);
	api_cron_input_release(&in);
	assert_int_equal(parse_body("{\"workspace_id\":null,\"environment\":null}", 1, &in, msg), 0);
	assert_int_equal(in.set, API_CRON_WORKSPACE | API_CRON_ENV);
	assert_null(in.workspace_id);
	assert_null(in.environment);
	api_cron_input_release(&in);
	assert_int_equal(parse_body("{\"script\":\"\"}", 1, &in, msg), -EINVAL);
	assert_string_equal(msg, "'script' must not be empty");
	assert_int_equal(parse_body("{\"enabled\":1}", 1, &in, msg), -EINVAL);
	assert_string_equal(msg, "'enabled' must be a boolean");
}

static void check_names_the_field(void **state)
{
	struct store_cron c = { 0 };
	struct mags_err err = { 0 };
	int64_t now = at(2026, 11, 27, 9, 41, 2, 0), next = 0;

	c.name = "n";
	c.script = "true";
	c.cron_expression = "61 * * * *";
	assert_int_equal(api_cron_check(&c, "cron_expression", 300, 64, now, &next, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "'cron_expression': minute field '61': value out of range 0-59");
	c.cron_expression = "0 0 31 4 *";
	assert_int_equal(api_cron_check(&c, "schedule", 300, 64, now, &next, &err), -EINVAL);
	assert_string_equal(err.msg, "'schedule': '0 0 31 4 *' never fires");
	c.cron_expression = "*/15 * * * *";
	assert_int_equal(api_cron_check(&c, "cron_expression", 300, 64, now, &next, &err), 0);
	assert_int_equal(next, at(2026, 11, 27, 9, 45, 0, 0));
	c.name = "has space";
	assert_int_equal(api_cron_check(&c, "cron_expression", 300, 64, now, &next, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "'name'"));
}

/* ---- the runtime's usage line ---- */

static void usage_status_lines(void **state)
{
	int64_t cpu = -1, mem = -1;

	assert_int_equal(api_usage_parse_status("usage cpu_us=1500000 mem_peak=4096", &cpu, &mem), 0);
	assert_int_equal(cpu, 1500000);
	assert_int_equal(mem, 4096);
	assert_int_equal(api_usage_parse_status("usage mem_peak=7 other=x1 cpu_us=9", &cpu, &mem),
			 -EINVAL);
	assert_int_equal(api_usage_parse_status("usage mem_peak=7 other=1 cpu_us=9", &cpu, &mem), 0);
	assert_int_equal(cpu, 9);
	assert_int_equal(mem, 7);
	assert_int_equal(api_usage_parse_status("usage", &cpu, &mem), 0);
	assert_int_equal(cpu, 0);
	assert_int_equal(api_usage_parse_status("usages cpu_us=1", &cpu, &mem), -EINVAL);
	assert_int_equal(api_usage_parse_status("usage cpu_us=-1", &cpu, &mem), -EINVAL);
	assert_int_equal(api_usage_parse_status("usage cpu_us=", &cpu, &mem), -EINVAL);
	assert_int_equal(api_usage_parse_status("usage =5", &cpu, &mem), -EINVAL);
	assert_int_equal(api_usage_parse_status("usage cpu_us=99999999999999999999", &cpu, &mem),
			 -EINVAL);
	assert_int_equal(api_usage_parse_status("exit 0", &cpu, &mem), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_plan_computes_the_next_run),
		cmocka_unit_test(not_due_waits_and_keeps_the_time),
		cmocka_unit_test(due_fires_and_moves_to_the_following_run),
		cmocka_unit_test(missed_runs_fire_once),
		cmocka_unit_test(a_running_previous_job_means_skip),
		cmocka_unit_test(a_clock_set_back_recomputes),
		cmocka_unit_test(an_expression_that_never_fires_has_no_next_run),
		cmocka_unit_test(downtime_costs_one_firing_not_one_per_missed_run),
		cmocka_unit_test(restarts_without_missed_runs_change_nothing),
		cmocka_unit_test(create_needs_name_expression_and_script),
		cmocka_unit_test(patch_takes_any_subset),
		cmocka_unit_test(check_names_the_field),
		cmocka_unit_test(usage_status_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
