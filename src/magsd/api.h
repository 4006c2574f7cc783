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

struct api_route {
	const char *method;
	const char *pattern;     /* see route.h */
	api_handler_fn fn;
	int body;                /* reads a request body */
};

/* The route for method and path, params filled; NULL if none. *path_known
 * is set to 1 when some route has this path with another method (405). */
const struct api_route *api_route_find(const char *method, const char *path,
				       struct route_params *params, int *path_known);

/* Headers are in: authenticate, route. Replies itself on failure and
 * returns 0; returns 1 if the route reads a body, 0 otherwise. */
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

#endif
