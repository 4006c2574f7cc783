/*
 * sandbox.c - the ordered steps that build, run and remove a sandbox.
 *
 * Two processes cooperate over a socketpair (channel.h):
 *
 *   supervisor S (host root, stays outside)   sandbox P (pid 1 inside)
 *   ---------------------------------------   --------------------------
 *   A1 cgroup with limits
 *   A2 run dir, job log fd (P inherits it;
 *      a pool would send it with GO)
 *   A3 clone P into new user, mount, pid,  ->  A4 close inherited fds,
 *      uts, ipc and net namespaces                mounts private, lo up
 *   A5 write P's uid/gid maps
 *   A6 move P into the cgroup
 *   B1 idmapped read-only image mount      ->  B2 cgroup namespace
 *      sent to P with GO                       B3 tmpfs scratch, become root
 *                                              B4 overlay root, /proc, /dev,
 *                                                 /sys, hostname, pivot_root
 *                                              B5 stdio, drop capabilities,
 *                                                 no_new_privs, seccomp
 *   C1 "started <pid>"                     <-  B6 fork the script, READY,
 *   C2 wait: exit / timeout / SIGTERM             and be its init (init.c)
 *   C3 OOM and timeout records, teardown, report
 *
 * The A steps do not depend on the job: a future warm pool can run them
 * ahead of time and park P before GO (with its uid range and cgroup), so
 * taking a sandbox only costs the B steps. The job-specific data (image,
 * script, env, hostname, log fd) would then travel with GO instead of
 * through the copy of the config that clone gives P.
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
 */
#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/channel.h"
#include "runtime/init.h"
#include "runtime/logwriter.h"
#include "runtime/mounts.h"
#include "runtime/net.h"
#include "runtime/seccomp.h"
#include "runtime/status.h"
#include "runtime/userns.h"
#include "common/banned.h"

#define SETUP_TIMEOUT_MS 30000

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

/* The sandbox's first process. Entered right after clone in all new
 * namespaces but the cgroup one; never returns. */
__attribute__((noreturn))
static void sandbox_child(const struct runtime_config *cfg, int sock, int log_fd)
{
	struct mags_err err = { 0 };
	char kind = 0, msg[8];
	int tree = -1, scratch, r;
	const int keep[] = { sock, log_fd };

	/* Nothing of the supervisor's (the status pipe, its signalfd, the
	 * other end of the channel, whatever magsd left open) may reach
	 * the sandbox. */
	if (fd_close_all_except(keep, 2) < 0) {
		err_sys(&err, errno, "close inherited fds");
		child_fail(sock, &err);
	}

	/* A4. Job-independent: make our copy of the host's mounts private
	 * (nothing below propagates back) and give the empty network
	 * namespace a loopback. */
	STEP(mounts_make_private(&err), "mounts");
	STEP(net_loopback_up(&err), "network");

	/* Wait for the supervisor: maps written, cgroup joined, image. */
	r = channel_recv(sock, &kind, msg, sizeof(msg), &tree);
	if (r <= 0 || kind != CHANNEL_GO || tree < 0)
		_exit(1); /* the supervisor failed and reports it */

	/* B2. We are in the job's cgroup now: make it our cgroup root. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		err_sys(&err, errno, "unshare");
		err_wrap(&err, "cgroup namespace");
		child_fail(sock, &err);
	}

	/* B3. Scratch tmpfs on the run dir, while we are still host uid 0
	 * and may walk the (root-only) path to it; then hold it by fd and
	 * become the sandbox's root, who owns it. */
	scratch = mounts_scratch(cfg->run_dir, cfg->memory_mb, &err);
	if (scratch < 0) {
		err_wrap(&err, "rootfs");
		child_fail(sock, &err);
	}
	STEP(userns_become_root(&err), "user namespace");
	/* Die with the supervisor (set after the uid change, which clears
	 * it). If it died before, its end of the channel is closed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	{
		struct pollfd hup = { .fd = sock, .events = POLLIN };
		if (poll(&hup, 1, 0) > 0 && (hup.revents & (POLLHUP | POLLERR)))
			_exit(1);
	}
	if (fchdir(scratch) < 0) {
		err_sys(&err, errno, "chdir '%s'", cfg->run_dir);
		err_wrap(&err, "rootfs");
		child_fail(sock, &err);
	}
	close(scratch);
	/* Not essential (ping), so not fatal. */
	net_allow_ping(NULL);

	/* B4. The root filesystem and the kernel interfaces, then drop
	 * the host's tree. */
	STEP(mounts_rootfs(tree, &err), "rootfs");
	STEP(mounts_system("root", &err), "mounts");
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
		err_sys(&err, errno, "sethostname '%s'", cfg->hostname);
		err_wrap(&err, "hostname");
		child_fail(sock, &err);
	}
	STEP(mounts_pivot("root", &err), "pivot_root");

	/* B5. Our own stdio is magsd's: point it at the sandbox's
	 * /dev/null. Then privileges: capabilities first (dropping them
	 * needs CAP_SETPCAP), then no_new_privs and the filter, which
	 * init runs under too. */
	r = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (r < 0 || dup2(r, 0) < 0 || dup2(r, 1) < 0 || dup2(r, 2) < 0) {
		err_sys(&err, errno, "open '/dev/null'");
		err_wrap(&err, "stdio");
		child_fail(sock, &err);
	}
	if (r > 2)
		close(r);
	STEP(caps_drop(&err), "capabilities");
	STEP(seccomp_install(&err), "seccomp");

	/* B6. */
	init_main(cfg, log_fd, sock);
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
	int made_run_dir;
	pid_t pid;          /* the sandbox's pid 1, host pid */
	int reaped;
	int wstatus;
};

static pid_t clone_sandbox(void)
{
	/* Raw clone without a new stack behaves like fork, but the child
	 * starts in the new namespaces (it is pid 1 of the new pid
	 * namespace right away, no second fork needed). */
	const unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
				    CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
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

static void teardown(struct supervisor *s)
{
	kill_and_reap(s);
	if (s->have_cg)
		cgroup_destroy(&s->cg);
	/* The run dir holds nothing on the host: the sandbox's tmpfs on it
	 * lived in the sandbox's mount namespace, gone with it. */
	if (s->made_run_dir)
		rm_rf(s->cfg->run_dir);
	if (s->sock >= 0)
		close(s->sock);
	if (s->log_fd >= 0)
		close(s->log_fd);
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

/* C2: until P exits, the timeout passes, or magsd says stop. */
static enum outcome supervise(struct supervisor *s)
{
	int64_t deadline = s->cfg->timeout_sec ?
		time_mono_ms() + (int64_t)s->cfg->timeout_sec * 1000 : 0;
	struct pollfd pfd = { .fd = s->sfd, .events = POLLIN };

	for (;;) {
		int timeout = -1;

		if (waitpid(s->pid, &s->wstatus, WNOHANG) == s->pid) {
			s->reaped = 1;
			return OUT_EXIT;
		}
		if (deadline) {
			int64_t left = deadline - time_mono_ms();
			if (left <= 0) {
				kill_and_reap(s);
				return OUT_TIMEOUT;
			}
			timeout = left > 1000000 ? 1000000 : (int)left;
		}
		if (poll(&pfd, 1, timeout) > 0) {
			struct signalfd_siginfo si;
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD) {
					kill_and_reap(s);
					return OUT_STOPPED;
				}
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

int sandbox_run(const struct runtime_config *cfg_in)
{
	struct runtime_config job = *cfg_in;
	const struct runtime_config *cfg = &job;
	struct supervisor s = { .cfg = &job, .log_fd = -1, .sfd = -1, .sock = -1 };
	struct mags_err err = { 0 };
	struct cgroup_limits lim;
	struct logwriter lw;
	struct stat st;
	sigset_t mask;
	int sv[2], tree, r;
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

	if (load_script(&job, &err) < 0) {
		err_wrap(&err, "script");
		return fail(&s, &err);
	}
	if (stat(cfg->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err_sys(&err, S_ISDIR(st.st_mode) ? errno : ENOTDIR, "'%s'", cfg->rootfs);
		err_wrap(&err, "rootfs");
		return fail(&s, &err);
	}

	/* A1. */
	cgroup_limits_compute(&lim, cfg->memory_mb, cfg->cpu_milli, cfg->pids);
	if (cgroup_create(&s.cg, cfg->id, &lim, &err) < 0) {
		err_wrap(&err, "cgroup");
		return fail(&s, &err);
	}
	s.have_cg = 1;

	/* The run dir exists on the host only as a mount point for the
	 * sandbox's scratch tmpfs. */
	if ((r = mkdir_p(cfg->run_dir, 0700)) < 0) {
		err_sys(&err, -r, "mkdir '%s'", cfg->run_dir);
		err_wrap(&err, "run-dir");
		return fail(&s, &err);
	}
	s.made_run_dir = 1;

	/* A2 (cheap, and P must inherit it: init writes the log through
	 * it after pivot_root, when the host path is out of reach). */
	s.log_fd = open(cfg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
			O_NOFOLLOW | O_NOCTTY, 0600);
	if (s.log_fd < 0) {
		err_sys(&err, errno, "open '%s'", cfg->log_path);
		err_wrap(&err, "log");
		return fail(&s, &err);
	}

	/* A3. */
	if ((r = channel_pair(sv)) < 0) {
		err_sys(&err, -r, "socketpair");
		return fail(&s, &err);
	}
	s.pid = clone_sandbox();
	if (s.pid < 0) {
		close(sv[0]);
		close(sv[1]);
		err_sys(&err, errno, "clone");
		err_wrap(&err, "namespaces");
		return fail(&s, &err);
	}
	if (s.pid == 0)
		sandbox_child(cfg, sv[1], s.log_fd);
	close(sv[1]);
	s.sock = sv[0];

	/* A5, A6. */
	if (userns_write_maps(s.pid, cfg->uid_base, RUNTIME_ID_RANGE, &err) < 0) {
		err_wrap(&err, "user namespace");
		return fail(&s, &err);
	}
	if (cgroup_add(&s.cg, s.pid, &err) < 0) {
		err_wrap(&err, "cgroup");
		return fail(&s, &err);
	}

	/* B1. */
	tree = mounts_idmapped_tree(cfg->rootfs, s.pid, &err);
	if (tree < 0) {
		err_wrap(&err, "rootfs");
		return fail(&s, &err);
	}
	r = channel_send(s.sock, CHANNEL_GO, NULL, tree);
	close(tree);
	if (r < 0) {
		/* P died early: its own message, if any, is in the socket. */
		if (wait_ready(&s, &err) >= 0)
			err_set(&err, MAGS_E_INTERNAL, -r, "sandbox: init exited during set-up");
		return fail(&s, &err);
	}

	r = wait_ready(&s, &err);
	if (r < 0)
		return fail(&s, &err);
	if (r == 0) {
		teardown(&s);
		status_send("stopped");
		return 0;
	}

	/* C1. */
	status_send("started %d", (int)s.pid);

	/* C2. */
	out = supervise(&s);

	/* C3. The log gets the why before magsd hears the end. */
	logwriter_init(&lw, s.log_fd, UINT64_MAX);
	if (cgroup_oom_kills(&s.cg) > 0)
		logwriter_system(&lw, "killed: out of memory (limit %u MiB)", cfg->memory_mb);
	if (out == OUT_TIMEOUT)
		logwriter_system(&lw, "job timed out after %u seconds", cfg->timeout_sec);
	teardown(&s);
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
	return 0;
}
