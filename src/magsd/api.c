/*
 * api.c - route table and request gatekeeping (see api.h). Authentication
 * comes first, for every path, so an unauthenticated client learns nothing
 * about which routes or jobs exist.
 */
#include "magsd/api.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/auth.h"
#include "magsd/serve.h"
#include "common/banned.h"

static const struct api_route routes[] = {
	{ "POST", API_PREFIX "/mags-jobs", api_jobs_create, 1 },
	{ "GET", API_PREFIX "/mags-jobs", api_jobs_list, 0 },
	{ "GET", API_PREFIX "/mags-jobs/{id}/status", api_jobs_get, 0 },
	{ "GET", API_PREFIX "/mags-jobs/{id}", api_jobs_get, 0 },
	{ "GET", API_PREFIX "/mags-jobs/{id}/logs", api_jobs_logs, 0 },
	{ "POST", API_PREFIX "/mags-jobs/{id}/stop", api_jobs_stop, 0 },
	{ "GET", API_PREFIX "/whoami", api_whoami, 0 },
};

const struct api_route *api_route_find(const char *method, const char *path,
				       struct route_params *params, int *path_known)
{
	*path_known = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!route_match(routes[i].pattern, path, params))
			continue;
		if (!strcmp(routes[i].method, method))
			return &routes[i];
		*path_known = 1;
	}
	return NULL;
}

int api_begin(struct http_req *req)
{
	struct mags_err err;
	const char *hdr = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_AUTHORIZATION);
	int known;

	if (auth_check(req->srv->store, hdr, &req->ident, &err) < 0) {
		http_reply_error(req, &err);
		return 0;
	}
	req->route = api_route_find(req->method, req->url, &req->params, &known);
	if (!req->route) {
		if (known) {
			char msg[300];
			snprintf(msg, sizeof(msg), "method %.16s not allowed on '%.200s'",
				 req->method, req->url);
			http_reply_status(req, 405, "method_not_allowed", msg);
		} else {
			http_reply_errorf(req, MAGS_E_NOT_FOUND, "no route for %.16s '%.200s'",
					  req->method, req->url);
		}
		return 0;
	}
	return req->route->body;
}

void api_dispatch(struct http_req *req)
{
	req->route->fn(req);
}
