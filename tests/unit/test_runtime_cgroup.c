/* Unit tests for the pure parts of the sandbox's cgroup, id maps, kept
 * capabilities and init's environment (src/runtime/cgroup.c, userns.c,
 * caps.c, init.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <cmocka.h>

#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/init.h"
#include "runtime/userns.h"

static void limits_from_the_options(void **state)
{
	struct cgroup_limits l;
	char buf[64];

	cgroup_limits_compute(&l, 512, 1000, 1024);
	assert_true(l.memory_bytes == 536870912ull);
	assert_int_equal(l.cpu_quota_us, 10000);
	assert_int_equal(l.pids, 1024);
	cgroup_format_cpu_max(buf, sizeof(buf), l.cpu_quota_us);
	assert_string_equal(buf, "10000 10000");

	cgroup_limits_compute(&l, 64, 500, 7);
	assert_int_equal(l.cpu_quota_us, 5000); /* half a CPU */

	cgroup_limits_compute(&l, 64, 10, 7);
	assert_int_equal(l.cpu_quota_us, 1000); /* the kernel's minimum */

	cgroup_limits_compute(&l, 1u << 22, 1024000, 7);
	assert_true(l.memory_bytes == 4398046511104ull); /* 4 TiB: no overflow */
	cgroup_format_cpu_max(buf, sizeof(buf), l.cpu_quota_us);
	assert_string_equal(buf, "10240000 10000");
}

static void paths_per_version(void **state)
{
	char buf[256];

	cgroup_format_path(buf, sizeof(buf), 1, "memory", "job-1");
	assert_string_equal(buf, "/sys/fs/cgroup/memory/mags/job-1");
	cgroup_format_path(buf, sizeof(buf), 2, NULL, "job-1");
	assert_string_equal(buf, "/sys/fs/cgroup/mags/job-1");
}

static void oom_kills_from_v1_and_v2_files(void **state)
{
	assert_true(cgroup_parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3);
	assert_true(cgroup_parse_oom_kills("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n") == 1);
	assert_true(cgroup_parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n") == 0);
	assert_true(cgroup_parse_oom_kills("") == 0);
}

static void usage_usec_from_v2_cpu_stat(void **state)
{
	static const char stat[] = "usage_usec 1234567\nuser_usec 1000000\n"
				   "system_usec 234567\nnr_periods 10\n";

	assert_true(cgroup_parse_key(stat, "usage_usec") == 1234567);
	assert_true(cgroup_parse_key(stat, "system_usec") == 234567);
	assert_true(cgroup_parse_key(stat, "usage") == 0);   /* whole keys only */
	assert_true(cgroup_parse_key("user_usec 5\n", "usage_usec") == 0);
}

static void one_map_line(void **state)
{
	char buf[64];

	userns_format_map(buf, sizeof(buf), 100000, 65536);
	assert_string_equal(buf, "0 100000 65536\n");
}

static void docker_default_capabilities(void **state)
{
	static const int kept[] = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID,
		CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
		CAP_SYS_CHROOT, CAP_MKNOD, CAP_AUDIT_WRITE, CAP_SETFCAP };
	int n = 0;

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		assert_true(caps_kept(kept[i]));
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		n += caps_kept(c);
	assert_int_equal(n, 13);
	assert_false(caps_kept(CAP_SYS_ADMIN));
	assert_false(caps_kept(CAP_NET_RAW));
	assert_false(caps_kept(CAP_SYS_PTRACE));
}

static void script_environment(void **state)
{
	struct runtime_config c = { 0 };
	char **env;

	c.hostname = "box";
	c.env[c.n_env++] = "FOO=bar";
	c.env[c.n_env++] = "PATH=/x";
	c.env[c.n_env++] = "FOO=baz";
	env = init_build_env(&c);
	assert_string_equal(env[0], "HOME=/root");
	assert_string_equal(env[1], "PATH=/x");
	assert_string_equal(env[2], "TERM=xterm");
	assert_string_equal(env[3], "HOSTNAME=box");
	assert_string_equal(env[4], "USER=root");
	assert_string_equal(env[5], "FOO=baz");
	assert_null(env[6]);
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

static void exit_codes(void **state)
{
	assert_int_equal(init_exit_code(3 << 8), 3);     /* exited 3 */
	assert_int_equal(init_exit_code(SIGKILL), 137);  /* killed */
	assert_int_equal(init_exit_code(SIGTERM), 143);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limits_from_the_options),
		cmocka_unit_test(paths_per_version),
		cmocka_unit_test(oom_kills_from_v1_and_v2_files),
		cmocka_unit_test(usage_usec_from_v2_cpu_stat),
		cmocka_unit_test(one_map_line),
		cmocka_unit_test(docker_default_capabilities),
		cmocka_unit_test(script_environment),
		cmocka_unit_test(exit_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
