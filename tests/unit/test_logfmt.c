/* Unit tests for the job log record format (src/common/logfmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/logfmt.h"

static void parses_a_stdout_record(void **state)
{
	const char *l = "1700000000123 o hello world";
	struct logfmt_rec r;

	assert_int_equal(logfmt_parse(l, strlen(l), &r), 0);
	assert_true(r.ts_ms == 1700000000123LL);
	assert_int_equal(r.src, 'o');
	assert_int_equal(r.msg_len, 11);
	assert_memory_equal(r.msg, "hello world", 11);
}

static void parses_an_empty_message(void **state)
{
	struct logfmt_rec r;

	assert_int_equal(logfmt_parse("5 e ", 4, &r), 0);
	assert_int_equal(r.msg_len, 0);
	assert_int_equal(logfmt_parse("5 e", 3, &r), 0);
	assert_int_equal(r.msg_len, 0);
	assert_int_equal(r.src, 'e');
}

static void rejects_garbage(void **state)
{
	struct logfmt_rec r;

	assert_int_not_equal(logfmt_parse("", 0, &r), 0);
	assert_int_not_equal(logfmt_parse("x o a", 5, &r), 0);
	assert_int_not_equal(logfmt_parse("12 x a", 6, &r), 0);
	assert_int_not_equal(logfmt_parse("12", 2, &r), 0);
	assert_int_not_equal(logfmt_parse("12 oa", 5, &r), 0);
	assert_int_not_equal(logfmt_parse("99999999999999999999999 o a", 27, &r), 0);
}

static void header_round_trips(void **state)
{
	char buf[64];
	struct logfmt_rec r;
	size_t n = logfmt_header(buf, sizeof(buf), 42, 's');

	memcpy(buf + n, "x", 2);
	assert_int_equal(logfmt_parse(buf, n + 1, &r), 0);
	assert_true(r.ts_ms == 42);
	assert_string_equal(logfmt_src_name(r.src), "system");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_a_stdout_record),
		cmocka_unit_test(parses_an_empty_message),
		cmocka_unit_test(rejects_garbage),
		cmocka_unit_test(header_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
