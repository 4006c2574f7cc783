/*
 * supervisor.h - the live sandboxes: spawning one mags-runtime per job,
 * reading its status pipe, reaping it, and driving the job's state in the
 * store from what it reports (docs/ARCHITECTURE.md "magsd → mags-runtime
 * interface").
 *
 * Runs on the loop: status pipes are watched non-blocking, reaping happens
 * when the caller reports SIGCHLD (signalfd). Each live sandbox holds one
 * uid-base slot (100000 + slot*65536) until it is reaped.
 */
#ifndef MAGS_MAGSD_SUPERVISOR_H
#define MAGS_MAGSD_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/config.h"
#include "magsd/job.h"
#include "magsd/loop.h"
#include "magsd/store.h"

#define SUPERVISOR_UID_BASE 100000
#define SUPERVISOR_UID_RANGE 65536
#define SUPERVISOR_MAX_SLOTS 4096

struct supervisor;

/* Called after a job's state changed (running, finished) so followers of
 * its log can look again. */
typedef void (*supervisor_change_fn)(const char *job_id, void *arg);

/* runtime: path of mags-runtime; image: the image jobs run in. The config,
 * store and loop must outlive the supervisor. */
struct supervisor *supervisor_new(const struct config *cfg, struct store *st,
				  struct loop *loop, const char *runtime,
				  const char *image);
/* Frees memory only: call after every sandbox was reaped. */
void supervisor_free(struct supervisor *sv);

void supervisor_on_change(struct supervisor *sv, supervisor_change_fn fn, void *arg);

/* Called once a job's runtime was reaped and its end recorded. */
typedef void (*supervisor_end_fn)(const char *job_id, void *arg);
void supervisor_on_end(struct supervisor *sv, supervisor_end_fn fn, void *arg);

/* What a job on a workspace adds to the runtime's command line (NULL/0 =
 * nothing): --upper, --lower (topmost first), --copy-in HOST:SANDBOXPATH. */
struct supervisor_layers {
	const char *upper;
	char *const *lowers;
	size_t n_lowers;
	char *const *copy_in;
	size_t n_copy_in;
};

/* Start the sandbox of an accepted job (already in the store). env: n_env
 * "KEY=VALUE" strings for the sandbox; layers may be NULL. On failure the
 * job is not touched and err says why (the caller records it on the job). */
int supervisor_spawn(struct supervisor *sv, const struct job *job,
		     char *const *env, size_t n_env,
		     const struct supervisor_layers *layers, struct mags_err *err);

/* Ask the job's runtime to stop (SIGTERM; SIGKILL 10 s later if it is
 * still there). 0 if signalled, 1 if it already reported its end,
 * -ENOENT if the job has no live sandbox. */
int supervisor_stop(struct supervisor *sv, const char *job_id);

/* 1 while the job's runtime has not been reaped. */
int supervisor_is_live(struct supervisor *sv, const char *job_id);
int supervisor_live_count(struct supervisor *sv);

/* Reap every exited child (call on SIGCHLD); children that are not
 * runtimes go to task_reaped (task.h). */
void supervisor_reap(struct supervisor *sv);

/* Deadlines (SIGKILL of runtimes that overstay): ms until the next one, -1
 * if none; and the work due at now (monotonic ms). */
int supervisor_next_timeout(struct supervisor *sv, int64_t now);
void supervisor_tick(struct supervisor *sv, int64_t now);

/* Daemon shutdown: SIGTERM every runtime; their jobs end "stopped". */
void supervisor_shutdown(struct supervisor *sv);

/* Second signal: SIGKILL every runtime now (their jobs end "stopped"). */
void supervisor_kill_all(struct supervisor *sv);

/* The image rootfs to run jobs in: image, or busybox if image is "default"
 * and only busybox is built. Malloc'd, NULL if neither exists. */
char *supervisor_image_rootfs(const char *data_dir, const char *image,
			      const char **used_name);

#endif
