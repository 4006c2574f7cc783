/*
 * web.h - the dashboard's side of magsd: the static files of the web UI
 * (every GET or HEAD outside /api/), and the request-level glue of browser
 * sessions (reading the cookie and CSRF headers of a request, setting the
 * cookie in an answer). The rules themselves are auth.h's.
 *
 * The files come from a directory: the `web_dir` setting, else the first of
 * BINDIR/../share/mags/web (installed) and BINDIR/../../web (the source
 * tree, BINDIR being build/bin). Only regular files under it are served,
 * never through a symlink, '..' or a dot-file; everything is answered with
 * a strict Content-Security-Policy (default-src 'self'), nosniff and
 * X-Frame-Options: DENY.
 */
#ifndef MAGS_MAGSD_WEB_H
#define MAGS_MAGSD_WEB_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "magsd/http.h"

/* How long a browser session lasts (absolute, from sign-in). */
#define WEB_SESSION_TTL_S (12 * 3600)
/* Sessions one token may hold; the oldest go first. */
#define WEB_SESSIONS_PER_TOKEN 32

/* 1 if the request is for the dashboard's files (GET/HEAD, not /api/). */
int web_wants(const char *method, const char *url);

/* Answer a web_wants() request from the web directory. */
void web_serve(struct http_req *req);

/* Authenticate an API request by Bearer token or session cookie (see
 * auth_check_request): 0 with req->ident filled, or negative with err. */
int web_authenticate(struct http_req *req, struct mags_err *err);

/* The session secret in the request's cookie, if well-formed: 0, or
 * -ENOENT. out >= AUTH_SESSION_LEN + 2. */
int web_session_secret(struct http_req *req, char *out, size_t len);

/* 1 if the request came over https (directly, or X-Forwarded-Proto). */
int web_request_https(struct http_req *req);

/* Reply JSON like http_reply_json, adding a Set-Cookie header (NULL =
 * none). Takes the reference to obj. */
void web_reply_json_cookie(struct http_req *req, unsigned status, json_t *obj,
			   const char *set_cookie);

/* The Set-Cookie value for a session secret (secret NULL = delete the
 * cookie) into buf. */
void web_session_cookie(char *buf, size_t len, const char *secret, int max_age_s,
			int secure);

/* Pure helpers, exposed for unit tests. */
/* 1 if path (a URL path as received, starting with '/') may name a file
 * under the web directory: '/'-separated segments of [A-Za-z0-9._-],
 * none starting with '.', at most WEB_PATH_MAX bytes. */
#define WEB_PATH_MAX 200
int web_path_ok(const char *path);
/* The file a path maps to ("/" and the app's page paths -> "index.html"),
 * or NULL if it is not servable. */
const char *web_path_file(const char *path);
/* The Content-Type for a file name (by extension). */
const char *web_content_type(const char *name);

#endif
