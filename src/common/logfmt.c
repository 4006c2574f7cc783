/*
 * logfmt.c - parse and format job log records (see logfmt.h).
 */
#include "common/logfmt.h"

#include <errno.h>
#include <stdio.h>

#include "common/banned.h"

int logfmt_parse(const char *line, size_t len, struct logfmt_rec *rec)
{
	size_t i = 0;
	int64_t ms = 0;

	if (len == 0 || line[0] < '0' || line[0] > '9')
		return -EINVAL;
	while (i < len && line[i] >= '0' && line[i] <= '9') {
		if (ms > (INT64_MAX - 9) / 10)
			return -EINVAL;
		ms = ms * 10 + (line[i] - '0');
		i++;
	}
	if (i + 2 >= len + 1 || i + 1 >= len || line[i] != ' ')
		return -EINVAL;
	char src = line[i + 1];
	if (src != LOGFMT_STDOUT && src != LOGFMT_STDERR && src != LOGFMT_SYSTEM)
		return -EINVAL;
	i += 2;
	if (i < len) {
		if (line[i] != ' ')
			return -EINVAL;
		i++;
	}
	rec->ts_ms = ms;
	rec->src = src;
	rec->msg = line + i;
	rec->msg_len = len - i;
	return 0;
}

size_t logfmt_header(char *buf, size_t len, int64_t ts_ms, char src)
{
	int n = snprintf(buf, len, "%lld %c ", (long long)ts_ms, src);
	return n < 0 ? 0 : (size_t)n;
}

const char *logfmt_src_name(char src)
{
	switch (src) {
	case LOGFMT_STDOUT: return "stdout";
	case LOGFMT_STDERR: return "stderr";
	default: return "system";
	}
}
