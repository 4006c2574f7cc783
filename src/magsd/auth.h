/*
 * auth.h - API tokens: creation, hashing, and the Bearer check every
 * request goes through.
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

#endif
