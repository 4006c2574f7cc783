/*
 * copyin.h - place host files (uploads) into the sandbox before its script
 * starts (--copy-in HOSTFILE:SANDBOXPATH).
 *
 * The supervisor opens the host file (copyin_open: O_NOFOLLOW, regular
 * files only) and hands the fd to the sandbox; the sandbox writes it at
 * the path inside its own root (copyin_place), walking one component at
 * a time with O_NOFOLLOW, so a symlink the workspace holds (say /root ->
 * /etc, or /uploads/x -> /proc/...) is refused instead of followed.
 */
#ifndef MAGS_RUNTIME_COPYIN_H
#define MAGS_RUNTIME_COPYIN_H

#include <stddef.h>

#include "common/err.h"

/* Supervisor, host side: open host_len bytes of host (not NUL-terminated
 * in argv) read-only, O_NOFOLLOW, and check it is a regular file. Returns
 * the fd (O_CLOEXEC) or -errno. */
int copyin_open(const char *host, size_t host_len, struct mags_err *err);

/* Sandbox side, after pivot_root, as the sandbox's root: create the
 * missing parents of path (0755), replace whatever non-directory is at
 * path, and copy src_fd into a new file owned by 0:0 with mode 0644.
 * No symlink is followed on the way. path must satisfy
 * args_valid_sandbox_path. Returns 0 or -errno. */
int copyin_place(int src_fd, const char *path, struct mags_err *err);

#endif
