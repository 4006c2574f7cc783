/* Unit tests for the exec/control protocol codec (src/common/execproto.c). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/execproto.h"

static void header_round_trip(void **state)
{
	unsigned char h[EXECPROTO_HDR];
	char type = 0;
	uint32_t len = 0;

	execproto_header(h, EXECPROTO_STDOUT, 0x01020304);
	assert_int_equal(h[0], 'O');
	assert_int_equal(h[1], 1);
	assert_int_equal(h[4], 4);
	assert_int_equal(execproto_peek(h, sizeof(h), UINT32_MAX, &type, &len), 1);
	assert_int_equal(type, 'O');
	assert_int_equal(len, 0x01020304);
}

static void peek_needs_a_whole_header_and_checks_it(void **state)
{
	unsigned char h[EXECPROTO_HDR];
	char type;
	uint32_t len;

	execproto_header(h, EXECPROTO_REQUEST, 100);
	for (size_t n = 0; n < EXECPROTO_HDR; n++)
		assert_int_equal(execproto_peek(h, n, 1000, &type, &len), 0);
	assert_int_equal(execproto_peek(h, sizeof(h), 99, &type, &len), -E2BIG);
	h[0] = 'Z';
	assert_int_equal(execproto_peek(h, sizeof(h), 1000, &type, &len), -EPROTO);
}

static int parse(const char *json, struct execproto_request *req, struct mags_err *err)
{
	return execproto_request_parse(json, strlen(json), req, err);
}

static void a_full_exec_request(void **state)
{
	struct execproto_request r;
	struct mags_err err = { 0 };

	assert_int_equal(parse("{\"command\": \"echo hi\", \"env\": {\"A\": \"1\", \"B_2\": \"x=y\"},"
			       " \"cwd\": \"/tmp\", \"timeout\": 30, \"tty\": false,"
			       " \"stdin\": \"in\\u0000put\", \"unknown\": 1}", &r, &err), 0);
	assert_int_equal(r.op, EXECPROTO_OP_EXEC);
	assert_string_equal(r.command, "echo hi");
	assert_int_equal(r.n_env, 2);
	assert_string_equal(r.env[0], "A=1");
	assert_string_equal(r.env[1], "B_2=x=y");
	assert_string_equal(r.cwd, "/tmp");
	assert_int_equal(r.timeout, 30);
	assert_false(r.tty);
	assert_int_equal(r.stdin_len, 6); /* stdin may hold NUL bytes */
	assert_memory_equal(r.stdin_data, "in\0put", 6);
	execproto_request_release(&r);
}

static void defaults(void **state)
{
	struct execproto_request r;
	struct mags_err err = { 0 };

	assert_int_equal(parse("{\"command\": \"true\"}", &r, &err), 0);
	assert_string_equal(r.cwd, EXECPROTO_DEFAULT_CWD);
	assert_int_equal(r.timeout, 0);
	assert_int_equal(r.n_env, 0);
	assert_null(r.stdin_data);
	execproto_request_release(&r);
	assert_int_equal(parse("{\"command\": \"true\", \"env\": null, \"cwd\": null}", &r, &err), 0);
	assert_string_equal(r.cwd, "/root");
	execproto_request_release(&r);
}

static void ops(void **state)
{
	struct execproto_request r;
	struct mags_err err = { 0 };

	assert_int_equal(parse("{\"op\": \"status\"}", &r, &err), 0);
	assert_int_equal(r.op, EXECPROTO_OP_STATUS);
	assert_null(r.command);
	execproto_request_release(&r);
	assert_int_equal(parse("{\"op\": \"stop\"}", &r, &err), 0);
	assert_int_equal(r.op, EXECPROTO_OP_STOP);
	execproto_request_release(&r);
	assert_int_equal(parse("{\"op\": \"exec\", \"command\": \"x\"}", &r, &err), 0);
	assert_int_equal(r.op, EXECPROTO_OP_EXEC);
	execproto_request_release(&r);
	assert_int_equal(parse("{\"op\": \"sftp\"}", &r, &err), 0);
	assert_int_equal(r.op, EXECPROTO_OP_SFTP);
	assert_null(r.command);
	execproto_request_release(&r);
}

static void interactive_requests(void **state)
{
	struct execproto_request r;
	struct mags_err err = { 0 };

	/* tty: size, TERM, and stdin always streamed */
	assert_int_equal(parse("{\"command\": \"sh\", \"tty\": true, \"rows\": 50,"
			       " \"cols\": 1000, \"term\": \"xterm-256color\"}", &r, &err), 0);
	assert_true(r.tty);
	assert_true(r.stdin_stream);
	assert_int_equal(r.rows, 50);
	assert_int_equal(r.cols, 1000);
	assert_string_equal(r.term, "xterm-256color");
	execproto_request_release(&r);
	/* defaults */
	assert_int_equal(parse("{\"command\": \"sh\", \"tty\": true}", &r, &err), 0);
	assert_int_equal(r.rows, EXECPROTO_DEFAULT_ROWS);
	assert_int_equal(r.cols, EXECPROTO_DEFAULT_COLS);
	assert_null(r.term);
	execproto_request_release(&r);
	/* pipes with streamed stdin */
	assert_int_equal(parse("{\"command\": \"cat\", \"stdin_stream\": true}", &r, &err), 0);
	assert_false(r.tty);
	assert_true(r.stdin_stream);
	assert_null(r.stdin_data);
	execproto_request_release(&r);
	assert_int_equal(parse("{\"command\": \"cat\", \"stdin_stream\": false, \"stdin\": \"x\"}",
			       &r, &err), 0);
	assert_false(r.stdin_stream);
	assert_int_equal(r.stdin_len, 1);
	execproto_request_release(&r);
}

static void window_sizes(void **state)
{
	unsigned char p[4];
	unsigned rows = 0, cols = 0;

	execproto_winsize_encode(p, 300, 1000);
	assert_memory_equal(p, "\x01\x2c\x03\xe8", 4);
	assert_int_equal(execproto_winsize_parse(p, 4, &rows, &cols), 0);
	assert_int_equal(rows, 300);
	assert_int_equal(cols, 1000);
	assert_int_equal(execproto_winsize_parse(p, 3, &rows, &cols), -EINVAL);
	assert_int_equal(execproto_winsize_parse(p, 5, &rows, &cols), -EINVAL);
	assert_int_equal(execproto_winsize_parse("\0\0\0\x50", 4, &rows, &cols), -EINVAL);
	assert_int_equal(execproto_winsize_parse("\0\x18\x03\xe9", 4, &rows, &cols), -EINVAL);
	assert_int_equal(execproto_winsize_parse("\xff\xff\xff\xff", 4, &rows, &cols), -EINVAL);
	assert_int_equal(rows, 300); /* untouched on failure */
}

static void signals(void **state)
{
	static const int ok[] = { SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGKILL, SIGUSR1,
				  SIGUSR2, SIGWINCH };
	static const int no[] = { 0, SIGSTOP, SIGCONT, SIGSEGV, SIGCHLD, SIGPIPE, SIGTSTP,
				  SIGALRM, 64, 255, -1 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(execproto_signal_allowed(ok[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(execproto_signal_allowed(no[i]));
}

static void client_frames_are_known_types(void **state)
{
	unsigned char h[EXECPROTO_HDR];
	char type;
	uint32_t len;

	for (const char *t = "IWK"; *t; t++) {
		execproto_header(h, *t, 4);
		assert_int_equal(execproto_peek(h, sizeof(h), EXECPROTO_INPUT_MAX, &type, &len), 1);
		assert_int_equal(type, *t);
	}
	execproto_header(h, EXECPROTO_INPUT, EXECPROTO_INPUT_MAX + 1);
	assert_int_equal(execproto_peek(h, sizeof(h), EXECPROTO_INPUT_MAX, &type, &len), -E2BIG);
}

static void rejects_bad_requests(void **state)
{
	static const struct { const char *json, *msg; } cases[] = {
		{ "", "invalid JSON" },
		{ "[1]", "JSON object" },
		{ "{\"command\": \"a\", \"command\": \"b\"}", "invalid JSON" },
		{ "{}", "'command'" },
		{ "{\"command\": \"\"}", "'command'" },
		{ "{\"command\": 5}", "'command'" },
		{ "{\"command\": \"a\\u0000b\"}", "'command'" },
		{ "{\"op\": \"reboot\"}", "'op'" },
		{ "{\"op\": 1}", "'op'" },
		{ "{\"command\": \"x\", \"env\": []}", "'env'" },
		{ "{\"command\": \"x\", \"env\": {\"1A\": \"v\"}}", "invalid name '1A'" },
		{ "{\"command\": \"x\", \"env\": {\"A-B\": \"v\"}}", "invalid name" },
		{ "{\"command\": \"x\", \"env\": {\"A\": 1}}", "must be a string" },
		{ "{\"command\": \"x\", \"cwd\": \"rel\"}", "'cwd'" },
		{ "{\"command\": \"x\", \"timeout\": -1}", "'timeout'" },
		{ "{\"command\": \"x\", \"timeout\": 1.5}", "'timeout'" },
		{ "{\"command\": \"x\", \"timeout\": 999999999}", "'timeout'" },
		{ "{\"command\": \"x\", \"tty\": 1}", "'tty'" },
		{ "{\"command\": \"x\", \"stdin\": 1}", "'stdin'" },
		{ "{\"command\": \"x\", \"stdin_stream\": \"yes\"}", "'stdin_stream'" },
		{ "{\"command\": \"x\", \"stdin\": \"a\", \"stdin_stream\": true}", "'stdin'" },
		{ "{\"command\": \"x\", \"stdin\": \"a\", \"tty\": true}", "'stdin'" },
		{ "{\"command\": \"x\", \"tty\": true, \"rows\": 0}", "'rows'" },
		{ "{\"command\": \"x\", \"tty\": true, \"rows\": 1001}", "'rows'" },
		{ "{\"command\": \"x\", \"tty\": true, \"cols\": -5}", "'cols'" },
		{ "{\"command\": \"x\", \"tty\": true, \"cols\": \"80\"}", "'cols'" },
		{ "{\"command\": \"x\", \"term\": \"\"}", "'term'" },
		{ "{\"command\": \"x\", \"term\": \"a b\"}", "'term'" },
		{ "{\"command\": \"x\", \"term\": \"a\\nb\"}", "'term'" },
		{ "{\"command\": \"x\", \"term\": \"\u00e9\"}", "'term'" },
		{ "{\"command\": \"x\", \"term\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", "'term'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct execproto_request r;
		struct mags_err err = { 0 };

		if (parse(cases[i].json, &r, &err) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, cases[i].json);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
		execproto_request_release(&r);
	}
}

static void limits(void **state)
{
	size_t n = EXECPROTO_COMMAND_MAX + 1;
	char *json = malloc(n + 32), *env = malloc(EXECPROTO_ENV_MAX * 16 + 64);
	struct execproto_request r;
	struct mags_err err = { 0 };
	size_t off;

	memcpy(json, "{\"command\":\"", 12);
	memset(json + 12, 'x', n);
	memcpy(json + 12 + n, "\"}", 3);
	assert_int_equal(parse(json, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
	execproto_request_release(&r);

	off = (size_t)snprintf(env, 64, "{\"command\":\"x\",\"env\":{");
	for (int i = 0; i <= EXECPROTO_ENV_MAX; i++)
		off += (size_t)snprintf(env + off, 16, "%s\"K%d\":\"v\"", i ? "," : "", i);
	memcpy(env + off, "}}", 3);
	assert_int_equal(parse(env, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "more than"));
	execproto_request_release(&r);
	free(json);
	free(env);
}

static void encode_then_parse(void **state)
{
	char *env[] = { "FOO=bar", "X=a=b" };
	struct execproto_request in = {
		.op = EXECPROTO_OP_EXEC, .command = "echo \"hi\"\n", .env = env, .n_env = 2,
		.cwd = "/tmp", .timeout = 7, .stdin_data = "abc", .stdin_len = 3,
	}, out, st = { .op = EXECPROTO_OP_STOP };
	struct mags_err err = { 0 };
	size_t len;
	char *json = execproto_request_encode(&in, &len);

	assert_int_equal(len, strlen(json));
	assert_int_equal(execproto_request_parse(json, len, &out, &err), 0);
	assert_string_equal(out.command, in.command);
	assert_int_equal(out.n_env, 2);
	assert_string_equal(out.env[1], "X=a=b");
	assert_string_equal(out.cwd, "/tmp");
	assert_int_equal(out.timeout, 7);
	assert_int_equal(out.stdin_len, 3);
	execproto_request_release(&out);
	free(json);

	json = execproto_request_encode(&st, &len);
	assert_string_equal(json, "{\"op\":\"stop\"}");
	free(json);

	st.op = EXECPROTO_OP_SFTP;
	json = execproto_request_encode(&st, &len);
	assert_string_equal(json, "{\"op\":\"sftp\"}");
	free(json);
}

static void encode_then_parse_interactive(void **state)
{
	struct execproto_request tty = {
		.command = "sh", .tty = 1, .rows = 40, .cols = 120, .term = "vt100",
	}, pipes = { .command = "cat", .stdin_stream = 1 }, out;
	struct mags_err err = { 0 };
	size_t len;
	char *json = execproto_request_encode(&tty, &len);

	assert_int_equal(execproto_request_parse(json, len, &out, &err), 0);
	assert_true(out.tty && out.stdin_stream);
	assert_int_equal(out.rows, 40);
	assert_int_equal(out.cols, 120);
	assert_string_equal(out.term, "vt100");
	execproto_request_release(&out);
	free(json);

	json = execproto_request_encode(&pipes, &len);
	assert_int_equal(execproto_request_parse(json, len, &out, &err), 0);
	assert_true(!out.tty && out.stdin_stream);
	execproto_request_release(&out);
	free(json);
}

static void exit_frames(void **state)
{
	size_t len;
	char *x = execproto_exit_encode(137, 1, &len);
	int code = -1, to = -1;

	assert_string_equal(x, "{\"exit_code\":137,\"timed_out\":true}");
	assert_int_equal(execproto_exit_parse(x, len, &code, &to), 0);
	assert_int_equal(code, 137);
	assert_int_equal(to, 1);
	free(x);
	assert_int_equal(execproto_exit_parse("{\"exit_code\":4}", 15, &code, &to), 0);
	assert_int_equal(code, 4);
	assert_int_equal(to, 0);
	assert_int_equal(execproto_exit_parse("{\"exit_code\":256}", 17, &code, &to), -EINVAL);
	assert_int_equal(execproto_exit_parse("nope", 4, &code, &to), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(peek_needs_a_whole_header_and_checks_it),
		cmocka_unit_test(a_full_exec_request),
		cmocka_unit_test(defaults),
		cmocka_unit_test(ops),
		cmocka_unit_test(rejects_bad_requests),
		cmocka_unit_test(limits),
		cmocka_unit_test(encode_then_parse),
		cmocka_unit_test(exit_frames),
		cmocka_unit_test(interactive_requests),
		cmocka_unit_test(window_sizes),
		cmocka_unit_test(signals),
		cmocka_unit_test(client_frames_are_known_types),
		cmocka_unit_test(encode_then_parse_interactive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
