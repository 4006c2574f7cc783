/* Unit tests for mags_job_exec (src/libmags/exec.c) over a real socket:
 * the streaming NDJSON form, the plain JSON form (one line or pretty
 * printed), error answers and the request it sends. */
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

static char sock_path[64], url[80];
static pid_t child;
static int req_pipe[2];

/* A child that reads one whole request (headers + Content-Length bytes),
 * hands it back through a pipe and answers with response. */
static void serve_once(const char *response)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sock_path, sizeof(sock_path), "/tmp/mags-ex-%d.sock", (int)getpid());
	snprintf(url, sizeof(url), "unix://%s", sock_path);
	unlink(sock_path);
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(pipe(req_pipe), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		static char buf[1 << 20];
		size_t len = 0, want = 0;
		int fd = accept(lfd, NULL, NULL);
		char *hend = NULL;

		while (len < sizeof(buf) - 1) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
				char *cl = strcasestr(buf, "Content-Length: ");

				want = (size_t)(hend + 4 - buf) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
			}
			if (hend && len >= want)
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

static char *serve_done(void)
{
	static char req[1 << 20];
	size_t len = 0;
	ssize_t n;
	int st;

	while ((n = read(req_pipe[0], req + len, sizeof(req) - 1 - len)) > 0)
		len += (size_t)n;
	req[len] = '\0';
	close(req_pipe[0]);
	waitpid(child, &st, 0);
	unlink(sock_path);
	return req;
}


struct seen {
	char text[2048];
};

static int on_output(const char *stream, const char *data, size_t len, void *arg)
{
	struct seen *s = arg;
	size_t n = strlen(s->text);

	snprintf(s->text + n, sizeof(s->text) - n, "[%s:%.*s]", stream, (int)len, data);
	return 0;
}

/* Run exec against a server answering response; returns the result. */
static int exec_with(const char *response, struct seen *s, json_t **result,
		     struct mags_err *err, char **request)
{
	struct mags_client *c;
	json_t *env = json_pack("{s:s}", "A", "1");
	int r;

	serve_once(response);
	c = mags_client_new(url, "tok", err);
	r = mags_job_exec(c, "job-1", "echo hi", 5, env, on_output, s, result, err);
	*request = serve_done();
	json_decref(env);
	mags_client_free(c);
	return r;
}

static void the_streaming_form_delivers_chunks_as_they_come(void **state)
{
	struct mags_err err = { 0 };
	struct seen s = { "" };
	json_t *res = NULL;
	char *req;

	assert_int_equal(exec_with(
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"2c\r\n{\"stream\":\"stdout\",\"data\":\"hi\\n\"}\n{\"stream\":\r\n"
		"1a\r\n\"stderr\",\"data\":\"oops\\n\"}\n\r\n"
		"21\r\n{\"exit_code\":3,\"duration_ms\":12}\n\r\n"
		"0\r\n\r\n", &s, &res, &err, &req), 0);
	assert_string_equal(s.text, "[stdout:hi\n][stderr:oops\n]");
	assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 3);
	assert_non_null(strstr(req, "POST /api/v1/mags-jobs/job-1/exec?stream=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(req, "{\"command\":\"echo hi\",\"timeout\":5,\"env\":{\"A\":\"1\"}}"));
	assert_non_null(strstr(req, "Accept: application/x-ndjson"));
	json_decref(res);
}

static void the_plain_form_works_too(void **state)
{
	struct mags_err err = { 0 };
	struct seen s = { "" };
	json_t *res = NULL;
	char *req;
	const char *body = "{\"exit_code\": 0, \"stdout\": \"out\\n\", \"stderr\": \"err\\n\","
			   " \"output\": \"out\\nerr\\n\", \"duration_ms\": 5}";
	char resp[512];

	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	assert_int_equal(exec_with(resp, &s, &res, &err, &req), 0);
	assert_string_equal(s.text, "[stdout:out\n][stderr:err\n]");
	assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 0);
	json_decref(res);
}

static void a_pretty_printed_plain_answer_is_understood(void **state)
{
	struct mags_err err = { 0 };
	struct seen s = { "" };
	json_t *res = NULL;
	char *req;
	const char *body = "{\n  \"exit_code\": 1,\n  \"output\": \"only output\"\n}\n";
	char resp[512];

	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	assert_int_equal(exec_with(resp, &s, &res, &err, &req), 0);
	assert_string_equal(s.text, "[stdout:only output]");
	assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 1);
	json_decref(res);
}

static void an_error_answer_is_the_servers_message(void **state)
{
	struct mags_err err = { 0 };
	struct seen s = { "" };
	json_t *res = NULL;
	char *req;
	const char *body = "{\"error\": \"job is not running\", \"code\": \"conflict\"}";
	char resp[512];

	snprintf(resp, sizeof(resp), "HTTP/1.1 409 Conflict\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	assert_int_equal(exec_with(resp, &s, &res, &err, &req), -EPROTO);
	assert_null(res);
	assert_string_equal(err.msg, "job is not running");
	assert_int_equal(err.code, MAGS_E_CONFLICT);
}

static void a_stream_without_an_exit_code_is_an_error(void **state)
{
	struct mags_err err = { 0 };
	struct seen s = { "" };
	json_t *res = NULL;
	char *req;
	const char *body = "{\"stream\":\"stdout\",\"data\":\"partial\"}\n";
	char resp[512];

	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	assert_true(exec_with(resp, &s, &res, &err, &req) < 0);
	assert_string_equal(s.text, "[stdout:partial]");
	assert_non_null(strstr(err.msg, "exit code"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_streaming_form_delivers_chunks_as_they_come),
		cmocka_unit_test(the_plain_form_works_too),
		cmocka_unit_test(a_pretty_printed_plain_answer_is_understood),
		cmocka_unit_test(an_error_answer_is_the_servers_message),
		cmocka_unit_test(a_stream_without_an_exit_code_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
