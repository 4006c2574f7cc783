/*
 * client.c - struct mags_client and the generic JSON request every typed
 * call is built on: serialise the body, send it, map an error answer to a
 * struct mags_err carrying the server's own message.
 */
#include "libmags/client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "mags/mags.h"
#include "common/banned.h"

#define API_PREFIX "/api/v1"

struct mags_client *mags_client_new(const char *url, const char *token,
				    struct mags_err *err)
{
	struct mags_client *c = xcalloc(1, sizeof(*c));

	if (url_parse(url ? url : MAGS_DEFAULT_URL, &c->url, err) < 0) {
		free(c);
		return NULL;
	}
	if (token && *token) {
		for (const char *p = token; *p; p++) {
			if ((unsigned char)*p <= ' ' || *p == 0x7f) {
				url_release(&c->url);
				free(c);
				err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					"the API token contains a space or control character");
				return NULL;
			}
		}
		c->token = xstrdup(token);
	}
	c->connect_ms = 10000;
	c->read_ms = 120000;
	return c;
}

void mags_client_free(struct mags_client *c)
{
	if (!c)
		return;
	url_release(&c->url);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

const char *mags_client_url(const struct mags_client *c)
{
	return c->url.text;
}

int mags_client_last_status(const struct mags_client *c)
{
	return c->last_status;
}

void mags_client_set_cancel(struct mags_client *c, volatile sig_atomic_t *flag)
{
	c->cancel = flag;
}

void mags_client_set_timeouts(struct mags_client *c, int connect_ms, int read_ms)
{
	c->connect_ms = connect_ms;
	c->read_ms = read_ms;
}

int client_send(struct mags_client *c, const char *method, const char *path,
		const char *body, http_body_cb cb, void *arg,
		struct http_resp *resp, struct mags_err *err)
{
	struct http_req req = {
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};

	return client_send_req(c, method, path, &req, cb, arg, resp, err);
}

int client_send_req(struct mags_client *c, const char *method,
		    const char *path, const struct http_req *body,
		    http_body_cb cb, void *arg, struct http_resp *resp,
		    struct mags_err *err)
{
	_cleanup_free_ char *target = xasprintf(API_PREFIX "%s", path);
	struct http_req req = *body;
	struct http_opts opts = {
		.connect_ms = c->connect_ms,
		.read_ms = cb ? 0 : c->read_ms,
		.cancel = c->cancel,
	};
	int r;

	req.method = method;
	req.target = target;
	req.token = c->token;
	if (!req.accept)
		req.accept = cb ? "application/x-ndjson, application/json" : NULL;
	http_resp_init(resp, cb, arg, 0);
	c->last_status = 0;
	r = http_do(&c->url, &req, &opts, resp, err);
	c->last_status = resp->status;
	return r;
}

static int status_code(int status)
{
	switch (status) {
	case 400: return MAGS_E_BAD_REQUEST;
	case 401: return MAGS_E_UNAUTHORIZED;
	case 403: return MAGS_E_FORBIDDEN;
	case 404: return MAGS_E_NOT_FOUND;
	case 409: return MAGS_E_CONFLICT;
	case 413: return MAGS_E_TOO_LARGE;
	case 429: return MAGS_E_TOO_MANY;
	case 502: case 503: case 504: return MAGS_E_UNAVAILABLE;
	default: return MAGS_E_INTERNAL;
	}
}

int client_http_error(int status, const char *body, size_t len,
		      struct mags_err *err)
{
	int code = status_code(status);
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *msg = json_object_get(j, "error");

	if (json_is_string(msg) && json_string_length(msg) > 0) {
		err_set(err, code, EPROTO, "%s", json_string_value(msg));
	} else if (json_is_object(msg) && json_is_string(json_object_get(msg, "message"))) {
		err_set(err, code, EPROTO, "%s",
			json_string_value(json_object_get(msg, "message")));
	} else if (!j && body && len > 0 && len < 200 && !memchr(body, '<', len)) {
		/* A short plain-text answer (a proxy, an old server): show it. */
		size_t n = len;

		while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r'))
			n--;
		err_set(err, code, EPROTO, "server answered HTTP %d: %.*s", status,
			(int)n, body);
	} else {
		err_set(err, code, EPROTO, "server answered HTTP %d", status);
	}
	json_decref(j);
	return -EPROTO;
}

int mags_request(struct mags_client *c, const char *method, const char *path,
		 json_t *body, json_t **out, int *status, struct mags_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct http_resp resp;
	int r;

	if (out)
		*out = NULL;
	if (status)
		*status = 0;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "request body cannot be encoded as JSON");
	}
	r = client_send(c, method, path, text, NULL, NULL, &resp, err);
	if (status)
		*status = resp.status;
	r = client_json_result(&resp, r, out, err);
	http_resp_release(&resp);
	return r;
}

int client_json_result(struct http_resp *resp, int r, json_t **out,
		       struct mags_err *err)
{
	json_t *j = NULL;
	json_error_t jerr;

	if (out)
		*out = NULL;
	if (r < 0)
		goto out;
	if (resp->body_len > 0) {
		j = json_loadb(resp->body, resp->body_len, JSON_ALLOW_NUL, &jerr);
		if (!j && resp->status >= 200 && resp->status < 300) {
			r = err_set(err, MAGS_E_INTERNAL, EPROTO,
				    "bad JSON from server (HTTP %d): %s",
				    resp->status, jerr.text);
			goto out;
		}
	} else if (resp->status >= 200 && resp->status < 300) {
		j = json_null();
	}
	if (resp->status < 200 || resp->status >= 300)
		r = client_http_error(resp->status, resp->body, resp->body_len, err);
	if (out) {
		*out = j;
		j = NULL;
	}
out:
	json_decref(j);
	return r;
}

int client_call_object(struct mags_client *c, const char *method,
		       const char *path, json_t *body, bool allow_empty,
		       json_t **out, const char *what, struct mags_err *err)
{
	json_t *o = NULL;
	int r = mags_request(c, method, path, body, &o, NULL, err);

	if (r == 0 && allow_empty && json_is_null(o)) {
		json_decref(o);
		o = json_object();
	}
	if (r == 0 && !json_is_object(o))
		r = err_set(err, MAGS_E_INTERNAL, EPROTO,
			    "unexpected answer from server for %s", what);
	if (r < 0) {
		json_decref(o);
		o = NULL;
	}
	if (out)
		*out = o;
	else
		json_decref(o);
	return r;
}

int client_check_param(const char *s, const char *what, struct mags_err *err)
{
	if (!s || !*s)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no %s given", what);
	if (strlen(s) > 256)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "%s too long", what);
	return 0;
}
