/*
 * syncer.h - the snapshot operations a workspace needs, each a blocking
 * call meant for a task child (task.h): sync a workspace's upper layer to
 * the object store and move its head, restore a head into an empty upper
 * layer, materialise a snapshot as a read-only lower layer, delete a head,
 * collect garbage. It opens the object store the config names (dir under
 * DATA_DIR/objects, or s3) and calls the snapshot engine (snapshot.h).
 */
#ifndef MAGS_MAGSD_SYNCER_H
#define MAGS_MAGSD_SYNCER_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/config.h"

#define SYNCER_HASH_MAX 72   /* hex sha256 + NUL, with room */

/* Snapshot upper (a workspace's upper/ directory; state: its sync-state
 * file) and move heads/<user_id>/<name> to it. hash_out: the manifest hash. */
int syncer_sync(const struct config *cfg, const char *user_id, const char *name,
		const char *upper, const char *state, char hash_out[SYNCER_HASH_MAX],
		struct mags_err *err);

/* The current head of a workspace: 0 and hash_out, -ENOENT if none. */
int syncer_head_get(const struct config *cfg, const char *user_id, const char *name,
		    char hash_out[SYNCER_HASH_MAX], struct mags_err *err);

/* Restore snapshot hash into dst (an empty directory), files copied (the
 * workspace will write to them). */
int syncer_restore(const struct config *cfg, const char *hash, const char *dst,
		   struct mags_err *err);

/* DATA_DIR/snapshots/<hash>/, built if missing. */
int syncer_materialise(const struct config *cfg, const char *hash, struct mags_err *err);

int syncer_head_delete(const struct config *cfg, const char *user_id, const char *name,
		       struct mags_err *err);

/* Remove every blob and manifest that neither a head nor live[0..n_live)
 * (snapshots forks still use as their base) reaches. */
int syncer_gc(const struct config *cfg, const char *const *live, size_t n_live,
	      struct mags_err *err);

#endif
