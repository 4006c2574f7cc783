/*
 * logwriter.c - output bytes to capped job log records (see logwriter.h).
 *
 * Records are assembled in the writer's buffer and written whole with
 * write(2) on an O_APPEND fd, so records from init and from the
 * supervisor never interleave mid-line and a follower never sees half a
 * header (a regular file takes an O_APPEND write in one piece).
 */
#include "runtime/logwriter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "common/banned.h"

#define HDR_MAX 32

void logwriter_init(struct logwriter *lw, int fd, uint64_t limit)
{
	struct stat st;

	/* Not memset: buf is large and needs no clearing. */
	lw->fd = fd;
	lw->limit = limit;
	lw->size = 0;
	lw->truncated = false;
	lw->error = 0;
	lw->pending = 0;
	lw->clock = time_now_ms;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		lw->size = (uint64_t)st.st_size;
}

int logwriter_flush(struct logwriter *lw)
{
	int r;

	if (lw->error || lw->pending == 0)
		return lw->error;
	r = write_full(lw->fd, lw->buf, lw->pending);
	lw->pending = 0;
	if (r < 0)
		lw->error = r;
	return r;
}

/* Append one record (len <= LOGFMT_MAX_LINE) to the buffer. */
static int append_rec(struct logwriter *lw, char src, const char *msg, size_t len)
{
	size_t h;
	int r;

	if (lw->pending + HDR_MAX + len + 1 > sizeof(lw->buf) &&
	    (r = logwriter_flush(lw)) < 0)
		return r;
	h = logfmt_header(lw->buf + lw->pending, HDR_MAX, lw->clock(), src);
	memcpy(lw->buf + lw->pending + h, msg, len);
	lw->buf[lw->pending + h + len] = '\n';
	lw->pending += h + len + 1;
	lw->size += h + len + 1;
	return 0;
}

int logwriter_system(struct logwriter *lw, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (lw->error)
		return lw->error;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	int r = append_rec(lw, LOGFMT_SYSTEM, msg, (size_t)n);
	return r < 0 ? r : logwriter_flush(lw);
}

int logwriter_record(struct logwriter *lw, char src, const char *msg, size_t len)
{
	if (lw->error)
		return lw->error;
	if (lw->truncated)
		return -ENOSPC;
	do {
		size_t n = len > LOGFMT_MAX_LINE ? LOGFMT_MAX_LINE : len;
		char hdr[HDR_MAX];
		size_t h = logfmt_header(hdr, sizeof(hdr), lw->clock(), src);

		if (lw->size + h + n + 1 > lw->limit) {
			lw->truncated = true;
			logwriter_system(lw, "[log truncated: limit of %llu bytes reached]",
					 (unsigned long long)lw->limit);
			return -ENOSPC;
		}
		int r = append_rec(lw, src, msg, n);
		if (r < 0)
			return r;
		msg += n;
		len -= n;
	} while (len > 0);
	return 0;
}

void log_stream_init(struct log_stream *s, char src)
{
	s->src = src;
	s->len = 0;
}

void log_stream_commit(struct logwriter *lw, struct log_stream *s, size_t n)
{
	size_t start = 0, i;

	/* Only the new bytes can hold a newline: the old ones were scanned. */
	i = s->len;
	s->len += n;
	for (; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		logwriter_record(lw, s->src, s->buf + start, i - start);
		start = i + 1;
	}
	if (start > 0) {
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
	}
	/* A full buffer without a newline: cut the line here. */
	if (s->len == sizeof(s->buf)) {
		logwriter_record(lw, s->src, s->buf, s->len);
		s->len = 0;
	}
}

void log_stream_feed(struct logwriter *lw, struct log_stream *s,
		     const char *data, size_t n)
{
	while (n > 0) {
		size_t avail;
		char *p = log_stream_space(s, &avail);
		size_t k = n < avail ? n : avail;

		memcpy(p, data, k);
		log_stream_commit(lw, s, k);
		data += k;
		n -= k;
	}
}

void log_stream_flush(struct logwriter *lw, struct log_stream *s)
{
	if (s->len > 0) {
		logwriter_record(lw, s->src, s->buf, s->len);
		s->len = 0;
	}
}
