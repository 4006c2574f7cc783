/*
 * fuzz_execproto.c - libFuzzer target for the exec protocol of a sandbox's
 * control socket (src/common/execproto.h). Both ends read what the other
 * controls: init parses the client's 'Q' request, 'W' and frame headers;
 * magsd parses init's frame headers and 'X' exit payloads, and init runs
 * the code of the sandbox. Input: one selector byte, then the payload.
 *   0: a frame header stream (execproto_peek)
 *   1: a 'Q' request: parse, encode, parse again, same request
 *   2: a 'W' window size: parse, encode, same bytes
 *   3: an 'X' exit payload: parse, encode, parse again, same values
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/execproto.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void fuzz_request(const char *p, size_t n)
{
	struct execproto_request a, b;
	struct mags_err err;
	char *enc;
	size_t len;

	err_clear(&err);
	if (execproto_request_parse(p, n, &a, &err) < 0) {
		CHECK(err.msg[0]);
		execproto_request_release(&a);
		return;
	}
	CHECK(a.n_env <= EXECPROTO_ENV_MAX);
	CHECK(a.timeout <= EXECPROTO_TIMEOUT_MAX);
	CHECK(a.stdin_len <= EXECPROTO_STDIN_MAX);
	if (a.op == EXECPROTO_OP_EXEC)
		CHECK(a.command && *a.command && strlen(a.command) <= EXECPROTO_COMMAND_MAX);
	if (a.tty)
		CHECK(a.rows >= 1 && a.rows <= EXECPROTO_WINSIZE_MAX && a.cols >= 1 &&
		      a.cols <= EXECPROTO_WINSIZE_MAX);
	for (size_t i = 0; i < a.n_env; i++)
		CHECK(a.env[i] && strchr(a.env[i], '='));
	enc = execproto_request_encode(&a, &len);
	CHECK(enc && len <= EXECPROTO_REQUEST_MAX + 1024 * 1024);
	err_clear(&err);
	CHECK(execproto_request_parse(enc, len, &b, &err) == 0);
	CHECK(a.op == b.op && same_str(a.command, b.command) && same_str(a.cwd, b.cwd));
	CHECK(a.timeout == b.timeout && a.tty == b.tty && a.stdin_stream == b.stdin_stream);
	CHECK(same_str(a.term, b.term));
	CHECK(a.stdin_len == b.stdin_len &&
	      (!a.stdin_len || !memcmp(a.stdin_data, b.stdin_data, a.stdin_len)));
	CHECK((a.stdin_data == NULL) == (b.stdin_data == NULL));
	CHECK(a.n_env == b.n_env);
	for (size_t i = 0; i < a.n_env; i++)
		CHECK(!strcmp(a.env[i], b.env[i]));
	if (a.tty)
		CHECK(a.rows == b.rows && a.cols == b.cols);
	free(enc);
	execproto_request_release(&b);
	execproto_request_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;

	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0: {
		/* walk a stream of frames the way a reader does */
		size_t off = 0;
		for (;;) {
			char type;
			uint32_t len;
			int r = execproto_peek(p + off, n - off, EXECPROTO_FRAME_MAX, &type, &len);
			if (r <= 0) {
				CHECK(r == 0 || r == -EPROTO || r == -E2BIG);
				CHECK(r != 0 || n - off < EXECPROTO_HDR);
				break;
			}
			CHECK(len <= EXECPROTO_FRAME_MAX);
			unsigned char hdr[EXECPROTO_HDR];
			execproto_header(hdr, type, len);
			CHECK(!memcmp(hdr, p + off, EXECPROTO_HDR));
			if (n - off - EXECPROTO_HDR < len)
				break;
			off += EXECPROTO_HDR + len;
		}
		break;
	}
	case 1:
		fuzz_request(p, n);
		break;
	case 2: {
		unsigned rows, cols;
		if (execproto_winsize_parse(p, n, &rows, &cols) == 0) {
			unsigned char w[4];
			CHECK(n == 4 && rows >= 1 && rows <= EXECPROTO_WINSIZE_MAX && cols >= 1 &&
			      cols <= EXECPROTO_WINSIZE_MAX);
			execproto_winsize_encode(w, rows, cols);
			CHECK(!memcmp(w, p, 4));
		}
		break;
	}
	case 3: {
		int code, to, code2, to2;
		size_t len;
		if (execproto_exit_parse(p, n, &code, &to) == 0) {
			char *enc = execproto_exit_encode(code, to, &len);
			CHECK(enc && execproto_exit_parse(enc, len, &code2, &to2) == 0);
			CHECK(code == code2 && !!to == !!to2);
			free(enc);
		}
		break;
	}
	}
	return 0;
}
