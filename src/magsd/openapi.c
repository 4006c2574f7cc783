/*
 * openapi.c - the embedded OpenAPI document and `magsd routes` (see
 * openapi.h).
 *
 * The JSON file goes into .rodata unchanged with the assembler's .incbin
 * (gcc and clang alike), followed by a NUL. The path is relative to the
 * directory the compiler runs in, the top of the tree, as the Makefile
 * does it; the Makefile also makes openapi.o depend on the file, since
 * -MMD does not see .incbin.
 */
#include "magsd/openapi.h"

#include <stdio.h>
#include <string.h>

#include "magsd/api.h"
#include "magsd/route.h"
#include "common/banned.h"

#define OPENAPI_JSON_FILE "src/magsd/openapi.json"

__asm__(".pushsection .rodata\n"
	".balign 16\n"
	".globl mags_openapi_json_start\n"
	".hidden mags_openapi_json_start\n"
	".globl mags_openapi_json_end\n"
	".hidden mags_openapi_json_end\n"
	"mags_openapi_json_start:\n"
	".incbin \"" OPENAPI_JSON_FILE "\"\n"
	"mags_openapi_json_end:\n"
	".byte 0\n"
	".popsection\n");

extern const char mags_openapi_json_start[] __attribute__((visibility("hidden")));
extern const char mags_openapi_json_end[] __attribute__((visibility("hidden")));

const char *openapi_json(size_t *len)
{
	if (len)
		*len = (size_t)(mags_openapi_json_end - mags_openapi_json_start);
	return mags_openapi_json_start;
}

int openapi_is_public(const char *method, const char *url)
{
	struct route_params p;

	return !strcmp(method, "GET") && route_match(API_PREFIX "/openapi.json", url, &p);
}

void api_openapi(struct http_req *req)
{
	size_t len;
	const char *doc = openapi_json(&len);
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)doc, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "out of memory");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	http_reply_response(req, 200, resp);
}

int cmd_routes(int argc, char **argv, const char *data_dir)
{
	const struct api_route *r;
	size_t n;

	(void)data_dir;
	if (argc > 0) {
		fprintf(stderr, "usage: magsd routes\n");
		return 2;
	}
	r = api_routes(&n);
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", r[i].method, r[i].pattern);
	return fflush(stdout) == 0 ? 0 : 1;
}
