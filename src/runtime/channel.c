/*
 * channel.c - set-up messages between supervisor and sandbox, with fd
 * passing (SCM_RIGHTS) for the image mount (see channel.h).
 */
#include "runtime/channel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/fdutil.h"

#include "common/banned.h"

int channel_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	return 0;
}

int channel_send(int sock, char kind, const char *msg, int fd)
{
	char buf[CHANNEL_MSG_MAX + 1];
	size_t n = msg ? strlen(msg) : 0;

	if (n > CHANNEL_MSG_MAX)
		n = CHANNEL_MSG_MAX;
	buf[0] = kind;
	if (n)
		memcpy(buf + 1, msg, n);
	return fd_send(sock, buf, n + 1, fd, 0);
}

int channel_recv(int sock, char *kind, char *msg, size_t len, int *fd)
{
	char buf[CHANNEL_MSG_MAX + 1];
	union {
		char raw[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.raw;
	mh.msg_controllen = sizeof(ctl.raw);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0)
		return 0;
	*kind = buf[0];
	if (len > 0) {
		size_t m = (size_t)n - 1;
		if (m > len - 1)
			m = len - 1;
		memcpy(msg, buf + 1, m);
		msg[m] = '\0';
	}
	return 1;
}
