/* Unit tests for the embedded OpenAPI document (src/magsd/openapi.c,
 * src/magsd/openapi.json): it parses, its $refs resolve, and it describes
 * exactly the METHOD PATH pairs of api.c's route table, so a route added
 * without its description (or a description without its route) fails
 * here. tests/e2e/test_openapi.py checks the same against a running
 * magsd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "magsd/api.h"
#include "magsd/openapi.h"

static const char *const http_methods[] = {
	"get", "put", "post", "delete", "options", "head", "patch", "trace",
};

static json_t *load_doc(void)
{
	size_t len;
	const char *doc = openapi_json(&len);
	json_error_t jerr;
	json_t *o = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!o)
		print_error("openapi.json: line %d column %d: %s\n", jerr.line, jerr.column,
			    jerr.text);
	assert_non_null(o);
	return o;
}

/* "/mags-jobs/{id}/logs" -> "/mags-jobs/{}/logs" (parameter names vary) */
static void normalise(const char *path, char *out, size_t n)
{
	size_t o = 0;

	for (const char *p = path; *p && o + 3 < n; p++) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			if (e) {
				out[o++] = '{';
				out[o++] = '}';
				p = e;
				continue;
			}
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* The spec's operation for a route table entry, or NULL. */
static json_t *spec_op(json_t *paths, const char *method, const char *pattern)
{
	char want[512], have[512], m[16];
	const char *key;
	json_t *item;
	size_t i;

	assert_int_equal(strncmp(pattern, API_PREFIX, strlen(API_PREFIX)), 0);
	normalise(pattern + strlen(API_PREFIX), want, sizeof(want));
	for (i = 0; method[i] && i + 1 < sizeof(m); i++)
		m[i] = (char)(method[i] | 0x20);
	m[i] = '\0';
	json_object_foreach(paths, key, item) {
		normalise(key, have, sizeof(have));
		if (!strcmp(want, have))
			return json_object_get(item, m);
	}
	return NULL;
}

static void embedded_document_parses(void **state)
{
	size_t len;
	const char *doc = openapi_json(&len);
	json_t *o, *paths;

	assert_true(len > 1000);
	assert_int_equal(strlen(doc), len);   /* NUL-terminated, no NUL inside */
	assert_int_equal(doc[0], '{');
	o = load_doc();
	assert_true(json_is_string(json_object_get(o, "openapi")));
	assert_int_equal(strncmp(json_string_value(json_object_get(o, "openapi")), "3.0.", 4), 0);
	assert_true(json_is_object(json_object_get(o, "info")));
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(o, "servers"), 0), "url")), API_PREFIX);
	paths = json_object_get(o, "paths");
	assert_true(json_is_object(paths) && json_object_size(paths) > 10);
	assert_non_null(json_object_get(json_object_get(json_object_get(o, "components"),
							 "securitySchemes"), "bearerAuth"));
	json_decref(o);
}

static void every_route_is_described(void **state)
{
	json_t *o = load_doc(), *paths = json_object_get(o, "paths");
	const struct api_route *r;
	size_t n, missing = 0;

	r = api_routes(&n);
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++) {
		if (!json_is_object(spec_op(paths, r[i].method, r[i].pattern))) {
			print_error("route %s %s is not described in src/magsd/openapi.json\n",
				    r[i].method, r[i].pattern);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
	json_decref(o);
}

static void every_description_is_a_route(void **state)
{
	json_t *o = load_doc(), *paths = json_object_get(o, "paths"), *item;
	const struct api_route *r;
	struct route_params p;
	char path[512], url[600];
	const char *key;
	size_t stray = 0, n;
	int known;

	(void)api_routes(&n);
	json_object_foreach(paths, key, item) {
		/* every {param} becomes a sample segment */
		size_t o2 = 0;
		for (const char *c = key; *c && o2 + 8 < sizeof(path); c++) {
			if (*c == '{' && strchr(c, '}')) {
				memcpy(path + o2, "x1", 2);
				o2 += 2;
				c = strchr(c, '}');
			} else {
				path[o2++] = *c;
			}
		}
		path[o2] = '\0';
		snprintf(url, sizeof(url), "%s%s", API_PREFIX, path);
		for (size_t m = 0; m < sizeof(http_methods) / sizeof(http_methods[0]); m++) {
			char up[16];
			size_t i;
			if (!json_object_get(item, http_methods[m]))
				continue;
			for (i = 0; http_methods[m][i]; i++)
				up[i] = (char)(http_methods[m][i] & ~0x20);
			up[i] = '\0';
			r = api_route_find(up, url, &p, &known);
			/* the route found must be the one described, not a
			 * wider pattern that happens to match the sample */
			if (!r || spec_op(paths, r->method, r->pattern) != json_object_get(item, http_methods[m])) {
				print_error("%s %s is described but is not a route\n", up, key);
				stray++;
			}
		}
	}
	assert_int_equal(stray, 0);
	json_decref(o);
}

/* Resolve a local JSON pointer ("#/components/schemas/Job"). */
static json_t *resolve(json_t *root, const char *ref)
{
	char tok[256];
	const char *p = ref + 1;

	if (strncmp(ref, "#/", 2))
		return NULL;
	while (*p == '/') {
		size_t n = 0;
		p++;
		while (*p && *p != '/' && n + 1 < sizeof(tok)) {
			if (p[0] == '~' && p[1] == '1') {
				tok[n++] = '/';
				p += 2;
			} else if (p[0] == '~' && p[1] == '0') {
				tok[n++] = '~';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		root = json_is_array(root) ? json_array_get(root, strtoul(tok, NULL, 10))
					   : json_object_get(root, tok);
		if (!root)
			return NULL;
	}
	return root;
}

static size_t check_refs(json_t *root, json_t *v, size_t *count)
{
	size_t bad = 0, i;
	const char *key;
	json_t *x;

	if (json_is_object(v)) {
		x = json_object_get(v, "$ref");
		if (x) {
			(*count)++;
			if (!json_is_string(x) || !resolve(root, json_string_value(x))) {
				print_error("unresolved $ref %s\n",
					    json_is_string(x) ? json_string_value(x) : "(not a string)");
				bad++;
			}
		}
		json_object_foreach(v, key, x)
			bad += check_refs(root, x, count);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			bad += check_refs(root, x, count);
	}
	return bad;
}

static void refs_resolve(void **state)
{
	json_t *o = load_doc();
	size_t count = 0;

	assert_int_equal(check_refs(o, o, &count), 0);
	assert_true(count > 50);
	json_decref(o);
}

/* operationIds are unique; every operation answers JSON; those that need
 * a token list 401; aliases name an operation that exists. */
static void operations_are_well_formed(void **state)
{
	json_t *o = load_doc(), *paths = json_object_get(o, "paths"), *item, *seen = json_object();
	const char *key;
	size_t bad = 0;

	json_object_foreach(paths, key, item) {
		for (size_t m = 0; m < sizeof(http_methods) / sizeof(http_methods[0]); m++) {
			json_t *op = json_object_get(item, http_methods[m]), *sec, *alias, *resp;
			const char *id;
			if (!op)
				continue;
			id = json_string_value(json_object_get(op, "operationId"));
			if (!id || json_object_get(seen, id)) {
				print_error("%s %s: missing or repeated operationId\n", http_methods[m], key);
				bad++;
			} else {
				json_object_set_new(seen, id, json_true());
			}
			resp = json_object_get(op, "responses");
			if (!json_is_object(resp) ||
			    (!json_object_get(resp, "200") && !json_object_get(resp, "201"))) {
				print_error("%s %s: no 200/201 response\n", http_methods[m], key);
				bad++;
			}
			sec = json_object_get(op, "security");
			if (!(json_is_array(sec) && json_array_size(sec) == 0) &&
			    !json_object_get(resp, "401")) {
				print_error("%s %s: needs a token but lists no 401\n", http_methods[m], key);
				bad++;
			}
			alias = json_object_get(op, "x-mags-alias-of");
			if (alias && !json_object_get(json_object_get(paths, json_string_value(alias)),
						      http_methods[m])) {
				print_error("%s %s: x-mags-alias-of names no operation\n",
					    http_methods[m], key);
				bad++;
			}
		}
	}
	assert_int_equal(bad, 0);
	json_decref(seen);
	json_decref(o);
}

static void only_the_document_is_public(void **state)
{
	json_t *o = load_doc(), *paths = json_object_get(o, "paths"), *item;
	const char *key;

	assert_true(openapi_is_public("GET", API_PREFIX "/openapi.json"));
	assert_true(openapi_is_public("GET", API_PREFIX "/openapi.json/"));
	assert_false(openapi_is_public("POST", API_PREFIX "/openapi.json"));
	assert_false(openapi_is_public("GET", API_PREFIX "/openapi.jsonx"));
	assert_false(openapi_is_public("GET", API_PREFIX "/whoami"));
	assert_false(openapi_is_public("GET", "/openapi.json"));
	/* and the document says so: no security on that operation only (and
	 * on the sign-in, which api_session.c exempts) */
	json_object_foreach(paths, key, item) {
		json_t *op = json_object_get(item, "get"), *sec;
		if (!op)
			continue;
		sec = json_object_get(op, "security");
		assert_int_equal(json_is_array(sec) && json_array_size(sec) == 0,
				 !strcmp(key, "/openapi.json"));
	}
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(embedded_document_parses),
		cmocka_unit_test(every_route_is_described),
		cmocka_unit_test(every_description_is_a_route),
		cmocka_unit_test(refs_resolve),
		cmocka_unit_test(operations_are_well_formed),
		cmocka_unit_test(only_the_document_is_public),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
