/* Unit tests for upload name sanitising (src/magsd/files.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/files.h"

static void check(const char *in, const char *want)
{
	char out[FILES_NAME_MAX + 1];

	files_sanitize_name(in, out);
	assert_string_equal(out, want);
}

static void names_become_one_safe_component(void **state)
{
	check("data.csv", "data.csv");
	check("/etc/passwd", "passwd");
	check("../../x", "x");
	check("C:\\Users\\me\\file.txt", "file.txt");
	check("dir/", "upload");
	check("..", "upload");
	check(".", "upload");
	check("", "upload");
	check("a\nb\tc\x7f", "a_b_c_");
	check("a:b", "a_b");
	check(".bashrc", ".bashrc");
	check("h\xc3\xa9llo", "h\xc3\xa9llo");
}

static void long_names_are_cut_at_a_character(void **state)
{
	char in[600], out[FILES_NAME_MAX + 1];

	memset(in, 'a', 254);
	memcpy(in + 254, "\xc3\xa9\xc3\xa9", 4);   /* é starts at byte 254 */
	in[258] = '\0';
	files_sanitize_name(in, out);
	assert_int_equal(strlen(out), 254);
	memset(in, 'b', 599);
	in[599] = '\0';
	files_sanitize_name(in, out);
	assert_int_equal(strlen(out), FILES_NAME_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_become_one_safe_component),
		cmocka_unit_test(long_names_are_cut_at_a_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
