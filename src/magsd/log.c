/*
 * log.c - one line per event on stderr (see log.h). Each line is built in
 * one buffer and written with one write(2) so lines from magsd and from the
 * runtimes it spawned (which share stderr) do not interleave mid-line.
 */
#include "magsd/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

static int verbose = 1;

void log_set_verbose(int on)
{
	verbose = on;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "magsd: %s", prefix);
	int m;

	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write_full(STDERR_FILENO, line, (size_t)n);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}
