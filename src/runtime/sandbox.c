/*
 * sandbox.c - the ordered steps that build, run and remove a sandbox.
 *
 * Two processes cooperate over a socketpair (channel.h):
 *
 *   supervisor S (host root, stays outside)   sandbox P (pid 1 inside)
 *   ---------------------------------------   --------------------------
 *   A0 state file, layer checks
 *   A1 cgroup with limits
 *   A2 run dir, job log fd, control socket
 *      (P inherits both; a pool would
 *      send them with GO)
 *   A3 network namespace (new, owned by    ->  A4 close inherited fds,
 *      the host, lo up; or a kept one),           mounts private
 *      then clone P inside it into new
 *      user, mount, pid, uts, ipc namespaces
 *   A5 write P's uid/gid maps
 *   A6 move P into the cgroup
 *   A7 --net nat: veth pair, host end mgN
 *      here, eth0 + address + default
 *      route in P's netns, allow list
 *   B1 idmapped layers (snapshots, the     ->  B2 cgroup namespace
 *      workspace), resolv.conf (nat) and       B3 tmpfs scratch, become root
 *      uploads' fds, a sysfs mount of the
 *      netns, then the idmapped read-only
 *      image with GO                           B4 overlay root, /proc, /dev,
 *                                                 /sys, hostname, pivot_root,
 *                                                 resolv.conf, uploads
 *                                              B5 stdio, drop capabilities,
 *                                                 no_new_privs, seccomp
 *   C1 "net <ip>" (nat), "started <pid>"   <-  B6 fork the script, READY,
 *   C2 wait: exit / timeout / SIGTERM /           and be its init (init.c),
 *      stop request / script-exit                 serving execs (execsrv.c)
 *   C3 OOM and timeout records, usage
 *      (from the cgroup), teardown, report
 *
 * The A steps do not depend on the job: the warm pool (--pool) runs them
 * ahead of time and parks P before GO (with its uid range and cgroup), so
 * taking a sandbox only costs the B steps; the job (CHANNEL_SPEC, log,
 * control socket) travels over the channel instead of through the copy
 * of the config that clone gives P. A prepared member (--pool --rootfs)
 * also runs B2-B4 before it parks, from an image sent with a first GO,
 * on its slot's run dir: taken, it only sets the hostname, places the
 * uploads and runs B5-B6. It takes no layers.
 *
 * P is cloned straight into the new pid namespace, so it is the
 * sandbox's pid 1 from the start and S waits on it directly: one fork
 * fewer than an unshare()-then-fork design, and S's wait status is the
 * script's exit status.
 *
 * Failure at any step is reported as "error <step>: <what failed>", what
 * was made is undone (P is SIGKILLed: its namespaces and mounts vanish
 * with it; the cgroup and run dir are removed), and the runtime exits 1.
 * Nothing waits without a bound: P's set-up has SETUP_TIMEOUT_MS.
 *
 * S outlives magsd: it has no parent-death signal, ignores SIGPIPE and
 * fd 3 errors, and keeps --state-file current, so a restarted magsd can
 * find it; P dies with S (PR_SET_PDEATHSIG), never with magsd.
 */
#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/trace.h"
#include "common/util.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/channel.h"
#include "runtime/control.h"
#include "runtime/copyin.h"
#include "runtime/init.h"
#include "runtime/logwriter.h"
#include "runtime/mounts.h"
#include "runtime/net.h"
#include "runtime/seccomp.h"
#include "runtime/status.h"
#include "runtime/userns.h"
#include "common/banned.h"

#define SETUP_TIMEOUT_MS 30000

/* MAGS_TRACE=1 (or MAGS_RUNTIME_TRACE=1): each step's time to stderr
 * ("trace S 1234.567 A3 clone", common/trace.h). */
#define trace(who, step) trace_mark((who), "%s", (step))

/* ---------------------------------------------------------------- P -- */

__attribute__((noreturn))
static void child_fail(int sock, struct mags_err *err)
{
	channel_send(sock, CHANNEL_ERROR, err->msg, -1);
	_exit(1);
}

#define STEP(expr, ...)                                  \
	do {                                             \
		if ((expr) < 0) {                        \
			err_wrap(&err, __VA_ARGS__);     \
			child_fail(sock, &err);          \
		}                                        \
	} while (0)

/* P: what the supervisor sends before and with GO. */
struct handover {
	struct mounts_layers layers;
	int file[RUNTIME_COPYIN_MAX + 1];     /* + /etc/resolv.conf */
	char *file_path[RUNTIME_COPYIN_MAX + 1];
	unsigned n_file;
	int spec, log, control;                /* warm-pool member: the job */
	int sysfs;                             /* the supervisor's sysfs mount */
};

/* Receive layers and files until GO. 1 on GO, 0 if the supervisor gave
 * up (it reports why), -1 with err set on a protocol error. GO carries
 * the image, except for a prepared pool member's job (prepared: its
 * root filesystem is built, so it takes no image and no layers). */
static int receive_handover(int sock, struct handover *h, int prepared,
			    struct mags_err *err)
{
	h->layers.image = h->layers.upper = -1;
	h->spec = h->log = h->control = h->sysfs = -1;
	for (;;) {
		char kind = 0, msg[CHANNEL_MSG_MAX + 1];
		int fd, r = channel_recv(sock, &kind, msg, sizeof(msg), &fd);

		if (r <= 0)
			return 0;
		if (kind == CHANNEL_GO && prepared == (fd < 0)) {
			h->layers.image = fd;
			return 1;
		}
		if (kind == CHANNEL_LAYER && prepared) {
			if (fd >= 0)
				close(fd);
			return err_set(err, MAGS_E_INTERNAL, EPROTO,
				       "a prepared pool member takes no workspace or snapshot "
				       "layers"), -1;
		}
		if (fd < 0)
			return kind == CHANNEL_GO ?
			       (err_set(err, MAGS_E_INTERNAL, EPROTO,
					"set-up channel: unexpected message"), -1) : 0;
		switch (kind) {
		case CHANNEL_LAYER:
			if (!strcmp(msg, "upper") && h->layers.upper < 0) {
				h->layers.upper = fd;
				continue;
			}
			if (!strcmp(msg, "lower") && h->layers.n_lower < RUNTIME_LOWER_MAX) {
				h->layers.lower[h->layers.n_lower++] = fd;
				continue;
			}
			if (!strcmp(msg, "sys") && h->sysfs < 0) {
				h->sysfs = fd;
				continue;
			}
			break;
		case CHANNEL_SPEC:
			if (h->spec < 0) {
				h->spec = fd;
				continue;
			}
			break;
		case CHANNEL_LOG:
			if (h->log < 0) {
				h->log = fd;
				continue;
			}
			break;
		case CHANNEL_CONTROL:
			if (h->control < 0) {
				h->control = fd;
				continue;
			}
			break;
		case CHANNEL_FILE:
			if (h->n_file < RUNTIME_COPYIN_MAX + 1 &&
			    args_valid_sandbox_path(msg)) {
				h->file[h->n_file] = fd;
				h->file_path[h->n_file++] = xstrdup(msg);
				continue;
			}
			break;
		default:
			break;
		}
		close(fd);
		return err_set(err, MAGS_E_INTERNAL, EPROTO,
			       "set-up channel: unexpected message"), -1;
	}
}

/* A pooled job's arguments from their memfd (args_split format) into
 * *cfg. The strings stay allocated: cfg points into them. 0 or -1. */
static int spec_parse(int fd, struct runtime_config *cfg, struct mags_err *err)
{
	struct stat st;
	char *buf, **argv;
	int argc;

	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > RUNTIME_SPEC_MAX)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "job arguments: bad size"), -1;
	buf = xmalloc((size_t)st.st_size);
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return err_sys(err, errno ? errno : EIO, "read job arguments"), -1;
	}
	argc = args_split(buf, (size_t)st.st_size, &argv);
	if (argc < 0) {
		free(buf);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "job arguments: not NUL-terminated strings"), -1;
	}
	if (args_parse(argc, argv, cfg, err) != 0 || cfg->pool) {
		if (!err->msg[0])
			err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "not a job");
		err_wrap(err, "job arguments");
		return -1;
	}
	return 0;
}

/* A member's own mount namespace, a copy of the host's mounts as they
 * are now, made private. A parked member that held such a copy would
 * keep every workspace disk mounted since it was cloned busy after the
 * host unmounts it (the copies are private): an unprepared member makes
 * it when it is taken, a prepared one right before it builds its root
 * and drops the copy with pivot_root. */
static void new_mount_ns(int sock)
{
	struct mags_err err = { 0 };

	if (unshare(CLONE_NEWNS) < 0) {
		err_sys(&err, errno, "unshare");
		err_wrap(&err, "mount namespace");
		child_fail(sock, &err);
	}
	STEP(mounts_make_private(&err), "mounts");
}

/* B2-B4 without the hostname: cgroup namespace, scratch tmpfs on
 * run_dir, become the sandbox's root, overlay, /proc /dev /sys (sysfs:
 * the supervisor's mount of our network namespace's, or -1), pivot_root.
 * Afterwards nothing of the host's tree is left in our mount namespace.
 * Releases layers' fds and sysfs. */
static void build_root(const char *run_dir, unsigned memory_mb,
		       struct mounts_layers *layers, int sysfs, int sock)
{
	struct mags_err err = { 0 };
	int scratch;

	/* B2. We are in the job's cgroup now: make it our cgroup root. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		err_sys(&err, errno, "unshare");
		err_wrap(&err, "cgroup namespace");
		child_fail(sock, &err);
	}

	/* B3. Scratch tmpfs on the run dir, while we are still host uid 0
	 * and may walk the (root-only) path to it; then hold it by fd and
	 * become the sandbox's root, who owns it. */
	scratch = mounts_scratch(run_dir, memory_mb, &err);
	if (scratch < 0) {
		err_wrap(&err, "rootfs");
		child_fail(sock, &err);
	}
	STEP(userns_become_root(&err), "user namespace");
	/* Die with the supervisor (set after the uid change, which clears
	 * it). If it died before, its end of the channel is closed. The
	 * supervisor itself does not die with magsd (see sandbox_run). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	{
		struct pollfd hup = { .fd = sock, .events = POLLIN };
		if (poll(&hup, 1, 0) > 0 && (hup.revents & (POLLHUP | POLLERR)))
			_exit(1);
	}
	if (fchdir(scratch) < 0) {
		err_sys(&err, errno, "chdir '%s'", run_dir);
		err_wrap(&err, "rootfs");
		child_fail(sock, &err);
	}
	close(scratch);

	/* B4. The root filesystem and the kernel interfaces, then drop
	 * the host's tree. */
	trace('P', "B3 scratch, root");
	STEP(mounts_rootfs(layers, &err), "rootfs");
	trace('P', "B4 overlay");
	STEP(mounts_system("root", sysfs, &err), "mounts");
	trace('P', "B4 proc dev sys");
	STEP(mounts_pivot("root", &err), "pivot_root");
	trace('P', "B4 pivot_root");
}

/* The sandbox's first process. Entered right after clone in all new
 * namespaces but the cgroup one; never returns. */
__attribute__((noreturn))
static void sandbox_child(const struct runtime_config *cfg, int sock, int log_fd,
			  int control_fd)
{
	struct mags_err err = { 0 };
	struct handover h = { 0 };
	const int prepared = cfg->pool && cfg->rootfs;
	int r;
	const int keep[] = { sock, log_fd, control_fd };

	/* Nothing of the supervisor's (the status pipe, its signalfd, the
	 * other end of the channel, whatever magsd left open) may reach
	 * the sandbox. */
	if (fd_close_all_except(keep, 3) < 0) {
		err_sys(&err, errno, "close inherited fds");
		child_fail(sock, &err);
	}

	/* A4. Job-independent: make our copy of the host's mounts private
	 * (nothing below propagates back). A pool member has no mount
	 * namespace of its own yet (see clone_sandbox, new_mount_ns). The
	 * network namespace is the supervisor's, ready (net_ns_open). */
	if (!cfg->pool)
		STEP(mounts_make_private(&err), "mounts");
	trace('P', "A4 private mounts");

	/* A prepared pool member builds its root on its slot's run dir from
	 * the image the supervisor sends with a first GO (no layers, no
	 * files), says READY and parks there, holding nothing of the
	 * host's mounts. */
	if (prepared) {
		r = receive_handover(sock, &h, 0, &err);
		if (r == 0)
			_exit(1);
		if (r < 0)
			child_fail(sock, &err);
		if (h.layers.n_lower || h.layers.upper >= 0 || h.n_file || h.spec >= 0 ||
		    h.log >= 0 || h.control >= 0) {
			err_set(&err, MAGS_E_INTERNAL, EPROTO,
				"set-up channel: a prepared member gets only the image");
			child_fail(sock, &err);
		}
		new_mount_ns(sock);
		build_root(cfg->run_dir, cfg->memory_mb, &h.layers, h.sysfs, sock);
		if (channel_send(sock, CHANNEL_READY, NULL, -1) < 0)
			_exit(1);
		trace('P', "parked, root built");
		memset(&h, 0, sizeof(h));
	}

	/* Wait for the supervisor: maps written, cgroup joined, layers
	 * and files (a pool member: its job first). */
	r = receive_handover(sock, &h, prepared, &err);
	if (r == 0)
		_exit(1); /* the supervisor failed and reports it */
	if (r < 0)
		child_fail(sock, &err);
	/* A pool member learns its job now (the supervisor checked it). */
	if (cfg->pool) {
		static struct runtime_config job;

		if (h.spec < 0 || h.log < 0) {
			err_set(&err, MAGS_E_INTERNAL, EPROTO, "set-up channel: no job");
			child_fail(sock, &err);
		}
		STEP(spec_parse(h.spec, &job, &err), "pool");
		if (prepared && (job.upper || job.n_lower || strcmp(job.rootfs, cfg->rootfs))) {
			err_set(&err, MAGS_E_INTERNAL, EINVAL,
				"pool: a prepared member takes only jobs on its image '%s' "
				"without workspace or snapshot layers", cfg->rootfs);
			child_fail(sock, &err);
		}
		if (!prepared)
			new_mount_ns(sock);
		close(h.spec);
		job.title = cfg->title;
		job.title_len = cfg->title_len;
		cfg = &job;
		log_fd = h.log;
		control_fd = h.control;
	}

	trace('P', "GO");
	if (!prepared)
		build_root(cfg->run_dir, cfg->memory_mb, &h.layers, h.sysfs, sock);
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
		err_sys(&err, errno, "sethostname '%s'", cfg->hostname);
		err_wrap(&err, "hostname");
		child_fail(sock, &err);
	}

	/* B4b. Uploads, written as the sandbox's root into its own tree
	 * (no host path is reachable any more). */
	for (unsigned i = 0; i < h.n_file; i++) {
		STEP(copyin_place(h.file[i], h.file_path[i], &err), "copy-in");
		close(h.file[i]);
		free(h.file_path[i]);
	}

	/* B5. Our own stdio is magsd's: point it at the sandbox's
	 * /dev/null. Then privileges: capabilities first (dropping them
	 * needs CAP_SETPCAP), then no_new_privs and the filter, which
	 * init runs under too. */
	if (trace_enabled > 0)      /* init's marks still reach magsd's log */
		trace_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	r = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (r < 0 || dup2(r, 0) < 0 || dup2(r, 1) < 0 || dup2(r, 2) < 0) {
		err_sys(&err, errno, "open '/dev/null'");
		err_wrap(&err, "stdio");
		child_fail(sock, &err);
	}
	if (r > 2)
		close(r);
	STEP(caps_drop(&err), "capabilities");
	trace('P', "B5 stdio, caps");
	STEP(seccomp_install(&err), "seccomp");
	trace('P', "B5 seccomp");

	/* B6. */
	init_main(cfg, log_fd, sock, control_fd);
}

#undef STEP

/* ---------------------------------------------------------------- S -- */

struct supervisor {
	const struct runtime_config *cfg;
	struct cgroup cg;
	int have_cg;
	int log_fd;
	int sfd;            /* signalfd: SIGCHLD, SIGTERM, SIGINT, SIGHUP */
	int sock;
	int control_fd;     /* listening exec socket (--control), P's after clone */
	int made_run_dir;
	int made_control;
	const char *pool_run_dir; /* a prepared member's own scratch, made by us */
	int prepared;       /* a prepared member: P's root is built (GO has no image) */
	pid_t pid;          /* the sandbox's pid 1, host pid */
	struct net_link net; /* --net nat: the veth and its firewall entry */
	int netns;          /* the sandbox's network namespace (net_ns_open) */
	int netns_fresh;    /* made here (not a kept one from magsd) */
	int host_ns;        /* ours, the host's: to come back from netns */
	struct logwriter *lw; /* system records into the job log (supervisor_lw) */
	int have_usage;     /* cpu_us, mem_peak read at teardown */
	uint64_t cpu_us, mem_peak;
	int reaped;
	int wstatus;
	int final_code;     /* init's last word (CHANNEL_SCRIPT_EXIT), -1 before */
};

/* Outside struct supervisor (which lives on the stack): its 128 KiB
 * buffer would be zeroed with the struct, and those stack pages stay in
 * the supervisor and in the sandbox's init (a fork of it) for the
 * sandbox's whole life. Here, in .bss, a page is only touched when a
 * record is written. */
static struct logwriter supervisor_lw;

static pid_t clone_sandbox(int pool)
{
	/* Raw clone without a new stack behaves like fork, but the child
	 * starts in the new namespaces (it is pid 1 of the new pid
	 * namespace right away, no second fork needed). A pool member
	 * gets its mount namespace only when it is taken (sandbox_child).
	 * The network namespace is the caller's: sandbox_run enters the
	 * sandbox's around the clone. */
	const unsigned long flags = CLONE_NEWUSER | (pool ? 0 : CLONE_NEWNS) | CLONE_NEWPID |
				    CLONE_NEWUTS | CLONE_NEWIPC;
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* Kill the sandbox (pid 1 takes its pid namespace with it) and wait. */
static void kill_and_reap(struct supervisor *s)
{
	if (s->pid <= 0 || s->reaped)
		return;
	kill(s->pid, SIGKILL);
	if (s->have_cg)
		cgroup_kill(&s->cg);
	while (waitpid(s->pid, &s->wstatus, 0) < 0 && errno == EINTR)
		;
	s->reaped = 1;
}

/* C3, first half: the sandbox is gone (reaped), its link let go and its
 * usage read. Enough to report the end: the rest (teardown_rest) is off
 * the critical path of whoever waits for the job's exit. */
static void teardown_start(struct supervisor *s)
{
	kill_and_reap(s);
	/* A kept namespace keeps its link for the next sandbox. */
	net_detach_ex(&s->net, !s->reaped && s->netns_fresh);
	trace('S', "C3 reaped, link let go");
	if (s->have_cg && !s->have_usage) {
		/* The numbers live in the directories: read them first. */
		cgroup_usage(&s->cg, &s->cpu_us, &s->mem_peak);
		trace('S', "C3 usage read");
		s->have_usage = 1;
	}
}

/* C3, second half: removing a cgroup waits for an RCU grace period in the
 * kernel (milliseconds), so it comes after the final status line; magsd
 * frees the job's slot and link only when this process has exited. */
static void teardown_rest(struct supervisor *s)
{
	if (s->have_cg) {
		cgroup_destroy(&s->cg);
		s->have_cg = 0;
		trace('S', "C3 cgroup removed");
	}
	/* The run dir holds nothing on the host: the sandbox's tmpfs on it
	 * lived in the sandbox's mount namespace, gone with it. */
	if (s->made_run_dir)
		rm_rf(s->cfg->run_dir);
	if (s->pool_run_dir)
		rm_rf(s->pool_run_dir);
	if (s->control_fd >= 0)
		close(s->control_fd);
	if (s->made_control)
		unlink(s->cfg->control);
	if (s->sock >= 0)
		close(s->sock);
	if (s->log_fd >= 0)
		close(s->log_fd);
	if (s->netns >= 0)
		close(s->netns);
	if (s->host_ns >= 0)
		close(s->host_ns);
}

static void teardown(struct supervisor *s)
{
	teardown_start(s);
	teardown_rest(s);
}

static int fail(struct supervisor *s, struct mags_err *err)
{
	teardown(s);
	status_send("error %s", err->msg);
	return 1;
}

/* Wait for P's READY. 1 ready, 0 stopped by a signal, -1 error (err). */
static int wait_ready(struct supervisor *s, struct mags_err *err)
{
	int64_t deadline = time_mono_ms() + SETUP_TIMEOUT_MS;
	struct pollfd pfd[2] = {
		{ .fd = s->sock, .events = POLLIN },
		{ .fd = s->sfd, .events = POLLIN },
	};

	for (;;) {
		int64_t left = deadline - time_mono_ms();
		int r;

		if (left <= 0)
			return err_set(err, MAGS_E_INTERNAL, ETIMEDOUT,
				       "sandbox: set-up took longer than %d s",
				       SETUP_TIMEOUT_MS / 1000), -1;
		r = poll(pfd, 2, (int)left);
		if (r < 0 && errno != EINTR)
			return err_sys(err, errno, "poll"), -1;
		if (r <= 0)
			continue;
		if (pfd[0].revents) {
			char kind = 0, msg[CHANNEL_MSG_MAX + 1];
			int fd;

			r = channel_recv(s->sock, &kind, msg, sizeof(msg), &fd);
			if (fd >= 0)
				close(fd);
			if (r > 0 && kind == CHANNEL_READY)
				return 1;
			if (r > 0 && kind == CHANNEL_ERROR)
				return err_set(err, MAGS_E_INTERNAL, EIO, "%s", msg), -1;
			return err_set(err, MAGS_E_INTERNAL, EIO,
				       "sandbox: init exited during set-up"), -1;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo != SIGCHLD)
					return 0;
		}
	}
}

enum outcome { OUT_EXIT, OUT_TIMEOUT, OUT_STOPPED };

/* C2: until P exits, the timeout passes, or magsd says stop (SIGTERM, or a
 * "stop" request that init relays). With --keep-alive the timeout bounds
 * the script only, and P runs on after it. */
static enum outcome supervise(struct supervisor *s)
{
	const struct runtime_config *cfg = s->cfg;
	int64_t deadline = cfg->timeout_sec ?
		time_mono_ms() + (int64_t)cfg->timeout_sec * 1000 : 0;
	struct pollfd pfd[2] = {
		{ .fd = s->sfd, .events = POLLIN },
		{ .fd = s->sock, .events = POLLIN },
	};

	for (;;) {
		int timeout = -1;

		if (waitpid(s->pid, &s->wstatus, WNOHANG) == s->pid) {
			s->reaped = 1;
			return OUT_EXIT;
		}
		if (deadline) {
			int64_t left = deadline - time_mono_ms();
			if (left <= 0) {
				if (!cfg->keep_alive) {
					kill_and_reap(s);
					return OUT_TIMEOUT;
				}
				/* The script's time is up, the machine's is not. */
				logwriter_system(s->lw, "script timed out after %u seconds",
						 cfg->timeout_sec);
				status_send("script-timeout");
				channel_send(s->sock, CHANNEL_KILL_SCRIPT, NULL, -1);
				deadline = 0;
				continue;
			}
			timeout = left > 1000000 ? 1000000 : (int)left;
		}
		if (poll(pfd, 2, timeout) <= 0)
			continue;
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD) {
					kill_and_reap(s);
					return OUT_STOPPED;
				}
			}
		}
		if (pfd[1].revents) {
			char kind = 0, msg[CHANNEL_MSG_MAX + 1];
			int fd, r = channel_recv(s->sock, &kind, msg, sizeof(msg), &fd);

			if (fd >= 0)
				close(fd);
			if (r <= 0) {
				/* P is exiting: SIGCHLD follows. */
				pfd[1].fd = -1;
			} else if (kind == CHANNEL_STOP) {
				kill_and_reap(s);
				return OUT_STOPPED;
			} else if (kind == CHANNEL_SCRIPT_EXIT && cfg->keep_alive) {
				deadline = 0;
				status_send("script-exit %d", atoi(msg));
			} else if (kind == CHANNEL_SCRIPT_EXIT) {
				/* Init has logged everything and exits with
				 * this code: the end can be reported while the
				 * kernel takes the namespaces down. */
				s->final_code = atoi(msg) & 0xff;
				return OUT_EXIT;
			}
		}
	}
}

/* --script-file: the script, read on the host before anything is built. */
static int load_script(struct runtime_config *cfg, struct mags_err *err)
{
	char *text = NULL;
	ssize_t n;

	if (!cfg->script_file)
		return 0;
	n = read_file(cfg->script_file, RUNTIME_SCRIPT_MAX + 1, &text);
	if (n < 0)
		return err_sys(err, (int)-n, "read '%s'", cfg->script_file);
	if (n > RUNTIME_SCRIPT_MAX || strlen(text) != (size_t)n) {
		free(text);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s': larger than %d bytes or holds NUL bytes",
			       cfg->script_file, RUNTIME_SCRIPT_MAX);
	}
	cfg->script = text; /* lives as long as the process */
	return 0;
}

static int need_dir(const char *path, const char *what, struct mags_err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return err_sys(err, errno, "%s '%s'", what, path);
	if (!S_ISDIR(st.st_mode))
		return err_sys(err, ENOTDIR, "%s '%s'", what, path);
	return 0;
}

/* The layers exist and are directories (not symlinks: overlayfs would
 * follow them). A workspace without upper/ or work/ yet gets them, owned
 * by host root, which is the sandbox's root on disk. */
static int check_layers(const struct runtime_config *cfg, struct mags_err *err)
{
	for (unsigned i = 0; i < cfg->n_lower; i++)
		if (need_dir(cfg->lower[i], "lower layer", err) < 0)
			return -1;
	if (cfg->upper) {
		static const struct { const char *name; mode_t mode; } sub[] = {
			{ "upper", 0755 }, { "work", 0700 },
		};
		if (need_dir(cfg->upper, "upper layer", err) < 0)
			return -1;
		for (size_t i = 0; i < 2; i++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", cfg->upper, sub[i].name);
			if (mkdir(p, sub[i].mode) < 0 && errno != EEXIST)
				return err_sys(err, errno, "mkdir '%s'", p), err_wrap(err, "upper layer"), -1;
			if (need_dir(p, "upper layer", err) < 0)
				return -1;
		}
	}
	return 0;
}

/* B1: the idmapped layers (snapshots topmost first, then the workspace),
 * the uploads, then GO with the image. 0 or -1 with err set. */
static int send_one(struct supervisor *s, char kind, const char *msg, int fd,
		    struct mags_err *err)
{
	int r = channel_send(s->sock, kind, msg, fd);

	close(fd);
	if (r < 0) {
		/* P died early: its own message, if any, is in the socket. */
		if (wait_ready(s, err) >= 0)
			err_set(err, MAGS_E_INTERNAL, -r, "sandbox: init exited during set-up");
		return -1;
	}
	return 0;
}

static int send_handover(struct supervisor *s, struct mags_err *err)
{
	const struct runtime_config *cfg = s->cfg;
	int fd;

	/* Before the uploads, so a user's own /etc/resolv.conf wins. */
	if (cfg->net_mode == RUNTIME_NET_NAT) {
		fd = net_resolv_conf_fd();
		if (fd < 0)
			return err_sys(err, -fd, "write resolv.conf"), err_wrap(err, "network"), -1;
		if (send_one(s, CHANNEL_FILE, "/etc/resolv.conf", fd, err) < 0)
			return -1;
	}
	for (unsigned i = 0; i < cfg->n_lower; i++) {
		fd = mounts_idmapped_tree(cfg->lower[i], s->pid, 0, err);
		if (fd < 0)
			return err_wrap(err, "lower layer"), -1;
		if (send_one(s, CHANNEL_LAYER, "lower", fd, err) < 0)
			return -1;
	}
	if (cfg->upper) {
		fd = mounts_idmapped_tree(cfg->upper, s->pid, 1, err);
		if (fd < 0)
			return err_wrap(err, "upper layer"), -1;
		if (send_one(s, CHANNEL_LAYER, "upper", fd, err) < 0)
			return -1;
	}
	for (unsigned i = 0; i < cfg->n_copyin; i++) {
		fd = copyin_open(cfg->copyin[i].host, cfg->copyin[i].host_len, err);
		if (fd < 0)
			return err_wrap(err, "copy-in"), -1;
		if (send_one(s, CHANNEL_FILE, cfg->copyin[i].path, fd, err) < 0)
			return -1;
	}
	/* A prepared member has its root built (prepare): GO alone. */
	if (s->prepared) {
		if (channel_send(s->sock, CHANNEL_GO, NULL, -1) < 0) {
			if (wait_ready(s, err) >= 0)
				err_set(err, MAGS_E_INTERNAL, EIO, "sandbox: init exited during set-up");
			return -1;
		}
		return 0;
	}
	/* The sandbox's /sys: a sysfs of its network namespace, which only
	 * we may mount (the host owns it). Where the kernel refuses (a host
	 * whose own /sys is partly hidden) P falls back to an empty one. */
	fd = net_sysfs_fd(s->netns, s->host_ns);
	if (fd >= 0 && send_one(s, CHANNEL_LAYER, "sys", fd, err) < 0)
		return -1;
	fd = mounts_idmapped_tree(cfg->rootfs, s->pid, 0, err);
	if (fd < 0)
		return err_wrap(err, "rootfs"), -1;
	return send_one(s, CHANNEL_GO, NULL, fd, err);
}

/* A0: what the job needs checked or opened on the host before anything
 * is built for it (or, for a pool member, once it knows its job). */
static int job_check(struct runtime_config *job, struct mags_err *err)
{
	struct stat st = { 0 };

	if (load_script(job, err) < 0)
		return err_wrap(err, "script"), -1;
	if (stat(job->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_sys(err, errno && !st.st_mode ? errno : ENOTDIR, "'%s'", job->rootfs),
		       err_wrap(err, "rootfs"), -1;
	if (job->state_file && status_state_open(job->state_file, err) < 0)
		return err_wrap(err, "state file"), -1;
	return check_layers(job, err);
}

/* A2: the run dir, the job log and the control socket. */
static int job_open(struct supervisor *s, struct mags_err *err)
{
	const struct runtime_config *cfg = s->cfg;
	int r;

	/* The run dir exists on the host only as a mount point for the
	 * sandbox's scratch tmpfs. One we make we remove; one that was there
	 * (magsd's per-slot dirs, reused by every sandbox of the slot) stays. */
	if (mkdir(cfg->run_dir, 0700) == 0) {
		s->made_run_dir = 1;
	} else if (errno != EEXIST) {
		if ((r = mkdir_p(cfg->run_dir, 0700)) < 0)
			return err_sys(err, -r, "mkdir '%s'", cfg->run_dir),
			       err_wrap(err, "run-dir"), -1;
		s->made_run_dir = 1;
	}

	/* Cheap, and P must have it: init writes the log through it after
	 * pivot_root, when the host path is out of reach. */
	s->log_fd = open(cfg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
			 O_NOFOLLOW | O_NOCTTY, 0600);
	if (s->log_fd < 0)
		return err_sys(err, errno, "open '%s'", cfg->log_path), err_wrap(err, "log"), -1;

	/* The control socket exists before the sandbox runs, so magsd may
	 * connect as soon as it reads "started". */
	if (cfg->control) {
		s->control_fd = control_listen(cfg->control, err);
		if (s->control_fd < 0)
			return err_wrap(err, "control socket"), -1;
		s->made_control = 1;
	}
	return 0;
}

/* What P needs of a pooled job, as `run` arguments in a memfd (the
 * script inline, whether it came inline or by --script-file). */
static int p_spec_fd(const struct runtime_config *c)
{
	char mem[16], lim[24];
	const char **a = xcalloc(24 + 2 * RUNTIME_ENV_MAX, sizeof(char *));
	size_t n = 0;
	int fd, r = 0;

	snprintf(mem, sizeof(mem), "%u", c->memory_mb);
	snprintf(lim, sizeof(lim), "%llu", (unsigned long long)c->log_limit);
	a[n++] = "p"; a[n++] = "run";
	a[n++] = "--id"; a[n++] = c->id;
	a[n++] = "--rootfs"; a[n++] = c->rootfs;
	a[n++] = "--log"; a[n++] = c->log_path;
	a[n++] = "--run-dir"; a[n++] = c->run_dir;
	a[n++] = "--memory-mb"; a[n++] = mem;
	a[n++] = "--log-limit"; a[n++] = lim;
	a[n++] = "--hostname"; a[n++] = c->hostname;
	if (c->keep_alive)
		a[n++] = "--keep-alive";
	for (unsigned i = 0; i < c->n_env; i++) {
		a[n++] = "--env";
		a[n++] = c->env[i];
	}
	a[n++] = "--"; a[n++] = c->script;
	fd = memfd_create("job", MFD_CLOEXEC);
	if (fd >= 0) {
		/* one write, not one per argument */
		size_t len;
		char *buf = strv_join0(a, n, &len);

		r = write_full(fd, buf, len);
		free(buf);
	}
	free(a);
	if (fd >= 0 && r < 0) {
		close(fd);
		return r;
	}
	return fd < 0 ? -errno : fd;
}

/* A pooled job must fit what was built ahead: the same ids, limits and
 * link (magsd sends only such jobs; anything else is its bug). */
static int pool_fits(const struct runtime_config *pool, const struct runtime_config *job)
{
	if (job->uid_base != pool->uid_base || job->memory_mb != pool->memory_mb ||
	    job->cpu_milli != pool->cpu_milli || job->pids != pool->pids ||
	    job->net_mode != pool->net_mode)
		return 0;
	if (job->net_mode == RUNTIME_NET_NAT &&
	    (job->has_net_addr != pool->has_net_addr ||
	     (job->has_net_addr && (job->net_addr.addr != pool->net_addr.addr ||
				    job->net_addr.prefix != pool->net_addr.prefix))))
		return 0;
	/* A prepared member's root is its image without layers (prepare). */
	if (pool->rootfs && (job->upper || job->n_lower || strcmp(job->rootfs, pool->rootfs)))
		return 0;
	return 1;
}

/* A taken member shows its job in ps and /proc/<pid>/cmdline like a
 * cold runtime ("mags-runtime run --id ID ..."), not its pool name:
 * rewrite the argv strings in place (never the environment's). */
static void retitle(const struct runtime_config *pool, const char *id)
{
	const char *tail[] = { "run", "--id", id, "--from-pool", "--prepared" };
	const size_t n_tail = pool->rootfs ? 5 : 4;
	size_t n, need;
	char *p;

	if (!pool->title)
		return;
	n = need = strlen(pool->title) + 1;
	for (size_t i = 0; i < n_tail; i++)
		need += strlen(tail[i]) + 1;
	if (need > pool->argv_len)
		return;
	p = pool->title + n;
	memset(p, 0, pool->argv_len - n);
	for (size_t i = 0; i < n_tail; i++) {
		size_t k = strlen(tail[i]) + 1;
		memcpy(p, tail[i], k);
		p += k;
	}
}

/* A prepared pool member (--pool --rootfs): B1 for its image alone, then
 * P builds its root (B2-B4, on its slot's run dir) before it parks. 1 when
 * P said READY, 0 if we were let go meanwhile, -1 on error. */
static int prepare(struct supervisor *s, struct mags_err *err)
{
	/* its /sys first (see send_handover) */
	int fd = net_sysfs_fd(s->netns, s->host_ns);

	if (fd >= 0 && send_one(s, CHANNEL_LAYER, "sys", fd, err) < 0)
		return -1;
	fd = mounts_idmapped_tree(s->cfg->rootfs, s->pid, 0, err);
	if (fd < 0)
		return err_wrap(err, "rootfs"), -1;
	if (send_one(s, CHANNEL_GO, NULL, fd, err) < 0)
		return -1;
	return wait_ready(s, err);
}

/* Warm-pool member: A1-A7 are done. Say "pooled" and wait for the job
 * on stdin (a unix socket: one CHANNEL_SPEC message carrying a memfd of
 * its `run` arguments). 1 with *job the job's config and P told about
 * it, 0 if the pool let go of us (EOF on stdin, SIGTERM), -1 on error. */
static int park(struct supervisor *s, struct runtime_config *job, struct mags_err *err)
{
	const struct runtime_config pool = *job;
	struct pollfd pfd[3] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = s->sfd, .events = POLLIN },
		{ .fd = s->sock, .events = POLLIN },
	};
	char kind = 0, msg[CHANNEL_MSG_MAX + 1];
	int fd = -1, r;

	status_send("pooled");
	for (;;) {
		r = poll(pfd, 3, -1);
		if (r < 0 && errno != EINTR)
			return err_sys(err, errno, "poll"), -1;
		if (r <= 0)
			continue;
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo != SIGCHLD)
					return 0;
		}
		if (pfd[2].revents)
			return wait_ready(s, err) < 0 ? -1 :
			       (err_set(err, MAGS_E_INTERNAL, EIO, "sandbox: init exited while pooled"), -1);
		if (pfd[0].revents)
			break;
	}
	r = channel_recv(STDIN_FILENO, &kind, msg, sizeof(msg), &fd);
	if (r <= 0 && fd < 0)
		return 0;
	if (kind != CHANNEL_SPEC || fd < 0) {
		if (fd >= 0)
			close(fd);
		return err_set(err, MAGS_E_INTERNAL, EPROTO, "pool: expected the job's arguments"), -1;
	}
	trace('S', "pool: job received");
	r = spec_parse(fd, job, err);
	close(fd);
	if (r < 0)
		return -1;
	job->title = pool.title;
	job->title_len = pool.title_len;
	job->argv_len = pool.argv_len;
	retitle(&pool, job->id);
	if (!pool_fits(&pool, job))
		return err_set(err, MAGS_E_INTERNAL, EINVAL,
			       pool.rootfs ?
			       "pool: the job's ids, limits, network, image or layers differ from "
			       "the prepared sandbox's (it takes only jobs on its image without "
			       "workspace or snapshot layers)" :
			       "pool: the job's ids, limits or network differ from the pooled sandbox's"), -1;

	/* Now the job's own host side: its cgroup name (usage, teardown and
	 * operators see mags/<id> as for any job), files, allow list. */
	if (job_check(job, err) < 0)
		return -1;
	if (cgroup_rename(&s->cg, job->id, err) < 0)
		return err_wrap(err, "cgroup"), -1;
	if (job_open(s, err) < 0)
		return -1;
	if (net_policy_add(job, &s->net, err) < 0)
		return err_wrap(err, "network"), -1;

	trace('S', "pool: job's cgroup, files, policy");
	fd = p_spec_fd(job);
	if (fd < 0)
		return err_sys(err, -fd, "memfd"), err_wrap(err, "pool"), -1;
	if (send_one(s, CHANNEL_SPEC, NULL, fd, err) < 0)
		return -1;
	if (channel_send(s->sock, CHANNEL_LOG, NULL, s->log_fd) < 0 ||
	    (s->control_fd >= 0 && channel_send(s->sock, CHANNEL_CONTROL, NULL, s->control_fd) < 0)) {
		if (wait_ready(s, err) >= 0)
			err_set(err, MAGS_E_INTERNAL, EIO, "sandbox: init exited during set-up");
		return -1;
	}
	if (s->control_fd >= 0) {
		close(s->control_fd); /* init's now */
		s->control_fd = -1;
	}
	return 1;
}

int sandbox_run(const struct runtime_config *cfg_in)
{
	struct runtime_config job = *cfg_in;
	const struct runtime_config *cfg = &job;
	struct supervisor s = { .cfg = &job, .log_fd = -1, .sfd = -1, .sock = -1,
				 .control_fd = -1, .net = { .rtnl = -1 }, .final_code = -1,
				 .netns = -1, .host_ns = -1 };
	struct mags_err err = { 0 };
	struct cgroup_limits lim;
	sigset_t mask;
	int sv[2], r;
	enum outcome out;

	/* Signals arrive through a signalfd; P inherits the mask and keeps
	 * it for its own signalfd. SIGPIPE: a vanished magsd must not kill
	 * us before the sandbox is cleaned up. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0) {
		err_sys(&err, errno, "signalfd");
		return fail(&s, &err);
	}

	/* A0 (a pool member does it once it has its job, in park). */
	if (!cfg->pool && job_check(&job, &err) < 0)
		return fail(&s, &err);
	if (cfg->pool && cfg->rootfs) {
		struct stat st = { 0 };

		/* Our own copies: retitle overwrites the argv strings. */
		job.rootfs = xstrdup(job.rootfs);
		job.run_dir = xstrdup(job.run_dir);

		if (stat(cfg->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
			err_sys(&err, errno && !st.st_mode ? errno : ENOTDIR, "'%s'", cfg->rootfs);
			err_wrap(&err, "rootfs");
			return fail(&s, &err);
		}
		s.prepared = 1;
	}

	trace('S', "A0 checks");
	/* A1. */
	cgroup_limits_compute(&lim, cfg->memory_mb, cfg->cpu_milli, cfg->pids);
	if (cgroup_create(&s.cg, cfg->id, &lim, &err) < 0) {
		err_wrap(&err, "cgroup");
		return fail(&s, &err);
	}
	s.have_cg = 1;

	trace('S', "A1 cgroup");
	/* A2. A prepared member's scratch is its slot's run dir (the job's
	 * is not known yet). */
	if (!cfg->pool && job_open(&s, &err) < 0)
		return fail(&s, &err);
	if (s.prepared) {
		/* magsd's per-slot dir stays; one we make, we remove */
		if (mkdir(cfg->run_dir, 0700) == 0) {
			s.pool_run_dir = cfg->run_dir;
		} else if (errno != EEXIST) {
			if ((r = mkdir_p(cfg->run_dir, 0700)) < 0) {
				err_sys(&err, -r, "mkdir '%s'", cfg->run_dir);
				err_wrap(&err, "run-dir");
				return fail(&s, &err);
			}
			s.pool_run_dir = cfg->run_dir;
		}
	}

	/* A3. The network namespace first (made here, or a kept one), then
	 * P cloned inside it. */
	s.host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s.host_ns < 0) {
		err_sys(&err, errno, "open '/proc/self/ns/net'");
		err_wrap(&err, "network");
		return fail(&s, &err);
	}
	s.netns = net_ns_open(cfg, &s.netns_fresh, &err);
	if (s.netns < 0) {
		err_wrap(&err, "network");
		return fail(&s, &err);
	}
	trace('S', "A3 network namespace");
	if ((r = channel_pair(sv)) < 0) {
		err_sys(&err, -r, "socketpair");
		return fail(&s, &err);
	}
	if (setns(s.netns, CLONE_NEWNET) < 0) {
		close(sv[0]);
		close(sv[1]);
		err_sys(&err, errno, "setns");
		err_wrap(&err, "network");
		return fail(&s, &err);
	}
	s.pid = clone_sandbox(cfg->pool);
	if (s.pid == 0)
		sandbox_child(cfg, sv[1], s.log_fd, s.control_fd);
	r = errno;
	if (setns(s.host_ns, CLONE_NEWNET) < 0)
		abort(); /* we would configure the host as if it were the sandbox */
	if (s.pid < 0) {
		close(sv[0]);
		close(sv[1]);
		err_sys(&err, r, "clone");
		err_wrap(&err, "namespaces");
		return fail(&s, &err);
	}
	close(sv[1]);
	s.sock = sv[0];
	if (s.control_fd >= 0) {
		close(s.control_fd); /* init's now */
		s.control_fd = -1;
	}

	trace('S', "A3 clone");
	/* A5, A6. */
	if (userns_write_maps(s.pid, cfg->uid_base, RUNTIME_ID_RANGE, &err) < 0) {
		err_wrap(&err, "user namespace");
		return fail(&s, &err);
	}
	trace('S', "A5 maps");
	if (cgroup_add(&s.cg, s.pid, &err) < 0) {
		err_wrap(&err, "cgroup");
		return fail(&s, &err);
	}

	trace('S', "A6 cgroup membership");
	/* A7. The link exists, addressed and routed, before P is told GO. */
	if (net_attach(cfg, s.netns, s.netns_fresh, &s.net, &err) < 0) {
		err_wrap(&err, "network");
		return fail(&s, &err);
	}
	/* A new namespace with a link: magsd may keep it for the link's next
	 * sandbox. It opens it through our fd (we are its child, so the pid
	 * cannot be another process's) and checks it is this one. */
	if (s.netns_fresh && cfg->net_mode == RUNTIME_NET_NAT) {
		struct stat st;
		if (fstat(s.netns, &st) == 0)
			status_send("netns %d %llu %llu", s.netns, (unsigned long long)st.st_dev,
				    (unsigned long long)st.st_ino);
	}

	trace('S', "A7 network");
	/* Warm pool: parked here until magsd hands us a job. */
	if (cfg->pool) {
		r = 1;
		if (s.prepared) {
			r = prepare(&s, &err);
			trace('S', "prepared: root built");
		}
		if (r > 0)
			r = park(&s, &job, &err);
		if (r < 0)
			return fail(&s, &err);
		if (r == 0) {
			/* Unused: nothing to report, nothing may stay (the
			 * link goes with the namespace, unless magsd keeps
			 * that for the next sandbox of the link). */
			net_detach_ex(&s.net, 0);
			teardown(&s);
			return 0;
		}
	}

	/* B1. */
	if (send_handover(&s, &err) < 0)
		return fail(&s, &err);

	trace('S', "B1 handover");
	r = wait_ready(&s, &err);
	trace('S', "ready");
	if (r < 0)
		return fail(&s, &err);
	if (r == 0) {
		teardown(&s);
		status_send("stopped");
		return 0;
	}

	/* C1. The address first: magsd routes the proxy to it. */
	if (cfg->net_mode == RUNTIME_NET_NAT) {
		char ip[16];
		status_send("net %s", netcfg_format_ipv4(s.net.link.sandbox, ip));
	}
	status_send("started %d", (int)s.pid);

	/* C2. */
	s.lw = &supervisor_lw;
	logwriter_init(s.lw, s.log_fd, UINT64_MAX);
	out = supervise(&s);

	/* C3. The log gets the why before magsd hears the end. */
	if (cgroup_oom_kills(&s.cg) > 0)
		logwriter_system(s.lw, "killed: out of memory (limit %u MiB)", cfg->memory_mb);
	if (out == OUT_TIMEOUT)
		logwriter_system(s.lw, "job timed out after %u seconds", cfg->timeout_sec);
	trace('S', "C2 ended");
	if (out == OUT_EXIT && !s.reaped && s.final_code >= 0) {
		/* Init said its last word and is exiting: report now, reap
		 * after. Its exit status is the code it sent. */
		if (s.have_cg) {
			cgroup_usage(&s.cg, &s.cpu_us, &s.mem_peak);
			s.have_usage = 1;
			status_send("usage cpu_us=%llu mem_peak=%llu",
				    (unsigned long long)s.cpu_us,
				    (unsigned long long)s.mem_peak);
		}
		status_send("exit %d", s.final_code);
		trace('S', "C3 reported");
		while (waitpid(s.pid, &s.wstatus, 0) < 0 && errno == EINTR)
			;
		s.reaped = 1;
		trace('S', "C3 reaped");
		teardown_start(&s);
		teardown_rest(&s);
		trace('S', "C3 teardown");
		return 0;
	}
	teardown_start(&s);
	if (s.have_usage)
		status_send("usage cpu_us=%llu mem_peak=%llu", (unsigned long long)s.cpu_us,
			    (unsigned long long)s.mem_peak);
	switch (out) {
	case OUT_TIMEOUT:
		status_send("timeout");
		status_send("exit 137");
		break;
	case OUT_STOPPED:
		status_send("stopped");
		break;
	default:
		status_send("exit %d", init_exit_code(s.wstatus));
		break;
	}
	teardown_rest(&s);
	trace('S', "C3 teardown");
	return 0;
}
