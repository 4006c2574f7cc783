/*
 * http.h - the libmicrohttpd glue: starting the daemon in external-event
 * epoll mode, one struct http_req per request, body accumulation up to a
 * maximum, and JSON replies. Routing and handlers are api.c's business.
 *
 * A request goes: headers arrive -> api_begin() (auth, route, may reply at
 * once: 401, 404, 405, 413 from Content-Length) -> body chunks are
 * appended (past max_body: 413, at once when Content-Length says so, else
 * after the rest was read and dropped unbuffered, hanging up past 16 MiB;
 * the connection is closed after a 413) -> api_dispatch() runs the handler, which
 * replies exactly once through http_reply_*.
 */
#ifndef MAGS_MAGSD_HTTP_H
#define MAGS_MAGSD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/route.h"
#include "magsd/store.h"

struct server;
struct api_route;

struct http_req {
	struct server *srv;
	struct MHD_Connection *conn;
	const char *method;
	char *url;
	const struct api_route *route;
	struct route_params params;
	struct store_ident ident;
	char *body;
	size_t body_len;
	size_t body_cap;
	int want_body;
	int too_large;           /* body went past max_body: 413 at the end */
	size_t discarded;        /* bytes dropped since */
	int responded;
	unsigned status;
	int64_t start_ms;
	/* a streamed body (route body == API_BODY_STREAM): chunks go to the
	 * route's stream function, which may keep state in ctx */
	void *ctx;
	void (*ctx_free)(void *ctx);
	/* a suspended request (http_suspend) and its deferred answer */
	int suspended;
	unsigned deferred_status;
	json_t *deferred;
};

/* Start listening on "HOST:PORT" ("[::1]:PORT" for IPv6; port 0 picks a
 * free one). The daemon's epoll fd is then added to the caller's loop. */
struct MHD_Daemon *http_start(struct server *srv, const char *listen,
			      struct mags_err *err);

/* The port actually bound, and MHD's epoll fd. */
int http_port(struct MHD_Daemon *d);
int http_epoll_fd(struct MHD_Daemon *d);

/* Replies (each request gets exactly one; later calls are ignored). */
void http_reply_json(struct http_req *req, unsigned status, json_t *obj);
void http_reply_error(struct http_req *req, const struct mags_err *err);
void http_reply_errorf(struct http_req *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error with a status outside the err.h table (405). */
void http_reply_status(struct http_req *req, unsigned status, const char *code,
		       const char *msg);
/* Queue a prepared response (takes ownership). */
void http_reply_response(struct http_req *req, unsigned status,
			 struct MHD_Response *resp);

/* Answer later: the handler returns without replying and the connection
 * waits (no timeout) until http_resume_json/http_resume_error. */
void http_suspend(struct http_req *req);
/* Answer a suspended request (takes the reference to obj). */
void http_resume_json(struct http_req *req, unsigned status, json_t *obj);
void http_resume_error(struct http_req *req, int code, const char *msg);

/* A query-string argument, or NULL. */
const char *http_query(struct http_req *req, const char *key);

#endif
