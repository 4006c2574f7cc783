/*
 * logfmt.h - the on-disk format of a job's log, shared by the writer
 * (init inside the sandbox, through an fd opened on the host before
 * pivot_root) and the reader (magsd's logs endpoint).
 *
 * One record per line of output:
 *
 *     <unix-ms> <src> <message>\n
 *
 * <src> is one character: 'o' stdout, 'e' stderr, 's' system (magsd or
 * the runtime speaking: timeouts, truncation, set-up errors). <message> is
 * the output line without its newline, any other byte kept as produced.
 * A line longer than LOGFMT_MAX_LINE is cut into several records. The
 * format is append-only, so a reader can follow the file by offset.
 */
#ifndef MAGS_COMMON_LOGFMT_H
#define MAGS_COMMON_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

#define LOGFMT_MAX_LINE (64 * 1024)

enum logfmt_src {
	LOGFMT_STDOUT = 'o',
	LOGFMT_STDERR = 'e',
	LOGFMT_SYSTEM = 's',
};

struct logfmt_rec {
	int64_t ts_ms;
	char src;            /* enum logfmt_src */
	const char *msg;     /* points into the parsed line, not NUL-terminated */
	size_t msg_len;
};

/* Parse one record (without its trailing '\n'). 0 or -EINVAL. */
int logfmt_parse(const char *line, size_t len, struct logfmt_rec *rec);

/* Format the record header "<ms> <src> " into buf (>= 32). Returns length. */
size_t logfmt_header(char *buf, size_t len, int64_t ts_ms, char src);

/* "stdout", "stderr" or "system" for a src character. */
const char *logfmt_src_name(char src);

#endif
