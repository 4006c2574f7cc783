/* Unit tests for long-lived sandboxes: the idle rule (lifecycle.c), state
 * files (reattach.c), job logs magsd writes (joblog.c) and the store's
 * sleep/wake, settings and name resolution (store_lifecycle.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/joblog.h"
#include "magsd/lifecycle.h"
#include "magsd/reattach.h"
#include "magsd/store.h"

static void idle_needs_quiet_time_no_exec_and_no_cpu(void **state)
{
	(void)state;
	/* quiet long enough, no CPU: idle */
	assert_true(lifecycle_idle(2000, 2000, 0, 1000, 0));
	/* not quiet long enough */
	assert_false(lifecycle_idle(1999, 2000, 0, 1000, 0));
	/* an exec runs */
	assert_false(lifecycle_idle(5000, 2000, 0, 1000, 1));
	/* a busy loop: a whole CPU over the window */
	assert_false(lifecycle_idle(5000, 2000, 1000000, 1000, 0));
	/* a sleeping process's wake-ups: far under the threshold */
	assert_true(lifecycle_idle(5000, 2000, 2000, 1000, 0));
	/* at the threshold it still counts as busy-free; above it not */
	assert_true(lifecycle_idle(5000, 2000, 50000, 1000, 0));
	assert_false(lifecycle_idle(5000, 2000, 50001, 1000, 0));
	/* CPU wanted: used plus the rise of the run-queue wait */
	assert_int_equal(lifecycle_cpu_wanted_us(10000, 5000, 905000), 910000);
	assert_int_equal(lifecycle_cpu_wanted_us(10000, -1, 905000), 10000);   /* unknown */
	assert_int_equal(lifecycle_cpu_wanted_us(10000, 905000, 5000), 10000); /* tasks left */
	/* a starved busy loop: 1% used, 94% waiting: not idle */
	assert_false(lifecycle_idle(5000, 2000, lifecycle_cpu_wanted_us(10000, 0, 940000), 1000, 0));
	assert_true(lifecycle_idle(5000, 2000, lifecycle_cpu_wanted_us(10000, 0, 1000), 1000, 0));
	assert_int_equal(lifecycle_schedstat_wait_us("1234000 5678000 12\n"), 5678);
	assert_int_equal(lifecycle_schedstat_wait_us("0 4013658 1"), 4013);
	assert_int_equal(lifecycle_schedstat_wait_us("garbage"), -1);
	assert_int_equal(lifecycle_schedstat_wait_us("12"), -1);
	/* the job's own idle_timeout wins over the server's */
	assert_int_equal(lifecycle_idle_timeout(0, 600), 600);
	assert_int_equal(lifecycle_idle_timeout(5, 600), 5);
	assert_int_equal(lifecycle_idle_timeout(5, 0), 5);
	assert_int_equal(lifecycle_idle_timeout(0, 0), 0);
}

static void state_file_says_alive_or_ended(void **state)
{
	struct reattach_state rs;

	(void)state;
	assert_int_equal(reattach_state_parse("supervisor 42\nstarted 43\n", &rs), 0);
	assert_int_equal(rs.pid, 42);
	assert_true(rs.started);
	assert_false(rs.ended);
	assert_int_equal(rs.script_exit, -1);

	assert_int_equal(reattach_state_parse("supervisor 42\nstarted 43\nscript-exit 3\n", &rs), 0);
	assert_int_equal(rs.script_exit, 3);
	assert_false(rs.ended);

	assert_int_equal(reattach_state_parse("supervisor 42\nstarted 43\nstopped\n", &rs), 0);
	assert_true(rs.ended);
	assert_int_equal(reattach_state_parse("supervisor 7\nerror cgroup: nope\n", &rs), 0);
	assert_true(rs.ended);
	assert_false(rs.started);
	assert_int_equal(reattach_state_parse("supervisor 7\nstarted 8\nexit 0\n", &rs), 0);
	assert_true(rs.ended);

	/* no supervisor line, or only half a line: not usable */
	assert_int_equal(reattach_state_parse("started 43\n", &rs), -EINVAL);
	assert_int_equal(reattach_state_parse("supervisor 42", &rs), -EINVAL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The messages of a log's records, "src:msg|..." */
static void records(const char *text, char *out, size_t len)
{
	out[0] = '\0';
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		const char *sp1 = strchr(p, ' ');
		assert_non_null(nl);
		assert_true(sp1 && sp1 < nl);
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%c:%.*s|", sp1[1], (int)(nl - sp1 - 3), sp1 + 3);
		p = nl + 1;
	}
}

static void joblog_turns_chunks_into_line_records(void **state)
{
	char dir[64], path[160], got[4096];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mags-test-joblog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct joblog *jl = joblog_open(dir, "job-1", 0);
	assert_non_null(jl);
	joblog_write(jl, 'o', "hel", 3);
	joblog_write(jl, 'e', "oops\n", 5);
	joblog_write(jl, 'o', "lo\nwor", 6);
	joblog_write(jl, 'o', "ld\n\nend", 7);
	joblog_system(jl, "done");
	joblog_close(jl);
	snprintf(path, sizeof(path), "%s/jobs/job-1/log", dir);
	char *text = slurp(path);
	records(text, got, sizeof(got));
	assert_string_equal(got, "e:oops|o:hello|o:world|o:|s:done|o:end|");
	free(text);

	/* a limit: records stop, one truncation record says so */
	jl = joblog_open(dir, "job-2", 120);
	for (int i = 0; i < 20; i++)
		joblog_write(jl, 'o', "0123456789\n", 11);
	joblog_close(jl);
	snprintf(path, sizeof(path), "%s/jobs/job-2/log", dir);
	text = slurp(path);
	assert_non_null(strstr(text, "[log truncated: limit of 120 bytes reached]"));
	assert_true(strlen(text) < 220);
	free(text);
	rm_rf(dir);
}

static char dbdir[64];

static int store_setup(void **state)
{
	struct store *st;
	struct mags_err err;
	char path[128];

	snprintf(dbdir, sizeof(dbdir), "/tmp/mags-test-lc-XXXXXX");
	assert_non_null(mkdtemp(dbdir));
	snprintf(path, sizeof(path), "%s/mags.db", dbdir);
	assert_int_equal(store_open(path, &st, &err), 0);
	*state = st;
	return 0;
}

static int store_teardown(void **state)
{
	store_close(*state);
	rm_rf(dbdir);
	return 0;
}

static void add_job(struct store *st, const char *id, const char *user, const char *name,
		    const char *ws, const char *status, int64_t created, int persistent)
{
	struct job j;
	struct mags_err err;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(j.user_id, sizeof(j.user_id), "%s", user);
	snprintf(j.status, sizeof(j.status), "accepted");
	snprintf(j.type, sizeof(j.type), "inline");
	j.script = (char *)"sleep infinity";
	j.name = (char *)name;
	j.workspace_id = (char *)ws;
	j.timeout = 300;
	j.created_at = created;
	j.persistent = persistent;
	assert_int_equal(store_job_insert(st, &j, &err), 0);
	if (!strcmp(status, "running") || !strcmp(status, "sleeping"))
		assert_int_equal(store_job_set_running(st, id, created), 0);
	if (!strcmp(status, "sleeping"))
		assert_int_equal(store_job_set_sleeping(st, id), 0);
	if (!strcmp(status, "completed") || !strcmp(status, "stopped"))
		assert_int_equal(store_job_finish(st, id, status, 0, NULL, created + 1), 0);
}

static void names_resolve_to_the_live_job_of_the_caller(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char a[32], b[32], id[JOB_ID_MAX];

	assert_int_equal(store_user_add(st, "a", a, &err), 0);
	assert_int_equal(store_user_add(st, "b", b, &err), 0);
	add_job(st, "old-live", a, "dev", "dev", "running", 1000, 1);
	add_job(st, "newer-done", a, "dev", "dev", "completed", 2000, 1);
	add_job(st, "bobs", b, "dev", "dev", "running", 3000, 1);
	add_job(st, "ws-only", a, NULL, "proj", "stopped", 4000, 1);

	assert_int_equal(store_job_resolve(st, a, "dev", id), 0);
	assert_string_equal(id, "old-live");          /* live first */
	assert_int_equal(store_job_resolve(st, b, "dev", id), 0);
	assert_string_equal(id, "bobs");              /* own jobs only */
	assert_int_equal(store_job_resolve(st, a, "proj", id), 0);
	assert_string_equal(id, "ws-only");           /* a workspace name */
	assert_int_equal(store_job_resolve(st, a, "newer-done", id), 0);
	assert_string_equal(id, "newer-done");        /* a request id */
	assert_int_equal(store_job_resolve(st, a, "bobs", id), -ENOENT);
	assert_int_equal(store_job_resolve(st, a, "nothing", id), -ENOENT);
}

static void sleep_wake_settings_and_recovery(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char a[32];
	struct job j;

	assert_int_equal(store_user_add(st, "a", a, &err), 0);
	add_job(st, "p1", a, "box", "box", "running", 1000, 1);
	add_job(st, "e1", a, NULL, NULL, "running", 1000, 0);
	add_job(st, "s1", a, "zz", "zz", "sleeping", 1000, 1);

	/* a persistent job's script exit code while it runs */
	assert_int_equal(store_job_set_exit_code(st, "p1", 4), 0);
	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_string_equal(j.status, "running");
	assert_true(j.has_exit_code);
	assert_int_equal(j.exit_code, 4);
	job_release(&j);

	assert_int_equal(store_job_set_sleeping(st, "p1"), 0);
	assert_int_equal(store_job_set_sleeping(st, "p1"), -ENOENT);
	assert_int_equal(store_job_set_awake(st, "p1"), 0);
	assert_int_equal(store_job_set_awake(st, "p1"), -ENOENT);

	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_int_equal(j.idle_timeout, 0);                             /* server default */
	job_release(&j);
	assert_int_equal(store_job_set_settings(st, "p1", 1, "python3 -m http.server", 90), 0);
	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_true(j.no_sleep);
	assert_string_equal(j.startup_command, "python3 -m http.server");
	assert_int_equal(j.idle_timeout, 90);
	job_release(&j);
	assert_int_equal(store_job_set_settings(st, "p1", -1, NULL, -1), 0);   /* keeps all */
	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_true(j.no_sleep);
	assert_non_null(j.startup_command);
	assert_int_equal(j.idle_timeout, 90);
	job_release(&j);
	assert_int_equal(store_job_set_settings(st, "p1", 0, "", 0), 0);      /* clears */
	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_false(j.no_sleep);
	assert_null(j.startup_command);
	assert_int_equal(j.idle_timeout, 0);
	job_release(&j);
}

static void count_id(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
}

static int keep_p1(const char *id, void *arg)
{
	(void)arg;
	return !strcmp(id, "p1");
}

static void restart_keeps_reattached_jobs(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char a[32];
	struct job j;
	int n = 0;

	assert_int_equal(store_user_add(st, "a", a, &err), 0);
	add_job(st, "p1", a, "box", "box", "running", 1000, 1);
	add_job(st, "e1", a, NULL, NULL, "running", 1000, 0);
	add_job(st, "s1", a, "zz", "zz", "sleeping", 1000, 1);
	add_job(st, "d1", a, "yy", "yy", "completed", 1000, 1);
	assert_int_equal(store_job_list_live_persistent(st, count_id, &n), 2);
	assert_int_equal(n, 2);
	assert_int_equal(store_job_recover_except(st, "daemon restarted", 5000, keep_p1, NULL), 1);
	assert_int_equal(store_job_get(st, "p1", NULL, &j), 0);
	assert_string_equal(j.status, "running");
	job_release(&j);
	assert_int_equal(store_job_get(st, "e1", NULL, &j), 0);
	assert_string_equal(j.status, "error");
	assert_string_equal(j.error_message, "daemon restarted");
	job_release(&j);
	assert_int_equal(store_job_get(st, "s1", NULL, &j), 0);
	assert_string_equal(j.status, "sleeping");
	job_release(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(idle_needs_quiet_time_no_exec_and_no_cpu),
		cmocka_unit_test(state_file_says_alive_or_ended),
		cmocka_unit_test(joblog_turns_chunks_into_line_records),
		cmocka_unit_test_setup_teardown(names_resolve_to_the_live_job_of_the_caller,
						store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(sleep_wake_settings_and_recovery,
						store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(restart_keeps_reattached_jobs,
						store_setup, store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
