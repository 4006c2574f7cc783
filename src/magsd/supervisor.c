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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/trace.h"
#include "common/logfmt.h"
#include "common/netcfg.h"
#include "common/util.h"
#include "magsd/api_usage.h"
#include "magsd/crashpoint.h"
#include "magsd/image.h"
#include "magsd/log.h"
#include "magsd/dns.h"
#include "magsd/network.h"
#include "magsd/pool.h"
#include "magsd/task.h"
#include "common/banned.h"

#define STATUS_LINE_MAX 1024
#define STOP_GRACE_MS 10000
#define TIMEOUT_GRACE_MS 60000
#define FINAL_GRACE_MS 30000
#define STATE_POLL_MS 250            /* adopted sandboxes: state file re-read */
#define SCRIPT_ARG_MAX (64 * 1024)   /* longer scripts go by --script-file */
#define POOL_QUIET_MS 100            /* a refill waits for jobs this young to end... */
#define POOL_REFILL_WAIT_MS 100      /* ...but not longer than this */
#define POOL_SPAWN_BATCH 2           /* members spawned per loop turn */
#define SUPERVISOR_NETNS_FD 4        /* a kept network namespace, in the runtime */
#define SUPERVISOR_NETNS_FD_ARG "4"

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
	int64_t spawned_at;         /* monotonic ms */
	/* A job without a workspace ends for its clients at its runtime's
	 * `exit` line; the runtime then still removes its cgroup (an RCU
	 * grace period in the kernel), and the slot and link are freed when
	 * it has exited. Jobs with a workspace end at the reap, when the
	 * disk is free for the next run. */
	int early_end;
	int finished;               /* finish() has run */
	char user[32];              /* the job's user: its link's namespace is theirs after */
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
	/* the warm pool (pool.h): members are spawned here */
	struct pool pool;
	unsigned pool_seq;          /* names members pool-<magsd pid>-<seq> */
	int64_t pool_retry_at;      /* after a member failed: no refill before */
	int64_t pool_backoff;       /* ms, doubles per failure, reset by a success */
	int64_t pool_want_since;    /* monotonic ms the pool is short since, 0 = full */
	int shutting;               /* supervisor_shutdown ran: members count as live */
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
	network_links_init(&sv->links, cfg->netns_keep);
	pool_init(&sv->pool, cfg->pool_min, cfg->pool_max, time_mono_ms());
	return sv;
}

void supervisor_free(struct supervisor *sv)
{
	if (!sv)
		return;
	while (sv->pool.list) {
		struct pool_member *m = sv->pool.list;
		sv->pool.list = m->next;
		loop_remove(sv->loop, m->watch);
		if (m->status_fd >= 0)
			close(m->status_fd);
		if (m->spec_fd >= 0)
			close(m->spec_fd);
		free(m->rootfs);
		free(m);
	}
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
	struct sandbox *sb = find(sv, job_id);

	/* a job that ended early (early_end) is over, its runtime only
	 * finishing its teardown */
	return sb && !sb->finished;
}

int supervisor_live_count(struct supervisor *sv)
{
	/* once shutting down, magsd also waits for the pool's members */
	return sv->live + (sv->shutting ? pool_count(&sv->pool) : 0);
}

void supervisor_set_nat(struct supervisor *sv, int on)
{
	sv->nat = on;
}

int supervisor_job_ip(struct supervisor *sv, const char *job_id, char *ip, size_t n)
{
	struct sandbox *sb;

	/* not a sandbox on its way out (going to sleep, stopping): its link
	 * is about to go, and a wake's new sandbox has another address */
	for (sb = sv->list; sb; sb = sb->next)
		if (!strcmp(sb->id, job_id) && !sb->sleep_requested && !sb->stop_requested &&
		    !sb->got_exit)
			break;
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

static void finish(struct supervisor *sv, struct sandbox *sb, int wstatus);

static void status_line(struct supervisor *sv, struct sandbox *sb, char *line)
{
	trace_mark('D', "status %s: %s", sb->id, line);
	if (!strncmp(line, "started", 7) && (!line[7] || line[7] == ' ')) {
		if (sb->started)
			return;
		sb->started = 1;
		sb->init_pid = (pid_t)atoi(line + 7);
		(void)store_job_set_running(sv->store, sb->id, time_now_ms());
		log_info("job %s running", sb->id);
		crashpoint("job-start:running");
		changed(sv, sb->id);
	} else if (!strncmp(line, "exit ", 5)) {
		char *end;
		long n = strtol(line + 5, &end, 10);
		if (end != line + 5 && !*end && n >= 0 && n <= 255) {
			sb->got_exit = 1;
			sb->exit_code = (int)n;
			final_seen(sb);
			if (sb->early_end && !sb->sleep_requested && !sb->finished) {
				finish(sv, sb, 0);
				sb->finished = 1;
				changed(sv, sb->id);
			}
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
				dns_link_open((int)i);
			}
			if (store_job_set_ip(sv->store, sb->id, sb->ip) < 0)
				log_warn("job %s: could not record its address in the database", sb->id);
		}
	} else if (!strncmp(line, "netns ", 6)) {
		/* a new network namespace with our link: keep it for reuse */
		if (!sb->adopted && sb->link >= 0)
			network_link_adopt_netns(&sv->links, sb->link, sb->pid, line + 6);
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
 * at magsd's terminal does not reach the sandbox behind magsd's back.
 * stdin is /dev/null, or a pool member's job socket. */
static void __attribute__((noreturn))
child_exec(const char *runtime, char **argv, int wfd, int in_fd, int netns_fd)
{
	sigset_t none;

	/* dispositions first: the child of vfork runs on magsd's memory, so
	 * no handler of magsd's may run in it once signals are unblocked */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	/* out of the way of the dup2s below (it goes to fd 4 last) */
	if (netns_fd >= 0 && netns_fd <= SUPERVISOR_NETNS_FD &&
	    (netns_fd = fcntl(netns_fd, F_DUPFD, SUPERVISOR_NETNS_FD + 1)) < 0)
		_exit(127);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(127);
	if (wfd == 3) {
		if (fcntl(3, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(wfd, 3) < 0) {
		_exit(127);
	}
	/* a kept network namespace as fd 4 (--netns-fd 4) */
	if (netns_fd >= 0 && dup2(netns_fd, SUPERVISOR_NETNS_FD) < 0)
		_exit(127);
	unsigned first = netns_fd >= 0 ? SUPERVISOR_NETNS_FD + 1 : SUPERVISOR_NETNS_FD;
	if (syscall(SYS_close_range, first, ~0U, 0U) < 0)
		for (int fd = (int)first; fd < 65536; fd++)
			close(fd);
	execve(runtime, argv, environ);
	dprintf(3, "error cannot run sandbox runtime '%s': %s\n", runtime,
		errno == E2BIG ? "script or environment too large" : strerror(errno));
	_exit(127);
}

/* vfork: no copy of magsd's page tables, and no copy-on-write fault in
 * magsd afterwards for every page it touches (~14 µs each on these VMs),
 * once per sandbox; the child only sets up fds and execs. Its own
 * function, so nothing of the caller's is live across the vfork. */
static __attribute__((noinline)) pid_t
spawn_runtime(const char *runtime, char **argv, int wfd, int in_fd, int netns_fd)
{
	pid_t pid = vfork();

	if (pid == 0)
		child_exec(runtime, argv, wfd, in_fd, netns_fd);
	return pid;
}

/* Fork and exec the runtime with argv; *rfd = the read end of its status
 * pipe (non-blocking). in_fd: its stdin (-1 = /dev/null). pid or -1 with
 * err set. */
static pid_t start_runtime(struct supervisor *sv, char **argv, int in_fd, int netns_fd,
			   int *rfd, struct mags_err *err)
{
	int pfd[2], devnull = -1;
	pid_t pid;

	if (in_fd < 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull < 0)
			return err_sys(err, errno, "open '/dev/null'"), -1;
		in_fd = devnull;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err_sys(err, errno, "status pipe");
		if (devnull >= 0)
			close(devnull);
		return -1;
	}
	pid = spawn_runtime(sv->runtime, argv, pfd[1], in_fd, netns_fd);
	if (pid < 0) {
		err_sys(err, errno, "fork");
		close(pfd[0]);
		pfd[0] = -1;
	}
	close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid > 0) {
		(void)fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		*rfd = pfd[0];
	}
	return pid;
}

/* The limits every sandbox gets: a pool member is built with them, so
 * every job fits (there are no per-job limits yet). */
struct limit_args {
	char mem[24], cpus[32], pids[24];
};

static void limit_args(const struct supervisor *sv, struct limit_args *l)
{
	snprintf(l->mem, sizeof(l->mem), "%d", sv->cfg->memory_mb);
	snprintf(l->cpus, sizeof(l->cpus), "%g", sv->cfg->cpus);
	snprintf(l->pids, sizeof(l->pids), "%d", sv->cfg->pids);
}

static void uid_base_arg(int slot, char *buf, size_t n)
{
	snprintf(buf, n, "%lld",
		 (long long)SUPERVISOR_UID_BASE + (long long)slot * SUPERVISOR_UID_RANGE);
}

/* What a prepared pool member's root is built from: the image's path
 * and the identity of its directory (a rebuilt image is renamed over
 * the old one, which is then deleted: a member of the old one must not
 * take a job). NULL if it cannot be read. */
static char *image_key(const char *rootfs)
{
	struct stat st;

	if (!rootfs || stat(rootfs, &st) < 0)
		return NULL;
	return xasprintf("%s@%llu:%llu", rootfs, (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
}

/* Hand a pooled member its job: argv (NUL-terminated strings) in a memfd,
 * over its stdin socket. 0 or -errno. */
static int pool_send_job(struct pool_member *m, char **argv)
{
	const char kind = 'S';
	int fd = memfd_create("mags-job", MFD_CLOEXEC), r;
	size_t len = 0, n = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	/* one write, not one per argument */
	while (argv[n])
		n++;
	buf = strv_join0((const char *const *)argv, n, &len);
	r = write_full(fd, buf, len);
	free(buf);
	if (r == 0)
		r = fd_send(m->spec_fd, &kind, 1, fd, MSG_DONTWAIT);
	close(fd);
	return r;
}

static void pool_member_status(int fd, uint32_t events, void *arg);
static void pool_retire(struct pool_member *m);

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
	_cleanup_free_ char *rundir = NULL;
	_cleanup_free_ char *ctl = xasprintf("%s/run/%s.sock", dd, job->id);
	_cleanup_free_ char *statep = xasprintf("%s/run/%s.state", dd, job->id);
	char uidbase[24], timeout[24], loglimit[24];
	struct limit_args lim;
	char netaddr[24];
	_cleanup_free_ char *allow = NULL;
	_cleanup_free_ char *resolved = NULL;
	char **argv;
	size_t argc = 0;
	int rfd = -1, slot, link = -1, want_net, r, netns_fd = -1;
	struct pool_member *m = NULL;
	int pooled = 0;
	pid_t pid;

	if (!rootfs)
		return err_set(err, MAGS_E_UNAVAILABLE, ENOENT,
			       "image '%s' is not built (run 'magsd image build %s')",
			       sv->image, sv->image);
	if ((r = mkdir_p(jobdir, 0700)) < 0)
		return err_sys(err, -r, "create '%s'", jobdir);
	if ((r = mkdir_p(rundir_parent, 0700)) < 0)
		return err_sys(err, -r, "create '%s'", rundir_parent);

	/* The network: a link of our own unless the job or the server says
	 * none (a job's allow list on a server without a network runs with
	 * none: never more than it asked for). A member of the warm pool
	 * brings its slot and link; the allow list is added when it takes
	 * the job. */
	/* names in an allow list become their addresses now (issue 5;
	 * bounded in time, see dns.h), before a slot or link is taken */
	if (sv->nat && job->network && !strncmp(job->network, "allow:", 6)) {
		if (network_allow_resolve(job->network + 6, &resolved, err) < 0)
			return -1;
		if (strcmp(resolved, job->network + 6))
			log_info("job %s: allow list %s is %s", job->id, job->network + 6, resolved);
	}
	want_net = sv->nat && !(job->network && !strcmp(job->network, "none"));
	/* a plain job (the server's image, no workspace, no snapshots) may
	 * take a member whose root is built; a layered one may not */
	if (!layers)
		layers = &none;
	if (!sv->shutting) {
		_cleanup_free_ char *key = layers->upper || layers->n_lowers ? NULL :
					   image_key(rootfs);
		m = pool_take(&sv->pool, want_net, key, job->user_id, time_mono_ms());
	}
cold:
	if (m) {
		slot = m->slot;
		link = m->link;
	} else {
		slot = slot_take(sv);
		if (slot < 0)
			return err_set(err, MAGS_E_TOO_MANY, EAGAIN, "no free sandbox slot");
		link = -1;
		if (want_net) {
			link = network_link_take(&sv->links, job->user_id);
			if (link < 0) {
				sv->slots[slot] = 0;
				return err_set(err, MAGS_E_TOO_MANY, EAGAIN, "no free network link");
			}
		}
	}
	if (link >= 0) {
		network_link_subnet(link, netaddr, sizeof(netaddr));
		if (resolved)
			allow = xstrdup(resolved);
	}

	uid_base_arg(slot, uidbase, sizeof(uidbase));
	/* The run dir is only a mount point for the sandbox's scratch tmpfs
	 * (in the sandbox's own mount namespace): one per slot, made once and
	 * kept, so no directory is created and deleted on the host's disk for
	 * every job (ext4 then searches its inode tables past every recently
	 * deleted inode: 12% of the machine under 16 clients in perf). */
	rundir = xasprintf("%s/run/slot-%d", dd, slot);
	if (mkdir(rundir, 0700) < 0 && errno != EEXIST) {
		r = err_sys(err, errno, "create '%s'", rundir);
		goto fail_slot_early;
	}
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
	limit_args(sv, &lim);
	snprintf(loglimit, sizeof(loglimit), "%lld", (long long)sv->cfg->log_limit);

	argv = xcalloc(36 + 4 + 6 + 2 * (NETCFG_ALLOW_MAX + n_env + layers->n_lowers +
				     layers->n_copy_in), sizeof(char *));
#define ARG(x) (argv[argc++] = (char *)(x))
	ARG(sv->runtime); ARG("run");
	ARG("--id"); ARG(job->id);
	ARG("--rootfs"); ARG(rootfs);
	ARG("--log"); ARG(logp);
	ARG("--run-dir"); ARG(rundir);
	ARG("--uid-base"); ARG(uidbase);
	ARG("--timeout"); ARG(timeout);
	ARG("--memory-mb"); ARG(lim.mem);
	ARG("--cpus"); ARG(lim.cpus);
	ARG("--pids"); ARG(lim.pids);
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
		if (!m && (netns_fd = network_link_netns(&sv->links, link)) >= 0) {
			ARG("--netns-fd"); ARG(SUPERVISOR_NETNS_FD_ARG);
		}
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
	/* A pooled member reads its arguments from a memfd: no argv limit. */
	if (!m && strlen(script) > SCRIPT_ARG_MAX) {
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

	if (m) {
		r = pool_send_job(m, argv);
		trace_mark('D', "pool member given job %s", job->id);
		if (r < 0) {
			/* it died meanwhile: let the reaper have it, go cold */
			log_warn("pool member pid %d: send job: %s", (int)m->pid, strerror(-r));
			m->failed = 1;
			pool_add(&sv->pool, m);
			m = NULL;
			free(argv);
			argc = 0;
			free(allow);
			allow = NULL;
			goto cold;
		}
		/* its status pipe is the job's from now on */
		pooled = m->rootfs ? 2 : 1;
		pid = m->pid;
		loop_remove(sv->loop, m->watch);
		rfd = m->status_fd;
		close(m->spec_fd);
		free(m->rootfs);
		free(m);
	} else {
		pid = start_runtime(sv, argv, -1, netns_fd, &rfd, err);
		if (pid < 0) {
			r = -1;
			goto fail_slot;
		}
	}
	free(argv);

	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	sb->sv = sv;
	snprintf(sb->id, sizeof(sb->id), "%s", job->id);
	sb->pid = pid;
	sb->fd = rfd;
	sb->slot = slot;
	sb->link = link;
	snprintf(sb->user, sizeof(sb->user), "%s", job->user_id);
	sb->timeout_s = job->timeout;
	sb->pidfd = -1;
	sb->spawned_at = time_mono_ms();
	sb->keep_alive = job->persistent;
	sb->early_end = !job->persistent && !(job->workspace_id && *job->workspace_id);
	/* a long-lived sandbox has no overall deadline (--timeout bounds its script) */
	if (!sb->keep_alive)
		sb->kill_at = time_mono_ms() + (int64_t)job->timeout * 1000 + TIMEOUT_GRACE_MS;
	sb->watch = loop_add(sv->loop, sb->fd, EPOLLIN, on_status, sb);
	if (!sb->watch)
		log_warn("job %s: watch status pipe: %s", job->id, strerror(errno));
	sb->next = sv->list;
	sv->list = sb;
	sv->live++;
	log_info("job %s %s runtime pid %d (image '%s'%s, uid base %s, network %s%s%s)",
		 job->id, pooled ? "took pooled" : "spawned", (int)pid, used,
		 pooled == 2 ? " built ahead" : "", uidbase,
		 link >= 0 ? netaddr : "none",
		 allow ? " allow " : "", allow ? job->network + 6 : "");
	crashpoint("job-start:spawned");
	return 0;

fail_slot:
	free(argv);
fail_slot_early:
	if (m) {
		/* the member holds the slot and link: it goes, they come back
		 * when it is reaped */
		m->failed = 1;
		pool_retire(m);
		pool_add(&sv->pool, m);
		return r;
	}
	sv->slots[slot] = 0;
	if (link >= 0)
		network_link_release(&sv->links, link, NULL);
	return r;
}

/* ---- the warm pool's members (pool.h) ---- */

/* Spawn one member: the job-independent part of a sandbox with the
 * server's limits and network, parked until a job is sent. prepared:
 * with its root filesystem built from the server's image too (on a run
 * dir of its own, which the runtime removes). 0 or -1. */
static int pool_spawn(struct supervisor *sv, int prepared)
{
	char id[64], uidbase[24], netaddr[24];
	struct limit_args lim;
	struct mags_err err = { 0 };
	const char *used;
	_cleanup_free_ char *rootfs = NULL, *rundir = NULL, *key = NULL;
	char *argv[28];
	size_t argc = 0;
	int sp[2], slot, link = -1, rfd = -1, netns_fd = -1;
	pid_t pid;

	slot = slot_take(sv);
	if (slot < 0)
		return -1;
	if (sv->nat) {
		link = network_link_take(&sv->links, NULL);
		if (link < 0) {
			sv->slots[slot] = 0;
			return -1;
		}
		network_link_subnet(link, netaddr, sizeof(netaddr));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		log_warn("pool: socketpair: %s", strerror(errno));
		goto fail;
	}
	snprintf(id, sizeof(id), "pool-%d-%u", (int)getpid(), ++sv->pool_seq);
	/* without a built image, an unprepared member (a job fails anyway) */
	/* its root is built on its slot's run dir (made once, kept: see
	 * supervisor_spawn) */
	if (prepared && (rootfs = supervisor_image_rootfs(sv->cfg->data_dir, sv->image, &used)) &&
	    (key = image_key(rootfs))) {
		rundir = xasprintf("%s/run/slot-%d", sv->cfg->data_dir, slot);
		if (mkdir(rundir, 0700) < 0 && errno != EEXIST) {
			log_warn("pool: create '%s': %s", rundir, strerror(errno));
			free(key);
			key = NULL;
		}
	}
	uid_base_arg(slot, uidbase, sizeof(uidbase));
	limit_args(sv, &lim);
#define ARG(x) (argv[argc++] = (char *)(x))
	ARG(sv->runtime); ARG("run"); ARG("--pool");
	ARG("--id"); ARG(id);
	ARG("--uid-base"); ARG(uidbase);
	ARG("--memory-mb"); ARG(lim.mem);
	ARG("--cpus"); ARG(lim.cpus);
	ARG("--pids"); ARG(lim.pids);
	if (link >= 0) {
		ARG("--net"); ARG("nat");
		ARG("--net-addr"); ARG(netaddr);
		if ((netns_fd = network_link_netns(&sv->links, link)) >= 0) {
			ARG("--netns-fd"); ARG(SUPERVISOR_NETNS_FD_ARG);
		}
	}
	if (key) {
		ARG("--rootfs"); ARG(rootfs);
		ARG("--run-dir"); ARG(rundir);
	}
	argv[argc] = NULL;
#undef ARG
	pid = start_runtime(sv, argv, sp[1], netns_fd, &rfd, &err);
	close(sp[1]);
	if (pid < 0) {
		log_warn("pool: %s", err.msg);
		close(sp[0]);
		goto fail;
	}
	struct pool_member *m = xcalloc(1, sizeof(*m));
	m->sv = sv;
	m->pid = pid;
	m->status_fd = rfd;
	m->spec_fd = sp[0];
	m->slot = slot;
	m->link = link;
	if (link >= 0 && network_link_owner(&sv->links, link))
		snprintf(m->owner, sizeof(m->owner), "%s", network_link_owner(&sv->links, link));
	m->rootfs = key;
	key = NULL;
	m->watch = loop_add(sv->loop, rfd, EPOLLIN, pool_member_status, m);
	pool_add(&sv->pool, m);
	return 0;
fail:
	sv->slots[slot] = 0;
	if (link >= 0)
		network_link_release(&sv->links, link, NULL);
	return -1;
}

/* A member's status pipe before it was taken: "pooled" once parked,
 * "error ..." if it could not be built. */
static void pool_member_status(int fd, uint32_t events, void *arg)
{
	struct pool_member *m = arg;
	char buf[256];
	ssize_t n;

	(void)events;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (m->line_len < sizeof(m->line) - 1)
					m->line[m->line_len++] = buf[i];
				continue;
			}
			m->line[m->line_len] = '\0';
			m->line_len = 0;
			if (!strcmp(m->line, "pooled")) {
				m->ready = 1;
				m->sv->pool_backoff = 0;
			} else if (!strncmp(m->line, "netns ", 6)) {
				if (m->link >= 0)
					network_link_adopt_netns(&m->sv->links, m->link, m->pid,
								 m->line + 6);
			} else {
				m->failed = 1;
				log_warn("pool member pid %d: %s", (int)m->pid, m->line);
			}
		}
	}
	/* EOF: it is exiting; the reaper frees it */
	m->failed = 1;
	m->ready = 0;
	loop_remove(m->sv->loop, m->watch);
	m->watch = NULL;
	close(fd);
	m->status_fd = -1;
}

static void pool_retire(struct pool_member *m)
{
	if (m->spec_fd >= 0)
		close(m->spec_fd); /* EOF on its stdin: it cleans up and exits */
	m->spec_fd = -1;
	m->ready = 0;
}

/* Prepared members of an image that was rebuilt since take no job:
 * let them go (the refill builds new ones). */
static void pool_retire_stale(struct supervisor *sv)
{
	const char *used;
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *rootfs = NULL;
	int have = 0;

	for (struct pool_member *m = sv->pool.list; m; m = m->next) {
		if (!m->rootfs || m->spec_fd < 0)
			continue;
		if (!have) {
			rootfs = supervisor_image_rootfs(sv->cfg->data_dir, sv->image, &used);
			key = image_key(rootfs);
			have = 1;
		}
		if (!key || strcmp(key, m->rootfs))
			pool_retire(m);
	}
}

/* A job started less than POOL_QUIET_MS ago and not ended: building a
 * member now would slow it down. Not only for the CPUs: moving the
 * member's process into its cgroup (v1) takes the kernel's
 * cgroup_threadgroup_rwsem for writing and waits for an RCU grace period
 * (measured 6-15 ms on a loaded 2-core host), and every fork on the host,
 * init's fork of the job's script included, waits for that lock. */
static int starting(const struct supervisor *sv, int64_t now)
{
	for (const struct sandbox *sb = sv->list; sb; sb = sb->next)
		if (!sb->adopted && !sb->error && !sb->got_exit && !sb->got_stopped &&
		    sb->fd >= 0 && now - sb->spawned_at < POOL_QUIET_MS)
			return 1;
	return 0;
}

/* ms until the pool's next refill, -1 if none is due (also notes since
 * when it is short). */
static int64_t pool_refill_in(struct supervisor *sv, int64_t now)
{
	int64_t d;

	if (sv->shutting || !pool_enabled(&sv->pool))
		return -1;
	if (!pool_wanted(&sv->pool, now)) {
		sv->pool_want_since = 0;
		return pool_excess(&sv->pool, sv->nat) ? 0 : -1;
	}
	if (!sv->pool_want_since)
		sv->pool_want_since = now;
	d = sv->pool_retry_at - now;
	/* off the request path: after the young jobs ended, or after
	 * POOL_REFILL_WAIT_MS under a steady stream of them */
	if (starting(sv, now) && sv->pool_want_since + POOL_REFILL_WAIT_MS - now > d)
		d = sv->pool_want_since + POOL_REFILL_WAIT_MS - now;
	return d < 0 ? 0 : d;
}

/* On the loop, off any request's path: let go of members beyond the
 * target, spawn up to it (backing off while spawns fail). */
static void pool_tick(struct supervisor *sv, int64_t now)
{
	struct pool_member *m;
	int n;

	if (sv->shutting || !pool_enabled(&sv->pool))
		return;
	while ((m = pool_excess(&sv->pool, sv->nat)))
		pool_retire(m);
	pool_retire_stale(sv);
	if (pool_refill_in(sv, now) != 0)
		return;
	/* a few per loop turn: requests in between see no long stall */
	n = pool_wanted(&sv->pool, now);
	if (n > POOL_SPAWN_BATCH)
		n = POOL_SPAWN_BATCH;
	while (n-- > 0 && sv->live + pool_count(&sv->pool) < SUPERVISOR_MAX_SLOTS) {
		if (pool_spawn(sv, pool_next_prepared(&sv->pool)) < 0) {
			sv->pool_backoff = sv->pool_backoff ? sv->pool_backoff * 2 : 1000;
			if (sv->pool_backoff > 60000)
				sv->pool_backoff = 60000;
			sv->pool_retry_at = now + sv->pool_backoff;
			break;
		}
	}
}

/* A member was reaped: give back what it held. 1 if pid was a member. */
static int pool_reaped(struct supervisor *sv, pid_t pid, int wstatus)
{
	struct pool_member *m = pool_remove_pid(&sv->pool, pid);

	if (!m)
		return 0;
	if (m->spec_fd >= 0 && !sv->shutting) {
		/* it ended on its own: something is wrong, slow the refill */
		int64_t now = time_mono_ms();
		log_warn("pool member pid %d ended (%s %d) before it got a job", (int)pid,
			 WIFSIGNALED(wstatus) ? "signal" : "exit",
			 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
		sv->pool_backoff = sv->pool_backoff ? sv->pool_backoff * 2 : 1000;
		if (sv->pool_backoff > 60000)
			sv->pool_backoff = 60000;
		sv->pool_retry_at = now + sv->pool_backoff;
	}
	loop_remove(sv->loop, m->watch);
	if (m->status_fd >= 0)
		close(m->status_fd);
	if (m->spec_fd >= 0)
		close(m->spec_fd);
	sv->slots[m->slot] = 0;
	if (m->link >= 0)
		network_link_release(&sv->links, m->link, NULL);
	free(m->rootfs);
	free(m);
	return 1;
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
	if (!sb->finished)
		finish(sv, sb, wstatus);
	crashpoint("job-end:finished");
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
		network_link_release(&sv->links, sb->link, sb->user);
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
			if (!pool_reaped(sv, pid, wstatus))
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
	{
		int64_t d = pool_refill_in(sv, now);
		if (d >= 0 && (best < 0 || d < best))
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

void supervisor_pool_tick(struct supervisor *sv, int64_t now)
{
	pool_tick(sv, now);
}

void supervisor_shutdown(struct supervisor *sv)
{
	int64_t at = time_mono_ms() + STOP_GRACE_MS;

	/* Pool members clean up and exit when their stdin closes; magsd
	 * waits for them like for sandboxes (supervisor_live_count). */
	sv->shutting = 1;
	for (struct pool_member *m = sv->pool.list; m; m = m->next) {
		pool_retire(m);
		(void)kill(m->pid, SIGTERM);
	}

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
	sv->shutting = 1;
	for (struct pool_member *m = sv->pool.list; m; m = m->next) {
		pool_retire(m);
		(void)kill(-m->pid, SIGKILL);
		(void)kill(m->pid, SIGKILL);
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
	snprintf(sb->user, sizeof(sb->user), "%s", job->user_id);
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
