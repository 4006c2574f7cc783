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

/* The address of the job's sandbox (its `net <ip>` status line); NULL
 * clears it. Internal: kept for a re-attaching magsd and for debugging,
 * not shown by the API. */
int store_job_set_ip(struct store *st, const char *id, const char *ip);

/* Final state. exit_code < 0 = none; error_message may be NULL. */
int store_job_finish(struct store *st, const char *id, const char *status,
		     int exit_code, const char *error_message, int64_t finished_at);

/* Jobs left accepted/running (by a daemon that died) become error with msg.
 * Returns how many. */
int store_job_recover(struct store *st, const char *msg, int64_t now);

/* Workspaces, keyed by (user_id, name). Hashes are hex sha256 ("" = none). */
struct store_workspace {
	char user_id[32];
	char name[64];
	int persistent;
	int disk_gb;
	char base_name[64];      /* the workspace it was forked from, "" if none */
	char base_snapshot[600]; /* the snapshots it was forked from, topmost
	                          * first, comma-separated (a fork of a fork
	                          * has its parent's head and the parent's
	                          * bases), "" if none */
	char head[72];           /* its last synced snapshot, "" if never synced */
	int64_t last_synced_at;
	int64_t size_bytes;
	int64_t last_used_at;
	int64_t created_at;
	int64_t job_count;       /* store_ws_list only */
};
typedef void (*store_ws_fn)(const struct store_workspace *ws, void *arg);

int store_ws_get(struct store *st, const char *user_id, const char *name,
		 struct store_workspace *out);
/* Insert or replace the whole row. */
int store_ws_put(struct store *st, const struct store_workspace *ws, struct mags_err *err);
int store_ws_delete(struct store *st, const char *user_id, const char *name);
/* user_id NULL = every user's. Returns the count. */
int store_ws_list(struct store *st, const char *user_id, store_ws_fn fn, void *arg,
		  struct mags_err *err);

/* Uploaded files (POST /mags-files). */
struct store_file {
	char id[64];
	char user_id[32];
	char name[256];
	int64_t size;
	int64_t created_at;
	int64_t last_used_at;
};
typedef void (*store_file_fn)(const struct store_file *f, void *arg);

int store_file_add(struct store *st, const struct store_file *f, struct mags_err *err);
/* user_id NULL = any owner; another user's file is -ENOENT. */
int store_file_get(struct store *st, const char *id, const char *user_id,
		   struct store_file *out);
int store_file_touch(struct store *st, const char *id, int64_t now);
/* Delete the rows of files unused since before; fn sees each first. */
int store_file_expire(struct store *st, int64_t before, store_file_fn fn, void *arg);

/* ---- cron jobs and usage (store_cron.c) ---- */

/* A cron job. Times are unix ms, 0 = none. Strings are malloc'd (NULL =
 * none) and freed by store_cron_release. last_status is derived: "skipped"
 * or "error" (could not submit) for the last firing, else the status of
 * last_job_id's job, "" if it never fired. */
struct store_cron {
	char id[JOB_ID_MAX];
	char user_id[32];
	char *name;
	char *cron_expression;
	char *script;
	char *workspace_id;
	char *environment;       /* JSON object text */
	int persistent;
	int enabled;
	int64_t created_at;
	int64_t next_run_at;     /* 0 while disabled or if it never fires */
	int64_t last_run_at;
	char last_job_id[JOB_ID_MAX];
	char last_status[16];
	char last_job_status[16]; /* status of last_job_id's job, "" if none */
	char *last_error;        /* why the last firing could not submit */
	int64_t run_count;       /* firings that submitted a job */
	int64_t skip_count;      /* firings skipped: the previous one still ran */
};

void store_cron_release(struct store_cron *c);
void store_cron_list_free(struct store_cron *c, size_t n);

int store_cron_insert(struct store *st, const struct store_cron *c, struct mags_err *err);
/* user_id NULL = any owner; another user's is -ENOENT like a missing one. */
int store_cron_get(struct store *st, const char *id, const char *user_id,
		   struct store_cron *out);
/* A user's cron jobs, oldest first (*out malloc'd, store_cron_list_free). */
int store_cron_list(struct store *st, const char *user_id, struct store_cron **out,
		    size_t *n, struct mags_err *err);
/* How many cron jobs the user has, or negative errno. */
int store_cron_count(struct store *st, const char *user_id);
/* Save the editable fields (name, cron_expression, script, workspace_id,
 * environment, persistent, enabled) and next_run_at. */
int store_cron_update(struct store *st, const struct store_cron *c, struct mags_err *err);
int store_cron_delete(struct store *st, const char *id, const char *user_id);
/* Enabled cron jobs with 0 < next_run_at <= now, earliest first. */
int store_cron_due(struct store *st, int64_t now, struct store_cron **out, size_t *n);
/* The earliest next_run_at of an enabled cron job; -ENOENT if none. */
int store_cron_earliest(struct store *st, int64_t *out);
/* Record a firing at run_at: outcome "fired" (job_id set, run_count+1),
 * "skipped" (skip_count+1, last_job_id kept) or "error" (error set), and
 * move next_run_at. */
int store_cron_record(struct store *st, const char *id, int64_t run_at,
		      const char *outcome, const char *job_id, const char *error,
		      int64_t next_run_at);

/* A job's resource usage as its runtime reported it. */
int store_job_set_usage(struct store *st, const char *job_id, int64_t cpu_us,
			int64_t mem_peak_bytes);

/* Usage of a user's jobs created in [from, now), by UTC day: day i covers
 * [from + i*86400000, from + (i+1)*86400000). vm_ms counts started_at to
 * finished_at (to now while running). */
struct store_usage_day {
	int64_t jobs;
	int64_t vm_ms;
	int64_t cpu_us;
	int64_t mem_peak_bytes;  /* the largest of the day's jobs */
};
int store_usage(struct store *st, const char *user_id, int64_t from, int64_t now,
		struct store_usage_day *days, int n_days, struct mags_err *err);

/* ---- dashboard (web.c, api_session.c, api_tokens.c) ---- */

/* A token as its owner sees it in lists. Times unix ms, 0 = never. */
struct store_token_meta {
	char id[32];
	char name[128];
	int64_t created_at;
	int64_t last_used_at;
	int64_t revoked_at;
};
typedef void (*store_token_meta_fn)(const struct store_token_meta *tok, void *arg);

/* Add a named token (name may be NULL) unless the user already has
 * max_live unrevoked ones (MAGS_E_CONFLICT). */
int store_token_create(struct store *st, const char *token_id, const char *user_id,
		       const char *hash_hex, const char *name, int max_live,
		       struct mags_err *err);
/* A user's tokens, live ones first, newest first, at most limit. Returns
 * the count. */
int store_token_list_meta(struct store *st, const char *user_id, int limit,
			  store_token_meta_fn fn, void *arg, struct mags_err *err);
/* Revoke the user's token token_id (idempotent) and end its sessions;
 * *out gets the token. Another user's token is -ENOENT (MAGS_E_NOT_FOUND). */
int store_token_revoke_own(struct store *st, const char *token_id, const char *user_id,
			   struct store_token_meta *out, struct mags_err *err);
/* Record a use of the token; written at most once per STORE_TOKEN_TOUCH_MS. */
#define STORE_TOKEN_TOUCH_MS 60000
int store_token_touch(struct store *st, const char *token_id, int64_t now);

/* Browser sessions: hash_hex is the sha256 of the session secret (the
 * secret itself is never stored); a session belongs to the token it was
 * opened with and dies with it. Adding one also deletes every expired
 * session and the token's oldest beyond max_per_token. */
int store_session_add(struct store *st, const char *session_id, const char *hash_hex,
		      const struct store_ident *ident, int64_t now, int64_t expires_at,
		      int max_per_token, struct mags_err *err);
/* The live session with that hash (not expired at now, token unrevoked):
 * 0 and *out filled, -ENOENT if none. expires_at may be NULL. */
int store_session_auth(struct store *st, const char *hash_hex, int64_t now,
		       struct store_ident *out, int64_t *expires_at);
/* 0, or -ENOENT if there was no such session. */
int store_session_delete(struct store *st, const char *hash_hex);

/* Filters of store_job_search: statuses (any of; n_statuses 0 = all, at
 * most STORE_JOB_SEARCH_STATUSES), q (NULL or "" = all; else a substring
 * of the name, the workspace or the request id, matched literally,
 * case-insensitive for ASCII) and name (NULL or "" = all; else the exact
 * job name or workspace). */
#define STORE_JOB_SEARCH_STATUSES 8
struct store_job_filter {
	const char *const *statuses;
	int n_statuses;
	const char *q;
	const char *name;
};
/* A position in the job list (newest first): the job at (created_at,
 * rowid); a page "after" it starts with the next older job. */
struct store_job_cursor {
	int64_t created_at;
	int64_t rowid;
	int valid;
};
/* store_job_list with filters and keyset paging: the page of at most limit
 * jobs after *after, or at offset if after is NULL; *total counts every
 * match. *next (may be NULL) is set valid with the last job's position
 * when more jobs follow this page. Jobs are freed by store_job_list_free. */
int store_job_search(struct store *st, const char *user_id,
		     const struct store_job_filter *f,
		     const struct store_job_cursor *after, int64_t offset, int limit,
		     struct job **jobs, size_t *n, int64_t *total,
		     struct store_job_cursor *next, struct mags_err *err);

/* ---- public URLs, SSH access keys, URL aliases (issue 5) ---- */

#define STORE_SUB_MAX 63   /* one DNS label */

/* A job port's public URL: http://<sub>.<url_domain>:<proxy port>/. */
struct store_access_url {
	char sub[STORE_SUB_MAX + 1];
	char job_id[JOB_ID_MAX];
	char user_id[32];
	int port;
};
/* The sub of (job, port); -ENOENT if none yet. */
int store_access_url_get(struct store *st, const char *job_id, int port,
			 char sub[STORE_SUB_MAX + 1]);
/* A taken sub is MAGS_E_CONFLICT (-EEXIST). */
int store_access_url_add(struct store *st, const char *sub, const char *job_id,
			 const char *user_id, int port, int64_t now, struct mags_err *err);
int store_access_url_find(struct store *st, const char *sub, struct store_access_url *out);
/* The port of the job's newest URL; -ENOENT if it has none. */
int store_access_url_latest_port(struct store *st, const char *job_id, int *port);

/* SSH access keys: pubkey is "ssh-ed25519 <base64>". Adding one drops the
 * job's oldest keys beyond keep. */
int store_access_key_add(struct store *st, const char *pubkey, const char *job_id,
			 const char *user_id, int64_t now, int keep, struct mags_err *err);
typedef void (*store_access_key_fn)(const char *pubkey, const char *job_id,
				    const char *user_id, void *arg);
/* The keys of every job not finished. Returns the count. */
int store_access_key_list_live(struct store *st, store_access_key_fn fn, void *arg);

/* URL aliases: a subdomain, unique across the server, naming a user's
 * workspace; it routes to the workspace's live job. */
struct store_alias {
	char subdomain[STORE_SUB_MAX + 1];
	char user_id[32];
	char workspace_id[128];
	int64_t created_at;
};
typedef void (*store_alias_fn)(const struct store_alias *a, void *arg);
/* A taken subdomain is MAGS_E_CONFLICT (-EEXIST). */
int store_alias_add(struct store *st, const struct store_alias *a, struct mags_err *err);
int store_alias_get(struct store *st, const char *sub, struct store_alias *out);
int store_alias_list(struct store *st, const char *user_id, store_alias_fn fn, void *arg,
		     struct mags_err *err);
int store_alias_count(struct store *st, const char *user_id);
/* -ENOENT if the user has no such alias (another user's included). */
int store_alias_delete(struct store *st, const char *sub, const char *user_id);
/* The newest running/sleeping (else accepted) job of a user's workspace. */
int store_job_live_for_workspace(struct store *st, const char *user_id, const char *ws,
				 char job_id[JOB_ID_MAX]);

/* ---- long-lived sandboxes (issue 4: store_lifecycle.c) ---- */

/* running/accepted -> sleeping; sleeping -> running. -ENOENT if the job
 * was not in the state the change starts from. */
int store_job_set_sleeping(struct store *st, const char *id);
int store_job_set_awake(struct store *st, const char *id);
/* A persistent job's script ended (the job stays running); < 0 = null. */
int store_job_set_exit_code(struct store *st, const char *id, int exit_code);
/* PATCH: no_sleep < 0 keeps it; startup_command NULL keeps it, "" clears;
 * idle_timeout < 0 keeps it, 0 = back to the server's default. */
int store_job_set_settings(struct store *st, const char *id, int no_sleep,
			   const char *startup_command, int idle_timeout);
/* A user's job by request id, else by name or workspace name: a live one
 * (running, sleeping, then accepted) first, then the newest. */
int store_job_resolve(struct store *st, const char *user_id, const char *arg,
		      char id_out[JOB_ID_MAX]);
/* Every persistent job not finished (accepted, running, sleeping), oldest
 * first. Returns the count. */
typedef void (*store_job_id_fn)(const char *job_id, void *arg);
int store_job_list_live_persistent(struct store *st, store_job_id_fn fn, void *arg);
/* store_job_recover, but a job keep() says 1 for is left alone (a
 * sandbox re-attached after a daemon restart). Returns how many ended. */
typedef int (*store_job_keep_fn)(const char *job_id, void *arg);
int store_job_recover_except(struct store *st, const char *msg, int64_t now,
			     store_job_keep_fn keep, void *arg);

#endif
