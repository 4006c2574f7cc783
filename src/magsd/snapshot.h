/*
 * snapshot.h - content-addressed workspace snapshots on an object store.
 *
 * A sync walks a workspace's overlay upper directory and stores it as
 *   blobs/<h[0:2]>/<h>   zstd-compressed file contents, h = sha256(content)
 *   manifests/<m>        the tree (manifest.h), m = sha256(manifest bytes)
 *   heads/<user>/<ws>    the workspace's current manifest hash (64 hex + "\n")
 * Objects are immutable and always written before whatever references them
 * (blobs, then the manifest, then - by the caller - the head), so a sync
 * killed at any point leaves the previous head and everything it references
 * intact.
 *
 * Every function blocks (file walks, hashing, object-store transfers): magsd
 * calls them in forked children, never in its event loop. None keeps global
 * state between calls. All run as host root: they read and write files with
 * the ids the sandbox sees (its root = 0 on disk), see ARCHITECTURE.md.
 *
 * Setuid/setgid bits are recorded and restored, but a restore only keeps them
 * where no host user can run the file: in a tree on a nosuid mount (the
 * workspace disk) or below a root-owned directory closed to group and others
 * (snapshots_dir and cache_dir are made 0700 here). Elsewhere they are
 * stripped.
 *
 * GC and syncs must not overlap: a sync may reuse a blob that GC is about to
 * delete because no committed manifest references it yet. magsd serialises
 * them (GC runs only when no sync child is alive).
 */
#ifndef MAGS_MAGSD_SNAPSHOT_H
#define MAGS_MAGSD_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/objstore.h"

struct snapshot_stats {
	uint64_t files;          /* regular files (hard links included) */
	uint64_t dirs;
	uint64_t bytes_read;     /* sync: file bytes read and hashed (unchanged files are not read);
	                          * restore: file bytes placed */
	uint64_t blobs_uploaded; /* sync only */
	uint64_t bytes_uploaded; /* sync only: compressed bytes, manifest included */
	int64_t ms;              /* wall time of the call */
	uint64_t blobs_fetched;  /* restore only: blobs downloaded into the cache */
	uint64_t bytes_fetched;  /* restore only: compressed bytes downloaded */
};

/*
 * Snapshot upper_dir. Regular files whose (size, mtime_ns, inode, ctime)
 * match state_file (a private per-workspace cache, e.g.
 * DIR/workspaces/<user>/<ws>/sync-state; missing or damaged = start over;
 * rewritten atomically) reuse their recorded hash without being read; others
 * are hashed, and their blob is compressed and uploaded unless the store has
 * it. Then the manifest (parent = parent_hash, or none if NULL) is uploaded
 * and its hash written to out_hash (64 hex + NUL).
 *
 * If the tree is unchanged since the sync that produced parent_hash, nothing
 * is uploaded and out_hash = parent_hash (no new manifest).
 *
 * Does NOT move the head: call snapshot_head_set(out_hash) after it.
 * Pass parent_hash = the current head (or NULL for a first sync).
 * st may be NULL. Test hook: env MAGS_SYNC_CRASH_AT=N makes the process
 * _exit(99) just before its N-th object-store write (counted across
 * snapshot_sync and snapshot_head_set calls of the process).
 */
int snapshot_sync(struct objstore *os, const char *upper_dir, const char *state_file,
		  const char *parent_hash, char out_hash[65], struct snapshot_stats *st,
		  struct mags_err *err);

/* The head of workspace ws of user_id into out_hash. -ENOENT (err filled,
 * code MAGS_E_NOT_FOUND) if the workspace has never been synced; a damaged
 * head object is -EBADMSG. */
int snapshot_head_get(struct objstore *os, const char *user_id, const char *ws,
		      char out_hash[65], struct mags_err *err);

/* Point the head of user_id/ws at manifest `hash` (atomic). The manifest must
 * exist in the store (-ENOENT otherwise: never publish a dangling head). */
int snapshot_head_set(struct objstore *os, const char *user_id, const char *ws,
		      const char *hash, struct mags_err *err);

/* Remove the head (the workspace's snapshots become garbage for
 * snapshot_gc). A missing head is not an error. */
int snapshot_head_delete(struct objstore *os, const char *user_id, const char *ws,
			 struct mags_err *err);

/* snapshot_restore flags */
#define SNAPSHOT_RESTORE_COPY 0x1 /* copy contents instead of hard-linking the
				   * cache's inodes: for a writable upper */

/*
 * Materialise manifest `hash` into dest_dir (absent or empty; created 0700,
 * then given the manifest's root mode/owner/time). The manifest is fetched
 * and checked against its hash, then every blob not in the cache is fetched
 * into cache_dir/blobs/<h> (checked against its hash and size: a mismatch is
 * -EBADMSG with a clear message and nothing is created in dest_dir), then
 * the tree is built with openat/O_NOFOLLOW relative to dest_dir, so a
 * hostile manifest cannot write outside it. Regular files are hard links to
 * read-only cache inodes carrying the entry's mode/owner/mtime (fine for an
 * overlay lower, which is never written), or copies with
 * SNAPSHOT_RESTORE_COPY (or across filesystems). Whiteouts become 0:0
 * character devices, opaque directories get user.overlay.opaque=y; other
 * device nodes are refused (-EPERM). On failure dest_dir may hold a partial
 * tree: the caller removes it. st may be NULL.
 */
int snapshot_restore(struct objstore *os, const char *cache_dir, const char *hash,
		     const char *dest_dir, unsigned flags, struct snapshot_stats *st,
		     struct mags_err *err);

/*
 * Materialise manifest `hash` once into snapshots_dir/<hash> (built in a
 * temp dir beside it and renamed, so the directory is complete or absent)
 * and return that path in *out_path (malloc'd, caller frees). If it already
 * exists it is returned at once. The tree is read-only by convention: use it
 * only as an overlay lower.
 */
int snapshot_materialise(struct objstore *os, const char *cache_dir,
			 const char *snapshots_dir, const char *hash, char **out_path,
			 struct mags_err *err);

struct snapshot_gc_stats {
	uint64_t manifests_kept, manifests_deleted, blobs_kept, blobs_deleted;
};

/*
 * Mark and sweep: keep the manifest of every head plus extra_live[0..n_extra)
 * (e.g. bases that forks or running jobs still use: the caller knows them;
 * parents of a manifest are NOT kept), delete every other manifest and every
 * blob no kept manifest references. A head or live hash whose manifest is
 * missing or damaged aborts the GC before anything is deleted (-EBADMSG /
 * -ENOENT): never sweep on a partial mark. st may be NULL.
 */
int snapshot_gc(struct objstore *os, const char *const *extra_live, size_t n_extra,
		struct snapshot_gc_stats *st, struct mags_err *err);

/* 1 if s is 64 lowercase hex digits. */
int snapshot_hash_valid(const char *s);

#endif
