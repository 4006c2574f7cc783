/*
 * api_session.h - /session: a browser signs in by exchanging an API token
 * for a session cookie (POST), asks who it is and for its CSRF token again
 * after a reload (GET), and signs out (DELETE). See auth.h for the rules
 * of cookies and CSRF, web.h for the cookie's attributes.
 *
 *   POST   /api/v1/session {"token": "mags_..."}   (no other auth needed;
 *          Content-Type must be application/json, so no HTML form on
 *          another site can sign a browser in)
 *          -> 200 {"user", "user_id", "token_id", "csrf_token", "expires_at"}
 *             and Set-Cookie: mags_session=...; HttpOnly; SameSite=Strict
 *          401 for an unknown, malformed or revoked token
 *   GET    /api/v1/session  -> the same object (csrf_token and expires_at
 *          null when authenticated by a Bearer token)
 *   DELETE /api/v1/session  -> {"signed_out": true}, the cookie cleared
 */
#ifndef MAGS_MAGSD_API_SESSION_H
#define MAGS_MAGSD_API_SESSION_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/http.h"

/* 1 for the one request that needs no credentials: POST /session. */
int api_session_is_login(const char *method, const char *url);

/* The token of a sign-in body into out (>= len): 0, or -EINVAL with err
 * (400). */
int api_session_parse_login(const char *body, size_t n, char *out, size_t len,
			    struct mags_err *err);

void api_session_create(struct http_req *req);
void api_session_get(struct http_req *req);
void api_session_delete(struct http_req *req);

#endif
