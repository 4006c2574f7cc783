/*
 * logwriter.h - turns a sandbox's output into job log records (logfmt.h).
 *
 * init owns one struct logwriter for the job's log fd (opened on the host,
 * O_APPEND, before pivot_root) and one struct log_stream per pipe. Bytes
 * are fed as they arrive; every complete line becomes one record at once
 * (live streaming), a line longer than LOGFMT_MAX_LINE is cut into several
 * records, and a partial last line is flushed at EOF. The log is capped:
 * the first record that would cross the limit is replaced by one system
 * record "[log truncated: limit of N bytes reached]" and everything after
 * it is dropped (the caller keeps draining its pipes).
 *
 * Records are gathered in a buffer and written with one write(2) per
 * batch: the caller flushes after each read from its pipes, so output is
 * still on disk as soon as it arrived, but a burst of short lines costs
 * one system call, not one per line.
 *
 * Runs inside the sandbox (init, under seccomp) and in the supervisor:
 * only write(2) is used.
 */
#ifndef MAGS_RUNTIME_LOGWRITER_H
#define MAGS_RUNTIME_LOGWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/logfmt.h"

typedef int64_t (*logwriter_clock_fn)(void);

/* Room for the longest record (header + LOGFMT_MAX_LINE + '\n') twice. */
#define LOGWRITER_BUF (2 * (LOGFMT_MAX_LINE + 64))

struct logwriter {
	int fd;
	uint64_t limit;      /* bytes the file may reach (records included) */
	uint64_t size;       /* bytes in the file so far (as far as we know) */
	bool truncated;      /* the marker was written; drop everything */
	int error;           /* first write error (-errno), writing stops */
	logwriter_clock_fn clock; /* time_now_ms unless a test sets it */
	size_t pending;      /* bytes in buf not yet written */
	char buf[LOGWRITER_BUF];
};

struct log_stream {
	char src;            /* LOGFMT_STDOUT or LOGFMT_STDERR */
	size_t len;          /* bytes of an unfinished line in buf */
	char buf[LOGFMT_MAX_LINE];
};

/* Set up a writer on fd (not owned). The starting size is the file's
 * current size (fstat), so text already there counts against the limit. */
void logwriter_init(struct logwriter *lw, int fd, uint64_t limit);

/* Append one record; msg (len bytes, no '\n') longer than LOGFMT_MAX_LINE
 * is split. Returns 0, or -ENOSPC once the cap is reached (the marker was
 * written), or the first write error. Call logwriter_flush to write. */
int logwriter_record(struct logwriter *lw, char src, const char *msg, size_t len);

/* A system record that bypasses the cap (timeouts, OOM, truncation):
 * printf-style, one line. Written at once (with what was pending). */
int logwriter_system(struct logwriter *lw, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Write what is pending. 0 or the first write error. */
int logwriter_flush(struct logwriter *lw);

void log_stream_init(struct log_stream *s, char src);

/* Feed n bytes read from the stream: emits every complete line. */
void log_stream_feed(struct logwriter *lw, struct log_stream *s,
		     const char *data, size_t n);

/* Space left in s->buf for a direct read() (never 0 between calls), so
 * init can read into the buffer without copying; then call
 * log_stream_commit with the count read. */
static inline char *log_stream_space(struct log_stream *s, size_t *avail)
{
	*avail = sizeof(s->buf) - s->len;
	return s->buf + s->len;
}
void log_stream_commit(struct logwriter *lw, struct log_stream *s, size_t n);

/* EOF: write the partial last line if any. */
void log_stream_flush(struct logwriter *lw, struct log_stream *s);

#endif
