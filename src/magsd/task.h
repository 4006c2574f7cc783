/*
 * task.h - blocking work (mkfs and mount of a workspace disk, a snapshot
 * sync or restore, garbage collection) run in a forked child so the event
 * loop never waits on it. magsd has no threads, so forking is safe; the
 * child must not touch the database or the HTTP server, only files.
 *
 * The child's function fills a struct mags_err on failure; its message
 * travels back over a pipe and the done callback gets it on the loop once
 * the child is reaped (the supervisor hands over every pid it does not own).
 */
#ifndef MAGS_MAGSD_TASK_H
#define MAGS_MAGSD_TASK_H

#include <sys/types.h>

#include "common/err.h"

/* Runs in the child: 0 on success, negative errno with err filled. On
 * success a short result may be left in err->msg (done gets it). */
typedef int (*task_child_fn)(void *arg, struct mags_err *err);
/* Runs on the loop after the child ended: r is 0 or negative (err says
 * why; a child killed by a signal is -EINTR with a message). */
typedef void (*task_done_fn)(int r, const struct mags_err *err, void *arg);

/* Fork a child running fn(arg); done(…, done_arg) later. Returns the pid or
 * a negative errno (done is then never called). */
pid_t task_start(task_child_fn fn, void *arg, task_done_fn done, void *done_arg);

/* The supervisor calls this for a reaped pid it does not know: 1 if it was
 * a task (its done callback ran), 0 if not. */
int task_reaped(pid_t pid, int wstatus);

/* Tasks still running. */
int task_count(void);

/* Run argv (argv[0] a path or a name on PATH) and wait for it; in a task
 * child only. Output goes to magsd's stderr. 0, or -EIO with err naming the
 * command and its exit status. */
int task_exec(char *const argv[], struct mags_err *err);

#endif
