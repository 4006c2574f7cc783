/*
 * http.c - a minimal HTTP/1.1 client over TCP and unix sockets (see
 * http.h).
 *
 * It exists so that the mags CLI starts fast: libcurl costs ~14 ms of
 * dynamic linking at every start on our VMs, more than a whole `mags
 * status` round trip to a local server. One request per connection keeps
 * it simple; http-parser does the response framing (Content-Length,
 * chunked, read-until-close). The socket is non-blocking and every wait is
 * a poll() of at most 200 ms, so a cancel flag set by a signal handler is
 * seen promptly even when the signal lands between two system calls.
 */
#include "libmags/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/err.h"
#include "common/util.h"
#include "libmags/url.h"
#include "mags/mags.h"
#include "common/banned.h"

#define POLL_SLICE_MS 200
#define RECV_BUF (64 * 1024)

/* ---- response parsing ---------------------------------------------------- */

enum {
	FAIL_NONE,
	FAIL_TOO_BIG,
	FAIL_CB,
};

static int on_headers_complete(http_parser *p)
{
	struct http_resp *r = p->data;

	r->status = (int)p->status_code;
	r->headers_done = true;
	r->streaming = r->on_body && r->status >= 200 && r->status < 300;
	return 0;
}

static int body_append(struct http_resp *r, const char *data, size_t len)
{
	if (len > r->body_max - r->body_len)
		return -EMSGSIZE;
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;

		while (cap < r->body_len + len + 1)
			cap *= 2;
		r->body = xrealloc(r->body, cap);
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_resp *r = p->data;
	int ret;

	if (r->streaming) {
		ret = r->on_body(at, len, r->arg);
		if (ret) {
			r->cb_ret = ret;
			return -1;
		}
		return 0;
	}
	if (body_append(r, at, len) < 0) {
		r->cb_ret = -EMSGSIZE;
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_resp *r = p->data;

	r->done = true;
	/* Anything after the response is not ours (we asked to close). */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_resp_init(struct http_resp *r, http_body_cb cb, void *arg,
		    size_t max)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	r->on_body = cb;
	r->arg = arg;
	r->body_max = max ? max : HTTP_MAX_BODY;
}

void http_resp_release(struct http_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
}

int http_resp_feed(struct http_resp *r, const char *data, size_t len,
		   struct mags_err *err)
{
	size_t n;
	enum http_errno e;

	if (r->done)
		return 0;
	n = http_parser_execute(&r->parser, &resp_settings, data, len);
	e = HTTP_PARSER_ERRNO(&r->parser);
	if (r->cb_ret == -EMSGSIZE)
		return err_set(err, MAGS_E_TOO_LARGE, EMSGSIZE,
			       "response body larger than %zu bytes", r->body_max);
	if (r->cb_ret)
		return r->cb_ret;
	if (e == HPE_PAUSED || r->done)
		return 0;
	if (e != HPE_OK || n != len)
		return err_set(err, MAGS_E_INTERNAL, EPROTO,
			       "bad HTTP response: %s",
			       http_errno_description(e));
	return 0;
}

void http_resp_set_status(struct http_resp *r, int status)
{
	if (r->headers_done)
		return;
	r->status = status;
	r->headers_done = true;
	r->streaming = r->on_body && status >= 200 && status < 300;
}

int http_resp_body(struct http_resp *r, const char *data, size_t len,
		   struct mags_err *err)
{
	int ret = on_body(&r->parser, data, len);

	if (ret == 0)
		return 0;
	if (r->cb_ret == -EMSGSIZE)
		return err_set(err, MAGS_E_TOO_LARGE, EMSGSIZE,
			       "response body larger than %zu bytes", r->body_max);
	return r->cb_ret;
}

/* ---- request ---------------------------------------------------------------- */

char *http_build_request(const struct url *u, const struct http_req *req,
			 size_t *len)
{
	_cleanup_free_ char *host = url_host_header(u);
	_cleanup_free_ char *auth = NULL;
	_cleanup_free_ char *clen = NULL;
	_cleanup_free_ char *head = NULL;
	bool has_body = req->body || req->body_read;
	bool wants_len = has_body || strcmp(req->method, "POST") == 0 ||
			 strcmp(req->method, "PUT") == 0 ||
			 strcmp(req->method, "PATCH") == 0;
	size_t hl, inline_len;
	char *out;

	if (req->token)
		auth = xasprintf("Authorization: Bearer %s\r\n", req->token);
	if (wants_len)
		clen = xasprintf("%s%s%sContent-Length: %zu\r\n",
				 has_body ? "Content-Type: " : "",
				 has_body ? (req->content_type ? req->content_type :
					     "application/json") : "",
				 has_body ? "\r\n" : "",
				 has_body ? req->body_len : 0);
	head = xasprintf("%s %s%s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "User-Agent: mags/" MAGS_VERSION "\r\n"
			 "Accept: %s\r\n"
			 "%s%s"
			 "Connection: close\r\n"
			 "\r\n",
			 req->method, u->prefix, req->target, host,
			 req->accept ? req->accept : "application/json",
			 auth ? auth : "", clen ? clen : "");
	hl = strlen(head);
	inline_len = req->body && !req->body_read ? req->body_len : 0;
	out = xmalloc(hl + inline_len + 1);
	memcpy(out, head, hl);
	if (inline_len)
		memcpy(out + hl, req->body, inline_len);
	*len = hl + inline_len;
	out[*len] = '\0';
	return out;
}

/* ---- transport ---------------------------------------------------------------- */

static bool cancelled(const struct http_opts *o)
{
	return o->cancel && *o->cancel;
}

/* Wait for events on fd. Returns >0 when ready, -ETIMEDOUT after limit_ms
 * (0: no limit), -ECANCELED, or -errno. */
static int wait_fd(int fd, short events, int limit_ms, const struct http_opts *o)
{
	int64_t deadline = limit_ms > 0 ? time_mono_ms() + limit_ms : 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int slice = POLL_SLICE_MS;
		int r;

		if (cancelled(o))
			return -ECANCELED;
		if (deadline) {
			int64_t left = deadline - time_mono_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			if (left < slice)
				slice = (int)left;
		}
		r = poll(&pfd, 1, o->cancel ? slice : (deadline ? slice : -1));
		if (r > 0)
			return r;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_addr(const struct sockaddr *sa, socklen_t salen,
			const struct http_opts *o)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN) {
		r = -errno;
		goto fail;
	}
	r = wait_fd(fd, POLLOUT, o->connect_ms, o);
	if (r < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
		r = -errno;
		goto fail;
	}
	if (soerr) {
		r = -soerr;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static int connect_url(const struct url *u, const struct http_opts *o,
		       struct mags_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char port[8];
	int fd = -EHOSTUNREACH, g;

	if (u->scheme == URL_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		if (strlen(u->sock_path) >= sizeof(sun.sun_path))
			return err_set(err, MAGS_E_BAD_REQUEST, ENAMETOOLONG,
				       "socket path '%s' is too long", u->sock_path);
		memcpy(sun.sun_path, u->sock_path, strlen(u->sock_path) + 1);
		fd = connect_addr((struct sockaddr *)&sun, sizeof(sun), o);
		goto out;
	}
	snprintf(port, sizeof(port), "%d", u->port);
	/* An address literal needs no look-up, and no AI_ADDRCONFIG netlink
	 * dump of the host's addresses either (it is on every command's
	 * path). */
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	g = getaddrinfo(u->host, port, &hints, &res);
	if (g == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		g = getaddrinfo(u->host, port, &hints, &res);
	}
	if (g == EAI_ADDRFAMILY || g == EAI_NONAME || g == EAI_NODATA) {
		/* AI_ADDRCONFIG hides 127.0.0.1 on hosts without a configured
		 * non-loopback address; try again without it. */
		hints.ai_flags = AI_NUMERICSERV;
		g = getaddrinfo(u->host, port, &hints, &res);
	}
	if (g != 0)
		return err_set(err, MAGS_E_UNAVAILABLE, EHOSTUNREACH,
			       "cannot resolve '%s': %s", u->host,
			       g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = connect_addr(ai->ai_addr, ai->ai_addrlen, o);
		if (fd >= 0 || fd == -ECANCELED)
			break;
	}
	freeaddrinfo(res);
out:
	if (fd == -ECANCELED)
		return err_set(err, MAGS_E_INTERNAL, ECANCELED, "interrupted");
	if (fd == -ETIMEDOUT)
		return err_set(err, MAGS_E_UNAVAILABLE, ETIMEDOUT,
			       "cannot connect to %s: timed out", u->text);
	if (fd < 0)
		return err_set(err, MAGS_E_UNAVAILABLE, -fd,
			       "cannot connect to %s: %s", u->text, strerror(-fd));
	if (u->scheme != URL_UNIX) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len,
		    const struct http_opts *o)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int r = wait_fd(fd, POLLOUT, o->read_ms, o);

			if (r < 0)
				return r;
			continue;
		}
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* Stream a produced body (a file upload) in blocks: never all of it in
 * memory. A producer that yields more or less than it announced would
 * corrupt the framing, so that is an error. */
static int send_body(int fd, const struct http_req *req,
		     const struct http_opts *o, struct mags_err *err)
{
	_cleanup_free_ char *buf = xmalloc(RECV_BUF);
	size_t sent = 0;

	for (;;) {
		ssize_t n = req->body_read(req->body_arg, buf, RECV_BUF);
		int r;

		if (n < 0) {
			err_set(err, MAGS_E_INTERNAL, (int)-n, "reading the request body: %s",
				strerror((int)-n));
			return -EIO;
		}
		if (n == 0)
			break;
		if ((size_t)n > req->body_len - sent) {
			err_set(err, MAGS_E_INTERNAL, EMSGSIZE,
				"request body grew while it was sent");
			return -EMSGSIZE;
		}
		r = send_all(fd, buf, (size_t)n, o);
		if (r < 0)
			return r;
		sent += (size_t)n;
		if (cancelled(o))
			return -ECANCELED;
	}
	if (sent != req->body_len) {
		err_set(err, MAGS_E_INTERNAL, EMSGSIZE,
			"request body shrank while it was sent (%zu of %zu bytes)",
			sent, req->body_len);
		return -EMSGSIZE;
	}
	return 0;
}

static int io_error(const struct url *u, int r, const char *what,
		    struct mags_err *err)
{
	if (r == -ECANCELED)
		return err_set(err, MAGS_E_INTERNAL, ECANCELED, "interrupted");
	if (r == -ETIMEDOUT)
		return err_set(err, MAGS_E_UNAVAILABLE, ETIMEDOUT,
			       "%s %s: timed out", what, u->text);
	return err_set(err, MAGS_E_UNAVAILABLE, -r, "%s %s: %s", what, u->text,
		       strerror(-r));
}

int http_do(const struct url *u, const struct http_req *req,
	    const struct http_opts *opts, struct http_resp *resp,
	    struct mags_err *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *reqbuf = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t reqlen;
	int r;

	if (u->scheme == URL_HTTPS)
		return https_do(u, req, opts, resp, err);
	trace_mark('C', "connect %s", u->text);
	fd = connect_url(u, opts, err);
	if (fd < 0)
		return fd;
	reqbuf = http_build_request(u, req, &reqlen);
	trace_mark('C', "send %s", u->text);
	r = send_all(fd, reqbuf, reqlen, opts);
	if (r == 0 && req->body_read)
		r = send_body(fd, req, opts, err);
	if (r == -EMSGSIZE || r == -EIO)
		return r; /* the body producer failed: err says why */
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		return io_error(u, r, "sending to", err);
	/* On EPIPE the server may already have answered (an early error);
	 * read what it said. */
	buf = xmalloc(RECV_BUF);
	for (;;) {
		ssize_t n;

		r = wait_fd(fd, POLLIN, opts->read_ms, opts);
		if (r < 0)
			return io_error(u, r, "waiting for", err);
		n = recv(fd, buf, RECV_BUF, 0);
		trace_mark('C', "received %zd bytes", n);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET && resp->headers_done && !resp->done)
				n = 0;
			else
				return io_error(u, -errno, "reading from", err);
		}
		r = http_resp_feed(resp, buf, (size_t)n, err);
		if (r)
			return r;
		if (resp->done)
			return 0;
		if (n == 0)
			return err_set(err, MAGS_E_UNAVAILABLE, ECONNRESET,
				       "%s closed the connection before the end of the response",
				       u->text);
	}
}
