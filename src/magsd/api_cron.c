/*
 * api_cron.c - /mags-cron (and the [003] spelling /cron-jobs): create,
 * list, get, update, delete, and "run now" of a user's cron jobs.
 *
 * A cron job is checked as a whole on every create and update: its
 * expression by cron_parse (a 400 naming the field: "'cron_expression':
 * minute field '61': value out of range 0-59"), and the job each firing
 * will submit by the same validator as POST /mags-jobs, so what was
 * accepted here can fire. Another user's cron job is a 404 like a missing
 * one. Each user has at most max_cron_jobs.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/api_cron.h"
#include "magsd/cron.h"
#include "magsd/job.h"
#include "magsd/log.h"
#include "magsd/scheduler.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "common/banned.h"

#define bad(err, fmt, field) err_set(err, MAGS_E_BAD_REQUEST, EINVAL, fmt, field)

void api_cron_input_release(struct api_cron_input *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->expr);
	free(in->script);
	free(in->workspace_id);
	free(in->environment);
	memset(in, 0, sizeof(*in));
}

/* A string field: absent (0), set (1, *out malloc'd), or -EINVAL. With
 * nullable, null is "set to none" (*out NULL). */
static int take_str(json_t *o, const char *key, int nullable, char **out,
		    struct mags_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (json_is_null(v) && nullable) {
		free(*out);
		*out = NULL;
		return 1;
	}
	if (!json_is_string(v))
		return bad(err, "'%s' must be a string", key);
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return bad(err, "'%s' must not contain NUL bytes", key);
	free(*out);
	*out = json_string_length(v) || !nullable ? xstrdup(json_string_value(v)) : NULL;
	return 1;
}

static int take_bool(json_t *o, const char *key, int *out, struct mags_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(err, "'%s' must be a boolean", key);
	*out = json_is_true(v);
	return 1;
}

int api_cron_parse(const char *body, size_t len, int patch, struct api_cron_input *in,
		   struct mags_err *err)
{
	json_error_t jerr;
	json_t *o, *v;
	char *sched = NULL;
	int r;

	memset(in, 0, sizeof(*in));
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "invalid JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "the body must be a JSON object");
	}
	if ((r = take_str(o, "name", 0, &in->name, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_NAME : 0;
	if ((r = take_str(o, "cron_expression", 0, &in->expr, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_EXPR : 0;
	if ((r = take_str(o, "schedule", 0, &sched, err)) < 0)
		goto fail;
	if (r) {
		if (in->expr && strcmp(in->expr, sched)) {
			r = bad(err, "'%s' and 'cron_expression' disagree", "schedule");
			goto fail;
		}
		free(in->expr);
		in->expr = sched;
		sched = NULL;
		in->expr_field = in->set & API_CRON_EXPR ? "cron_expression" : "schedule";
		in->set |= API_CRON_EXPR;
	} else {
		in->expr_field = "cron_expression";
	}
	if ((r = take_str(o, "script", 0, &in->script, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_SCRIPT : 0;
	if ((r = take_str(o, "workspace_id", 1, &in->workspace_id, err)) < 0)
		goto fail;
	if (!r && (r = take_str(o, "workspace", 1, &in->workspace_id, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_WORKSPACE : 0;
	if ((r = take_bool(o, "persistent", &in->persistent, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_PERSISTENT : 0;
	if ((r = take_bool(o, "enabled", &in->enabled, err)) < 0)
		goto fail;
	in->set |= r ? API_CRON_ENABLED : 0;
	v = json_object_get(o, "environment");
	if (v && !json_is_null(v) && !json_is_object(v)) {
		r = bad(err, "'%s' must be an object of strings", "environment");
		goto fail;
	}
	if (v) {
		in->set |= API_CRON_ENV;
		if (json_is_object(v) && json_object_size(v))
			in->environment = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	}
	if (!patch) {
		const char *missing = !(in->set & API_CRON_NAME) || !*in->name ? "name" :
			!(in->set & API_CRON_EXPR) ? "cron_expression" :
			!(in->set & API_CRON_SCRIPT) || !*in->script ? "script" : NULL;
		if (missing) {
			r = bad(err, "'%s' is required", missing);
			goto fail;
		}
		if (!(in->set & API_CRON_ENABLED))
			in->enabled = 1;
	} else if (((in->set & API_CRON_NAME) && !*in->name) ||
		   ((in->set & API_CRON_SCRIPT) && !*in->script)) {
		r = bad(err, "'%s' must not be empty", (in->set & API_CRON_NAME) && !*in->name ?
			"name" : "script");
		goto fail;
	}
	json_decref(o);
	return 0;
fail:
	free(sched);
	json_decref(o);
	api_cron_input_release(in);
	return r;
}

/* Apply in to c (taking its strings). */
static void apply(struct store_cron *c, struct api_cron_input *in)
{
#define TAKE(bit, field, src) do { if (in->set & (bit)) { free(c->field); \
	c->field = in->src; in->src = NULL; } } while (0)
	TAKE(API_CRON_NAME, name, name);
	TAKE(API_CRON_EXPR, cron_expression, expr);
	TAKE(API_CRON_SCRIPT, script, script);
	TAKE(API_CRON_WORKSPACE, workspace_id, workspace_id);
	TAKE(API_CRON_ENV, environment, environment);
#undef TAKE
	if (in->set & API_CRON_PERSISTENT)
		c->persistent = in->persistent;
	if (in->set & API_CRON_ENABLED)
		c->enabled = in->enabled;
}

int api_cron_check(const struct store_cron *c, const char *expr_field, int default_timeout,
		   int max_disk_gb, int64_t now, int64_t *next, struct mags_err *err)
{
	struct job_request jr;
	struct cron_expr e;
	int r;

	if ((r = cron_parse(c->cron_expression, &e, err)) < 0) {
		/* "cron expression: minute field ..." -> "'cron_expression': minute field ..." */
		const char *p = "cron expression: ";
		char msg[MAGS_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
		if (err)
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "'%s': %s", expr_field,
				strncmp(msg, p, strlen(p)) ? msg : msg + strlen(p));
		return r;
	}
	*next = scheduler_next_run(&e, now);
	if (!*next)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s': '%s' never fires", expr_field, c->cron_expression);
	if ((r = scheduler_job_request(c, default_timeout, max_disk_gb, &jr, err)) < 0)
		return r;
	job_request_release(&jr);
	return 0;
}

json_t *api_cron_to_json(const struct store_cron *c, size_t script_max)
{
	size_t slen = c->script ? strlen(c->script) : 0;
	json_t *env = c->environment ? json_loads(c->environment, 0, NULL) : NULL;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "name", job_json_string(c->name ? c->name : "",
							c->name ? strlen(c->name) : 0));
	json_object_set_new(o, "cron_expression", json_string(c->cron_expression ?
							      c->cron_expression : ""));
	json_object_set_new(o, "schedule", json_string(c->cron_expression ?
						       c->cron_expression : ""));
	if (script_max > 0 && slen > script_max) {
		size_t n = script_max;
		/* back up over UTF-8 continuation bytes so the cut is clean */
		while (n > 0 && ((unsigned char)c->script[n] & 0xC0) == 0x80)
			n--;
		json_object_set_new(o, "script", job_json_string(c->script, n));
		json_object_set_new(o, "script_truncated", json_true());
	} else {
		json_object_set_new(o, "script", job_json_string(c->script ? c->script : "", slen));
	}
	json_object_set_new(o, "workspace_id", c->workspace_id ?
			    json_string(c->workspace_id) : json_null());
	json_object_set_new(o, "persistent", json_boolean(c->persistent));
	json_object_set_new(o, "enabled", json_boolean(c->enabled));
	json_object_set_new(o, "environment", env ? env : json_object());
	json_object_set_new(o, "timezone", json_string("UTC"));
	json_object_set_new(o, "created_at", job_json_time(c->created_at));
	json_object_set_new(o, "next_run_at", c->enabled ? job_json_time(c->next_run_at)
							 : json_null());
	json_object_set_new(o, "last_run_at", job_json_time(c->last_run_at));
	json_object_set_new(o, "last_job_id", *c->last_job_id ? json_string(c->last_job_id)
							      : json_null());
	json_object_set_new(o, "last_status", *c->last_status ? json_string(c->last_status)
							      : json_null());
	json_object_set_new(o, "last_error", c->last_error ?
			    job_json_string(c->last_error, strlen(c->last_error)) : json_null());
	json_object_set_new(o, "run_count", json_integer(c->run_count));
	json_object_set_new(o, "skip_count", json_integer(c->skip_count));
	return o;
}

/* The cron job named in the path, owned by the caller; replies 404 if not. */
static int own_cron(struct http_req *req, struct store_cron *c)
{
	int r = store_cron_get(req->srv->store, req->params.v[0], req->ident.user_id, c);

	if (r == -ENOENT)
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "cron job not found");
	else if (r < 0)
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading cron job");
	return r;
}

/* Reply with the stored state of cron job id. */
static void reply_cron(struct http_req *req, unsigned status, const char *id)
{
	struct store_cron c;

	if (store_cron_get(req->srv->store, id, NULL, &c) < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading cron job");
		return;
	}
	http_reply_json(req, status, api_cron_to_json(&c, 0));
	store_cron_release(&c);
}

void api_cron_create(struct http_req *req)
{
	struct server *srv = req->srv;
	struct api_cron_input in;
	struct store_cron c;
	struct mags_err err;
	int n;

	if (api_cron_parse(req->body ? req->body : "", req->body_len, 0, &in, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	memset(&c, 0, sizeof(c));
	random_uuid(c.id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", req->ident.user_id);
	c.enabled = 1;
	const char *expr_field = in.expr_field;
	apply(&c, &in);
	api_cron_input_release(&in);
	c.created_at = time_now_ms();
	if (api_cron_check(&c, expr_field, srv->cfg->job_timeout, srv->cfg->max_disk_gb,
			   scheduler_now(srv->sched), &c.next_run_at, &err) < 0) {
		store_cron_release(&c);
		http_reply_error(req, &err);
		return;
	}
	if (!c.enabled)
		c.next_run_at = 0;
	n = store_cron_count(srv->store, req->ident.user_id);
	if (n >= srv->cfg->max_cron_jobs) {
		store_cron_release(&c);
		http_reply_errorf(req, MAGS_E_TOO_MANY, "too many cron jobs (limit %d per user)",
				  srv->cfg->max_cron_jobs);
		return;
	}
	if (n < 0 || store_cron_insert(srv->store, &c, &err) < 0) {
		store_cron_release(&c);
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error saving cron job");
		return;
	}
	log_info("cron %s ('%s', '%s') created for user '%s'", c.id, c.name,
		 c.cron_expression, req->ident.user_name);
	scheduler_changed(srv->sched);
	reply_cron(req, 201, c.id);
	store_cron_release(&c);
}

void api_cron_list(struct http_req *req)
{
	struct store_cron *list;
	struct mags_err err;
	size_t n;
	json_t *arr;

	if (store_cron_list(req->srv->store, req->ident.user_id, &list, &n, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_cron_to_json(&list[i], JOB_LIST_SCRIPT_MAX));
	store_cron_list_free(list, n);
	http_reply_json(req, 200, json_pack("{s:o, s:I}", "cron_jobs", arr,
					    "total", (json_int_t)n));
}

void api_cron_get(struct http_req *req)
{
	struct store_cron c;

	if (own_cron(req, &c) < 0)
		return;
	http_reply_json(req, 200, api_cron_to_json(&c, 0));
	store_cron_release(&c);
}

void api_cron_update(struct http_req *req)
{
	struct server *srv = req->srv;
	struct api_cron_input in;
	struct store_cron c;
	struct mags_err err;
	int64_t next;

	if (api_cron_parse(req->body ? req->body : "", req->body_len, 1, &in, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	if (own_cron(req, &c) < 0) {
		api_cron_input_release(&in);
		return;
	}
	int was_enabled = c.enabled;
	int reschedule = (in.set & API_CRON_EXPR) && strcmp(in.expr, c.cron_expression);
	const char *expr_field = in.expr_field;
	apply(&c, &in);
	api_cron_input_release(&in);
	if (api_cron_check(&c, expr_field, srv->cfg->job_timeout, srv->cfg->max_disk_gb,
			   scheduler_now(srv->sched), &next, &err) < 0) {
		store_cron_release(&c);
		http_reply_error(req, &err);
		return;
	}
	/* A new schedule, or enabling, counts from now: enabling a paused cron
	 * job does not fire what it missed while paused. */
	if (!c.enabled)
		c.next_run_at = 0;
	else if (reschedule || !was_enabled || !c.next_run_at)
		c.next_run_at = next;
	if (store_cron_update(srv->store, &c, &err) < 0) {
		store_cron_release(&c);
		http_reply_error(req, &err);
		return;
	}
	scheduler_changed(srv->sched);
	reply_cron(req, 200, c.id);
	store_cron_release(&c);
}

void api_cron_delete(struct http_req *req)
{
	struct server *srv = req->srv;
	int r = store_cron_delete(srv->store, req->params.v[0], req->ident.user_id);

	if (r == -ENOENT) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "cron job not found");
		return;
	}
	if (r < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error deleting cron job");
		return;
	}
	log_info("cron %s deleted", req->params.v[0]);
	scheduler_changed(srv->sched);
	http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->params.v[0],
					    "deleted", 1));
}

void api_cron_run(struct http_req *req)
{
	struct server *srv = req->srv;
	struct store_cron c;
	struct mags_err err;
	char job_id[JOB_ID_MAX];
	int r;

	if (own_cron(req, &c) < 0)
		return;
	err_clear(&err);
	r = scheduler_fire_now(srv->sched, &c, job_id, &err);
	if (r == 1) {
		http_reply_errorf(req, MAGS_E_CONFLICT,
				  "the previous firing (job %s) is still running", c.last_job_id);
	} else if (r < 0) {
		http_reply_error(req, &err);
	} else {
		store_cron_release(&c);
		if (store_cron_get(srv->store, req->params.v[0], NULL, &c) < 0) {
			http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading cron job");
			return;
		}
		json_t *o = api_cron_to_json(&c, 0);
		json_object_set_new(o, "request_id", json_string(job_id));
		http_reply_json(req, 200, o);
	}
	store_cron_release(&c);
}
