/* Unit tests for the SQLite store (src/magsd/store.c) on a real temp file. */
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
#include <sqlite3.h>

#include "common/util.h"
#include "magsd/store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	struct store *st;
	struct mags_err err;

	snprintf(dir, sizeof(dir), "/tmp/mags-test-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mags.db", dir);
	assert_int_equal(store_open(path, &st, &err), 0);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	rm_rf(dir);
	return 0;
}

static struct job make_job(const char *id, const char *user_id, int64_t created)
{
	struct job j;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(j.user_id, sizeof(j.user_id), "%s", user_id);
	snprintf(j.status, sizeof(j.status), "accepted");
	snprintf(j.type, sizeof(j.type), "inline");
	j.script = (char *)"echo hi";
	j.timeout = 300;
	j.created_at = created;
	return j;
}

static void schema_is_migrated_and_survives_reopen(void **state)
{
	struct store *st;
	struct mags_err err;

	assert_int_equal(store_schema_version(*state), store_schema_latest());
	assert_true(store_schema_latest() >= 1);
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_schema_version(st), store_schema_latest());
	store_close(st);
}

static void refuses_a_newer_schema(void **state)
{
	char p2[160];
	struct store *st;
	struct mags_err err;

	snprintf(p2, sizeof(p2), "%s/newer.db", dir);
	assert_int_equal(store_open(p2, &st, &err), 0);
	store_close(st);
	/* pretend a future magsd wrote it */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_not_equal(store_open(p2, &st, &err), 0);
	assert_non_null(strstr(err.msg, "newer"));
}

static void users_are_unique_by_name(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char id[32], id2[32];

	assert_int_equal(store_user_add(st, "alice", id, &err), 0);
	assert_int_equal(strncmp(id, "usr_", 4), 0);
	assert_int_equal(strlen(id), 16);
	assert_int_not_equal(store_user_add(st, "alice", id2, &err), 0);
	assert_int_equal(err.code, MAGS_E_CONFLICT);
	assert_int_equal(store_user_find(st, "alice", id2, &err), 0);
	assert_string_equal(id, id2);
	assert_int_equal(store_user_find(st, "nobody", id2, &err), -ENOENT);
	assert_int_equal(err.code, MAGS_E_NOT_FOUND);
}

static void count_token(const struct store_token *t, void *arg)
{
	(*(int *)arg)++;
	assert_int_equal(strncmp(t->id, "tok_", 4), 0);
}

static void tokens_authenticate_until_revoked(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	struct store_ident who;
	char uid[32];
	int n = 0;

	assert_int_equal(store_user_add(st, "bob", uid, &err), 0);
	assert_int_equal(store_token_add(st, "tok_aaaaaaaaaaaa", uid, "hash1", &err), 0);
	assert_int_equal(store_token_add(st, "tok_bbbbbbbbbbbb", uid, "hash2", &err), 0);
	assert_int_equal(store_token_auth(st, "hash1", &who), 0);
	assert_string_equal(who.user_id, uid);
	assert_string_equal(who.user_name, "bob");
	assert_string_equal(who.token_id, "tok_aaaaaaaaaaaa");
	assert_int_equal(store_token_auth(st, "nohash", &who), -ENOENT);

	assert_int_equal(store_token_revoke(st, "tok_aaaaaaaaaaaa", &err), 0);
	assert_int_equal(store_token_auth(st, "hash1", &who), -ENOENT);
	assert_int_equal(store_token_revoke(st, "hash2", &err), 0);   /* by hash */
	assert_int_equal(store_token_auth(st, "hash2", &who), -ENOENT);
	assert_int_equal(store_token_revoke(st, "tok_cccccccccccc", &err), -ENOENT);

	assert_int_equal(store_token_list(st, uid, count_token, &n, &err), 2);
	assert_int_equal(n, 2);
}

struct last_used {
	const char *id;
	int64_t at;
};

static void find_last_used(const struct store_token_meta *t, void *arg)
{
	struct last_used *lu = arg;

	if (!strcmp(t->id, lu->id))
		lu->at = t->last_used_at;
}

static int64_t last_used(struct store *st, const char *uid, const char *token_id)
{
	struct last_used lu = { token_id, -1 };
	struct mags_err err;

	assert_true(store_token_list_meta(st, uid, 100, find_last_used, &lu, &err) >= 0);
	return lu.at;
}

/* last_used_at is written when the last write is more than a minute old,
 * whatever this process remembers of its own writes: ten tokens (more
 * than it remembers) used in a shuffled order, the clock sometimes going
 * back, against the rule computed here. */
static void a_token_use_is_written_once_a_minute(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char uid[32], id[10][32], hash[32];
	int64_t want[10] = { 0 }, now = 1000000;
	unsigned seed = 7;

	assert_int_equal(store_user_add(st, "toucher", uid, &err), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id[i], sizeof(id[i]), "tok_%012d", i);
		snprintf(hash, sizeof(hash), "touch%d", i);
		assert_int_equal(store_token_add(st, id[i], uid, hash, &err), 0);
	}
	for (int step = 0; step < 2000; step++) {
		int i = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 10;

		now += (int64_t)((seed >> 8) % 9000) - (step % 97 == 0 ? 30000 : 0);
		assert_int_equal(store_token_touch(st, id[i], now), 0);
		if (want[i] == 0 || want[i] < now - STORE_TOKEN_TOUCH_MS)
			want[i] = now;
		if (step % 50 == 0)
			for (int k = 0; k < 10; k++)
				assert_int_equal(last_used(st, uid, id[k]), want[k]);
	}
	/* exactly a minute later: not yet; a millisecond more: written */
	assert_int_equal(store_token_touch(st, id[0], want[0] + STORE_TOKEN_TOUCH_MS), 0);
	assert_int_equal(last_used(st, uid, id[0]), want[0]);
	assert_int_equal(store_token_touch(st, id[0], want[0] + STORE_TOKEN_TOUCH_MS + 1), 0);
	assert_int_equal(last_used(st, uid, id[0]), want[0] + STORE_TOKEN_TOUCH_MS + 1);
}

static void jobs_belong_to_their_owner(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char a[32], b[32];
	struct job j = make_job("job-1", "", 1000), got;

	assert_int_equal(store_user_add(st, "a", a, &err), 0);
	assert_int_equal(store_user_add(st, "b", b, &err), 0);
	snprintf(j.user_id, sizeof(j.user_id), "%s", a);
	j.name = (char *)"first";
	j.environment = (char *)"{\"A\":\"1\"}";
	assert_int_equal(store_job_insert(st, &j, &err), 0);

	assert_int_equal(store_job_get(st, "job-1", a, &got), 0);
	assert_string_equal(got.status, "accepted");
	assert_string_equal(got.name, "first");
	assert_string_equal(got.script, "echo hi");
	assert_null(got.workspace_id);
	assert_false(got.has_exit_code);
	assert_int_equal(got.started_at, 0);
	assert_int_equal(got.timeout, 300);
	job_release(&got);

	assert_int_equal(store_job_get(st, "job-1", b, &got), -ENOENT);
	assert_int_equal(store_job_get(st, "job-1", NULL, &got), 0);
	job_release(&got);
	assert_int_equal(store_job_get(st, "nope", NULL, &got), -ENOENT);
}

static void job_lifecycle_is_recorded(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char u[32];
	struct job j = make_job("job-2", "", 1000), got;

	assert_int_equal(store_user_add(st, "c", u, &err), 0);
	snprintf(j.user_id, sizeof(j.user_id), "%s", u);
	assert_int_equal(store_job_insert(st, &j, &err), 0);
	assert_int_equal(store_job_set_running(st, "job-2", 2000), 0);
	assert_int_equal(store_job_finish(st, "job-2", "completed", 3, NULL, 2500), 0);
	assert_int_equal(store_job_get(st, "job-2", u, &got), 0);
	assert_string_equal(got.status, "completed");
	assert_true(got.has_exit_code);
	assert_int_equal(got.exit_code, 3);
	assert_int_equal(got.started_at, 2000);
	assert_int_equal(got.finished_at, 2500);
	job_release(&got);
	/* set_running never moves a finished job back */
	assert_int_equal(store_job_set_running(st, "job-2", 3000), 0);
	assert_int_equal(store_job_get(st, "job-2", u, &got), 0);
	assert_string_equal(got.status, "completed");
	job_release(&got);
	assert_int_equal(store_job_finish(st, "nope", "error", -1, "x", 1), -ENOENT);
}

/* The job statements are prepared once and reused: a failed insert (a
 * duplicate id) leaves nothing bound or half-run for the next job. */
static void jobs_after_a_failed_insert_are_recorded(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char u[32];
	struct job j = make_job("job-3", "", 1000), k = make_job("job-4", "", 1001), got;

	assert_int_equal(store_user_add(st, "d", u, &err), 0);
	snprintf(j.user_id, sizeof(j.user_id), "%s", u);
	snprintf(k.user_id, sizeof(k.user_id), "%s", u);
	j.name = (char *)"three";
	assert_int_equal(store_job_insert(st, &j, &err), 0);
	assert_true(store_job_insert(st, &j, &err) < 0);
	assert_int_equal(store_job_insert(st, &k, &err), 0);
	assert_int_equal(store_job_set_ip(st, "job-4", "10.0.0.2"), 0);
	assert_int_equal(store_job_set_running(st, "job-4", 2000), 0);
	assert_int_equal(store_job_finish(st, "job-4", "completed", 0, NULL, 2500), 0);
	assert_int_equal(store_job_get(st, "job-4", u, &got), 0);
	assert_null(got.name); /* not job-3's, left bound */
	assert_string_equal(got.status, "completed");
	assert_int_equal(got.started_at, 2000);
	job_release(&got);
	assert_int_equal(store_job_get(st, "job-3", u, &got), 0);
	assert_string_equal(got.status, "accepted");
	assert_string_equal(got.name, "three");
	job_release(&got);
}

static void list_is_newest_first_and_paged(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char u[32], o[32], id[16];
	struct job *jobs;
	size_t n;
	int64_t total;

	assert_int_equal(store_user_add(st, "d", u, &err), 0);
	assert_int_equal(store_user_add(st, "other", o, &err), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "j%d", i);
		struct job j = make_job(id, u, 1000 + i);
		assert_int_equal(store_job_insert(st, &j, &err), 0);
	}
	struct job x = make_job("x", o, 5000);
	assert_int_equal(store_job_insert(st, &x, &err), 0);

	assert_int_equal(store_job_list(st, u, 0, 2, &jobs, &n, &total, &err), 0);
	assert_int_equal(total, 5);
	assert_int_equal(n, 2);
	assert_string_equal(jobs[0].id, "j4");
	assert_string_equal(jobs[1].id, "j3");
	store_job_list_free(jobs, n);
	assert_int_equal(store_job_list(st, u, 4, 2, &jobs, &n, &total, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(jobs[0].id, "j0");
	store_job_list_free(jobs, n);
	assert_int_equal(store_job_list(st, u, 10, 2, &jobs, &n, &total, &err), 0);
	assert_int_equal(n, 0);
	store_job_list_free(jobs, n);
}

static void recovery_marks_unfinished_jobs(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	char u[32];
	struct job got;

	assert_int_equal(store_user_add(st, "e", u, &err), 0);
	struct job a = make_job("acc", u, 1), r = make_job("run", u, 2), d = make_job("done", u, 3);
	snprintf(d.status, sizeof(d.status), "completed");
	assert_int_equal(store_job_insert(st, &a, &err), 0);
	assert_int_equal(store_job_insert(st, &r, &err), 0);
	assert_int_equal(store_job_insert(st, &d, &err), 0);
	assert_int_equal(store_job_set_running(st, "run", 5), 0);
	assert_int_equal(store_job_recover(st, "daemon restarted", 99), 2);
	assert_int_equal(store_job_get(st, "run", u, &got), 0);
	assert_string_equal(got.status, "error");
	assert_string_equal(got.error_message, "daemon restarted");
	assert_int_equal(got.finished_at, 99);
	job_release(&got);
	assert_int_equal(store_job_get(st, "done", u, &got), 0);
	assert_string_equal(got.status, "completed");
	job_release(&got);
	assert_int_equal(store_job_recover(st, "daemon restarted", 100), 0);
}

static void workspaces_are_per_user(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	struct store_workspace w, got;
	char alice[32], bob[32];

	assert_int_equal(store_user_add(st, "wa", alice, &err), 0);
	assert_int_equal(store_user_add(st, "wb", bob, &err), 0);
	memset(&w, 0, sizeof(w));
	snprintf(w.user_id, sizeof(w.user_id), "%s", alice);
	snprintf(w.name, sizeof(w.name), "golden");
	w.persistent = 1;
	w.disk_gb = 2;
	w.created_at = 1000;
	snprintf(w.head, sizeof(w.head), "%064d", 7);
	assert_int_equal(store_ws_put(st, &w, &err), 0);
	snprintf(w.user_id, sizeof(w.user_id), "%s", bob);
	w.persistent = 0;
	w.head[0] = '\0';
	snprintf(w.base_snapshot, sizeof(w.base_snapshot), "%064d,%064d", 1, 2);
	assert_int_equal(store_ws_put(st, &w, &err), 0);

	assert_int_equal(store_ws_get(st, alice, "golden", &got), 0);
	assert_int_equal(got.persistent, 1);
	assert_int_equal(strlen(got.head), 64);
	assert_string_equal(got.base_snapshot, "");
	assert_int_equal(store_ws_get(st, bob, "golden", &got), 0);
	assert_int_equal(got.persistent, 0);
	assert_int_equal(strlen(got.base_snapshot), 129);
	assert_int_equal(store_ws_get(st, alice, "nope", &got), -ENOENT);

	/* put replaces; job_count counts the user's jobs on it */
	struct job j = make_job("job-ws-1", alice, 5);
	j.workspace_id = (char *)"golden";
	assert_int_equal(store_job_insert(st, &j, &err), 0);
	got.size_bytes = 42;
	assert_int_equal(store_ws_put(st, &got, &err), 0);
	assert_int_equal(store_ws_get(st, bob, "golden", &got), 0);
	assert_int_equal(got.size_bytes, 42);
	assert_int_equal(store_ws_delete(st, bob, "golden"), 0);
	assert_int_equal(store_ws_delete(st, bob, "golden"), -ENOENT);
	assert_int_equal(store_ws_get(st, alice, "golden", &got), 0);
}

static void count_ws(const struct store_workspace *ws, void *arg)
{
	int64_t *jobs = arg;
	*jobs += ws->job_count;
}

static void workspace_list_counts_jobs(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	struct store_workspace w;
	char u[32];
	int64_t jobs = 0;

	assert_int_equal(store_user_add(st, "wc", u, &err), 0);
	memset(&w, 0, sizeof(w));
	snprintf(w.user_id, sizeof(w.user_id), "%s", u);
	snprintf(w.name, sizeof(w.name), "w");
	w.disk_gb = 2;
	assert_int_equal(store_ws_put(st, &w, &err), 0);
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof(id), "job-c-%d", i);
		struct job j = make_job(id, u, i + 1);
		j.workspace_id = (char *)"w";
		assert_int_equal(store_job_insert(st, &j, &err), 0);
	}
	assert_int_equal(store_ws_list(st, u, count_ws, &jobs, &err), 1);
	assert_int_equal(jobs, 3);
}

static void no_file(const struct store_file *f, void *arg)
{
	(void)f;
	(void)arg;
}

static void files_belong_to_their_user_and_expire(void **state)
{
	struct store *st = *state;
	struct mags_err err;
	struct store_file f, got;
	char u[32], v[32];

	assert_int_equal(store_user_add(st, "fa", u, &err), 0);
	assert_int_equal(store_user_add(st, "fb", v, &err), 0);
	memset(&f, 0, sizeof(f));
	snprintf(f.id, sizeof(f.id), "file_1");
	snprintf(f.user_id, sizeof(f.user_id), "%s", u);
	snprintf(f.name, sizeof(f.name), "data.csv");
	f.size = 8;
	f.created_at = f.last_used_at = 100;
	assert_int_equal(store_file_add(st, &f, &err), 0);
	assert_int_equal(store_file_get(st, "file_1", u, &got), 0);
	assert_string_equal(got.name, "data.csv");
	assert_int_equal(store_file_get(st, "file_1", v, &got), -ENOENT);
	assert_int_equal(store_file_touch(st, "file_1", 500), 0);
	assert_int_equal(store_file_expire(st, 400, no_file, NULL), 0);
	assert_int_equal(store_file_get(st, "file_1", NULL, &got), 0);
	assert_int_equal(store_file_expire(st, 600, no_file, NULL), 1);
	assert_int_equal(store_file_get(st, "file_1", NULL, &got), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(schema_is_migrated_and_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_a_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(users_are_unique_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(tokens_authenticate_until_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(a_token_use_is_written_once_a_minute, setup, teardown),
		cmocka_unit_test_setup_teardown(jobs_belong_to_their_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(job_lifecycle_is_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(jobs_after_a_failed_insert_are_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(list_is_newest_first_and_paged, setup, teardown),
		cmocka_unit_test_setup_teardown(recovery_marks_unfinished_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(workspaces_are_per_user, setup, teardown),
		cmocka_unit_test_setup_teardown(workspace_list_counts_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(files_belong_to_their_user_and_expire, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
