/*
 * fdutil.c - close-all-but and fd moving helpers (see fdutil.h).
 */
#include "common/fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/banned.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int close_span(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return 0;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Pre-5.9 kernel: walk up to the fd limit. */
	struct rlimit rl;
	unsigned max = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < max)
		max = (unsigned)rl.rlim_cur;
	for (unsigned fd = lo; fd <= hi && fd < max; fd++)
		close((int)fd);
	return 0;
}

int fd_close_all_except(const int *keep, size_t n)
{
	int sorted[64];
	unsigned next = 3;
	size_t k = 0;
	int r;

	if (n > sizeof(sorted) / sizeof(sorted[0]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (keep[i] >= 3)
			sorted[k++] = keep[i];
	qsort(sorted, k, sizeof(int), cmp_int);
	for (size_t i = 0; i < k; i++) {
		if ((unsigned)sorted[i] < next)
			continue; /* duplicate */
		if ((r = close_span(next, (unsigned)sorted[i] - 1)) < 0)
			return r;
		next = (unsigned)sorted[i] + 1;
	}
	return close_span(next, UINT_MAX);
}

int fd_move(int fd, int to, int keep_on_exec)
{
	if (fd == to) {
		if (fcntl(fd, F_SETFD, keep_on_exec ? 0 : FD_CLOEXEC) < 0)
			return -errno;
		return to;
	}
	if (dup3(fd, to, keep_on_exec ? 0 : O_CLOEXEC) < 0)
		return -errno;
	close(fd);
	return to;
}
