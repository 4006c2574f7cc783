/* Unit tests for following a log: NDJSON lines to events
 * (src/libmags/stream.c), and error answers to messages
 * (client_http_error in src/libmags/client.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"
#include "libmags/client.h"
#include "libmags/stream.h"

struct seen {
	char text[2048];
	int records;
	int ends;
	int stop_at; /* return 5 at this record, 0: never */
};

static int record(const struct mags_log_event *ev, void *arg)
{
	struct seen *s = arg;
	size_t n = strlen(s->text);

	if (ev->end) {
		s->ends++;
		snprintf(s->text + n, sizeof(s->text) - n, "[end %s %d%s %s]",
			 ev->status, ev->exit_code, ev->has_exit_code ? "" : "?",
			 ev->error_message ? ev->error_message : "-");
		return 0;
	}
	s->records++;
	snprintf(s->text + n, sizeof(s->text) - n, "[%s:%s]", ev->source, ev->message);
	return s->stop_at && s->records == s->stop_at ? 5 : 0;
}

static const char ndjson[] =
	"{\"message\":\"hello\",\"source\":\"stdout\",\"timestamp\":\"2026-11-27T09:12:26.123Z\"}\n"
	"\n"
	"{\"message\":\"oops \\u00e9\",\"source\":\"stderr\",\"timestamp\":\"t\"}\r\n"
	"{\"event\":\"end\",\"status\":\"error\",\"exit_code\":3,\"error_message\":\"script failed\"}\n"
	"{\"message\":\"after the end\"}\n";

static void splits_lines_however_bytes_arrive(void **state)
{
	for (size_t step = 1; step < sizeof(ndjson); step++) {
		struct seen s = { 0 };
		struct stream st;
		size_t len = strlen(ndjson);

		stream_init(&st, record, &s, NULL);
		for (size_t off = 0; off < len; off += step)
			assert_int_equal(stream_feed(&st, ndjson + off,
						     len - off < step ? len - off : step), 0);
		assert_int_equal(stream_finish(&st), 0);
		assert_true(st.got_end);
		assert_string_equal(s.text, "[stdout:hello][stderr:oops \xc3\xa9]"
					    "[end error 3 script failed]");
		stream_release(&st);
	}
}

static void a_null_exit_code_is_absent(void **state)
{
	const char *l = "{\"event\":\"end\",\"status\":\"stopped\",\"exit_code\":null,\"error_message\":null}";
	struct seen s = { 0 };
	struct stream st;

	stream_init(&st, record, &s, NULL);
	assert_int_equal(stream_feed(&st, l, strlen(l)), 0);
	assert_int_equal(s.ends, 0); /* no newline yet */
	assert_int_equal(stream_finish(&st), 0);
	assert_string_equal(s.text, "[end stopped 0? -]");
	stream_release(&st);
}

static void the_callback_can_stop_the_stream(void **state)
{
	struct seen s = { .stop_at = 1 };
	struct stream st;

	stream_init(&st, record, &s, NULL);
	assert_int_equal(stream_feed(&st, ndjson, strlen(ndjson)), 5);
	assert_int_equal(s.records, 1);
	stream_release(&st);
}

static void rejects_lines_that_are_not_objects(void **state)
{
	struct mags_err err = { 0 };
	struct stream st;

	stream_init(&st, record, &(struct seen){ 0 }, &err);
	assert_int_equal(stream_feed(&st, "[1,2]\n", 6), -EPROTO);
	assert_non_null(strstr(err.msg, "bad log line"));
	stream_release(&st);
	stream_init(&st, record, &(struct seen){ 0 }, &err);
	assert_int_equal(stream_feed(&st, "{\"message\":\n", 12), -EPROTO);
	stream_release(&st);
}

static void limits_line_length(void **state)
{
	struct mags_err err = { 0 };
	struct stream st;
	char *big = malloc(STREAM_MAX_LINE + 4096);
	int r = 0;

	memset(big, 'x', STREAM_MAX_LINE + 4096);
	stream_init(&st, record, &(struct seen){ 0 }, &err);
	for (size_t off = 0; off < STREAM_MAX_LINE + 1 && !r; off += 4096)
		r = stream_feed(&st, big + off, 4096);
	assert_int_equal(r, -EMSGSIZE);
	stream_release(&st);
	free(big);
}

static void error_answers_carry_the_servers_message(void **state)
{
	const char *b = "{\"error\":\"workspace support is not available yet\",\"code\":\"bad_request\"}";
	struct mags_err err = { 0 };

	assert_int_equal(client_http_error(400, b, strlen(b), &err), -EPROTO);
	assert_string_equal(err.msg, "workspace support is not available yet");
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);

	assert_int_equal(client_http_error(401, "{\"error\":\"bad token\"}", 21, &err), -EPROTO);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);

	client_http_error(502, "Bad Gateway\n", 12, &err);
	assert_string_equal(err.msg, "server answered HTTP 502: Bad Gateway");
	assert_int_equal(err.code, MAGS_E_UNAVAILABLE);

	client_http_error(500, "<html>...</html>", 16, &err);
	assert_string_equal(err.msg, "server answered HTTP 500");

	client_http_error(404, NULL, 0, &err);
	assert_string_equal(err.msg, "server answered HTTP 404");
	assert_int_equal(err.code, MAGS_E_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(splits_lines_however_bytes_arrive),
		cmocka_unit_test(a_null_exit_code_is_absent),
		cmocka_unit_test(the_callback_can_stop_the_stream),
		cmocka_unit_test(rejects_lines_that_are_not_objects),
		cmocka_unit_test(limits_line_length),
		cmocka_unit_test(error_answers_carry_the_servers_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
