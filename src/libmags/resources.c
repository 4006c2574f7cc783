/*
 * resources.c - the typed calls of libmags on what is not a job:
 * workspaces, URL aliases, cron jobs and usage. Thin layers over
 * mags_request that build the path (DECISIONS D1) and insist on a JSON
 * object as the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "libmags/client.h"
#include "libmags/url.h"
#include "mags/mags.h"
#include "common/banned.h"

/* METHOD <base>/<escaped param>. */
static int call_one(struct mags_client *c, const char *method,
		    const char *base, const char *param, const char *what,
		    json_t *body, json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;

	if (out)
		*out = NULL;
	if (client_check_param(param, what, err) < 0)
		return -EINVAL;
	seg = url_escape_segment(param);
	path = xasprintf("%s/%s", base, seg);
	return client_call_object(c, method, path, body, true, out, what, err);
}

int mags_workspace_list(struct mags_client *c, json_t **out,
			struct mags_err *err)
{
	return client_call_object(c, "GET", "/mags-workspaces", NULL, false, out,
				  "workspace list", err);
}

int mags_workspace_delete(struct mags_client *c, const char *id,
			  json_t **out, struct mags_err *err)
{
	return call_one(c, "DELETE", "/mags-workspaces", id, "workspace id",
			NULL, out, err);
}

int mags_workspace_resize(struct mags_client *c, const char *id, int disk_gb,
			  json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *body;
	int r;

	if (out)
		*out = NULL;
	if (client_check_param(id, "workspace id", err) < 0)
		return -EINVAL;
	if (disk_gb < 1)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "disk size must be at least 1 GB");
	seg = url_escape_segment(id);
	path = xasprintf("/mags-workspaces/%s/resize", seg);
	body = json_pack("{s:i}", "disk_gb", disk_gb);
	r = client_call_object(c, "POST", path, body, true, out, "workspace resize", err);
	json_decref(body);
	return r;
}

int mags_url_alias_create(struct mags_client *c, const char *subdomain,
			  const char *workspace_id, json_t **out,
			  struct mags_err *err)
{
	json_t *body;
	int r;

	if (out)
		*out = NULL;
	if (client_check_param(subdomain, "subdomain", err) < 0 ||
	    client_check_param(workspace_id, "workspace", err) < 0)
		return -EINVAL;
	body = json_pack("{s:s, s:s}", "subdomain", subdomain,
			 "workspace_id", workspace_id);
	r = client_call_object(c, "POST", "/mags-url-aliases", body, true, out,
			       "URL alias", err);
	json_decref(body);
	return r;
}

int mags_url_alias_list(struct mags_client *c, json_t **out,
			struct mags_err *err)
{
	return client_call_object(c, "GET", "/mags-url-aliases", NULL, false,
				  out, "URL alias list", err);
}

int mags_url_alias_delete(struct mags_client *c, const char *subdomain,
			  json_t **out, struct mags_err *err)
{
	return call_one(c, "DELETE", "/mags-url-aliases", subdomain, "subdomain",
			NULL, out, err);
}

int mags_cron_create(struct mags_client *c, json_t *req, json_t **out,
		     struct mags_err *err)
{
	if (out)
		*out = NULL;
	if (!json_is_object(req))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "cron request must be a JSON object");
	return client_call_object(c, "POST", "/mags-cron", req, false, out,
				  "cron create", err);
}

int mags_cron_list(struct mags_client *c, json_t **out, struct mags_err *err)
{
	return client_call_object(c, "GET", "/mags-cron", NULL, false, out,
				  "cron list", err);
}

int mags_cron_get(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err)
{
	return call_one(c, "GET", "/mags-cron", id, "cron job id", NULL, out, err);
}

int mags_cron_update(struct mags_client *c, const char *id, json_t *fields,
		     json_t **out, struct mags_err *err)
{
	if (out)
		*out = NULL;
	if (!json_is_object(fields))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "cron update must be a JSON object");
	return call_one(c, "PATCH", "/mags-cron", id, "cron job id", fields, out,
			err);
}

int mags_cron_delete(struct mags_client *c, const char *id, json_t **out,
		     struct mags_err *err)
{
	return call_one(c, "DELETE", "/mags-cron", id, "cron job id", NULL, out,
			err);
}

int mags_usage(struct mags_client *c, int window_days, json_t **out,
	       struct mags_err *err)
{
	char path[64];

	if (window_days > 0)
		snprintf(path, sizeof(path), "/mags-usage?window_days=%d", window_days);
	else
		snprintf(path, sizeof(path), "/mags-usage");
	return client_call_object(c, "GET", path, NULL, false, out, "usage", err);
}
