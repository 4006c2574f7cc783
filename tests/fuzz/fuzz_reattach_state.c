/*
 * fuzz_reattach_state.c - libFuzzer target for the runtime's state file as
 * magsd reads it back at start (reattach_state_parse, src/magsd/reattach.h).
 * The file lives in DATA_DIR/run and is written by mags-runtime, whose
 * status lines quote what the sandbox did (exit codes, errors), so the
 * parser takes any bytes. Checks the result's ranges and that the same text
 * parses the same way twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/reattach.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* 1 if line (with its '\n') starts a line of s */
static int line_present(const char *s, size_t size, const char *line, size_t len)
{
	for (size_t i = 0; i + len <= size; i++)
		if ((i == 0 || s[i - 1] == '\n') && !memcmp(s + i, line, len))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reattach_state a, b;
	char *s;
	int r;

	if (size > 65536)
		return 0;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&a, 0x5a, sizeof(a));
	r = reattach_state_parse(s, &a);
	if (r == 0) {
		char want[32];
		int wl = snprintf(want, sizeof(want), "supervisor %d\n", (int)a.pid);
		CHECK(a.pid > 0);
		/* the pid is one the file spells out, not a wrapped or clamped number */
		CHECK(line_present(s, size, want, (size_t)wl));
		CHECK(a.script_exit == -1 || (a.script_exit >= 0 && a.script_exit <= 255));
		CHECK(a.started == 0 || a.started == 1);
		CHECK(a.ended == 0 || a.ended == 1);
		CHECK(a.script_exit >= -1);
		memset(&b, 0, sizeof(b));
		CHECK(reattach_state_parse(s, &b) == 0);
		CHECK(a.pid == b.pid && a.started == b.started && a.ended == b.ended &&
		      a.script_exit == b.script_exit);
	} else {
		CHECK(r < 0);
	}
	free(s);
	return 0;
}
