/* Unit tests for path patterns (src/magsd/route.c) and the API route
 * table (src/magsd/api.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/api.h"
#include "magsd/route.h"

static void literal_paths_match_exactly(void **state)
{
	struct route_params p;

	assert_true(route_match("/api/v1/whoami", "/api/v1/whoami", &p));
	assert_int_equal(p.n, 0);
	assert_true(route_match("/api/v1/whoami", "/api/v1/whoami/", &p));
	assert_false(route_match("/api/v1/whoami", "/api/v1/whoam", &p));
	assert_false(route_match("/api/v1/whoami", "/api/v1/whoamix", &p));
	assert_false(route_match("/api/v1/whoami", "/api/v1/whoami//", &p));
	assert_false(route_match("/api/v1/whoami", "", &p));
}

static void parameters_capture_one_segment(void **state)
{
	struct route_params p;

	assert_true(route_match("/j/{id}/logs", "/j/abc-123/logs", &p));
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "abc-123");
	assert_true(route_match("/j/{id}", "/j/abc/", &p));
	assert_string_equal(p.v[0], "abc");
	assert_false(route_match("/j/{id}", "/j/a/b", &p));
	assert_false(route_match("/j/{id}", "/j/", &p));
	assert_false(route_match("/j/{id}/logs", "/j//logs", &p));
	assert_true(route_match("/a/{x}/b/{y}", "/a/1/b/2", &p));
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[1], "2");
}

static void long_parameters_do_not_match(void **state)
{
	struct route_params p;
	char path[400];

	memset(path, 'x', sizeof(path));
	memcpy(path, "/j/", 3);
	path[3 + ROUTE_PARAM_MAX] = '\0';
	assert_true(route_match("/j/{id}", path, &p));
	path[3 + ROUTE_PARAM_MAX] = 'x';
	path[4 + ROUTE_PARAM_MAX] = '\0';
	assert_false(route_match("/j/{id}", path, &p));
}

static void table_finds_routes_and_tells_405_from_404(void **state)
{
	struct route_params p;
	int known;
	const struct api_route *r;

	r = api_route_find("POST", "/api/v1/mags-jobs", &p, &known);
	assert_non_null(r);
	assert_ptr_equal(r->fn, api_jobs_create);
	assert_true(r->body);
	r = api_route_find("GET", "/api/v1/mags-jobs", &p, &known);
	assert_ptr_equal(r->fn, api_jobs_list);
	r = api_route_find("GET", "/api/v1/mags-jobs/abc/status", &p, &known);
	assert_ptr_equal(r->fn, api_jobs_get);
	assert_string_equal(p.v[0], "abc");
	r = api_route_find("GET", "/api/v1/mags-jobs/abc", &p, &known);
	assert_ptr_equal(r->fn, api_jobs_get);
	r = api_route_find("GET", "/api/v1/mags-jobs/abc/logs", &p, &known);
	assert_ptr_equal(r->fn, api_jobs_logs);
	r = api_route_find("POST", "/api/v1/mags-jobs/abc/stop", &p, &known);
	assert_ptr_equal(r->fn, api_jobs_stop);
	r = api_route_find("GET", "/api/v1/whoami", &p, &known);
	assert_ptr_equal(r->fn, api_whoami);

	assert_null(api_route_find("DELETE", "/api/v1/whoami", &p, &known));
	assert_true(known);
	assert_null(api_route_find("GET", "/api/v1/mags-jobs/abc/stop", &p, &known));
	assert_true(known);
	assert_null(api_route_find("GET", "/api/v1/nothing", &p, &known));
	assert_false(known);
	assert_null(api_route_find("GET", "/mags-jobs", &p, &known));
	assert_false(known);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(literal_paths_match_exactly),
		cmocka_unit_test(parameters_capture_one_segment),
		cmocka_unit_test(long_parameters_do_not_match),
		cmocka_unit_test(table_finds_routes_and_tells_405_from_404),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
