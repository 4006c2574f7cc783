/*
 * Unit tests for the cron and usage part of the store (src/magsd/store_cron.c)
 * on a real temp file: ownership, due/earliest, recording firings (last_status
 * following the fired job), reopening, and usage by day.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/store.h"

#define DAY 86400000LL

static char dir[64];
static char path[128];
static char alice[32], bob[32];

static int setup(void **state)
{
	struct store *st;
	struct mags_err err;

	snprintf(dir, sizeof(dir), "/tmp/mags-test-cron-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mags.db", dir);
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_user_add(st, "alice", alice, &err), 0);
	assert_int_equal(store_user_add(st, "bob", bob, &err), 0);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	rm_rf(dir);
	return 0;
}

static void add_cron(struct store *st, const char *id, const char *user, int enabled,
		     int64_t next)
{
	struct store_cron c;
	struct mags_err err;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", user);
	c.name = (char *)"n";
	c.cron_expression = (char *)"* * * * *";
	c.script = (char *)"date";
	c.environment = (char *)"{\"A\":\"1\"}";
	c.enabled = enabled;
	c.created_at = 1000;
	c.next_run_at = next;
	assert_int_equal(store_cron_insert(st, &c, &err), 0);
}

static void add_job(struct store *st, const char *id, const char *user, int64_t created,
		    int64_t started, int64_t finished, const char *status)
{
	struct job j;
	struct mags_err err;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(j.user_id, sizeof(j.user_id), "%s", user);
	snprintf(j.status, sizeof(j.status), "%s", status);
	snprintf(j.type, sizeof(j.type), "inline");
	j.script = (char *)"x";
	j.timeout = 300;
	j.created_at = created;
	j.started_at = started;
	j.finished_at = finished;
	assert_int_equal(store_job_insert(st, &j, &err), 0);
}

static void cron_jobs_belong_to_their_user(void **state)
{
	struct store *st = *state;
	struct store_cron c, *list;
	size_t n;

	add_cron(st, "c1", alice, 1, 60000);
	add_cron(st, "c2", alice, 0, 0);
	add_cron(st, "c3", bob, 1, 120000);
	assert_int_equal(store_cron_get(st, "c1", alice, &c), 0);
	assert_string_equal(c.name, "n");
	assert_string_equal(c.environment, "{\"A\":\"1\"}");
	assert_int_equal(c.next_run_at, 60000);
	assert_null(c.workspace_id);
	assert_string_equal(c.last_status, "");
	store_cron_release(&c);
	assert_int_equal(store_cron_get(st, "c1", bob, &c), -ENOENT);
	assert_int_equal(store_cron_get(st, "nope", NULL, &c), -ENOENT);
	assert_int_equal(store_cron_count(st, alice), 2);
	assert_int_equal(store_cron_list(st, alice, &list, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "c1");
	store_cron_list_free(list, n);
	assert_int_equal(store_cron_delete(st, "c3", alice), -ENOENT);
	assert_int_equal(store_cron_delete(st, "c3", bob), 0);
	assert_int_equal(store_cron_count(st, bob), 0);
}

static void due_and_earliest_see_enabled_jobs_only(void **state)
{
	struct store *st = *state;
	struct store_cron *due;
	size_t n;
	int64_t t;

	assert_int_equal(store_cron_earliest(st, &t), -ENOENT);
	add_cron(st, "late", alice, 1, 300000);
	add_cron(st, "early", bob, 1, 60000);
	add_cron(st, "off", alice, 0, 1000);
	assert_int_equal(store_cron_earliest(st, &t), 0);
	assert_int_equal(t, 60000);
	assert_int_equal(store_cron_due(st, 59999, &due, &n), 0);
	assert_int_equal(n, 0);
	free(due);
	assert_int_equal(store_cron_due(st, 300000, &due, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0].id, "early");
	assert_string_equal(due[1].id, "late");
	store_cron_list_free(due, n);
}

static void firings_are_recorded_and_survive_reopen(void **state)
{
	struct store *st = *state;
	struct store_cron c;
	struct mags_err err;

	add_cron(st, "c", alice, 1, 60000);
	add_job(st, "j1", alice, 60000, 60100, 0, "running");
	assert_int_equal(store_cron_record(st, "c", 60000, "fired", "j1", NULL, 120000), 0);
	assert_int_equal(store_cron_get(st, "c", NULL, &c), 0);
	assert_string_equal(c.last_job_id, "j1");
	assert_string_equal(c.last_status, "running");
	assert_string_equal(c.last_job_status, "running");
	assert_int_equal(c.run_count, 1);
	assert_int_equal(c.next_run_at, 120000);
	store_cron_release(&c);

	/* skipped: the running job stays the last job */
	assert_int_equal(store_cron_record(st, "c", 120000, "skipped", NULL, NULL, 180000), 0);
	assert_int_equal(store_cron_get(st, "c", NULL, &c), 0);
	assert_string_equal(c.last_status, "skipped");
	assert_string_equal(c.last_job_id, "j1");
	assert_string_equal(c.last_job_status, "running");
	assert_int_equal(c.skip_count, 1);
	store_cron_release(&c);

	/* the job ends: the next firing sees it ended */
	assert_int_equal(store_job_finish(st, "j1", "completed", 0, NULL, 130000), 0);
	assert_int_equal(store_cron_record(st, "c", 180000, "error", NULL, "too many", 240000), 0);

	store_close(st);
	assert_int_equal(store_open(path, &st, &err), 0);
	*state = st;
	assert_int_equal(store_cron_get(st, "c", NULL, &c), 0);
	assert_string_equal(c.last_status, "error");
	assert_string_equal(c.last_error, "too many");
	assert_string_equal(c.last_job_status, "completed");
	assert_int_equal(c.next_run_at, 240000);
	assert_int_equal(c.last_run_at, 180000);
	assert_int_equal(c.run_count, 1);
	assert_int_equal(c.skip_count, 1);
	store_cron_release(&c);

	/* an update keeps the history and moves next_run_at */
	assert_int_equal(store_cron_get(st, "c", NULL, &c), 0);
	c.enabled = 0;
	c.next_run_at = 0;
	assert_int_equal(store_cron_update(st, &c, &err), 0);
	store_cron_release(&c);
	assert_int_equal(store_cron_get(st, "c", NULL, &c), 0);
	assert_int_equal(c.enabled, 0);
	assert_int_equal(c.next_run_at, 0);
	assert_int_equal(c.run_count, 1);
	store_cron_release(&c);
}

static void usage_is_summed_by_day(void **state)
{
	struct store *st = *state;
	struct store_usage_day d[3];
	int64_t from = 20000 * DAY, now = from + 2 * DAY + 5000;

	add_job(st, "old", alice, from - 1, from - 1, from + 1000, "completed");
	add_job(st, "a", alice, from + 10, from + 100, from + 2100, "completed");
	add_job(st, "b", alice, from + 20, 0, from + 30, "error");   /* never started */
	add_job(st, "c", alice, from + DAY + 5, from + DAY + 5, from + DAY + 505, "stopped");
	add_job(st, "d", alice, from + 2 * DAY, from + 2 * DAY + 1000, 0, "running");
	add_job(st, "bobs", bob, from + 10, from + 10, from + 99999, "completed");
	assert_int_equal(store_job_set_usage(st, "a", 1500000, 1 << 20), 0);
	assert_int_equal(store_job_set_usage(st, "c", 250000, 3 << 20), 0);
	assert_int_equal(store_job_set_usage(st, "nope", 1, 1), -ENOENT);
	assert_int_equal(store_usage(st, alice, from, now, d, 3, NULL), 0);
	assert_int_equal(d[0].jobs, 2);
	assert_int_equal(d[0].vm_ms, 2000);
	assert_int_equal(d[0].cpu_us, 1500000);
	assert_int_equal(d[0].mem_peak_bytes, 1 << 20);
	assert_int_equal(d[1].jobs, 1);
	assert_int_equal(d[1].vm_ms, 500);
	assert_int_equal(d[1].mem_peak_bytes, 3 << 20);
	assert_int_equal(d[2].jobs, 1);
	assert_int_equal(d[2].vm_ms, 4000);   /* running: up to now */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cron_jobs_belong_to_their_user, setup, teardown),
		cmocka_unit_test_setup_teardown(due_and_earliest_see_enabled_jobs_only, setup, teardown),
		cmocka_unit_test_setup_teardown(firings_are_recorded_and_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_is_summed_by_day, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
