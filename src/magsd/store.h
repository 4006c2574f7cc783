/*
 * store.h - magsd's metadata in SQLite: users, tokens, jobs. All SQL of the
 * SQLite backend lives in store.c (a PostgreSQL backend would be a second
 * file with the same functions).
 *
 * One connection, WAL, synchronous=NORMAL, busy_timeout so the admin
 * subcommands can write while the daemon runs. Calls are short and
 * synchronous; they run on the daemon's loop.
 *
 * Functions return 0 (or a count) on success, -ENOENT when the row does not
 * exist, other negative errno on failure with err filled (err may be NULL).
 */
#ifndef MAGS_MAGSD_STORE_H
#define MAGS_MAGSD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/job.h"

struct store;

/* Open (creating if needed) the database at path and bring its schema up to
 * date. A database from a newer magsd is refused. */
int store_open(const char *path, struct store **out, struct mags_err *err);
void store_close(struct store *st);

/* Schema version (PRAGMA user_version) and the version this build writes. */
int store_schema_version(struct store *st);
int store_schema_latest(void);

/* Users. id_out gets "usr_<12 hex>". A taken name is MAGS_E_CONFLICT. */
int store_user_add(struct store *st, const char *name, char id_out[32],
		   struct mags_err *err);
int store_user_find(struct store *st, const char *name, char id_out[32],
		    struct mags_err *err);

/* Tokens are stored as the hex sha256 of the token only. */
int store_token_add(struct store *st, const char *token_id, const char *user_id,
		    const char *hash_hex, struct mags_err *err);

struct store_ident {
	char user_id[32];
	char user_name[128];
	char token_id[32];
};

/* The live (unrevoked) token with that hash. -ENOENT if none. */
int store_token_auth(struct store *st, const char *hash_hex,
		     struct store_ident *out);

/* Revoke by token id or by token hash. -ENOENT if no such token. */
int store_token_revoke(struct store *st, const char *id_or_hash,
		       struct mags_err *err);

struct store_token {
	const char *id;
	int64_t created_at;
	int64_t revoked_at;   /* 0 if live */
};
typedef void (*store_token_fn)(const struct store_token *tok, void *arg);

int store_token_list(struct store *st, const char *user_id, store_token_fn fn,
		     void *arg, struct mags_err *err);

/* Jobs. */
int store_job_insert(struct store *st, const struct job *job, struct mags_err *err);

/* Fill *out (caller releases with job_release). user_id NULL = any owner;
 * another user's job is -ENOENT like a missing one. */
int store_job_get(struct store *st, const char *id, const char *user_id,
		  struct job *out);

/* One page of a user's jobs, newest first. *jobs is a malloc'd array of *n
 * jobs (each released, then the array freed, by store_job_list_free). */
int store_job_list(struct store *st, const char *user_id, int64_t offset,
		   int limit, struct job **jobs, size_t *n, int64_t *total,
		   struct mags_err *err);
void store_job_list_free(struct job *jobs, size_t n);

int store_job_set_running(struct store *st, const char *id, int64_t started_at);

/* Final state. exit_code < 0 = none; error_message may be NULL. */
int store_job_finish(struct store *st, const char *id, const char *status,
		     int exit_code, const char *error_message, int64_t finished_at);

/* Jobs left accepted/running (by a daemon that died) become error with msg.
 * Returns how many. */
int store_job_recover(struct store *st, const char *msg, int64_t now);

#endif
