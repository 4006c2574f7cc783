/* Unit tests for the job's JSON form (src/magsd/job.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/job.h"

static void unknowns_are_null(void **state)
{
	struct job j = { .id = "id1", .status = "accepted", .type = "inline",
			 .script = "echo", .created_at = 1795771453123LL, .timeout = 300 };
	json_t *o = job_to_json(&j, 0);
	static const char *const nulls[] = {
		"name", "workspace_id", "exit_code", "error_message", "started_at",
		"finished_at", "duration_ms",
	};

	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		assert_true(json_is_null(json_object_get(o, nulls[i])));
	assert_string_equal(json_string_value(json_object_get(o, "request_id")), "id1");
	assert_string_equal(json_string_value(json_object_get(o, "created_at")),
			    "2026-11-27T09:24:13.123Z");
	assert_true(json_is_false(json_object_get(o, "persistent")));
	assert_string_equal(json_string_value(json_object_get(o, "script")), "echo");
	json_decref(o);
}

static void finished_job_has_duration_and_exit_code(void **state)
{
	struct job j = { .id = "id2", .status = "completed", .type = "file",
			 .script = "x", .has_exit_code = 1, .exit_code = 0,
			 .created_at = 1000, .started_at = 2000, .finished_at = 2500 };
	json_t *o = job_to_json(&j, 0);

	assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "duration_ms")), 500);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "file");
	json_decref(o);
}

static void long_scripts_are_cut_on_a_character_boundary(void **state)
{
	/* "aé" repeated: cutting at byte 2 would split é */
	struct job j = { .id = "id3", .status = "running", .type = "inline",
			 .script = "a\xc3\xa9" "a\xc3\xa9" };
	json_t *o = job_to_json(&j, 2);

	assert_string_equal(json_string_value(json_object_get(o, "script")), "a");
	assert_true(json_is_true(json_object_get(o, "script_truncated")));
	json_decref(o);
	o = job_to_json(&j, 100);
	assert_null(json_object_get(o, "script_truncated"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unknowns_are_null),
		cmocka_unit_test(finished_job_has_duration_and_exit_code),
		cmocka_unit_test(long_scripts_are_cut_on_a_character_boundary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
