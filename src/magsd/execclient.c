/*
 * execclient.c - a non-blocking client of a sandbox's control socket on
 * the event loop (see execclient.h and common/execproto.h).
 *
 * The watch is level-triggered: EPOLLOUT only while the request is still
 * being written, EPOLLIN otherwise (and not at all while paused). The
 * loop has no "modify", so changing the interest re-adds the watch.
 */
#include "magsd/execclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/execproto.h"
#include "common/util.h"
#include "common/banned.h"

#define READ_CHUNK (64 * 1024)

struct execclient {
	struct loop *loop;
	int fd;
	struct loop_watch *w;
	uint32_t interest;
	int paused;
	int done;
	char *out;            /* the request frame, out_pos written */
	size_t out_len, out_pos;
	char *in;             /* frames read, in_len bytes */
	size_t in_len, in_cap;
	execclient_out_fn on_out;
	execclient_done_fn on_done;
	void *arg;
};

static void on_io(int fd, uint32_t events, void *arg);

static void watch(struct execclient *ec)
{
	uint32_t want = ec->out_pos < ec->out_len ? EPOLLOUT : (ec->paused ? 0 : EPOLLIN);

	if (ec->w && want == ec->interest)
		return;
	loop_remove(ec->loop, ec->w);
	ec->w = NULL;
	ec->interest = want;
	if (want)
		ec->w = loop_add(ec->loop, ec->fd, want, on_io, ec);
}

static void release(struct execclient *ec)
{
	loop_remove(ec->loop, ec->w);
	if (ec->fd >= 0)
		close(ec->fd);
	free(ec->out);
	free(ec->in);
	free(ec);
}

void execclient_free(struct execclient *ec)
{
	if (ec)
		release(ec);
}

static void finish(struct execclient *ec, int r, int code, int timed_out,
		   const char *reply, const char *msg)
{
	ec->done = 1;
	loop_remove(ec->loop, ec->w);
	ec->w = NULL;
	ec->on_done(ec->arg, r, code, timed_out, reply, msg);
	release(ec);
}

static int connect_unix(const char *path, int flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

struct execclient *execclient_start(struct loop *loop, const char *path,
				    const char *request, size_t len,
				    execclient_out_fn out, execclient_done_fn done,
				    void *arg, struct mags_err *err)
{
	struct execclient *ec;
	int fd = connect_unix(path, SOCK_NONBLOCK);

	if (fd < 0) {
		err_set(err, MAGS_E_UNAVAILABLE, -fd, "sandbox control socket '%s': %s", path,
			strerror(-fd));
		return NULL;
	}
	ec = xcalloc(1, sizeof(*ec));
	ec->loop = loop;
	ec->fd = fd;
	ec->on_out = out;
	ec->on_done = done;
	ec->arg = arg;
	ec->out = xmalloc(EXECPROTO_HDR + len);
	execproto_header((unsigned char *)ec->out, EXECPROTO_REQUEST, (uint32_t)len);
	memcpy(ec->out + EXECPROTO_HDR, request, len);
	ec->out_len = EXECPROTO_HDR + len;
	/* a fresh socket takes a small request at once: then only the answer
	 * is waited for (one loop round and two epoll_ctl calls fewer) */
	ssize_t n = send(fd, ec->out, ec->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		ec->out_pos = (size_t)n;
	if (ec->out_pos == ec->out_len) {
		free(ec->out);
		ec->out = NULL;
		ec->out_len = ec->out_pos = 0;
		(void)shutdown(fd, SHUT_WR);
	}
	watch(ec);
	if (!ec->w) {
		err_set(err, MAGS_E_INTERNAL, errno, "watch control socket: %s", strerror(errno));
		release(ec);
		return NULL;
	}
	return ec;
}

void execclient_pause(struct execclient *ec, int paused)
{
	if (!ec || ec->done || ec->paused == !!paused)
		return;
	ec->paused = !!paused;
	watch(ec);
}

/* Handle every complete frame in the buffer. Returns 1 when the client
 * finished (and is freed). */
static int frames(struct execclient *ec)
{
	size_t pos = 0;

	while (!ec->done) {
		char type;
		uint32_t len;
		int r = execproto_peek(ec->in + pos, ec->in_len - pos, EXECPROTO_FRAME_MAX,
				       &type, &len);
		if (r < 0) {
			finish(ec, -EPROTO, -1, 0, NULL, "bad frame from the sandbox's init");
			return 1;
		}
		if (r == 0 || ec->in_len - pos < EXECPROTO_HDR + (size_t)len)
			break;
		const char *p = ec->in + pos + EXECPROTO_HDR;
		pos += EXECPROTO_HDR + len;
		if (type == EXECPROTO_STDOUT || type == EXECPROTO_STDERR) {
			ec->on_out(ec->arg, type == EXECPROTO_STDOUT ? EXECCLIENT_STDOUT :
				   EXECCLIENT_STDERR, p, len);
		} else if (type == EXECPROTO_EXIT) {
			int code = -1, to = 0;
			if (execproto_exit_parse(p, len, &code, &to) < 0)
				finish(ec, -EPROTO, -1, 0, NULL, "bad exit frame from the sandbox's init");
			else
				finish(ec, 0, code, to, NULL, NULL);
			return 1;
		} else if (type == EXECPROTO_REPLY) {
			_cleanup_free_ char *s = xstrndup(p, len);
			finish(ec, 0, -1, 0, s, NULL);
			return 1;
		} else if (type == EXECPROTO_ERROR) {
			_cleanup_free_ char *s = xstrndup(p, len);
			finish(ec, -EINVAL, -1, 0, NULL, s);
			return 1;
		} else {
			finish(ec, -EPROTO, -1, 0, NULL, "unexpected frame from the sandbox's init");
			return 1;
		}
	}
	memmove(ec->in, ec->in + pos, ec->in_len - pos);
	ec->in_len -= pos;
	return 0;
}

static void on_io(int fd, uint32_t events, void *arg)
{
	struct execclient *ec = arg;

	(void)events;
	if (ec->out_pos < ec->out_len) {
		ssize_t n = send(fd, ec->out + ec->out_pos, ec->out_len - ec->out_pos,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			char m[160];
			snprintf(m, sizeof(m), "send to the sandbox's init: %s", strerror(errno));
			finish(ec, -EIO, -1, 0, NULL, m);
			return;
		}
		ec->out_pos += (size_t)n;
		if (ec->out_pos == ec->out_len) {
			free(ec->out);
			ec->out = NULL;
			ec->out_len = ec->out_pos = 0;
			(void)shutdown(fd, SHUT_WR);
		}
		watch(ec);
		return;
	}
	/* read one chunk per round: other clients get their turn */
	if (ec->in_cap - ec->in_len < READ_CHUNK) {
		ec->in_cap = ec->in_len + READ_CHUNK + EXECPROTO_HDR;
		ec->in = xrealloc(ec->in, ec->in_cap);
	}
	ssize_t n = recv(fd, ec->in + ec->in_len, ec->in_cap - ec->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		finish(ec, -EPIPE, -1, 0, NULL, "the sandbox ended the exec connection "
		       "(the sandbox stopped?)");
		return;
	}
	ec->in_len += (size_t)n;
	/* a frame larger than what is buffered: grow to hold it */
	char type;
	uint32_t len;
	if (execproto_peek(ec->in, ec->in_len, EXECPROTO_FRAME_MAX, &type, &len) == 1 &&
	    EXECPROTO_HDR + (size_t)len > ec->in_cap) {
		ec->in_cap = EXECPROTO_HDR + (size_t)len + READ_CHUNK;
		ec->in = xrealloc(ec->in, ec->in_cap);
	}
	(void)frames(ec);
}

int execclient_call_sync(const char *path, const char *op, int timeout_ms, char **reply)
{
	_cleanup_free_ char *req = xasprintf("{\"op\":\"%s\"}", op);
	unsigned char hdr[EXECPROTO_HDR];
	char buf[4096];
	size_t have = 0;
	int64_t deadline = time_mono_ms() + timeout_ms;
	int fd = connect_unix(path, 0), r;

	*reply = NULL;
	if (fd < 0)
		return fd;
	execproto_header(hdr, EXECPROTO_REQUEST, (uint32_t)strlen(req));
	if ((r = write_full(fd, hdr, sizeof(hdr))) < 0 ||
	    (r = write_full(fd, req, strlen(req))) < 0) {
		close(fd);
		return r;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - time_mono_ms());
		char type;
		uint32_t len;

		if (left <= 0 || poll(&p, 1, left) <= 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0) {
			close(fd);
			return -EPIPE;
		}
		have += (size_t)n;
		r = execproto_peek(buf, have, sizeof(buf) - 1 - EXECPROTO_HDR, &type, &len);
		if (r < 0) {
			close(fd);
			return r;
		}
		if (r == 1 && have >= EXECPROTO_HDR + len) {
			close(fd);
			if (type != EXECPROTO_REPLY)
				return -EPROTO;
			*reply = xstrndup(buf + EXECPROTO_HDR, len);
			return 0;
		}
	}
}
