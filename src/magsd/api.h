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
/* api_access.c, api_aliases.c (issue 5) */
void api_access(struct http_req *req);
void api_aliases_create(struct http_req *req);
void api_aliases_list(struct http_req *req);
void api_aliases_delete(struct http_req *req);

#endif
