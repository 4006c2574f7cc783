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

/* Give sandboxes a network (--net nat, a link of the supervisor's pool,
 * the job's allow list) unless the job asks for "none"; off (the
 * default) = every sandbox gets loopback only. serve.c turns it on once
 * `mags-runtime net-setup` succeeded and the `network` setting is nat. */
void supervisor_set_nat(struct supervisor *sv, int on);

/* The address of the job's live sandbox as its runtime reported it (`net
 * <ip>`), for the URL proxy and the SSH gateway: 0 and ip filled
 * ("10.200.0.6"), or -ENOENT if the job has no live sandbox or no network
 * (yet: the line comes just before `started`). */
int supervisor_job_ip(struct supervisor *sv, const char *job_id, char *ip, size_t n);

/* 1 while the job's runtime has not been reaped, and (for a job that ends
 * at its exit line, see early_end in supervisor.c) has not reported its end. */
int supervisor_is_live(struct supervisor *sv, const char *job_id);
int supervisor_live_count(struct supervisor *sv);

/* Reap every exited child (call on SIGCHLD); children that are not
 * runtimes go to task_reaped (task.h). */
void supervisor_reap(struct supervisor *sv);

/* Deadlines (SIGKILL of runtimes that overstay): ms until the next one, -1
 * if none; and the work due at now (monotonic ms). */
int supervisor_next_timeout(struct supervisor *sv, int64_t now);
void supervisor_tick(struct supervisor *sv, int64_t now);
/* The warm pool's upkeep (retire extra members, spawn missing ones): on
 * the loop after MHD has run, so no response waits for a spawn. */
void supervisor_pool_tick(struct supervisor *sv, int64_t now);

/* Daemon shutdown: SIGTERM every runtime; their jobs end "stopped".
 * Long-lived (persistent, --keep-alive) sandboxes are let go instead:
 * they keep running, their jobs stay as they are, on_detach is called
 * for each, and the next daemon re-attaches (supervisor_adopt). */
void supervisor_shutdown(struct supervisor *sv);
void supervisor_on_detach(struct supervisor *sv, supervisor_end_fn fn, void *arg);

/* ---- long-lived sandboxes (issue 4: lifecycle.c, reattach.c) ---- */

/* Every status line of a runtime ("started 123", "script-exit 0", ...),
 * after the supervisor handled it. */
typedef void (*supervisor_event_fn)(const char *job_id, const char *line, void *arg);
void supervisor_on_event(struct supervisor *sv, supervisor_event_fn fn, void *arg);

/* Stop the job's sandbox to put it to sleep: like supervisor_stop, but
 * when the runtime is reaped the job becomes "sleeping" (not finished)
 * and on_end runs as usual. A later supervisor_stop wins. 0 if
 * signalled, 1 if it already ended, -ENOENT if no live sandbox. */
int supervisor_sleep(struct supervisor *sv, const char *job_id);

/* Track a sandbox a previous daemon started: pid is its runtime
 * (supervisor), pidfd from pidfd_open (taken over: watched for the
 * runtime's end, used to signal it). Its state file
 * (DATA_DIR/run/<id>.state) is replayed through the status lines and
 * re-read while it runs. */
int supervisor_adopt(struct supervisor *sv, const struct job *job, pid_t pid, int pidfd,
		     struct mags_err *err);

/* The host pid of the job's init (0 if unknown) and whether a stop (or
 * sleep) of its sandbox is under way or its end was reported. */
pid_t supervisor_init_pid(struct supervisor *sv, const char *job_id);
int supervisor_is_stopping(struct supervisor *sv, const char *job_id);

/* Second signal: SIGKILL every runtime now (their jobs end "stopped"). */
void supervisor_kill_all(struct supervisor *sv);

/* The image rootfs to run jobs in: image, or busybox if image is "default"
 * and only busybox is built. Malloc'd, NULL if neither exists. */
char *supervisor_image_rootfs(const char *data_dir, const char *image,
			      const char **used_name);

#endif
