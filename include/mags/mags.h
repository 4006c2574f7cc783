/*
 * mags.h - libmags, the C client library for a mags server.
 *
 * libmags speaks HTTP/1.1 itself over a TCP or unix socket (http:// and
 * unix:// URLs), so a program linked with it starts as fast as one linked
 * with libc alone; https:// loads libcurl with dlopen() on first use.
 * JSON values are jansson's json_t.
 *
 * Conventions:
 *  - A fallible function returns an int: >= 0 on success, a negative errno
 *    on failure, and fills the caller-owned struct mags_err passed last
 *    (NULL is allowed). The message is for people: for an error answered by
 *    the server it is the server's "error" text; mags_client_last_status()
 *    then gives the HTTP status.
 *  - A json_t ** out parameter receives a new reference the caller releases
 *    with json_decref(); it is NULL on failure.
 *  - A client is not thread-safe; use one per thread.
 *
 * The server URL is its base, without "/api/v1"; the library appends it.
 */
#ifndef MAGS_MAGS_H
#define MAGS_MAGS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MAGS_VERSION "0.1.0"
#define MAGS_DEFAULT_URL "http://127.0.0.1:8420"

/*
 * The error message. Inside the mags tree src/common/err.h defines the same
 * struct with its helpers; either may come first: the struct is defined once.
 */
#ifndef MAGS_ERR_STRUCT_DEFINED
#define MAGS_ERR_STRUCT_DEFINED
#define MAGS_ERR_MSG_MAX 512
struct mags_err {
	int code;                  /* a category, see common/err.h */
	int sys_errno;             /* errno at the failure, 0 if none */
	char msg[MAGS_ERR_MSG_MAX];
};
#endif

/* ---- configuration --------------------------------------------------- */

/*
 * Where a client's URL and token come from:
 *   token: $MAGS_API_TOKEN, then $MAGS_TOKEN, then "api_token" of
 *          ~/.mags/config.json;
 *   url:   $MAGS_API_URL, then "api_url" of the config file, then
 *          MAGS_DEFAULT_URL.
 * Empty variables count as unset. A missing config file is not an error; an
 * unreadable or malformed one is.
 */
struct mags_config {
	char *api_url;          /* never NULL after a successful load */
	char *api_token;        /* NULL when there is none */
	const char *url_source; /* "MAGS_API_URL", "config" or "default" */
	const char *token_source; /* "MAGS_API_TOKEN", "MAGS_TOKEN", "config" or NULL */
};

/* Fill cfg (which the caller releases with mags_config_release). */
int mags_config_load(struct mags_config *cfg, struct mags_err *err);
void mags_config_release(struct mags_config *cfg);

/* The config file's path ($HOME/.mags/config.json), malloc'd; NULL when
 * HOME is unset and the password database has no home either. */
char *mags_config_path(void);

/*
 * Save url and token into the config file, keeping any other keys it has.
 * Creates ~/.mags with mode 0700; the file is written to a temporary name
 * with mode 0600 and renamed over the old one. A NULL url or token leaves
 * that key as it was.
 */
int mags_config_save(const char *url, const char *token, struct mags_err *err);

/* Remove "api_token" from the config file. Returns 1 when a token was
 * removed, 0 when there was none (or no file). */
int mags_config_forget_token(struct mags_err *err);

/* ---- client ------------------------------------------------------------ */

struct mags_client;

/*
 * A client for the server at url (NULL: MAGS_DEFAULT_URL) using token
 * (NULL: send no Authorization header). Accepted URLs:
 *   http://host[:port][/prefix]    port 80 by default
 *   https://host[:port][/prefix]   needs libcurl.so.4 at run time; the
 *                                  system CAs, or the PEM file named by
 *                                  $MAGS_CA_BUNDLE
 *   unix:///path/to/socket
 * Returns NULL with err filled when the URL is not valid. Nothing connects
 * until the first request.
 */
struct mags_client *mags_client_new(const char *url, const char *token,
				    struct mags_err *err);
void mags_client_free(struct mags_client *c);

/* The base URL as given (without a trailing '/'). */
const char *mags_client_url(const struct mags_client *c);

/* HTTP status of the last response, 0 when none was received. */
int mags_client_last_status(const struct mags_client *c);

/*
 * While *flag is non-zero, a request blocked on the network gives up with
 * -ECANCELED (checked at least every 200 ms and on EINTR). For a SIGINT
 * handler that sets a flag. NULL disables it.
 */
void mags_client_set_cancel(struct mags_client *c, volatile sig_atomic_t *flag);

/* Connect timeout and idle-read timeout in milliseconds (defaults 10 s and
 * 120 s; 0 means none). Following logs never times out while idle. */
void mags_client_set_timeouts(struct mags_client *c, int connect_ms, int read_ms);

/*
 * The generic call: METHOD /api/v1<path> with body (may be NULL) as JSON.
 * path starts with '/' and carries its own query string. On a 2xx answer
 * returns 0 and *out holds the parsed JSON (JSON null for an empty body). On
 * an error answer returns -EPROTO and err holds the server's "error"
 * message; *out still holds the parsed body when there was one (out may be
 * NULL). The HTTP status goes into *status when status is not NULL.
 */
int mags_request(struct mags_client *c, const char *method, const char *path,
		 json_t *body, json_t **out, int *status, struct mags_err *err);

/* ---- jobs ---------------------------------------------------------------- */

/* POST /mags-jobs: submit req (fields of the REST API: "script", "type",
 * "name", "workspace_id", "persistent", ...). *out gets {"request_id",
 * "status"}. */
int mags_job_submit(struct mags_client *c, json_t *req, json_t **out,
		    struct mags_err *err);

/* GET /mags-jobs/{id}/status: the job object. */
int mags_job_status(struct mags_client *c, const char *id, json_t **out,
		    struct mags_err *err);

/* GET /mags-jobs/{id}/logs: {"logs": [{"message","source","timestamp"}]}. */
int mags_job_logs(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err);

/* GET /mags-jobs?page=&page_size= (0 = server default):
 * {"jobs": [...], "page", "page_size", "total"}, newest first. */
int mags_job_list(struct mags_client *c, int page, int page_size, json_t **out,
		  struct mags_err *err);

/* POST /mags-jobs/{id}/stop: the job object. */
int mags_job_stop(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err);

/* GET /whoami: {"user", "user_id", "token_id"}. */
int mags_whoami(struct mags_client *c, json_t **out, struct mags_err *err);

/* One line of a followed log: a record, or the final end event. */
struct mags_log_event {
	bool end;                  /* false: a record; true: the end event */
	const char *message;       /* record fields ("" when absent) */
	const char *source;        /* "stdout", "stderr", "system" */
	const char *timestamp;
	const char *status;        /* end fields: final job status */
	bool has_exit_code;
	int exit_code;
	const char *error_message; /* NULL when none */
	json_t *json;              /* the whole line, borrowed */
	const char *line;          /* the raw line, borrowed, NUL-terminated */
	size_t line_len;
};

/* Called for every line as it arrives. A non-zero return stops the follow
 * and becomes mags_job_follow's return value. */
typedef int (*mags_log_cb)(const struct mags_log_event *ev, void *arg);

/*
 * GET /mags-jobs/{id}/logs?follow=1: call cb for each log record as the
 * server streams it, then once for the end event. Returns 0 after the end
 * event, -ECONNRESET when the stream closed before it (the job may still be
 * running: poll mags_job_status), -ECANCELED when the cancel flag was set,
 * or another negative errno.
 */
int mags_job_follow(struct mags_client *c, const char *id, mags_log_cb cb,
		    void *arg, struct mags_err *err);

/* POST /mags-jobs/{id}/access {"port": port}: for port 22 {"ssh_host",
 * "ssh_port", "ssh_private_key"}, for another port {"url", ...}. */
int mags_job_access(struct mags_client *c, const char *id, int port,
		    json_t **out, struct mags_err *err);

/* POST /mags-jobs/{id}/sync: save the job's workspace now, without
 * stopping it. *out (may be NULL) gets the answer ({} when empty). */
int mags_job_sync(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err);

/* PATCH /mags-jobs/{id} with fields ({"no_sleep": bool},
 * {"startup_command": "..."}). *out (may be NULL): the answer. */
int mags_job_update(struct mags_client *c, const char *id, json_t *fields,
		    json_t **out, struct mags_err *err);

/*
 * Called for output of mags_job_exec as it arrives: stream is "stdout" or
 * "stderr", data/len the bytes (not NUL-terminated, any cut). A non-zero
 * return stops the call and becomes its return value.
 */
typedef int (*mags_exec_cb)(const char *stream, const char *data, size_t len,
			    void *arg);

/*
 * Run command in a live job: POST /mags-jobs/{id}/exec?stream=1
 * {"command", "timeout"? (seconds, 0 = not sent), "env"? (object of
 * strings, may be NULL)}. The streaming answer is NDJSON lines
 * {"stream": "stdout"|"stderr", "data": "..."} ending with
 * {"exit_code": N, "duration_ms": N}; a server that answers the plain
 * form {"exit_code", "stdout", "stderr", "output", "duration_ms"} works
 * too (cb then gets stdout, then stderr, once each). *result gets the final
 * object (always with an integer "exit_code"). A sleeping job is woken by
 * the server.
 */
int mags_job_exec(struct mags_client *c, const char *id, const char *command,
		  int timeout, json_t *env, mags_exec_cb cb, void *arg,
		  json_t **result, struct mags_err *err);

/* ---- files --------------------------------------------------------------- */

/* Largest file POST /mags-files accepts (DECISIONS D3). */
#define MAGS_UPLOAD_MAX (100ull << 20)

/*
 * Upload the file at path: POST /mags-files, multipart/form-data with one
 * part "file", streamed from disk. *file_id (malloc'd) gets the id from
 * {"file_id"} or the first of {"file_ids": [...]}; out (may be NULL) the
 * whole answer. Files over MAGS_UPLOAD_MAX are refused before sending.
 */
int mags_file_upload(struct mags_client *c, const char *path, char **file_id,
		     json_t **out, struct mags_err *err);

/* ---- workspaces, URL aliases, cron, usage ------------------------------ */

/* GET /mags-workspaces: {"workspaces": [{"workspace_id", "persistent",
 * "size_bytes", "last_synced_at", "base", "job_count", "disk_gb", ...}]}. */
int mags_workspace_list(struct mags_client *c, json_t **out,
			struct mags_err *err);

/* DELETE /mags-workspaces/{id}: the workspace and its saved data. */
int mags_workspace_delete(struct mags_client *c, const char *id,
			  json_t **out, struct mags_err *err);

/* POST /mags-workspaces/{id}/resize {"disk_gb": N}: the workspace once
 * resized. (A server without the endpoint answers 404 or 405.) */
int mags_workspace_resize(struct mags_client *c, const char *id, int disk_gb,
			  json_t **out, struct mags_err *err);

/* POST /mags-url-aliases {"subdomain", "workspace_id"}: the alias
 * ({"subdomain", "workspace_id", "url"}). */
int mags_url_alias_create(struct mags_client *c, const char *subdomain,
			  const char *workspace_id, json_t **out,
			  struct mags_err *err);

/* GET /mags-url-aliases: {"aliases": [...]}. */
int mags_url_alias_list(struct mags_client *c, json_t **out,
			struct mags_err *err);

/* DELETE /mags-url-aliases/{subdomain}. */
int mags_url_alias_delete(struct mags_client *c, const char *subdomain,
			  json_t **out, struct mags_err *err);

/* POST /mags-cron with req ({"name", "cron_expression", "script",
 * "workspace_id"?, "persistent"?, "enabled"?}): the cron job, with "id". */
int mags_cron_create(struct mags_client *c, json_t *req, json_t **out,
		     struct mags_err *err);

/* GET /mags-cron: {"cron_jobs": [{"id", "name", "cron_expression",
 * "enabled", "next_run_at", "last_run_at", "last_status", ...}]}. */
int mags_cron_list(struct mags_client *c, json_t **out, struct mags_err *err);

/* GET /mags-cron/{id}: one cron job. */
int mags_cron_get(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err);

/* PATCH /mags-cron/{id} with fields (e.g. {"enabled": false}). */
int mags_cron_update(struct mags_client *c, const char *id, json_t *fields,
		     json_t **out, struct mags_err *err);

/* DELETE /mags-cron/{id}. */
int mags_cron_delete(struct mags_client *c, const char *id, json_t **out,
		     struct mags_err *err);

/* GET /mags-usage?window_days=N (0: the server's default): {"total_jobs",
 * "vm_seconds", ...}. */
int mags_usage(struct mags_client *c, int window_days, json_t **out,
	       struct mags_err *err);

/* True for "completed", "error" and "stopped". */
bool mags_status_is_terminal(const char *status);

#ifdef __cplusplus
}
#endif

#endif
