/*
 * api_session.c - browser sign-in and sign-out (see api_session.h).
 *
 * The token pasted into the sign-in page is used once, to open a session,
 * and never kept by the page: the browser holds an HttpOnly cookie that
 * page scripts cannot read, and the page keeps only the CSRF token in
 * memory (GET /session gives it back after a reload).
 */
#include "magsd/api_session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/auth.h"
#include "magsd/job.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "magsd/web.h"
#include "common/banned.h"

int api_session_is_login(const char *method, const char *url)
{
	struct route_params p;

	return !strcmp(method, "POST") && route_match(API_PREFIX "/session", url, &p);
}

int api_session_parse_login(const char *body, size_t n, char *out, size_t len,
			    struct mags_err *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	json_t *t;
	int r = 0;

	if (!o)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "invalid JSON: %s", jerr.text);
	t = json_is_object(o) ? json_object_get(o, "token") : NULL;
	if (!json_is_string(t) || !json_string_length(t))
		r = err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			    "the body must be {\"token\": \"<API token>\"}");
	else if (json_string_length(t) >= len)
		r = err_set(err, MAGS_E_UNAUTHORIZED, EACCES, "invalid API token");
	else
		snprintf(out, len, "%s", json_string_value(t));
	json_decref(o);
	return r;
}

static json_t *session_json(const struct store_ident *id, const char *csrf,
			    int64_t expires_at)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}",
			 "user", id->user_name, "user_id", id->user_id,
			 "token_id", id->token_id,
			 "csrf_token", csrf ? json_string(csrf) : json_null(),
			 "expires_at", expires_at ? job_json_time(expires_at) : json_null());
}

void api_session_create(struct http_req *req)
{
	struct store *st = req->srv->store;
	char token[128], hash[AUTH_HASH_HEX_LEN + 1], secret[AUTH_SESSION_LEN + 1];
	char sid[17], csrf[AUTH_HASH_HEX_LEN + 1], cookie[256];
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	struct store_ident ident;
	struct mags_err err;
	int64_t now = time_now_ms(), expires = now + (int64_t)WEB_SESSION_TTL_S * 1000;
	int r;

	/* a form on another site can post text/plain or urlencoded, never
	 * JSON: this closes login CSRF */
	if (!auth_content_type_json(ct)) {
		http_reply_errorf(req, MAGS_E_FORBIDDEN,
				  "sign-in needs Content-Type: application/json");
		return;
	}
	if (api_session_parse_login(req->body ? req->body : "", req->body_len, token,
				    sizeof(token), &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	if (!auth_token_well_formed(token)) {
		http_reply_errorf(req, MAGS_E_UNAUTHORIZED, "invalid API token");
		return;
	}
	auth_token_hash(token, hash);
	explicit_bzero(token, sizeof(token));
	r = store_token_auth(st, hash, &ident);
	if (r == -ENOENT) {
		http_reply_errorf(req, MAGS_E_UNAUTHORIZED, "invalid API token");
		return;
	}
	if (r < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "token lookup failed");
		return;
	}
	auth_session_new(secret, sid);
	auth_token_hash(secret, hash);
	if (store_session_add(st, sid, hash, &ident, now, expires, WEB_SESSIONS_PER_TOKEN,
			      &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	(void)store_token_touch(st, ident.token_id, now);
	auth_csrf_for(secret, csrf);
	web_session_cookie(cookie, sizeof(cookie), secret, WEB_SESSION_TTL_S,
			   web_request_https(req));
	explicit_bzero(secret, sizeof(secret));
	log_info("session %s opened for user '%s' with token %s", sid, ident.user_name,
		 ident.token_id);
	web_reply_json_cookie(req, 200, session_json(&ident, csrf, expires), cookie);
	explicit_bzero(cookie, sizeof(cookie));
}

void api_session_get(struct http_req *req)
{
	char secret[AUTH_SESSION_LEN + 2], hash[AUTH_HASH_HEX_LEN + 1];
	char csrf[AUTH_HASH_HEX_LEN + 1];
	const char *authz = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION);
	struct store_ident sess;
	int64_t expires = 0;

	/* the request was authenticated by its cookie only when it carried
	 * no Authorization header (auth_check_request's order) */
	if ((!authz || !*authz) && web_session_secret(req, secret, sizeof(secret)) == 0) {
		auth_token_hash(secret, hash);
		if (store_session_auth(req->srv->store, hash, time_now_ms(), &sess,
				       &expires) == 0) {
			auth_csrf_for(secret, csrf);
			http_reply_json(req, 200, session_json(&req->ident, csrf, expires));
			return;
		}
	}
	http_reply_json(req, 200, session_json(&req->ident, NULL, 0));
}

void api_session_delete(struct http_req *req)
{
	char secret[AUTH_SESSION_LEN + 2], hash[AUTH_HASH_HEX_LEN + 1], cookie[256];

	if (web_session_secret(req, secret, sizeof(secret)) == 0) {
		auth_token_hash(secret, hash);
		(void)store_session_delete(req->srv->store, hash);
	}
	web_session_cookie(cookie, sizeof(cookie), NULL, 0, web_request_https(req));
	web_reply_json_cookie(req, 200, json_pack("{s:b}", "signed_out", 1), cookie);
}
