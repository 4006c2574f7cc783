/*
 * seccomp.c - load the system call filter (see seccomp.h).
 *
 * The BPF program is compiled from seccomp_policy.c at build time
 * (seccomp-gen writes build/gen/seccomp_bpf.h): the runtime neither builds
 * it nor links libseccomp, it only hands the array to the kernel.
 *
 * Loaded in the sandbox's init after every mount is in place: init itself
 * runs filtered, so nothing in the sandbox ever runs without it.
 */
#include "runtime/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "common/banned.h"

#include "seccomp_bpf.h" /* build/gen: static const struct sock_filter seccomp_bpf[] */

_Static_assert(sizeof(seccomp_bpf) / sizeof(seccomp_bpf[0]) <= BPF_MAXINSNS,
	       "the seccomp program is longer than the kernel accepts");

size_t seccomp_program(const struct sock_filter **prog)
{
	*prog = seccomp_bpf;
	return sizeof(seccomp_bpf) / sizeof(seccomp_bpf[0]);
}

int seccomp_install(struct mags_err *err)
{
	/* The kernel copies the program; it does not write to it. */
	struct sock_fprog prog = {
		.len = sizeof(seccomp_bpf) / sizeof(seccomp_bpf[0]),
		.filter = (struct sock_filter *)seccomp_bpf,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(err, errno, "set no_new_privs");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return err_sys(err, errno, "load seccomp filter");
	return 0;
}
