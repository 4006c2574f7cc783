/*
 * api_exec.c - commands in a live sandbox (DECISIONS D2) and the other
 * long-lived-sandbox endpoints:
 *
 *   POST  /mags-jobs/{id}/exec   {"command", "timeout"?, "env"?, "cwd"?, "stdin"?}
 *         -> {"exit_code", "output", "stdout", "stderr", "duration_ms"}
 *         ?stream=1 -> NDJSON {"stream": "stdout"|"stderr", "data"} lines,
 *         then {"exit_code", "duration_ms"} (or {"error"} if it failed
 *         after the stream began)
 *   PATCH /mags-jobs/{id}        {"no_sleep"?, "startup_command"?, "idle_timeout"?}
 *                                -> the job
 *
 * and a run on a workspace a live persistent job holds, which executes
 * inside that sandbox as a new job (api_exec_run_in, from api_jobs.c).
 *
 * Every {id} of /mags-jobs is resolved by api_jobs_own: a request id, a job
 * name or a workspace name, the caller's own jobs only, a live job first.
 *
 * An exec never blocks the loop: the request waits suspended (the plain
 * form) or streams (MHD content reader suspended while there is nothing
 * to send) while execclient.c talks to the sandbox's init. A sleeping
 * job is woken first (lifecycle.h). Plain-form output is kept up to
 * EXEC_CAPTURE_MAX bytes; past that it is dropped (the exec still runs to
 * its end) and "truncated": true is set. A slow streaming client pauses
 * the read from the sandbox (EXEC_STREAM_HIGH), which slows only its exec.
 */
#include <errno.h>
#include <jansson.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/execproto.h"
#include "common/logfmt.h"
#include "common/util.h"
#include "magsd/api.h"
#include "magsd/api_validate.h"
#include "magsd/execclient.h"
#include "magsd/joblog.h"
#include "magsd/lifecycle.h"
#include "magsd/log.h"
#include "magsd/logs.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"
#include "common/banned.h"

#define EXEC_CAPTURE_MAX ((size_t)16 * 1024 * 1024)
#define EXEC_STREAM_HIGH ((size_t)1024 * 1024)
#define EXEC_STREAM_LOW ((size_t)256 * 1024)
#define EXEC_TIMEOUT_EXIT 124

/* ---- name resolution ---- */

int api_jobs_own(struct http_req *req, struct job *job)
{
	char id[JOB_ID_MAX];
	/* a request id (what SDKs send): one read; else a name */
	int r = store_job_get(req->srv->store, req->params.v[0], req->ident.user_id, job);

	if (r == -ENOENT) {
		r = store_job_resolve(req->srv->store, req->ident.user_id, req->params.v[0], id);
		if (r == 0)
			r = store_job_get(req->srv->store, id, req->ident.user_id, job);
	}
	if (r == -ENOENT)
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "job not found");
	else if (r < 0)
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading job");
	else if (strcmp(req->method, "GET"))
		/* looking (status, logs: a dashboard polls) is not activity */
		lifecycle_touch(req->srv, job->id);
	return r;
}

/* ---- one exec ---- */

struct buf {
	char *p;
	size_t len;
};

static void buf_add(struct buf *b, const char *d, size_t n)
{
	b->p = xrealloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
}

enum { MODE_PLAIN, MODE_STREAM, MODE_RUN };

struct exec_call {
	struct exec_call *prev, *next;
	struct server *srv;
	int mode;
	char job_id[JOB_ID_MAX];      /* the sandbox's job */
	char *request;                /* the 'Q' JSON */
	struct execclient *ec;
	int waiting_wake;
	int in_exec;                  /* lifecycle_exec_begin was called */
	int64_t t0;
	/* MODE_PLAIN: the suspended request and what the exec wrote */
	struct http_req *req;
	struct buf out, err, all;
	size_t captured;
	int truncated;
	/* MODE_STREAM: the MHD response's state */
	struct MHD_Connection *conn;
	struct buf ob;                /* NDJSON not yet sent, from opos */
	size_t opos;
	int suspended, done, abort, paused;
	char tail[2][4];              /* an unfinished UTF-8 sequence per stream */
	size_t tail_len[2];
	/* MODE_RUN: the new job whose output this is */
	char run_id[JOB_ID_MAX];
	struct joblog *jl;
};

static struct exec_call *calls;

static void on_woken(void *arg, int r, const char *msg);

static void call_link(struct exec_call *c)
{
	c->next = calls;
	if (calls)
		calls->prev = c;
	calls = c;
}

static void call_unlink(struct exec_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (calls == c)
		calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void call_free(struct exec_call *c)
{
	call_unlink(c);
	execclient_free(c->ec);
	if (c->waiting_wake)
		lifecycle_wake_cancel(c->srv, c->job_id, on_woken, c);
	if (c->in_exec)
		lifecycle_exec_end(c->srv, c->job_id);
	joblog_close(c->jl);
	free(c->request);
	free(c->out.p);
	free(c->err.p);
	free(c->all.p);
	free(c->ob.p);
	free(c);
}

/* Bytes at the end of d[0..n) that start a UTF-8 sequence not finished yet. */
static size_t utf8_unfinished(const unsigned char *d, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		unsigned char c = d[n - k];
		if ((c & 0xC0) == 0x80)
			continue;           /* continuation: look further back */
		size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
		return need > k ? k : 0;
	}
	return 0;
}

static void stream_line(struct exec_call *c, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!s)
		abort();
	buf_add(&c->ob, s, strlen(s));
	buf_add(&c->ob, "\n", 1);
	free(s);
}

static void stream_kick(struct exec_call *c)
{
	if (c->suspended) {
		c->suspended = 0;
		MHD_resume_connection(c->conn);
	}
	if (c->ec && !c->paused && c->ob.len - c->opos > EXEC_STREAM_HIGH) {
		c->paused = 1;
		execclient_pause(c->ec, 1);
	}
}

static void on_out(void *arg, int stream, const char *data, size_t n)
{
	struct exec_call *c = arg;
	int k = stream == EXECCLIENT_STDERR;

	if (c->in_exec)
		lifecycle_touch(c->srv, c->job_id);
	if (c->mode == MODE_RUN) {
		joblog_write(c->jl, k ? LOGFMT_STDERR : LOGFMT_STDOUT, data, n);
		return;
	}
	if (c->mode == MODE_PLAIN) {
		if (c->captured + n > EXEC_CAPTURE_MAX) {
			c->truncated = 1;
			n = EXEC_CAPTURE_MAX - c->captured;
		}
		c->captured += n;
		buf_add(k ? &c->err : &c->out, data, n);
		buf_add(&c->all, data, n);
		return;
	}
	/* stream: keep an unfinished UTF-8 character for the next chunk */
	_cleanup_free_ char *joined = xmalloc(c->tail_len[k] + n);
	memcpy(joined, c->tail[k], c->tail_len[k]);
	memcpy(joined + c->tail_len[k], data, n);
	size_t len = c->tail_len[k] + n;
	size_t keep = utf8_unfinished((const unsigned char *)joined, len);
	memcpy(c->tail[k], joined + len - keep, keep);
	c->tail_len[k] = keep;
	if (len - keep == 0)
		return;
	stream_line(c, json_pack("{s:s, s:o}", "stream", k ? "stderr" : "stdout",
				 "data", job_json_string(joined, len - keep)));
	stream_kick(c);
}

static void run_finish(struct exec_call *c, const char *status, int code, const char *emsg);

static void on_done(void *arg, int r, int code, int timed_out, const char *reply,
		    const char *msg)
{
	struct exec_call *c = arg;
	int64_t ms = time_mono_ms() - c->t0;

	(void)reply;
	c->ec = NULL;
	if (c->in_exec) {
		c->in_exec = 0;
		lifecycle_exec_end(c->srv, c->job_id);
	}
	if (r == 0 && timed_out)
		code = EXEC_TIMEOUT_EXIT;
	if (c->mode == MODE_RUN) {
		if (r < 0)
			run_finish(c, "error", -1, msg);
		else if (timed_out)
			run_finish(c, "error", EXEC_TIMEOUT_EXIT, "job timed out");
		else
			run_finish(c, "completed", code, NULL);
		return;
	}
	if (c->mode == MODE_PLAIN) {
		struct http_req *req = c->req;
		if (r < 0) {
			char m[MAGS_ERR_MSG_MAX];
			snprintf(m, sizeof(m), "exec failed: %s", msg ? msg : "unknown error");
			http_resume_error(req, r == -EINVAL ? MAGS_E_BAD_REQUEST : MAGS_E_CONFLICT, m);
		} else {
			json_t *o = json_pack("{s:i, s:o, s:o, s:o, s:I}", "exit_code", code,
					      "output", job_json_string(c->all.p ? c->all.p : "", c->all.len),
					      "stdout", job_json_string(c->out.p ? c->out.p : "", c->out.len),
					      "stderr", job_json_string(c->err.p ? c->err.p : "", c->err.len),
					      "duration_ms", (json_int_t)ms);
			if (timed_out)
				json_object_set_new(o, "timed_out", json_true());
			if (c->truncated)
				json_object_set_new(o, "truncated", json_true());
			http_resume_json(req, 200, o);
		}
		call_free(c);
		return;
	}
	/* stream: flush unfinished characters, then the last line */
	for (int k = 0; k < 2; k++)
		if (c->tail_len[k])
			stream_line(c, json_pack("{s:s, s:o}", "stream", k ? "stderr" : "stdout",
						 "data", job_json_string(c->tail[k], c->tail_len[k])));
	if (r < 0) {
		stream_line(c, json_pack("{s:s}", "error", msg ? msg : "exec failed"));
	} else {
		json_t *o = json_pack("{s:i, s:I}", "exit_code", code, "duration_ms", (json_int_t)ms);
		if (timed_out)
			json_object_set_new(o, "timed_out", json_true());
		stream_line(c, o);
	}
	c->done = 1;
	stream_kick(c);
}

/* Connect to the sandbox and send the request. */
static void exec_start(struct exec_call *c)
{
	struct server *srv = c->srv;
	struct mags_err err;
	_cleanup_free_ char *ctl = xasprintf("%s/run/%s.sock", srv->cfg->data_dir, c->job_id);

	c->ec = execclient_start(srv->loop, ctl, c->request, strlen(c->request), on_out, on_done,
				 c, &err);
	if (!c->ec) {
		on_done(c, -EIO, -1, 0, NULL, err.msg);
		return;
	}
	c->in_exec = 1;
	lifecycle_exec_begin(srv, c->job_id);
}

static void on_woken(void *arg, int r, const char *msg)
{
	struct exec_call *c = arg;

	c->waiting_wake = 0;
	if (r < 0) {
		char m[MAGS_ERR_MSG_MAX];
		snprintf(m, sizeof(m), "the sandbox could not be woken: %s", msg ? msg : "");
		on_done(c, -EIO, -1, 0, NULL, m);
		return;
	}
	exec_start(c);
}

/* Start c on its job: at once, or once the job is awake. 0, or a negative
 * errno from lifecycle_wake (nothing started; the caller answers). */
static int call_go(struct exec_call *c)
{
	int r = lifecycle_wake(c->srv, c->job_id, on_woken, c);

	if (r < 0)
		return r;
	call_link(c);
	c->t0 = time_mono_ms();
	if (r == 1)
		exec_start(c);
	else
		c->waiting_wake = 1;
	return 0;
}

/* The cancel above matches (cb, arg); waiting calls registered on_woken. */
static void call_cancel_wake(struct exec_call *c)
{
	if (c->waiting_wake) {
		lifecycle_wake_cancel(c->srv, c->job_id, on_woken, c);
		c->waiting_wake = 0;
	}
}

/* ---- the request ---- */

static int env_name_ok(const char *k)
{
	if (!*k || strlen(k) > 128 || !((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
					 *k == '_'))
		return 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* The 'Q' JSON for an exec request body, or NULL with err. */
static char *exec_request(const char *body, size_t len, struct mags_err *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *v, *q;
	char *s = NULL;

	if (!o || !json_is_object(o)) {
		if (!o)
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "invalid JSON at line %d column %d: %s",
				jerr.line, jerr.column, jerr.text);
		else
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "the body must be a JSON object");
		json_decref(o);
		return NULL;
	}
	q = json_object();
	v = json_object_get(o, "command");
	if (!json_is_string(v) || !json_string_length(v) ||
	    json_string_length(v) > EXECPROTO_COMMAND_MAX ||
	    memchr(json_string_value(v), '\0', json_string_length(v))) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			"'command' must be a non-empty string of at most %u bytes",
			EXECPROTO_COMMAND_MAX);
		goto out;
	}
	json_object_set(q, "command", v);
	v = json_object_get(o, "timeout");
	if (v && !json_is_null(v)) {
		double t = json_is_number(v) ? json_number_value(v) : -1;
		if (t < 0 || t > EXECPROTO_TIMEOUT_MAX) {
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				"'timeout' must be a number of seconds from 0 to %u",
				EXECPROTO_TIMEOUT_MAX);
			goto out;
		}
		if (t > 0)
			json_object_set_new(q, "timeout", json_integer((json_int_t)t + ((double)(json_int_t)t < t)));
	}
	v = json_object_get(o, "env");
	if (v && !json_is_null(v)) {
		const char *k;
		json_t *e;
		if (!json_is_object(v) || json_object_size(v) > EXECPROTO_ENV_MAX) {
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				"'env' must be an object of at most %d strings", EXECPROTO_ENV_MAX);
			goto out;
		}
		json_object_foreach(v, k, e) {
			if (!json_is_string(e) || !env_name_ok(k)) {
				err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					"'env': '%.64s' must be a name [A-Za-z_][A-Za-z0-9_]* with a string value",
					k);
				goto out;
			}
		}
		json_object_set(q, "env", v);
	}
	v = json_object_get(o, "cwd");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_value(v)[0] != '/' ||
		    json_string_length(v) > 4096) {
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "'cwd' must be an absolute path");
			goto out;
		}
		json_object_set(q, "cwd", v);
	}
	v = json_object_get(o, "stdin");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > EXECPROTO_STDIN_MAX) {
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				"'stdin' must be a string of at most %u bytes", EXECPROTO_STDIN_MAX);
			goto out;
		}
		json_object_set(q, "stdin", v);
	}
	s = json_dumps(q, JSON_COMPACT);
out:
	json_decref(q);
	json_decref(o);
	return s;
}

static int truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct exec_call *c = cls;

	(void)pos;
	if (c->abort)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (c->opos < c->ob.len) {
		size_t n = c->ob.len - c->opos;
		if (n > max)
			n = max;
		memcpy(out, c->ob.p + c->opos, n);
		c->opos += n;
		if (c->opos == c->ob.len) {
			c->opos = c->ob.len = 0;
		}
		if (c->paused && c->ec && c->ob.len - c->opos < EXEC_STREAM_LOW) {
			c->paused = 0;
			execclient_pause(c->ec, 0);
		}
		return (ssize_t)n;
	}
	if (c->done)
		return MHD_CONTENT_READER_END_OF_STREAM;
	c->suspended = 1;
	MHD_suspend_connection(c->conn);
	return 0;
}

static void stream_free(void *cls)
{
	struct exec_call *c = cls;

	call_cancel_wake(c);
	call_free(c);
}

static int job_live_or_reply(struct http_req *req, const struct job *job)
{
	if (job_status_terminal(job->status)) {
		http_reply_errorf(req, MAGS_E_CONFLICT,
				  "job %s has %s: there is no sandbox to run the command in "
				  "(start one with 'mags new' or run it again)", job->id,
				  !strcmp(job->status, "stopped") ? "been stopped" : "finished");
		return -1;
	}
	return 0;
}

static void reply_wake_error(struct http_req *req, const char *id, int r)
{
	if (r == -ESRCH)
		http_reply_errorf(req, MAGS_E_CONFLICT,
				  "job %s is ending: there is no sandbox to run the command in", id);
	else if (r == -EAGAIN)
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "server is shutting down");
	else if (r == -ENOENT)
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "job not found");
	else
		http_reply_errorf(req, MAGS_E_INTERNAL, "could not reach the sandbox");
}

void api_jobs_exec(struct http_req *req)
{
	struct server *srv = req->srv;
	struct mags_err err;
	struct job job;
	char *q;
	int r;

	if (api_jobs_own(req, &job) < 0)
		return;
	if (job_live_or_reply(req, &job) < 0) {
		job_release(&job);
		return;
	}
	q = exec_request(req->body ? req->body : "", req->body_len, &err);
	if (!q) {
		job_release(&job);
		http_reply_error(req, &err);
		return;
	}
	struct exec_call *c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->request = q;
	snprintf(c->job_id, sizeof(c->job_id), "%s", job.id);
	job_release(&job);

	if (!truthy(http_query(req, "stream"))) {
		c->mode = MODE_PLAIN;
		c->req = req;
		/* suspended first: on_done may answer from inside call_go */
		http_suspend(req);
		if ((r = call_go(c)) < 0) {
			http_resume_error(req, r == -ESRCH ? MAGS_E_CONFLICT : r == -EAGAIN ?
					  MAGS_E_UNAVAILABLE : r == -ENOENT ? MAGS_E_NOT_FOUND :
					  MAGS_E_INTERNAL, r == -ESRCH ? "the job is ending: there is "
					  "no sandbox to run the command in" : "could not reach the sandbox");
			call_free(c);
		}
		return;
	}
	c->mode = MODE_STREAM;
	c->conn = req->conn;
	if ((r = call_go(c)) < 0) {
		reply_wake_error(req, c->job_id, r);
		call_free(c);
		return;
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
								     stream_read, c, stream_free);
	if (!resp) {
		call_cancel_wake(c);
		call_free(c);
		http_reply_errorf(req, MAGS_E_INTERNAL, "could not start the output stream");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	http_reply_response(req, 200, resp);
}

/* ---- PATCH /mags-jobs/{id} ---- */

void api_jobs_update(struct http_req *req)
{
	struct server *srv = req->srv;
	json_error_t jerr;
	struct job job;
	json_t *o, *v;
	int no_sleep = -1, idle = -1;
	_cleanup_free_ char *startup = NULL;
	struct mags_err err;

	if (api_jobs_own(req, &job) < 0)
		return;
	o = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		job_release(&job);
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "the body must be a JSON object");
		return;
	}
	v = json_object_get(o, "no_sleep");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'no_sleep' must be true or false");
			goto out;
		}
		no_sleep = json_is_true(v);
		if (no_sleep && !job.persistent) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'no_sleep' requires 'persistent'");
			goto out;
		}
	}
	v = json_object_get(o, "startup_command");
	if (v) {
		if (!json_is_null(v) && (!json_is_string(v) || json_string_length(v) > 64 * 1024 ||
					 memchr(json_string_value(v), '\0', json_string_length(v)))) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST,
					  "'startup_command' must be a string of at most 65536 bytes");
			goto out;
		}
		startup = xstrdup(json_is_null(v) ? "" : json_string_value(v));
	}
	/* idle_timeout: seconds, or null for the server's default again */
	v = json_object_get(o, "idle_timeout");
	if (v) {
		if (api_validate_idle_timeout(v, &idle, &err) < 0) {
			http_reply_error(req, &err);
			goto out;
		}
		if (idle && !job.persistent) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST, "'idle_timeout' requires 'persistent'");
			goto out;
		}
	}
	if (job_status_terminal(job.status)) {
		http_reply_errorf(req, MAGS_E_CONFLICT, "job %s has ended: its settings are final",
				  job.id);
		goto out;
	}
	if (store_job_set_settings(srv->store, job.id, no_sleep, startup, idle) < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error updating job");
		goto out;
	}
	lifecycle_settings_changed(srv, job.id);
	char id[JOB_ID_MAX];
	snprintf(id, sizeof(id), "%s", job.id);
	job_release(&job);
	if (store_job_get(srv->store, id, NULL, &job) < 0) {
		json_decref(o);
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading job");
		return;
	}
	log_info("job %s settings: no_sleep %d, startup_command %s, idle_timeout %d", id,
		 job.no_sleep, job.startup_command ? "set" : "none", job.idle_timeout);
	http_reply_json(req, 200, job_to_json(&job, 0));
out:
	json_decref(o);
	job_release(&job);
}

/* ---- a run on a live workspace ---- */

static void run_finish(struct exec_call *c, const char *status, int code, const char *emsg)
{
	struct server *srv = c->srv;

	if (emsg)
		joblog_system(c->jl, emsg);
	joblog_close(c->jl);
	c->jl = NULL;
	(void)store_job_set_running(srv->store, c->run_id, time_now_ms());
	if (store_job_finish(srv->store, c->run_id, status, code, emsg, time_now_ms()) < 0)
		log_warn("job %s: could not record its end", c->run_id);
	log_info("job %s %s in the sandbox of job %s (exit %d)", c->run_id, status, c->job_id, code);
	lifecycle_run_ended(srv, c->run_id);
	call_free(c);
}

int api_exec_live_holder(struct server *srv, const char *user_id, const char *workspace,
			 char job_id[JOB_ID_MAX])
{
	struct job job;
	int r;

	if (!workspace || store_job_live_for_workspace(srv->store, user_id, workspace, job_id) < 0)
		return 0;
	if (store_job_get(srv->store, job_id, NULL, &job) < 0)
		return 0;
	r = job.persistent && (!strcmp(job.status, "running") || !strcmp(job.status, "sleeping")) &&
	    !(supervisor_is_live(srv->sv, job.id) && supervisor_is_stopping(srv->sv, job.id));
	job_release(&job);
	return r;
}

int api_exec_run_in(struct server *srv, const struct job *run, const char *holder,
		    const char *const *env, size_t n_env, struct mags_err *err)
{
	json_t *q = json_pack("{s:s}", "command", run->script);
	int r;

	if (run->timeout > 0)
		json_object_set_new(q, "timeout", json_integer(run->timeout));
	if (n_env) {
		json_t *e = json_object();
		for (size_t i = 0; i < n_env; i++) {
			const char *eq = strchr(env[i], '=');
			if (!eq)
				continue;
			_cleanup_free_ char *k = xstrndup(env[i], (size_t)(eq - env[i]));
			json_object_set_new(e, k, json_string(eq + 1));
		}
		json_object_set_new(q, "env", e);
	}
	struct exec_call *c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->mode = MODE_RUN;
	c->request = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	snprintf(c->job_id, sizeof(c->job_id), "%s", holder);
	snprintf(c->run_id, sizeof(c->run_id), "%s", run->id);
	c->jl = joblog_open(srv->cfg->data_dir, run->id, srv->cfg->log_limit);
	lifecycle_run_begin(srv, run->id);
	(void)store_job_set_running(srv->store, run->id, time_now_ms());
	if ((r = call_go(c)) < 0) {
		lifecycle_run_ended(srv, run->id);
		joblog_close(c->jl);
		c->jl = NULL;
		call_free(c);
		return err_set(err, MAGS_E_CONFLICT, -r, "the sandbox of workspace '%s' is ending",
			       run->workspace_id ? run->workspace_id : "");
	}
	log_info("job %s runs in the sandbox of job %s", run->id, holder);
	return 0;
}

/* ---- clients that went away ---- */

/* MHD reads nothing from a connection while its request is suspended or
 * its response waits for data, so a client that hung up (Ctrl-C on `mags
 * exec`) would only be noticed at the next write. Peek at the socket. */
static int peer_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char ch;
	ssize_t n;

	if (!ci)
		return 0;
	n = recv(ci->connect_fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int64_t next_peer_check;

int api_exec_next_timeout(int64_t now)
{
	if (!calls)
		return -1;
	return next_peer_check > now ? (int)(next_peer_check - now) : 0;
}

void api_exec_tick(struct server *srv, int64_t now)
{
	(void)srv;
	if (!calls || now < next_peer_check)
		return;
	next_peer_check = now + 1000;
	for (struct exec_call *c = calls, *next; c; c = next) {
		next = c->next;
		if (c->mode == MODE_STREAM && c->suspended && !c->done && peer_gone(c->conn)) {
			/* the exec is killed when its socket closes (stream_free) */
			c->abort = 1;
			stream_kick(c);
		} else if (c->mode == MODE_PLAIN && peer_gone(c->req->conn)) {
			log_info("exec on job %s: the client went away", c->job_id);
			call_cancel_wake(c);
			execclient_free(c->ec);
			c->ec = NULL;
			http_resume_error(c->req, MAGS_E_UNAVAILABLE, "client went away");
			call_free(c);
		}
	}
}

/* ---- daemon shutdown ---- */

void api_exec_shutdown(struct server *srv)
{
	(void)srv;
	for (struct exec_call *c = calls, *next; c; c = next) {
		next = c->next;
		call_cancel_wake(c);
		if (c->mode == MODE_PLAIN) {
			execclient_free(c->ec);
			c->ec = NULL;
			http_resume_error(c->req, MAGS_E_UNAVAILABLE, "server is shutting down");
			call_free(c);
		} else if (c->mode == MODE_STREAM) {
			execclient_free(c->ec);
			c->ec = NULL;
			call_unlink(c);
			c->abort = 1;
			stream_kick(c);
		} else {
			execclient_free(c->ec);
			c->ec = NULL;
			run_finish(c, "error", -1, "daemon stopped while the job ran");
		}
	}
}
