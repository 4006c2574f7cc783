/*
 * api_tokens.h - /tokens: a user's own API tokens, for the dashboard.
 *
 *   GET    /api/v1/tokens        -> {"tokens": [{"id", "name", "created_at",
 *          "last_used_at", "revoked", "revoked_at", "current"}]}  live first,
 *          newest first (at most API_TOKENS_LIST_MAX)
 *   POST   /api/v1/tokens {"name"} -> {"id", "token", "name", "created_at"}:
 *          the token is shown this once, only its hash is kept; at most
 *          API_TOKENS_LIVE_MAX live tokens per user (409 beyond)
 *   DELETE /api/v1/tokens/{id}   -> the token, revoked (idempotent); its
 *          browser sessions end with it. Another user's token is 404.
 */
#ifndef MAGS_MAGSD_API_TOKENS_H
#define MAGS_MAGSD_API_TOKENS_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/http.h"

#define API_TOKENS_LIVE_MAX 100
#define API_TOKENS_LIST_MAX 500
#define API_TOKENS_NAME_MAX 64

/* The name of a create body (empty body = {}; "name" absent, null or ""
 * = no name) into out (>= API_TOKENS_NAME_MAX + 1): at most
 * API_TOKENS_NAME_MAX bytes of UTF-8 without control characters. 0, or
 * -EINVAL with err (400). */
int api_tokens_parse_create(const char *body, size_t n, char *out,
			    struct mags_err *err);

void api_tokens_list(struct http_req *req);
void api_tokens_create(struct http_req *req);
void api_tokens_revoke(struct http_req *req);

#endif
