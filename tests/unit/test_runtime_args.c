/* Unit tests for the mags-runtime command line (src/runtime/args.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* --netns-fd: a kept namespace, only with the link it was kept for. */
static void netns_fd_needs_its_link(void **state)
{
	char *ok[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
		       "--run-dir", "/r", "--net", "nat", "--net-addr", "10.200.0.4/30",
		       "--netns-fd", "4", "--", "true" };
	char *no_addr[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			    "--run-dir", "/r", "--net", "nat", "--netns-fd", "4", "--", "true" };
	char *low[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			"--run-dir", "/r", "--net", "nat", "--net-addr", "10.200.0.4/30",
			"--netns-fd", "2", "--", "true" };
	char *pool[] = { "mags-runtime", "run", "--pool", "--id", "p", "--net", "nat",
			 "--net-addr", "10.200.0.4/30", "--netns-fd", "4" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	(void)state;
	assert_int_equal(args_parse(ARGC(ok), ok, &c, &err), 0);
	assert_int_equal(c.netns_fd, 4);
	assert_int_equal(args_parse(ARGC(pool), pool, &c, &err), 0);
	assert_int_equal(c.netns_fd, 4);
	assert_true(args_parse(ARGC(no_addr), no_addr, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "--netns-fd"));
	err.msg[0] = '\0';
	assert_true(args_parse(ARGC(low), low, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "netns-fd"));
}

static void minimal_run_gets_the_defaults(void **state)
{
	char *argv[] = { "mags-runtime", "run", "--id", "job1", "--rootfs", "/img",
			 "--log", "/j/log", "--run-dir", "/r/job1", "--", "echo hi" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_int_equal(args_parse(ARGC(argv), argv, &c, &err), 0);
	assert_string_equal(c.id, "job1");
	assert_string_equal(c.rootfs, "/img");
	assert_string_equal(c.log_path, "/j/log");
	assert_string_equal(c.run_dir, "/r/job1");
	assert_string_equal(c.script, "echo hi");
	assert_int_equal(c.uid_base, 100000);
	assert_int_equal(c.timeout_sec, 300);
	assert_int_equal(c.memory_mb, 512);
	assert_int_equal(c.cpu_milli, 1000);
	assert_int_equal(c.pids, 1024);
	assert_true(c.log_limit == 16ull * 1024 * 1024);
	assert_string_equal(c.hostname, "mags-vm");
	assert_int_equal(c.n_env, 0);
	assert_int_equal(c.netns_fd, -1);
}

static void every_option_in_both_spellings(void **state)
{
	char *argv[] = { "mags-runtime", "run", "--id=j", "--rootfs", "/i", "--log=/l",
			 "--run-dir", "/r", "--uid-base", "165536", "--timeout=0",
			 "--memory-mb", "64", "--cpus=2", "--pids", "10",
			 "--log-limit", "4096", "--hostname=box", "--env", "A=1",
			 "--env=B=x=y", "--", "" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_int_equal(args_parse(ARGC(argv), argv, &c, &err), 0);
	assert_int_equal(c.uid_base, 165536);
	assert_int_equal(c.timeout_sec, 0);
	assert_int_equal(c.memory_mb, 64);
	assert_int_equal(c.cpu_milli, 2000);
	assert_int_equal(c.pids, 10);
	assert_true(c.log_limit == 4096);
	assert_string_equal(c.hostname, "box");
	assert_int_equal(c.n_env, 2);
	assert_string_equal(c.env[0], "A=1");
	assert_string_equal(c.env[1], "B=x=y");
	assert_string_equal(c.script, "");
}

static void fractional_cpus(void **state)
{
	static const struct { const char *in; uint32_t milli; } cases[] = {
		{ "1", 1000 }, { "0.5", 500 }, { "1.25", 1250 }, { "0.01", 10 },
		{ "1024", 1024000 }, { "2.125", 2125 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i",
				 "--log", "/l", "--run-dir", "/r", "--cpus",
				 (char *)cases[i].in, "--", "x" };
		struct runtime_config c;
		struct mags_err err = { 0 };

		assert_int_equal(args_parse(ARGC(argv), argv, &c, &err), 0);
		assert_int_equal(c.cpu_milli, cases[i].milli);
	}
}

static void a_script_file_instead_of_the_script(void **state)
{
	char *ok[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
		       "--run-dir", "/r", "--script-file", "/j/script" };
	char *both[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			 "--run-dir", "/r", "--script-file", "/j/script", "--", "x" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_int_equal(args_parse(ARGC(ok), ok, &c, &err), 0);
	assert_string_equal(c.script_file, "/j/script");
	assert_null(c.script);
	assert_true(args_parse(ARGC(both), both, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "not both"));
}

static void help_is_not_an_error(void **state)
{
	char *a1[] = { "mags-runtime", "--help" };
	char *a2[] = { "mags-runtime", "run", "-h" };
	struct runtime_config c;

	assert_int_equal(args_parse(2, a1, &c, NULL), 1);
	assert_int_equal(args_parse(3, a2, &c, NULL), 1);
}

/* Each case: the arguments after "run" and a word the message must hold. */
static void rejects_bad_input_with_a_message(void **state)
{
	static const struct { const char *args[8]; const char *msg; } cases[] = {
		{ { "--rootfs", "/i", "--log", "/l", "--run-dir", "/r", "--", "x" }, "missing --id" },
		{ { "--id", "a/b", "--rootfs", "/i", "--log", "/l", "--", "x" }, "invalid --id 'a/b'" },
		{ { "--id", "..", "--rootfs", "/i", "--log", "/l", "--", "x" }, "invalid --id" },
		{ { "--id", "j", "--rootfs", "rel", "--log", "/l", "--", "x" }, "absolute path" },
		{ { "--id", "j", "--rootfs", "/i", "--log", "/l", "--run-dir", "/r" }, "missing script" },
		{ { "--id", "j", "--rootfs", "/i", "--log", "/l", "--run-dir", "/r" }, "missing script" },
		{ { "--id", "j", "--memory-mb", "0", "--", "x" }, "invalid --memory-mb '0'" },
		{ { "--id", "j", "--cpus", "1x", "--", "x" }, "invalid --cpus" },
		{ { "--id", "j", "--cpus", "0", "--", "x" }, "invalid --cpus" },
		{ { "--id", "j", "--cpus", "0.001", "--", "x" }, "invalid --cpus" },
		{ { "--id", "j", "--cpus", "1.", "--", "x" }, "invalid --cpus" },
		{ { "--id", "j", "--cpus", "2000", "--", "x" }, "invalid --cpus" },
		{ { "--id", "j", "--uid-base", "0", "--", "x" }, "invalid --uid-base" },
		{ { "--id", "j", "--timeout", "-1", "--", "x" }, "invalid --timeout" },
		{ { "--id", "j", "--env", "1A=b", "--", "x" }, "invalid --env" },
		{ { "--id", "j", "--env", "NOVALUE", "--", "x" }, "invalid --env" },
		{ { "--id", "j", "--hostname", "a b", "--", "x" }, "invalid --hostname" },
		{ { "--id", "j", "--bogus", "1", "--", "x" }, "unknown option '--bogus'" },
		{ { "--id", "j", "stray", "--", "x" }, "unexpected argument 'stray'" },
		{ { "--id", "j", "--pids" }, "needs a value" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = { "mags-runtime", "run" };
		int argc = 2;
		struct runtime_config c;
		struct mags_err err = { 0 };

		for (int k = 0; k < 8 && cases[i].args[k]; k++)
			argv[argc++] = (char *)cases[i].args[k];
		assert_true(args_parse(argc, argv, &c, &err) < 0);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
}

static void rejects_other_commands_and_extra_script_words(void **state)
{
	char *a1[] = { "mags-runtime", "exec" };
	char *a2[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
		       "--run-dir", "/r", "--", "echo", "hi" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_true(args_parse(2, a1, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "unknown command 'exec'"));
	assert_true(args_parse(ARGC(a2), a2, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "too many arguments"));
}

static void env_is_bounded(void **state)
{
	char *argv[2 + 2 * (RUNTIME_ENV_MAX + 1) + 2];
	int argc = 0;
	struct runtime_config c;
	struct mags_err err = { 0 };

	argv[argc++] = "mags-runtime";
	argv[argc++] = "run";
	for (int i = 0; i <= RUNTIME_ENV_MAX; i++) {
		argv[argc++] = "--env";
		argv[argc++] = "K=v";
	}
	argv[argc++] = "--";
	argv[argc++] = "x";
	assert_true(args_parse(argc, argv, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "too many --env"));
}

static void workspace_layers_and_uploads(void **state)
{
	char *argv[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			 "--run-dir", "/r", "--upper", "/ws/mnt", "--lower", "/snap/a",
			 "--lower=/snap/b", "--copy-in", "/up/f1:/root/data.csv",
			 "--copy-in=/up/f1:/uploads/data.csv", "--", "x" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_int_equal(args_parse(ARGC(argv), argv, &c, &err), 0);
	assert_string_equal(c.upper, "/ws/mnt");
	assert_int_equal(c.n_lower, 2);
	assert_string_equal(c.lower[0], "/snap/a");   /* topmost first */
	assert_string_equal(c.lower[1], "/snap/b");
	assert_int_equal(c.n_copyin, 2);
	assert_int_equal(c.copyin[0].host_len, strlen("/up/f1"));
	assert_memory_equal(c.copyin[0].host, "/up/f1", 6);
	assert_string_equal(c.copyin[0].path, "/root/data.csv");
	assert_string_equal(c.copyin[1].path, "/uploads/data.csv");
	assert_false(c.keep_alive);
	assert_null(c.control);
}

static void long_lived_options(void **state)
{
	char *argv[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			 "--run-dir", "/r", "--keep-alive", "--control", "/run/j/ctl",
			 "--state-file=/run/j/state", "--", "x" };
	char *bad[] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l",
			"--run-dir", "/r", "--keep-alive=1", "--", "x" };
	struct runtime_config c;
	struct mags_err err = { 0 };

	assert_int_equal(args_parse(ARGC(argv), argv, &c, &err), 0);
	assert_true(c.keep_alive);
	assert_string_equal(c.control, "/run/j/ctl");
	assert_string_equal(c.state_file, "/run/j/state");
	assert_true(args_parse(ARGC(bad), bad, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "takes no value"));
}

static void sandbox_paths(void **state)
{
	static const char *const ok[] = {
		"/root/data.csv", "/uploads/x", "/a", "/opt/my tool/v", "/devices/x",
		"/procfs", "/root/..x", "/root/.hidden",
	};
	static const char *const bad[] = {
		"", "/", "root/x", "/root/", "/root//x", "/root/./x", "/root/../etc/x",
		"/..", "/proc", "/proc/self/mem", "/sys/x", "/dev/shm/x", "/dev",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!args_valid_sandbox_path(ok[i]))
			fail_msg("'%s' refused", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (args_valid_sandbox_path(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

static void rejects_bad_layers_and_uploads(void **state)
{
	static const struct { const char *args[4]; const char *msg; } cases[] = {
		{ { "--upper", "ws" }, "invalid --upper 'ws'" },
		{ { "--lower", "rel/snap" }, "invalid --lower" },
		{ { "--copy-in", "/f" }, "invalid --copy-in" },
		{ { "--copy-in", "/f:root/x" }, "invalid --copy-in" },
		{ { "--copy-in", "f:/root/x" }, "invalid --copy-in" },
		{ { "--copy-in", ":/root/x" }, "invalid --copy-in" },
		{ { "--copy-in", "/f:/root/../etc/passwd" }, "invalid --copy-in" },
		{ { "--copy-in", "/f:/proc/1/mem" }, "invalid --copy-in" },
		{ { "--control", "/a/very/long/path/that/does/not/fit/into/sun_path/"
				 "because/it/is/longer/than/one/hundred/and/seven/bytes/"
				 "which/is/the/limit/of/a/unix/socket/path/x" },
		  "longer than 107" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = { "mags-runtime", "run", "--id", "j", "--rootfs", "/i",
				   "--log", "/l", "--run-dir", "/r" };
		int argc = 10;
		struct runtime_config c;
		struct mags_err err = { 0 };

		for (int k = 0; k < 4 && cases[i].args[k]; k++)
			argv[argc++] = (char *)cases[i].args[k];
		argv[argc++] = "--";
		argv[argc++] = "x";
		assert_true(args_parse(argc, argv, &c, &err) < 0);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
}

static void layers_and_uploads_are_bounded(void **state)
{
	char *argv[2 + 8 + 2 * (RUNTIME_COPYIN_MAX + 1) + 2];
	int argc = 0;
	struct runtime_config c;
	struct mags_err err = { 0 };
	char *lo[2 + 8 + 2 * (RUNTIME_LOWER_MAX + 1) + 2];
	int loc = 0;

	argv[argc++] = "mags-runtime";
	argv[argc++] = "run";
	for (int i = 0; i <= RUNTIME_COPYIN_MAX; i++) {
		argv[argc++] = "--copy-in";
		argv[argc++] = "/f:/root/f";
	}
	argv[argc++] = "--";
	argv[argc++] = "x";
	assert_true(args_parse(argc, argv, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "too many --copy-in"));

	lo[loc++] = "mags-runtime";
	lo[loc++] = "run";
	for (int i = 0; i <= RUNTIME_LOWER_MAX; i++) {
		lo[loc++] = "--lower";
		lo[loc++] = "/snap";
	}
	lo[loc++] = "--";
	lo[loc++] = "x";
	assert_true(args_parse(loc, lo, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "too many --lower"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_run_gets_the_defaults),
		cmocka_unit_test(netns_fd_needs_its_link),
		cmocka_unit_test(every_option_in_both_spellings),
		cmocka_unit_test(fractional_cpus),
		cmocka_unit_test(a_script_file_instead_of_the_script),
		cmocka_unit_test(help_is_not_an_error),
		cmocka_unit_test(rejects_bad_input_with_a_message),
		cmocka_unit_test(rejects_other_commands_and_extra_script_words),
		cmocka_unit_test(env_is_bounded),
		cmocka_unit_test(workspace_layers_and_uploads),
		cmocka_unit_test(long_lived_options),
		cmocka_unit_test(sandbox_paths),
		cmocka_unit_test(rejects_bad_layers_and_uploads),
		cmocka_unit_test(layers_and_uploads_are_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
