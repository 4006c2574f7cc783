/*
 * scheduler.c - cron firing on magsd's loop (see scheduler.h).
 *
 * The timer is a CLOCK_REALTIME timerfd armed at an absolute time with
 * TFD_TIMER_CANCEL_ON_SET: cron is wall-clock time, so when the clock is
 * set the kernel wakes us and the plan is recomputed, instead of a
 * relative timeout silently drifting from the schedule. Firing reads the
 * due cron jobs from the store, so nothing about schedules lives only in
 * memory.
 */
#include "magsd/scheduler.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/api_validate.h"
#include "magsd/crashpoint.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/supervisor.h"
#include "magsd/workspace.h"
#include "common/banned.h"

/* ---- pure decisions ---- */

int64_t scheduler_next_run(const struct cron_expr *e, int64_t now)
{
	int64_t sec = now >= 0 ? now / 1000 : -((-now + 999) / 1000);
	int64_t next = cron_next(e, sec);

	return next < 0 ? 0 : next * 1000;
}

int scheduler_previous_running(const char *prev_status)
{
	return prev_status && *prev_status && !job_status_terminal(prev_status);
}

void scheduler_plan(const struct cron_expr *e, int64_t next_run_at, int64_t now,
		    const char *prev_status, struct scheduler_plan *out)
{
	int64_t after_now = scheduler_next_run(e, now);

	out->action = SCHEDULER_WAIT;
	out->next_run_at = next_run_at;
	if (next_run_at <= 0 || (after_now > 0 && next_run_at > after_now)) {
		out->next_run_at = after_now;
		return;
	}
	if (now < next_run_at)
		return;
	out->action = scheduler_previous_running(prev_status) ? SCHEDULER_SKIP : SCHEDULER_FIRE;
	out->next_run_at = after_now;
}

/* ---- submitting a firing's job ---- */

/*
 * Submit jr for user_id the way POST /mags-jobs does (api_jobs_create):
 * live-job limit, shutdown, workspace preparation, store, spawn (or the
 * workspace's launch). A sandbox that fails to start still makes a job, in
 * status error, as for the API.
 * TODO: api_jobs.c should export this path (api_jobs_submit) so the two
 * cannot drift apart; then this function becomes one call.
 */
static int submit_job(struct server *srv, const char *user_id, const struct job_request *jr,
		      char id_out[JOB_ID_MAX], struct mags_err *err)
{
	struct mags_err serr;
	struct job job;
	int with_ws, r;

	if (srv->stopping)
		return err_set(err, MAGS_E_UNAVAILABLE, ESHUTDOWN, "server is shutting down");
	if (supervisor_live_count(srv->sv) >= srv->cfg->max_jobs)
		return err_set(err, MAGS_E_TOO_MANY, EAGAIN,
			       "too many running jobs (limit %d)", srv->cfg->max_jobs);
	memset(&job, 0, sizeof(job));
	random_uuid(job.id);
	snprintf(job.user_id, sizeof(job.user_id), "%s", user_id);
	snprintf(job.status, sizeof(job.status), "accepted");
	snprintf(job.type, sizeof(job.type), "%s", jr->type);
	job.name = jr->name;
	job.script = jr->script;
	job.environment = jr->env_json;
	job.timeout = jr->timeout;
	job.ephemeral = jr->ephemeral;
	job.created_at = time_now_ms();
	with_ws = workspace_job_wanted(jr);
	if ((with_ws && (r = workspace_job_prepare(srv->ws, &job, jr, err)) < 0) ||
	    (r = store_job_insert(srv->store, &job, err)) < 0) {
		job.name = job.script = job.environment = NULL;
		job_release(&job);
		return r;
	}
	crashpoint("cron:job-inserted");
	if (with_ws) {
		workspace_job_launch(srv->ws, &job);
	} else if (supervisor_spawn(srv->sv, &job, jr->env, jr->n_env, NULL, &serr) < 0) {
		log_warn("job %s: %s", job.id, serr.msg);
		(void)store_job_finish(srv->store, job.id, "error", -1, serr.msg, time_now_ms());
	}
	snprintf(id_out, JOB_ID_MAX, "%s", job.id);
	/* name, script, environment belong to jr */
	job.name = job.script = job.environment = NULL;
	job_release(&job);
	return 0;
}

int scheduler_job_request(const struct store_cron *c, int default_timeout, int max_disk_gb,
			  struct job_request *jr, struct mags_err *err)
{
	json_t *body = json_pack("{s:s, s:s}", "script", c->script ? c->script : "",
				 "name", c->name ? c->name : "");
	int r;

	if (c->workspace_id)
		json_object_set_new(body, "workspace_id", json_string(c->workspace_id));
	if (c->persistent)
		json_object_set_new(body, "persistent", json_true());
	if (c->environment) {
		json_t *env = json_loads(c->environment, 0, NULL);
		if (env)
			json_object_set_new(body, "environment", env);
	}
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r = api_validate_job(text, strlen(text), default_timeout, max_disk_gb, jr, err);
	return r;
}

static int submit(struct server *srv, const struct store_cron *c,
		  char job_id[JOB_ID_MAX], struct mags_err *err)
{
	struct job_request jr;
	int r;

	memset(&jr, 0, sizeof(jr));
	if ((r = scheduler_job_request(c, srv->cfg->job_timeout, srv->cfg->max_disk_gb,
					 &jr, err)) < 0)
		return r;
	r = submit_job(srv, c->user_id, &jr, job_id, err);
	job_request_release(&jr);
	return r;
}

/* ---- the timer ---- */

struct scheduler {
	struct server *srv;
	int fd;
	struct loop_watch *watch;
	int64_t offset_ms;
	int64_t armed_at;     /* scheduler-clock ms, 0 = disarmed */
};

int64_t scheduler_now(const struct scheduler *sc)
{
	return time_now_ms() + sc->offset_ms;
}

static void arm(struct scheduler *sc, int64_t at)
{
	struct itimerspec its;
	int64_t real = at - sc->offset_ms;

	memset(&its, 0, sizeof(its));
	if (at > 0) {
		if (real < 1)
			real = 1;
		its.it_value.tv_sec = real / 1000;
		its.it_value.tv_nsec = (long)(real % 1000) * 1000000L;
	}
	if (timerfd_settime(sc->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
		log_warn("cron: arm timer: %s", strerror(errno));
	sc->armed_at = at;
}

void scheduler_changed(struct scheduler *sc)
{
	int64_t at;

	if (!sc)
		return;
	if (sc->srv->stopping || store_cron_earliest(sc->srv->store, &at) < 0)
		at = 0;
	arm(sc, at);
}

/* Fire (or skip) c and record the outcome; next is the next_run_at to
 * store. Returns as scheduler_fire_now. */
static int fire(struct scheduler *sc, const struct store_cron *c, int skip, int64_t now,
		int64_t next, char job_id[JOB_ID_MAX], struct mags_err *err)
{
	struct store *st = sc->srv->store;
	int r;

	if (skip) {
		log_info("cron %s ('%s'): skipped, job %s of the previous firing still runs",
			 c->id, c->name, c->last_job_id);
		(void)store_cron_record(st, c->id, now, "skipped", NULL, NULL, next);
		return 1;
	}
	r = submit(sc->srv, c, job_id, err);
	if (r < 0) {
		log_warn("cron %s ('%s'): could not submit its job: %s", c->id, c->name, err->msg);
		(void)store_cron_record(st, c->id, now, "error", NULL, err->msg, next);
		return r;
	}
	log_info("cron %s ('%s') fired: job %s", c->id, c->name, job_id);
	crashpoint("cron:job-launched");
	(void)store_cron_record(st, c->id, now, "fired", job_id, NULL, next);
	crashpoint("cron:recorded");
	return 0;
}

static void tick(struct scheduler *sc)
{
	struct store_cron *due;
	size_t n;
	int64_t now = scheduler_now(sc);

	if (sc->srv->stopping)
		return;
	if (store_cron_due(sc->srv->store, now, &due, &n) < 0) {
		log_warn("cron: database error reading due cron jobs");
		n = 0;
		due = NULL;
	}
	if (n)
		crashpoint("cron:due-read");
	for (size_t i = 0; i < n; i++) {
		struct store_cron *c = &due[i];
		struct scheduler_plan plan;
		struct cron_expr e;
		struct mags_err err;
		char job_id[JOB_ID_MAX];

		err_clear(&err);
		if (cron_parse(c->cron_expression, &e, &err) < 0) {
			/* stored expressions were checked; a newer parser may disagree */
			(void)store_cron_record(sc->srv->store, c->id, now, "error", NULL,
						err.msg, 0);
			continue;
		}
		scheduler_plan(&e, c->next_run_at, now, c->last_job_status, &plan);
		if (plan.action == SCHEDULER_WAIT) {
			c->enabled = 1;
			c->next_run_at = plan.next_run_at;
			(void)store_cron_update(sc->srv->store, c, NULL);
			continue;
		}
		(void)fire(sc, c, plan.action == SCHEDULER_SKIP, now, plan.next_run_at,
			   job_id, &err);
	}
	store_cron_list_free(due, n);
	scheduler_changed(sc);
}

static void on_timer(int fd, uint32_t events, void *arg)
{
	struct scheduler *sc = arg;
	uint64_t expirations;

	(void)events;
	/* ECANCELED: the clock was set; either way look again */
	while (read(fd, &expirations, sizeof(expirations)) > 0)
		;
	tick(sc);
}

int scheduler_fire_now(struct scheduler *sc, const struct store_cron *c,
		       char job_id[JOB_ID_MAX], struct mags_err *err)
{
	int skip = scheduler_previous_running(c->last_job_status);

	if (sc->srv->stopping)
		return err_set(err, MAGS_E_UNAVAILABLE, ESHUTDOWN, "server is shutting down");
	return fire(sc, c, skip, scheduler_now(sc), c->next_run_at, job_id, err);
}

struct scheduler *scheduler_new(struct server *srv, struct mags_err *err)
{
	struct scheduler *sc = xcalloc(1, sizeof(*sc));

	sc->srv = srv;
	sc->offset_ms = (int64_t)srv->cfg->cron_clock_offset * 1000;
	sc->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sc->fd < 0) {
		err_sys(err, errno, "cron timer");
		free(sc);
		return NULL;
	}
	sc->watch = loop_add(srv->loop, sc->fd, EPOLLIN, on_timer, sc);
	if (!sc->watch) {
		err_sys(err, errno, "watch cron timer");
		close(sc->fd);
		free(sc);
		return NULL;
	}
	if (sc->offset_ms)
		log_warn("cron clock offset by %lld s (cron_clock_offset, for tests)",
			 (long long)(sc->offset_ms / 1000));
	scheduler_changed(sc);
	return sc;
}

void scheduler_free(struct scheduler *sc)
{
	if (!sc)
		return;
	loop_remove(sc->srv->loop, sc->watch);
	close(sc->fd);
	free(sc);
}
