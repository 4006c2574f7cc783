/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h), as described in the S3
 * API reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk":
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n Date \n Scope \n hex(sha256(CanonicalRequest))
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, yyyymmdd), region), service),
 *                           "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * magsd signs with this code rather than libcurl's CURLOPT_AWS_SIGV4 so that
 * the signer the unit tests check against AWS's vectors is the one in use,
 * and so the payload hash of a streamed upload can be signed.
 */
#include "magsd/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "common/banned.h"

static const char hexdig[] = "0123456789abcdef";

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void sigv4_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(buf, len, md);
	hex_encode(md, sizeof(md), out);
}

/* A memstream that aborts on out-of-memory like xmalloc. */
static FILE *mem_open(char **p, size_t *n)
{
	FILE *f = open_memstream(p, n);

	if (!f)
		abort();
	return f;
}

static char *mem_close(FILE *f, char **p)
{
	if (fclose(f) != 0 || !*p)
		abort();
	return *p;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

char *sigv4_uri_encode(const char *s, int keep_slash)
{
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = "0123456789ABCDEF"[*p >> 4];
			*o++ = "0123456789ABCDEF"[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

struct enc_param {
	char *name;
	char *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

char *sigv4_canonical_query(const struct sigv4_param *params, size_t n)
{
	struct enc_param *e = xcalloc(n ? n : 1, sizeof(*e));
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < n; i++) {
		e[i].name = sigv4_uri_encode(params[i].name, 0);
		e[i].value = sigv4_uri_encode(params[i].value ? params[i].value : "", 0);
	}
	qsort(e, n, sizeof(*e), cmp_param);
	f = mem_open(&out, &len);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s%s=%s", i ? "&" : "", e[i].name, e[i].value);
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	return mem_close(f, &out);
}

struct canon_header {
	char *name;    /* lowercased */
	char *value;   /* trimmed, spaces collapsed */
	size_t order;  /* position in the request: repeated names keep their order */
};

static int cmp_header(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Trim leading/trailing whitespace and turn each run of spaces or tabs into
 * one space (the "Trimall" of the SigV4 description). */
static char *header_value_trim(const char *v)
{
	char *out = xmalloc(strlen(v) + 1), *o = out;
	int space = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space && o != out)
			*o++ = ' ';
		space = 0;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

static int has_header(const struct sigv4_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return 1;
	return 0;
}

void sigv4_canonical_request(const struct sigv4_request *req, time_t t,
			     char **canonical, char **signed_headers)
{
	size_t n = req->n_headers, nh = 0;
	struct canon_header *h = xcalloc(n + 1, sizeof(*h));
	char amz_date[17], *path, *query;
	char *creq = NULL, *sh = NULL;
	size_t creq_len = 0, sh_len = 0;
	FILE *fc, *fs;

	for (size_t i = 0; i < n; i++) {
		h[nh].name = xstrdup(req->headers[i].name);
		for (char *p = h[nh].name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		h[nh].value = header_value_trim(req->headers[i].value);
		h[nh].order = nh;
		nh++;
	}
	if (!has_header(req, "x-amz-date")) {
		sigv4_amz_date(t, amz_date);
		h[nh].name = xstrdup("x-amz-date");
		h[nh].value = xstrdup(amz_date);
		h[nh].order = nh;
		nh++;
	}
	qsort(h, nh, sizeof(*h), cmp_header);

	path = sigv4_uri_encode(req->path && *req->path ? req->path : "/", 1);
	query = sigv4_canonical_query(req->query, req->n_query);

	fc = mem_open(&creq, &creq_len);
	fs = mem_open(&sh, &sh_len);
	fprintf(fc, "%s\n%s\n%s\n", req->method, path, query);
	for (size_t i = 0; i < nh; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			fprintf(fc, ",%s", h[i].value);  /* a repeated header: one line */
			continue;
		}
		fprintf(fc, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value);
		fprintf(fs, "%s%s", i ? ";" : "", h[i].name);
	}
	mem_close(fs, &sh);
	fprintf(fc, "\n\n%s\n%s", sh, req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256);
	mem_close(fc, &creq);

	for (size_t i = 0; i < nh; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	free(path);
	free(query);
	if (canonical)
		*canonical = creq;
	else
		free(creq);
	if (signed_headers)
		*signed_headers = sh;
	else
		free(sh);
}

char *sigv4_string_to_sign(const char *canonical_request, time_t t,
			   const struct sigv4_key *key)
{
	char amz_date[17], hash[65];

	sigv4_amz_date(t, amz_date);
	sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
	return xasprintf("AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s",
			 amz_date, amz_date, key->region, key->service, hash);
}

/* out may be the key buffer itself: the result goes through a copy. */
static void hmac256(const void *k, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int outlen = sizeof(md);

	if (!HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)msg, strlen(msg),
		  md, &outlen) || outlen != 32)
		abort();
	memcpy(out, md, 32);
	explicit_bzero(md, sizeof(md));
}

char *sigv4_authorization(const struct sigv4_request *req, time_t t,
			  const struct sigv4_key *key)
{
	char amz_date[17], date[9], sig[65], *creq, *sh, *sts, *secret, *auth;
	unsigned char k[32], mac[32];

	sigv4_amz_date(t, amz_date);
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	sigv4_canonical_request(req, t, &creq, &sh);
	sts = sigv4_string_to_sign(creq, t, key);

	secret = xasprintf("AWS4%s", key->secret_key);
	hmac256(secret, strlen(secret), date, k);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	hmac256(k, 32, key->region, k);
	hmac256(k, 32, key->service, k);
	hmac256(k, 32, "aws4_request", k);
	hmac256(k, 32, sts, mac);
	explicit_bzero(k, sizeof(k));
	hex_encode(mac, sizeof(mac), sig);

	auth = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
			 "SignedHeaders=%s, Signature=%s",
			 key->access_key, date, key->region, key->service, sh, sig);
	free(creq);
	free(sh);
	free(sts);
	return auth;
}
