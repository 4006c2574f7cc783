/*
 * control.c - the control socket: listening on the host (supervisor) and
 * the command-line client (see control.h).
 */
#include "runtime/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
	"                         [--env KEY=VALUE]... [--stdin TEXT] -- COMMAND\n"
	"       mags-runtime status --control SOCKET\n"
	"       mags-runtime stop --control SOCKET\n";

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

int control_client_main(int argc, char **argv)
{
	struct execproto_request req = { 0 };
	const char *control = NULL;
	char *env[EXECPROTO_ENV_MAX];
	struct sockaddr_un sa;
	struct mags_err err = { 0 };
	unsigned char hdr[EXECPROTO_HDR];
	char *json, *buf = NULL;
	size_t len;
	int fd, i, code = 255;

	if (!strcmp(argv[1], "status"))
		req.op = EXECPROTO_OP_STATUS;
	else if (!strcmp(argv[1], "stop"))
		req.op = EXECPROTO_OP_STOP;
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
		if (!v)
			goto usage;
		if (!strcmp(a, "--control"))
			control = v;
		else if (!strcmp(a, "--timeout"))
			req.timeout = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--cwd"))
			req.cwd = (char *)v;
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

	if (make_addr(control, &sa, &err) < 0) {
		fprintf(stderr, "mags-runtime: %s\n", err.msg);
		return 125;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "mags-runtime: connect '%s': %s\n", control, strerror(errno));
		return 125;
	}
	json = execproto_request_encode(&req, &len);
	execproto_header(hdr, EXECPROTO_REQUEST, (uint32_t)len);
	if (send_all(fd, hdr, sizeof(hdr)) < 0 || send_all(fd, json, len) < 0) {
		fprintf(stderr, "mags-runtime: send: %s\n", strerror(errno));
		free(json);
		return 125;
	}
	free(json);

	for (;;) {
		char type;
		uint32_t n;
		int timed_out = 0;

		if (recv_all(fd, hdr, sizeof(hdr)) < 0 ||
		    execproto_peek(hdr, sizeof(hdr), EXECPROTO_FRAME_MAX, &type, &n) != 1)
			break;
		buf = xrealloc(buf, n + 1);
		if (recv_all(fd, buf, n) < 0)
			break;
		buf[n] = '\0';
		switch (type) {
		case EXECPROTO_STDOUT:
			write_full(STDOUT_FILENO, buf, n);
			continue;
		case EXECPROTO_STDERR:
			write_full(STDERR_FILENO, buf, n);
			continue;
		case EXECPROTO_EXIT:
			if (execproto_exit_parse(buf, n, &code, &timed_out) < 0)
				code = 255;
			else if (timed_out)
				fprintf(stderr, "mags-runtime: exec timed out after %u s\n",
					req.timeout);
			goto done;
		case EXECPROTO_REPLY:
			printf("%s\n", buf);
			code = 0;
			goto done;
		case EXECPROTO_ERROR:
			fprintf(stderr, "mags-runtime: %s\n", buf);
			code = 125;
			goto done;
		default:
			break;
		}
		break;
	}
	fprintf(stderr, "mags-runtime: connection closed without an exit code\n");
done:
	free(buf);
	close(fd);
	return code;
usage:
	fputs(client_usage, stderr);
	return 125;
}
