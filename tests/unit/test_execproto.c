/* Unit tests for the exec/control protocol codec (src/common/execproto.c). */
#include <errno.h>
#include <setjmp.h>
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
