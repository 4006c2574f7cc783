/* Unit tests for `mags cron add|create` arguments (src/mags/cron_args.c):
 * both spellings, -n as the cron name, required flags, the request. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mags/cron_args.h"

static char name_buf[32];

/* argv[0] is the subcommand; the request as sorted compact JSON or NULL. */
static char *req(struct mags_err *err, ...)
{
	char *argv[32];
	int argc = 0;
	struct cron_args a;
	va_list ap;
	json_t *j;
	char *text;

	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	err->msg[0] = '\0';
	if (cron_args_parse(argc, argv, &a, name_buf, sizeof(name_buf), err) != 0)
		return NULL;
	j = cron_args_request(&a);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

static void expect(const char *want, char *got)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void add_with_long_flags(void **state)
{
	struct mags_err err;

	expect("{\"cron_expression\":\"0 0 * * *\",\"enabled\":true,\"name\":\"daily-backup\","
	       "\"script\":\"tar czf /root/backup.tar.gz /root/data\"}",
	       req(&err, "add", "--name", "daily-backup", "--schedule", "0 0 * * *",
		   "tar czf /root/backup.tar.gz /root/data", NULL));
}

static void add_with_short_flags_workspace_and_p(void **state)
{
	struct mags_err err;

	/* -n is the cron name here, not an alias of -w. */
	expect("{\"cron_expression\":\"*/5 * * * *\",\"enabled\":true,\"name\":\"health-check\","
	       "\"persistent\":true,\"script\":\"curl -sf https://myapp.com/health\","
	       "\"workspace_id\":\"monitors\"}",
	       req(&err, "add", "-n", "health-check", "-s", "*/5 * * * *", "-w", "monitors",
		   "-p", "curl -sf https://myapp.com/health", NULL));
	expect("{\"cron_expression\":\"@daily\",\"enabled\":false,\"name\":\"x\",\"script\":\"ls\"}",
	       req(&err, "add", "ls", "--name=x", "--schedule=@daily", "--disabled", NULL));
}

static void add_requires_name_schedule_and_one_script(void **state)
{
	struct mags_err err;

	assert_null(req(&err, "add", "-s", "* * * * *", "ls", NULL));
	assert_non_null(strstr(err.msg, "--name is required"));
	assert_null(req(&err, "add", "-n", "x", "ls", NULL));
	assert_non_null(strstr(err.msg, "--schedule is required"));
	assert_null(req(&err, "add", "-n", "x", "-s", "* * * * *", NULL));
	assert_non_null(strstr(err.msg, "no script"));
	assert_null(req(&err, "add", "-n", "x", "-s", "* * * * *", "echo", "hi", NULL));
	assert_non_null(strstr(err.msg, "quote the script"));
	assert_null(req(&err, "add", "-x", NULL));
	assert_non_null(strstr(err.msg, "unknown option"));
}

static void create_takes_expression_then_command(void **state)
{
	struct mags_err err;
	char *r = req(&err, "create", "0 2 * * *", "echo nightly", NULL);
	json_t *j = json_loads(r, 0, NULL);

	assert_string_equal(json_string_value(json_object_get(j, "cron_expression")), "0 2 * * *");
	assert_string_equal(json_string_value(json_object_get(j, "script")), "echo nightly");
	/* A generated name: cron-<8 hex>. */
	assert_int_equal(strncmp(json_string_value(json_object_get(j, "name")), "cron-", 5), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "name"))), 13);
	json_decref(j);
	free(r);
	expect("{\"cron_expression\":\"@hourly\",\"enabled\":true,\"name\":\"n\",\"script\":\"ls\"}",
	       req(&err, "create", "--name", "n", "@hourly", "ls", NULL));
	assert_null(req(&err, "create", "@hourly", NULL));
	assert_non_null(strstr(err.msg, "mags cron create"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_with_long_flags),
		cmocka_unit_test(add_with_short_flags_workspace_and_p),
		cmocka_unit_test(add_requires_name_schedule_and_one_script),
		cmocka_unit_test(create_takes_expression_then_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
