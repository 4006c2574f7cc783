/*
 * lifecycle.h - long-lived sandboxes (DESIGN §4, contract §2.3-2.6,
 * DECISIONS D5, D14): what happens to a persistent job between its start
 * and its stop.
 *
 *   running --idle--> sleeping --wake--> running      (no_sleep: never idle)
 *
 * A persistent job's sandbox outlives its script (mags-runtime
 * --keep-alive): the job stays `running` and records the script's exit
 * code. It is idle when for idle_timeout seconds (the job's own, else the
 * server's) nothing touched it (API
 * calls on it, execs, SSH sessions, proxied requests: lifecycle_touch) and
 * its processes used less than LIFECYCLE_CPU_BUSY of a CPU: then the
 * sandbox is stopped to sleep (supervisor_sleep). The workspace's final
 * sync runs as for any end (workspace_job_ended), the local disk stays
 * and stays held by the job (D5). Waking (lifecycle_wake: exec, a run on
 * the workspace, SSH, a proxied request) starts a new sandbox on the same
 * workspace that runs the job's startup_command, and the job is `running`
 * again once its init is up.
 *
 * An always-on job (no_sleep) whose script (its startup_command) ends
 * gets it started again inside the sandbox through the exec protocol,
 * with back-off (1 s doubling to 60 s, back to 1 s after a minute of
 * running); the output goes to the job's log.
 *
 * Runs on the loop; keeps one small record per live persistent job.
 */
#ifndef MAGS_MAGSD_LIFECYCLE_H
#define MAGS_MAGSD_LIFECYCLE_H

#include <stdint.h>

struct server;
struct lifecycle;

#define LIFECYCLE_CPU_BUSY 0.05      /* of one CPU: above this it is not idle */
#define LIFECYCLE_WAKE_MAX_MS 60000  /* a wake that did not start fails */

struct lifecycle *lifecycle_new(struct server *srv);
/* Cancels restarts and wake waiters (their callbacks get -ECANCELED). */
void lifecycle_free(struct lifecycle *lc);

/* Activity on a job (an API call, exec, SSH, proxy): it is not idle. */
void lifecycle_touch(struct server *srv, const char *job_id);

/* Wake callback: r == 0 the job's sandbox is up (its control socket
 * answers), r < 0 it could not be woken (msg says why). */
typedef void (*lifecycle_wake_fn)(void *arg, int r, const char *msg);

/* Make sure the job has a live sandbox. Returns 1 if it has one now (cb
 * is not called), 0 if cb will be called once it has (a sleeping job is
 * woken; an accepted one is waited for), or a negative errno if it cannot
 * have one (-ESRCH: the job has ended or is being stopped; -ENOENT: no
 * such job; -EAGAIN: the daemon is stopping). */
int lifecycle_wake(struct server *srv, const char *job_id, lifecycle_wake_fn cb, void *arg);
/* Forget a pending wake callback (its requester went away). */
void lifecycle_wake_cancel(struct server *srv, const char *job_id, lifecycle_wake_fn cb,
			   void *arg);

/* 1 while the job's current script (or the restarted startup_command of
 * an always-on job) has not ended: its log still grows. For jobs that
 * are not persistent: whether the sandbox is live. */
int lifecycle_output_live(struct server *srv, const char *job_id);

/* A job that runs inside another job's sandbox (a run on a live
 * workspace, api_exec.c) started / ended: its output is live meanwhile. */
void lifecycle_run_begin(struct server *srv, const char *job_id);
void lifecycle_run_ended(struct server *srv, const char *job_id);

/* An exec on the job started / ended: no sleep while one runs. */
void lifecycle_exec_begin(struct server *srv, const char *job_id);
void lifecycle_exec_end(struct server *srv, const char *job_id);

/* PATCH changed the job's settings (no_sleep, startup_command). */
void lifecycle_settings_changed(struct server *srv, const char *job_id);

/* Supervisor hooks (serve.c wires them): a runtime's status line, a
 * sandbox's end (after the workspace saw it), a sandbox let go at shutdown. */
void lifecycle_on_event(struct server *srv, const char *job_id, const char *line);
void lifecycle_on_end(struct server *srv, const char *job_id);
void lifecycle_on_detach(struct server *srv, const char *job_id);

/* Idle checks, restarts, wake deadlines. */
int lifecycle_next_timeout(struct lifecycle *lc, int64_t now);
void lifecycle_tick(struct lifecycle *lc, int64_t now);

/* Pure: is a sandbox idle? quiet_ms since the last activity, cpu_us used
 * over the last window_ms. */
int lifecycle_idle(int64_t quiet_ms, int64_t idle_timeout_ms, int64_t cpu_us,
		   int64_t window_ms, int execs);
/* Pure: the CPU a sandbox wanted over a sample, in µs: what it used plus
 * the rise of its tasks' run-queue wait (before/now < 0: unknown, not
 * counted). A busy loop on a loaded host uses little but waits a lot. */
int64_t lifecycle_cpu_wanted_us(int64_t used_us, int64_t wait_before_us, int64_t wait_now_us);
/* Pure: the run-queue wait in a /proc/<tid>/schedstat line ("<on cpu ns>
 * <waiting ns> <slices>"), in µs; -1 if malformed. */
int64_t lifecycle_schedstat_wait_us(const char *line);
/* Pure: the idle time that applies, in seconds: the job's own
 * idle_timeout (POST/PATCH, > 0), else the server's (0 = never). */
int lifecycle_idle_timeout(int job_idle_timeout, int server_idle_timeout);

#endif
