/*
 * auth.h - API tokens: creation, hashing, and the check every request goes
 * through (a Bearer token, or a browser session cookie: see below).
 *
 * A token is "mags_" + 40 lowercase hex characters (160 random bits). Only
 * its sha256 (hex) is stored; the token id ("tok_" + 12 hex) names it in
 * lists and revocation without revealing it.
 */
#ifndef MAGS_MAGSD_AUTH_H
#define MAGS_MAGSD_AUTH_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/store.h"

#define AUTH_TOKEN_PREFIX "mags_"
#define AUTH_TOKEN_LEN (5 + 40)
#define AUTH_HASH_HEX_LEN 64

/* New token (out >= AUTH_TOKEN_LEN + 1) and token id (id_out >= 17). */
void auth_token_new(char *out, char *id_out);

/* 1 if s looks like a token (prefix, length, lowercase hex). */
int auth_token_well_formed(const char *s);

/* sha256 of token as 64 hex chars + NUL into hex_out (>= 65). */
void auth_token_hash(const char *token, char *hex_out);

/* The token in an Authorization header value: "Bearer <token>", scheme
 * case-insensitive, surrounding blanks ignored. Copies the token into out
 * (>= len bytes). 0, or -EINVAL if the header is absent or malformed. */
int auth_parse_bearer(const char *header, char *out, size_t len);

/* Check an Authorization header against the store: 0 and *ident filled, or
 * -EACCES with err = 401 "missing API token" / "invalid API token". */
int auth_check(struct store *st, const char *header, struct store_ident *ident,
	       struct mags_err *err);

/* ---- browser sessions (the dashboard) ----
 *
 * A session secret is 64 lowercase hex characters (256 random bits) sent
 * as the cookie AUTH_SESSION_COOKIE; only its sha256 is stored. Its CSRF
 * token is derived from it (sha256 of "mags-csrf:" + secret, hex), so the
 * server keeps nothing more and a page can ask for it again after a
 * reload. A cookie is ambient (the browser sends it on any same-site
 * request), so a cookie-authenticated request that changes state must also
 * carry X-CSRF-Token, and, if it has a body, Content-Type
 * application/json: neither can be produced by a form on another page. */
#define AUTH_SESSION_COOKIE "mags_session"
#define AUTH_SESSION_LEN 64
#define AUTH_CSRF_HEADER "X-CSRF-Token"

/* New session secret (out >= AUTH_SESSION_LEN + 1) and id (id_out >= 17). */
void auth_session_new(char *out, char *id_out);
int auth_session_well_formed(const char *s);
/* The CSRF token of a session secret into out (>= AUTH_HASH_HEX_LEN + 1). */
void auth_csrf_for(const char *session, char *out);

/* The value of cookie name in a Cookie header into out (< len bytes).
 * 0, or -ENOENT (absent, or too long). */
int auth_cookie_get(const char *header, const char *name, char *out, size_t len);

/* 1 if a Content-Type header value is application/json (parameters such
 * as "; charset=utf-8" allowed). */
int auth_content_type_json(const char *value);

/* What auth_check_request looks at: header values (NULL if absent). */
struct auth_request {
	const char *method;
	const char *authorization;
	const char *cookie;
	const char *csrf;
	const char *content_type;
	int has_body;
};

/* The Bearer token if there is an Authorization header, else the session
 * cookie (with the CSRF rules above for methods other than GET and HEAD),
 * else 401 "missing API token". 0 with *ident filled and *by_session set,
 * or -EACCES with err: 401 (no, bad, expired or revoked credentials) or
 * 403 (cookie without a valid CSRF token or with a non-JSON body). A use
 * of the token is recorded (store_token_touch). */
int auth_check_request(struct store *st, const struct auth_request *ar,
		       struct store_ident *ident, int *by_session,
		       struct mags_err *err);

#endif
