/*
 * mounts.h - the sandbox's filesystem: an idmapped read-only image under
 * an overlay with a tmpfs upper layer, fresh /proc, minimal /dev,
 * read-only /sys, masked kernel interfaces, then pivot_root.
 *
 * mounts_idmapped_tree runs in the supervisor (host root: idmapping needs
 * CAP_SYS_ADMIN over the filesystem); the rest runs in the sandbox's first
 * process, root of its own user and mount namespaces, before pivot_root.
 */
#ifndef MAGS_RUNTIME_MOUNTS_H
#define MAGS_RUNTIME_MOUNTS_H

#include <sys/types.h>

#include "common/err.h"
#include "runtime/args.h"

/* Supervisor: a detached, recursive, nodev clone of dir whose ids are
 * shifted through the user namespace of userns_pid (on-disk 0 appears as
 * 0 inside that namespace), read-only unless writable. Returns the mount
 * fd (O_CLOEXEC) or -errno. */
int mounts_idmapped_tree(const char *dir, pid_t userns_pid, int writable,
			 struct mags_err *err);

/* The overlay's layers as detached (idmapped) mount fds, -1 = absent. */
struct mounts_layers {
	int image;                       /* bottom, read-only */
	int lower[RUNTIME_LOWER_MAX];    /* read-only snapshots, topmost first */
	unsigned n_lower;
	int upper;                       /* dir with upper/ and work/, or -1: tmpfs */
};

/* Close every fd in l (safe on a partly filled struct). */
void mounts_layers_release(struct mounts_layers *l);

/* Make every mount private so nothing we mount reaches the host. */
int mounts_make_private(struct mags_err *err);

/* Mount the sandbox's scratch tmpfs on run_dir (visible only in its mount
 * namespace), owned by the namespace's root, and return an O_PATH fd of it.
 * Called while still host uid 0, so the walk to run_dir works even through
 * root-only directories; the caller then changes uid and fchdir()s.
 * size_mb caps it (the sandbox's writes to / live here, in its memory
 * budget: a full disk says ENOSPC instead of summoning the OOM killer). */
int mounts_scratch(const char *run_dir, unsigned size_mb, struct mags_err *err);

/* In the scratch dir (the cwd): attach the image as "lower", the snapshot
 * layers as "l0", "l1", ... and the workspace (if any) as "ws"; mount the
 * overlay lowerdir=l0:l1:...:lower with upperdir/workdir ws/upper and
 * ws/work, or "upper" and "work" on the scratch tmpfs, on "root".
 * Releases l's fds. */
int mounts_rootfs(struct mounts_layers *l, struct mags_err *err);

/* /proc, /dev, /sys, /tmp, /root, /uploads inside root (a path on the
 * host side, before pivot_root), with masks and read-only paths. /sys is
 * sysfs_fd (a detached mount, closed here) when >= 0. */
int mounts_system(const char *root, int sysfs_fd, struct mags_err *err);

/* pivot_root into root and detach the old root. cwd becomes "/". */
int mounts_pivot(const char *root, struct mags_err *err);

#endif
