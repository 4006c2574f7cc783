/*
 * loopdev.c - mount a disk image through a loop device (see loopdev.h).
 */
#include "magsd/loopdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/loop.h>

#include "common/util.h"
#include "common/banned.h"

/* Our own tasks take turns (flock on /dev/loop-control): otherwise
 * concurrent mounts get the same free device from LOOP_CTL_GET_FREE and all
 * but one get EBUSY, again and again while the winner's LOOP_CONFIGURE runs
 * (1,000 workspaces made at full speed: one in five failed so). Other
 * programs on the host do not take the lock, so a device taken under us is
 * retried, with a pause, for about half a second. */
#define GET_FREE_TRIES 64

/* Open /dev/loopN, making its node from sysfs if devtmpfs has none. */
static int open_loop(int n, char *path, size_t len)
{
	char sys[64];
	_cleanup_free_ char *buf = NULL;
	unsigned maj, min;
	int fd;

	snprintf(path, len, "/dev/loop%d", n);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd < 0 ? -errno : fd;
	snprintf(sys, sizeof(sys), "/sys/block/loop%d/dev", n);
	if (read_file(sys, 64, &buf) < 0 || sscanf(buf, "%u:%u", &maj, &min) != 2)
		return -ENOENT;
	if (mknod(path, S_IFBLK | 0660, makedev(maj, min)) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Bind backing to the loop device, autoclear, with direct I/O: the
 * filesystem on the device caches what it reads, and without O_DIRECT every
 * block would sit in the page cache twice, once more as the image file's
 * (3.7 MB per freshly mounted 2 GB workspace here, mostly readahead).
 * LOOP_CONFIGURE (5.8+); without direct I/O where the backing filesystem
 * cannot do it; LOOP_SET_FD and LOOP_SET_STATUS64 on older kernels.
 * -EBUSY if another process took the device first. */
static int attach(int loopfd, int backing, const char *img)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned)backing;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", img);
	if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno == EINVAL) {
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == 0)
			return 0;
	}
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	if (ioctl(loopfd, LOOP_SET_FD, backing) < 0)
		return -errno;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (ioctl(loopfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
		int e = errno;
		(void)ioctl(loopfd, LOOP_CLR_FD, 0);
		return -e;
	}
	return 0;
}

int loop_mount(const char *img, const char *mnt, const char *fstype,
	       unsigned long flags, const char *data, struct mags_err *err)
{
	char dev[32];
	int ctl, backing, loopfd = -1, r = -EBUSY;

	backing = open(img, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (backing < 0)
		return err_sys(err, errno, "open '%s'", img);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		r = err_sys(err, errno, "open /dev/loop-control");
		close(backing);
		return r;
	}
	while (flock(ctl, LOCK_EX) < 0 && errno == EINTR)
		;
	for (int i = 0; i < GET_FREE_TRIES && r == -EBUSY; i++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = -errno;
			break;
		}
		loopfd = open_loop(n, dev, sizeof(dev));
		if (loopfd < 0) {
			r = loopfd;
			break;
		}
		r = attach(loopfd, backing, img);
		if (r < 0) {
			close(loopfd);
			loopfd = -1;
		}
		/* taken by someone else: GET_FREE names the same device until
		 * their LOOP_CONFIGURE is through, which takes a while */
		if (r == -EBUSY)
			usleep(1000U * (unsigned)(i < 10 ? i + 1 : 10));
	}
	close(ctl);                          /* and its lock */
	close(backing);
	if (r < 0)
		return err_sys(err, -r, "attach '%s' to a loop device", img);
	/* The mount holds the device now; closing ours lets autoclear detach
	 * it with the last unmount, or right away if the mount failed. */
	if (mount(dev, mnt, fstype, flags, data) < 0)
		r = err_sys(err, errno, "mount %s ('%s') on '%s'", dev, img, mnt);
	close(loopfd);
	return r;
}
