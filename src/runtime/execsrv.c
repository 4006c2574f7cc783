/*
 * execsrv.c - exec requests served by init (see execsrv.h).
 *
 * Why init and not a helper that enters the namespaces (nsenter-style):
 * a child of init is already in every namespace, the cgroup, and under
 * the capability set, no_new_privs and seccomp filter of the sandbox, so
 * an exec costs one vfork+exec (a fork with a tty) and cannot end up more
 * privileged than the script. init is pid 1, so it also reaps whatever
 * the exec leaves.
 *
 * A connection goes READ (collect the 'Q' frame) -> RUN (an exec: stream
 * its pipes) -> FLUSH (write what is queued, then close). Everything is
 * non-blocking; output is read from the pipes only while less than
 * OUT_HIGH bytes wait for a slow client, so a client that does not read
 * stalls its own exec (the pipe fills up) and nothing else. The same in
 * the other direction for streamed stdin ('I' frames): the client's
 * socket is read only while less than IN_HIGH bytes wait for the exec.
 *
 * With a tty the exec gets the slave side of a pty from the sandbox's own
 * devpts; the master is both its stdin and its (only) output stream.
 *
 * An "sftp" connection is handed to a forked child (sftpsrv.c) that
 * speaks raw SFTP on it; init only reaps the child.
 */
#include "runtime/execsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/execproto.h"
#include "common/util.h"
#include "runtime/init.h"
#include "runtime/sftpsrv.h"
#include "common/banned.h"

#define OUT_HIGH (256 * 1024)
#define IN_HIGH  (256 * 1024)
#define ARG_COMMAND_MAX (100 * 1024) /* longer commands go through a memfd */

enum conn_state { CONN_READ, CONN_RUN, CONN_FLUSH };

struct buf {
	char *data;
	size_t len, off, cap;
};

struct exec_conn {
	enum conn_state state;
	int fd;                 /* the client; -1 once it hung up */
	int rd_closed;          /* the client shut down its sending side */
	struct buf in, out;
	int64_t deadline;       /* READ: request deadline; RUN: exec timeout (0 none) */
	int pipe[2];            /* stdout, stderr read ends, -1 when closed;
				 * with a tty pipe[0] is the pty master */
	pid_t pid;              /* the exec (its process group), 0 after reaping */
	int timed_out;
	int failed;             /* an 'R' was queued while the exec ran: no 'X' */
	int stream;             /* the client sends 'I'/'W'/'K' frames */
	int tty;
	int in_fd;              /* the exec's stdin (pipe or master), -1 closed */
	int in_eof;             /* EOF asked: close in_fd once inq is written */
	struct buf inq;         /* stdin waiting for the exec */
	/* Slots in the last poll array (SIZE_MAX = not polled). */
	size_t idx_fd, idx_pipe[2], idx_in;
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	b->cap = (b->len + more) * 2;
	b->data = xrealloc(b->data, b->cap);
}

static size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

static void queue_frame(struct exec_conn *c, char type, const void *p, size_t n)
{
	buf_reserve(&c->out, EXECPROTO_HDR + n);
	execproto_header((unsigned char *)c->out.data + c->out.len, type, (uint32_t)n);
	if (n)
		memcpy(c->out.data + c->out.len + EXECPROTO_HDR, p, n);
	c->out.len += EXECPROTO_HDR + n;
}

static void queue_error(struct exec_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void queue_error(struct exec_conn *c, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	queue_frame(c, EXECPROTO_ERROR, msg, (size_t)n);
	c->state = CONN_FLUSH;
}

void execsrv_init(struct execsrv *s, int listen_fd, char **base_env, int keep_alive)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = listen_fd;
	s->base_env = base_env;
	s->keep_alive = keep_alive;
	s->script_exit = -1;
	if (listen_fd >= 0)
		fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
}

static void conn_free(struct execsrv *s, size_t i)
{
	struct exec_conn *c = s->conn[i];

	if (c->fd >= 0)
		close(c->fd);
	for (int k = 0; k < 2; k++)
		if (c->pipe[k] >= 0)
			close(c->pipe[k]);
	if (c->in_fd >= 0)
		close(c->in_fd);
	free(c->in.data);
	free(c->out.data);
	free(c->inq.data);
	free(c);
	s->conn[i] = s->conn[--s->n_conn];
}

/* Signal the exec's process group. Right after the fork the child may
 * not have made its own group yet (setsid): then it is alone and
 * signalled directly. */
static void kill_exec(struct exec_conn *c, int sig)
{
	if (c->pid > 0 && kill(-c->pid, sig) < 0 && errno == ESRCH)
		kill(c->pid, sig);
}

/* The client is gone: nobody wants the output. The exec dies with it
 * (like an ssh session); the conn lives until the exec is reaped. */
static void conn_hangup(struct exec_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->out.len = c->out.off = 0;
	kill_exec(c, SIGKILL);
}

/* ------------------------------------------------------------ spawn -- */

static char **merge_env(char **base, char **extra, size_t n_extra)
{
	size_t n = 0, cap;
	char **env;

	while (base[n])
		n++;
	cap = n + n_extra + 1;
	env = xcalloc(cap, sizeof(char *));
	memcpy(env, base, n * sizeof(char *));
	for (size_t i = 0; i < n_extra; i++) {
		size_t klen = (size_t)(strchr(extra[i], '=') - extra[i]) + 1;
		size_t k;

		for (k = 0; k < n; k++)
			if (!strncmp(env[k], extra[i], klen))
				break;
		env[k] = extra[i];
		if (k == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

/* In the forked child: become `sh -c command`. With a tty, in_fd is
 * the pty's slave (also out_fd and err_fd). env: the environment made
 * before a vfork (nothing is allocated here then), or NULL. */
__attribute__((noreturn))
static void exec_child(struct execsrv *s, struct execproto_request *req,
		       int in_fd, int out_fd, int err_fd, char **env)
{
	char *argv[] = { "sh", "-c", req->command, NULL };
	char source[64];
	size_t len = strlen(req->command);
	sigset_t none;

	/* Its own session and process group: the timeout and a hang-up
	 * kill the whole group. Without a tty it has no controlling
	 * terminal; with one, the slave becomes it. */
	setsid();
	if (req->tty && ioctl(in_fd, TIOCSCTTY, 0) < 0)
		_exit(127);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	umask(022);
	if (len > ARG_COMMAND_MAX) {
		/* One execve argument is at most 128 KiB. Not close-on-exec:
		 * sh opens it as /dev/fd/N. */
		int fd = memfd_create("mags-exec", 0);
		if (fd < 0 || write_full(fd, req->command, len) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0) {
			dprintf(STDERR_FILENO, "mags: command file: %s\n", strerror(errno));
			_exit(127);
		}
		snprintf(source, sizeof(source), ". /dev/fd/%d", fd);
		argv[2] = source;
	}
	if (chdir(req->cwd) < 0) {
		dprintf(STDERR_FILENO, "mags: cwd '%s': %s\n", req->cwd, strerror(errno));
		_exit(127);
	}
	if (!env)
		env = merge_env(s->base_env, req->env, req->n_env);
	if (req->term) {
		char *term[] = { xasprintf("TERM=%s", req->term) };
		env = merge_env(env, term, 1);
	}
	execve("/bin/sh", argv, env);
	dprintf(STDERR_FILENO, "mags: exec '/bin/sh': %s\n", strerror(errno));
	_exit(127);
}

/* exec_child in a vfork()ed child: no copy of init's page tables for a
 * child that only sets up its fds and execs (about 0.2 ms of an exec's
 * round trip here). Its environment is made before, so the child
 * allocates nothing. A function of its own: nothing of the caller's
 * frame is live across the vfork. Returns the pid or -1 (errno). */
__attribute__((noinline))
static pid_t spawn_child(struct execsrv *s, struct execproto_request *req,
			 int in_fd, int out_fd, int err_fd)
{
	char **env = merge_env(s->base_env, req->env, req->n_env);
	pid_t pid = vfork();

	if (pid == 0)
		exec_child(s, req, in_fd, out_fd, err_fd, env);
	int e = errno;
	free(env);
	errno = e;
	return pid;
}

/* A pty from the sandbox's devpts: the master (non-blocking) in *master,
 * the slave in *slave, sized rows x cols. */
static int open_pty(unsigned rows, unsigned cols, int *master, int *slave)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	char name[64];
	int m, sl, unlock = 0;

	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		return -errno;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto fail;
	sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0)
		goto fail;
	ioctl(sl, TIOCSWINSZ, &ws);
	*master = m;
	*slave = sl;
	return 0;
fail:
	{
		int e = errno;
		close(m);
		return -e;
	}
}

static void start_exec(struct execsrv *s, struct exec_conn *c,
		       struct execproto_request *req)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in = -1, in_w = -1;
	int master = -1, slave = -1, r;

	if (req->tty) {
		if ((r = open_pty(req->rows, req->cols, &master, &slave)) < 0) {
			errno = -r;
			goto fail;
		}
		in_w = fcntl(master, F_DUPFD_CLOEXEC, 0);
		if (in_w < 0)
			goto fail;
		c->pid = fork();
		if (c->pid < 0) {
			c->pid = 0;
			goto fail;
		}
		if (c->pid == 0)
			exec_child(s, req, slave, slave, slave, NULL);
		close(slave);
		c->pipe[0] = master;
		c->in_fd = in_w;
		c->tty = 1;
		c->stream = 1;
		goto started;
	}
	if (req->stdin_stream) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		in = p[0];
		in_w = p[1];
	} else if (req->stdin_data) {
		in = memfd_create("mags-stdin", MFD_CLOEXEC);
		if (in < 0 || write_full(in, req->stdin_data, req->stdin_len) < 0 ||
		    lseek(in, 0, SEEK_SET) < 0)
			goto fail;
	} else {
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0)
			goto fail;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		goto fail;
	c->pid = spawn_child(s, req, in, out[1], errp[1]);
	if (c->pid < 0) {
		c->pid = 0;
		goto fail;
	}
	close(in);
	close(out[1]);
	close(errp[1]);
	c->pipe[0] = out[0];
	c->pipe[1] = errp[0];
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	if (in_w >= 0) {
		fcntl(in_w, F_SETFL, O_NONBLOCK);
		c->in_fd = in_w;
		c->stream = 1;
	}
started:
	c->state = CONN_RUN;
	c->deadline = req->timeout ? time_mono_ms() + (int64_t)req->timeout * 1000 : 0;
	return;
fail:
	queue_error(c, "exec: %s", strerror(errno));
	if (in >= 0)
		close(in);
	if (in_w >= 0)
		close(in_w);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	for (int k = 0; k < 2; k++) {
		if (out[k] >= 0)
			close(out[k]);
		if (errp[k] >= 0)
			close(errp[k]);
	}
}

/* Hand the connection to an SFTP server child (sftpsrv.h). init keeps
 * nothing of it but the child's pid: the conn lives until it is reaped,
 * so it counts as an exec in flight. */
static void start_sftp(struct execsrv *s, struct exec_conn *c)
{
	pid_t pid = fork();

	if (pid < 0) {
		queue_error(c, "sftp: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		sftpsrv_child(c->fd);
	close(c->fd);
	c->fd = -1;
	c->pid = pid;
	c->state = CONN_RUN;
	c->deadline = 0;
}

static void answer(struct execsrv *s, struct exec_conn *c)
{
	struct execproto_request req;
	struct mags_err err = { 0 };
	char type;
	uint32_t len;
	char reply[256];
	int n;

	if (execproto_peek(c->in.data, c->in.len, EXECPROTO_REQUEST_MAX, &type, &len) != 1 ||
	    type != EXECPROTO_REQUEST) {
		queue_error(c, "expected a request frame");
		return;
	}
	if (execproto_request_parse(c->in.data + EXECPROTO_HDR, len, &req, &err) < 0) {
		queue_error(c, "bad request: %s", err.msg);
		execproto_request_release(&req);
		return;
	}
	switch (req.op) {
	case EXECPROTO_OP_STATUS:
		if (s->script_done)
			n = snprintf(reply, sizeof(reply),
				     "{\"state\":\"running\",\"script\":\"exited\","
				     "\"script_exit_code\":%d,\"execs\":%zu,\"keep_alive\":%s}",
				     s->script_exit, s->n_conn - 1, s->keep_alive ? "true" : "false");
		else
			n = snprintf(reply, sizeof(reply),
				     "{\"state\":\"running\",\"script\":\"running\","
				     "\"script_exit_code\":null,\"execs\":%zu,\"keep_alive\":%s}",
				     s->n_conn - 1, s->keep_alive ? "true" : "false");
		queue_frame(c, EXECPROTO_REPLY, reply, (size_t)n);
		c->state = CONN_FLUSH;
		break;
	case EXECPROTO_OP_STOP:
		n = snprintf(reply, sizeof(reply), "{\"state\":\"stopping\"}");
		queue_frame(c, EXECPROTO_REPLY, reply, (size_t)n);
		c->state = CONN_FLUSH;
		s->stop_requested = 1;
		break;
	case EXECPROTO_OP_SFTP:
		start_sftp(s, c);
		break;
	default:
		start_exec(s, c, &req);
		break;
	}
	execproto_request_release(&req);
	/* The request buffer is not needed any more. */
	free(c->in.data);
	memset(&c->in, 0, sizeof(c->in));
}

/* ------------------------------------------------------------- I/O --- */

static void accept_all(struct execsrv *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct exec_conn *c;

		if (fd < 0)
			return; /* EAGAIN, or a transient error: poll again */
		if (s->n_conn >= EXECSRV_CONN_MAX) {
			static const char msg[] = "too many concurrent connections";
			unsigned char hdr[EXECPROTO_HDR];

			execproto_header(hdr, EXECPROTO_ERROR, sizeof(msg) - 1);
			send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT);
			send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->state = CONN_READ;
		c->pipe[0] = c->pipe[1] = -1;
		c->in_fd = -1;
		c->deadline = time_mono_ms() + EXECSRV_REQUEST_MS;
		s->conn[s->n_conn++] = c;
	}
}

/* READ: collect the request frame. */
static void read_request(struct execsrv *s, struct exec_conn *c)
{
	for (;;) {
		char type;
		uint32_t len;
		int r = execproto_peek(c->in.data, c->in.len, EXECPROTO_REQUEST_MAX, &type, &len);
		size_t want = r == 1 ? EXECPROTO_HDR + len : EXECPROTO_HDR;
		ssize_t n;

		if (r < 0) {
			queue_error(c, r == -E2BIG ? "request larger than %u bytes" :
				    "not a request frame", EXECPROTO_REQUEST_MAX);
			return;
		}
		if (c->in.len >= want && r == 1) {
			answer(s, c);
			return;
		}
		buf_reserve(&c->in, want - c->in.len);
		n = read(c->fd, c->in.data + c->in.len, want - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			/* Gone before asking anything. */
			close(c->fd);
			c->fd = -1;
			c->state = CONN_FLUSH;
		}
		return;
	}
}

/* Move one pipe's available output into frames. Returns 0 at EOF/error. */
static int pump(struct exec_conn *c, int k, int drain)
{
	for (int reads = 0; reads < 16 || drain; reads++) {
		ssize_t n;

		buf_reserve(&c->out, EXECPROTO_HDR + EXECPROTO_CHUNK_MAX);
		n = read(c->pipe[k], c->out.data + c->out.len + EXECPROTO_HDR,
			 EXECPROTO_CHUNK_MAX);
		if (n > 0) {
			if (c->fd < 0)
				continue; /* nobody to send it to */
			execproto_header((unsigned char *)c->out.data + c->out.len,
					 k ? EXECPROTO_STDERR : EXECPROTO_STDOUT, (uint32_t)n);
			c->out.len += EXECPROTO_HDR + (size_t)n;
			if (!drain && buf_pending(&c->out) >= OUT_HIGH)
				return 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		return 0;
	}
	return 1;
}

/* The client broke the protocol while its exec ran: the exec dies, its
 * output is dropped, 'R' is the last frame (no 'X'). */
static void protocol_error(struct exec_conn *c, const char *msg)
{
	kill_exec(c, SIGKILL);
	for (int k = 0; k < 2; k++)
		if (c->pipe[k] >= 0) {
			close(c->pipe[k]);
			c->pipe[k] = -1;
		}
	if (c->in_fd >= 0) {
		close(c->in_fd);
		c->in_fd = -1;
	}
	c->inq.len = c->inq.off = 0;
	c->failed = 1;
	queue_error(c, "%s", msg);
}

/* Write queued stdin to the exec. A closed pipe (the exec does not read
 * its stdin any more) drops what is queued and all that follows. */
static void write_stdin(struct exec_conn *c)
{
	while (c->in_fd >= 0 && buf_pending(&c->inq)) {
		ssize_t n = write(c->in_fd, c->inq.data + c->inq.off, buf_pending(&c->inq));
		if (n > 0) {
			c->inq.off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close(c->in_fd); /* EPIPE, or EIO from a pty whose slave is gone */
		c->in_fd = -1;
		c->inq.len = c->inq.off = 0;
	}
	if (c->in_fd >= 0 && c->in_eof && !buf_pending(&c->inq)) {
		close(c->in_fd);
		c->in_fd = -1;
	}
}

static void queue_stdin(struct exec_conn *c, const void *p, size_t n)
{
	if (c->in_fd < 0 || c->in_eof)
		return;
	buf_reserve(&c->inq, n);
	memcpy(c->inq.data + c->inq.len, p, n);
	c->inq.len += n;
}

/* End of the exec's stdin: the pipe closes once what is queued is
 * written; a pty gets the terminal's EOF character instead (it cannot be
 * closed without hanging up the terminal). */
static void stdin_eof(struct exec_conn *c)
{
	if (c->tty)
		queue_stdin(c, "\x04", 1);
	else
		c->in_eof = 1;
}

/* Act on the complete frames in c->in ('I', 'W', 'K'). */
static void take_frames(struct exec_conn *c)
{
	for (;;) {
		const char *p = c->in.data + c->in.off;
		size_t avail = buf_pending(&c->in);
		char type;
		uint32_t len;
		unsigned rows, cols;
		int r = execproto_peek(p, avail, EXECPROTO_INPUT_MAX, &type, &len);

		if (r < 0) {
			protocol_error(c, r == -E2BIG ? "frame larger than 64 KiB" :
				       "unknown frame type");
			return;
		}
		if (r == 0 || avail < EXECPROTO_HDR + len)
			return;
		p += EXECPROTO_HDR;
		switch (type) {
		case EXECPROTO_INPUT:
			if (len)
				queue_stdin(c, p, len);
			else
				stdin_eof(c);
			break;
		case EXECPROTO_WINSIZE:
			if (c->tty && c->in_fd >= 0 &&
			    execproto_winsize_parse(p, len, &rows, &cols) == 0) {
				struct winsize ws = { .ws_row = (unsigned short)rows,
						      .ws_col = (unsigned short)cols };
				ioctl(c->in_fd, TIOCSWINSZ, &ws);
			}
			break;
		case EXECPROTO_SIGNAL:
			if (len == 1 && c->pid > 0 &&
			    execproto_signal_allowed((unsigned char)p[0]))
				kill_exec(c, (unsigned char)p[0]);
			break;
		default:
			protocol_error(c, "unexpected frame from the client");
			return;
		}
		c->in.off += EXECPROTO_HDR + len;
	}
}

/* RUN: what the client sends after its request. Without streamed stdin
 * nothing is expected (read and dropped); EOF alone is a half-close
 * (allowed, and the end of streamed stdin); POLLHUP is the client gone. */
static void read_client(struct exec_conn *c, short re)
{
	char sink[256];
	ssize_t r;

	if (!c->stream) {
		r = read(c->fd, sink, sizeof(sink));
		if (re & (POLLHUP | POLLERR))
			conn_hangup(c);
		else if (r == 0)
			c->rd_closed = 1;
		else if (r < 0 && errno != EAGAIN && errno != EINTR)
			conn_hangup(c);
		return;
	}
	for (int reads = 0; reads < 16 && c->state == CONN_RUN && c->fd >= 0 &&
	     !c->rd_closed && buf_pending(&c->inq) < IN_HIGH; reads++) {
		buf_reserve(&c->in, EXECPROTO_HDR + EXECPROTO_INPUT_MAX);
		r = read(c->fd, c->in.data + c->in.len, EXECPROTO_HDR + EXECPROTO_INPUT_MAX);
		if (r > 0) {
			c->in.len += (size_t)r;
			take_frames(c);
			write_stdin(c);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r == 0) {
			c->rd_closed = 1;
			stdin_eof(c);
			write_stdin(c);
			break;
		}
		conn_hangup(c);
		return;
	}
	if (c->fd >= 0 && (re & (POLLHUP | POLLERR)))
		conn_hangup(c);
}

static void flush_out(struct exec_conn *c)
{
	while (c->fd >= 0 && buf_pending(&c->out)) {
		ssize_t n = send(c->fd, c->out.data + c->out.off, buf_pending(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out.off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		conn_hangup(c);
	}
}

static void orphan_add(struct execsrv *s, int fd)
{
	if (s->n_orphan >= EXECSRV_ORPHAN_MAX) {
		close(fd); /* its writers get EPIPE from now on */
		return;
	}
	s->orphan[s->n_orphan++] = fd;
}

size_t execsrv_poll_fill(struct execsrv *s, struct pollfd *pfd, int *timeout_ms)
{
	size_t n = 0;
	int64_t now = time_mono_ms();

	if (s->listen_fd < 0)
		return 0;
	s->listen_idx = n;
	pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	for (size_t i = 0; i < s->n_conn; i++) {
		struct exec_conn *c = s->conn[i];
		short ev = 0;

		c->idx_fd = c->idx_pipe[0] = c->idx_pipe[1] = c->idx_in = SIZE_MAX;
		if (c->fd >= 0) {
			if (c->state == CONN_READ ||
			    (c->state == CONN_RUN && !c->rd_closed &&
			     buf_pending(&c->inq) < IN_HIGH))
				ev |= POLLIN; /* the request; POLLHUP comes anyway */
			if (buf_pending(&c->out))
				ev |= POLLOUT;
			c->idx_fd = n;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		for (int k = 0; k < 2; k++) {
			if (c->pipe[k] < 0 || buf_pending(&c->out) >= OUT_HIGH)
				continue;
			c->idx_pipe[k] = n;
			pfd[n++] = (struct pollfd){ .fd = c->pipe[k], .events = POLLIN };
		}
		if (c->in_fd >= 0 && buf_pending(&c->inq)) {
			c->idx_in = n;
			pfd[n++] = (struct pollfd){ .fd = c->in_fd, .events = POLLOUT };
		}
		if (c->deadline && (c->state == CONN_READ || (c->state == CONN_RUN && c->pid > 0))) {
			int64_t left = c->deadline - now;
			int ms = left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
			if (*timeout_ms < 0 || ms < *timeout_ms)
				*timeout_ms = ms;
		}
	}
	s->orphan_idx = n;
	for (size_t i = 0; i < s->n_orphan; i++)
		pfd[n++] = (struct pollfd){ .fd = s->orphan[i], .events = POLLIN };
	s->n_polled_orphan = s->n_orphan;
	return n;
}

void execsrv_poll_handle(struct execsrv *s, struct pollfd *pfd)
{
	int64_t now = time_mono_ms();

	if (s->listen_fd < 0)
		return;
	/* Orphans first, while their slots still match the poll array
	 * (removal below swaps from the end, which was already seen). */
	for (size_t i = s->n_polled_orphan; i-- > 0;) {
		struct pollfd *p = &pfd[s->orphan_idx + i];
		char sink[4096];

		if (!p->revents)
			continue;
		while (read(p->fd, sink, sizeof(sink)) > 0)
			;
		if (p->revents & (POLLHUP | POLLERR)) {
			ssize_t r = read(p->fd, sink, sizeof(sink));
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				close(s->orphan[i]);
				s->orphan[i] = s->orphan[--s->n_orphan];
			}
		}
	}

	for (size_t i = s->n_conn; i-- > 0;) {
		struct exec_conn *c = s->conn[i];

		if (c->idx_fd != SIZE_MAX && pfd[c->idx_fd].revents) {
			short re = pfd[c->idx_fd].revents;
			if (c->state == CONN_READ) {
				read_request(s, c);
			} else if (c->state == CONN_RUN && (re & (POLLIN | POLLHUP | POLLERR))) {
				read_client(c, re);
			} else if (re & (POLLHUP | POLLERR)) {
				conn_hangup(c);
			}
		}
		if (c->idx_in != SIZE_MAX && pfd[c->idx_in].revents)
			write_stdin(c);
		for (int k = 0; k < 2; k++) {
			if (c->idx_pipe[k] == SIZE_MAX || !pfd[c->idx_pipe[k]].revents ||
			    c->pipe[k] < 0)
				continue;
			if (!pump(c, k, 0)) {
				close(c->pipe[k]);
				c->pipe[k] = -1;
			}
		}
		if (c->state == CONN_READ && now >= c->deadline) {
			queue_error(c, "no request within %d s", EXECSRV_REQUEST_MS / 1000);
		} else if (c->state == CONN_RUN && c->pid > 0 && c->deadline &&
			   now >= c->deadline && !c->timed_out) {
			kill_exec(c, SIGKILL);
			c->timed_out = 1;
		}
		flush_out(c);
		/* Done: nothing left to send (or nobody to send it to) and no
		 * exec left to reap. */
		if (c->state == CONN_FLUSH && (c->fd < 0 || !buf_pending(&c->out)) && c->pid <= 0)
			conn_free(s, i);
		else if (c->state == CONN_RUN && c->fd < 0 && c->pid <= 0)
			conn_free(s, i);
	}
	accept_all(s);
}

int execsrv_reaped(struct execsrv *s, pid_t pid, int wstatus)
{
	for (size_t i = 0; i < s->n_conn; i++) {
		struct exec_conn *c = s->conn[i];
		char *x;
		size_t len;

		if (c->pid != pid)
			continue;
		c->pid = 0;
		/* Everything the exec itself wrote is in its pipes now. */
		for (int k = 0; k < 2; k++) {
			if (c->pipe[k] < 0)
				continue;
			if (pump(c, k, 1))
				orphan_add(s, c->pipe[k]); /* still held by background processes */
			else
				close(c->pipe[k]);
			c->pipe[k] = -1;
		}
		if (c->in_fd >= 0) {
			close(c->in_fd);
			c->in_fd = -1;
		}
		c->inq.len = c->inq.off = 0;
		if (!c->failed) {
			x = execproto_exit_encode(init_exit_code(wstatus), c->timed_out, &len);
			queue_frame(c, EXECPROTO_EXIT, x, len);
			free(x);
		}
		c->state = CONN_FLUSH;
		flush_out(c);
		if (c->fd < 0 || !buf_pending(&c->out))
			conn_free(s, i);
		return 1;
	}
	return 0;
}
