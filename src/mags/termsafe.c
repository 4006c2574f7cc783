/*
 * termsafe.c - sandbox output made safe for the user's terminal (see
 * termsafe.h). A small state machine after ECMA-48's sequence shapes.
 */
#include "mags/termsafe.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

enum {
	TS_TEXT,
	TS_ESC,        /* after ESC */
	TS_CSI,        /* ESC [ ... up to a final byte */
	TS_STRING,     /* OSC, DCS, SOS, PM, APC: dropped up to ST or BEL */
	TS_STRING_ESC, /* ESC inside a string: ST is ESC '\' */
	TS_ESC_INTER,  /* ESC + intermediate bytes (charset designation, ...) */
	TS_C2,         /* 0xC2 seen: U+0080..U+009F are C1 controls */
};

/* Final bytes of the CSI sequences that are let through: colours, and the
 * cursor moves and erases that progress bars and spinners use. */
static int csi_allowed(const struct termsafe *ts, char final)
{
	if (!strchr("mABCDGK", final))
		return 0;
	for (size_t i = 2; i < ts->csi_len; i++) {
		char c = ts->csi[i];
		if (!((c >= '0' && c <= '9') || c == ';' || c == ':'))
			return 0;      /* private ('?') or intermediates: no */
	}
	return 1;
}

static int c0_allowed(unsigned char c)
{
	return c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\a';
}

size_t termsafe_filter(struct termsafe *ts, const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		switch (ts->state) {
		case TS_TEXT:
			if (c == 0x1b)
				ts->state = TS_ESC;
			else if (c == 0xc2)
				ts->state = TS_C2;
			else if (c >= 0x20 || c0_allowed(c))
				out[o++] = (char)c;
			break;
		case TS_C2:
			ts->state = TS_TEXT;
			if (c >= 0x80 && c <= 0x9f)
				break;                  /* a C1 control: dropped */
			out[o++] = (char)0xc2;
			i--;                            /* look at c again as text */
			break;
		case TS_ESC:
			if (c == '[') {
				ts->state = TS_CSI;
				ts->csi[0] = 0x1b;
				ts->csi[1] = '[';
				ts->csi_len = 2;
			} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
				ts->state = TS_STRING;
			} else if (c >= 0x20 && c <= 0x2f) {
				ts->state = TS_ESC_INTER;
			} else if (c == 0x1b) {
				ts->state = TS_ESC;
			} else {
				ts->state = TS_TEXT;    /* ESC + one byte: dropped */
			}
			break;
		case TS_ESC_INTER:
			if (c < 0x20 || c > 0x2f)
				ts->state = TS_TEXT;    /* its final byte: dropped */
			break;
		case TS_CSI:
			if (c >= 0x40 && c <= 0x7e) {
				if (csi_allowed(ts, (char)c)) {
					memcpy(out + o, ts->csi, ts->csi_len);
					o += ts->csi_len;
					out[o++] = (char)c;
				}
				ts->state = TS_TEXT;
			} else if (c >= 0x20 && c <= 0x3f) {
				if (ts->csi_len < sizeof(ts->csi))
					ts->csi[ts->csi_len++] = (char)c;
				else
					ts->csi[2] = '?';  /* too long: not allowed */
			} else {
				ts->state = TS_TEXT;    /* broken sequence: dropped */
				if (c == 0x1b)
					ts->state = TS_ESC;
			}
			break;
		case TS_STRING:
			if (c == 0x07)
				ts->state = TS_TEXT;
			else if (c == 0x1b)
				ts->state = TS_STRING_ESC;
			break;
		case TS_STRING_ESC:
			ts->state = c == '\\' ? TS_TEXT : c == 0x1b ? TS_STRING_ESC : TS_STRING;
			break;
		}
	}
	return o;
}

void termsafe_write(FILE *f, const char *buf, size_t len)
{
	static struct termsafe out_state, err_state;
	static int checked[2], filter[2];
	int k = f == stderr;
	const char *raw;

	if (!checked[k]) {
		raw = getenv("MAGS_RAW_OUTPUT");
		filter[k] = isatty(fileno(f)) && !(raw && !strcmp(raw, "1"));
		checked[k] = 1;
	}
	if (!filter[k]) {
		fwrite(buf, 1, len, f);
		return;
	}
	while (len) {
		char tmp[4096 + 64];
		size_t n = len > 4096 ? 4096 : len;

		fwrite(tmp, 1, termsafe_filter(k ? &err_state : &out_state, buf, n, tmp), f);
		buf += n;
		len -= n;
	}
}
