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

#endif
