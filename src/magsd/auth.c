/*
 * auth.c - tokens and the Bearer check, browser sessions and their CSRF
 * rule (see auth.h). A malformed token or session is refused before the
 * database is asked, so garbage costs nothing.
 */
#include "magsd/auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "common/banned.h"

void auth_token_new(char *out, char *id_out)
{
	char hex[41], idhex[13];

	random_hex(hex, 20);
	snprintf(out, AUTH_TOKEN_LEN + 1, AUTH_TOKEN_PREFIX "%s", hex);
	random_hex(idhex, 6);
	snprintf(id_out, 17, "tok_%s", idhex);
}

int auth_token_well_formed(const char *s)
{
	size_t n = strlen(AUTH_TOKEN_PREFIX);

	if (strlen(s) != AUTH_TOKEN_LEN || strncmp(s, AUTH_TOKEN_PREFIX, n))
		return 0;
	for (s += n; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* SHA-256 fetched from the provider once: EVP_sha256() in EVP_Digest
 * makes OpenSSL 3 look the implementation up again on every call, which
 * was three quarters of the hash's time (and it runs for every request). */
static const EVP_MD *sha256(void)
{
	static EVP_MD *md;

	if (!md)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md ? md : EVP_sha256();
}

void auth_token_hash(const char *token, char *hex_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(token, strlen(token), md, &n, sha256(), NULL))
		abort(); /* libcrypto cannot hash: nothing sane to do */
	for (unsigned int i = 0; i < n; i++) {
		hex_out[2 * i] = hex[md[i] >> 4];
		hex_out[2 * i + 1] = hex[md[i] & 15];
	}
	hex_out[2 * n] = '\0';
}

int auth_parse_bearer(const char *header, char *out, size_t len)
{
	const char *p = header, *e;

	if (!p)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Bearer", 6) || (p[6] != ' ' && p[6] != '\t'))
		return -EINVAL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == p || (size_t)(e - p) >= len)
		return -EINVAL;
	for (const char *q = p; q < e; q++)
		if (*q == ' ' || *q == '\t')
			return -EINVAL;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

int auth_check(struct store *st, const char *header, struct store_ident *ident,
	       struct mags_err *err)
{
	char token[128], hash[AUTH_HASH_HEX_LEN + 1];
	int r;

	if (!header || !*header)
		return err_set(err, MAGS_E_UNAUTHORIZED, EACCES, "missing API token");
	if (auth_parse_bearer(header, token, sizeof(token)) < 0 ||
	    !auth_token_well_formed(token))
		return err_set(err, MAGS_E_UNAUTHORIZED, EACCES, "invalid API token");
	auth_token_hash(token, hash);
	r = store_token_auth(st, hash, ident);
	if (r == -ENOENT)
		return err_set(err, MAGS_E_UNAUTHORIZED, EACCES, "invalid API token");
	if (r < 0)
		return err_set(err, MAGS_E_INTERNAL, -r, "token lookup failed");
	return 0;
}

/* ---- browser sessions ---- */

void auth_session_new(char *out, char *id_out)
{
	char idhex[13];

	random_hex(out, AUTH_SESSION_LEN / 2);
	random_hex(idhex, 6);
	snprintf(id_out, 17, "ses_%s", idhex);
}

int auth_session_well_formed(const char *s)
{
	if (strlen(s) != AUTH_SESSION_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

void auth_csrf_for(const char *session, char *out)
{
	char buf[16 + AUTH_SESSION_LEN + 1];

	snprintf(buf, sizeof(buf), "mags-csrf:%s", session);
	auth_token_hash(buf, out);
}

int auth_cookie_get(const char *header, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = header;

	/* "a=1; b=2": pairs separated by ';', blanks around them ignored */
	while (p && *p) {
		const char *e = strchr(p, ';');
		size_t plen;

		while (*p == ' ' || *p == '\t')
			p++;
		plen = e ? (size_t)(e - p) : strlen(p);
		while (plen > 0 && (p[plen - 1] == ' ' || p[plen - 1] == '\t'))
			plen--;
		if (plen > nlen && !strncmp(p, name, nlen) && p[nlen] == '=') {
			size_t vlen = plen - nlen - 1;
			if (vlen >= len)
				return -ENOENT;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = e ? e + 1 : NULL;
	}
	return -ENOENT;
}

int auth_content_type_json(const char *value)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, want, n))
		return 0;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

static int method_safe(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD");
}

static int session_check(struct store *st, const struct auth_request *ar,
			 const char *secret, struct store_ident *ident,
			 struct mags_err *err)
{
	char hash[AUTH_HASH_HEX_LEN + 1], csrf[AUTH_HASH_HEX_LEN + 1];
	int r;

	if (!auth_session_well_formed(secret))
		return err_set(err, MAGS_E_UNAUTHORIZED, EACCES, "invalid session");
	auth_token_hash(secret, hash);
	r = store_session_auth(st, hash, time_now_ms(), ident, NULL);
	if (r == -ENOENT)
		return err_set(err, MAGS_E_UNAUTHORIZED, EACCES,
			       "session expired or signed out");
	if (r < 0)
		return err_set(err, MAGS_E_INTERNAL, -r, "session lookup failed");
	if (method_safe(ar->method))
		return 0;
	auth_csrf_for(secret, csrf);
	if (!ar->csrf || strlen(ar->csrf) != AUTH_HASH_HEX_LEN ||
	    CRYPTO_memcmp(ar->csrf, csrf, AUTH_HASH_HEX_LEN))
		return err_set(err, MAGS_E_FORBIDDEN, EACCES,
			       "missing or invalid " AUTH_CSRF_HEADER " header");
	if (ar->has_body && !auth_content_type_json(ar->content_type))
		return err_set(err, MAGS_E_FORBIDDEN, EACCES,
			       "a request authenticated by cookie must send "
			       "Content-Type: application/json");
	return 0;
}

int auth_check_request(struct store *st, const struct auth_request *ar,
		       struct store_ident *ident, int *by_session,
		       struct mags_err *err)
{
	char secret[AUTH_SESSION_LEN + 2];
	int r;

	*by_session = 0;
	if (ar->authorization && *ar->authorization) {
		r = auth_check(st, ar->authorization, ident, err);
	} else if (ar->cookie &&
		   auth_cookie_get(ar->cookie, AUTH_SESSION_COOKIE, secret, sizeof(secret)) == 0) {
		r = session_check(st, ar, secret, ident, err);
		*by_session = r == 0;
	} else {
		r = auth_check(st, NULL, ident, err);
	}
	if (r == 0)
		(void)store_token_touch(st, ident->token_id, time_now_ms());
	return r;
}
