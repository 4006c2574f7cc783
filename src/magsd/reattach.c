/*
 * reattach.c - a starting daemon takes the long-lived sandboxes of the
 * previous one back (see reattach.h).
 *
 * Why this works: a persistent job's runtime (its supervisor process)
 * never dies with magsd (own process group, no parent-death signal), its
 * init writes the job's log itself, and the runtime keeps
 * DATA_DIR/run/<id>.state: "supervisor <pid>" and every status line it
 * sent, rewritten whole before each line. So the new daemon learns the
 * sandbox's state from the file, proves it is alive with pidfd_open and a
 * {"op": "status"} on its control socket, and watches the pidfd for its
 * end. Nothing in the sandbox notices.
 */
#include "magsd/reattach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/execclient.h"
#include "magsd/lifecycle.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"
#include "magsd/workspace.h"
#include "common/banned.h"

#define STATUS_WAIT_MS 2000

/* A canonical decimal in [min, max] (no sign but '-', no leading zeros, no
 * trailing bytes): 0, or -1. atoi would wrap "supervisor 4294967297" to
 * pid 1, which the orphan sweep would then signal. */
static int state_number(const char *s, long min, long max, long *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	char *end;
	long v;

	if (*d < '0' || *d > '9' || (d[0] == '0' && d[1]) || (s != d && d[0] == '0'))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int reattach_state_parse(const char *text, struct reattach_state *out)
{
	long v;

	memset(out, 0, sizeof(*out));
	out->script_exit = -1;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[256];

		if (!nl)
			break;              /* the file is rewritten whole: no partial line */
		snprintf(line, sizeof(line), "%.*s", (int)(n < 255 ? n : 255), p);
		p = nl + 1;
		if (!strncmp(line, "supervisor ", 11))
			out->pid = state_number(line + 11, 1, INT32_MAX, &v) == 0 ? (pid_t)v : 0;
		else if (!strncmp(line, "started", 7))
			out->started = 1;
		else if (!strncmp(line, "script-exit ", 12))
			out->script_exit = state_number(line + 12, 0, 255, &v) == 0 ? (int)v : -1;
		else if (!strncmp(line, "exit ", 5) || !strcmp(line, "stopped") ||
			 !strcmp(line, "timeout") || !strncmp(line, "error", 5))
			out->ended = 1;
	}
	return out->pid > 0 ? 0 : -EINVAL;
}

static char *read_state(const char *data_dir, const char *id)
{
	_cleanup_free_ char *path = xasprintf("%s/run/%s.state", data_dir, id);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	buf = xmalloc(16384);
	n = read(fd, buf, 16383);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

struct ctx {
	struct server *srv;
	int adopted, restarted, lost;
};

static void noop_woken(void *arg, int r, const char *msg)
{
	(void)arg;
	if (r < 0)
		log_warn("always-on job could not be started again: %s", msg ? msg : "");
}

/* Try to take the job's sandbox back. 1 adopted, 0 not there. */
static int adopt(struct server *srv, const struct job *job)
{
	const char *dd = srv->cfg->data_dir;
	_cleanup_free_ char *text = read_state(dd, job->id);
	_cleanup_free_ char *ctl = xasprintf("%s/run/%s.sock", dd, job->id);
	struct reattach_state rs;
	struct mags_err err;
	char *reply = NULL;
	int pidfd, r;

	if (!text || reattach_state_parse(text, &rs) < 0 || rs.ended || !rs.started)
		return 0;
	pidfd = (int)syscall(SYS_pidfd_open, rs.pid, 0);
	if (pidfd < 0)
		return 0;
	r = execclient_call_sync(ctl, "status", STATUS_WAIT_MS, &reply);
	free(reply);
	if (r < 0) {
		log_warn("job %s: runtime pid %d is there but its sandbox does not answer (%s): "
			 "stopping it", job->id, (int)rs.pid, strerror(-r));
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
		close(pidfd);
		return 0;
	}
	(void)fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	if (supervisor_adopt(srv->sv, job, rs.pid, pidfd, &err) < 0) {
		log_warn("job %s: %s", job->id, err.msg);
		return 0;
	}
	if (job->workspace_id)
		workspace_hold(srv->ws, job->user_id, job->workspace_id, job->id, 1);
	return 1;
}

static void one(const char *id, void *arg)
{
	struct ctx *c = arg;
	struct server *srv = c->srv;
	struct job job;

	if (store_job_get(srv->store, id, NULL, &job) < 0)
		return;
	if (!strcmp(job.status, "sleeping")) {
		/* asleep: nothing runs; its local disk stays its own (D5) */
		if (job.workspace_id)
			workspace_hold(srv->ws, job.user_id, job.workspace_id, job.id, 0);
		if (job.no_sleep && lifecycle_wake(srv, job.id, noop_woken, NULL) == 0)
			c->restarted++;
	} else if (!strcmp(job.status, "running")) {
		if (adopt(srv, &job)) {
			c->adopted++;
		} else if (job.no_sleep) {
			/* always-on (D14): start it again with its startup_command */
			log_info("job %s: its sandbox is gone, starting it again", job.id);
			(void)store_job_set_sleeping(srv->store, job.id);
			if (job.workspace_id)
				workspace_hold(srv->ws, job.user_id, job.workspace_id, job.id, 0);
			if (lifecycle_wake(srv, job.id, noop_woken, NULL) == 0)
				c->restarted++;
		} else {
			(void)store_job_finish(srv->store, job.id, "error", job.has_exit_code ?
					       job.exit_code : -1,
					       "the sandbox was lost while the daemon was down",
					       time_now_ms());
			c->lost++;
		}
	}
	job_release(&job);
}

/* Sandboxes no job claims: a state file whose runtime still runs. */
static void orphans(struct server *srv)
{
	_cleanup_free_ char *dir = xasprintf("%s/run", srv->cfg->data_dir);
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n <= 6 || strcmp(e->d_name + n - 6, ".state") || n - 6 >= JOB_ID_MAX)
			continue;
		char id[JOB_ID_MAX];
		snprintf(id, sizeof(id), "%.*s", (int)(n - 6), e->d_name);
		if (supervisor_is_live(srv->sv, id))
			continue;
		_cleanup_free_ char *text = read_state(srv->cfg->data_dir, id);
		struct reattach_state rs;
		if (text && reattach_state_parse(text, &rs) == 0 && !rs.ended) {
			int pidfd = (int)syscall(SYS_pidfd_open, rs.pid, 0);
			if (pidfd >= 0) {
				log_warn("sandbox of job %s (runtime pid %d) belongs to no live job: "
					 "stopping it", id, (int)rs.pid);
				(void)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
				close(pidfd);
				continue;   /* it removes its socket; the file is left */
			}
		}
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
}

/*
 * Sandboxes of a daemon that was killed (SIGKILL, OOM) whose jobs end
 * "daemon restarted" below: their runtimes go on (own process group, no
 * parent-death signal), so they are stopped. An ephemeral runtime keeps
 * no state file (orphans()); it is found in /proc by its "--id", which
 * must name an unfinished job of this data dir (ids are UUIDs). Only
 * process-group leaders: the sandbox's own process shares the command line.
 */
static void strays(struct server *srv)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], buf[4096], *p;
		const char *id = NULL, *end;
		long pgrp = 0;
		struct job job;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		/* "pid (comm) state ppid pgrp ..." */
		if (!(p = strrchr(buf, ')')) || sscanf(p + 1, " %*c %*d %ld", &pgrp) != 1 ||
		    pgrp != pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		end = buf + n;
		size_t l0 = strlen(buf);
		if (l0 < 12 || strcmp(buf + l0 - 12, "mags-runtime") || buf + l0 + 1 >= end ||
		    strcmp(buf + l0 + 1, "run"))
			continue;
		/* the options, up to "--" (the script follows it) */
		for (const char *a = buf; a < end && strcmp(a, "--"); a += strlen(a) + 1) {
			const char *v = a + strlen(a) + 1;
			if (!strcmp(a, "--id") && v < end)
				id = v;
		}
		if (!id || strlen(id) >= JOB_ID_MAX || supervisor_is_live(srv->sv, id) ||
		    store_job_get(srv->store, id, NULL, &job) < 0)
			continue;
		int unfinished = !strcmp(job.status, "accepted") || !strcmp(job.status, "running");
		job_release(&job);
		if (!unfinished)
			continue;
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			continue;
		log_warn("sandbox of job %s (runtime pid %d) outlived the daemon that started "
			 "it: stopping it", id, (int)pid);
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
		close(pidfd);
	}
	closedir(d);
}

static int keep_live(const char *job_id, void *arg)
{
	struct server *srv = arg;

	return supervisor_is_live(srv->sv, job_id);
}

void reattach_all(struct server *srv)
{
	struct ctx c = { .srv = srv };
	int r;

	(void)store_job_list_live_persistent(srv->store, one, &c);
	orphans(srv);
	strays(srv);
	r = store_job_recover_except(srv->store, "daemon restarted", time_now_ms(), keep_live, srv);
	if (c.adopted || c.restarted || c.lost)
		log_info("re-attached %d sandbox%s, restarted %d always-on, %d lost", c.adopted,
			 c.adopted == 1 ? "" : "es", c.restarted, c.lost);
	if (r > 0)
		log_warn("%d job%s left unfinished by a previous magsd marked as error",
			 r, r == 1 ? "" : "s");
}
