/* Unit tests for UTF-8 validation and repair (src/magsd/utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/utf8.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

static void valid_text_is_recognised(void **state)
{
	assert_true(V(""));
	assert_true(V("plain ascii"));
	assert_true(V("caf\xc3\xa9"));               /* é */
	assert_true(V("\xe2\x82\xac"));              /* € */
	assert_true(V("\xf0\x9f\x98\x80"));          /* 😀 */
	assert_true(V("\xf4\x8f\xbf\xbf"));          /* U+10FFFF */
	assert_true(utf8_valid("a\0b", 3));          /* NUL is valid UTF-8 */
}

static void invalid_text_is_recognised(void **state)
{
	assert_false(V("\xff"));
	assert_false(V("\xc3"));                     /* truncated */
	assert_false(V("\xc0\xaf"));                 /* overlong / */
	assert_false(V("\xe0\x80\xaf"));             /* overlong */
	assert_false(V("\xed\xa0\x80"));             /* surrogate */
	assert_false(V("\xf4\x90\x80\x80"));         /* > U+10FFFF */
	assert_false(V("\x80"));                     /* lone continuation */
}

static void sanitize_replaces_each_bad_sequence(void **state)
{
	size_t n;
	char *s;

	s = utf8_sanitize("a\xff" "b", 3, &n);
	assert_string_equal(s, "a\xef\xbf\xbd" "b");
	assert_int_equal(n, 5);
	free(s);
	/* a truncated 3-byte sequence is one replacement, then the next char */
	s = utf8_sanitize("\xe2\x82" "x", 3, &n);
	assert_string_equal(s, "\xef\xbf\xbd" "x");
	free(s);
	/* good text passes unchanged */
	s = utf8_sanitize("caf\xc3\xa9", 5, &n);
	assert_string_equal(s, "caf\xc3\xa9");
	free(s);
	/* a trailing lead byte at the very end */
	s = utf8_sanitize("ok\xf0", 3, &n);
	assert_string_equal(s, "ok\xef\xbf\xbd");
	assert_true(utf8_valid(s, n));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_text_is_recognised),
		cmocka_unit_test(invalid_text_is_recognised),
		cmocka_unit_test(sanitize_replaces_each_bad_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
