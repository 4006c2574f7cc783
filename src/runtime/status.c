/*
 * status.c - status lines to magsd (see status.h).
 */
#include "runtime/status.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/util.h"
#include "common/banned.h"

static int fd = -1;

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
	write_full(fd >= 0 ? fd : STDERR_FILENO, line, (size_t)n);
}
