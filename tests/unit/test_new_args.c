/* Unit tests for `mags new` (src/mags/new_args.c): the flags of contract
 * §1.5 and the exact sandbox request they make. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mags/new_args.h"

/* Parse a NULL-terminated list (after "new"); the request as compact JSON
 * in key order, or NULL with err. */
static char *req(struct new_args *a, struct mags_err *err, ...)
{
	char *argv[32] = { "new" };
	int argc = 1;
	va_list ap;
	json_t *j;
	char *text;

	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	err->msg[0] = '\0';
	if (new_args_parse(argc, argv, a, err) != 0 || !a->name)
		return NULL;
	j = new_args_request(a);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return text;
}

static void expect(const char *want, char *got)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void a_plain_sandbox_is_local_disk(void **state)
{
	struct new_args a;
	struct mags_err err;

	unsetenv("MAGS_NEW_TIMEOUT");
	expect("{\"script\":\"sleep infinity\",\"type\":\"inline\",\"persistent\":true,"
	       "\"name\":\"myvm\",\"workspace_id\":\"myvm\","
	       "\"startup_command\":\"sleep infinity\",\"no_sync\":true}",
	       req(&a, &err, "myvm", NULL));
	assert_false(a.persistent);
	assert_int_equal(a.wait_s, 30);
	assert_int_equal(a.port, 8080);
}

static void p_syncs_and_flags_may_follow_the_name(void **state)
{
	struct new_args a;
	struct mags_err err;

	expect("{\"script\":\"sleep infinity\",\"type\":\"inline\",\"persistent\":true,"
	       "\"name\":\"myvm\",\"workspace_id\":\"myvm\","
	       "\"startup_command\":\"sleep infinity\",\"no_sync\":false}",
	       req(&a, &err, "myvm", "-p", NULL));
	expect("{\"script\":\"sleep infinity\",\"type\":\"inline\",\"persistent\":true,"
	       "\"name\":\"v\",\"workspace_id\":\"v\","
	       "\"startup_command\":\"sleep infinity\",\"no_sync\":false}",
	       req(&a, &err, "--persistent", "v", NULL));
}

static void base_disk_no_sleep_and_startup_are_sent(void **state)
{
	struct new_args a;
	struct mags_err err;

	expect("{\"script\":\"sleep infinity\",\"type\":\"inline\",\"persistent\":true,"
	       "\"name\":\"fork\",\"workspace_id\":\"fork\","
	       "\"startup_command\":\"python3 -m http.server\",\"no_sync\":true,"
	       "\"base_workspace_id\":\"golden\",\"disk_gb\":5,\"no_sleep\":true}",
	       req(&a, &err, "fork", "--base", "golden", "--disk", "5", "--no-sleep",
		   "--startup-command", "python3 -m http.server", NULL));
	expect("{\"script\":\"sleep infinity\",\"type\":\"inline\",\"persistent\":true,"
	       "\"name\":\"dev\",\"workspace_id\":\"dev\","
	       "\"startup_command\":\"sleep infinity\",\"no_sync\":true,\"idle_timeout\":120}",
	       req(&a, &err, "dev", "--idle-timeout", "120", NULL));
	assert_null(req(&a, &err, "dev", "--idle-timeout=0", NULL));
	assert_non_null(strstr(err.msg, "--idle-timeout"));
}

static void disk_is_parsed_like_parseint(void **state)
{
	struct new_args a;
	struct mags_err err;
	char *r;

	/* "5GB" -> 5 (leading digits); "abc" and "0" -> not sent. */
	r = req(&a, &err, "x", "--disk", "5GB", NULL);
	assert_non_null(strstr(r, "\"disk_gb\":5"));
	free(r);
	r = req(&a, &err, "x", "--disk", "abc", NULL);
	assert_null(strstr(r, "disk_gb"));
	free(r);
	r = req(&a, &err, "x", "--disk", "0", NULL);
	assert_null(strstr(r, "disk_gb"));
	free(r);
}

static void url_port_and_wait(void **state)
{
	struct new_args a;
	struct mags_err err;

	free(req(&a, &err, "web", "--url", "--port", "3000", "--wait", "90", NULL));
	assert_true(a.url);
	assert_int_equal(a.port, 3000);
	assert_int_equal(a.wait_s, 90);
	setenv("MAGS_NEW_TIMEOUT", "5", 1);
	free(req(&a, &err, "web", NULL));
	assert_int_equal(a.wait_s, 5);
	unsetenv("MAGS_NEW_TIMEOUT");
}

static void no_name_is_left_to_the_caller(void **state)
{
	char *argv[] = { "new", "-p", NULL };
	struct new_args a;
	struct mags_err err = { 0 };

	assert_int_equal(new_args_parse(2, argv, &a, &err), 0);
	assert_null(a.name);
	assert_true(a.persistent);
}

static void misuse_is_an_error(void **state)
{
	struct new_args a;
	struct mags_err err;

	assert_null(req(&a, &err, "x", "--frob", NULL));
	assert_non_null(strstr(err.msg, "--frob"));
	assert_null(req(&a, &err, "x", "y", NULL));
	assert_non_null(strstr(err.msg, "'y'"));
	assert_null(req(&a, &err, "x", "--port", "0", NULL));
	assert_non_null(strstr(err.msg, "--port"));
	assert_null(req(&a, &err, "x", "--base", NULL));
	assert_non_null(strstr(err.msg, "needs a value"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_plain_sandbox_is_local_disk),
		cmocka_unit_test(p_syncs_and_flags_may_follow_the_name),
		cmocka_unit_test(base_disk_no_sleep_and_startup_are_sent),
		cmocka_unit_test(disk_is_parsed_like_parseint),
		cmocka_unit_test(url_port_and_wait),
		cmocka_unit_test(no_name_is_left_to_the_caller),
		cmocka_unit_test(misuse_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
