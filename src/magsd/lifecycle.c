/*
 * lifecycle.c - sleep, wake and always-on for persistent jobs (see
 * lifecycle.h).
 *
 * One struct lcjob per persistent job this daemon has seen start (a
 * "started" line, also replayed by a re-attach), kept until the job ends.
 * The store has the job's status; this file only keeps what the running
 * daemon needs: last activity, CPU samples, execs in flight, wake
 * waiters, the always-on restart.
 */
#include "magsd/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/util.h"
#include "magsd/execclient.h"
#include "magsd/joblog.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"
#include "magsd/workspace.h"
#include "common/banned.h"

#define TICK_MS 250
#define CPU_SAMPLE_MS 1000
#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 60000
#define RESTART_RESET_MS 60000
#define WAIT_TASKS_MAX 256        /* tasks whose run-queue wait is summed */

struct waiter {
	struct waiter *next;
	lifecycle_wake_fn cb;
	void *arg;
};

struct lcjob {
	struct lcjob *next;
	struct lifecycle *lc;
	char id[JOB_ID_MAX];
	int has_sandbox;          /* "started" seen, not ended */
	int script_running;
	int no_sleep;
	int idle_timeout;         /* the job's own, seconds; 0 = the server's */
	int execs;
	int sleeping;             /* supervisor_sleep sent */
	int waking;               /* a new sandbox is being started */
	int wake_after;           /* a wake was asked for while it went to sleep */
	int64_t wake_deadline;
	int64_t last_activity;    /* monotonic ms */
	int64_t cpu_at;           /* monotonic ms of cpu_us, 0 = none */
	int64_t cpu_us;
	int64_t wait_us;          /* run-queue wait at cpu_at, -1 = unknown */
	int64_t cpu_busy_until;   /* the last sample said busy: not idle before */
	struct waiter *waiters;
	/* always-on: the startup_command run again through exec */
	struct execclient *restart;
	struct joblog *restart_log;
	int64_t restart_at;       /* monotonic ms, 0 = none planned */
	int64_t restart_started;
	int64_t restart_backoff;
};

/* A job running inside another job's sandbox (api_exec_run_in). */
struct lcrun {
	struct lcrun *next;
	char id[JOB_ID_MAX];
};

struct lifecycle {
	struct server *srv;
	struct lcjob *list;
	struct lcrun *runs;
	int64_t next_tick;
};

static struct lifecycle *LC(struct server *srv)
{
	return srv->lc;
}

struct lifecycle *lifecycle_new(struct server *srv)
{
	struct lifecycle *lc = xcalloc(1, sizeof(*lc));

	lc->srv = srv;
	return lc;
}

static void answer(struct lcjob *j, int r, const char *msg)
{
	struct waiter *list = j->waiters;

	j->waiters = NULL;
	while (list) {
		struct waiter *w = list;
		list = w->next;
		w->cb(w->arg, r, msg);
		free(w);
	}
}

static void job_free(struct lcjob *j)
{
	execclient_free(j->restart);
	joblog_close(j->restart_log);
	answer(j, -ECANCELED, "the server is shutting down");
	free(j);
}

void lifecycle_free(struct lifecycle *lc)
{
	if (!lc)
		return;
	while (lc->list) {
		struct lcjob *j = lc->list;
		lc->list = j->next;
		job_free(j);
	}
	while (lc->runs) {
		struct lcrun *r = lc->runs;
		lc->runs = r->next;
		free(r);
	}
	free(lc);
}

static struct lcjob *find(struct lifecycle *lc, const char *id)
{
	if (!lc)
		return NULL;
	for (struct lcjob *j = lc->list; j; j = j->next)
		if (!strcmp(j->id, id))
			return j;
	return NULL;
}

static struct lcjob *get(struct lifecycle *lc, const char *id)
{
	struct lcjob *j = find(lc, id);

	if (j)
		return j;
	j = xcalloc(1, sizeof(*j));
	j->lc = lc;
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->last_activity = time_mono_ms();
	j->restart_backoff = RESTART_MIN_MS;
	j->next = lc->list;
	lc->list = j;
	return j;
}

static void drop(struct lifecycle *lc, struct lcjob *j)
{
	for (struct lcjob **pp = &lc->list; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			job_free(j);
			return;
		}
}

void lifecycle_touch(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);

	if (j)
		j->last_activity = time_mono_ms();
}

int lifecycle_idle_timeout(int job_idle_timeout, int server_idle_timeout)
{
	return job_idle_timeout > 0 ? job_idle_timeout : server_idle_timeout;
}

int lifecycle_idle(int64_t quiet_ms, int64_t idle_timeout_ms, int64_t cpu_us,
		   int64_t window_ms, int execs)
{
	if (execs > 0 || quiet_ms < idle_timeout_ms)
		return 0;
	if (window_ms > 0 && (double)cpu_us > LIFECYCLE_CPU_BUSY * 1000.0 * (double)window_ms)
		return 0;
	return 1;
}

/* CPU time used by the sandbox's cgroup so far, in µs; -1 if unknown. */
static int64_t cgroup_cpu_us(const char *id)
{
	char path[256], buf[512];
	int fd;
	ssize_t n;

	/* cgroup v2: mags/<id>/cpu.stat "usage_usec N" */
	snprintf(path, sizeof(path), "/sys/fs/cgroup/mags/%s/cpu.stat", id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			const char *p = strstr(buf, "usage_usec ");
			if (p)
				return strtoll(p + 11, NULL, 10);
		}
	}
	/* v1: cpuacct/mags/<id>/cpuacct.usage in ns */
	snprintf(path, sizeof(path), "/sys/fs/cgroup/cpuacct/mags/%s/cpuacct.usage", id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu,cpuacct/mags/%s/cpuacct.usage", id);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			return strtoll(buf, NULL, 10) / 1000;
		}
	}
	return -1;
}

int64_t lifecycle_schedstat_wait_us(const char *line)
{
	char *end;
	long long run, wait;

	run = strtoll(line, &end, 10);
	if (end == line || run < 0)
		return -1;
	line = end;
	wait = strtoll(line, &end, 10);
	if (end == line || wait < 0)
		return -1;
	return wait / 1000;
}

int64_t lifecycle_cpu_wanted_us(int64_t used_us, int64_t wait_before_us, int64_t wait_now_us)
{
	if (wait_before_us >= 0 && wait_now_us > wait_before_us)
		used_us += wait_now_us - wait_before_us;
	return used_us;
}

/* Time the sandbox's tasks spent runnable but waiting for a CPU so far
 * (the second field of /proc/<tid>/schedstat), in µs; -1 if unknown.
 * Used beside the CPU time: on a loaded host a busy loop in a sandbox
 * (whose parent cgroup weighs less than the host's tasks) may get under
 * LIFECYCLE_CPU_BUSY of a CPU, but it wants one all the time. Tasks that
 * ended since the last sample drop out of the sum (only a rise counts). */
static int64_t cgroup_wait_us(const char *id)
{
	static const struct { const char *dir, *file; } where[] = {
		{ "/sys/fs/cgroup/mags", "cgroup.threads" },     /* v2 */
		{ "/sys/fs/cgroup/cpu/mags", "tasks" },          /* v1 */
		{ "/sys/fs/cgroup/cpu,cpuacct/mags", "tasks" },
		{ "/sys/fs/cgroup/cpuacct/mags", "tasks" },
	};
	char path[256], buf[8192];
	ssize_t n = -1;
	int fd = -1;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]) && fd < 0; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", where[i].dir, id, where[i].file);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	int64_t sum = 0;
	int tasks = 0;
	for (char *p = buf, *end; *p && tasks < WAIT_TASKS_MAX; p = end) {
		long tid = strtol(p, &end, 10);
		if (end == p)
			break;
		while (*end == '\n')
			end++;
		char st[128];
		snprintf(path, sizeof(path), "/proc/%ld/schedstat", tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t k = read(fd, st, sizeof(st) - 1);
		close(fd);
		if (k <= 0)
			continue;
		st[k] = '\0';
		int64_t w = lifecycle_schedstat_wait_us(st);
		if (w >= 0) {
			sum += w;
			tasks++;
		}
	}
	return sum;
}

/* ---- wake ---- */

static void wake_start(struct lifecycle *lc, struct lcjob *j)
{
	struct server *srv = lc->srv;
	struct job job;

	if (store_job_get(srv->store, j->id, NULL, &job) < 0) {
		answer(j, -ENOENT, "job not found");
		return;
	}
	if (strcmp(job.status, "sleeping")) {
		job_release(&job);
		answer(j, -ESRCH, "the sandbox is not sleeping");
		return;
	}
	j->waking = 1;
	j->wake_deadline = time_mono_ms() + LIFECYCLE_WAKE_MAX_MS;
	j->last_activity = time_mono_ms();
	log_info("job %s waking", j->id);
	workspace_job_launch(srv->ws, &job);
	job_release(&job);
}

int lifecycle_wake(struct server *srv, const char *job_id, lifecycle_wake_fn cb, void *arg)
{
	struct lifecycle *lc = LC(srv);
	struct job job;
	struct lcjob *j;
	int r;

	if (srv->stopping)
		return -EAGAIN;
	/* the common case, without reading the job: its sandbox is up */
	j = find(lc, job_id);
	if (j && j->has_sandbox && !j->waking && !j->sleeping && !j->waiters &&
	    supervisor_is_live(srv->sv, job_id) && !supervisor_is_stopping(srv->sv, job_id)) {
		j->last_activity = time_mono_ms();
		return 1;
	}
	if ((r = store_job_get(srv->store, job_id, NULL, &job)) < 0)
		return r == -ENOENT ? -ENOENT : -EIO;
	int live = supervisor_is_live(srv->sv, job_id);
	int stopping = live && supervisor_is_stopping(srv->sv, job_id);
	j = find(lc, job_id);
	if (job_status_terminal(job.status)) {
		job_release(&job);
		return -ESRCH;
	}
	if (!strcmp(job.status, "running") && live && !stopping &&
	    (!j || (!j->waking && !j->sleeping))) {
		job_release(&job);
		if (j)
			j->last_activity = time_mono_ms();
		return 1;
	}
	if (stopping && !(j && j->sleeping)) {
		job_release(&job);
		return -ESRCH;
	}
	int sleeping = !strcmp(job.status, "sleeping");
	job_release(&job);
	j = get(lc, job_id);
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	w->next = j->waiters;
	j->waiters = w;
	j->last_activity = time_mono_ms();
	if (j->sleeping || stopping) {
		j->wake_after = 1;          /* once the sandbox is down */
	} else if (sleeping && !live && !j->waking) {
		wake_start(lc, j);
	} else if (!j->wake_deadline) {
		/* accepted, or its sandbox is starting: wait for "started" */
		j->wake_deadline = time_mono_ms() + LIFECYCLE_WAKE_MAX_MS;
	}
	return 0;
}

void lifecycle_wake_cancel(struct server *srv, const char *job_id, lifecycle_wake_fn cb,
			   void *arg)
{
	struct lcjob *j = find(LC(srv), job_id);

	if (!j)
		return;
	for (struct waiter **pp = &j->waiters; *pp; pp = &(*pp)->next)
		if ((*pp)->cb == cb && (*pp)->arg == arg) {
			struct waiter *w = *pp;
			*pp = w->next;
			free(w);
			return;
		}
}

/* ---- always-on: restart the startup_command inside ---- */

static void restart_out(void *arg, int stream, const char *data, size_t n)
{
	struct lcjob *j = arg;

	joblog_write(j->restart_log, stream == EXECCLIENT_STDERR ? LOGFMT_STDERR : LOGFMT_STDOUT,
		     data, n);
}

static void restart_plan(struct lcjob *j)
{
	int64_t now = time_mono_ms();

	if (j->restart_started && now - j->restart_started >= RESTART_RESET_MS)
		j->restart_backoff = RESTART_MIN_MS;
	j->restart_at = now + j->restart_backoff;
	j->restart_backoff *= 2;
	if (j->restart_backoff > RESTART_MAX_MS)
		j->restart_backoff = RESTART_MAX_MS;
}

static void restart_done(void *arg, int r, int code, int timed_out, const char *reply,
			 const char *msg)
{
	struct lcjob *j = arg;
	char m[300];

	(void)timed_out;
	(void)reply;
	j->restart = NULL;
	j->script_running = 0;
	if (r < 0)
		snprintf(m, sizeof(m), "startup_command could not be restarted: %.200s", msg);
	else
		snprintf(m, sizeof(m), "startup_command exited with code %d", code);
	joblog_system(j->restart_log, m);
	joblog_close(j->restart_log);
	j->restart_log = NULL;
	logs_wake(j->lc->srv->logs, j->id);
	if (j->no_sleep && j->has_sandbox)
		restart_plan(j);
}

static void restart_now(struct lifecycle *lc, struct lcjob *j)
{
	struct server *srv = lc->srv;
	struct job job;
	struct mags_err err;

	j->restart_at = 0;
	if (j->restart || !j->has_sandbox || j->sleeping ||
	    supervisor_is_stopping(srv->sv, j->id) ||
	    store_job_get(srv->store, j->id, NULL, &job) < 0)
		return;
	if (!job.no_sleep || !job.startup_command || !*job.startup_command ||
	    strcmp(job.status, "running")) {
		job_release(&job);
		return;
	}
	_cleanup_free_ char *ctl = xasprintf("%s/run/%s.sock", srv->cfg->data_dir, j->id);
	json_t *q = json_pack("{s:s}", "command", job.startup_command);
	_cleanup_free_ char *qs = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	j->restart_log = joblog_open(srv->cfg->data_dir, j->id, srv->cfg->log_limit);
	joblog_system(j->restart_log, "restarting startup_command");
	j->restart = execclient_start(srv->loop, ctl, qs, strlen(qs), restart_out, restart_done,
				      j, &err);
	job_release(&job);
	if (!j->restart) {
		joblog_system(j->restart_log, err.msg);
		joblog_close(j->restart_log);
		j->restart_log = NULL;
		restart_plan(j);
		return;
	}
	log_info("job %s: startup_command restarted", j->id);
	j->restart_started = time_mono_ms();
	j->script_running = 1;
}

/* ---- supervisor hooks ---- */

void lifecycle_on_event(struct server *srv, const char *job_id, const char *line)
{
	struct lifecycle *lc = LC(srv);
	struct job job;

	if (!lc)
		return;
	if (!strncmp(line, "started", 7)) {
		if (store_job_get(srv->store, job_id, NULL, &job) < 0)
			return;
		int persistent = job.persistent;
		if (persistent && !strcmp(job.status, "sleeping")) {
			(void)store_job_set_awake(srv->store, job_id);
			log_info("job %s awake", job_id);
			logs_wake(srv->logs, job_id);
		}
		struct lcjob *j = persistent ? get(lc, job_id) : find(lc, job_id);
		if (j) {
			j->has_sandbox = 1;
			j->script_running = 1;
			j->waking = 0;
			j->sleeping = 0;
			j->wake_deadline = 0;
			j->no_sleep = job.no_sleep;
			j->idle_timeout = job.idle_timeout;
			j->last_activity = time_mono_ms();
			j->cpu_at = 0;
			answer(j, 0, NULL);
		}
		job_release(&job);
	} else if (!strncmp(line, "script-exit ", 12)) {
		int code = atoi(line + 12);
		struct lcjob *j = find(lc, job_id);
		(void)store_job_set_exit_code(srv->store, job_id, code);
		if (j) {
			j->script_running = 0;
			if (j->no_sleep && !j->sleeping && !j->restart && !j->restart_at)
				restart_plan(j);
		}
		/* followers of the log end now, with the script's exit code */
		logs_wake(srv->logs, job_id);
	}
}

void lifecycle_on_end(struct server *srv, const char *job_id)
{
	struct lifecycle *lc = LC(srv);
	struct lcjob *j = find(lc, job_id);
	struct job job;

	if (!j)
		return;
	execclient_free(j->restart);
	j->restart = NULL;
	joblog_close(j->restart_log);
	j->restart_log = NULL;
	j->restart_at = 0;
	j->has_sandbox = 0;
	j->script_running = 0;
	j->execs = 0;
	if (store_job_get(srv->store, job_id, NULL, &job) == 0) {
		if (!strcmp(job.status, "sleeping")) {
			j->sleeping = 0;
			/* D5: the local disk stays, and stays this job's */
			if (job.workspace_id)
				workspace_hold(srv->ws, job.user_id, job.workspace_id, job.id, 0);
			if (j->wake_after || j->waiters) {
				j->wake_after = 0;
				wake_start(lc, j);
			}
			job_release(&job);
			return;
		}
		job_release(&job);
	}
	answer(j, -ESRCH, "the sandbox ended");
	drop(lc, j);
}

void lifecycle_on_detach(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);

	if (!j)
		return;
	/* the restarted command dies with our connection; the next daemon
	 * starts it again */
	execclient_free(j->restart);
	j->restart = NULL;
	joblog_close(j->restart_log);
	j->restart_log = NULL;
}

void lifecycle_run_begin(struct server *srv, const char *job_id)
{
	struct lcrun *r = xcalloc(1, sizeof(*r));

	snprintf(r->id, sizeof(r->id), "%s", job_id);
	r->next = LC(srv)->runs;
	LC(srv)->runs = r;
}

void lifecycle_run_ended(struct server *srv, const char *job_id)
{
	for (struct lcrun **pp = &LC(srv)->runs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->id, job_id)) {
			struct lcrun *r = *pp;
			*pp = r->next;
			free(r);
			break;
		}
	logs_wake(srv->logs, job_id);
}

int lifecycle_output_live(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);

	for (struct lcrun *r = LC(srv) ? LC(srv)->runs : NULL; r; r = r->next)
		if (!strcmp(r->id, job_id))
			return 1;

	if (!supervisor_is_live(srv->sv, job_id)) {
		if (j && (j->waking || j->restart))
			return 1;
		/* accepted, its sandbox not spawned yet (a workspace being
		 * prepared, a base materialised): the output is still to come */
		struct job job;
		int accepted = 0;
		memset(&job, 0, sizeof(job));
		if (store_job_get(srv->store, job_id, NULL, &job) == 0) {
			accepted = !strcmp(job.status, "accepted");
			job_release(&job);
		}
		return accepted;
	}
	if (!j)
		return 1;             /* not persistent, or not started yet */
	return j->script_running || j->waking;
}

void lifecycle_exec_begin(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);

	if (j) {
		j->execs++;
		j->last_activity = time_mono_ms();
	}
}

void lifecycle_exec_end(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);

	if (j) {
		if (j->execs > 0)
			j->execs--;
		j->last_activity = time_mono_ms();
	}
}

void lifecycle_settings_changed(struct server *srv, const char *job_id)
{
	struct lcjob *j = find(LC(srv), job_id);
	struct job job;

	if (!j || store_job_get(srv->store, job_id, NULL, &job) < 0)
		return;
	j->no_sleep = job.no_sleep;
	j->idle_timeout = job.idle_timeout;
	j->last_activity = time_mono_ms();
	if (j->no_sleep && j->has_sandbox && !j->script_running && !j->restart && !j->restart_at &&
	    job.startup_command)
		restart_plan(j);
	job_release(&job);
}

/* ---- time ---- */

int lifecycle_next_timeout(struct lifecycle *lc, int64_t now)
{
	if (!lc || !lc->list)
		return -1;
	int64_t d = lc->next_tick - now;
	return d < 0 ? 0 : (int)d;
}

static void idle_check(struct lifecycle *lc, struct lcjob *j, int64_t now)
{
	struct server *srv = lc->srv;
	int idle_s = lifecycle_idle_timeout(j->idle_timeout, srv->cfg->idle_timeout);
	int64_t idle_ms = (int64_t)idle_s * 1000;

	if (!j->has_sandbox || j->sleeping || j->waking || j->no_sleep || idle_ms <= 0 ||
	    srv->stopping || supervisor_is_stopping(srv->sv, j->id))
		return;
	/* CPU: sample once a second; a busy sample keeps it awake a while.
	 * Busy is CPU used plus CPU wanted but not had (run-queue wait). */
	if (!j->cpu_at || now - j->cpu_at >= CPU_SAMPLE_MS) {
		int64_t us = cgroup_cpu_us(j->id), wait = cgroup_wait_us(j->id);
		if (j->cpu_at && us >= 0) {
			int64_t wanted = lifecycle_cpu_wanted_us(us - j->cpu_us, j->wait_us, wait);
			if (!lifecycle_idle(idle_ms, idle_ms, wanted, now - j->cpu_at, 0))
				j->last_activity = now;
		}
		j->cpu_at = us >= 0 ? now : 0;
		j->cpu_us = us;
		j->wait_us = wait;
	}
	if (!lifecycle_idle(now - j->last_activity, idle_ms, 0, 0, j->execs))
		return;
	if (j->waiters)
		return;
	log_info("job %s idle for %d s: going to sleep", j->id, idle_s);
	if (supervisor_sleep(srv->sv, j->id) == 0) {
		j->sleeping = 1;
		execclient_free(j->restart);
		j->restart = NULL;
		joblog_close(j->restart_log);
		j->restart_log = NULL;
		j->restart_at = 0;
	}
}

void lifecycle_tick(struct lifecycle *lc, int64_t now)
{
	if (!lc || now < lc->next_tick)
		return;
	lc->next_tick = now + TICK_MS;
	for (struct lcjob *j = lc->list, *next; j; j = next) {
		next = j->next;
		if (j->restart_at && now >= j->restart_at)
			restart_now(lc, j);
		if (j->wake_deadline && now >= j->wake_deadline) {
			j->wake_deadline = 0;
			j->waking = 0;
			answer(j, -ETIMEDOUT, "the sandbox did not start in time");
		} else if (j->waiters && !j->has_sandbox && !j->sleeping) {
			/* the wake failed before its sandbox started (disk, image) */
			struct job job;
			if (store_job_get(lc->srv->store, j->id, NULL, &job) == 0) {
				int dead = job_status_terminal(job.status);
				char msg[300];
				snprintf(msg, sizeof(msg), "the sandbox could not start: %.250s",
					 job.error_message ? job.error_message : job.status);
				job_release(&job);
				if (dead) {
					answer(j, -ESRCH, msg);
					drop(lc, j);
					continue;
				}
			}
		}
		idle_check(lc, j, now);
	}
}
