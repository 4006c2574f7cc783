/*
 * api.c - route table and request gatekeeping (see api.h). Authentication
 * comes first, for every path, so an unauthenticated client learns nothing
 * about which routes or jobs exist.
 */
#include "magsd/api.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api_session.h"
#include "magsd/api_tokens.h"
#include "magsd/auth.h"
#include "magsd/openapi.h"
#include "magsd/serve.h"
#include "magsd/web.h"
#include "common/banned.h"

static const struct api_route routes[] = {
	{ "POST", API_PREFIX "/mags-jobs", api_jobs_create, 1, NULL },
	{ "GET", API_PREFIX "/mags-jobs", api_jobs_list, 0, NULL },
	{ "GET", API_PREFIX "/mags-jobs/{id}/status", api_jobs_get, 0, NULL },
	{ "GET", API_PREFIX "/mags-jobs/{id}", api_jobs_get, 0, NULL },
	{ "GET", API_PREFIX "/mags-jobs/{id}/logs", api_jobs_logs, 0, NULL },
	{ "POST", API_PREFIX "/mags-jobs/{id}/stop", api_jobs_stop, 0, NULL },
	{ "POST", API_PREFIX "/mags-jobs/{id}/sync", api_jobs_sync, 0, NULL },
	/* long-lived sandboxes (issue 4: api_exec.c) */
	{ "POST", API_PREFIX "/mags-jobs/{id}/exec", api_jobs_exec, 1, NULL },
	{ "PATCH", API_PREFIX "/mags-jobs/{id}", api_jobs_update, 1, NULL },
	{ "GET", API_PREFIX "/mags-workspaces", api_workspaces_list, 0, NULL },
	{ "GET", API_PREFIX "/workspaces", api_workspaces_list, 0, NULL },
	{ "DELETE", API_PREFIX "/mags-workspaces/{id}", api_workspaces_delete, 0, NULL },
	{ "DELETE", API_PREFIX "/workspaces/{id}", api_workspaces_delete, 0, NULL },
	{ "POST", API_PREFIX "/mags-workspaces/{id}/resize", api_workspaces_resize, 1, NULL },
	{ "POST", API_PREFIX "/workspaces/{id}/resize", api_workspaces_resize, 1, NULL },
	{ "POST", API_PREFIX "/mags-files", api_files_upload, API_BODY_STREAM, api_files_stream },
	{ "GET", API_PREFIX "/whoami", api_whoami, 0, NULL },
	{ "POST", API_PREFIX "/mags-cron", api_cron_create, 1, NULL },
	{ "GET", API_PREFIX "/mags-cron", api_cron_list, 0, NULL },
	{ "GET", API_PREFIX "/mags-cron/{id}", api_cron_get, 0, NULL },
	{ "PATCH", API_PREFIX "/mags-cron/{id}", api_cron_update, 1, NULL },
	{ "DELETE", API_PREFIX "/mags-cron/{id}", api_cron_delete, 0, NULL },
	{ "POST", API_PREFIX "/mags-cron/{id}/run", api_cron_run, 1, NULL },
	{ "POST", API_PREFIX "/cron-jobs", api_cron_create, 1, NULL },
	{ "GET", API_PREFIX "/cron-jobs", api_cron_list, 0, NULL },
	{ "GET", API_PREFIX "/cron-jobs/{id}", api_cron_get, 0, NULL },
	{ "PATCH", API_PREFIX "/cron-jobs/{id}", api_cron_update, 1, NULL },
	{ "DELETE", API_PREFIX "/cron-jobs/{id}", api_cron_delete, 0, NULL },
	{ "POST", API_PREFIX "/cron-jobs/{id}/run", api_cron_run, 1, NULL },
	{ "GET", API_PREFIX "/mags-usage", api_usage, 0, NULL },
	{ "GET", API_PREFIX "/usage", api_usage, 0, NULL },
	/* dashboard (issue 10): browser sessions and the user's own tokens */
	{ "POST", API_PREFIX "/session", api_session_create, 1, NULL },
	{ "GET", API_PREFIX "/session", api_session_get, 0, NULL },
	{ "DELETE", API_PREFIX "/session", api_session_delete, 0, NULL },
	{ "GET", API_PREFIX "/tokens", api_tokens_list, 0, NULL },
	{ "POST", API_PREFIX "/tokens", api_tokens_create, 1, NULL },
	{ "DELETE", API_PREFIX "/tokens/{id}", api_tokens_revoke, 0, NULL },
	/* public URLs, SSH, URL aliases (issue 5: api_access.c, api_aliases.c) */
	{ "POST", API_PREFIX "/mags-jobs/{id}/access", api_access, 1, NULL },
	{ "POST", API_PREFIX "/mags-url-aliases", api_aliases_create, 1, NULL },
	{ "GET", API_PREFIX "/mags-url-aliases", api_aliases_list, 0, NULL },
	{ "DELETE", API_PREFIX "/mags-url-aliases/{id}", api_aliases_delete, 0, NULL },
	{ "POST", API_PREFIX "/url-aliases", api_aliases_create, 1, NULL },
	{ "GET", API_PREFIX "/url-aliases", api_aliases_list, 0, NULL },
	{ "DELETE", API_PREFIX "/url-aliases/{id}", api_aliases_delete, 0, NULL },
	/* the API's own description, public (openapi.h) */
	{ "GET", API_PREFIX "/openapi.json", api_openapi, 0, NULL },
};

const struct api_route *api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

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
	int known;

	/* a Bearer token, or a browser session cookie with its CSRF header
	 * (web.c, auth.c); signing in and the API's description (openapi.h)
	 * are the requests without either */
	if (!api_session_is_login(req->method, req->url) &&
	    !openapi_is_public(req->method, req->url) &&
	    web_authenticate(req, &err) < 0) {
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
