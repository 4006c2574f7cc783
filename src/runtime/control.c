/*
 * control.c - the control socket: listening on the host (supervisor) and
 * the command-line client (see control.h).
 */
#include "runtime/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/execproto.h"
#include "common/util.h"
#include "runtime/args.h"
#include "common/banned.h"

static int make_addr(const char *path, struct sockaddr_un *sa, struct mags_err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return err_set(err, MAGS_E_BAD_REQUEST, ENAMETOOLONG,
			       "'%s': socket path too long", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int control_listen(const char *path, struct mags_err *err)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd, r;

	if ((r = make_addr(path, &sa, err)) < 0)
		return r;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, MAGS_E_INTERNAL, EEXIST,
				       "'%s' exists and is not a socket", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "socket");
	/* 0600 from the start: no window in which others may connect. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = err_sys(err, errno, "listen on '%s'", path);
		close(fd);
		return r;
	}
	return fd;
}

/* ----------------------------------------------------------- client -- */

static const char client_usage[] =
	"usage: mags-runtime exec --control SOCKET [--timeout SEC] [--cwd DIR]\n"
	"                         [--env KEY=VALUE]... [--stdin TEXT | --stdin-stream]\n"
	"                         [--tty [--term TERM]] -- COMMAND\n"
	"       mags-runtime status --control SOCKET\n"
	"       mags-runtime stop --control SOCKET\n"
	"       mags-runtime sftp --control SOCKET   (raw SFTP on stdin/stdout)\n";

#define CLIENT_OUT_HIGH (256 * 1024)

static int send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p = (char *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

static int client_connect(const char *control)
{
	struct sockaddr_un sa;
	struct mags_err err = { 0 };
	int fd;

	if (make_addr(control, &sa, &err) < 0) {
		fprintf(stderr, "mags-runtime: %s\n", err.msg);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "mags-runtime: connect '%s': %s\n", control, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_request(int fd, const struct execproto_request *req)
{
	unsigned char hdr[EXECPROTO_HDR];
	size_t len;
	char *json = execproto_request_encode(req, &len);
	int r;

	execproto_header(hdr, EXECPROTO_REQUEST, (uint32_t)len);
	r = send_all(fd, hdr, sizeof(hdr)) < 0 || send_all(fd, json, len) < 0 ? -1 : 0;
	if (r < 0)
		fprintf(stderr, "mags-runtime: send: %s\n", strerror(errno));
	free(json);
	return r;
}

/* Frames to init, queued and sent without blocking: init may stop
 * reading us until we read its output. */
struct outq {
	char *data;
	size_t len, off;
};

static void outq_frame(struct outq *q, char type, const void *p, size_t n)
{
	if (q->off == q->len)
		q->off = q->len = 0;
	q->data = xrealloc(q->data, q->len + EXECPROTO_HDR + n);
	execproto_header((unsigned char *)q->data + q->len, type, (uint32_t)n);
	if (n)
		memcpy(q->data + q->len + EXECPROTO_HDR, p, n);
	q->len += EXECPROTO_HDR + n;
}

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void outq_winsize(struct outq *q)
{
	struct winsize ws;
	unsigned char p[4];

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		execproto_winsize_encode(p, ws.ws_row, ws.ws_col);
		outq_frame(q, EXECPROTO_WINSIZE, p, sizeof(p));
	}
}

/* Stream frames until the last one; returns the exit code. */
static int client_loop(int fd, const struct execproto_request *req)
{
	struct outq q = { 0 };
	char *in = NULL;
	size_t in_len = 0, in_cap = 0;
	int stdin_open = req->op == EXECPROTO_OP_EXEC && (req->stdin_stream || req->tty);
	int code = 255;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN | (q.len > q.off ? POLLOUT : 0) },
			{ .fd = stdin_open && q.len - q.off < CLIENT_OUT_HIGH ? STDIN_FILENO : -1,
			  .events = POLLIN },
		};
		size_t pos = 0;

		if (winch) {
			winch = 0;
			outq_winsize(&q);
			continue;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			char buf[EXECPROTO_INPUT_MAX];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n > 0) {
				outq_frame(&q, EXECPROTO_INPUT, buf, (size_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				outq_frame(&q, EXECPROTO_INPUT, NULL, 0); /* EOF */
				stdin_open = 0;
			}
		}
		if (q.len > q.off) {
			ssize_t n = send(fd, q.data + q.off, q.len - q.off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				q.off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				q.off = q.len; /* init is gone: its answer tells */
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (in_cap - in_len < 65536) {
			in_cap = in_cap ? in_cap * 2 : 131072;
			in = xrealloc(in, in_cap);
		}
		{
			ssize_t n = read(fd, in + in_len, in_cap - in_len);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				goto closed;
			if (n > 0)
				in_len += (size_t)n;
		}
		for (;;) {
			char type;
			uint32_t n;
			int timed_out = 0;
			int r = execproto_peek(in + pos, in_len - pos, EXECPROTO_FRAME_MAX, &type, &n);
			char *p = in + pos + EXECPROTO_HDR;

			if (r < 0)
				goto closed;
			if (r == 0 || in_len - pos < EXECPROTO_HDR + n) {
				if (r == 1 && in_cap < EXECPROTO_HDR + n) {
					in_cap = EXECPROTO_HDR + n;
					in = xrealloc(in, in_cap);
				}
				break;
			}
			pos += EXECPROTO_HDR + n;
			switch (type) {
			case EXECPROTO_STDOUT:
				write_full(STDOUT_FILENO, p, n);
				continue;
			case EXECPROTO_STDERR:
				write_full(STDERR_FILENO, p, n);
				continue;
			case EXECPROTO_EXIT:
				if (execproto_exit_parse(p, n, &code, &timed_out) < 0)
					code = 255;
				else if (timed_out)
					fprintf(stderr, "mags-runtime: exec timed out after %u s\n",
						req->timeout);
				goto done;
			case EXECPROTO_REPLY:
				printf("%.*s\n", (int)n, p);
				code = 0;
				goto done;
			case EXECPROTO_ERROR:
				fprintf(stderr, "mags-runtime: %.*s\n", (int)n, p);
				code = 125;
				goto done;
			default:
				goto closed;
			}
		}
		memmove(in, in + pos, in_len - pos);
		in_len -= pos;
	}
closed:
	fprintf(stderr, "mags-runtime: connection closed without an exit code\n");
done:
	free(in);
	free(q.data);
	return code;
}

/* `mags-runtime sftp`: ask for an SFTP session, then relay raw bytes
 * between stdin/stdout and the connection (for `sftp -D`). */
static int sftp_main(int fd)
{
	struct execproto_request req = { .op = EXECPROTO_OP_SFTP };
	unsigned char hdr[EXECPROTO_HDR];
	char type, buf[65536];
	uint32_t n;
	int stdin_open = 1;

	if (send_request(fd, &req) < 0)
		return 125;
	if (recv_all(fd, hdr, sizeof(hdr)) < 0 ||
	    execproto_peek(hdr, sizeof(hdr), sizeof(buf) - 1, &type, &n) != 1 ||
	    recv_all(fd, buf, n) < 0) {
		fprintf(stderr, "mags-runtime: connection closed without an answer\n");
		return 255;
	}
	buf[n] = '\0';
	if (type != EXECPROTO_REPLY) {
		fprintf(stderr, "mags-runtime: %s\n", buf);
		return 125;
	}
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		ssize_t r;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 255;
		}
		if (pfd[1].revents) {
			r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r > 0) {
				if (send_all(fd, buf, (size_t)r) < 0)
					return 0; /* the server is gone */
			} else if (r == 0 || errno != EINTR) {
				shutdown(fd, SHUT_WR);
				stdin_open = 0;
			}
		}
		if (pfd[0].revents) {
			r = read(fd, buf, sizeof(buf));
			if (r == 0)
				return 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || write_full(STDOUT_FILENO, buf, (size_t)r) < 0)
				return 255;
		}
	}
}

int control_client_main(int argc, char **argv)
{
	struct execproto_request req = { 0 };
	const char *control = NULL;
	char *env[EXECPROTO_ENV_MAX];
	struct termios saved;
	int fd, i, code, raw = 0;

	if (!strcmp(argv[1], "status"))
		req.op = EXECPROTO_OP_STATUS;
	else if (!strcmp(argv[1], "stop"))
		req.op = EXECPROTO_OP_STOP;
	else if (!strcmp(argv[1], "sftp"))
		req.op = EXECPROTO_OP_SFTP;
	req.env = env;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(client_usage, stdout);
			return 0;
		}
		if (!strcmp(a, "--tty")) {
			req.tty = 1;
			continue;
		}
		if (!strcmp(a, "--stdin-stream")) {
			req.stdin_stream = 1;
			continue;
		}
		if (!v)
			goto usage;
		if (!strcmp(a, "--control"))
			control = v;
		else if (!strcmp(a, "--timeout"))
			req.timeout = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--cwd"))
			req.cwd = (char *)v;
		else if (!strcmp(a, "--term"))
			req.term = (char *)v;
		else if (!strcmp(a, "--stdin")) {
			req.stdin_data = (char *)v;
			req.stdin_len = strlen(v);
		} else if (!strcmp(a, "--env") && strchr(v, '=') &&
			   req.n_env < EXECPROTO_ENV_MAX)
			env[req.n_env++] = (char *)v;
		else
			goto usage;
		i++;
	}
	if (!control || (req.op == EXECPROTO_OP_EXEC && i + 1 != argc) ||
	    (req.op != EXECPROTO_OP_EXEC && i < argc))
		goto usage;
	if (req.op == EXECPROTO_OP_EXEC)
		req.command = argv[i];

	fd = client_connect(control);
	if (fd < 0)
		return 125;
	if (req.op == EXECPROTO_OP_SFTP) {
		code = sftp_main(fd);
		close(fd);
		return code;
	}
	if (req.tty) {
		struct winsize ws;

		req.rows = EXECPROTO_DEFAULT_ROWS;
		req.cols = EXECPROTO_DEFAULT_COLS;
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
		    ws.ws_row <= EXECPROTO_WINSIZE_MAX && ws.ws_col <= EXECPROTO_WINSIZE_MAX) {
			req.rows = ws.ws_row;
			req.cols = ws.ws_col;
		}
		if (tcgetattr(STDIN_FILENO, &saved) == 0) {
			struct termios t = saved;
			struct sigaction sa = { .sa_handler = on_winch };

			cfmakeraw(&t);
			raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
			sigaction(SIGWINCH, &sa, NULL);
		}
	}
	if (send_request(fd, &req) < 0) {
		code = 125;
	} else {
		code = client_loop(fd, &req);
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	close(fd);
	return code;
usage:
	fputs(client_usage, stderr);
	return 125;
}
