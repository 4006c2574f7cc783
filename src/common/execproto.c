/*
 * execproto.c - frames and JSON of the exec/control protocol (see
 * execproto.h). Both ends (magsd or the runtime's client, and the
 * sandbox's init) use these functions, so a limit or a field is defined
 * once.
 */
#include "common/execproto.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

void execproto_header(unsigned char hdr[EXECPROTO_HDR], char type, uint32_t len)
{
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
}

int execproto_peek(const void *buf, size_t avail, size_t max, char *type,
		   uint32_t *len)
{
	const unsigned char *p = buf;
	uint32_t n;

	if (avail < EXECPROTO_HDR)
		return 0;
	switch (p[0]) {
	case EXECPROTO_REQUEST: case EXECPROTO_STDOUT: case EXECPROTO_STDERR:
	case EXECPROTO_EXIT: case EXECPROTO_REPLY: case EXECPROTO_ERROR:
	case EXECPROTO_INPUT: case EXECPROTO_WINSIZE: case EXECPROTO_SIGNAL:
		break;
	default:
		return -EPROTO;
	}
	n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (n > max)
		return -E2BIG;
	*type = (char)p[0];
	*len = n;
	return 1;
}

static int valid_key(const char *k)
{
	if (!*k)
		return 0;
	for (const char *p = k; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (p > k && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

/* A JSON string without NUL bytes (jansson allows \u0000). */
static const char *plain_string(json_t *v, size_t *len)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || strlen(s) != n)
		return NULL;
	if (len)
		*len = n;
	return s;
}

#define BAD(...) err_set(err, MAGS_E_BAD_REQUEST, EINVAL, __VA_ARGS__)

int execproto_request_parse(const char *json, size_t len,
			    struct execproto_request *req, struct mags_err *err)
{
	json_error_t jerr;
	json_t *o, *v;
	int r = -EINVAL;
	size_t n;

	memset(req, 0, sizeof(*req));
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!o)
		return BAD("invalid JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		BAD("the request must be a JSON object");
		goto out;
	}

	v = json_object_get(o, "op");
	if (v) {
		const char *op = plain_string(v, NULL);
		if (op && !strcmp(op, "exec"))
			req->op = EXECPROTO_OP_EXEC;
		else if (op && !strcmp(op, "status"))
			req->op = EXECPROTO_OP_STATUS;
		else if (op && !strcmp(op, "stop"))
			req->op = EXECPROTO_OP_STOP;
		else if (op && !strcmp(op, "sftp"))
			req->op = EXECPROTO_OP_SFTP;
		else {
			BAD("'op' must be \"exec\", \"status\", \"stop\" or \"sftp\"");
			goto out;
		}
	}
	if (req->op != EXECPROTO_OP_EXEC) {
		r = 0;
		goto out;
	}

	v = json_object_get(o, "command");
	{
		const char *c = v ? plain_string(v, &n) : NULL;
		if (!c || n == 0) {
			BAD("'command' must be a non-empty string without NUL bytes");
			goto out;
		}
		if (n > EXECPROTO_COMMAND_MAX) {
			BAD("'command' longer than %u bytes", EXECPROTO_COMMAND_MAX);
			goto out;
		}
		req->command = xstrndup(c, n);
	}

	v = json_object_get(o, "env");
	if (v && !json_is_null(v)) {
		const char *key;
		json_t *val;

		if (!json_is_object(v)) {
			BAD("'env' must be an object of strings");
			goto out;
		}
		if (json_object_size(v) > EXECPROTO_ENV_MAX) {
			BAD("'env' has more than %d keys", EXECPROTO_ENV_MAX);
			goto out;
		}
		req->env = xcalloc(json_object_size(v) + 1, sizeof(char *));
		json_object_foreach(v, key, val) {
			const char *s = plain_string(val, &n);

			if (!valid_key(key)) {
				BAD("'env': invalid name '%.64s'", key);
				goto out;
			}
			if (!s) {
				BAD("'env': '%.64s' must be a string without NUL bytes", key);
				goto out;
			}
			if (strlen(key) + n + 1 > EXECPROTO_ENV_LEN_MAX) {
				BAD("'env': '%.64s' longer than %u bytes", key,
				    EXECPROTO_ENV_LEN_MAX);
				goto out;
			}
			req->env[req->n_env++] = xasprintf("%s=%s", key, s);
		}
	}

	v = json_object_get(o, "cwd");
	if (v && !json_is_null(v)) {
		const char *c = plain_string(v, &n);
		if (!c || c[0] != '/' || n >= PATH_MAX) {
			BAD("'cwd' must be an absolute path");
			goto out;
		}
		req->cwd = xstrdup(c);
	} else {
		req->cwd = xstrdup(EXECPROTO_DEFAULT_CWD);
	}

	v = json_object_get(o, "timeout");
	if (v && !json_is_null(v)) {
		json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;
		if (t < 0 || t > EXECPROTO_TIMEOUT_MAX) {
			BAD("'timeout' must be an integer number of seconds in 0..%u",
			    EXECPROTO_TIMEOUT_MAX);
			goto out;
		}
		req->timeout = (uint32_t)t;
	}

	v = json_object_get(o, "tty");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			BAD("'tty' must be a boolean");
			goto out;
		}
		req->tty = json_is_true(v);
	}

	req->rows = EXECPROTO_DEFAULT_ROWS;
	req->cols = EXECPROTO_DEFAULT_COLS;
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "cols" : "rows";

		v = json_object_get(o, name);
		if (v && !json_is_null(v)) {
			json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;
			if (t < 1 || t > EXECPROTO_WINSIZE_MAX) {
				BAD("'%s' must be an integer in 1..%d", name, EXECPROTO_WINSIZE_MAX);
				goto out;
			}
			*(k ? &req->cols : &req->rows) = (unsigned)t;
		}
	}

	v = json_object_get(o, "term");
	if (v && !json_is_null(v)) {
		const char *t = plain_string(v, &n);
		int ok = t && n > 0 && n <= EXECPROTO_TERM_MAX;

		for (size_t i = 0; ok && i < n; i++)
			ok = t[i] > ' ' && t[i] < 0x7f;
		if (!ok) {
			BAD("'term' must be 1..%d printable characters", EXECPROTO_TERM_MAX);
			goto out;
		}
		req->term = xstrndup(t, n);
	}

	v = json_object_get(o, "stdin_stream");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			BAD("'stdin_stream' must be a boolean");
			goto out;
		}
		req->stdin_stream = json_is_true(v);
	}

	v = json_object_get(o, "stdin");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);
		if (!s) {
			BAD("'stdin' must be a string");
			goto out;
		}
		n = json_string_length(v);
		if (n > EXECPROTO_STDIN_MAX) {
			BAD("'stdin' longer than %u bytes", EXECPROTO_STDIN_MAX);
			goto out;
		}
		req->stdin_data = xmalloc(n + 1);
		memcpy(req->stdin_data, s, n);
		req->stdin_data[n] = '\0';
		req->stdin_len = n;
		if (req->stdin_stream || req->tty) {
			BAD("'stdin' cannot be combined with 'stdin_stream' or 'tty' "
			    "(stdin then comes as 'I' frames)");
			goto out;
		}
	}
	if (req->tty)
		req->stdin_stream = 1;
	r = 0;
out:
	json_decref(o);
	return r;
}

#undef BAD

char *execproto_request_encode(const struct execproto_request *req, size_t *len)
{
	static const char *const ops[] = { "exec", "status", "stop", "sftp" };
	json_t *o = json_object();
	char *s;

	if (req->op != EXECPROTO_OP_EXEC) {
		json_object_set_new(o, "op", json_string(ops[req->op]));
	} else {
		json_object_set_new(o, "command", json_string(req->command ? req->command : ""));
		if (req->n_env) {
			json_t *env = json_object();
			for (size_t i = 0; i < req->n_env; i++) {
				const char *eq = strchr(req->env[i], '=');
				_cleanup_free_ char *k = NULL;
				if (!eq)
					continue;
				k = xstrndup(req->env[i], (size_t)(eq - req->env[i]));
				json_object_set_new(env, k, json_string(eq + 1));
			}
			json_object_set_new(o, "env", env);
		}
		if (req->cwd)
			json_object_set_new(o, "cwd", json_string(req->cwd));
		if (req->timeout)
			json_object_set_new(o, "timeout", json_integer(req->timeout));
		if (req->tty) {
			json_object_set_new(o, "tty", json_true());
			if (req->rows)
				json_object_set_new(o, "rows", json_integer(req->rows));
			if (req->cols)
				json_object_set_new(o, "cols", json_integer(req->cols));
		}
		if (req->term)
			json_object_set_new(o, "term", json_string(req->term));
		if (req->stdin_stream && !req->tty)
			json_object_set_new(o, "stdin_stream", json_true());
		if (req->stdin_data)
			json_object_set_new(o, "stdin",
					    json_stringn(req->stdin_data, req->stdin_len));
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		abort(); /* only on out of memory */
	*len = strlen(s);
	/* json_dumps allocates with malloc: the caller free()s as usual. */
	return s;
}

void execproto_request_release(struct execproto_request *req)
{
	if (!req)
		return;
	free(req->command);
	for (size_t i = 0; i < req->n_env; i++)
		free(req->env[i]);
	free(req->env);
	free(req->cwd);
	free(req->stdin_data);
	free(req->term);
	memset(req, 0, sizeof(*req));
}

void execproto_winsize_encode(unsigned char p[4], unsigned rows, unsigned cols)
{
	p[0] = (unsigned char)(rows >> 8);
	p[1] = (unsigned char)rows;
	p[2] = (unsigned char)(cols >> 8);
	p[3] = (unsigned char)cols;
}

int execproto_winsize_parse(const void *buf, size_t len, unsigned *rows, unsigned *cols)
{
	const unsigned char *p = buf;
	unsigned r, c;

	if (len != 4)
		return -EINVAL;
	r = (unsigned)p[0] << 8 | p[1];
	c = (unsigned)p[2] << 8 | p[3];
	if (r < 1 || r > EXECPROTO_WINSIZE_MAX || c < 1 || c > EXECPROTO_WINSIZE_MAX)
		return -EINVAL;
	*rows = r;
	*cols = c;
	return 0;
}

int execproto_signal_allowed(int sig)
{
	switch (sig) {
	case SIGINT: case SIGQUIT: case SIGHUP: case SIGTERM: case SIGKILL:
	case SIGUSR1: case SIGUSR2: case SIGWINCH:
		return 1;
	default:
		return 0;
	}
}

char *execproto_exit_encode(int exit_code, int timed_out, size_t *len)
{
	char *s = xasprintf("{\"exit_code\":%d,\"timed_out\":%s}", exit_code,
			    timed_out ? "true" : "false");
	*len = strlen(s);
	return s;
}

int execproto_exit_parse(const char *json, size_t len, int *exit_code, int *timed_out)
{
	json_t *o = json_loadb(json, len, 0, NULL), *c, *t;
	int r = -EINVAL;

	if (!o)
		return -EINVAL;
	c = json_object_get(o, "exit_code");
	t = json_object_get(o, "timed_out");
	if (json_is_integer(c) && json_integer_value(c) >= 0 &&
	    json_integer_value(c) <= 255) {
		*exit_code = (int)json_integer_value(c);
		*timed_out = json_is_true(t);
		r = 0;
	}
	json_decref(o);
	return r;
}
