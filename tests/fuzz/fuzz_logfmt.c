/*
 * fuzz_logfmt.c - libFuzzer target for logfmt_parse (src/common/logfmt.h),
 * the reader of job logs that sandboxed code writes into. Input: one
 * record without its newline. Checks that a parsed record points inside
 * the input and that header + message parse back to the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/logfmt.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct logfmt_rec rec, again;
	char hdr[64];
	size_t n;

	if (logfmt_parse(line, size, &rec) < 0)
		return 0;
	CHECK(rec.src == LOGFMT_STDOUT || rec.src == LOGFMT_STDERR || rec.src == LOGFMT_SYSTEM);
	CHECK(rec.msg >= line && rec.msg + rec.msg_len <= line + size);
	CHECK(strcmp(logfmt_src_name(rec.src), "") != 0);
	n = logfmt_header(hdr, sizeof(hdr), rec.ts_ms, rec.src);
	CHECK(n > 0 && n < sizeof(hdr));
	char *re = malloc(n + rec.msg_len + 1);
	if (!re)
		abort();
	memcpy(re, hdr, n);
	memcpy(re + n, rec.msg, rec.msg_len);
	CHECK(logfmt_parse(re, n + rec.msg_len, &again) == 0);
	CHECK(again.ts_ms == rec.ts_ms && again.src == rec.src);
	CHECK(again.msg_len == rec.msg_len && !memcmp(again.msg, rec.msg, rec.msg_len));
	free(re);
	return 0;
}
