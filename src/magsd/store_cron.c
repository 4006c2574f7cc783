/*
 * store_cron.c - the SQLite backend of the store, continued: cron jobs and
 * usage accounting (see store.h). Split from store.c only to keep files
 * small; it shares store.c's connection and schema (migration 3).
 *
 * A cron job's last_status is not stored: the job it last submitted keeps
 * its own status, so the cron job's view follows it without any callback
 * when that job ends. Only the outcomes that have no job ("skipped", and
 * "error" when the submission itself failed) are stored.
 */
#include "magsd/store.h"
#include "magsd/store_sql.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static int db_err(sqlite3 *db, struct mags_err *err, const char *what)
{
	return err_set(err, MAGS_E_INTERNAL, EIO, "database: %s: %s", what,
		       sqlite3_errmsg(db));
}

/* ---- cron jobs ---- */

#define CRON_SELECT "SELECT c.id, c.user_id, c.name, c.cron_expression, c.script, " \
	"c.workspace_id, c.environment, c.persistent, c.enabled, c.created_at, " \
	"c.next_run_at, c.last_run_at, c.last_job_id, c.last_outcome, c.last_error, " \
	"c.run_count, c.skip_count, j.status FROM cron_jobs c " \
	"LEFT JOIN jobs j ON j.id = c.last_job_id "

void store_cron_release(struct store_cron *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->cron_expression);
	free(c->script);
	free(c->workspace_id);
	free(c->environment);
	free(c->last_error);
	memset(c, 0, sizeof(*c));
}

void store_cron_list_free(struct store_cron *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_cron_release(&c[i]);
	free(c);
}

static void cron_from_row(sqlite3_stmt *s, struct store_cron *c)
{
	char outcome[16];

	memset(c, 0, sizeof(*c));
	col_copy(s, 0, c->id, sizeof(c->id));
	col_copy(s, 1, c->user_id, sizeof(c->user_id));
	c->name = col_strdup(s, 2);
	c->cron_expression = col_strdup(s, 3);
	c->script = col_strdup(s, 4);
	c->workspace_id = col_strdup(s, 5);
	c->environment = col_strdup(s, 6);
	c->persistent = sqlite3_column_int(s, 7);
	c->enabled = sqlite3_column_int(s, 8);
	c->created_at = sqlite3_column_int64(s, 9);
	c->next_run_at = sqlite3_column_int64(s, 10);
	c->last_run_at = sqlite3_column_int64(s, 11);
	col_copy(s, 12, c->last_job_id, sizeof(c->last_job_id));
	col_copy(s, 13, outcome, sizeof(outcome));
	c->last_error = col_strdup(s, 14);
	c->run_count = sqlite3_column_int64(s, 15);
	c->skip_count = sqlite3_column_int64(s, 16);
	col_copy(s, 17, c->last_job_status, sizeof(c->last_job_status));
	if (!strcmp(outcome, "skipped") || !strcmp(outcome, "error"))
		snprintf(c->last_status, sizeof(c->last_status), "%s", outcome);
	else
		snprintf(c->last_status, sizeof(c->last_status), "%s", c->last_job_status);
}

int store_cron_insert(struct store *st, const struct store_cron *c, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO cron_jobs (id, user_id, name, "
				   "cron_expression, script, workspace_id, environment, "
				   "persistent, enabled, created_at, next_run_at) "
				   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!s)
		return db_err(store_sqlite(st), err, "prepare");
	bind_text(s, 1, c->id);
	bind_text(s, 2, c->user_id);
	bind_text(s, 3, c->name);
	bind_text(s, 4, c->cron_expression);
	bind_text(s, 5, c->script);
	bind_text(s, 6, c->workspace_id);
	bind_text(s, 7, c->environment);
	sqlite3_bind_int(s, 8, c->persistent);
	sqlite3_bind_int(s, 9, c->enabled);
	sqlite3_bind_int64(s, 10, c->created_at);
	bind_time(s, 11, c->next_run_at);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(store_sqlite(st), err, "insert cron job");
	sqlite3_finalize(s);
	return r;
}

int store_cron_get(struct store *st, const char *id, const char *user_id,
		   struct store_cron *out)
{
	sqlite3_stmt *s = prep(st, CRON_SELECT "WHERE c.id = ?1 AND (?2 IS NULL OR c.user_id = ?2)");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	bind_text(s, 2, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cron_from_row(s, out);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_finalize(s);
	return r;
}

/* Every row of a prepared, bound statement into a malloc'd array. */
static int collect(struct store *st, sqlite3_stmt *s, struct store_cron **out, size_t *n,
		   struct mags_err *err)
{
	struct store_cron *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			arr = xrealloc(arr, cap * sizeof(*arr));
		}
		cron_from_row(s, &arr[cnt++]);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_cron_list_free(arr, cnt);
		return db_err(store_sqlite(st), err, "list cron jobs");
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int store_cron_list(struct store *st, const char *user_id, struct store_cron **out,
		    size_t *n, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, CRON_SELECT "WHERE c.user_id = ? "
				   "ORDER BY c.created_at, c.rowid");

	*out = NULL;
	*n = 0;
	if (!s)
		return db_err(store_sqlite(st), err, "prepare");
	bind_text(s, 1, user_id);
	return collect(st, s, out, n, err);
}

int store_cron_count(struct store *st, const char *user_id)
{
	sqlite3_stmt *s = prep(st, "SELECT count(*) FROM cron_jobs WHERE user_id = ?");
	int r = -EIO;

	if (!s)
		return -EIO;
	bind_text(s, 1, user_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		r = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return r;
}

int store_cron_update(struct store *st, const struct store_cron *c, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "UPDATE cron_jobs SET name = ?, cron_expression = ?, "
				   "script = ?, workspace_id = ?, environment = ?, "
				   "persistent = ?, enabled = ?, next_run_at = ? WHERE id = ?");
	int r = 0;

	if (!s)
		return db_err(store_sqlite(st), err, "prepare");
	bind_text(s, 1, c->name);
	bind_text(s, 2, c->cron_expression);
	bind_text(s, 3, c->script);
	bind_text(s, 4, c->workspace_id);
	bind_text(s, 5, c->environment);
	sqlite3_bind_int(s, 6, c->persistent);
	sqlite3_bind_int(s, 7, c->enabled);
	bind_time(s, 8, c->next_run_at);
	bind_text(s, 9, c->id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(store_sqlite(st), err, "update cron job");
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		r = err_set(err, MAGS_E_NOT_FOUND, ENOENT, "cron job not found");
	sqlite3_finalize(s);
	return r;
}

int store_cron_delete(struct store *st, const char *id, const char *user_id)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM cron_jobs WHERE id = ? AND user_id = ?");
	int r = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	bind_text(s, 2, user_id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

int store_cron_due(struct store *st, int64_t now, struct store_cron **out, size_t *n)
{
	sqlite3_stmt *s = prep(st, CRON_SELECT "WHERE c.enabled = 1 AND c.next_run_at IS NOT NULL "
				   "AND c.next_run_at <= ? ORDER BY c.next_run_at, c.rowid");

	*out = NULL;
	*n = 0;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	return collect(st, s, out, n, NULL);
}

int store_cron_earliest(struct store *st, int64_t *out)
{
	sqlite3_stmt *s = prep(st, "SELECT min(next_run_at) FROM cron_jobs "
				   "WHERE enabled = 1 AND next_run_at IS NOT NULL");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*out = sqlite3_column_int64(s, 0);
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}

int store_cron_record(struct store *st, const char *id, int64_t run_at,
		      const char *outcome, const char *job_id, const char *error,
		      int64_t next_run_at)
{
	sqlite3_stmt *s = prep(st, "UPDATE cron_jobs SET last_run_at = ?1, last_outcome = ?2, "
				   "last_job_id = COALESCE(?3, last_job_id), last_error = ?4, "
				   "run_count = run_count + (?2 = 'fired'), "
				   "skip_count = skip_count + (?2 = 'skipped'), "
				   "next_run_at = ?5 WHERE id = ?6");
	int r = 0;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, run_at);
	bind_text(s, 2, outcome);
	bind_text(s, 3, job_id);
	bind_text(s, 4, error);
	bind_time(s, 5, next_run_at);
	bind_text(s, 6, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

/* ---- usage ---- */

int store_job_set_usage(struct store *st, const char *job_id, int64_t cpu_us,
			int64_t mem_peak_bytes)
{
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_USAGE, "UPDATE jobs SET cpu_us = ?, "
					    "mem_peak_bytes = ? WHERE id = ?");
	int r = 0;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, cpu_us);
	sqlite3_bind_int64(s, 2, mem_peak_bytes);
	bind_text(s, 3, job_id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		r = -ENOENT;
	store_cached_done(st, SC_JOB_USAGE, s);
	return r;
}

int store_usage(struct store *st, const char *user_id, int64_t from, int64_t now,
		struct store_usage_day *days, int n_days, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st,
		"SELECT (created_at - ?2) / 86400000 AS d, count(*), "
		"  sum(CASE WHEN started_at IS NULL THEN 0 "
		"      ELSE max(0, COALESCE(finished_at, ?3) - started_at) END), "
		"  sum(COALESCE(cpu_us, 0)), max(COALESCE(mem_peak_bytes, 0)) "
		"FROM jobs WHERE user_id = ?1 AND created_at >= ?2 AND created_at < ?3 "
		"GROUP BY d");
	int rc;

	memset(days, 0, (size_t)n_days * sizeof(*days));
	if (!s)
		return db_err(store_sqlite(st), err, "prepare");
	bind_text(s, 1, user_id);
	sqlite3_bind_int64(s, 2, from);
	sqlite3_bind_int64(s, 3, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t d = sqlite3_column_int64(s, 0);
		if (d < 0 || d >= n_days)
			continue;
		days[d].jobs = sqlite3_column_int64(s, 1);
		days[d].vm_ms = sqlite3_column_int64(s, 2);
		days[d].cpu_us = sqlite3_column_int64(s, 3);
		days[d].mem_peak_bytes = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(store_sqlite(st), err, "usage");
	return 0;
}
