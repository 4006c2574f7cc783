/*
 * seccomp.h - the sandbox's system call filter (libseccomp).
 *
 * Default allow, with what Docker's default profile refuses refused too:
 * the mount API old and new, namespaces (unshare, setns, clone/clone3 with
 * CLONE_NEW*), kernel modules, kexec, bpf, perf, userfaultfd, io_uring,
 * keyrings, file handles, reboot, swap, accounting, clocks, syslog,
 * quotas, port I/O, NUMA policy, packet sockets, personality other than
 * 0x0/0x8/0x20000/0x20008 (Docker also allows the 0xffffffff query),
 * and every x86_64 system call newer than the ones this list was written
 * against (numbers >= 454 fail with ENOSYS, as an
 * allow-list would make them). Only the native architecture may enter:
 * i386 and x32 system calls kill the process. clone3 fails with ENOSYS
 * (its flags live in memory a filter cannot read) so libc falls back to
 * clone, whose flags are checked.
 */
#ifndef MAGS_RUNTIME_SECCOMP_H
#define MAGS_RUNTIME_SECCOMP_H

#include "common/err.h"

/* Set no_new_privs and load the filter for the calling process and all
 * its future children. */
int seccomp_install(struct mags_err *err);

/* Build the filter and compile it to BPF now, so that seccomp_install
 * (in this process or a child forked/cloned later) only loads it: the
 * supervisor does it before the clone, a warm-pool member while parked.
 * Optional: 0 or -errno (seccomp_install then builds it itself). */
int seccomp_prepare(void);

#endif
