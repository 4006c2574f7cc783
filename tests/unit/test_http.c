/* Unit tests for the HTTP/1.1 client's framing (src/libmags/http.c):
 * requests as bytes, and responses fed from canned bytes the way recv()
 * could cut them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"
#include "libmags/http.h"
#include "libmags/url.h"
#include "mags/mags.h"

struct sink {
	char buf[4096];
	size_t len;
	int calls;
	int stop_after; /* return 7 on this call, 0: never */
};

static int collect(const char *data, size_t len, void *arg)
{
	struct sink *s = arg;

	assert_true(s->len + len < sizeof(s->buf));
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	s->calls++;
	return s->stop_after && s->calls == s->stop_after ? 7 : 0;
}

/* Feed text in pieces of step bytes (0: all at once). */
static int feed(struct http_resp *r, const char *text, size_t step,
		struct mags_err *err)
{
	size_t len = strlen(text);
	int ret;

	if (!step)
		step = len;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;

		ret = http_resp_feed(r, text + off, n, err);
		if (ret)
			return ret;
	}
	return 0;
}

static void buffers_a_content_length_body(void **state)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Content-Length: 16\r\n\r\n{\"user\":\"alice\"}";
	struct http_resp r;

	http_resp_init(&r, NULL, NULL, 0);
	assert_int_equal(feed(&r, resp, 0, NULL), 0);
	assert_true(r.done);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 16);
	assert_string_equal(r.body, "{\"user\":\"alice\"}");
	http_resp_release(&r);
}

static const char chunked[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/x-ndjson\r\n"
	"Transfer-Encoding: chunked\r\n\r\n"
	"b\r\n{\"a\":\"one\"}\r\n"
	"d\r\n\n{\"b\":\"two\"}\n\r\n"
	"0\r\n\r\n";

static void streams_a_chunked_body_cut_anywhere(void **state)
{
	for (size_t step = 1; step <= sizeof(chunked); step++) {
		struct sink s = { 0 };
		struct http_resp r;

		http_resp_init(&r, collect, &s, 0);
		assert_int_equal(feed(&r, chunked, step, NULL), 0);
		assert_true(r.done);
		assert_true(r.streaming);
		assert_string_equal(s.buf, "{\"a\":\"one\"}\n{\"b\":\"two\"}\n");
		assert_int_equal(r.body_len, 0);
		http_resp_release(&r);
	}
}

static void delivers_body_bytes_before_the_message_ends(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "6\r\nline1\n\r\n";
	struct sink s = { 0 };
	struct http_resp r;

	http_resp_init(&r, collect, &s, 0);
	assert_int_equal(feed(&r, head, 0, NULL), 0);
	assert_false(r.done);
	assert_string_equal(s.buf, "line1\n");
	assert_int_equal(feed(&r, "0\r\n\r\n", 0, NULL), 0);
	assert_true(r.done);
	http_resp_release(&r);
}

static void buffers_error_bodies_even_when_streaming(void **state)
{
	const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 39\r\n\r\n"
			   "{\"error\":\"job not found\",\"code\":\"x\"}   ";
	struct sink s = { 0 };
	struct http_resp r;

	http_resp_init(&r, collect, &s, 0);
	assert_int_equal(feed(&r, resp, 3, NULL), 0);
	assert_true(r.done);
	assert_int_equal(r.status, 404);
	assert_false(r.streaming);
	assert_int_equal(s.calls, 0);
	assert_non_null(strstr(r.body, "job not found"));
	http_resp_release(&r);
}

static void reads_until_close_without_a_length(void **state)
{
	const char *resp = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"x\":1}";
	struct http_resp r;

	http_resp_init(&r, NULL, NULL, 0);
	assert_int_equal(feed(&r, resp, 0, NULL), 0);
	assert_false(r.done);
	assert_int_equal(http_resp_feed(&r, NULL, 0, NULL), 0);
	assert_true(r.done);
	assert_string_equal(r.body, "{\"x\":1}");
	http_resp_release(&r);
}

static void a_truncated_length_body_is_not_done(void **state)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
	struct http_resp r;

	http_resp_init(&r, NULL, NULL, 0);
	assert_int_equal(feed(&r, resp, 0, NULL), 0);
	http_resp_feed(&r, NULL, 0, NULL);
	assert_false(r.done);
	http_resp_release(&r);
}

static void limits_buffered_bodies(void **state)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	struct mags_err err = { 0 };
	struct http_resp r;

	http_resp_init(&r, NULL, NULL, 4);
	assert_int_equal(feed(&r, resp, 0, &err), -EMSGSIZE);
	assert_non_null(strstr(err.msg, "larger than 4 bytes"));
	http_resp_release(&r);
}

static void the_callback_can_stop_the_transfer(void **state)
{
	struct sink s = { .stop_after = 1 };
	struct http_resp r;

	http_resp_init(&r, collect, &s, 0);
	assert_int_equal(feed(&r, chunked, 0, NULL), 7);
	assert_int_equal(s.calls, 1);
	http_resp_release(&r);
}

static void rejects_garbage(void **state)
{
	struct mags_err err = { 0 };
	struct http_resp r;

	http_resp_init(&r, NULL, NULL, 0);
	assert_int_equal(feed(&r, "SSH-2.0-OpenSSH_9.2\r\n", 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "bad HTTP response"));
	http_resp_release(&r);

	http_resp_init(&r, NULL, NULL, 0);
	assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			      0, &err), -EPROTO);
	http_resp_release(&r);
}

static void builds_a_get_request(void **state)
{
	struct url u;
	struct http_req req = { .method = "GET", .target = "/api/v1/whoami", .token = "tok" };
	size_t len;
	char *out;

	assert_int_equal(url_parse("http://127.0.0.1:8420/base", &u, NULL), 0);
	out = http_build_request(&u, &req, &len);
	assert_int_equal(len, strlen(out));
	assert_string_equal(out,
		"GET /base/api/v1/whoami HTTP/1.1\r\n"
		"Host: 127.0.0.1:8420\r\n"
		"User-Agent: mags/" MAGS_VERSION "\r\n"
		"Accept: application/json\r\n"
		"Authorization: Bearer tok\r\n"
		"Connection: close\r\n\r\n");
	free(out);
	url_release(&u);
}

static void builds_a_post_request_with_a_body(void **state)
{
	struct url u;
	struct http_req req = { .method = "POST", .target = "/api/v1/mags-jobs",
				.body = "{\"script\":\"ls\"}", .body_len = 15 };
	size_t len;
	char *out;

	assert_int_equal(url_parse("unix:///tmp/m.sock", &u, NULL), 0);
	out = http_build_request(&u, &req, &len);
	assert_non_null(strstr(out, "POST /api/v1/mags-jobs HTTP/1.1\r\nHost: localhost\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/json\r\nContent-Length: 15\r\n"));
	assert_null(strstr(out, "Authorization"));
	assert_string_equal(out + len - 19, "\r\n\r\n{\"script\":\"ls\"}");
	free(out);

	req.body = NULL;
	req.target = "/api/v1/mags-jobs/x/stop";
	out = http_build_request(&u, &req, &len);
	assert_non_null(strstr(out, "Content-Length: 0\r\n"));
	assert_null(strstr(out, "Content-Type"));
	free(out);
	url_release(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buffers_a_content_length_body),
		cmocka_unit_test(streams_a_chunked_body_cut_anywhere),
		cmocka_unit_test(delivers_body_bytes_before_the_message_ends),
		cmocka_unit_test(buffers_error_bodies_even_when_streaming),
		cmocka_unit_test(reads_until_close_without_a_length),
		cmocka_unit_test(a_truncated_length_body_is_not_done),
		cmocka_unit_test(limits_buffered_bodies),
		cmocka_unit_test(the_callback_can_stop_the_transfer),
		cmocka_unit_test(rejects_garbage),
		cmocka_unit_test(builds_a_get_request),
		cmocka_unit_test(builds_a_post_request_with_a_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
