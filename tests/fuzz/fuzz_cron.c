/*
 * fuzz_cron.c - libFuzzer target for cron_parse and cron_next
 * (src/magsd/cron.h). Input: an expression. Checks, for what parses, that
 * every next firing is later, at second 0, and is itself the next firing
 * after the second before it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/cron.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t starts[] = {
		0, 951782400 /* 2000-02-29 */, 1798761599 /* 2026-12-31 23:59:59 */,
		4107542400 /* 2100-03-01 */, -86400,
	};
	struct cron_expr e;
	struct mags_err err;
	char *s;

	if (size > CRON_EXPR_MAX + 16)
		return 0;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (cron_parse(s, &e, &err) < 0) {
		CHECK(err.code == MAGS_E_BAD_REQUEST && err.msg[0]);
		CHECK(!strncmp(err.msg, "cron expression: ", 17));
		free(s);
		return 0;
	}
	free(s);
	CHECK(e.minutes && e.hours && e.days && e.months && e.weekdays);
	CHECK(!(e.minutes >> 60) && !(e.hours >> 24) && !(e.days & 1) &&
	      !(e.months & 1) && !(e.months >> 13) && !(e.weekdays >> 7));
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		int64_t t = starts[i];
		for (int k = 0; k < 3; k++) {
			int64_t n = cron_next(&e, t);
			if (n < 0)
				break;
			CHECK(n > t && n % 60 == 0);
			CHECK(cron_next(&e, n - 1) == n);
			t = n;
		}
	}
	return 0;
}
