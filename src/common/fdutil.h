/*
 * fdutil.h - file descriptor hygiene for processes that hand control to
 * less trusted code: close everything but a short list.
 */
#ifndef MAGS_COMMON_FDUTIL_H
#define MAGS_COMMON_FDUTIL_H

#include <stddef.h>

/* Close every fd >= 3 except those in keep[] (any order, duplicates and
 * values < 3 allowed). Uses close_range(2), falling back to a loop.
 * Returns 0 or -errno. */
int fd_close_all_except(const int *keep, size_t n);

/* Move fd to exactly `to` (dup3 with O_CLOEXEC unless keep_on_exec) and
 * close the old one. Returns `to` or -errno. No-op if fd == to. */
int fd_move(int fd, int to, int keep_on_exec);

/* Send msg (len bytes) on a unix socket with fd attached (SCM_RIGHTS; none
 * if fd < 0), retrying on EINTR; flags are sendmsg's besides MSG_NOSIGNAL,
 * which is always set. 0 or -errno. */
int fd_send(int sock, const void *msg, size_t len, int fd, int flags);

#endif
