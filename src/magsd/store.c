/*
 * store.c - the SQLite backend of the store (see store.h). Every SQL
 * statement of magsd is in this file.
 *
 * The schema is an ordered list of migrations; PRAGMA user_version holds how
 * many have been applied. A migration is applied with its version bump in
 * one transaction, so a crash leaves either the old or the new schema.
 */
#include "magsd/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "common/banned.h"

struct store {
	sqlite3 *db;
};

static const char *const migrations[] = {
	/* 1: users, tokens, jobs */
	"CREATE TABLE users ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  hash TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  revoked_at INTEGER"
	");"
	"CREATE INDEX tokens_user ON tokens(user_id);"
	"CREATE TABLE jobs ("
	"  id TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  name TEXT,"
	"  workspace_id TEXT,"
	"  status TEXT NOT NULL,"
	"  exit_code INTEGER,"
	"  error_message TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER,"
	"  finished_at INTEGER,"
	"  persistent INTEGER NOT NULL DEFAULT 0,"
	"  ephemeral INTEGER NOT NULL DEFAULT 0,"
	"  type TEXT NOT NULL,"
	"  script TEXT NOT NULL,"
	"  timeout INTEGER NOT NULL,"
	"  environment TEXT"
	");"
	"CREATE INDEX jobs_user_created ON jobs(user_id, created_at);"
	"CREATE INDEX jobs_status ON jobs(status);",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
	return N_MIGRATIONS;
}

static int db_err(struct store *st, struct mags_err *err, const char *what)
{
	return err_set(err, MAGS_E_INTERNAL, EIO, "database: %s: %s", what,
		       sqlite3_errmsg(st->db));
}

static int exec(struct store *st, const char *sql, struct mags_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = err_set(err, MAGS_E_INTERNAL, EIO, "database: %s",
				msg ? msg : "error");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

static sqlite3_stmt *prep(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void bind_time(sqlite3_stmt *s, int i, int64_t v)
{
	if (v > 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

int store_schema_version(struct store *st)
{
	sqlite3_stmt *s = prep(st, "PRAGMA user_version");
	int v = -1;

	if (s && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int migrate(struct store *st, struct mags_err *err)
{
	int v = store_schema_version(st);
	char bump[64];
	int r;

	if (v < 0)
		return db_err(st, err, "read schema version");
	if (v > N_MIGRATIONS)
		return err_set(err, MAGS_E_INTERNAL, EPROTO,
			       "database schema version %d is newer than this magsd (%d)",
			       v, N_MIGRATIONS);
	for (; v < N_MIGRATIONS; v++) {
		if ((r = exec(st, "BEGIN IMMEDIATE", err)) < 0)
			return r;
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if ((r = exec(st, migrations[v], err)) < 0 ||
		    (r = exec(st, bump, err)) < 0 ||
		    (r = exec(st, "COMMIT", err)) < 0) {
			(void)exec(st, "ROLLBACK", NULL);
			err_wrap(err, "schema migration %d", v + 1);
			return r;
		}
	}
	return 0;
}

int store_open(const char *path, struct store **out, struct mags_err *err)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int r;

	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = err_set(err, MAGS_E_INTERNAL, EIO, "open database '%s': %s", path,
			    st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return r;
	}
	(void)chmod(path, 0600); /* token hashes: nobody else reads them */
	sqlite3_busy_timeout(st->db, 5000);
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, 64 * 1024 * 1024);
	if ((r = exec(st, "PRAGMA journal_mode=WAL", err)) < 0 ||
	    (r = exec(st, "PRAGMA synchronous=NORMAL", err)) < 0 ||
	    (r = exec(st, "PRAGMA foreign_keys=ON", err)) < 0 ||
	    (r = migrate(st, err)) < 0) {
		err_wrap(err, "database '%s'", path);
		store_close(st);
		return r;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close_v2(st->db);
	free(st);
}

/* ---- users ---- */

int store_user_add(struct store *st, const char *name, char id_out[32],
		   struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)");
	char hex[13];
	int rc, r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	random_hex(hex, 6);
	snprintf(id_out, 32, "usr_%s", hex);
	bind_text(s, 1, id_out);
	bind_text(s, 2, name);
	sqlite3_bind_int64(s, 3, time_now_ms());
	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT)
		r = err_set(err, MAGS_E_CONFLICT, EEXIST, "user '%s' already exists", name);
	else if (rc != SQLITE_DONE)
		r = db_err(st, err, "add user");
	sqlite3_finalize(s);
	return r;
}

int store_user_find(struct store *st, const char *name, char id_out[32],
		    struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT id FROM users WHERE name = ?");
	int rc, r;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(id_out, 32, "%s", (const char *)sqlite3_column_text(s, 0));
		r = 0;
	} else if (rc == SQLITE_DONE)
		r = err_set(err, MAGS_E_NOT_FOUND, ENOENT, "no user '%s'", name);
	else
		r = db_err(st, err, "find user");
	sqlite3_finalize(s);
	return r;
}

/* ---- tokens ---- */

int store_token_add(struct store *st, const char *token_id, const char *user_id,
		    const char *hash_hex, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO tokens (id, user_id, hash, created_at) "
				   "VALUES (?, ?, ?, ?)");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, token_id);
	bind_text(s, 2, user_id);
	bind_text(s, 3, hash_hex);
	sqlite3_bind_int64(s, 4, time_now_ms());
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "add token");
	sqlite3_finalize(s);
	return r;
}

int store_token_auth(struct store *st, const char *hash_hex,
		     struct store_ident *out)
{
	sqlite3_stmt *s = prep(st, "SELECT t.id, u.id, u.name FROM tokens t "
				   "JOIN users u ON u.id = t.user_id "
				   "WHERE t.hash = ? AND t.revoked_at IS NULL");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, hash_hex);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(out->token_id, sizeof(out->token_id), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		snprintf(out->user_id, sizeof(out->user_id), "%s",
			 (const char *)sqlite3_column_text(s, 1));
		snprintf(out->user_name, sizeof(out->user_name), "%s",
			 (const char *)sqlite3_column_text(s, 2));
		r = 0;
	} else if (rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_token_revoke(struct store *st, const char *id_or_hash,
		       struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) "
				   "WHERE id = ? OR hash = ?");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	sqlite3_bind_int64(s, 1, time_now_ms());
	bind_text(s, 2, id_or_hash);
	bind_text(s, 3, id_or_hash);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "revoke token");
	else if (sqlite3_changes(st->db) == 0)
		r = err_set(err, MAGS_E_NOT_FOUND, ENOENT, "no such token");
	sqlite3_finalize(s);
	return r;
}

int store_token_list(struct store *st, const char *user_id, store_token_fn fn,
		     void *arg, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT id, created_at, revoked_at FROM tokens "
				   "WHERE user_id = ? ORDER BY created_at, id");
	int rc, n = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_token t = {
			.id = (const char *)sqlite3_column_text(s, 0),
			.created_at = sqlite3_column_int64(s, 1),
			.revoked_at = sqlite3_column_int64(s, 2),
		};
		fn(&t, arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, err, "list tokens");
	return n;
}

/* ---- jobs ---- */

#define JOB_COLUMNS "id, user_id, name, workspace_id, status, exit_code, " \
	"error_message, created_at, started_at, finished_at, persistent, " \
	"ephemeral, type, script, timeout, environment"

static char *col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	if (!t)
		return NULL;
	return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

static void col_copy(sqlite3_stmt *s, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static void job_from_row(sqlite3_stmt *s, struct job *j)
{
	memset(j, 0, sizeof(*j));
	col_copy(s, 0, j->id, sizeof(j->id));
	col_copy(s, 1, j->user_id, sizeof(j->user_id));
	j->name = col_strdup(s, 2);
	j->workspace_id = col_strdup(s, 3);
	col_copy(s, 4, j->status, sizeof(j->status));
	j->has_exit_code = sqlite3_column_type(s, 5) != SQLITE_NULL;
	j->exit_code = sqlite3_column_int(s, 5);
	j->error_message = col_strdup(s, 6);
	j->created_at = sqlite3_column_int64(s, 7);
	j->started_at = sqlite3_column_int64(s, 8);
	j->finished_at = sqlite3_column_int64(s, 9);
	j->persistent = sqlite3_column_int(s, 10);
	j->ephemeral = sqlite3_column_int(s, 11);
	col_copy(s, 12, j->type, sizeof(j->type));
	j->script = col_strdup(s, 13);
	j->timeout = sqlite3_column_int(s, 14);
	j->environment = col_strdup(s, 15);
}

int store_job_insert(struct store *st, const struct job *j, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO jobs (" JOB_COLUMNS ") VALUES "
				   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, j->id);
	bind_text(s, 2, j->user_id);
	bind_text(s, 3, j->name);
	bind_text(s, 4, j->workspace_id);
	bind_text(s, 5, j->status);
	if (j->has_exit_code)
		sqlite3_bind_int(s, 6, j->exit_code);
	else
		sqlite3_bind_null(s, 6);
	bind_text(s, 7, j->error_message);
	sqlite3_bind_int64(s, 8, j->created_at);
	bind_time(s, 9, j->started_at);
	bind_time(s, 10, j->finished_at);
	sqlite3_bind_int(s, 11, j->persistent);
	sqlite3_bind_int(s, 12, j->ephemeral);
	bind_text(s, 13, j->type);
	sqlite3_bind_text(s, 14, j->script ? j->script : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 15, j->timeout);
	bind_text(s, 16, j->environment);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "insert job");
	sqlite3_finalize(s);
	return r;
}

int store_job_get(struct store *st, const char *id, const char *user_id,
		  struct job *out)
{
	sqlite3_stmt *s = prep(st, "SELECT " JOB_COLUMNS " FROM jobs "
				   "WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	bind_text(s, 2, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		job_from_row(s, out);
		r = 0;
	} else if (rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_job_list(struct store *st, const char *user_id, int64_t offset,
		   int limit, struct job **jobs, size_t *n, int64_t *total,
		   struct mags_err *err)
{
	sqlite3_stmt *s;
	struct job *arr = NULL;
	size_t cnt = 0;
	int rc;

	*jobs = NULL;
	*n = 0;
	s = prep(st, "SELECT count(*) FROM jobs WHERE user_id = ?");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return db_err(st, err, "count jobs");
	}
	*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);

	s = prep(st, "SELECT " JOB_COLUMNS " FROM jobs WHERE user_id = ? "
		     "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	sqlite3_bind_int(s, 2, limit);
	sqlite3_bind_int64(s, 3, offset);
	arr = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof(*arr));
	while (cnt < (size_t)limit && (rc = sqlite3_step(s)) == SQLITE_ROW)
		job_from_row(s, &arr[cnt++]);
	if (cnt < (size_t)limit && rc != SQLITE_DONE) {
		sqlite3_finalize(s);
		store_job_list_free(arr, cnt);
		return db_err(st, err, "list jobs");
	}
	sqlite3_finalize(s);
	*jobs = arr;
	*n = cnt;
	return 0;
}

void store_job_list_free(struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		job_release(&jobs[i]);
	free(jobs);
}

int store_job_set_running(struct store *st, const char *id, int64_t started_at)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = 'running', started_at = ? "
				   "WHERE id = ? AND status = 'accepted'");
	int r = 0;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, started_at);
	bind_text(s, 2, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_job_finish(struct store *st, const char *id, const char *status,
		     int exit_code, const char *error_message, int64_t finished_at)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = ?, exit_code = ?, "
				   "error_message = ?, finished_at = ? WHERE id = ?");
	int r = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, status);
	if (exit_code >= 0)
		sqlite3_bind_int(s, 2, exit_code);
	else
		sqlite3_bind_null(s, 2);
	bind_text(s, 3, error_message);
	sqlite3_bind_int64(s, 4, finished_at);
	bind_text(s, 5, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

int store_job_recover(struct store *st, const char *msg, int64_t now)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = 'error', error_message = ?, "
				   "finished_at = ? WHERE status IN ('accepted', 'running')");
	int r;

	if (!s)
		return -EIO;
	bind_text(s, 1, msg);
	sqlite3_bind_int64(s, 2, now);
	r = sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(st->db) : -EIO;
	sqlite3_finalize(s);
	return r;
}
