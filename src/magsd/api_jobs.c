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
#include "common/trace.h"
#include "magsd/api.h"
#include "magsd/api_validate.h"
#include "magsd/crashpoint.h"
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
	job.idle_timeout = jr.idle_timeout;
	job.created_at = time_now_ms();
	int with_ws = workspace_job_wanted(&jr);
	/* a live persistent sandbox holds the workspace: the run executes
	 * inside it as a new job (issue 4) */
	char holder[JOB_ID_MAX];
	if (jr.workspace && !jr.base && !jr.n_file_ids && !jr.startup_command && !jr.no_sleep &&
	    !jr.idle_timeout &&
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
	crashpoint("job-start:workspace-recorded");
	if (store_job_insert(srv->store, &job, &err) < 0) {
		job.name = job.script = job.environment = NULL;
		job_release(&job);
		job_request_release(&jr);
		http_reply_error(req, &err);
		return;
	}
	trace_mark('D', "job %s recorded", job.id);
	log_info("job %s accepted for user '%s'%s%s", job.id, req->ident.user_name,
		 job.workspace_id ? " on workspace " : "", job.workspace_id ? job.workspace_id : "");
	crashpoint("job-start:accepted");
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

/* A list cursor "<created_at>-<rowid>" (what next_cursor says): 0 and *c
 * filled, or -EINVAL if malformed. */
static int cursor_parse(const char *v, struct store_job_cursor *c)
{
	char *end;
	long long a, b;

	if (!v || strlen(v) > 41 || !(*v >= '0' && *v <= '9'))
		return -EINVAL;
	errno = 0;
	a = strtoll(v, &end, 10);
	if (errno || *end != '-' || !(end[1] >= '0' && end[1] <= '9'))
		return -EINVAL;
	b = strtoll(end + 1, &end, 10);
	if (errno || *end || a < 0 || b < 1)
		return -EINVAL;
	c->created_at = a;
	c->rowid = b;
	c->valid = 1;
	return 0;
}

/*
 * GET /mags-jobs: the caller's jobs, newest first, a page at a time. The
 * contract's page/page_size (§3.8) keep working; a client that walks the
 * list follows next_cursor (?cursor=), which costs the same at any depth
 * and neither skips nor repeats a job when new ones arrive meanwhile.
 */
void api_jobs_list(struct http_req *req)
{
	struct server *srv = req->srv;
	long page = query_int(req, "page", 1, PAGE_MAX);
	long size = query_int(req, "page_size", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
	struct store_job_filter f = { 0 };
	struct store_job_cursor after, next;
	struct mags_err err;
	struct job *jobs;
	size_t n;
	int64_t total;
	json_t *arr, *res;

	if (page < 0 || size < 0) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "'page' and 'page_size' must be positive integers");
		return;
	}
	/* filters for the dashboard: status=a[,b...] (any of) and q (a
	 * substring of name, workspace or id, at most 128 bytes); name (the
	 * exact job name or workspace) for clients resolving a name */
	const char *q = http_query(req, "q"), *stq = http_query(req, "status");
	const char *name = http_query(req, "name"), *cur = http_query(req, "cursor");
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
	if (name && strlen(name) > 128) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'name' is longer than 128 bytes");
		return;
	}
	if (cur && *cur) {
		if (cursor_parse(cur, &after) < 0) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST,
					  "'cursor' is not a next_cursor of this list");
			return;
		}
		if (page > 1) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST,
					  "'cursor' and 'page' cannot be combined");
			return;
		}
	} else {
		cur = NULL;
	}
	f.statuses = statuses;
	f.n_statuses = n_st;
	f.q = q;
	f.name = name;
	if (store_job_search(srv->store, req->ident.user_id, &f, cur ? &after : NULL,
			     (int64_t)(page - 1) * size, (int)size, &jobs, &n, &total,
			     &next, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, job_to_json(&jobs[i], JOB_LIST_SCRIPT_MAX));
	store_job_list_free(jobs, n);
	res = json_pack("{s:o, s:i, s:i, s:I}", "jobs", arr, "page", (int)page,
			"page_size", (int)size, "total", (json_int_t)total);
	if (next.valid) {
		char nc[48];
		snprintf(nc, sizeof(nc), "%lld-%lld", (long long)next.created_at,
			 (long long)next.rowid);
		json_object_set_new(res, "next_cursor", json_string(nc));
	} else {
		json_object_set_new(res, "next_cursor", json_null());
	}
	http_reply_json(req, 200, res);
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
		/* a workspace: answer once it is free (after the final sync
		 * if it syncs), so a resize or new job right after finds it free */
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
