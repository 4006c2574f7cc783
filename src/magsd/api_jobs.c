/*
 * api_jobs.c - /mags-jobs: submit, list, status, logs (and follow), stop.
 *
 * Another user's job answers exactly like a missing one (404 "job not
 * found"), so ids cannot be probed. Jobs with a workspace, a base, files or
 * persistent go through workspace.c (disk, lowers, syncs). A job that fails to start is still
 * accepted: the failure is the job's status, not an HTTP error (contract
 * §3.2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/api_validate.h"
#include "magsd/job.h"
#include "magsd/lifecycle.h"
#include "magsd/log.h"
#include "magsd/logs.h"
#include "magsd/proxy.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"
#include "magsd/workspace.h"
#include "common/banned.h"

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX 100
#define PAGE_MAX 1000000

void api_jobs_create(struct http_req *req)
{
	struct server *srv = req->srv;
	struct job_request jr;
	struct mags_err err;
	struct job job;
	char uuid[37];

	if (api_validate_job(req->body ? req->body : "", req->body_len,
			     srv->cfg->job_timeout, srv->cfg->max_disk_gb, &jr, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	if (supervisor_live_count(srv->sv) >= srv->cfg->max_jobs) {
		job_request_release(&jr);
		http_reply_errorf(req, MAGS_E_TOO_MANY,
				  "too many running jobs (limit %d); try again later",
				  srv->cfg->max_jobs);
		return;
	}
	if (srv->stopping) {
		job_request_release(&jr);
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "server is shutting down");
		return;
	}

	memset(&job, 0, sizeof(job));
	random_uuid(uuid);
	snprintf(job.id, sizeof(job.id), "%s", uuid);
	snprintf(job.user_id, sizeof(job.user_id), "%s", req->ident.user_id);
	snprintf(job.status, sizeof(job.status), "accepted");
	snprintf(job.type, sizeof(job.type), "%s", jr.type);
	job.name = jr.name;
	job.script = jr.script;
	job.environment = jr.env_json;
	job.timeout = jr.timeout;
	job.ephemeral = jr.ephemeral;
	job.network = jr.network ? xstrdup(jr.network) : NULL;
	job.created_at = time_now_ms();
	int with_ws = workspace_job_wanted(&jr);
	/* a live persistent sandbox holds the workspace: the run executes
	 * inside it as a new job (issue 4) */
	char holder[JOB_ID_MAX];
	if (jr.workspace && !jr.base && !jr.n_file_ids && !jr.startup_command && !jr.no_sleep &&
	    api_exec_live_holder(srv, job.user_id, jr.workspace, holder)) {
		job.workspace_id = xstrdup(jr.workspace);
		job.persistent = jr.persistent;
		job.no_sync = jr.no_sync;
		if (store_job_insert(srv->store, &job, &err) < 0 ||
		    api_exec_run_in(srv, &job, holder, (const char *const *)jr.env, jr.n_env,
				    &err) < 0) {
			(void)store_job_finish(srv->store, job.id, "error", -1, err.msg, time_now_ms());
			job.name = job.script = job.environment = NULL;
			job_release(&job);
			job_request_release(&jr);
			http_reply_error(req, &err);
			return;
		}
		job.name = job.script = job.environment = NULL;
		job_release(&job);
		job_request_release(&jr);
		http_reply_json(req, 200, json_pack("{s:s, s:s}", "request_id", job.id,
						    "status", "accepted"));
		return;
	}
	if (with_ws && workspace_job_prepare(srv->ws, &job, &jr, &err) < 0) {
		job.name = job.script = job.environment = NULL;
		job_release(&job);
		job_request_release(&jr);
		http_reply_error(req, &err);
		return;
	}
	if (store_job_insert(srv->store, &job, &err) < 0) {
		job.name = job.script = job.environment = NULL;
		job_release(&job);
		job_request_release(&jr);
		http_reply_error(req, &err);
		return;
	}
	log_info("job %s accepted for user '%s'%s%s", job.id, req->ident.user_name,
		 job.workspace_id ? " on workspace " : "", job.workspace_id ? job.workspace_id : "");
	if (with_ws) {
		workspace_job_launch(srv->ws, &job);
	} else if (supervisor_spawn(srv->sv, &job, jr.env, jr.n_env, NULL, &err) < 0) {
		log_warn("job %s: %s", job.id, err.msg);
		(void)store_job_finish(srv->store, job.id, "error", -1, err.msg, time_now_ms());
	}
	/* name, script, environment belong to jr */
	job.name = job.script = job.environment = NULL;
	job_release(&job);
	job_request_release(&jr);
	http_reply_json(req, 200, json_pack("{s:s, s:s}", "request_id", job.id,
					    "status", "accepted"));
}

/* A positive integer query argument, def if absent; -1 if malformed. */
static long query_int(struct http_req *req, const char *key, long def, long max)
{
	const char *v = http_query(req, key);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 1)
		return -1;
	return n > max ? max : n;
}

void api_jobs_list(struct http_req *req)
{
	struct server *srv = req->srv;
	long page = query_int(req, "page", 1, PAGE_MAX);
	long size = query_int(req, "page_size", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
	struct mags_err err;
	struct job *jobs;
	size_t n;
	int64_t total;
	json_t *arr;

	if (page < 0 || size < 0) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "'page' and 'page_size' must be positive integers");
		return;
	}
	/* filters for the dashboard: status=a[,b...] (any of) and q (a
	 * substring of name, workspace or id, at most 128 bytes) */
	const char *q = http_query(req, "q"), *stq = http_query(req, "status");
	const char *statuses[STORE_JOB_SEARCH_STATUSES];
	char stbuf[128];
	int n_st = 0;
	if (stq && *stq) {
		snprintf(stbuf, sizeof(stbuf), "%s", stq);
		for (char *p = stbuf, *e; p && n_st < STORE_JOB_SEARCH_STATUSES; p = e) {
			if ((e = strchr(p, ',')))
				*e++ = '\0';
			if (strcmp(p, "accepted") && strcmp(p, "running") && strcmp(p, "sleeping") &&
			    strcmp(p, "completed") && strcmp(p, "error") && strcmp(p, "stopped")) {
				http_reply_errorf(req, MAGS_E_BAD_REQUEST, "unknown 'status' '%.32s'", p);
				return;
			}
			statuses[n_st++] = p;
		}
	}
	if (q && strlen(q) > 128) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'q' is longer than 128 bytes");
		return;
	}
	if (store_job_search(srv->store, req->ident.user_id, statuses, n_st, q,
			     (int64_t)(page - 1) * size, (int)size, &jobs, &n, &total,
			     &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, job_to_json(&jobs[i], JOB_LIST_SCRIPT_MAX));
	store_job_list_free(jobs, n);
	http_reply_json(req, 200, json_pack("{s:o, s:i, s:i, s:I}", "jobs", arr,
					    "page", (int)page, "page_size", (int)size,
					    "total", (json_int_t)total));
}

/* The job named in the path (request id, job name or workspace name),
 * owned by the caller; replies 404 if not (api_exec.c). */
static int own_job(struct http_req *req, struct job *job)
{
	return api_jobs_own(req, job);
}

/* "url": the job's newest public URL, once /access made one (the
 * dashboard links it). */
static void add_public_url(struct http_req *req, json_t *o, const char *job_id)
{
	struct server *srv = req->srv;
	char sub[STORE_SUB_MAX + 1], url[512];
	int port;

	if (!srv->proxy || store_access_url_latest_port(srv->store, job_id, &port) < 0 ||
	    store_access_url_get(srv->store, job_id, port, sub) < 0)
		return;
	proxy_url(srv->proxy, sub, url, sizeof(url));
	json_object_set_new(o, "url", json_string(url));
}

void api_jobs_get(struct http_req *req)
{
	struct job job;
	json_t *o;

	if (own_job(req, &job) < 0)
		return;
	o = job_to_json(&job, 0);
	add_public_url(req, o, job.id);
	http_reply_json(req, 200, o);
	job_release(&job);
}

static int truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"));
}

void api_jobs_logs(struct http_req *req)
{
	struct server *srv = req->srv;
	struct mags_err err;
	struct job job;
	json_t *out;

	if (own_job(req, &job) < 0)
		return;
	if (truthy(http_query(req, "follow"))) {
		struct MHD_Response *resp = logs_follow(srv->logs, req->conn, job.id);
		job_release(&job);
		if (!resp) {
			http_reply_errorf(req, MAGS_E_INTERNAL, "could not start the log stream");
			return;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/x-ndjson");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
		http_reply_response(req, 200, resp);
		return;
	}
	_cleanup_free_ char *path = xasprintf("%s/jobs/%s/log", srv->cfg->data_dir, job.id);
	int final = !supervisor_is_live(srv->sv, job.id);
	job_release(&job);
	if (logs_read(path, LOGS_READ_MAX, final, &out, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	http_reply_json(req, 200, out);
}

void api_jobs_stop(struct http_req *req)
{
	struct server *srv = req->srv;
	struct job job;
	int r;

	if (own_job(req, &job) < 0)
		return;
	if (!strcmp(job.status, "sleeping") && !supervisor_is_live(srv->sv, job.id)) {
		/* asleep: no sandbox to stop (its last sync ran when it fell
		 * asleep); the local disk is let go */
		(void)store_job_finish(srv->store, job.id, "stopped",
				       job.has_exit_code ? job.exit_code : -1, NULL, time_now_ms());
		workspace_job_ended(srv->ws, job.id);
		lifecycle_on_end(srv, job.id);
		char sid[JOB_ID_MAX];
		snprintf(sid, sizeof(sid), "%s", job.id);
		job_release(&job);
		if (store_job_get(srv->store, sid, NULL, &job) < 0) {
			http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading job");
			return;
		}
	} else if (!job_status_terminal(job.status)) {
		r = supervisor_stop(srv->sv, job.id);
		/* a persistent workspace: answer after the final sync */
		if (r >= 0 && workspace_stop_wait(srv->ws, req, job.id)) {
			job_release(&job);
			return;
		}
		/* r == 1: it already reported its end; the reap records it */
		if (r != 1) {
			(void)store_job_finish(srv->store, job.id, "stopped",
					       job.has_exit_code ? job.exit_code : -1, NULL,
					       time_now_ms());
			char id[JOB_ID_MAX];
			snprintf(id, sizeof(id), "%s", job.id);
			job_release(&job);
			if (store_job_get(srv->store, id, NULL, &job) < 0) {
				http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading job");
				return;
			}
		}
	}
	http_reply_json(req, 200, job_to_json(&job, 0));
	job_release(&job);
}

void api_jobs_sync(struct http_req *req)
{
	struct job job;

	if (own_job(req, &job) < 0)
		return;
	workspace_sync_request(req->srv->ws, req, &job);
	job_release(&job);
}
