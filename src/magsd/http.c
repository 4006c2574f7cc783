/*
 * http.c - libmicrohttpd glue (see http.h).
 *
 * MHD runs without threads of its own (MHD_USE_EPOLL, external events): the
 * serve loop watches its epoll fd and calls MHD_run, honouring
 * MHD_get_timeout. Limits that protect the daemon are set here: connection
 * count, idle timeout, per-connection memory (which caps the request line
 * and headers), and the body maximum enforced while it arrives.
 */
#include "magsd/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/trace.h"
#include "common/util.h"
#include "magsd/api.h"
#include "magsd/job.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/web.h"
#include "common/banned.h"

#define HTTP_MAX_CONNECTIONS 1024
/* Idle connections (including half-sent requests) are dropped after this;
 * suspended long-lived answers (logs?follow=1) are not affected. */
#define HTTP_IDLE_TIMEOUT_S 30
/* One address cannot hold every connection slot (slowloris). */
#define HTTP_MAX_PER_IP 128
#define HTTP_CONN_MEMORY (64 * 1024)
#define HTTP_DISCARD_MAX ((size_t)16 * 1024 * 1024)

static void reply(struct http_req *req, unsigned status, struct MHD_Response *resp,
		  int close_after)
{
	if (req->responded) {
		MHD_destroy_response(resp);
		return;
	}
	req->responded = 1;
	req->status = status;
	if (close_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(req->conn, status, resp) != MHD_YES)
		log_warn("%s %s: could not queue the %u response", req->method,
			 req->url, status);
	MHD_destroy_response(resp);
}

void http_reply_response(struct http_req *req, unsigned status,
			 struct MHD_Response *resp)
{
	reply(req, status, resp, 0);
}

static void reply_json(struct http_req *req, unsigned status, json_t *obj,
		       int close_after)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	size_t n;
	struct MHD_Response *resp;

	json_decref(obj);
	if (!s)
		abort();
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	resp = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(s);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	reply(req, status, resp, close_after);
}

void http_reply_json(struct http_req *req, unsigned status, json_t *obj)
{
	reply_json(req, status, obj, 0);
}

static void reply_status(struct http_req *req, unsigned status, const char *code,
			 const char *msg, int close_after)
{
	json_t *o = json_object();

	if (!*msg)
		msg = "internal error";
	/* messages may quote client input (paths): keep the JSON valid */
	json_object_set_new(o, "error", job_json_string(msg, strlen(msg)));
	json_object_set_new(o, "code", json_string(code));
	reply_json(req, status, o, close_after);
}

static void reply_err(struct http_req *req, const struct mags_err *err, int close_after)
{
	int code = err->code ? err->code : MAGS_E_INTERNAL;

	reply_status(req, (unsigned)err_http_status(code), err_code_name(code),
		     err->msg, close_after);
}

void http_reply_status(struct http_req *req, unsigned status, const char *code,
		       const char *msg)
{
	reply_status(req, status, code, msg, 0);
}

void http_reply_error(struct http_req *req, const struct mags_err *err)
{
	reply_err(req, err, 0);
}

void http_reply_errorf(struct http_req *req, int code, const char *fmt, ...)
{
	struct mags_err err = { .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	reply_err(req, &err, 0);
}

void http_suspend(struct http_req *req)
{
	req->suspended = 1;
	MHD_suspend_connection(req->conn);
}

void http_resume_json(struct http_req *req, unsigned status, json_t *obj)
{
	if (!req->suspended || req->deferred) {
		json_decref(obj);
		return;
	}
	req->deferred = obj;
	req->deferred_status = status;
	MHD_resume_connection(req->conn);
}

void http_resume_error(struct http_req *req, int code, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", job_json_string(msg, strlen(msg)));
	json_object_set_new(o, "code", json_string(err_code_name(code)));
	http_resume_json(req, (unsigned)err_http_status(code), o);
}

const char *http_query(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static void too_large(struct http_req *req)
{
	struct mags_err err;

	err_set(&err, MAGS_E_TOO_LARGE, EFBIG, "request body is larger than %zu bytes",
		req->srv->cfg->max_body);
	reply_err(req, &err, 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decoding of the URL path and arguments, as libmicrohttpd's own,
 * except that "%00" stays as it is: a decoded NUL would end the C string
 * early, so "/mags-jobs/%00/stop" would route as "/mags-jobs/".
 */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *s)
{
	char *r = s, *w = s;

	(void)cls;
	(void)conn;
	while (*r) {
		int hi, lo;
		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct http_req *req = *con_cls;

	(void)version;
	if (!req) {
		req = xcalloc(1, sizeof(*req));
		req->srv = srv;
		req->conn = conn;
		req->method = method;
		req->url = xstrdup(url);
		req->start_ms = time_mono_ms();
		*con_cls = req;
		trace_mark('D', "request %s %s", method, url);
		/* the dashboard's static files (web.c): GET/HEAD outside /api/ */
		if (web_wants(method, url)) {
			web_serve(req);
			return MHD_YES;
		}
		int body = api_begin(req);
		if (body && !req->responded) {
			const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								     MHD_HTTP_HEADER_CONTENT_LENGTH);
			char *end;
			unsigned long long n;

			req->want_body = body;
			if (cl && body == API_BODY_JSON) {
				errno = 0;
				n = strtoull(cl, &end, 10);
				/* Answering 413 before the body is read makes
				 * most clients fail with EPIPE while sending:
				 * read a moderately oversized body and drop it,
				 * and answer at once only past the hard cap. */
				const char *expect = MHD_lookup_connection_value(
					conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
				if (errno || end == cl || n > HTTP_DISCARD_MAX ||
				    (n > srv->cfg->max_body && expect))
					too_large(req);
				else if (n > srv->cfg->max_body)
					req->too_large = 1;
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->responded || !req->want_body)
			return MHD_YES;  /* discarded */
		if (req->want_body == API_BODY_STREAM)
			return req->route->stream(req, upload_data, n) < 0 ? MHD_NO : MHD_YES;
		if (req->too_large || req->body_len + n > srv->cfg->max_body) {
			/* MHD (0.9.75) takes a response only before the body or
			 * after all of it: drop the rest unbuffered and answer
			 * 413 at the end; past a hard cap, hang up instead. */
			req->too_large = 1;
			req->discarded += n;
			if (req->discarded > HTTP_DISCARD_MAX) {
				log_warn("%s %s: body far over the limit, closing the connection",
					 req->method, req->url);
				return MHD_NO;
			}
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = req->body_cap ? req->body_cap : 16 * 1024;
			while (cap < req->body_len + n + 1)
				cap *= 2;
			if (cap > srv->cfg->max_body + 1)
				cap = srv->cfg->max_body + 1;
			req->body = xrealloc(req->body, cap);
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->suspended) {
		/* resumed: the deferred answer is ready */
		if (req->deferred) {
			json_t *o = req->deferred;
			req->deferred = NULL;
			req->suspended = 0;
			reply_json(req, req->deferred_status, o, 0);
		}
		return MHD_YES;
	}
	if (!req->responded && req->too_large)
		too_large(req);
	if (!req->responded)
		api_dispatch(req);
	if (!req->responded && !req->suspended)
		http_reply_errorf(req, MAGS_E_INTERNAL, "handler did not reply");
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_req *req = *con_cls;

	(void)cls;
	(void)conn;
	if (!req)
		return;
	if (req->responded)
		log_info("%s %s %u %lldms%s", req->method, req->url, req->status,
			 (long long)(time_mono_ms() - req->start_ms),
			 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
	if (req->ctx_free)
		req->ctx_free(req->ctx);
	json_decref(req->deferred);
	free(req->url);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

static int parse_listen(const char *listen, char *host, size_t hlen, char *port,
			size_t plen)
{
	const char *colon;
	size_t n;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - listen - 1);
		if (n >= hlen)
			return -EINVAL;
		memcpy(host, listen + 1, n);
		host[n] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - listen);
		if (n >= hlen)
			return -EINVAL;
		memcpy(host, listen, n);
		host[n] = '\0';
	}
	if (!colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

struct MHD_Daemon *http_start(struct server *srv, const char *listen,
			      struct mags_err *err)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int r;

	if (parse_listen(listen, host, sizeof(host), port, sizeof(port)) < 0) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			"listen address '%s': expected HOST:PORT", listen);
		return NULL;
	}
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "listen address '%s': %s",
			listen, gai_strerror(r));
		return NULL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
			     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
			     MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!d)
		err_set(err, MAGS_E_INTERNAL, EADDRINUSE,
			"listen on '%s': could not start the HTTP server "
			"(address in use or not available?)", listen);
	return d;
}

int http_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : -1;
}

int http_epoll_fd(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}
