/*
 * auth.c - tokens and the Bearer check (see auth.h). A malformed token is
 * refused before the database is asked, so garbage costs nothing.
 */
#include "magsd/auth.h"

#include <errno.h>
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

void auth_token_hash(const char *token, char *hex_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL))
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
