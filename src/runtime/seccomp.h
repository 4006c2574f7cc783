/*
 * seccomp.h - the sandbox's system call filter, compiled to BPF at build
 * time from seccomp_policy.c (seccomp_policy.h).
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

#include <stddef.h>
#include <linux/filter.h>

#include "common/err.h"

/* Set no_new_privs and load the filter for the calling process and all
 * its future children. */
int seccomp_install(struct mags_err *err);

/* The built-in program: *prog points at it (static), returns its length
 * in instructions. For the test that compares it with the policy. */
size_t seccomp_program(const struct sock_filter **prog);

#endif
