/*
 * init.c - pid 1 inside the sandbox (see init.h).
 *
 * This process is pid 1 of the sandbox's pid namespace. It is needed
 * because the script is an arbitrary shell: it may background daemons,
 * double-fork, or leave zombies, and someone inside the namespace must
 * reap them and, at the end, make sure nothing outlives the job. It also
 * owns the log: the script writes into two pipes, init turns every line
 * into a record in the job log (an fd opened on the host) as soon as it
 * arrives, so `mags logs -f` streams live.
 *
 * Runs under the sandbox's seccomp filter with the reduced capability
 * set; it only needs pipes, fork, poll, read, write, wait and kill.
 */
#include "runtime/init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "runtime/channel.h"
#include "runtime/execsrv.h"
#include "runtime/logwriter.h"
#include "common/banned.h"

#define INIT_TITLE "mags-init"

static struct logwriter lw;
static struct log_stream streams[2];

static void env_put(char **env, size_t *n, const char *kv)
{
	size_t klen = (size_t)(strchr(kv, '=') - kv) + 1;

	for (size_t i = 0; i < *n; i++) {
		if (!strncmp(env[i], kv, klen)) {
			free(env[i]);
			env[i] = xstrdup(kv);
			return;
		}
	}
	env[(*n)++] = xstrdup(kv);
}

char **init_build_env(const struct runtime_config *cfg)
{
	char **env = xcalloc(cfg->n_env + 6, sizeof(char *));
	size_t n = 0;
	_cleanup_free_ char *host = xasprintf("HOSTNAME=%s", cfg->hostname);

	env_put(env, &n, "HOME=/root");
	env_put(env, &n, "PATH=" INIT_PATH);
	env_put(env, &n, "TERM=xterm");
	env_put(env, &n, host);
	env_put(env, &n, "USER=root");
	for (unsigned i = 0; i < cfg->n_env; i++)
		env_put(env, &n, cfg->env[i]);
	env[n] = NULL;
	return env;
}

int init_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

/* A script this long cannot be one execve argument (MAX_ARG_STRLEN is
 * 128 KiB): it goes into a memfd that sh sources instead. */
#define INIT_ARG_SCRIPT_MAX (100 * 1024)

/* In the child (of vfork: on init's memory, until the execve): become the
 * script. */
__attribute__((noreturn))
static void exec_script(const struct runtime_config *cfg, char **env, int out, int err_fd)
{
	char *argv[] = { "sh", "-c", (char *)cfg->script, NULL };
	size_t len = strlen(cfg->script);
	char source[64];
	sigset_t none;
	int null;

	if (len > INIT_ARG_SCRIPT_MAX) {
		/* Not close-on-exec: sh opens it as /dev/fd/N. */
		int fd = memfd_create("mags-script", 0);
		if (fd < 0 || write_full(fd, cfg->script, len) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0) {
			dprintf(err_fd, "mags: script file: %s\n", strerror(errno));
			_exit(127);
		}
		snprintf(source, sizeof(source), ". /dev/fd/%d", fd);
		argv[2] = source;
	}

	/* Its own session and process group: signals are forwarded to the
	 * whole group, and it has no controlling terminal. */
	setsid();
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	umask(022);
	if (chdir("/root") < 0 && chdir("/") < 0)
		_exit(127);
	execve("/bin/sh", argv, env);
	dprintf(STDERR_FILENO, "mags: exec '/bin/sh': %s\n", strerror(errno));
	_exit(127);
}

/* vfork: no copy of init's page tables, and no copy-on-write fault in
 * init or in the child for each page either touches before the execve
 * (~14 us each on these VMs). Its own function, so nothing of the
 * caller's frame is live across the vfork. */
static __attribute__((noinline)) pid_t
spawn_script(const struct runtime_config *cfg, char **env, int out, int err_fd)
{
	pid_t pid = vfork();

	if (pid == 0)
		exec_script(cfg, env, out, err_fd);
	return pid;
}

/* Read what one pipe has now, a bounded number of times so a chatty
 * stream cannot starve the other one or the signals. Returns 0 at EOF,
 * 1 otherwise. */
static int pump(int fd, struct log_stream *s)
{
	int open = 1;

	for (int reads = 0; reads < 16; reads++) {
		size_t avail;
		char *p = log_stream_space(s, &avail);
		ssize_t n = read(fd, p, avail);

		if (n > 0) {
			log_stream_commit(&lw, s, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			log_stream_flush(&lw, s);
			open = 0;
		}
		break;
	}
	/* What arrived is on disk before init sleeps again. */
	logwriter_flush(&lw);
	return open;
}

/* The supervisor wrote on the set-up channel (or closed it). */
static void supervisor_message(int sock, pid_t script, int done)
{
	char kind = 0, msg[16];
	int fd, r = channel_recv(sock, &kind, msg, sizeof(msg), &fd);

	if (fd >= 0)
		close(fd);
	if (r <= 0) {
		/* The supervisor is gone (PDEATHSIG is on its way): nobody
		 * would clean up after us. */
		kill(-1, SIGKILL);
		_exit(1);
	}
	if (kind == CHANNEL_KILL_SCRIPT && !done)
		kill(-script, SIGKILL);
}

void init_main(const struct runtime_config *cfg, int log_fd, int sock, int control_fd)
{
	static struct pollfd pfd[4 + EXECSRV_POLLFD_MAX];
	static struct execsrv srv;
	int out[2], errp[2], sfd, status = 0, done = 0, killed = 0, alone = 0;
	char **base_env;
	sigset_t mask;
	pid_t script;

	logwriter_init(&lw, log_fd, cfg->log_limit);
	log_stream_init(&streams[0], LOGFMT_STDOUT);
	log_stream_init(&streams[1], LOGFMT_STDERR);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "init: pipes: %s", strerror(errno));
		channel_send(sock, CHANNEL_ERROR, msg, -1);
		_exit(1);
	}

	/* No core dumps: the host's core_pattern (often a pipe to a host
	 * helper) is not the sandbox's business. The hard limit cannot be
	 * raised again without CAP_SYS_RESOURCE. */
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });

	/* Not dumpable: the sandbox's processes (same uid, no
	 * CAP_SYS_PTRACE) cannot ptrace us, pidfd_getfd our fds or open
	 * /proc/1/fd — the log fd and the control socket stay init's. The
	 * uid change into the namespace usually did this already (with the
	 * host's fs.suid_dumpable = 0); do not depend on it. Children get
	 * dumpable again when they exec. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	/* Execs get the script's environment: build it while cfg's strings
	 * (in the argv block blanked below) are still there. */
	base_env = init_build_env(cfg);
	execsrv_init(&srv, control_fd, base_env, cfg->keep_alive);

	script = spawn_script(cfg, base_env, out[1], errp[1]);
	if (script < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "init: fork: %s", strerror(errno));
		channel_send(sock, CHANNEL_ERROR, msg, -1);
		_exit(1);
	}
	trace_mark('I', "script forked");
	close(out[1]);
	close(errp[1]);
	/* The script has its copy of cfg; ours may go. What is left shows in
	 * /proc/1/cmdline and environ. */
	if (cfg->title && cfg->title_len > sizeof(INIT_TITLE)) {
		memset(cfg->title, 0, cfg->title_len);
		memcpy(cfg->title, INIT_TITLE, sizeof(INIT_TITLE));
	}
	prctl(PR_SET_NAME, INIT_TITLE, 0, 0, 0);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);

	/* The supervisor reports "started" on this. The channel stays open:
	 * we report the script's end (--keep-alive) and stop requests on
	 * it, and hear "kill the script" (its timeout, --keep-alive). */
	if (channel_send(sock, CHANNEL_READY, NULL, -1) < 0) {
		/* The supervisor is gone: nobody would clean up after us. */
		kill(-1, SIGKILL);
		_exit(1);
	}

	pfd[0] = (struct pollfd){ .fd = out[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = sock, .events = POLLIN };

	/* Until the script has ended and both pipes are at EOF; with
	 * --keep-alive until the supervisor kills us. */
	while (cfg->keep_alive || !done || pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int timeout = -1;
		size_t n = 4 + execsrv_poll_fill(&srv, pfd + 4, &timeout);

		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Before reaping below: it relies on the slots it filled. */
		execsrv_poll_handle(&srv, pfd + 4);
		if (srv.stop_requested) {
			srv.stop_requested = 0;
			channel_send(sock, CHANNEL_STOP, NULL, -1);
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd >= 0 && pfd[i].revents && !pump(pfd[i].fd, &streams[i])) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		if (pfd[3].revents)
			supervisor_message(sock, script, done);
		if (pfd[2].revents) {
			struct signalfd_siginfo si;

			/* SIGTERM/SIGINT/SIGHUP are for the script (its
			 * whole process group). */
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo != SIGCHLD && !done)
					kill(-script, (int)si.ssi_signo);
			/* SIGCHLD coalesces: reap everything there is. */
			for (;;) {
				int st;
				pid_t p = waitpid(-1, &st, WNOHANG);
				if (p < 0 && errno == ECHILD)
					alone = 1;
				if (p <= 0)
					break;
				if (p == script) {
					status = st;
					done = 1;
					trace_mark('I', "script reaped");
				} else {
					execsrv_reaped(&srv, p, st);
				}
			}
		}
		if (done && !killed) {
			/* The script is gone. Take what is already in the
			 * pipes. */
			for (int i = 0; i < 2; i++)
				if (pfd[i].fd >= 0 && !pump(pfd[i].fd, &streams[i])) {
					close(pfd[i].fd);
					pfd[i].fd = -1;
				}
			killed = 1;
			srv.script_done = 1;
			srv.script_exit = init_exit_code(status);
			if (cfg->keep_alive) {
				/* A machine now: what the script started keeps
				 * running; the supervisor reports script-exit. */
				char code[16];
				snprintf(code, sizeof(code), "%d", srv.script_exit);
				channel_send(sock, CHANNEL_SCRIPT_EXIT, code, -1);
			} else if (!alone) {
				/* Kill what it left behind: their ends of the
				 * pipes close as they die, and we read to EOF.
				 * (Every process of the namespace descends from
				 * us, so with no child left there is none; and
				 * kill(-1) walks every process of the host.) */
				kill(-1, SIGKILL);
			}
		}
	}
	trace_mark('I', "pipes at EOF");
	for (int i = 0; i < 2; i++)
		log_stream_flush(&lw, &streams[i]);
	logwriter_flush(&lw);
	/* Everything is in the log: the supervisor may report the end now,
	 * before our exit tears the namespaces down (their mounts go one
	 * RCU grace period at a time). */
	{
		char code[16];
		snprintf(code, sizeof(code), "%d", init_exit_code(status));
		channel_send(sock, CHANNEL_SCRIPT_EXIT, code, -1);
	}
	_exit(init_exit_code(status));
}
