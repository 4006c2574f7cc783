/*
 * caps.c - reduce the sandbox to the documented capability set (caps.h).
 *
 * The bounding set is what survives execve for root: the script runs as
 * uid 0, so after exec its permitted set is (inheritable | bounding).
 * Both are set to the kept list.
 */
#include "runtime/caps.h"

#include <errno.h>
#include <stdio.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "common/util.h"
#include "common/banned.h"

static const cap_value_t kept[] = {
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

static int last_cap(void)
{
	_cleanup_free_ char *s = NULL;

	if (read_file("/proc/sys/kernel/cap_last_cap", 32, &s) > 0)
		return atoi(s);
	return CAP_LAST_CAP;
}

int caps_drop(struct mags_err *err)
{
	int last = last_cap();
	cap_t c;

	for (int cap = 0; cap <= last; cap++) {
		if (caps_kept(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return err_sys(err, errno, "drop capability %d from the bounding set", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_sys(err, errno, "clear ambient capabilities");

	c = cap_init();
	if (!c)
		return err_sys(err, errno, "cap_init");
	if (cap_set_flag(c, CAP_PERMITTED, N_KEPT, kept, CAP_SET) < 0 ||
	    cap_set_flag(c, CAP_EFFECTIVE, N_KEPT, kept, CAP_SET) < 0 ||
	    cap_set_flag(c, CAP_INHERITABLE, N_KEPT, kept, CAP_SET) < 0 ||
	    cap_set_proc(c) < 0) {
		int e = errno;
		cap_free(c);
		return err_sys(err, e, "set capabilities");
	}
	cap_free(c);
	return 0;
}
