/*
 * store.c - the SQLite backend of the store (see store.h). Every SQL
 * statement of magsd is in this file.
 *
 * The schema is an ordered list of migrations; PRAGMA user_version holds how
 * many have been applied. A migration is applied with its version bump in
 * one transaction, so a crash leaves either the old or the new schema.
 */
#include "magsd/store.h"
#include "magsd/store_sql.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "common/banned.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *cached[SC_MAX];
	/* tokens whose last_used_at this process wrote, and the value
	 * (store_token_touch) */
	struct {
		char id[32];
		int64_t at;
	} touched[8];
};

sqlite3_stmt *store_cached_prep(struct store *st, enum store_cached slot, const char *sql)
{
	sqlite3_stmt *s = st->cached[slot];

	if (s) {
		st->cached[slot] = NULL;
		return s;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

void store_cached_done(struct store *st, enum store_cached slot, sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (st->cached[slot])
		sqlite3_finalize(s);
	else
		st->cached[slot] = s;
}

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
	/* 2: workspaces, uploaded files, the workspace fields of jobs */
	"CREATE TABLE workspaces ("
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  name TEXT NOT NULL,"
	"  persistent INTEGER NOT NULL DEFAULT 0,"
	"  disk_gb INTEGER NOT NULL,"
	"  base_name TEXT,"
	"  base_snapshot TEXT,"
	"  head TEXT,"
	"  last_synced_at INTEGER,"
	"  size_bytes INTEGER NOT NULL DEFAULT 0,"
	"  last_used_at INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, name)"
	");"
	"CREATE TABLE files ("
	"  id TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  last_used_at INTEGER NOT NULL"
	");"
	"CREATE INDEX files_user ON files(user_id);"
	"ALTER TABLE jobs ADD COLUMN base_workspace_id TEXT;"
	"ALTER TABLE jobs ADD COLUMN startup_command TEXT;"
	"ALTER TABLE jobs ADD COLUMN file_ids TEXT;"
	"ALTER TABLE jobs ADD COLUMN no_sync INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN no_sleep INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN disk_gb INTEGER;"
	"CREATE INDEX jobs_workspace ON jobs(user_id, workspace_id);",
	/* 3: cron jobs (store_cron.c), per-job resource usage from the cgroup */
	"CREATE TABLE cron_jobs ("
	"  id TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  name TEXT NOT NULL,"
	"  cron_expression TEXT NOT NULL,"
	"  script TEXT NOT NULL,"
	"  workspace_id TEXT,"
	"  persistent INTEGER NOT NULL DEFAULT 0,"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  environment TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  next_run_at INTEGER,"
	"  last_run_at INTEGER,"
	"  last_job_id TEXT,"
	"  last_outcome TEXT,"
	"  last_error TEXT,"
	"  run_count INTEGER NOT NULL DEFAULT 0,"
	"  skip_count INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX cron_jobs_user ON cron_jobs(user_id, created_at);"
	"CREATE INDEX cron_jobs_next ON cron_jobs(enabled, next_run_at);"
	"ALTER TABLE jobs ADD COLUMN cpu_us INTEGER;"
	"ALTER TABLE jobs ADD COLUMN mem_peak_bytes INTEGER;",
	/* 4: dashboard: token names and last use, browser sessions (only the
	 * sha256 of a session secret is kept) */
	"ALTER TABLE tokens ADD COLUMN name TEXT;"
	"ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;"
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  token_id TEXT NOT NULL REFERENCES tokens(id),"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL"
	");"
	"CREATE INDEX sessions_token ON sessions(token_id);"
	"CREATE INDEX sessions_expires ON sessions(expires_at);",
	/* 5: public URLs of jobs' ports, SSH access keys (public halves only),
	 * URL aliases (issue 5: proxy.c, sshgw.c, api_access.c, api_aliases.c) */
	"CREATE TABLE access_urls ("
	"  sub TEXT PRIMARY KEY,"
	"  job_id TEXT NOT NULL REFERENCES jobs(id),"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  port INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (job_id, port)"
	");"
	"CREATE TABLE access_keys ("
	"  pubkey TEXT PRIMARY KEY,"
	"  job_id TEXT NOT NULL REFERENCES jobs(id),"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX access_keys_job ON access_keys(job_id, created_at);"
	"CREATE TABLE url_aliases ("
	"  subdomain TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id),"
	"  workspace_id TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX url_aliases_user ON url_aliases(user_id, created_at);",
	/* 6: a job's network policy (NULL = the default, nat) and its
	 * sandbox's address as the runtime reported it (issue 5: network.c) */
	"ALTER TABLE jobs ADD COLUMN network TEXT;"
	"ALTER TABLE jobs ADD COLUMN ip TEXT;",
	/* 7: a persistent job's own idle time before it sleeps, in seconds
	 * (NULL = the server's idle_timeout; issue 4) */
	"ALTER TABLE jobs ADD COLUMN idle_timeout INTEGER;",
	/* 8: indexes of the job list's filters (issue 10): the count and
	 * the rows of a status filter, the jobs of one name */
	"CREATE INDEX jobs_user_status ON jobs(user_id, status, created_at);"
	"CREATE INDEX jobs_user_name ON jobs(user_id, name, created_at);",
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
	for (int i = 0; i < SC_MAX; i++)
		sqlite3_finalize(st->cached[i]);
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
	sqlite3_stmt *s = store_cached_prep(st, SC_TOKEN_AUTH,
					    "SELECT t.id, u.id, u.name FROM tokens t "
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
	store_cached_done(st, SC_TOKEN_AUTH, s);
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
	"ephemeral, type, script, timeout, environment, base_workspace_id, " \
	"startup_command, file_ids, no_sync, no_sleep, disk_gb, network, idle_timeout"

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
	j->base_workspace_id = col_strdup(s, 16);
	j->startup_command = col_strdup(s, 17);
	j->file_ids = col_strdup(s, 18);
	j->no_sync = sqlite3_column_int(s, 19);
	j->no_sleep = sqlite3_column_int(s, 20);
	j->disk_gb = sqlite3_column_int(s, 21);
	j->network = col_strdup(s, 22);
	j->idle_timeout = sqlite3_column_int(s, 23);
}

int store_job_insert(struct store *st, const struct job *j, struct mags_err *err)
{
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_INSERT,
					    "INSERT INTO jobs (" JOB_COLUMNS ") VALUES "
					    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
					    "?, ?, ?, ?, ?, ?, ?, ?)");
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
	bind_text(s, 17, j->base_workspace_id);
	bind_text(s, 18, j->startup_command);
	bind_text(s, 19, j->file_ids);
	sqlite3_bind_int(s, 20, j->no_sync);
	sqlite3_bind_int(s, 21, j->no_sleep);
	if (j->disk_gb > 0)
		sqlite3_bind_int(s, 22, j->disk_gb);
	else
		sqlite3_bind_null(s, 22);
	bind_text(s, 23, j->network);
	if (j->idle_timeout > 0)
		sqlite3_bind_int(s, 24, j->idle_timeout);
	else
		sqlite3_bind_null(s, 24);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "insert job");
	store_cached_done(st, SC_JOB_INSERT, s);
	return r;
}

int store_job_get(struct store *st, const char *id, const char *user_id,
		  struct job *out)
{
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_GET,
					    "SELECT " JOB_COLUMNS " FROM jobs "
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
	store_cached_done(st, SC_JOB_GET, s);
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
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_RUNNING,
					    "UPDATE jobs SET status = 'running', started_at = ? "
					    "WHERE id = ? AND status = 'accepted'");
	int r = 0;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, started_at);
	bind_text(s, 2, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	store_cached_done(st, SC_JOB_RUNNING, s);
	return r;
}

int store_job_set_ip(struct store *st, const char *id, const char *ip)
{
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_IP,
					    "UPDATE jobs SET ip = ? WHERE id = ?");
	int r = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, ip);
	bind_text(s, 2, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	store_cached_done(st, SC_JOB_IP, s);
	return r;
}

int store_job_finish(struct store *st, const char *id, const char *status,
		     int exit_code, const char *error_message, int64_t finished_at)
{
	sqlite3_stmt *s = store_cached_prep(st, SC_JOB_FINISH,
					    "UPDATE jobs SET status = ?, exit_code = ?, "
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
	store_cached_done(st, SC_JOB_FINISH, s);
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

/* ---- workspaces ---- */

#define WS_COLUMNS "user_id, name, persistent, disk_gb, base_name, base_snapshot, " \
	"head, last_synced_at, size_bytes, last_used_at, created_at"

static void ws_from_row(sqlite3_stmt *s, struct store_workspace *w)
{
	memset(w, 0, sizeof(*w));
	col_copy(s, 0, w->user_id, sizeof(w->user_id));
	col_copy(s, 1, w->name, sizeof(w->name));
	w->persistent = sqlite3_column_int(s, 2);
	w->disk_gb = sqlite3_column_int(s, 3);
	col_copy(s, 4, w->base_name, sizeof(w->base_name));
	col_copy(s, 5, w->base_snapshot, sizeof(w->base_snapshot));
	col_copy(s, 6, w->head, sizeof(w->head));
	w->last_synced_at = sqlite3_column_int64(s, 7);
	w->size_bytes = sqlite3_column_int64(s, 8);
	w->last_used_at = sqlite3_column_int64(s, 9);
	w->created_at = sqlite3_column_int64(s, 10);
	w->job_count = sqlite3_column_int64(s, 11);
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	bind_text(s, i, *v ? v : NULL);
}

int store_ws_get(struct store *st, const char *user_id, const char *name,
		 struct store_workspace *out)
{
	sqlite3_stmt *s = prep(st, "SELECT " WS_COLUMNS ", 0 FROM workspaces "
				   "WHERE user_id = ? AND name = ?");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, user_id);
	bind_text(s, 2, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ws_from_row(s, out);
		r = 0;
	} else if (rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_ws_put(struct store *st, const struct store_workspace *w, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT OR REPLACE INTO workspaces (" WS_COLUMNS ") "
				   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, w->user_id);
	bind_text(s, 2, w->name);
	sqlite3_bind_int(s, 3, w->persistent);
	sqlite3_bind_int(s, 4, w->disk_gb);
	bind_opt(s, 5, w->base_name);
	bind_opt(s, 6, w->base_snapshot);
	bind_opt(s, 7, w->head);
	bind_time(s, 8, w->last_synced_at);
	sqlite3_bind_int64(s, 9, w->size_bytes);
	bind_time(s, 10, w->last_used_at);
	sqlite3_bind_int64(s, 11, w->created_at);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "save workspace");
	sqlite3_finalize(s);
	return r;
}

int store_ws_delete(struct store *st, const char *user_id, const char *name)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM workspaces WHERE user_id = ? AND name = ?");
	int r = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, user_id);
	bind_text(s, 2, name);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

int store_ws_list(struct store *st, const char *user_id, store_ws_fn fn, void *arg,
		  struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT " WS_COLUMNS ", (SELECT count(*) FROM jobs j "
				   "WHERE j.user_id = w.user_id AND j.workspace_id = w.name) "
				   "FROM workspaces w WHERE ?1 IS NULL OR user_id = ?1 "
				   "ORDER BY created_at, name");
	struct store_workspace w;
	int rc, n = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ws_from_row(s, &w);
		fn(&w, arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, err, "list workspaces");
	return n;
}

/* ---- uploaded files ---- */

int store_file_add(struct store *st, const struct store_file *f, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO files (id, user_id, name, size, created_at, "
				   "last_used_at) VALUES (?, ?, ?, ?, ?, ?)");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, f->id);
	bind_text(s, 2, f->user_id);
	bind_text(s, 3, f->name);
	sqlite3_bind_int64(s, 4, f->size);
	sqlite3_bind_int64(s, 5, f->created_at);
	sqlite3_bind_int64(s, 6, f->last_used_at);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "add file");
	sqlite3_finalize(s);
	return r;
}

int store_file_get(struct store *st, const char *id, const char *user_id,
		   struct store_file *out)
{
	sqlite3_stmt *s = prep(st, "SELECT id, user_id, name, size, created_at, last_used_at "
				   "FROM files WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	bind_text(s, 2, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		col_copy(s, 0, out->id, sizeof(out->id));
		col_copy(s, 1, out->user_id, sizeof(out->user_id));
		col_copy(s, 2, out->name, sizeof(out->name));
		out->size = sqlite3_column_int64(s, 3);
		out->created_at = sqlite3_column_int64(s, 4);
		out->last_used_at = sqlite3_column_int64(s, 5);
		r = 0;
	} else if (rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_file_touch(struct store *st, const char *id, int64_t now)
{
	sqlite3_stmt *s = prep(st, "UPDATE files SET last_used_at = ? WHERE id = ?");
	int r = 0;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	bind_text(s, 2, id);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(s);
	return r;
}

int store_file_expire(struct store *st, int64_t before, store_file_fn fn, void *arg)
{
	sqlite3_stmt *s = prep(st, "SELECT id, user_id, name, size, created_at, last_used_at "
				   "FROM files WHERE last_used_at < ?");
	sqlite3_stmt *d = prep(st, "DELETE FROM files WHERE last_used_at < ?");
	struct store_file f;
	int n = 0;

	if (!s || !d) {
		sqlite3_finalize(s);
		sqlite3_finalize(d);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, before);
	while (sqlite3_step(s) == SQLITE_ROW) {
		memset(&f, 0, sizeof(f));
		col_copy(s, 0, f.id, sizeof(f.id));
		col_copy(s, 1, f.user_id, sizeof(f.user_id));
		col_copy(s, 2, f.name, sizeof(f.name));
		fn(&f, arg);
		n++;
	}
	sqlite3_finalize(s);
	sqlite3_bind_int64(d, 1, before);
	(void)sqlite3_step(d);
	sqlite3_finalize(d);
	return n;
}

/* ---- for the backend's other files (store_cron.c) ---- */

sqlite3 *store_sqlite(struct store *st)
{
	return st->db;
}

/* ---- dashboard: token metadata, browser sessions, job search ---- */

int store_token_create(struct store *st, const char *token_id, const char *user_id,
		       const char *hash_hex, const char *name, int max_live,
		       struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT count(*) FROM tokens "
				   "WHERE user_id = ? AND revoked_at IS NULL");
	int r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return db_err(st, err, "count tokens");
	}
	if (sqlite3_column_int64(s, 0) >= max_live) {
		sqlite3_finalize(s);
		return err_set(err, MAGS_E_CONFLICT, EMLINK,
			       "too many live tokens (limit %d); revoke one first", max_live);
	}
	sqlite3_finalize(s);
	s = prep(st, "INSERT INTO tokens (id, user_id, hash, created_at, name) "
		     "VALUES (?, ?, ?, ?, ?)");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, token_id);
	bind_text(s, 2, user_id);
	bind_text(s, 3, hash_hex);
	sqlite3_bind_int64(s, 4, time_now_ms());
	bind_text(s, 5, name);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "add token");
	sqlite3_finalize(s);
	return r;
}

static void token_meta_from_row(sqlite3_stmt *s, struct store_token_meta *t)
{
	memset(t, 0, sizeof(*t));
	col_copy(s, 0, t->id, sizeof(t->id));
	col_copy(s, 1, t->name, sizeof(t->name));
	t->created_at = sqlite3_column_int64(s, 2);
	t->last_used_at = sqlite3_column_int64(s, 3);
	t->revoked_at = sqlite3_column_int64(s, 4);
}

#define TOKEN_META_COLUMNS "id, name, created_at, last_used_at, revoked_at"

int store_token_list_meta(struct store *st, const char *user_id, int limit,
			  store_token_meta_fn fn, void *arg, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT " TOKEN_META_COLUMNS " FROM tokens "
				   "WHERE user_id = ? "
				   "ORDER BY revoked_at IS NOT NULL, created_at DESC, id "
				   "LIMIT ?");
	struct store_token_meta t;
	int rc, n = 0;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		token_meta_from_row(s, &t);
		fn(&t, arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, err, "list tokens");
	return n;
}

int store_token_revoke_own(struct store *st, const char *token_id, const char *user_id,
			   struct store_token_meta *out, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) "
				   "WHERE id = ? AND user_id = ?");
	int rc, r = 0;

	if (!s)
		return db_err(st, err, "prepare");
	sqlite3_bind_int64(s, 1, time_now_ms());
	bind_text(s, 2, token_id);
	bind_text(s, 3, user_id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, err, "revoke token");
	if (sqlite3_changes(st->db) == 0)
		return err_set(err, MAGS_E_NOT_FOUND, ENOENT, "token not found");
	/* its browser sessions end with it (the session check joins tokens
	 * too; this only frees the rows) */
	s = prep(st, "DELETE FROM sessions WHERE token_id = ?");
	if (s) {
		bind_text(s, 1, token_id);
		(void)sqlite3_step(s);
		sqlite3_finalize(s);
	}
	s = prep(st, "SELECT " TOKEN_META_COLUMNS " FROM tokens WHERE id = ?");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, token_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		token_meta_from_row(s, out);
	else
		r = db_err(st, err, "read token");
	sqlite3_finalize(s);
	return r;
}

/* Every request calls this, and the UPDATE, even when it changes
 * nothing, is a write transaction (the WAL write lock and back): a token
 * this process wrote less than STORE_TOKEN_TOUCH_MS ago is known to be
 * fresh (only this function writes the column), so the UPDATE is skipped
 * exactly when it would not change the row. */
int store_token_touch(struct store *st, const char *token_id, int64_t now)
{
	size_t n = sizeof(st->touched) / sizeof(st->touched[0]), slot = 0;
	sqlite3_stmt *s;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(st->touched[i].id, token_id)) {
			if (st->touched[i].at >= now - STORE_TOKEN_TOUCH_MS)
				return 0;
			slot = i;
			break;
		}
		if (st->touched[i].at < st->touched[slot].at)
			slot = i; /* the oldest, if token_id is not there */
	}
	s = store_cached_prep(st, SC_TOKEN_TOUCH,
			      "UPDATE tokens SET last_used_at = ? WHERE id = ? AND "
			      "(last_used_at IS NULL OR last_used_at < ?)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	bind_text(s, 2, token_id);
	sqlite3_bind_int64(s, 3, now - STORE_TOKEN_TOUCH_MS);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = -EIO;
	else if (sqlite3_changes(st->db) > 0 && strlen(token_id) < sizeof(st->touched[slot].id)) {
		snprintf(st->touched[slot].id, sizeof(st->touched[slot].id), "%s", token_id);
		st->touched[slot].at = now;
	}
	store_cached_done(st, SC_TOKEN_TOUCH, s);
	return r;
}

int store_session_add(struct store *st, const char *session_id, const char *hash_hex,
		      const struct store_ident *ident, int64_t now, int64_t expires_at,
		      int max_per_token, struct mags_err *err)
{
	sqlite3_stmt *s;
	int r = 0;

	/* expired sessions of everyone go first: the table stays small */
	s = prep(st, "DELETE FROM sessions WHERE expires_at <= ?");
	if (!s)
		return db_err(st, err, "prepare");
	sqlite3_bind_int64(s, 1, now);
	(void)sqlite3_step(s);
	sqlite3_finalize(s);

	s = prep(st, "INSERT INTO sessions (id, hash, user_id, token_id, created_at, "
		     "expires_at) VALUES (?, ?, ?, ?, ?, ?)");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, session_id);
	bind_text(s, 2, hash_hex);
	bind_text(s, 3, ident->user_id);
	bind_text(s, 4, ident->token_id);
	sqlite3_bind_int64(s, 5, now);
	sqlite3_bind_int64(s, 6, expires_at);
	if (sqlite3_step(s) != SQLITE_DONE)
		r = db_err(st, err, "add session");
	sqlite3_finalize(s);
	if (r < 0)
		return r;

	/* one token keeps at most max_per_token sessions: the oldest go */
	s = prep(st, "DELETE FROM sessions WHERE token_id = ?1 AND id NOT IN "
		     "(SELECT id FROM sessions WHERE token_id = ?1 "
		     " ORDER BY created_at DESC, rowid DESC LIMIT ?2)");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, ident->token_id);
	sqlite3_bind_int(s, 2, max_per_token);
	(void)sqlite3_step(s);
	sqlite3_finalize(s);
	return 0;
}

int store_session_auth(struct store *st, const char *hash_hex, int64_t now,
		       struct store_ident *out, int64_t *expires_at)
{
	sqlite3_stmt *s = prep(st, "SELECT t.id, u.id, u.name, x.expires_at "
				   "FROM sessions x "
				   "JOIN tokens t ON t.id = x.token_id "
				   "JOIN users u ON u.id = x.user_id "
				   "WHERE x.hash = ? AND x.expires_at > ? "
				   "AND t.revoked_at IS NULL AND t.user_id = x.user_id");
	int rc, r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, hash_hex);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		col_copy(s, 0, out->token_id, sizeof(out->token_id));
		col_copy(s, 1, out->user_id, sizeof(out->user_id));
		col_copy(s, 2, out->user_name, sizeof(out->user_name));
		if (expires_at)
			*expires_at = sqlite3_column_int64(s, 3);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_finalize(s);
	return r;
}

int store_session_delete(struct store *st, const char *hash_hex)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM sessions WHERE hash = ?");
	int r;

	if (!s)
		return -EIO;
	bind_text(s, 1, hash_hex);
	r = sqlite3_step(s) == SQLITE_DONE ? (sqlite3_changes(st->db) ? 0 : -ENOENT) : -EIO;
	sqlite3_finalize(s);
	return r;
}

/* Bind the WHERE clause of store_job_search from parameter 1 on; returns
 * the next parameter index. */
static int job_search_bind(sqlite3_stmt *s, const char *user_id,
			   const struct store_job_filter *f, const char *like)
{
	int i = 1;

	bind_text(s, i++, user_id);
	for (int k = 0; k < f->n_statuses; k++)
		bind_text(s, i++, f->statuses[k]);
	if (like) {
		bind_text(s, i++, like);
		bind_text(s, i++, like);
		bind_text(s, i++, like);
	}
	if (f->name && *f->name) {
		bind_text(s, i++, f->name);
		bind_text(s, i++, f->name);
	}
	return i;
}

/*
 * Pages are keyset pages: the list is ordered by (created_at, rowid),
 * newest first, which is the order of the index jobs_user_created (an
 * index ends with the rowid), so a page after a cursor is one index range
 * search of `limit` entries however deep it is, where OFFSET would step
 * over every skipped row. The status filter and the total use
 * jobs_user_status; q is a substring match (LIKE '%q%'), which no b-tree
 * index serves, so it filters the rows of the user's index range.
 */
int store_job_search(struct store *st, const char *user_id,
		     const struct store_job_filter *f,
		     const struct store_job_cursor *after, int64_t offset, int limit,
		     struct job **jobs, size_t *n, int64_t *total,
		     struct store_job_cursor *next, struct mags_err *err)
{
	char where[640], sql[1280];
	_cleanup_free_ char *like = NULL;
	size_t w;
	sqlite3_stmt *s;
	struct job *arr;
	size_t cnt = 0;
	int rc = SQLITE_DONE, i, rowid_col;
	int64_t last_created = 0, last_rowid = 0;

	*jobs = NULL;
	*n = 0;
	if (next)
		memset(next, 0, sizeof(*next));
	if (f->n_statuses < 0 || f->n_statuses > STORE_JOB_SEARCH_STATUSES)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "too many statuses");
	if (limit < 1)
		limit = 1;
	w = (size_t)snprintf(where, sizeof(where), "user_id = ?");
	if (f->n_statuses > 0) {
		w += (size_t)snprintf(where + w, sizeof(where) - w, " AND status IN (");
		for (int k = 0; k < f->n_statuses; k++)
			w += (size_t)snprintf(where + w, sizeof(where) - w, "%s?", k ? ", " : "");
		w += (size_t)snprintf(where + w, sizeof(where) - w, ")");
	}
	if (f->q && *f->q) {
		/* a substring of the name, the workspace or the id; LIKE's
		 * wildcards in q are literal */
		size_t len = strlen(f->q), j = 1;
		like = xmalloc(2 * len + 3);
		like[0] = '%';
		for (size_t k = 0; k < len; k++) {
			if (f->q[k] == '%' || f->q[k] == '_' || f->q[k] == '\\')
				like[j++] = '\\';
			like[j++] = f->q[k];
		}
		like[j++] = '%';
		like[j] = '\0';
		w += (size_t)snprintf(where + w, sizeof(where) - w,
			 " AND (name LIKE ? ESCAPE '\\' OR workspace_id LIKE ? ESCAPE '\\'"
			 " OR id LIKE ? ESCAPE '\\')");
	}
	if (f->name && *f->name)
		w += (size_t)snprintf(where + w, sizeof(where) - w,
				      " AND (name = ? OR workspace_id = ?)");

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM jobs WHERE %s", where);
	s = prep(st, sql);
	if (!s)
		return db_err(st, err, "prepare");
	job_search_bind(s, user_id, f, like);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return db_err(st, err, "count jobs");
	}
	*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);

	/* one row more than asked tells whether there is a next page */
	snprintf(sql, sizeof(sql), "SELECT " JOB_COLUMNS ", rowid FROM jobs WHERE %s%s "
		 "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?", where,
		 after ? " AND (created_at, rowid) < (?, ?)" : "");
	s = prep(st, sql);
	if (!s)
		return db_err(st, err, "prepare");
	rowid_col = sqlite3_column_count(s) - 1;
	i = job_search_bind(s, user_id, f, like);
	if (after) {
		sqlite3_bind_int64(s, i++, after->created_at);
		sqlite3_bind_int64(s, i++, after->rowid);
	}
	sqlite3_bind_int(s, i++, limit + 1);
	sqlite3_bind_int64(s, i, after ? 0 : offset);
	arr = xcalloc((size_t)limit, sizeof(*arr));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == (size_t)limit) {
			if (next) {
				next->created_at = last_created;
				next->rowid = last_rowid;
				next->valid = 1;
			}
			rc = SQLITE_DONE;
			break;
		}
		job_from_row(s, &arr[cnt++]);
		last_created = sqlite3_column_int64(s, 7);
		last_rowid = sqlite3_column_int64(s, rowid_col);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_job_list_free(arr, cnt);
		return db_err(st, err, "list jobs");
	}
	*jobs = arr;
	*n = cnt;
	return 0;
}

/* ---- public URLs, SSH access keys, URL aliases (issue 5) ---- */

int store_access_url_get(struct store *st, const char *job_id, int port,
			 char sub[STORE_SUB_MAX + 1])
{
	sqlite3_stmt *s = prep(st, "SELECT sub FROM access_urls WHERE job_id = ? AND port = ?");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, job_id);
	sqlite3_bind_int(s, 2, port);
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(sub, STORE_SUB_MAX + 1, "%s", (const char *)sqlite3_column_text(s, 0));
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}

int store_access_url_add(struct store *st, const char *sub, const char *job_id,
			 const char *user_id, int port, int64_t now, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO access_urls (sub, job_id, user_id, port, "
			       "created_at) VALUES (?, ?, ?, ?, ?)");
	int rc;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, sub);
	bind_text(s, 2, job_id);
	bind_text(s, 3, user_id);
	sqlite3_bind_int(s, 4, port);
	sqlite3_bind_int64(s, 5, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_CONSTRAINT)
		return err_set(err, MAGS_E_CONFLICT, EEXIST, "url '%s' is taken", sub);
	return rc == SQLITE_DONE ? 0 : db_err(st, err, "add url");
}

int store_access_url_find(struct store *st, const char *sub, struct store_access_url *out)
{
	sqlite3_stmt *s = prep(st, "SELECT job_id, user_id, port FROM access_urls WHERE sub = ?");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, sub);
	if (sqlite3_step(s) == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		snprintf(out->sub, sizeof(out->sub), "%s", sub);
		snprintf(out->job_id, sizeof(out->job_id), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		snprintf(out->user_id, sizeof(out->user_id), "%s",
			 (const char *)sqlite3_column_text(s, 1));
		out->port = sqlite3_column_int(s, 2);
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}

int store_access_url_latest_port(struct store *st, const char *job_id, int *port)
{
	sqlite3_stmt *s = prep(st, "SELECT port FROM access_urls WHERE job_id = ? "
			       "ORDER BY created_at DESC, rowid DESC LIMIT 1");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, job_id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*port = sqlite3_column_int(s, 0);
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}

int store_access_key_add(struct store *st, const char *pubkey, const char *job_id,
			 const char *user_id, int64_t now, int keep, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO access_keys (pubkey, job_id, user_id, "
			       "created_at) VALUES (?, ?, ?, ?)");
	int rc;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, pubkey);
	bind_text(s, 2, job_id);
	bind_text(s, 3, user_id);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, err, "add access key");
	/* a job keeps its newest keys only */
	s = prep(st, "DELETE FROM access_keys WHERE job_id = ?1 AND pubkey NOT IN "
		 "(SELECT pubkey FROM access_keys WHERE job_id = ?1 "
		 "ORDER BY created_at DESC, rowid DESC LIMIT ?2)");
	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, job_id);
	sqlite3_bind_int(s, 2, keep);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_err(st, err, "trim access keys");
}

int store_access_key_list_live(struct store *st, store_access_key_fn fn, void *arg)
{
	sqlite3_stmt *s = prep(st, "SELECT k.pubkey, k.job_id, k.user_id FROM access_keys k "
			       "JOIN jobs j ON j.id = k.job_id "
			       "WHERE j.status NOT IN ('completed', 'error', 'stopped') "
			       "ORDER BY k.created_at, k.rowid");
	int n = 0;

	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		   (const char *)sqlite3_column_text(s, 2), arg);
		n++;
	}
	sqlite3_finalize(s);
	return n;
}

int store_alias_add(struct store *st, const struct store_alias *a, struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO url_aliases (subdomain, user_id, workspace_id, "
			       "created_at) VALUES (?, ?, ?, ?)");
	int rc;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, a->subdomain);
	bind_text(s, 2, a->user_id);
	bind_text(s, 3, a->workspace_id);
	sqlite3_bind_int64(s, 4, a->created_at);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_CONSTRAINT)
		return err_set(err, MAGS_E_CONFLICT, EEXIST, "alias '%s' is taken", a->subdomain);
	return rc == SQLITE_DONE ? 0 : db_err(st, err, "add alias");
}

static void alias_from_row(sqlite3_stmt *s, struct store_alias *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->subdomain, sizeof(a->subdomain), "%s", (const char *)sqlite3_column_text(s, 0));
	snprintf(a->user_id, sizeof(a->user_id), "%s", (const char *)sqlite3_column_text(s, 1));
	snprintf(a->workspace_id, sizeof(a->workspace_id), "%s",
		 (const char *)sqlite3_column_text(s, 2));
	a->created_at = sqlite3_column_int64(s, 3);
}

int store_alias_get(struct store *st, const char *sub, struct store_alias *out)
{
	sqlite3_stmt *s = prep(st, "SELECT subdomain, user_id, workspace_id, created_at "
			       "FROM url_aliases WHERE subdomain = ?");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, sub);
	if (sqlite3_step(s) == SQLITE_ROW) {
		alias_from_row(s, out);
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}

int store_alias_list(struct store *st, const char *user_id, store_alias_fn fn, void *arg,
		     struct mags_err *err)
{
	sqlite3_stmt *s = prep(st, "SELECT subdomain, user_id, workspace_id, created_at "
			       "FROM url_aliases WHERE user_id = ? ORDER BY created_at, rowid");
	struct store_alias a;
	int n = 0, rc;

	if (!s)
		return db_err(st, err, "prepare");
	bind_text(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		alias_from_row(s, &a);
		fn(&a, arg);
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : db_err(st, err, "list aliases");
}

int store_alias_count(struct store *st, const char *user_id)
{
	sqlite3_stmt *s = prep(st, "SELECT count(*) FROM url_aliases WHERE user_id = ?");
	int n = -EIO;

	if (!s)
		return -EIO;
	bind_text(s, 1, user_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

int store_alias_delete(struct store *st, const char *sub, const char *user_id)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM url_aliases WHERE subdomain = ? AND user_id = ?");
	int rc;

	if (!s)
		return -EIO;
	bind_text(s, 1, sub);
	bind_text(s, 2, user_id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

int store_job_live_for_workspace(struct store *st, const char *user_id, const char *ws,
				 char job_id[JOB_ID_MAX])
{
	sqlite3_stmt *s = prep(st, "SELECT id FROM jobs WHERE user_id = ? AND workspace_id = ? "
			       "AND status IN ('running', 'sleeping', 'accepted') "
			       "ORDER BY (status = 'accepted'), created_at DESC, rowid DESC LIMIT 1");
	int r = -ENOENT;

	if (!s)
		return -EIO;
	bind_text(s, 1, user_id);
	bind_text(s, 2, ws);
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(job_id, JOB_ID_MAX, "%s", (const char *)sqlite3_column_text(s, 0));
		r = 0;
	}
	sqlite3_finalize(s);
	return r;
}
