/*
 * loopdev.h - mount a disk image through a loop device, without mount(8).
 *
 * mount(8) -o loop costs an exec of a program with eight shared libraries
 * and, before it attaches, a scan of every loop device on the host for one
 * already backed by the same file: with a thousand workspaces mounted that
 * scan alone is milliseconds, per mount. Here: LOOP_CTL_GET_FREE,
 * LOOP_CONFIGURE (autoclear, so the device detaches when the filesystem's
 * last user lets go of it) and mount(2). Nothing is left attached when any
 * step fails.
 */
#ifndef MAGS_MAGSD_LOOPDEV_H
#define MAGS_MAGSD_LOOPDEV_H

#include "common/err.h"

/* Attach img to a free loop device and mount it on mnt as fstype with the
 * mount flags and data. The mount's source is "/dev/loopN". 0, or a
 * negative errno with err filled (the image is left unattached). */
int loop_mount(const char *img, const char *mnt, const char *fstype,
	       unsigned long flags, const char *data, struct mags_err *err);

#endif
