/*
 * termsafe.h - sandbox output made safe for the user's terminal.
 *
 * What a sandbox prints is written by code the user may not trust. Sent to
 * a terminal as is, escape sequences could set the window title, write the
 * clipboard (OSC 52), plant hyperlinks, make the terminal answer with
 * "typed" input (device status reports), remap the character set or reset
 * the screen. When the destination is a terminal, the CLI passes output
 * through this filter: text, newlines, tabs, carriage returns, backspace,
 * BEL, colours (CSI ... m) and the cursor and erase sequences progress bars
 * use (CSI n A/B/C/D/G/K) go through; every other escape sequence, control
 * character and C1 control (also its UTF-8 form) is dropped. Piped or
 * redirected output is never filtered (the bytes stay exact), nor with
 * MAGS_RAW_OUTPUT=1.
 *
 * The state carries a sequence split across writes.
 */
#ifndef MAGS_CLI_TERMSAFE_H
#define MAGS_CLI_TERMSAFE_H

#include <stddef.h>
#include <stdio.h>

struct termsafe {
	int state;
	size_t csi_len;        /* bytes of the CSI kept so far */
	char csi[32];          /* ESC [ params (only digits, ';', ':', '?') */
};

/* Filter len bytes of in into out (which has room for len + 64 bytes);
 * returns the bytes written to out. */
size_t termsafe_filter(struct termsafe *ts, const char *in, size_t len, char *out);

/* Write sandbox output to f (stdout or stderr): filtered if f is a
 * terminal and MAGS_RAW_OUTPUT is not 1, else as is. */
void termsafe_write(FILE *f, const char *buf, size_t len);

#endif
