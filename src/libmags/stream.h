/*
 * stream.h - split a followed log (NDJSON: one JSON object per line) into
 * events as body bytes arrive, however the bytes are cut into reads and
 * chunks.
 */
#ifndef MAGS_LIBMAGS_STREAM_H
#define MAGS_LIBMAGS_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h" /* before mags.h, which then reuses its struct */
#include "mags/mags.h"

/* One line may be a 64 KiB log line escaped as JSON (up to 6 bytes per
 * byte) plus its fields. */
#define STREAM_MAX_LINE (1u << 20)

struct stream {
	mags_log_cb cb;
	void *arg;
	char *buf;           /* the incomplete line so far */
	size_t len, cap;
	bool got_end;        /* the end event was delivered */
	int ret;             /* the callback's non-zero return, or an error */
	struct mags_err *err;
};

void stream_init(struct stream *s, mags_log_cb cb, void *arg,
		 struct mags_err *err);
void stream_release(struct stream *s);

/* Feed bytes. Returns 0, the callback's non-zero value, or -EPROTO (a line
 * that is not a JSON object) / -EMSGSIZE (a line over STREAM_MAX_LINE)
 * with err filled. Bytes after the end event are ignored. */
int stream_feed(struct stream *s, const char *data, size_t len);

/* The stream ended: deliver a last line that had no '\n'. Returns as
 * stream_feed. */
int stream_finish(struct stream *s);

/* Turn one complete line (no '\n') into an event and deliver it. */
int stream_line(struct stream *s, const char *line, size_t len);

#endif
