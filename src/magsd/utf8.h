/*
 * utf8.h - UTF-8 validation and repair. Job output is whatever bytes a
 * script printed; JSON needs valid UTF-8, so invalid sequences become
 * U+FFFD (the replacement character) on the way out.
 */
#ifndef MAGS_MAGSD_UTF8_H
#define MAGS_MAGSD_UTF8_H

#include <stddef.h>

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const char *s, size_t len);

/* A malloc'd, NUL-terminated copy with each invalid sequence replaced by
 * U+FFFD; *out_len gets its length (embedded NULs are kept). */
char *utf8_sanitize(const char *s, size_t len, size_t *out_len);

#endif
