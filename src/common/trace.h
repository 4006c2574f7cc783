/*
 * trace.h - opt-in timestamps along a job's path, for finding where the
 * time of one sandbox start goes (bench/README.md).
 *
 * MAGS_TRACE=1 in the environment of magsd, mags-runtime or mags makes
 * every trace_mark() print "trace <who> <CLOCK_MONOTONIC ms> <what>" to
 * stderr. The clock is the host's, shared by all three, so the lines of
 * one job from the CLI, the daemon and the runtime merge by sorting.
 * Off, a mark costs one branch.
 */
#ifndef MAGS_COMMON_TRACE_H
#define MAGS_COMMON_TRACE_H

extern int trace_enabled;          /* -1 until trace_init() */
extern int trace_fd;               /* where marks go: stderr, or a copy of it
				    * kept by a process that gives its stderr
				    * away (the sandbox's init) */

void trace_init(void);
void trace_emit(char who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define trace_mark(who, ...)                                  \
	do {                                                  \
		if (trace_enabled < 0)                        \
			trace_init();                         \
		if (trace_enabled)                            \
			trace_emit((who), __VA_ARGS__);       \
	} while (0)

#endif
