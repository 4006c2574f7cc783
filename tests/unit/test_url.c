/* Unit tests for server URL parsing (src/libmags/url.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"
#include "libmags/url.h"

static void parses_host_and_port(void **state)
{
	struct url u;

	assert_int_equal(url_parse("http://127.0.0.1:8420", &u, NULL), 0);
	assert_int_equal(u.scheme, URL_HTTP);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 8420);
	assert_string_equal(u.prefix, "");
	assert_string_equal(u.text, "http://127.0.0.1:8420");
	url_release(&u);
}

static void defaults_the_port_by_scheme(void **state)
{
	struct url u;

	assert_int_equal(url_parse("http://example.com", &u, NULL), 0);
	assert_int_equal(u.port, 80);
	url_release(&u);
	assert_int_equal(url_parse("https://example.com/", &u, NULL), 0);
	assert_int_equal(u.scheme, URL_HTTPS);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.text, "https://example.com");
	url_release(&u);
}

static void keeps_a_path_prefix_but_drops_api_v1(void **state)
{
	struct url u;

	assert_int_equal(url_parse("http://h:1/mags/", &u, NULL), 0);
	assert_string_equal(u.prefix, "/mags");
	url_release(&u);
	assert_int_equal(url_parse("http://h:1/api/v1", &u, NULL), 0);
	assert_string_equal(u.prefix, "");
	url_release(&u);
	assert_int_equal(url_parse("http://h/x/api/v1/", &u, NULL), 0);
	assert_string_equal(u.prefix, "/x");
	url_release(&u);
}

static void parses_ipv6_literals(void **state)
{
	struct url u;
	char *h;

	assert_int_equal(url_parse("http://[::1]:9000", &u, NULL), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9000);
	h = url_host_header(&u);
	assert_string_equal(h, "[::1]:9000");
	free(h);
	url_release(&u);
}

static void parses_unix_sockets(void **state)
{
	struct url u;
	char *h;

	assert_int_equal(url_parse("unix:///run/mags/api.sock", &u, NULL), 0);
	assert_int_equal(u.scheme, URL_UNIX);
	assert_string_equal(u.sock_path, "/run/mags/api.sock");
	h = url_host_header(&u);
	assert_string_equal(h, "localhost");
	free(h);
	url_release(&u);
}

static void host_header_omits_default_ports(void **state)
{
	struct url u;
	char *h;

	assert_int_equal(url_parse("http://a.example:80", &u, NULL), 0);
	h = url_host_header(&u);
	assert_string_equal(h, "a.example");
	free(h);
	url_release(&u);
	assert_int_equal(url_parse("http://a.example:8420", &u, NULL), 0);
	h = url_host_header(&u);
	assert_string_equal(h, "a.example:8420");
	free(h);
	url_release(&u);
}

static void rejects_bad_urls_with_a_message(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1:8420", "ftp://h", "http://", "http://:80",
		"http://h:0", "http://h:65536", "http://h:x", "http://h:80x",
		"http://u@h", "http://h/?q=1", "http://h#f", "http://h h",
		"http://[::1", "http://[zz]:1", "unix://relative", "unix://",
		"http://h\r\nX: y",
	};
	struct mags_err err = { 0 };
	struct url u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		assert_int_not_equal(url_parse(bad[i], &u, &err), 0);
		assert_non_null(strstr(err.msg, "invalid URL"));
	}
}

static void escapes_path_segments(void **state)
{
	char *s = url_escape_segment("a b/../ok-_~.x");

	assert_string_equal(s, "a%20b%2F%2E%2E%2Fok-_~%2Ex");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_host_and_port),
		cmocka_unit_test(defaults_the_port_by_scheme),
		cmocka_unit_test(keeps_a_path_prefix_but_drops_api_v1),
		cmocka_unit_test(parses_ipv6_literals),
		cmocka_unit_test(parses_unix_sockets),
		cmocka_unit_test(host_header_omits_default_ports),
		cmocka_unit_test(rejects_bad_urls_with_a_message),
		cmocka_unit_test(escapes_path_segments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
