/*
 * api_workspaces.c - /mags-workspaces (and the [003] alias /workspaces):
 * list, delete, resize. The work is workspace.c's; this file maps the
 * routes. Another user's workspace is 404, the same as a missing one.
 */
#include "magsd/api.h"
#include "magsd/serve.h"
#include "magsd/workspace.h"
#include "common/banned.h"

void api_workspaces_list(struct http_req *req)
{
	workspace_list_request(req->srv->ws, req);
}

void api_workspaces_delete(struct http_req *req)
{
	workspace_delete_request(req->srv->ws, req, req->params.v[0]);
}

void api_workspaces_resize(struct http_req *req)
{
	workspace_resize_request(req->srv->ws, req, req->params.v[0]);
}
