/*
 * api.h - the REST API's route table and the checks every request passes
 * (Bearer token, route, method) before its handler runs. One file per
 * resource holds the handlers: api_jobs.c, api_whoami.c.
 */
#ifndef MAGS_MAGSD_API_H
#define MAGS_MAGSD_API_H

#include "magsd/http.h"
#include "magsd/route.h"

#define API_PREFIX "/api/v1"

typedef void (*api_handler_fn)(struct http_req *req);
/* A chunk of a streamed body: 0, or < 0 to hang up. */
typedef int (*api_stream_fn)(struct http_req *req, const char *data, size_t n);

#define API_BODY_NONE 0
#define API_BODY_JSON 1      /* buffered up to max_body */
#define API_BODY_STREAM 2    /* handed to stream chunk by chunk, never buffered */

struct api_route {
	const char *method;
	const char *pattern;     /* see route.h */
	api_handler_fn fn;       /* runs once the body is complete */
	int body;                /* API_BODY_* */
	api_stream_fn stream;    /* API_BODY_STREAM only */
};

/* The route for method and path, params filled; NULL if none. *path_known
 * is set to 1 when some route has this path with another method (405). */
const struct api_route *api_route_find(const char *method, const char *path,
				       struct route_params *params, int *path_known);

/* The whole route table (for `magsd routes` and the OpenAPI checks). */
const struct api_route *api_routes(size_t *n);

/* Headers are in: authenticate, route. Replies itself on failure and
 * returns 0; returns the route's API_BODY_* otherwise. */
int api_begin(struct http_req *req);

/* Body complete: run the handler. */
void api_dispatch(struct http_req *req);

/* Handlers. */
void api_jobs_create(struct http_req *req);
void api_jobs_list(struct http_req *req);
void api_jobs_get(struct http_req *req);
void api_jobs_logs(struct http_req *req);
void api_jobs_stop(struct http_req *req);
void api_whoami(struct http_req *req);
void api_jobs_sync(struct http_req *req);
void api_workspaces_list(struct http_req *req);
void api_workspaces_delete(struct http_req *req);
void api_workspaces_resize(struct http_req *req);
void api_files_upload(struct http_req *req);
int api_files_stream(struct http_req *req, const char *data, size_t n);
/* api_cron.c, api_usage.c (issue 6) */
void api_cron_create(struct http_req *req);
void api_cron_list(struct http_req *req);
void api_cron_get(struct http_req *req);
void api_cron_update(struct http_req *req);
void api_cron_delete(struct http_req *req);
void api_cron_run(struct http_req *req);
void api_usage(struct http_req *req);
/* api_exec.c (issue 4): exec, PATCH, name resolution, runs on a live
 * workspace */
void api_jobs_exec(struct http_req *req);
void api_jobs_update(struct http_req *req);
/* The job named by the path's {id}: a request id, a job name or a
 * workspace name, the caller's own jobs only, a live job first. Replies
 * 404 (or 500) and returns < 0 if none; touches the job (lifecycle). */
int api_jobs_own(struct http_req *req, struct job *job);
/* 1 if a live (running or sleeping) persistent job of the user holds the
 * workspace; its id in job_id. */
int api_exec_live_holder(struct server *srv, const char *user_id, const char *workspace,
			 char job_id[JOB_ID_MAX]);
/* Run the stored (accepted) job run inside holder's sandbox, waking it if
 * needed: its output goes to run's log, its end to run's status. */
int api_exec_run_in(struct server *srv, const struct job *run, const char *holder,
		    const char *const *env, size_t n_env, struct mags_err *err);
/* Daemon shutdown: end every exec in flight (before MHD stops). */
void api_exec_shutdown(struct server *srv);
/* Execs whose client hung up are ended (checked once a second). */
int api_exec_next_timeout(int64_t now);
void api_exec_tick(struct server *srv, int64_t now);
/* api_access.c, api_aliases.c (issue 5) */
void api_access(struct http_req *req);
void api_aliases_create(struct http_req *req);
void api_aliases_list(struct http_req *req);
void api_aliases_delete(struct http_req *req);

#endif
