/*
 * sigv4.h - AWS Signature Version 4 for requests to S3-compatible stores:
 * the canonical request, the string to sign, the signing key (an HMAC-SHA256
 * chain over date, region, service) and the Authorization header value.
 *
 * Everything here is a pure function of its arguments (no clock, no I/O), so
 * tests/unit/test_sigv4.c checks it against AWS's published test vectors.
 */
#ifndef MAGS_MAGSD_SIGV4_H
#define MAGS_MAGSD_SIGV4_H

#include <stddef.h>
#include <time.h>

/* sha256 of the empty string, the payload hash of GET/HEAD/DELETE. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_header {
	const char *name;   /* any case; signed lowercased */
	const char *value;  /* trimmed and with runs of spaces collapsed when signed */
};

/* One query parameter, not encoded: the signer encodes it. */
struct sigv4_param {
	const char *name;
	const char *value;  /* "" or NULL for "?lifecycle" */
};

struct sigv4_request {
	const char *method;                 /* "GET" */
	const char *path;                   /* not encoded, e.g. "/bucket/a b.txt" */
	const struct sigv4_param *query;    /* any order */
	size_t n_query;
	const struct sigv4_header *headers; /* every header to sign, host included;
	                                     * x-amz-date is added if absent.
	                                     * Repeated names are joined with ','. */
	size_t n_headers;
	const char *payload_hash;           /* hex sha256 of the body, or UNSIGNED-PAYLOAD */
};

struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;   /* "us-east-1" */
	const char *service;  /* "s3" */
};

/* "20130524T000000Z" for t (UTC) into out (>= 17 bytes). */
void sigv4_amz_date(time_t t, char out[17]);

/* Lowercase hex sha256 of buf into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

/* URI-encode s the SigV4 way: every byte but A-Z a-z 0-9 - . _ ~ becomes
 * %XX (uppercase hex); '/' is kept when keep_slash. Returns a malloc'd string. */
char *sigv4_uri_encode(const char *s, int keep_slash);

/* The canonical query string of params (each encoded, sorted by name then
 * value, joined by '&', "name=" for an empty value). Also the query to put in
 * the URL, so what is sent is what was signed. Returns a malloc'd string. */
char *sigv4_canonical_query(const struct sigv4_param *params, size_t n);

/* The canonical request and the string to sign, for tests and for debugging
 * a SignatureDoesNotMatch. Malloc'd strings; NULL arguments are skipped. */
void sigv4_canonical_request(const struct sigv4_request *req, time_t t,
			     char **canonical, char **signed_headers);
char *sigv4_string_to_sign(const char *canonical_request, time_t t,
			   const struct sigv4_key *key);

/* The Authorization header value for req at time t:
 * "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
 *  SignedHeaders=host;x-amz-date, Signature=<64 hex>" (one line).
 * Malloc'd. The caller sends the same x-amz-date (sigv4_amz_date(t)). */
char *sigv4_authorization(const struct sigv4_request *req, time_t t,
			  const struct sigv4_key *key);

#endif
