/*
 * jobs.c - the typed calls of libmags on jobs: submit, status, logs (whole
 * and followed), list, stop, access, sync, update, whoami. Each is a thin
 * layer over mags_request that builds the path; following logs streams the
 * chunked NDJSON body through stream.c to the caller's callback as it
 * arrives. exec has its own file (exec.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "libmags/client.h"
#include "libmags/stream.h"
#include "mags/mags.h"
#include "common/banned.h"

static int check_id(const char *id, struct mags_err *err)
{
	if (!id || !*id)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no job id given");
	if (strlen(id) > 256)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "job id too long");
	return 0;
}

/* GET or POST /mags-jobs/{id}<suffix>. */
static int job_call(struct mags_client *c, const char *method, const char *id,
		    const char *suffix, json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;

	if (out)
		*out = NULL;
	if (check_id(id, err) < 0)
		return -EINVAL;
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s%s", seg, suffix);
	return mags_request(c, method, path, NULL, out, NULL, err);
}

/* The typed calls hand out nothing on failure (the error body is in err),
 * and a successful answer that is not a JSON object is a server bug: say
 * so here rather than let callers trip over it. */
static int want_object(int r, json_t **out, const char *what,
		       struct mags_err *err)
{
	if (r < 0) {
		json_decref(*out);
		*out = NULL;
		return r;
	}
	if (json_is_object(*out))
		return r;
	json_decref(*out);
	*out = NULL;
	return err_set(err, MAGS_E_INTERNAL, EPROTO,
		       "unexpected answer from server for %s", what);
}

int mags_job_submit(struct mags_client *c, json_t *req, json_t **out,
		    struct mags_err *err)
{
	json_t *o = NULL;
	int r;

	if (!json_is_object(req))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "job request must be a JSON object");
	r = want_object(mags_request(c, "POST", "/mags-jobs", req, &o, NULL, err),
			&o, "submit", err);
	if (r == 0 && !json_is_string(json_object_get(o, "request_id"))) {
		json_decref(o);
		o = NULL;
		r = err_set(err, MAGS_E_INTERNAL, EPROTO,
			    "server accepted the job but sent no request_id");
	}
	if (out)
		*out = o;
	else
		json_decref(o);
	return r;
}

int mags_job_status(struct mags_client *c, const char *id, json_t **out,
		    struct mags_err *err)
{
	json_t *o = NULL;
	int r = want_object(job_call(c, "GET", id, "/status", &o, err), &o,
			    "status", err);

	*out = o;
	return r;
}

int mags_job_logs(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err)
{
	json_t *o = NULL;
	int r = want_object(job_call(c, "GET", id, "/logs", &o, err), &o,
			    "logs", err);

	*out = o;
	return r;
}

int mags_job_stop(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err)
{
	json_t *o = NULL;
	int r = want_object(job_call(c, "POST", id, "/stop", &o, err), &o,
			    "stop", err);

	if (out)
		*out = o;
	else
		json_decref(o);
	return r;
}

int mags_job_list(struct mags_client *c, int page, int page_size, json_t **out,
		  struct mags_err *err)
{
	char path[96];
	json_t *o = NULL;
	int r;

	if (page > 0 && page_size > 0)
		snprintf(path, sizeof(path), "/mags-jobs?page=%d&page_size=%d",
			 page, page_size);
	else if (page > 0)
		snprintf(path, sizeof(path), "/mags-jobs?page=%d", page);
	else if (page_size > 0)
		snprintf(path, sizeof(path), "/mags-jobs?page_size=%d", page_size);
	else
		snprintf(path, sizeof(path), "/mags-jobs");
	r = want_object(mags_request(c, "GET", path, NULL, &o, NULL, err), &o,
			"list", err);
	*out = o;
	return r;
}

int mags_whoami(struct mags_client *c, json_t **out, struct mags_err *err)
{
	json_t *o = NULL;
	int r = want_object(mags_request(c, "GET", "/whoami", NULL, &o, NULL, err),
			    &o, "whoami", err);

	*out = o;
	return r;
}

static int follow_body(const char *data, size_t len, void *arg)
{
	struct stream *s = arg;
	int r = stream_feed(s, data, len);

	/* Stop reading once the end event is in: the job is over. */
	if (r == 0 && s->got_end)
		return 1;
	return r;
}

int mags_job_follow(struct mags_client *c, const char *id, mags_log_cb cb,
		    void *arg, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;
	struct http_resp resp;
	struct stream s;
	int r;

	if (check_id(id, err) < 0)
		return -EINVAL;
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s/logs?follow=1", seg);
	stream_init(&s, cb, arg, err);
	r = client_send(c, "GET", path, NULL, follow_body, &s, &resp, err);
	if (s.ret) {
		r = s.ret; /* the caller's callback, or a bad line */
	} else if (s.got_end) {
		r = 0;
	} else if (r < 0) {
		/* A stream that broke after a 2xx start: the job may go on. */
		if (r != -ECANCELED && resp.streaming)
			r = -ECONNRESET;
	} else if (resp.status < 200 || resp.status >= 300) {
		r = client_http_error(resp.status, resp.body, resp.body_len, err);
	} else {
		r = stream_finish(&s);
		if (r == 0 && !s.got_end)
			r = err_set(err, MAGS_E_UNAVAILABLE, ECONNRESET,
				    "log stream ended before the job did");
	}
	stream_release(&s);
	http_resp_release(&resp);
	return r;
}

bool mags_status_is_terminal(const char *status)
{
	return status && (strcmp(status, "completed") == 0 ||
			  strcmp(status, "error") == 0 ||
			  strcmp(status, "stopped") == 0);
}

int mags_job_access(struct mags_client *c, const char *id, int port,
		    json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *body;
	int r;

	*out = NULL;
	if (check_id(id, err) < 0)
		return -EINVAL;
	if (port < 1 || port > 65535)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "port %d out of range 1-65535", port);
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s/access", seg);
	body = json_pack("{s:i}", "port", port);
	r = client_call_object(c, "POST", path, body, false, out, "access", err);
	json_decref(body);
	return r;
}

int mags_job_sync(struct mags_client *c, const char *id, json_t **out,
		  struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;

	if (out)
		*out = NULL;
	if (check_id(id, err) < 0)
		return -EINVAL;
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s/sync", seg);
	return client_call_object(c, "POST", path, NULL, true, out, "sync", err);
}

int mags_job_update(struct mags_client *c, const char *id, json_t *fields,
		    json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ char *path = NULL;

	if (out)
		*out = NULL;
	if (check_id(id, err) < 0)
		return -EINVAL;
	if (!json_is_object(fields))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "job update must be a JSON object");
	seg = url_escape_segment(id);
	path = xasprintf("/mags-jobs/%s", seg);
	return client_call_object(c, "PATCH", path, fields, true, out, "update", err);
}
