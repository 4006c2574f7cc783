/*
 * url.h - the server URLs libmags accepts, parsed once when a client is
 * made:  http://host[:port][/prefix], https://..., unix:///path/to.sock
 */
#ifndef MAGS_LIBMAGS_URL_H
#define MAGS_LIBMAGS_URL_H

#include <stddef.h>

struct mags_err;

enum url_scheme {
	URL_HTTP,
	URL_HTTPS,
	URL_UNIX,
};

#define URL_MAX 2048

struct url {
	enum url_scheme scheme;
	char *text;      /* the URL as given, without trailing '/' */
	char *host;      /* "example.com", "127.0.0.1", "::1"; "localhost" for unix */
	int port;        /* 80/443 by default; 0 for unix */
	char *sock_path; /* unix only */
	char *prefix;    /* path prefix without trailing '/', "" when none */
};

/* Parse s into u (released with url_release). A trailing "/api/v1" is
 * dropped from the prefix: people paste the API base often enough.
 * 0 or -EINVAL with a message in err. */
int url_parse(const char *s, struct url *u, struct mags_err *err);
void url_release(struct url *u);

/* The value of a Host header for u ("host", "host:port", "[::1]:port"),
 * malloc'd. */
char *url_host_header(const struct url *u);

/* Percent-encode s for use as one path segment, malloc'd. Unreserved
 * characters (RFC 3986) are kept except '.', so "." and ".." cannot
 * climb out of the path. */
char *url_escape_segment(const char *s);

#endif
