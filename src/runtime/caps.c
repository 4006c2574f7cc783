/*
 * caps.c - reduce the sandbox to the documented capability set (caps.h).
 *
 * The bounding set is what survives execve for root: the script runs as
 * uid 0, so after exec its permitted set is (inheritable | bounding).
 * Both are set to the kept list. The sets are written with the raw
 * capset system call (version 3: two 32-bit words per set) rather than
 * libcap, which the runtime would link for this one call.
 */
#include "runtime/caps.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/banned.h"

static const int kept[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL,
	CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
	CAP_SYS_CHROOT, CAP_MKNOD, CAP_AUDIT_WRITE, CAP_SETFCAP,
};
#define N_KEPT ((int)(sizeof(kept) / sizeof(kept[0])))

bool caps_kept(int cap)
{
	for (int i = 0; i < N_KEPT; i++)
		if (kept[i] == cap)
			return true;
	return false;
}

/* Permitted, effective and inheritable all become the kept set. */
static int set_kept(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0, /* this thread */
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	for (int i = 0; i < N_KEPT; i++) {
		uint32_t bit = CAP_TO_MASK(kept[i]);
		struct __user_cap_data_struct *d = &data[CAP_TO_INDEX(kept[i])];

		d->permitted |= bit;
		d->effective |= bit;
		d->inheritable |= bit;
	}
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int caps_drop(struct mags_err *err)
{
	int r;

	/* Every capability the kernel knows, a kernel newer than these
	 * headers too: it answers EINVAL past its last one (what
	 * /proc/sys/kernel/cap_last_cap says, without reading it). */
	for (int cap = 0; cap < 32 * _LINUX_CAPABILITY_U32S_3; cap++) {
		if (caps_kept(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			return err_sys(err, errno, "drop capability %d from the bounding set", cap);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_sys(err, errno, "clear ambient capabilities");

	if ((r = set_kept()) < 0)
		return err_sys(err, -r, "set capabilities");
	return 0;
}
