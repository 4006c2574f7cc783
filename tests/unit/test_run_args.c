/* Unit tests for `mags run` options (src/mags/run_args.c): flags to the
 * job request, the contract §1.20 constraints, and script files (D16). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mags/run_args.h"

/* Parse a NULL-terminated argument list (after "run"), check it and
 * return the request as compact JSON with sorted keys, or the error. */
static char *run(struct mags_err *err, ...)
{
	char *argv[32] = { "run" };
	int argc = 1;
	struct run_args a;
	va_list ap;
	json_t *req;
	char *text;

	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	err->msg[0] = '\0';
	if (run_args_parse(argc, argv, &a, err) != 0 || run_args_check(&a, err) != 0)
		return NULL;
	req = run_args_request(&a, a.script, false);
	text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(req);
	return text;
}

static void expect(const char *want, char *got)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void expect_error(const char *want, struct mags_err *err, char *got)
{
	assert_null(got);
	assert_non_null(strstr(err->msg, want));
}

static void a_plain_script_is_inline(void **state)
{
	struct mags_err err;

	expect("{\"script\":\"echo Hello World\",\"type\":\"inline\"}",
	       run(&err, "echo Hello World", NULL));
}

static void workspace_sets_name_and_workspace_id(void **state)
{
	struct mags_err err;

	expect("{\"name\":\"analysis\",\"script\":\"ls\",\"type\":\"inline\",\"workspace_id\":\"analysis\"}",
	       run(&err, "-w", "analysis", "ls", NULL));
	expect("{\"name\":\"x\",\"script\":\"ls\",\"type\":\"inline\",\"workspace_id\":\"x\"}",
	       run(&err, "--name=x", "ls", NULL));
	expect("{\"name\":\"y\",\"script\":\"ls\",\"type\":\"inline\",\"workspace_id\":\"y\"}",
	       run(&err, "-n", "y", "ls", NULL));
}

static void maps_every_flag(void **state)
{
	struct mags_err err;

	expect("{\"base_workspace_id\":\"golden\",\"disk_gb\":5,\"name\":\"webapp\","
	       "\"no_sleep\":true,\"persistent\":true,\"script\":\"python3 -m http.server 8080\","
	       "\"startup_command\":\"python3 -m http.server 8080\",\"timeout\":60,"
	       "\"type\":\"inline\",\"workspace_id\":\"webapp\"}",
	       run(&err, "-w", "webapp", "-p", "--no-sleep", "--url", "--port", "8080",
		   "--base", "golden", "--disk", "5", "--timeout", "60",
		   "--startup-command", "python3 -m http.server 8080",
		   "python3 -m http.server 8080", NULL));
}

static void accepts_the_003_spellings(void **state)
{
	struct mags_err err;

	expect("{\"base_workspace_id\":\"g\",\"no_sleep\":true,\"persistent\":true,"
	       "\"script\":\"s\",\"startup_command\":\"up\",\"timeout\":9,\"type\":\"inline\"}",
	       run(&err, "--persist", "--always-on", "--from", "g", "--startup", "up",
		   "--timeout", "9", "--ssh", "s", NULL));
}

static void options_may_follow_the_script(void **state)
{
	struct mags_err err;

	expect("{\"persistent\":true,\"script\":\"ls\",\"type\":\"inline\"}",
	       run(&err, "ls", "-p", NULL));
	expect("{\"script\":\"-x\",\"type\":\"inline\"}", run(&err, "--", "-x", NULL));
}

static void ephemeral_sends_no_workspace(void **state)
{
	struct mags_err err;

	expect("{\"script\":\"uname -a\",\"type\":\"inline\"}",
	       run(&err, "-e", "uname -a", NULL));
}

static void enforces_the_constraints(void **state)
{
	struct mags_err err;

	expect_error("-e/--ephemeral cannot be combined with -w", &err,
		     run(&err, "-e", "-w", "x", "ls", NULL));
	expect_error("-e/--ephemeral cannot be combined with -w", &err,
		     run(&err, "-e", "-n", "x", "ls", NULL));
	expect_error("-e/--ephemeral cannot be combined with -p", &err,
		     run(&err, "-e", "-p", "ls", NULL));
	expect_error("-e/--ephemeral cannot be combined with --base", &err,
		     run(&err, "--ephemeral", "--base", "g", "ls", NULL));
	expect_error("--no-sleep requires -p", &err, run(&err, "--no-sleep", "ls", NULL));
	expect_error("--url requires -p", &err, run(&err, "--url", "ls", NULL));
	expect_error("--idle-timeout requires -p", &err,
		     run(&err, "--idle-timeout", "60", "ls", NULL));
	expect_error("invalid value '0' for --idle-timeout", &err,
		     run(&err, "-p", "--idle-timeout", "0", "ls", NULL));
	expect_error("invalid value '2592001' for --idle-timeout", &err,
		     run(&err, "-p", "--idle-timeout", "2592001", "ls", NULL));
	expect_error("invalid value '10m' for --idle-timeout", &err,
		     run(&err, "-p", "--idle-timeout", "10m", "ls", NULL));
	expect("{\"idle_timeout\":90,\"persistent\":true,\"script\":\"ls\",\"type\":\"inline\"}",
	       run(&err, "-p", "--idle-timeout", "90", "ls", NULL));
}

static void rejects_misuse(void **state)
{
	struct mags_err err;

	expect_error("no script given", &err, run(&err, "-p", NULL));
	expect_error("too many arguments", &err, run(&err, "ls", "/", NULL));
	expect_error("unknown option '--bogus'", &err, run(&err, "--bogus", "ls", NULL));
	expect_error("unknown option '-z'", &err, run(&err, "-z", "ls", NULL));
	expect_error("needs a value", &err, run(&err, "ls", "-w", NULL));
	expect_error("invalid value 'big' for --disk", &err, run(&err, "--disk", "big", "ls", NULL));
	expect_error("invalid value '0' for --disk", &err, run(&err, "--disk", "0", "ls", NULL));
	expect_error("invalid value '70000' for --port", &err, run(&err, "--port", "70000", "ls", NULL));
	expect_error("invalid value '-1' for --timeout", &err, run(&err, "--timeout", "-1", "ls", NULL));
	expect_error("the script is empty", &err, run(&err, "", NULL));
}

static void collects_files_and_help(void **state)
{
	char *argv[] = { "run", "-f", "a.csv", "--file", "b.json", "-p", "ls", NULL };
	char *help[] = { "run", "--help", NULL };
	struct run_args a;
	struct mags_err err;

	assert_int_equal(run_args_parse(7, argv, &a, &err), 0);
	assert_int_equal(a.nfiles, 2);
	assert_string_equal(a.files[0], "a.csv");
	assert_string_equal(a.files[1], "b.json");
	assert_int_equal(a.port, 8080);
	assert_int_equal(run_args_parse(2, help, &a, &err), 1);
}

static void a_local_file_is_sent_as_a_file_script(void **state)
{
	char path[] = "/tmp/mags-test-script-XXXXXX";
	int fd = mkstemp(path);
	char *text = NULL;
	struct mags_err err = { 0 };
	struct run_args a = { 0 };
	json_t *req;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "echo hi\n", 8), 8);
	close(fd);
	assert_int_equal(run_script_load(path, &text, &err), 1);
	assert_string_equal(text, "echo hi\n");
	req = run_args_request(&a, text, true);
	assert_string_equal(json_string_value(json_object_get(req, "type")), "file");
	assert_string_equal(json_string_value(json_object_get(req, "script")), "echo hi\n");
	json_decref(req);
	free(text);

	assert_int_equal(run_script_load("echo not a file", &text, &err), 0);
	assert_null(text);
	assert_int_equal(run_script_load("/tmp", &text, &err), 0); /* a directory */
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_plain_script_is_inline),
		cmocka_unit_test(workspace_sets_name_and_workspace_id),
		cmocka_unit_test(maps_every_flag),
		cmocka_unit_test(accepts_the_003_spellings),
		cmocka_unit_test(options_may_follow_the_script),
		cmocka_unit_test(ephemeral_sends_no_workspace),
		cmocka_unit_test(enforces_the_constraints),
		cmocka_unit_test(rejects_misuse),
		cmocka_unit_test(collects_files_and_help),
		cmocka_unit_test(a_local_file_is_sent_as_a_file_script),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
