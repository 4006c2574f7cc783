/*
 * stream.c - NDJSON log lines to mags_log_event callbacks (see stream.h).
 *
 * Each line is handed on as soon as its '\n' arrives, so `mags run` shows
 * a job's output at the pace the job produces it.
 */
#include "libmags/stream.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "common/banned.h"

void stream_init(struct stream *s, mags_log_cb cb, void *arg,
		 struct mags_err *err)
{
	memset(s, 0, sizeof(*s));
	s->cb = cb;
	s->arg = arg;
	s->err = err;
}

void stream_release(struct stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

static const char *str_or(json_t *j, const char *key, const char *dflt)
{
	json_t *v = json_object_get(j, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

int stream_line(struct stream *s, const char *line, size_t len)
{
	struct mags_log_event ev = { .line = line, .line_len = len };
	json_error_t jerr;
	json_t *j, *code;
	int r;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0; /* a blank keep-alive line */
	j = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(s->err, MAGS_E_INTERNAL, EPROTO,
			       "bad log line from server: %s",
			       j ? "not an object" : jerr.text);
	}
	ev.json = j;
	if (strcmp(str_or(j, "event", ""), "end") == 0) {
		ev.end = true;
		ev.status = str_or(j, "status", "");
		code = json_object_get(j, "exit_code");
		if (json_is_integer(code)) {
			ev.has_exit_code = true;
			ev.exit_code = (int)json_integer_value(code);
		}
		ev.error_message = str_or(j, "error_message", NULL);
		s->got_end = true;
	} else {
		ev.message = str_or(j, "message", "");
		ev.source = str_or(j, "source", "stdout");
		ev.timestamp = str_or(j, "timestamp", "");
	}
	r = s->cb ? s->cb(&ev, s->arg) : 0;
	json_decref(j);
	return r;
}

int stream_feed(struct stream *s, const char *data, size_t len)
{
	while (len > 0 && !s->got_end && !s->ret) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;

		if (s->len + take > STREAM_MAX_LINE) {
			s->ret = err_set(s->err, MAGS_E_TOO_LARGE, EMSGSIZE,
					 "log line from server longer than %u bytes",
					 STREAM_MAX_LINE);
			break;
		}
		if (s->len + take + 1 > s->cap) {
			s->cap = (s->len + take + 1) * 2;
			s->buf = xrealloc(s->buf, s->cap);
		}
		memcpy(s->buf + s->len, data, take);
		s->len += take;
		s->buf[s->len] = '\0';
		if (nl) {
			size_t n = s->len;

			s->len = 0;
			s->ret = stream_line(s, s->buf, n);
		}
		data += take + (nl ? 1 : 0);
		len -= take + (nl ? 1 : 0);
	}
	return s->ret;
}

int stream_finish(struct stream *s)
{
	if (s->len > 0 && !s->got_end && !s->ret) {
		size_t n = s->len;

		s->len = 0;
		s->ret = stream_line(s, s->buf, n);
	}
	return s->ret;
}
