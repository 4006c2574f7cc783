/*
 * job.h - a job as the store keeps it and the API shows it.
 *
 * Times are unix milliseconds, 0 meaning "not yet" (null in JSON). Strings
 * are malloc'd and owned by the struct; job_release() frees them.
 */
#ifndef MAGS_MAGSD_JOB_H
#define MAGS_MAGSD_JOB_H

#include <jansson.h>
#include <stdint.h>

#define JOB_ID_MAX 64          /* request ids are UUIDs (36 chars) */
#define JOB_LIST_SCRIPT_MAX (64 * 1024)

struct job {
	char id[JOB_ID_MAX];
	char user_id[32];
	char status[16];       /* accepted running completed error stopped */
	char type[16];         /* inline | file */
	char *name;            /* NULL if none */
	char *workspace_id;    /* NULL if none */
	char *error_message;   /* NULL if none */
	char *script;
	char *environment;     /* JSON object text, NULL if none */
	int has_exit_code;
	int exit_code;
	int64_t created_at;
	int64_t started_at;
	int64_t finished_at;
	int persistent;
	int ephemeral;
	int timeout;           /* seconds */
	/* workspace fields (issue 3) */
	char *base_workspace_id;  /* NULL if none */
	char *startup_command;    /* NULL if none */
	char *file_ids;           /* JSON array text, NULL if none */
	int no_sync;
	int no_sleep;
	int disk_gb;              /* 0 if no workspace */
	int idle_timeout;         /* seconds before a persistent job sleeps;
	                           * 0 = the server's idle_timeout */
	/* sandbox network (issue 5): NULL = the default (nat), "nat", "none",
	 * "allow:<cidr>,..." (api_validate.h); not shown by the API */
	char *network;
};

/* Free the strings of a job (not the struct). NULL-safe. */
void job_release(struct job *job);

/* 1 for completed, error and stopped. */
int job_status_terminal(const char *status);

/* The API object: request_id, name, workspace_id, status, exit_code,
 * error_message, created_at, started_at, finished_at, duration_ms,
 * persistent, type, script (and ephemeral, timeout, base_workspace_id,
 * no_sync, no_sleep, disk_gb, startup_command, idle_timeout: null for the
 * server's default). With script_max > 0 a longer script is cut to
 * script_max bytes (at a UTF-8 boundary) and "script_truncated": true is
 * added. Returns a new reference. */
json_t *job_to_json(const struct job *job, size_t script_max);

/* A JSON string for bytes that may not be valid UTF-8: every invalid
 * sequence becomes U+FFFD. Never NULL. */
json_t *job_json_string(const char *s, size_t len);

/* ISO 8601 time or null for 0. */
json_t *job_json_time(int64_t ms);

#endif
