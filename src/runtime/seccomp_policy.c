/*
 * seccomp_policy.c - the system call filter in libseccomp's terms,
 * compiled to BPF at build time (seccomp_policy.h).
 *
 * Compiling it took ~0.35 ms of CPU in every runtime and warm-pool member
 * and made the runtime carry libseccomp; the program only depends on this
 * list, the architecture and the libseccomp version, so it is compiled
 * once by seccomp-gen and checked against a fresh compilation by
 * tests/unit/test_runtime_seccomp.c.
 */
#include "runtime/seccomp_policy.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/banned.h"

/* Refused with EPERM, like Docker's profile (or because they need a
 * capability the sandbox does not have, in which case the kernel would
 * say EPERM anyway: the filter is a second wall). */
static const char *const denied[] = {
	/* mounts and namespaces */
	"mount", "umount2", "pivot_root", "setns", "unshare",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
	"mount_setattr",
	/* the kernel itself */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "create_module", "get_kernel_syms", "query_module",
	"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "syslog",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
	"nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vhangup",
	"fanotify_init", "iopl", "ioperm", "memfd_secret",
	"sethostname", "setdomainname",
	/* io_uring bypasses this filter for the operations it runs */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* keyrings are not namespaced */
	"keyctl", "add_key", "request_key",
	/* file handles skip path checks */
	"open_by_handle_at", "name_to_handle_at",
	/* clocks are host-wide */
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	/* NUMA policy (Docker: needs CAP_SYS_NICE) */
	"mbind", "migrate_pages", "move_pages", "set_mempolicy",
	"get_mempolicy", "set_mempolicy_home_node",
};

/* The first x86_64 system call number this list does not know. */
#define FIRST_UNKNOWN_SYSCALL 454
#define LAST_NATIVE_SYSCALL   511  /* 512.. are x32 compat numbers */

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
	       const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int build(scmp_filter_ctx ctx)
{
	static const uint64_t ns_flags[] = {
		CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
		CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
	};
	int r, nr;

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a system call on this architecture */
		if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0, NULL)) < 0)
			return r;
	}

	/* clone with any CLONE_NEW* flag: one rule per flag (rules for one
	 * system call and action are OR'ed). */
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
		if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &c)) < 0)
			return r;
	}
	if ((r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL)) < 0)
		return r;

	/* personality: only Linux with UNAME26 and/or PER_LINUX32 (0x0,
	 * 0x8, 0x20000, 0x20008; Docker also allows the query 0xffffffff,
	 * which we refuse). A rule compares an argument once, so: anything
	 * above 0x20008, or any bit other than 0x8 and 0x20000 below it. */
	{
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_GT, 0x20008);
		if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, &c)) < 0)
			return r;
		for (uint64_t bit = 1; bit < 0x20000; bit <<= 1) {
			if (bit == 0x8)
				continue;
			c = (struct scmp_arg_cmp)SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit);
			if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, &c)) < 0)
				return r;
		}
	}

	/* Packet sockets see every frame of the interface. */
	{
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, AF_PACKET);
		if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, &c)) < 0)
			return r;
	}

	/* System calls added after this list: ENOSYS, as if the kernel
	 * were older, until someone reviews them. */
	for (nr = FIRST_UNKNOWN_SYSCALL; nr <= LAST_NATIVE_SYSCALL; nr++)
		if ((r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL)) < 0)
			return r;
	return 0;
}

/* Read the exported program back from the memfd it was written to. */
static int read_program(int fd, struct sock_filter **prog, size_t *len)
{
	struct stat st;
	struct sock_filter *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -EINVAL;
	p = malloc((size_t)st.st_size);
	if (!p)
		return -ENOMEM;
	if (pread(fd, p, (size_t)st.st_size, 0) != st.st_size) {
		free(p);
		return -EIO;
	}
	*prog = p;
	*len = (size_t)st.st_size / sizeof(struct sock_filter);
	return 0;
}

int seccomp_policy_compile(struct sock_filter **prog, size_t *len)
{
	/* seccomp_init adds only the native architecture: a system call
	 * from any other (int 0x80, x32) meets the bad-arch action. The
	 * default attributes otherwise: no TSYNC, LOG or SSB flags, which
	 * matches the plain PR_SET_SECCOMP the runtime loads it with. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r, fd;

	if (!ctx)
		return -ENOMEM;
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r == 0)
		r = build(ctx);
	if (r < 0)
		goto out;
	fd = memfd_create("seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r == 0)
		r = read_program(fd, prog, len);
	close(fd);
out:
	seccomp_release(ctx);
	return r;
}
