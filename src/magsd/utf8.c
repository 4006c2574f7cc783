/*
 * utf8.c - UTF-8 validation and repair (see utf8.h), following the
 * "maximal subpart" practice of Unicode §3.9: each maximal invalid prefix
 * becomes one U+FFFD.
 */
#include "magsd/utf8.h"

#include <string.h>

#include "common/util.h"
#include "common/banned.h"

/* Length of the valid sequence at s (1..4), or 0 if invalid; *bad_len gets
 * how many bytes the invalid prefix spans (>= 1). */
static size_t seq_len(const unsigned char *s, size_t len, size_t *bad_len)
{
	unsigned char c = s[0];
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xBF;

	*bad_len = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if (i >= len)
			return 0;
		unsigned char b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
			return 0;
		*bad_len = i + 1;
	}
	return n;
}

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, bad;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = seq_len(p + i, len - i, &bad);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

char *utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(len * 3 + 1);  /* one byte may become 3 */
	size_t i = 0, o = 0, bad;

	while (i < len) {
		size_t n = seq_len(p + i, len - i, &bad);
		if (n) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += bad;
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}
