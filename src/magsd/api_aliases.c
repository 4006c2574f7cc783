/*
 * api_aliases.c - URL aliases (contract §1.14, §3.14, DECISIONS D1, D10):
 * POST, GET /mags-url-aliases and DELETE /mags-url-aliases/{subdomain}
 * (also under /url-aliases). An alias is a chosen subdomain, unique across
 * the server (409 when taken, also by a job's URL), naming one of the
 * caller's workspaces; http://<alias>.<url_domain>:<proxy port>/ then
 * reaches that workspace's live job (proxy.c). Names are DNS labels
 * (1-63 of [a-z0-9-], no '-' at either end; upper case is folded). A user
 * sees and deletes only their own (another user's is a 404).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/api_validate.h"
#include "magsd/proxy.h"
#include "magsd/serve.h"
#include "common/banned.h"

#define ALIASES_PER_USER 100

static json_t *alias_json(struct server *srv, const struct store_alias *a)
{
	char url[400];

	if (srv->proxy)
		proxy_url(srv->proxy, a->subdomain, url, sizeof(url));
	else
		snprintf(url, sizeof(url), "http://%s.%s/", a->subdomain, srv->cfg->url_domain);
	return json_pack("{s:s, s:s, s:s, s:o}", "subdomain", a->subdomain, "workspace_id",
			 a->workspace_id, "url", url, "created_at", job_json_time(a->created_at));
}

static const char *str_field(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (!v && b)
		v = json_object_get(o, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

void api_aliases_create(struct http_req *req)
{
	struct server *srv = req->srv;
	struct store_workspace ws;
	struct store_access_url u;
	struct store_alias a;
	struct mags_err err;
	json_error_t jerr;
	char live[JOB_ID_MAX];
	const char *sub, *wsid;
	json_t *o;
	size_t n;
	int r;

	o = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "the body must be a JSON object");
		return;
	}
	sub = str_field(o, "subdomain", "alias");
	wsid = str_field(o, "workspace_id", "workspace");
	memset(&a, 0, sizeof(a));
	n = sub ? strlen(sub) : 0;
	if (!sub || n < 1 || n > STORE_SUB_MAX) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "'subdomain' must be a DNS label of 1 to 63 characters");
		goto out;
	}
	for (size_t i = 0; i <= n; i++)
		a.subdomain[i] = (char)tolower((unsigned char)sub[i]);
	if (!proxy_label_valid(a.subdomain)) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "'subdomain' must be letters, digits and '-' (not at either end)");
		goto out;
	}
	if (!wsid || !api_validate_workspace_name(wsid, strlen(wsid))) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'workspace_id' must be a workspace name");
		goto out;
	}
	snprintf(a.workspace_id, sizeof(a.workspace_id), "%s", wsid);
	snprintf(a.user_id, sizeof(a.user_id), "%s", req->ident.user_id);
	if (store_ws_get(srv->store, a.user_id, a.workspace_id, &ws) < 0 &&
	    store_job_live_for_workspace(srv->store, a.user_id, a.workspace_id, live) < 0) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "workspace '%s' not found", a.workspace_id);
		goto out;
	}
	if (store_access_url_find(srv->store, a.subdomain, &u) == 0) {
		http_reply_errorf(req, MAGS_E_CONFLICT, "alias '%s' is taken", a.subdomain);
		goto out;
	}
	r = store_alias_count(srv->store, a.user_id);
	if (r >= ALIASES_PER_USER) {
		http_reply_errorf(req, MAGS_E_TOO_MANY, "at most %d URL aliases per user",
				  ALIASES_PER_USER);
		goto out;
	}
	a.created_at = time_now_ms();
	err_clear(&err);
	if (store_alias_add(srv->store, &a, &err) < 0) {
		http_reply_error(req, &err);
		goto out;
	}
	http_reply_json(req, 200, alias_json(srv, &a));
out:
	json_decref(o);
}

struct list_ctx {
	struct server *srv;
	json_t *arr;
};

static void add_one(const struct store_alias *a, void *arg)
{
	struct list_ctx *lc = arg;

	json_array_append_new(lc->arr, alias_json(lc->srv, a));
}

void api_aliases_list(struct http_req *req)
{
	struct list_ctx lc = { req->srv, json_array() };
	struct mags_err err;

	err_clear(&err);
	if (store_alias_list(req->srv->store, req->ident.user_id, add_one, &lc, &err) < 0) {
		json_decref(lc.arr);
		http_reply_error(req, &err);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "aliases", lc.arr));
}

void api_aliases_delete(struct http_req *req)
{
	char sub[STORE_SUB_MAX + 1];
	size_t n = strlen(req->params.v[0]);
	int r;

	if (n > STORE_SUB_MAX) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "alias not found");
		return;
	}
	for (size_t i = 0; i <= n; i++)
		sub[i] = (char)tolower((unsigned char)req->params.v[0][i]);
	r = store_alias_delete(req->srv->store, sub, req->ident.user_id);
	if (r == -ENOENT) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "alias not found");
		return;
	}
	if (r < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error deleting alias");
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s, s:b}", "subdomain", sub, "deleted", 1));
}
