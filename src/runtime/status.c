/*
 * status.c - status lines to magsd (see status.h).
 */
#include "runtime/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static int fd = -1;

/* --state-file: every line so far, rewritten whole on each change. */
static const char *state_path;
static char state[8192];
static size_t state_len;

static void state_write(void)
{
	char tmp[4200];
	int f;

	if (!state_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
	f = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0)
		return;
	if (write_full(f, state, state_len) < 0) {
		close(f);
		unlink(tmp);
		return;
	}
	close(f);
	/* Atomic: a reader sees the old or the new file, never half. */
	if (rename(tmp, state_path) < 0)
		unlink(tmp);
}

static void state_append(const char *line, size_t n)
{
	if (!state_path || state_len + n > sizeof(state))
		return;
	memcpy(state + state_len, line, n);
	state_len += n;
	state_write();
}

int status_state_open(const char *path, struct mags_err *err)
{
	char line[64];
	int n;

	state_path = path;
	state_len = 0;
	n = snprintf(line, sizeof(line), "supervisor %d\n", (int)getpid());
	state_append(line, (size_t)n);
	if (access(path, F_OK) < 0)
		return err_sys(err, errno, "write '%s'", path);
	return 0;
}

int status_open(void)
{
	int fl = fcntl(STATUS_FD, F_GETFD);

	if (fl >= 0) {
		fcntl(STATUS_FD, F_SETFD, fl | FD_CLOEXEC);
		fd = STATUS_FD;
	} else {
		fd = STDERR_FILENO;
	}
	return fd;
}

int status_fd(void)
{
	return fd;
}

void status_send(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* A message is one line: newlines inside would split it. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	/* Before fd 3, so a magsd that read a line finds it in the file. */
	state_append(line, (size_t)n);
	write_full(fd >= 0 ? fd : STDERR_FILENO, line, (size_t)n);
}
