/*
 * workspace.h - workspaces on this host (docs/ARCHITECTURE.md "Workspaces
 * and snapshots"): the local ext4 disk of each, which job holds it, its
 * syncs to the object store, expiry of local workspaces, delete and resize.
 *
 * Everything here runs on the loop; the blocking parts (mkfs, mount,
 * restore, materialise, sync, unmount, resize, GC) run in task children
 * (task.h). Per workspace at most one of these runs at a time, and at most
 * one live job holds it (a second one is 409).
 *
 * A job on a workspace goes: workspace_job_prepare (checks, fills the
 * job's workspace fields, before it is stored) -> the job is stored ->
 * workspace_job_launch (disk ready, lowers materialised, then the runtime
 * is spawned with --upper/--lower/--copy-in) -> the runtime ends ->
 * workspace_job_ended (last use recorded; a persistent job syncs).
 */
#ifndef MAGS_MAGSD_WORKSPACE_H
#define MAGS_MAGSD_WORKSPACE_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/api_validate.h"
#include "magsd/job.h"
#include "magsd/store.h"

struct server;
struct http_req;
struct workspaces;

#define WORKSPACE_MAX_LOWERS 8   /* fork chain depth */

struct workspaces *workspaces_new(struct server *srv);
/* Unmounts every disk this daemon mounted (blocking: daemon exit only). */
void workspaces_free(struct workspaces *w);

/* 1 if the request needs this module (a workspace, a base, files or -p). */
int workspace_job_wanted(const struct job_request *jr);

/* Check a job request and fill job's workspace fields (workspace_id,
 * persistent, base_workspace_id, disk_gb, ...). Unknown base or file: 404;
 * workspace busy: 409. Creates the workspace's row if it is new. */
int workspace_job_prepare(struct workspaces *w, struct job *job,
			  const struct job_request *jr, struct mags_err *err);

/* The job is stored: get its disk and lowers ready and spawn it. Failures
 * end the job with status error. */
void workspace_job_launch(struct workspaces *w, const struct job *job);

/* The supervisor reaped a job's runtime (supervisor_on_end). */
void workspace_job_ended(struct workspaces *w, const char *job_id);

/* POST /mags-jobs/{id}/stop of a job holding a workspace: 1 if req was
 * suspended until the workspace is free (its sandbox ended and, if it
 * syncs, the final sync ended; then answered with the job), 0 if the
 * caller answers now. */
int workspace_stop_wait(struct workspaces *w, struct http_req *req, const char *job_id);

/* POST /mags-jobs/{id}/sync: suspends req and answers after a sync. */
void workspace_sync_request(struct workspaces *w, struct http_req *req, const struct job *job);

/* GET /mags-workspaces, DELETE and resize of /mags-workspaces/{id}. */
void workspace_list_request(struct workspaces *w, struct http_req *req);
void workspace_delete_request(struct workspaces *w, struct http_req *req, const char *name);
void workspace_resize_request(struct workspaces *w, struct http_req *req, const char *name);

/* Periodic work: syncs of running persistent jobs, expiry of local
 * workspaces. ms until the next deadline (for the loop's timeout). */
int workspace_next_timeout(struct workspaces *w, int64_t now);
void workspace_tick(struct workspaces *w, int64_t now);

/* Daemon shutdown: start no periodic syncs or expiries (final syncs of
 * stopped jobs still run). */
void workspace_shutdown(struct workspaces *w);
/* Answer every request still waiting 503 (before the HTTP server stops). */
void workspace_drop_waiters(struct workspaces *w);
/* Tasks (syncs) still running. */
int workspace_busy(struct workspaces *w);

/* A job holds the workspace without going through workspace_job_launch
 * (lifecycle.c, reattach.c): a sleeping job keeps its local disk (D5,
 * running = 0), a sandbox re-attached after a daemon restart uses it
 * (running = 1: it is mounted, and syncs periodically if persistent).
 * workspace_job_ended releases it as usual. */
void workspace_hold(struct workspaces *w, const char *user_id, const char *name,
		    const char *job_id, int running);

#endif
