/* Unit tests for the sandbox's system call filter and capability drop
 * (src/runtime/seccomp.c, seccomp_policy.c, caps.c): the program built
 * into the runtime is the policy as libseccomp compiles it today; and
 * each behaviour test forks, installs the filter or drops capabilities in
 * the child and checks what the child may still do. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_policy.h"

/* Run fn in a child; its exit status is the number of failed checks
 * (or 100 + n if it died of signal n). */
static int in_child(int (*fn)(void))
{
	int st;
	pid_t p = fork();

	if (p == 0)
		_exit(fn());
	assert_true(p > 0);
	assert_int_equal(waitpid(p, &st, 0), p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

#define EXPECT(call, want_errno) \
	do { \
		errno = 0; \
		if ((call) != -1 || errno != (want_errno)) { \
			fprintf(stderr, "%s: errno %d, want %d\n", #call, errno, want_errno); \
			bad++; \
		} \
	} while (0)

static int filtered(void)
{
	struct mags_err err = { 0 };
	int bad = 0;

	if (seccomp_install(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 50;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		bad++;
	EXPECT(unshare(CLONE_NEWUSER), EPERM);
	EXPECT(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0), EPERM);
	EXPECT(syscall(SYS_clone3, NULL, 0), ENOSYS);
	EXPECT(syscall(SYS_mount, "x", "/", "tmpfs", 0, 0), EPERM);
	EXPECT(syscall(SYS_io_uring_setup, 1, NULL), EPERM);
	EXPECT(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
	EXPECT(syscall(SYS_bpf, 0, 0, 0), EPERM);
	EXPECT(syscall(SYS_personality, 0x0040000UL), EPERM);
	EXPECT(syscall(SYS_personality, 0xffffffffUL), EPERM);
	EXPECT(socket(AF_PACKET, SOCK_RAW, 0), EPERM);
	EXPECT(syscall(460, 0), ENOSYS);
	/* still allowed */
	if (syscall(SYS_personality, 0x20008UL) < 0 || syscall(SYS_personality, 0UL) < 0)
		bad++;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		bad++;
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	if (p < 0 || waitpid(p, NULL, 0) != p)
		bad++;
	return bad;
}

static void filter_refuses_what_docker_refuses(void **state)
{
	assert_int_equal(in_child(filtered), 0);
}

/* seccomp-gen compiled the policy at build time; compiled again now
 * (same libseccomp, same kernel answers to its feature probes) it must
 * give the very same instructions, or the runtime carries a filter that
 * is not the policy in seccomp_policy.c. */
static void the_built_in_program_is_the_policy(void **state)
{
	const struct sock_filter *built;
	struct sock_filter *fresh;
	size_t n_built = seccomp_program(&built), n_fresh;

	assert_int_equal(seccomp_policy_compile(&fresh, &n_fresh), 0);
	assert_true(n_built > 0);
	assert_int_equal(n_built, n_fresh);
	for (size_t i = 0; i < n_fresh; i++) {
		if (memcmp(&built[i], &fresh[i], sizeof(fresh[i])) != 0)
			fail_msg("instruction %zu: built in { 0x%04x, %u, %u, 0x%08x }, "
				 "policy { 0x%04x, %u, %u, 0x%08x }", i, built[i].code,
				 built[i].jt, built[i].jf, built[i].k, fresh[i].code,
				 fresh[i].jt, fresh[i].jf, fresh[i].k);
	}
	free(fresh);
}

static int i386_entry(void)
{
	struct mags_err err = { 0 };
	long r;

	if (seccomp_install(&err) < 0)
		return 50;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory"); /* getpid */
	return 1; /* survived */
}

static int x32_entry(void)
{
	struct mags_err err = { 0 };

	if (seccomp_install(&err) < 0)
		return 50;
	syscall(39 | 0x40000000); /* x32 getpid */
	return 1;
}

static void other_architectures_are_killed(void **state)
{
	assert_int_equal(in_child(i386_entry), 100 + SIGSYS);
	assert_int_equal(in_child(x32_entry), 100 + SIGSYS);
}

/* The capability sets of this process (CapPrm, CapEff, CapInh of
 * /proc/self/status) as 64-bit masks; -1 if one is missing. */
static int own_sets(unsigned long long set[3])
{
	static const char *const name[3] = { "CapPrm:", "CapEff:", "CapInh:" };
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		for (int i = 0; i < 3; i++)
			if (strncmp(line, name[i], strlen(name[i])) == 0) {
				set[i] = strtoull(line + strlen(name[i]), NULL, 16);
				found++;
			}
	fclose(f);
	return found == 3 ? 0 : -1;
}

static int dropped(void)
{
	unsigned long long want = 0, set[3];
	struct mags_err err = { 0 };
	int bad = 0;

	if (caps_drop(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 50;
	}
	for (int c = 0; c <= 40; c++) {
		int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (in >= 0 && in != (int)caps_kept(c))
			bad++;
	}
	/* permitted, effective and inheritable: exactly the kept set */
	for (int c = 0; c < 64; c++)
		if (caps_kept(c))
			want |= 1ULL << c;
	if (own_sets(set) < 0)
		return 60;
	for (int i = 0; i < 3; i++)
		if (set[i] != want) {
			fprintf(stderr, "capability set %d: %llx, want %llx\n", i, set[i], want);
			bad++;
		}
	EXPECT(sethostname("x", 1), EPERM); /* CAP_SYS_ADMIN is gone */
	return bad;
}

static void capabilities_shrink_to_the_kept_set(void **state)
{
	if (geteuid() != 0)
		skip(); /* needs CAP_SETPCAP to drop the bounding set */
	assert_int_equal(in_child(dropped), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_built_in_program_is_the_policy),
		cmocka_unit_test(filter_refuses_what_docker_refuses),
		cmocka_unit_test(other_architectures_are_killed),
		cmocka_unit_test(capabilities_shrink_to_the_kept_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
