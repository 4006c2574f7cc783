/*
 * store_lifecycle.c - the SQLite backend of the store, continued: what
 * long-lived sandboxes (issue 4, lifecycle.c) change on a job besides its
 * start and end: sleeping and waking, the exit code of a persistent job's
 * script while the job stays running, PATCHable settings, name
 * resolution, and the jobs a restarted daemon must re-attach. Split from
 * store.c only to keep files small; it shares store.c's connection.
 */
#include "magsd/store.h"
#include "magsd/store_sql.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

/* Run a prepared UPDATE; 0 if a row changed, -ENOENT if none, -EIO. */
static int update(struct store *st, sqlite3_stmt *s)
{
	int rc;

	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(store_sqlite(st)) > 0 ? 0 : -ENOENT;
}

int store_job_set_sleeping(struct store *st, const char *id)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = 'sleeping' "
				   "WHERE id = ? AND status IN ('accepted', 'running')");

	if (s)
		sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
	return update(st, s);
}

int store_job_set_awake(struct store *st, const char *id)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = 'running' "
				   "WHERE id = ? AND status = 'sleeping'");

	if (s)
		sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
	return update(st, s);
}

int store_job_set_exit_code(struct store *st, const char *id, int exit_code)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET exit_code = ? WHERE id = ?");

	if (s) {
		if (exit_code >= 0)
			sqlite3_bind_int(s, 1, exit_code);
		else
			sqlite3_bind_null(s, 1);
		sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
	}
	return update(st, s);
}

int store_job_set_settings(struct store *st, const char *id, int no_sleep,
			   const char *startup_command, int idle_timeout)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET "
				   "no_sleep = CASE WHEN ?1 < 0 THEN no_sleep ELSE ?1 END, "
				   "startup_command = CASE WHEN ?2 IS NULL THEN startup_command "
				   "WHEN ?2 = '' THEN NULL ELSE ?2 END, "
				   "idle_timeout = CASE WHEN ?4 < 0 THEN idle_timeout "
				   "WHEN ?4 = 0 THEN NULL ELSE ?4 END "
				   "WHERE id = ?3");

	if (s) {
		sqlite3_bind_int(s, 1, no_sleep);
		if (startup_command)
			sqlite3_bind_text(s, 2, startup_command, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(s, 2);
		sqlite3_bind_text(s, 3, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 4, idle_timeout);
	}
	return update(st, s);
}

int store_job_resolve(struct store *st, const char *user_id, const char *arg,
		      char id_out[JOB_ID_MAX])
{
	struct job job;
	sqlite3_stmt *s;
	int rc, r = -ENOENT;

	if (store_job_get(st, arg, user_id, &job) == 0) {
		snprintf(id_out, JOB_ID_MAX, "%s", job.id);
		job_release(&job);
		return 0;
	}
	s = prep(st, "SELECT id FROM jobs WHERE user_id = ?1 AND (name = ?2 OR workspace_id = ?2) "
		     "ORDER BY CASE WHEN status IN ('running', 'sleeping') THEN 0 "
		     "WHEN status = 'accepted' THEN 1 ELSE 2 END, "
		     "CASE WHEN name = ?2 THEN 0 ELSE 1 END, created_at DESC, rowid DESC LIMIT 1");
	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, arg, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(id_out, JOB_ID_MAX, "%s", (const char *)sqlite3_column_text(s, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_finalize(s);
	return r;
}

int store_job_list_live_persistent(struct store *st, store_job_id_fn fn, void *arg)
{
	sqlite3_stmt *s = prep(st, "SELECT id FROM jobs WHERE persistent = 1 AND "
				   "status IN ('accepted', 'running', 'sleeping') "
				   "ORDER BY created_at");
	char **ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = xstrdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	/* the callback may write to the database: not while the SELECT runs */
	for (size_t i = 0; i < n; i++) {
		fn(ids[i], arg);
		free(ids[i]);
	}
	free(ids);
	return rc == SQLITE_DONE ? (int)n : -EIO;
}

int store_job_recover_except(struct store *st, const char *msg, int64_t now,
			     store_job_keep_fn keep, void *arg)
{
	sqlite3_stmt *s = prep(st, "SELECT id FROM jobs WHERE status IN ('accepted', 'running')");
	char **ids = NULL;
	size_t n = 0, cap = 0;
	int count = 0;

	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = xstrdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < n; i++) {
		if (!keep(ids[i], arg) &&
		    store_job_finish(st, ids[i], "error", -1, msg, now) == 0)
			count++;
		free(ids[i]);
	}
	free(ids);
	return count;
}
