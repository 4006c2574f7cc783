/*
 * store_sql.h - statement helpers shared by the files of the SQLite store
 * backend (store.c, store_cron.c, store_lifecycle.c). Internal to the store
 * module: nothing outside those files includes it.
 */
#ifndef MAGS_MAGSD_STORE_SQL_H
#define MAGS_MAGSD_STORE_SQL_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

struct store;

/* store.c: the connection. */
sqlite3 *store_sqlite(struct store *st);

/* Statements every job or API request runs (the token, a job by id, a
 * job's insert and status updates): prepared once and reset after each
 * use, so SQLite does not parse them each time (parsing was a third of
 * magsd's CPU time per exec, and 8% of it per job before the job's own
 * statements were cached too). */
enum store_cached {
	SC_TOKEN_AUTH, SC_TOKEN_TOUCH, SC_JOB_GET, SC_JOB_INSERT, SC_JOB_RUNNING,
	SC_JOB_IP, SC_JOB_FINISH, SC_JOB_USAGE, SC_MAX
};

/* The slot's statement, prepared on first use (taken out of the cache
 * while in use, so a nested use prepares its own), or NULL. sql must be
 * the same text for every use of a slot. Give it back with
 * store_cached_done, which resets it and clears its bindings. */
sqlite3_stmt *store_cached_prep(struct store *st, enum store_cached slot, const char *sql);
void store_cached_done(struct store *st, enum store_cached slot, sqlite3_stmt *s);

/* A prepared statement, or NULL (the caller reports the error). */
static inline sqlite3_stmt *prep(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(store_sqlite(st), sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

/* NULL binds SQL NULL. */
static inline void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* A time in ms; 0 or less binds NULL ("never"). */
static inline void bind_time(sqlite3_stmt *s, int i, int64_t v)
{
	if (v > 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

/* A malloc'd copy of a text column, NULL for SQL NULL. */
static inline char *col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	if (!t)
		return NULL;
	return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

/* A text column into a fixed buffer ("" for NULL), truncated to fit. */
static inline void col_copy(sqlite3_stmt *s, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

#endif
