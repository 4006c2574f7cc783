/*
 * scheduler.h - firing cron jobs: one timerfd in magsd's loop, armed for
 * the earliest next_run_at in the store, so a firing happens at second 0
 * of its minute instead of on a polling tick.
 *
 * Each firing submits an ordinary job in the owner's account, named after
 * the cron job, through the same path as POST /mags-jobs. The rules:
 *   - a firing whose previous job (last_job_id) has not ended is skipped
 *     and counted (no pile-up);
 *   - however many runs were missed (daemon down, clock jump), a due cron
 *     job fires once and its next run is the first one after now;
 *   - all state (next_run_at, last run, counters) is in the store, so a
 *     restart continues where the last daemon stopped.
 * Times are unix milliseconds, UTC.
 */
#ifndef MAGS_MAGSD_SCHEDULER_H
#define MAGS_MAGSD_SCHEDULER_H

#include <stdint.h>

#include "common/err.h"
#include "magsd/api_validate.h"
#include "magsd/cron.h"
#include "magsd/job.h"
#include "magsd/store.h"

struct server;
struct scheduler;

/* ---- pure decisions (unit-tested with any clock) ---- */

enum scheduler_action {
	SCHEDULER_WAIT,   /* not due */
	SCHEDULER_FIRE,   /* due: submit a job */
	SCHEDULER_SKIP,   /* due, but the previous firing still runs */
};

struct scheduler_plan {
	enum scheduler_action action;
	int64_t next_run_at;   /* what to store as next_run_at; 0 = never */
};

/* The first firing strictly after now (whole seconds, second 0), in ms;
 * 0 if e never fires. */
int64_t scheduler_next_run(const struct cron_expr *e, int64_t now);

/* 1 if a job in status prev_status ("" = no job) is still going. */
int scheduler_previous_running(const char *prev_status);

/* What to do at now with a cron job whose stored next run is next_run_at
 * (0 = not computed yet) and whose last job is in prev_status:
 *   next_run_at 0, or later than the first run after now (the clock went
 *   back)           -> WAIT, next = first run after now
 *   now < next_run_at -> WAIT, next unchanged
 *   otherwise       -> FIRE (or SKIP if the previous job still runs), next
 *                      = first run after now: missed runs collapse into one. */
void scheduler_plan(const struct cron_expr *e, int64_t next_run_at, int64_t now,
		    const char *prev_status, struct scheduler_plan *out);

/* The job request a firing of c makes: its script, name, workspace_id,
 * persistent and environment as a POST /mags-jobs body, checked by
 * api_validate_job (so a cron job that is accepted can fire, and a bad
 * field is a 400 naming it). 0 (release jr) or -EINVAL with err. */
int scheduler_job_request(const struct store_cron *c, int default_timeout, int max_disk_gb,
			  struct job_request *jr, struct mags_err *err);

/* ---- the daemon's scheduler ---- */

/* Create the timer, add it to srv->loop and arm it; cron jobs missed while
 * the daemon was down fire on the first loop round. The test setting
 * cron_clock_offset (seconds) shifts the scheduler's clock. */
struct scheduler *scheduler_new(struct server *srv, struct mags_err *err);
/* NULL-safe. */
void scheduler_free(struct scheduler *sc);

/* The scheduler's clock (unix ms, with the test offset). */
int64_t scheduler_now(const struct scheduler *sc);

/* A cron job was created, changed or removed: re-arm the timer. */
void scheduler_changed(struct scheduler *sc);

/* Fire c now ("run now"), next_run_at unchanged. 0 and job_id filled if a
 * job was submitted; 1 if skipped because the previous firing still runs;
 * negative errno with err if the job could not be submitted. The outcome
 * is recorded on the cron job either way. */
int scheduler_fire_now(struct scheduler *sc, const struct store_cron *c,
		       char job_id[JOB_ID_MAX], struct mags_err *err);

#endif
