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
