/*
 * trace.c - see trace.h.
 */
#include "common/trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

int trace_enabled = -1;
int trace_fd = STDERR_FILENO;

void trace_init(void)
{
	const char *v = getenv("MAGS_TRACE");

	if (!v || !*v)
		v = getenv("MAGS_RUNTIME_TRACE"); /* the runtime's older name */
	trace_enabled = v && *v == '1';
}

void trace_emit(char who, const char *fmt, ...)
{
	struct timespec t;
	char buf[256];
	va_list ap;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t);
	n = snprintf(buf, sizeof(buf), "trace %c %.3f ", who,
		     (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(trace_fd, buf, (size_t)n);
}
