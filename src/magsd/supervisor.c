/*
 * supervisor.c - one mags-runtime per live job (see supervisor.h).
 *
 * A job's outcome is decided when its runtime is reaped, from the status
 * lines it wrote on fd 3 (read up to that moment):
 *   error <msg>          -> error, <msg>
 *   timeout              -> error, "job timed out after N seconds", exit 137
 *   stopped / our SIGTERM-> stopped
 *   exit <n>             -> completed, exit_code n (the job ran, whatever n)
 *   nothing final        -> error, "sandbox supervisor died"
 * The pipe may stay open past the runtime's death if something it started
 * kept fd 3; reaping, not EOF, ends the job, so that cannot hang it.
 */
#include "magsd/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/netcfg.h"
#include "common/util.h"
#include "magsd/api_usage.h"
#include "magsd/image.h"
#include "magsd/log.h"
#include "magsd/network.h"
#include "magsd/task.h"
#include "common/banned.h"

#define STATUS_LINE_MAX 1024
#define STOP_GRACE_MS 10000
#define TIMEOUT_GRACE_MS 60000
#define FINAL_GRACE_MS 30000
#define STATE_POLL_MS 250            /* adopted sandboxes: state file re-read */
#define SCRIPT_ARG_MAX (64 * 1024)   /* longer scripts go by --script-file */

extern char **environ;

struct sandbox {
	struct sandbox *next;
	struct supervisor *sv;
	char id[JOB_ID_MAX];
	pid_t pid;
	int fd;                     /* status pipe, -1 once closed */
	struct loop_watch *watch;
	int slot;
	int link;                   /* network link index, -1 = no network */
	char ip[16];                /* its `net <ip>` line, "" until then */
	int timeout_s;
	char line[STATUS_LINE_MAX];
	size_t line_len;
	int line_overflow;
	int started;
	int got_exit;
	int exit_code;
	int timed_out;
	int got_stopped;
	char *error;
	int stop_requested;
	int shutdown;
	int killed;
	int64_t kill_at;            /* monotonic ms, 0 = none */
	/* long-lived sandboxes (issue 4, lifecycle.c) */
	int keep_alive;             /* --keep-alive: the script's end is not the job's */
	int sleep_requested;        /* stopped to sleep: the job becomes "sleeping" */
	int adopted;                /* re-attached after a daemon restart: not our child */
	int pidfd;                  /* adopted: pidfd of its runtime, -1 otherwise */
	struct loop_watch *pidfd_watch;
	off_t state_off;            /* adopted: bytes of the state file handled */
	int64_t next_state_poll;    /* adopted: monotonic ms */
	pid_t init_pid;
	int has_script_exit;
	int script_exit;
};

struct supervisor {
	const struct config *cfg;
	struct store *store;
	struct loop *loop;
	char *runtime;
	char *image;
	struct sandbox *list;
	int live;
	unsigned char slots[SUPERVISOR_MAX_SLOTS];
	int nat;                    /* sandboxes get a network (supervisor_set_nat) */
	struct network_links links;
	supervisor_change_fn on_change;
	void *on_change_arg;
	supervisor_end_fn on_end;
	void *on_end_arg;
	supervisor_event_fn on_event;
	void *on_event_arg;
	supervisor_end_fn on_detach;
	void *on_detach_arg;
};

struct supervisor *supervisor_new(const struct config *cfg, struct store *st,
				  struct loop *loop, const char *runtime,
				  const char *image)
{
	struct supervisor *sv = xcalloc(1, sizeof(*sv));

	sv->cfg = cfg;
	sv->store = st;
	sv->loop = loop;
	sv->runtime = xstrdup(runtime);
	sv->image = xstrdup(image);
	network_links_init(&sv->links);
	return sv;
}

void supervisor_free(struct supervisor *sv)
{
	if (!sv)
		return;
	while (sv->list) {
		struct sandbox *sb = sv->list;
		sv->list = sb->next;
		loop_remove(sv->loop, sb->watch);
		if (sb->fd >= 0)
			close(sb->fd);
		free(sb->error);
		free(sb);
	}
	free(sv->runtime);
	free(sv->image);
	free(sv);
}

void supervisor_on_change(struct supervisor *sv, supervisor_change_fn fn, void *arg)
{
	sv->on_change = fn;
	sv->on_change_arg = arg;
}

void supervisor_on_end(struct supervisor *sv, supervisor_end_fn fn, void *arg)
{
	sv->on_end = fn;
	sv->on_end_arg = arg;
}

void supervisor_on_detach(struct supervisor *sv, supervisor_end_fn fn, void *arg)
{
	sv->on_detach = fn;
	sv->on_detach_arg = arg;
}

void supervisor_on_event(struct supervisor *sv, supervisor_event_fn fn, void *arg)
{
	sv->on_event = fn;
	sv->on_event_arg = arg;
}

static void changed(struct supervisor *sv, const char *id)
{
	if (sv->on_change)
		sv->on_change(id, sv->on_change_arg);
}

static struct sandbox *find(struct supervisor *sv, const char *id)
{
	for (struct sandbox *sb = sv->list; sb; sb = sb->next)
		if (!strcmp(sb->id, id))
			return sb;
	return NULL;
}

int supervisor_is_live(struct supervisor *sv, const char *job_id)
{
	return find(sv, job_id) != NULL;
}

int supervisor_live_count(struct supervisor *sv)
{
	return sv->live;
}

void supervisor_set_nat(struct supervisor *sv, int on)
{
	sv->nat = on;
}

int supervisor_job_ip(struct supervisor *sv, const char *job_id, char *ip, size_t n)
{
	struct sandbox *sb = find(sv, job_id);

	if (!sb || !sb->ip[0])
		return -ENOENT;
	snprintf(ip, n, "%s", sb->ip);
	return 0;
}

char *supervisor_image_rootfs(const char *data_dir, const char *image,
			      const char **used_name)
{
	char *r = image_rootfs(data_dir, image);

	*used_name = image;
	if (!r && !strcmp(image, "default")) {
		r = image_rootfs(data_dir, "busybox");
		if (r)
			*used_name = "busybox";
	}
	return r;
}

/* Append a system record to a job's log: what magsd itself has to say. */
static void log_system(const char *data_dir, const char *id, const char *msg)
{
	_cleanup_free_ char *path = xasprintf("%s/jobs/%s/log", data_dir, id);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	char hdr[40];
	size_t n;

	if (fd < 0)
		return;
	n = logfmt_header(hdr, sizeof(hdr), time_now_ms(), LOGFMT_SYSTEM);
	_cleanup_free_ char *rec = xasprintf("%.*s%s\n", (int)n, hdr, msg);
	(void)write_full(fd, rec, strlen(rec));
}

/* ---- status lines ---- */

/* After its final line a runtime only tears down; give it FINAL_GRACE_MS. */
static void final_seen(struct sandbox *sb)
{
	int64_t at = time_mono_ms() + FINAL_GRACE_MS;

	if (!sb->kill_at || at < sb->kill_at)
		sb->kill_at = at;
}

static void status_line(struct supervisor *sv, struct sandbox *sb, char *line)
{
	if (!strncmp(line, "started", 7) && (!line[7] || line[7] == ' ')) {
		if (sb->started)
			return;
		sb->started = 1;
		sb->init_pid = (pid_t)atoi(line + 7);
		(void)store_job_set_running(sv->store, sb->id, time_now_ms());
		log_info("job %s running", sb->id);
		changed(sv, sb->id);
	} else if (!strncmp(line, "exit ", 5)) {
		char *end;
		long n = strtol(line + 5, &end, 10);
		if (end != line + 5 && !*end && n >= 0 && n <= 255) {
			sb->got_exit = 1;
			sb->exit_code = (int)n;
			final_seen(sb);
		}
	} else if (!strncmp(line, "net ", 4)) {
		uint32_t a;
		if (netcfg_parse_ipv4(line + 4, &a) == 0) {
			netcfg_format_ipv4(a, sb->ip);
			/* a re-attached sandbox: its link is ours again */
			uint32_t i = (a - NETCFG_POOL_ADDR) >> 2;
			if (sb->link <= 0 && (a >> 16) == (NETCFG_POOL_ADDR >> 16) &&
			    i >= NETWORK_LINK_FIRST && i < NETWORK_LINK_END && !sv->links.used[i]) {
				sv->links.used[i] = 1;
				sb->link = (int)i;
			}
			if (store_job_set_ip(sv->store, sb->id, sb->ip) < 0)
				log_warn("job %s: could not record its address in the database", sb->id);
		}
	} else if (!strncmp(line, "usage", 5) && (!line[5] || line[5] == ' ')) {
		int64_t cpu_us, mem_peak;
		if (api_usage_parse_status(line, &cpu_us, &mem_peak) == 0 &&
		    store_job_set_usage(sv->store, sb->id, cpu_us, mem_peak) < 0)
			log_warn("job %s: could not record its usage in the database", sb->id);
	} else if (!strncmp(line, "script-exit ", 12)) {
		/* --keep-alive: the script ended, the sandbox stays (lifecycle.c) */
		sb->script_exit = atoi(line + 12);
		sb->has_script_exit = 1;
	} else if (!strcmp(line, "script-timeout")) {
		/* the script was killed; "script-exit 137" follows */
	} else if (!strcmp(line, "timeout")) {
		sb->timed_out = 1;
	} else if (!strcmp(line, "stopped")) {
		sb->got_stopped = 1;
		final_seen(sb);
	} else if (!strncmp(line, "error", 5) && (!line[5] || line[5] == ' ')) {
		free(sb->error);
		sb->error = xstrdup(line[5] ? line + 6 : "sandbox set-up failed");
		final_seen(sb);
	} else {
		log_warn("job %s: unknown status line from runtime: '%.80s'", sb->id, line);
	}
	if (sv->on_event)
		sv->on_event(sb->id, line, sv->on_event_arg);
}

/* Read what is available. Returns 1 at EOF, 0 otherwise. */
static int status_read(struct supervisor *sv, struct sandbox *sb)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(sb->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : 1;
		if (n == 0)
			return 1;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				sb->line[sb->line_len] = '\0';
				if (!sb->line_overflow)
					status_line(sv, sb, sb->line);
				sb->line_len = 0;
				sb->line_overflow = 0;
			} else if (sb->line_len < sizeof(sb->line) - 1) {
				sb->line[sb->line_len++] = buf[i];
			} else {
				sb->line_overflow = 1;
			}
		}
	}
}

static void status_close(struct supervisor *sv, struct sandbox *sb)
{
	loop_remove(sv->loop, sb->watch);
	sb->watch = NULL;
	if (sb->fd >= 0)
		close(sb->fd);
	sb->fd = -1;
}

static void on_status(int fd, uint32_t events, void *arg)
{
	struct sandbox *sb = arg;

	(void)fd;
	(void)events;
	if (status_read(sb->sv, sb))
		status_close(sb->sv, sb);
}

/* ---- spawning ---- */

static int slot_take(struct supervisor *sv)
{
	for (int i = 0; i < SUPERVISOR_MAX_SLOTS; i++)
		if (!sv->slots[i]) {
			sv->slots[i] = 1;
			return i;
		}
	return -1;
}

/* In the child between fork and exec: only the status pipe (as fd 3) and
 * stdio survive; signals back to defaults; own process group so a Ctrl-C
 * at magsd's terminal does not reach the sandbox behind magsd's back. */
static void __attribute__((noreturn))
child_exec(const char *runtime, char **argv, int wfd, int devnull)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	setpgid(0, 0);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(127);
	if (wfd == 3) {
		if (fcntl(3, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(wfd, 3) < 0) {
		_exit(127);
	}
	if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	execve(runtime, argv, environ);
	dprintf(3, "error cannot run sandbox runtime '%s': %s\n", runtime,
		errno == E2BIG ? "script or environment too large" : strerror(errno));
	_exit(127);
}

int supervisor_spawn(struct supervisor *sv, const struct job *job,
		     char *const *env, size_t n_env,
		     const struct supervisor_layers *layers, struct mags_err *err)
{
	static const struct supervisor_layers none;
	const char *dd = sv->cfg->data_dir, *used;
	_cleanup_free_ char *rootfs = supervisor_image_rootfs(dd, sv->image, &used);
	_cleanup_free_ char *jobdir = xasprintf("%s/jobs/%s", dd, job->id);
	_cleanup_free_ char *logp = xasprintf("%s/log", jobdir);
	_cleanup_free_ char *scriptp = xasprintf("%s/script", jobdir);
	_cleanup_free_ char *rundir_parent = xasprintf("%s/run", dd);
	_cleanup_free_ char *rundir = xasprintf("%s/run/%s", dd, job->id);
	_cleanup_free_ char *ctl = xasprintf("%s/run/%s.sock", dd, job->id);
	_cleanup_free_ char *statep = xasprintf("%s/run/%s.state", dd, job->id);
	char uidbase[24], timeout[24], mem[24], cpus[32], pids[24], loglimit[24];
	char netaddr[24];
	_cleanup_free_ char *allow = NULL;
	char **argv;
	size_t argc = 0;
	int pfd[2], devnull, slot, link = -1, r;
	pid_t pid;

	if (!rootfs)
		return err_set(err, MAGS_E_UNAVAILABLE, ENOENT,
			       "image '%s' is not built (run 'magsd image build %s')",
			       sv->image, sv->image);
	if ((r = mkdir_p(jobdir, 0700)) < 0)
		return err_sys(err, -r, "create '%s'", jobdir);
	if ((r = mkdir_p(rundir_parent, 0700)) < 0)
		return err_sys(err, -r, "create '%s'", rundir_parent);
	slot = slot_take(sv);
	if (slot < 0)
		return err_set(err, MAGS_E_TOO_MANY, EAGAIN, "no free sandbox slot");

	snprintf(uidbase, sizeof(uidbase), "%lld",
		 (long long)SUPERVISOR_UID_BASE + (long long)slot * SUPERVISOR_UID_RANGE);
	/* A persistent job keeps its sandbox (--keep-alive) and gets a control
	 * socket and a state file (lifecycle.c, reattach.c). Woken from sleep
	 * it runs its startup_command instead of its script. The timeout then
	 * bounds the script only, and none is set for a sandbox's own command
	 * (mags new's 'sleep infinity', a server). */
	const char *script = job->script;
	int waking = job->persistent && !strcmp(job->status, "sleeping");
	int tmo = job->timeout;
	if (waking)
		script = job->startup_command && *job->startup_command ? job->startup_command : "true";
	if (job->persistent && (waking || job->no_sleep ||
				(job->startup_command && !strcmp(job->startup_command, script))))
		tmo = 0;
	snprintf(timeout, sizeof(timeout), "%d", tmo);
	snprintf(mem, sizeof(mem), "%d", sv->cfg->memory_mb);
	snprintf(cpus, sizeof(cpus), "%g", sv->cfg->cpus);
	snprintf(pids, sizeof(pids), "%d", sv->cfg->pids);
	snprintf(loglimit, sizeof(loglimit), "%lld", (long long)sv->cfg->log_limit);

	/* The network: a link of our own unless the job or the server says
	 * none (a job's allow list on a server without a network runs with
	 * none: never more than it asked for). */
	if (sv->nat && !(job->network && !strcmp(job->network, "none"))) {
		link = network_link_take(&sv->links);
		if (link < 0) {
			sv->slots[slot] = 0;
			return err_set(err, MAGS_E_TOO_MANY, EAGAIN, "no free network link");
		}
		network_link_subnet(link, netaddr, sizeof(netaddr));
		if (job->network && !strncmp(job->network, "allow:", 6))
			allow = xstrdup(job->network + 6);
	}

	if (!layers)
		layers = &none;
	argv = xcalloc(34 + 4 + 6 + 2 * (NETCFG_ALLOW_MAX + n_env + layers->n_lowers +
				     layers->n_copy_in), sizeof(char *));
#define ARG(x) (argv[argc++] = (char *)(x))
	ARG(sv->runtime); ARG("run");
	ARG("--id"); ARG(job->id);
	ARG("--rootfs"); ARG(rootfs);
	ARG("--log"); ARG(logp);
	ARG("--run-dir"); ARG(rundir);
	ARG("--uid-base"); ARG(uidbase);
	ARG("--timeout"); ARG(timeout);
	ARG("--memory-mb"); ARG(mem);
	ARG("--cpus"); ARG(cpus);
	ARG("--pids"); ARG(pids);
	ARG("--log-limit"); ARG(loglimit);
	for (size_t i = 0; i < n_env; i++) {
		ARG("--env");
		ARG(env[i]);
	}
	if (layers->upper) {
		ARG("--upper"); ARG(layers->upper);
	}
	for (size_t i = 0; i < layers->n_lowers; i++) {
		ARG("--lower"); ARG(layers->lowers[i]);
	}
	for (size_t i = 0; i < layers->n_copy_in; i++) {
		ARG("--copy-in"); ARG(layers->copy_in[i]);
	}
	if (link >= 0) {
		ARG("--net"); ARG("nat");
		ARG("--net-addr"); ARG(netaddr);
		/* "c1,c2,...", checked by api_validate; at most NETCFG_ALLOW_MAX */
		char *p = allow;
		for (int n = 0; p && *p && n < NETCFG_ALLOW_MAX; n++) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma++ = '\0';
			ARG("--net-allow"); ARG(p);
			p = comma;
		}
	}
	if (job->persistent) {
		ARG("--keep-alive");
		ARG("--control"); ARG(ctl);
		ARG("--state-file"); ARG(statep);
	}
	if (strlen(script) > SCRIPT_ARG_MAX) {
		/* one execve argument is at most 128 KiB (MAX_ARG_STRLEN) */
		_cleanup_close_ int sfd = open(scriptp, O_WRONLY | O_CREAT | O_TRUNC |
					       O_CLOEXEC | O_NOFOLLOW, 0600);
		if (sfd < 0 || (r = write_full(sfd, script, strlen(script))) < 0) {
			r = err_sys(err, sfd < 0 ? errno : -r, "write '%s'", scriptp);
			goto fail_slot;
		}
		ARG("--script-file"); ARG(scriptp);
	} else {
		ARG("--"); ARG(script);
	}
	argv[argc] = NULL;
#undef ARG

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		r = err_sys(err, errno, "open '/dev/null'");
		goto fail_slot;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = err_sys(err, errno, "status pipe");
		goto fail_devnull;
	}
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		close(pfd[0]);
		close(pfd[1]);
		goto fail_devnull;
	}
	if (pid == 0)
		child_exec(sv->runtime, argv, pfd[1], devnull);

	close(pfd[1]);
	close(devnull);
	free(argv);
	(void)fcntl(pfd[0], F_SETFL, O_NONBLOCK);

	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	sb->sv = sv;
	snprintf(sb->id, sizeof(sb->id), "%s", job->id);
	sb->pid = pid;
	sb->fd = pfd[0];
	sb->slot = slot;
	sb->link = link;
	sb->timeout_s = job->timeout;
	sb->pidfd = -1;
	sb->keep_alive = job->persistent;
	/* a long-lived sandbox has no overall deadline (--timeout bounds its script) */
	if (!sb->keep_alive)
		sb->kill_at = time_mono_ms() + (int64_t)job->timeout * 1000 + TIMEOUT_GRACE_MS;
	sb->watch = loop_add(sv->loop, sb->fd, EPOLLIN, on_status, sb);
	if (!sb->watch)
		log_warn("job %s: watch status pipe: %s", job->id, strerror(errno));
	sb->next = sv->list;
	sv->list = sb;
	sv->live++;
	log_info("job %s spawned runtime pid %d (image '%s', uid base %s, network %s%s%s)",
		 job->id, (int)pid, used, uidbase, link >= 0 ? netaddr : "none",
		 allow ? " allow " : "", allow ? job->network + 6 : "");
	return 0;

fail_devnull:
	close(devnull);
fail_slot:
	free(argv);
	sv->slots[slot] = 0;
	if (link >= 0)
		network_link_release(&sv->links, link);
	return r;
}

/* ---- stop, reap, outcome ---- */

/* Signal a runtime: ours by pid, an adopted one through its pidfd (its
 * pid could have been reused once it was reaped by someone else). */
static void signal_runtime(struct sandbox *sb, int sig, int group)
{
	if (sb->adopted) {
		if (sb->pidfd >= 0)
			(void)syscall(SYS_pidfd_send_signal, sb->pidfd, sig, NULL, 0);
		return;
	}
	if (group)
		(void)kill(-sb->pid, sig);
	(void)kill(sb->pid, sig);
}

int supervisor_sleep(struct supervisor *sv, const char *job_id)
{
	struct sandbox *sb = find(sv, job_id);
	int r;

	if (!sb)
		return -ENOENT;
	if (sb->stop_requested)
		return sb->sleep_requested ? 0 : 1;
	r = supervisor_stop(sv, job_id);
	if (r == 0)
		sb->sleep_requested = 1;
	return r;
}

int supervisor_stop(struct supervisor *sv, const char *job_id)
{
	struct sandbox *sb = find(sv, job_id);

	if (!sb)
		return -ENOENT;
	if (sb->got_exit || sb->timed_out || sb->error || sb->got_stopped)
		return 1;
	/* a stop wins over a sleep in progress: the job ends "stopped" */
	sb->sleep_requested = 0;
	if (!sb->stop_requested) {
		sb->stop_requested = 1;
		signal_runtime(sb, SIGTERM, 0);
		int64_t at = time_mono_ms() + STOP_GRACE_MS;
		if (!sb->kill_at || at < sb->kill_at)
			sb->kill_at = at;
		log_info("job %s stopping", job_id);
	}
	return 0;
}

static void finish(struct supervisor *sv, struct sandbox *sb, int wstatus)
{
	const char *status;
	int exit_code = -1;
	char msg[600];
	const char *emsg = NULL;
	int died = 0;

	if (sb->error) {
		status = "error";
		emsg = sb->error;
	} else if (sb->timed_out) {
		status = "error";
		exit_code = 137;
		snprintf(msg, sizeof(msg), "job timed out after %d seconds", sb->timeout_s);
		emsg = msg;
	} else if (sb->sleep_requested && (sb->got_stopped || !sb->got_exit)) {
		/* asleep: the job lives on without a sandbox (lifecycle.c) */
		if (store_job_set_sleeping(sv->store, sb->id) < 0)
			log_warn("job %s: could not record its sleep in the database", sb->id);
		log_info("job %s sleeping", sb->id);
		return;
	} else if (sb->got_stopped || sb->stop_requested) {
		status = "stopped";
		if (sb->got_exit)
			exit_code = sb->exit_code;
		else if (sb->has_script_exit)
			exit_code = sb->script_exit;
	} else if (sb->got_exit) {
		status = "completed";
		exit_code = sb->exit_code;
	} else if (sb->shutdown) {
		status = "stopped";
	} else {
		status = "error";
		emsg = "sandbox supervisor died";
		died = 1;
	}
	if (store_job_finish(sv->store, sb->id, status, exit_code, emsg, time_now_ms()) < 0)
		log_warn("job %s: could not record its end in the database", sb->id);
	if (died) {
		log_system(sv->cfg->data_dir, sb->id, emsg);
		if (WIFSIGNALED(wstatus))
			log_warn("job %s: runtime pid %d killed by signal %d without a final status",
				 sb->id, (int)sb->pid, WTERMSIG(wstatus));
		else
			log_warn("job %s: runtime pid %d exited %d without a final status",
				 sb->id, (int)sb->pid, WEXITSTATUS(wstatus));
	}
	if (exit_code >= 0)
		log_info("job %s %s (exit %d)%s%s", sb->id, status, exit_code,
			 emsg ? ": " : "", emsg ? emsg : "");
	else
		log_info("job %s %s%s%s", sb->id, status, emsg ? ": " : "", emsg ? emsg : "");
}

static void state_poll(struct supervisor *sv, struct sandbox *sb);

/* The runtime is gone (reaped, or an adopted one's pidfd fired) and sb is
 * off the list: record the outcome, clean up, tell the others. */
static void ended(struct supervisor *sv, struct sandbox *sb, int wstatus)
{
	const char *dd = sv->cfg->data_dir;

	if (sb->adopted)
		state_poll(sv, sb);
	status_close(sv, sb);
	loop_remove(sv->loop, sb->pidfd_watch);
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	finish(sv, sb, wstatus);
	_cleanup_free_ char *rundir = xasprintf("%s/run/%s", dd, sb->id);
	_cleanup_free_ char *script = xasprintf("%s/jobs/%s/script", dd, sb->id);
	_cleanup_free_ char *statep = xasprintf("%s/run/%s.state", dd, sb->id);
	_cleanup_free_ char *statet = xasprintf("%s/run/%s.state.tmp", dd, sb->id);
	(void)rm_rf(rundir);
	(void)unlink(script);
	(void)unlink(statep);
	(void)unlink(statet);
	if (sb->slot >= 0)
		sv->slots[sb->slot] = 0;
	if (sb->link >= 0)
		network_link_release(&sv->links, sb->link);
	sv->live--;
	changed(sv, sb->id);
	if (sv->on_end)
		sv->on_end(sb->id, sv->on_end_arg);
	free(sb->error);
	free(sb);
}

void supervisor_reap(struct supervisor *sv)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		struct sandbox **pp = &sv->list, *sb;

		while (*pp && (*pp)->pid != pid)
			pp = &(*pp)->next;
		sb = *pp;
		if (!sb) {
			(void)task_reaped(pid, wstatus);
			continue;
		}
		*pp = sb->next;
		if (sb->fd >= 0)
			(void)status_read(sv, sb);
		ended(sv, sb, wstatus);
	}
}

int supervisor_next_timeout(struct supervisor *sv, int64_t now)
{
	int64_t best = -1;

	for (struct sandbox *sb = sv->list; sb; sb = sb->next) {
		if (sb->adopted) {
			int64_t d = sb->next_state_poll - now;
			if (d < 0)
				d = 0;
			if (best < 0 || d < best)
				best = d;
		}
		if (!sb->kill_at || sb->killed)
			continue;
		int64_t d = sb->kill_at - now;
		if (d < 0)
			d = 0;
		if (best < 0 || d < best)
			best = d;
	}
	return best > 60000 ? 60000 : (int)best;
}

void supervisor_tick(struct supervisor *sv, int64_t now)
{
	for (struct sandbox *sb = sv->list; sb; sb = sb->next) {
		if (!sb->kill_at || sb->killed || now < sb->kill_at)
			continue;
		log_warn("job %s: runtime pid %d did not end in time, killing it",
			 sb->id, (int)sb->pid);
		signal_runtime(sb, SIGKILL, 1);
		sb->killed = 1;
	}
	for (struct sandbox *sb = sv->list; sb; sb = sb->next)
		if (sb->adopted && now >= sb->next_state_poll) {
			sb->next_state_poll = now + STATE_POLL_MS;
			state_poll(sv, sb);
		}
}

void supervisor_shutdown(struct supervisor *sv)
{
	int64_t at = time_mono_ms() + STOP_GRACE_MS;

	for (struct sandbox **pp = &sv->list, *sb; (sb = *pp);) {
		/* Long-lived sandboxes outlive the daemon: the next one
		 * re-attaches (reattach.c). Only let go of them here. */
		if (sb->keep_alive && sb->started && !sb->stop_requested && !sb->got_stopped &&
		    !sb->error && !sb->got_exit) {
			*pp = sb->next;
			log_info("job %s: sandbox left running (runtime pid %d)", sb->id, (int)sb->pid);
			status_close(sv, sb);
			loop_remove(sv->loop, sb->pidfd_watch);
			if (sb->pidfd >= 0)
				close(sb->pidfd);
			sv->live--;
			if (sv->on_detach)
				sv->on_detach(sb->id, sv->on_detach_arg);
			free(sb->error);
			free(sb);
			continue;
		}
		pp = &sb->next;
		sb->shutdown = 1;
		signal_runtime(sb, SIGTERM, 0);
		if (!sb->kill_at || at < sb->kill_at)
			sb->kill_at = at;
	}
}

void supervisor_kill_all(struct supervisor *sv)
{
	int64_t now = time_mono_ms();

	for (struct sandbox *sb = sv->list; sb; sb = sb->next) {
		sb->shutdown = 1;
		if (!sb->killed)
			sb->kill_at = now;
	}
	supervisor_tick(sv, now);
}

/* ---- re-attached sandboxes (a previous magsd started them) ---- */

/* Feed the state file's lines past sb->state_off to status_line. The
 * file is rewritten whole (rename) before each line, so every read sees
 * complete lines; the first line is "supervisor <pid>". */
static void state_poll(struct supervisor *sv, struct sandbox *sb)
{
	_cleanup_free_ char *path = xasprintf("%s/run/%s.state", sv->cfg->data_dir, sb->id);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[8192];
	ssize_t n;

	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1, sb->state_off);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = '\0';
		sb->state_off += nl - p + 1;
		if (strncmp(p, "supervisor ", 11))
			status_line(sv, sb, p);
	}
}

static void on_pidfd(int fd, uint32_t events, void *arg)
{
	struct sandbox *sb = arg;
	struct supervisor *sv = sb->sv;

	(void)fd;
	(void)events;
	for (struct sandbox **pp = &sv->list; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			log_info("job %s: re-attached runtime pid %d ended", sb->id, (int)sb->pid);
			ended(sv, sb, 0);
			return;
		}
}

/* The uid-base slot of a sandbox from its init's uid_map. */
static int slot_of(pid_t init_pid)
{
	char path[64], buf[256];
	long inner, outer;

	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)init_pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &inner, &outer) != 2 || outer < SUPERVISOR_UID_BASE ||
	    (outer - SUPERVISOR_UID_BASE) % SUPERVISOR_UID_RANGE)
		return -1;
	long slot = (outer - SUPERVISOR_UID_BASE) / SUPERVISOR_UID_RANGE;
	return slot < SUPERVISOR_MAX_SLOTS ? (int)slot : -1;
}

int supervisor_adopt(struct supervisor *sv, const struct job *job, pid_t pid, int pidfd,
		     struct mags_err *err)
{
	struct sandbox *sb;

	if (find(sv, job->id)) {
		close(pidfd);
		return err_set(err, MAGS_E_CONFLICT, EEXIST, "job %s already has a sandbox", job->id);
	}
	sb = xcalloc(1, sizeof(*sb));
	sb->sv = sv;
	snprintf(sb->id, sizeof(sb->id), "%s", job->id);
	sb->pid = pid;
	sb->fd = -1;
	sb->pidfd = pidfd;
	sb->adopted = 1;
	sb->keep_alive = 1;
	sb->link = -1;              /* its mg<i> exists: network_link_take skips it */
	sb->timeout_s = job->timeout;
	sb->slot = -1;
	sb->next = sv->list;
	sv->list = sb;
	sv->live++;
	/* replay what it reported so far: started, script-exit, ... */
	state_poll(sv, sb);
	sb->pidfd_watch = loop_add(sv->loop, pidfd, EPOLLIN, on_pidfd, sb);
	if (sb->init_pid > 0 && (sb->slot = slot_of(sb->init_pid)) >= 0) {
		if (sv->slots[sb->slot])
			log_warn("job %s: uid slot %d is used twice", sb->id, sb->slot);
		sv->slots[sb->slot] = 1;
	}
	sb->next_state_poll = time_mono_ms() + STATE_POLL_MS;
	log_info("job %s: re-attached to its sandbox (runtime pid %d, init pid %d, slot %d)",
		 sb->id, (int)pid, (int)sb->init_pid, sb->slot);
	return 0;
}

pid_t supervisor_init_pid(struct supervisor *sv, const char *job_id)
{
	struct sandbox *sb = find(sv, job_id);

	return sb ? sb->init_pid : 0;
}

int supervisor_is_stopping(struct supervisor *sv, const char *job_id)
{
	struct sandbox *sb = find(sv, job_id);

	return sb && (sb->stop_requested || sb->got_stopped || sb->got_exit || sb->error ||
		      sb->timed_out);
}
