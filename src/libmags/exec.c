/*
 * exec.c - mags_job_exec: run a command in a live job (DECISIONS D2).
 *
 * The request asks for the streaming form (?stream=1): NDJSON lines
 * {"stream": "stdout"|"stderr", "data": "..."} as the command writes, then
 * {"exit_code": N, ...}. A server that only knows the plain form answers
 * one JSON object {"exit_code", "stdout", "stderr", "output"}; both are
 * recognised by content, so the caller sees the same callbacks either way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "libmags/client.h"
#include "libmags/url.h"
#include "mags/mags.h"
#include "common/banned.h"

/* A plain answer is one object holding the whole output: it, or any one
 * line, may be as large as a buffered answer. */
#define EXEC_MAX_PLAIN (HTTP_MAX_BODY)

struct exec_stream {
	mags_exec_cb cb;
	void *arg;
	struct mags_err *err;
	char *line;          /* the incomplete line */
	size_t len, cap;
	char *rest;          /* lines that were not JSON on their own (a
			      * pretty-printed plain answer) */
	size_t rest_len, rest_cap;
	json_t *final;       /* the object with the exit code */
	int ret;
};

static void append(char **buf, size_t *len, size_t *cap, const char *data,
		   size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static int deliver(struct exec_stream *s, const char *stream, json_t *v)
{
	if (!json_is_string(v) || json_string_length(v) == 0 || !s->cb)
		return 0;
	return s->cb(stream, json_string_value(v), json_string_length(v), s->arg);
}

/* A complete JSON object from the server: a chunk, the end, or a plain
 * answer. */
static int exec_object(struct exec_stream *s, json_t *j)
{
	json_t *stream = json_object_get(j, "stream");
	json_t *code = json_object_get(j, "exit_code");
	json_t *msg = json_object_get(j, "error");
	int r;

	if (json_is_string(stream))
		return deliver(s, json_string_value(stream), json_object_get(j, "data"));
	if (json_is_string(msg) && !json_is_integer(code))
		return err_set(s->err, MAGS_E_INTERNAL, EPROTO, "%s",
			       json_string_value(msg));
	if (!json_is_integer(code))
		return 0; /* something newer than us: ignore it */
	if (json_object_get(j, "stdout") || json_object_get(j, "stderr")) {
		r = deliver(s, "stdout", json_object_get(j, "stdout"));
		if (r == 0)
			r = deliver(s, "stderr", json_object_get(j, "stderr"));
		if (r)
			return r;
	} else if (json_object_get(j, "output")) {
		r = deliver(s, "stdout", json_object_get(j, "output"));
		if (r)
			return r;
	}
	json_decref(s->final);
	s->final = json_incref(j);
	return 0;
}

static int exec_line(struct exec_stream *s, const char *line, size_t len)
{
	json_t *j;
	int r;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (s->rest_len == 0) {
		j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
		if (json_is_object(j)) {
			r = exec_object(s, j);
			json_decref(j);
			return r;
		}
		json_decref(j);
	}
	if (s->rest_len + len > EXEC_MAX_PLAIN)
		return err_set(s->err, MAGS_E_TOO_LARGE, EMSGSIZE,
			       "exec answer larger than %u bytes", EXEC_MAX_PLAIN);
	append(&s->rest, &s->rest_len, &s->rest_cap, line, len);
	append(&s->rest, &s->rest_len, &s->rest_cap, "\n", 1);
	return 0;
}

static int exec_body(const char *data, size_t len, void *arg)
{
	struct exec_stream *s = arg;

	while (len > 0 && !s->ret) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;

		if (s->len + take > EXEC_MAX_PLAIN) {
			s->ret = err_set(s->err, MAGS_E_TOO_LARGE, EMSGSIZE,
					 "exec answer line longer than %u bytes",
					 EXEC_MAX_PLAIN);
			break;
		}
		append(&s->line, &s->len, &s->cap, data, take);
		if (nl) {
			size_t n = s->len;

			s->len = 0;
			s->ret = exec_line(s, s->line, n);
		}
		data += take + (nl ? 1 : 0);
		len -= take + (nl ? 1 : 0);
	}
	return s->ret;
}

/* The body ended: the last unterminated line, then a plain answer that
 * spanned several lines. */
static int exec_finish(struct exec_stream *s)
{
	json_error_t jerr;
	json_t *j;
	int r;

	if (s->len > 0) {
		size_t n = s->len;

		s->len = 0;
		r = exec_line(s, s->line, n);
		if (r)
			return r;
	}
	if (s->rest_len > 0 && !s->final) {
		j = json_loadb(s->rest, s->rest_len, JSON_ALLOW_NUL, &jerr);
		if (!json_is_object(j)) {
			json_decref(j);
			return err_set(s->err, MAGS_E_INTERNAL, EPROTO,
				       "bad exec answer from server: %s",
				       j ? "not an object" : jerr.text);
		}
		r = exec_object(s, j);
		json_decref(j);
		if (r)
			return r;
	}
	if (!s->final)
		return err_set(s->err, MAGS_E_UNAVAILABLE, ECONNRESET,
			       "exec answer ended without an exit code");
	return 0;
}

int mags_job_exec(struct mags_client *c, const char *id, const char *command,
		  int timeout, json_t *env, mags_exec_cb cb, void *arg,
		  json_t **result, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	struct exec_stream s = { .cb = cb, .arg = arg, .err = err };
	struct http_resp resp;
	json_t *body;
	int r;

	if (result)
		*result = NULL;
	if (client_check_param(id, "job id", err) < 0)
		return -EINVAL;
	if (!command || !*command)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no command given");
	if (env && !json_is_object(env))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "exec env must be a JSON object");
	body = json_pack("{s:s}", "command", command);
	if (timeout > 0)
		json_object_set_new(body, "timeout", json_integer(timeout));
	if (env)
		json_object_set(body, "env", env);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s/exec?stream=1", seg);
	r = client_send(c, "POST", path, text, exec_body, &s, &resp, err);
	if (s.ret) {
		r = s.ret;
	} else if (r < 0) {
		if (r != -ECANCELED && resp.streaming)
			err_set(err, MAGS_E_UNAVAILABLE, ECONNRESET,
				"exec stream broke before the command ended");
	} else if (resp.status < 200 || resp.status >= 300) {
		r = client_http_error(resp.status, resp.body, resp.body_len, err);
	} else {
		r = exec_finish(&s);
	}
	if (r == 0 && result)
		*result = json_incref(s.final);
	json_decref(s.final);
	free(s.line);
	free(s.rest);
	http_resp_release(&resp);
	return r;
}
