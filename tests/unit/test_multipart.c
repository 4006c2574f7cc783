/* Unit tests for file uploads (src/libmags/multipart.c, files.c): the
 * multipart/form-data body however it is cut into reads, the filename
 * quoting, a file that shrinks while it is sent, and a whole upload over a
 * real socket to a forked child playing the server. */
#include <errno.h>
#include <fcntl.h>
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
#include "libmags/multipart.h"
#include "mags/mags.h"

static char tmpfile_path[64];

static int temp_file(const char *content)
{
	int fd;

	snprintf(tmpfile_path, sizeof(tmpfile_path), "/tmp/mags-mp-XXXXXX");
	fd = mkstemp(tmpfile_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* The whole body, read in blocks of step bytes. */
static char *read_all(struct multipart *m, size_t step, ssize_t *err_out)
{
	size_t cap = multipart_length(m) + 16, len = 0;
	char *buf = calloc(1, cap + 1);

	*err_out = 0;
	for (;;) {
		ssize_t n = multipart_read(m, buf + len, step);

		if (n < 0) {
			*err_out = n;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		assert_true(len <= cap);
	}
	buf[len] = '\0';
	return buf;
}

static const char want_body[] =
	"--BOUND\r\n"
	"Content-Disposition: form-data; name=\"file\"; filename=\"data.csv\"\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"a,b\n1,2\n"
	"\r\n--BOUND--\r\n";

static void the_body_is_the_same_however_it_is_read(void **state)
{
	static const size_t steps[] = { 1, 2, 7, 64, 4096 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int fd = temp_file("a,b\n1,2\n");
		struct multipart m;
		ssize_t e;
		char *body;

		multipart_init(&m, "file", "/some/dir/data.csv", fd, 8, "BOUND");
		assert_int_equal(multipart_length(&m), strlen(want_body));
		body = read_all(&m, steps[i], &e);
		assert_int_equal(e, 0);
		assert_string_equal(body, want_body);
		free(body);
		multipart_release(&m);
		close(fd);
		unlink(tmpfile_path);
	}
}

static void the_content_type_names_the_boundary(void **state)
{
	struct multipart m;
	char *ct;

	multipart_init(&m, "file", "x", -1, 0, "BOUND");
	ct = multipart_content_type(&m);
	assert_string_equal(ct, "multipart/form-data; boundary=BOUND");
	free(ct);
	multipart_release(&m);
	/* A random boundary when none is given, different every time. */
	multipart_init(&m, "file", "x", -1, 0, NULL);
	assert_non_null(strstr(m.boundary, "mags-form-"));
	assert_true(strlen(m.boundary) <= MULTIPART_BOUNDARY_MAX);
	multipart_release(&m);
}

static void quotes_and_newlines_in_names_are_encoded(void **state)
{
	struct multipart m;

	multipart_init(&m, "file", "/tmp/we\"ird\r\nname", -1, 0, "B");
	assert_non_null(strstr(m.head, "filename=\"we%22ird%0D%0Aname\"\r\n"));
	multipart_release(&m);
}

static void a_file_that_shrinks_is_an_error(void **state)
{
	int fd = temp_file("abc");
	struct multipart m;
	ssize_t e;
	char *body;

	multipart_init(&m, "file", "f", fd, 10, "B"); /* promises 10, has 3 */
	body = read_all(&m, 4096, &e);
	assert_int_equal(e, -EIO);
	free(body);
	multipart_release(&m);
	close(fd);
	unlink(tmpfile_path);
}

/* ---- a whole upload over a socket ---------------------------------------- */

static char sock_path[64], url[80];
static pid_t child;
static int req_pipe[2];

/* A child that reads one whole request (headers + Content-Length bytes),
 * hands it back through a pipe and answers with response. */
static void serve_once(const char *response)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sock_path, sizeof(sock_path), "/tmp/mags-mp-%d.sock", (int)getpid());
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

static void upload_streams_the_file_and_returns_its_id(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c;
	char *fid = NULL, *req, *body, boundary[100];
	int fd = temp_file("hello upload\n");
	const char *b;

	close(fd);
	serve_once("HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{\"file_id\": \"f-42\"}");
	c = mags_client_new(url, "tok", &err);
	assert_int_equal(mags_file_upload(c, tmpfile_path, &fid, NULL, &err), 0);
	req = serve_done();
	assert_string_equal(fid, "f-42");
	assert_non_null(strstr(req, "POST /api/v1/mags-files HTTP/1.1\r\n"));
	b = strstr(req, "Content-Type: multipart/form-data; boundary=");
	assert_non_null(b);
	sscanf(b + strlen("Content-Type: multipart/form-data; boundary="), "%99[^\r]", boundary);
	body = strstr(req, "\r\n\r\n") + 4;
	assert_non_null(strstr(body, "name=\"file\"; filename=\""));
	assert_non_null(strstr(body, "\r\n\r\nhello upload\n\r\n--"));
	assert_non_null(strstr(body, boundary));
	{
		char want_len[64];

		snprintf(want_len, sizeof(want_len), "Content-Length: %zu\r\n", strlen(body));
		assert_non_null(strstr(req, want_len));
	}
	free(fid);
	mags_client_free(c);
	unlink(tmpfile_path);
}

static void upload_takes_file_ids_too(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c;
	char *fid = NULL;
	int fd = temp_file("x");

	close(fd);
	serve_once("HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n{\"file_ids\": [\"f-7\"]}\n");
	c = mags_client_new(url, "tok", &err);
	assert_int_equal(mags_file_upload(c, tmpfile_path, &fid, NULL, &err), 0);
	serve_done();
	assert_string_equal(fid, "f-7");
	free(fid);
	mags_client_free(c);
	unlink(tmpfile_path);
}

static void upload_of_a_missing_file_fails_before_connecting(void **state)
{
	struct mags_err err = { 0 };
	struct mags_client *c = mags_client_new("http://127.0.0.1:9", "tok", &err);
	char *fid = NULL;

	assert_true(mags_file_upload(c, "/nonexistent/file", &fid, NULL, &err) < 0);
	assert_null(fid);
	assert_non_null(strstr(err.msg, "/nonexistent/file"));
	mags_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_body_is_the_same_however_it_is_read),
		cmocka_unit_test(the_content_type_names_the_boundary),
		cmocka_unit_test(quotes_and_newlines_in_names_are_encoded),
		cmocka_unit_test(a_file_that_shrinks_is_an_error),
		cmocka_unit_test(upload_streams_the_file_and_returns_its_id),
		cmocka_unit_test(upload_takes_file_ids_too),
		cmocka_unit_test(upload_of_a_missing_file_fails_before_connecting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
