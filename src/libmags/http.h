/*
 * http.h - the smallest HTTP/1.1 client that libmags needs: one request
 * per connection ("Connection: close"), over TCP or a unix socket, the
 * response parsed with http-parser (so chunked transfer encoding works)
 * and its body either buffered or handed to a callback as bytes arrive.
 * https:// goes through https.c (libcurl, loaded on demand) with the same
 * request and response structs.
 */
#ifndef MAGS_LIBMAGS_HTTP_H
#define MAGS_LIBMAGS_HTTP_H

#include <http_parser.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mags_err;
struct url;

/* Buffered bodies larger than this fail: a job's log is capped at 16 MiB
 * of output and its JSON form stays well below. */
#define HTTP_MAX_BODY (64u << 20)

struct http_req {
	const char *method;
	const char *target;      /* path and query below the URL's prefix */
	const char *token;       /* bearer token, or NULL */
	const char *body;        /* NULL: no body */
	size_t body_len;
	const char *accept;      /* Accept header, NULL: application/json */
	const char *content_type; /* NULL: application/json when there is a body */
	/*
	 * A body produced piece by piece (a file upload) instead of body:
	 * body_read fills buf with up to cap bytes and returns how many, 0 at
	 * the end, or a negative errno. body_len is the total it will produce
	 * (sent as Content-Length); producing a different amount is an error.
	 */
	ssize_t (*body_read)(void *arg, char *buf, size_t cap);
	void *body_arg;
};

struct http_opts {
	int connect_ms;          /* 0: no limit */
	int read_ms;             /* idle limit while waiting for bytes; 0: none */
	volatile sig_atomic_t *cancel;
};

/* Receives body bytes of a 2xx response as they arrive; non-zero stops
 * the transfer and is returned by http_do. */
typedef int (*http_body_cb)(const char *data, size_t len, void *arg);

struct http_resp {
	http_parser parser;
	http_body_cb on_body;    /* NULL: buffer the body */
	void *arg;
	int status;              /* 0 until the status line is parsed */
	bool headers_done;
	bool done;               /* the whole message was received */
	bool streaming;          /* headers done, 2xx and on_body set */
	int cb_ret;              /* what on_body returned, when non-zero */
	char *body;              /* buffered body, NUL-terminated */
	size_t body_len, body_cap, body_max;
};

/* Prepare r for one response. With cb set, the body of a 2xx response goes
 * to cb; other bodies (errors) are always buffered, up to max bytes. */
void http_resp_init(struct http_resp *r, http_body_cb cb, void *arg,
		    size_t max);
void http_resp_release(struct http_resp *r);

/* Feed received bytes; len 0 means the peer closed the connection. Returns
 * 0, the callback's non-zero value, or -EPROTO/-EMSGSIZE with err filled. */
int http_resp_feed(struct http_resp *r, const char *data, size_t len,
		   struct mags_err *err);

/* Deliver body bytes of a response whose status is already known (used
 * by the libcurl transport, which parses the HTTP itself). */
int http_resp_body(struct http_resp *r, const char *data, size_t len,
		   struct mags_err *err);
void http_resp_set_status(struct http_resp *r, int status);

/* The request bytes for req against u, malloc'd; *len set. With
 * req->body_read only the head is built: the body follows from it. */
char *http_build_request(const struct url *u, const struct http_req *req,
			 size_t *len);

/*
 * Perform req against u. Returns 0 when a complete response was received
 * (any status: look at resp->status), the body callback's non-zero value,
 * -ECANCELED when opts->cancel was set, -ECONNRESET when the connection
 * closed before the response was complete, -ETIMEDOUT, or another negative
 * errno; err says what failed.
 */
int http_do(const struct url *u, const struct http_req *req,
	    const struct http_opts *opts, struct http_resp *resp,
	    struct mags_err *err);

/* https.c: the same through libcurl (dlopen'd on first use). */
int https_do(const struct url *u, const struct http_req *req,
	     const struct http_opts *opts, struct http_resp *resp,
	     struct mags_err *err);

#endif
