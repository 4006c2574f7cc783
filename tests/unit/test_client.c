/* Unit tests for the client over a real socket (src/libmags/client.c,
 * jobs.c, http.c): a forked child plays a server on a unix socket and
 * answers one request with canned bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/err.h"
#include "mags/mags.h"

static char sock_path[64];
static char url[80];
static char last_request[4096];
static pid_t child;
static int req_pipe[2];

/* Start a child that answers one connection with response. */
static void serve_once(const char *response)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sock_path, sizeof(sock_path), "/tmp/mags-test-%d.sock", (int)getpid());
	snprintf(url, sizeof(url), "unix://%s", sock_path);
	unlink(sock_path);
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(pipe(req_pipe), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char buf[4096];
		size_t len = 0;
		int fd = accept(lfd, NULL, NULL);

		while (len < sizeof(buf) - 1) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (write(req_pipe[1], buf, len) < 0)
			_exit(1);
		if (write(fd, response, strlen(response)) < 0)
			_exit(1);
		close(fd);
		_exit(0);
	}
	close(lfd);
	close(req_pipe[1]);
}

static void serve_done(void)
{
	int st;
	ssize_t n = read(req_pipe[0], last_request, sizeof(last_request) - 1);

	last_request[n > 0 ? n : 0] = '\0';
	close(req_pipe[0]);
	waitpid(child, &st, 0);
	unlink(sock_path);
}

static void whoami_sends_the_token_and_parses_the_answer(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c;
	json_t *out = NULL;

	serve_once("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		   "Content-Length: 17\r\n\r\n{\"user\": \"alice\"}");
	c = mags_client_new(url, "tok-123", &err);
	assert_non_null(c);
	assert_int_equal(mags_whoami(c, &out, &err), 0);
	serve_done();
	assert_string_equal(json_string_value(json_object_get(out, "user")), "alice");
	assert_int_equal(mags_client_last_status(c), 200);
	assert_non_null(strstr(last_request, "GET /api/v1/whoami HTTP/1.1\r\n"));
	assert_non_null(strstr(last_request, "Authorization: Bearer tok-123\r\n"));
	json_decref(out);
	mags_client_free(c);
}

static void an_error_answer_gives_the_servers_message(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new(url, "t", &err);
	json_t *req = json_pack("{s:s, s:s}", "script", "ls", "workspace_id", "w");
	json_t *out = NULL;

	serve_once("HTTP/1.1 400 Bad Request\r\nContent-Length: 74\r\n\r\n"
		   "{\"error\": \"workspace support is not available yet\", \"code\": \"bad_request\"}");
	assert_int_equal(mags_job_submit(c, req, &out, &err), -EPROTO);
	serve_done();
	assert_null(out);
	assert_string_equal(err.msg, "workspace support is not available yet");
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);
	assert_int_equal(mags_client_last_status(c), 400);
	assert_non_null(strstr(last_request, "POST /api/v1/mags-jobs HTTP/1.1\r\n"));
	json_decref(req);
	mags_client_free(c);
}

struct events {
	char text[1024];
};

static int on_event(const struct mags_log_event *ev, void *arg)
{
	struct events *e = arg;
	size_t n = strlen(e->text);

	if (ev->end)
		snprintf(e->text + n, sizeof(e->text) - n, "[end %s %d]", ev->status, ev->exit_code);
	else
		snprintf(e->text + n, sizeof(e->text) - n, "[%s:%s]", ev->source, ev->message);
	return 0;
}

static void follow_delivers_records_then_the_end(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new(url, "t", &err);
	struct events e = { "" };

	serve_once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "22\r\n{\"message\":\"1\",\"source\":\"stdout\"}\n\r\n"
		   "22\r\n{\"message\":\"2\",\"source\":\"stderr\"}\n\r\n"
		   "32\r\n{\"event\":\"end\",\"status\":\"completed\",\"exit_code\":0}\r\n"
		   "1\r\n\n\r\n0\r\n\r\n");
	assert_int_equal(mags_job_follow(c, "job-1", on_event, &e, &err), 0);
	serve_done();
	assert_string_equal(e.text, "[stdout:1][stderr:2][end completed 0]");
	assert_non_null(strstr(last_request, "GET /api/v1/mags-jobs/job-1/logs?follow=1 HTTP/1.1\r\n"));
	mags_client_free(c);
}

static void a_broken_stream_is_connreset(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new(url, "t", &err);
	struct events e = { "" };

	serve_once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "22\r\n{\"message\":\"1\",\"source\":\"stdout\"}\n\r\n");
	assert_int_equal(mags_job_follow(c, "j", on_event, &e, &err), -ECONNRESET);
	serve_done();
	assert_string_equal(e.text, "[stdout:1]");

	/* A clean end of the body without the end event counts the same. */
	e.text[0] = '\0';
	serve_once("HTTP/1.1 200 OK\r\nContent-Length: 34\r\n\r\n"
		   "{\"message\":\"1\",\"source\":\"stdout\"}\n");
	assert_int_equal(mags_job_follow(c, "j", on_event, &e, &err), -ECONNRESET);
	serve_done();
	assert_string_equal(e.text, "[stdout:1]");
	mags_client_free(c);
}

static void follow_of_an_unknown_job_is_an_error(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new(url, "t", &err);
	struct events e = { "" };

	serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 45\r\n\r\n"
		   "{\"error\":\"job 'x' not found\",\"code\":\"x\"}     ");
	assert_int_equal(mags_job_follow(c, "x", on_event, &e, &err), -EPROTO);
	serve_done();
	assert_string_equal(err.msg, "job 'x' not found");
	assert_int_equal(err.code, MAGS_E_NOT_FOUND);
	mags_client_free(c);
}

static void no_server_says_cannot_connect(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new("unix:///tmp/mags-test-nothing.sock", "t", &err);
	json_t *out = NULL;

	assert_int_not_equal(mags_whoami(c, &out, &err), 0);
	assert_non_null(strstr(err.msg, "cannot connect to unix:///tmp/mags-test-nothing.sock"));
	assert_int_equal(mags_client_last_status(c), 0);
	mags_client_free(c);
}

static void rejects_tokens_that_would_break_headers(void **state)
{
	struct mags_err err = { 0 };

	assert_null(mags_client_new("http://h", "tok\r\nX-Evil: 1", &err));
	assert_non_null(strstr(err.msg, "API token"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whoami_sends_the_token_and_parses_the_answer),
		cmocka_unit_test(an_error_answer_gives_the_servers_message),
		cmocka_unit_test(follow_delivers_records_then_the_end),
		cmocka_unit_test(a_broken_stream_is_connreset),
		cmocka_unit_test(follow_of_an_unknown_job_is_an_error),
		cmocka_unit_test(no_server_says_cannot_connect),
		cmocka_unit_test(rejects_tokens_that_would_break_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
