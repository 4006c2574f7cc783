/*
 * task.c - forked workers (see task.h). Each running task is one entry of
 * a small list: pid, the read end of its message pipe, and its callback.
 */
#include "magsd/task.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/log.h"
#include "common/banned.h"

struct task {
	struct task *next;
	pid_t pid;
	int fd;
	task_done_fn done;
	void *arg;
};

static struct task *tasks;
static int n_tasks;

pid_t task_start(task_child_fn fn, void *arg, task_done_fn done, void *done_arg)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		struct mags_err err;
		sigset_t none;
		int r;

		close(pfd[0]);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_IGN);   /* a Ctrl-C at magsd's terminal must not cut a sync */
		err_clear(&err);
		r = fn(arg, &err);
		if (r < 0 && !err.msg[0])
			snprintf(err.msg, sizeof(err.msg), "%s", strerror(-r));
		/* on success the message, if any, is the task's result */
		(void)write_full(pfd[1], err.msg, strlen(err.msg));
		_exit(r < 0 ? 1 : 0);
	}
	close(pfd[1]);
	struct task *t = xcalloc(1, sizeof(*t));
	t->pid = pid;
	t->fd = pfd[0];
	t->done = done;
	t->arg = done_arg;
	t->next = tasks;
	tasks = t;
	n_tasks++;
	return pid;
}

int task_reaped(pid_t pid, int wstatus)
{
	struct task **pp = &tasks, *t;
	struct mags_err err;
	ssize_t n;
	int r = 0;

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	t = *pp;
	if (!t)
		return 0;
	*pp = t->next;
	n_tasks--;
	err_clear(&err);
	/* the child has exited: its message (< PIPE_BUF) is all in the pipe */
	n = read(t->fd, err.msg, sizeof(err.msg) - 1);
	err.msg[n > 0 ? n : 0] = '\0';
	close(t->fd);
	if (WIFSIGNALED(wstatus)) {
		r = -EINTR;
		snprintf(err.msg, sizeof(err.msg), "worker killed by signal %d", WTERMSIG(wstatus));
	} else if (WEXITSTATUS(wstatus) != 0) {
		r = -EIO;
		if (!err.msg[0])
			snprintf(err.msg, sizeof(err.msg), "worker exited %d", WEXITSTATUS(wstatus));
	}
	err.code = r < 0 ? MAGS_E_INTERNAL : MAGS_E_OK;
	if (t->done)
		t->done(r, &err, t->arg);
	free(t);
	return 1;
}

int task_count(void)
{
	return n_tasks;
}

int task_exec(char *const argv[], struct mags_err *err)
{
	int wstatus;
	pid_t pid = fork();

	if (pid < 0)
		return err_sys(err, errno, "fork for '%s'", argv[0]);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(STDERR_FILENO, STDOUT_FILENO);
		}
		if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
			for (int fd = 3; fd < 4096; fd++)
				close(fd);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "wait for '%s'", argv[0]);
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127)
		return err_set(err, MAGS_E_INTERNAL, ENOENT, "cannot run '%s'", argv[0]);
	return err_set(err, MAGS_E_INTERNAL, EIO, "'%s' failed (%s %d)", argv[0],
		       WIFEXITED(wstatus) ? "exit" : "signal",
		       WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
}
