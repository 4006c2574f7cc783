/* Unit tests for the dashboard's pure parts: which paths name files
 * (src/magsd/web.c), cookies, content types and CSRF tokens (auth.c), the
 * sign-in and token-create bodies (api_session.c, api_tokens.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/api_session.h"
#include "magsd/api_tokens.h"
#include "magsd/auth.h"
#include "magsd/web.h"

static void only_get_and_head_outside_api_are_files(void **state)
{
	assert_true(web_wants("GET", "/"));
	assert_true(web_wants("HEAD", "/app.js"));
	assert_true(web_wants("GET", "/apix"));
	assert_false(web_wants("POST", "/"));
	assert_false(web_wants("GET", "/api"));
	assert_false(web_wants("GET", "/api/v1/whoami"));
	assert_false(web_wants("OPTIONS", "/"));
}

static void paths_are_whitelisted(void **state)
{
	assert_true(web_path_ok("/app.js"));
	assert_true(web_path_ok("/img/logo-2.svg"));
	assert_true(web_path_ok("/a.b.c"));
	assert_false(web_path_ok("/"));
	assert_false(web_path_ok(""));
	assert_false(web_path_ok("app.js"));
	assert_false(web_path_ok("/.."));
	assert_false(web_path_ok("/../etc/passwd"));
	assert_false(web_path_ok("/a/../b"));
	assert_false(web_path_ok("/a/./b"));
	assert_false(web_path_ok("/.git/config"));
	assert_false(web_path_ok("/a//b"));
	assert_false(web_path_ok("/a/"));
	assert_false(web_path_ok("/a\\b"));
	assert_false(web_path_ok("/a%2e"));
	assert_false(web_path_ok("/a b"));
	assert_false(web_path_ok("/\xc3\xa9"));
	char longp[WEB_PATH_MAX + 2];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_false(web_path_ok(longp));
}

static void app_paths_are_the_page(void **state)
{
	assert_string_equal(web_path_file("/"), "index.html");
	assert_string_equal(web_path_file("/dashboard"), "index.html");
	assert_string_equal(web_path_file("/usage.html"), "index.html");
	assert_string_equal(web_path_file("/login.html"), "index.html");
	assert_string_equal(web_path_file("/app.css"), "app.css");
	assert_null(web_path_file("/../x"));
	assert_string_equal(web_content_type("a.html"), "text/html; charset=utf-8");
	assert_string_equal(web_content_type("a.JS"), "text/javascript; charset=utf-8");
	assert_string_equal(web_content_type("a.svg"), "image/svg+xml");
	assert_string_equal(web_content_type("Makefile"), "application/octet-stream");
}

static void cookies_are_found_by_exact_name(void **state)
{
	char v[80];

	assert_int_equal(auth_cookie_get("mags_session=abc", "mags_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(auth_cookie_get("a=1;  mags_session=x2 ; b=3", "mags_session", v, sizeof(v)), 0);
	assert_string_equal(v, "x2");
	assert_int_equal(auth_cookie_get("xmags_session=1", "mags_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(auth_cookie_get("mags_sessionx=1", "mags_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(auth_cookie_get("mags_session", "mags_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(auth_cookie_get("", "mags_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(auth_cookie_get("mags_session=", "mags_session", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(auth_cookie_get("mags_session=0123456789", "mags_session", v, 5), -ENOENT);
}

static void json_content_types(void **state)
{
	assert_true(auth_content_type_json("application/json"));
	assert_true(auth_content_type_json("Application/JSON; charset=utf-8"));
	assert_true(auth_content_type_json(" application/json ;x=y"));
	assert_false(auth_content_type_json(NULL));
	assert_false(auth_content_type_json("text/plain"));
	assert_false(auth_content_type_json("application/jsonx"));
	assert_false(auth_content_type_json("application/x-www-form-urlencoded"));
	assert_false(auth_content_type_json("multipart/form-data; boundary=application/json"));
}

static void sessions_and_csrf(void **state)
{
	char s1[AUTH_SESSION_LEN + 1], s2[AUTH_SESSION_LEN + 1], id[17];
	char c1[AUTH_HASH_HEX_LEN + 1], c2[AUTH_HASH_HEX_LEN + 1], h1[AUTH_HASH_HEX_LEN + 1];

	auth_session_new(s1, id);
	auth_session_new(s2, id);
	assert_true(auth_session_well_formed(s1));
	assert_string_not_equal(s1, s2);
	assert_memory_equal(id, "ses_", 4);
	auth_csrf_for(s1, c1);
	auth_csrf_for(s2, c2);
	auth_token_hash(s1, h1);
	assert_int_equal(strlen(c1), AUTH_HASH_HEX_LEN);
	assert_string_not_equal(c1, c2);
	/* the stored hash does not give the CSRF token away */
	assert_string_not_equal(c1, h1);
	assert_false(auth_session_well_formed("ABC"));
	s1[3] = 'G';
	assert_false(auth_session_well_formed(s1));
}

static void cookie_attributes(void **state)
{
	char buf[256];

	web_session_cookie(buf, sizeof(buf), "abc", 60, 0);
	assert_string_equal(buf, "mags_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
	web_session_cookie(buf, sizeof(buf), NULL, 60, 1);
	assert_string_equal(buf, "mags_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
}

static void login_bodies(void **state)
{
	struct mags_err err;
	char tok[64];

	assert_int_equal(api_session_parse_login("{\"token\":\"mags_x\"}", 18, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "mags_x");
	assert_true(api_session_parse_login("{", 1, tok, sizeof(tok), &err) < 0);
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);
	assert_true(api_session_parse_login("{\"token\":1}", 11, tok, sizeof(tok), &err) < 0);
	assert_true(api_session_parse_login("{\"token\":\"\"}", 12, tok, sizeof(tok), &err) < 0);
	assert_true(api_session_parse_login("[]", 2, tok, sizeof(tok), &err) < 0);
	assert_true(api_session_parse_login("{\"token\":\"a\",\"token\":\"b\"}", 25, tok, sizeof(tok), &err) < 0);
	char big[200];
	int n = snprintf(big, sizeof(big), "{\"token\":\"%090d\"}", 0);
	assert_true(api_session_parse_login(big, (size_t)n, tok, sizeof(tok), &err) < 0);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);
}

static void token_create_bodies(void **state)
{
	struct mags_err err;
	char name[API_TOKENS_NAME_MAX + 1];

#define P(s) api_tokens_parse_create(s, strlen(s), name, &err)
	assert_int_equal(P(""), 0);
	assert_string_equal(name, "");
	assert_int_equal(P("{}"), 0);
	assert_int_equal(P("{\"name\":null}"), 0);
	assert_int_equal(P("{\"name\":\"ci \xe2\x98\x95\"}"), 0);
	assert_string_equal(name, "ci \xe2\x98\x95");
	assert_true(P("{\"name\":5}") < 0);
	assert_true(P("{\"name\":\"a\\u0000b\"}") < 0);
	assert_true(P("{\"name\":\"a\\tb\"}") < 0);
	assert_true(P("[1]") < 0);
	assert_true(P("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}") < 0);
	assert_int_equal(P("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"), 0);
	assert_int_equal(strlen(name), 64);
#undef P
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_get_and_head_outside_api_are_files),
		cmocka_unit_test(paths_are_whitelisted),
		cmocka_unit_test(app_paths_are_the_page),
		cmocka_unit_test(cookies_are_found_by_exact_name),
		cmocka_unit_test(json_content_types),
		cmocka_unit_test(sessions_and_csrf),
		cmocka_unit_test(cookie_attributes),
		cmocka_unit_test(login_bodies),
		cmocka_unit_test(token_create_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
