/*
 * net.c - network namespace set-up (see net.h). Job-independent.
 */
#include "runtime/net.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

int net_loopback_up(struct mags_err *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (fd < 0)
		return err_sys(err, errno, "socket");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "get flags of 'lo'");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "bring up 'lo'");
	return 0;
}

int net_allow_ping(struct mags_err *err)
{
	/* Only ids mapped in the sandbox's user namespace are accepted. */
	int r = write_file("/proc/sys/net/ipv4/ping_group_range", "0 65535");

	if (r < 0)
		return err_sys(err, -r, "write 'net.ipv4.ping_group_range'");
	return 0;
}
