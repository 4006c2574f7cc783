/* Unit tests for reading job logs into the API shape (src/magsd/logs.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/logs.h"

static void count_rec(const struct logfmt_rec *rec, void *arg)
{
	(*(int *)arg)++;
}

static void parse_holds_back_an_unterminated_line(void **state)
{
	const char *buf = "1 o a\n2 e b\n3 o par";
	int n = 0;

	assert_int_equal(logs_parse(buf, strlen(buf), 0, count_rec, &n), 12);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(logs_parse(buf, strlen(buf), 1, count_rec, &n), strlen(buf));
	assert_int_equal(n, 3);
}

static void parse_skips_garbage_lines(void **state)
{
	const char *buf = "garbage\n\n1 o ok\n12 x bad\n";
	int n = 0;

	assert_int_equal(logs_parse(buf, strlen(buf), 0, count_rec, &n), strlen(buf));
	assert_int_equal(n, 1);
}

static void record_json_has_message_source_timestamp(void **state)
{
	struct logfmt_rec rec = { .ts_ms = 1795771453123LL, .src = 'e',
				  .msg = "bad \xff byte", .msg_len = 10 };
	json_t *o = logs_rec_json(&rec);

	assert_string_equal(json_string_value(json_object_get(o, "source")), "stderr");
	assert_string_equal(json_string_value(json_object_get(o, "message")),
			    "bad \xef\xbf\xbd byte");
	assert_string_equal(json_string_value(json_object_get(o, "timestamp")),
			    "2026-11-27T09:24:13.123Z");
	json_decref(o);
}

static void read_turns_a_file_into_the_api_shape(void **state)
{
	char dir[] = "/tmp/mags-test-logs-XXXXXX", path[128];
	json_t *out, *logs;
	struct mags_err err;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	assert_int_equal(logs_read(path, 1 << 20, 1, &out, &err), 0);   /* missing = empty */
	assert_int_equal(json_array_size(json_object_get(out, "logs")), 0);
	json_decref(out);

	f = fopen(path, "w");
	fputs("1000 o hello\n1001 e \xc3\x28oops\n1002 s [log truncated]\n1003 o tail", f);
	fclose(f);
	assert_int_equal(logs_read(path, 1 << 20, 0, &out, &err), 0);
	logs = json_object_get(out, "logs");
	assert_int_equal(json_array_size(logs), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 0), "message")),
			    "hello");
	assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 2), "source")),
			    "system");
	char *s = json_dumps(out, 0);
	assert_non_null(s);   /* valid UTF-8 throughout, so it serialises */
	free(s);
	json_decref(out);
	assert_int_equal(logs_read(path, 1 << 20, 1, &out, &err), 0);
	assert_int_equal(json_array_size(json_object_get(out, "logs")), 4);
	json_decref(out);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_holds_back_an_unterminated_line),
		cmocka_unit_test(parse_skips_garbage_lines),
		cmocka_unit_test(record_json_has_message_source_timestamp),
		cmocka_unit_test(read_turns_a_file_into_the_api_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
