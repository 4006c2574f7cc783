/*
 * fdutil.c - close-all-but and fd moving helpers (see fdutil.h).
 */
#include "common/fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

int fd_send(int sock, const void *msg, size_t len, int fd, int flags)
{
	union {
		char raw[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.raw;
		mh.msg_controllen = sizeof(ctl.raw);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL | flags) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}
