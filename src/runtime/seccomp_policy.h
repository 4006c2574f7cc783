/*
 * seccomp_policy.h - the sandbox's system call filter written in
 * libseccomp's terms (what it refuses: seccomp.h).
 *
 * Used only at build time and by the tests: seccomp-gen (seccomp_gen.c,
 * run by the Makefile) compiles it to BPF once and writes the program
 * into build/gen/seccomp_bpf.h, which the runtime loads as it is; the
 * unit test compiles it again and compares, so the program the runtime
 * carries cannot drift from this policy. mags-runtime does not link it
 * (nor libseccomp).
 */
#ifndef MAGS_RUNTIME_SECCOMP_POLICY_H
#define MAGS_RUNTIME_SECCOMP_POLICY_H

#include <stddef.h>
#include <linux/filter.h>

/* Build the policy and compile it to a classic BPF program for the
 * native architecture. On success *prog is a malloc'd array of *len
 * instructions (1..BPF_MAXINSNS), owned by the caller. 0 or -errno. */
int seccomp_policy_compile(struct sock_filter **prog, size_t *len);

#endif
