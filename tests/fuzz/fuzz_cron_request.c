/*
 * fuzz_cron_request.c - libFuzzer target for the /mags-cron body parser
 * (api_cron_parse, src/magsd/api_cron.h). Input: one byte choosing create
 * (even) or patch (odd), then the body. Checks that a parsed create has
 * its required fields and that what it says was set is set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/api_cron.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_cron_input in;
	struct mags_err err;
	int patch;

	if (size < 1)
		return 0;
	patch = data[0] & 1;
	if (api_cron_parse((const char *)data + 1, size - 1, patch, &in, &err) < 0) {
		CHECK(err.code == MAGS_E_BAD_REQUEST && err.msg[0]);
		return 0;
	}
	if (!patch)
		CHECK(in.name && *in.name && in.expr && in.script && *in.script);
	CHECK(!(in.set & API_CRON_NAME) || in.name);
	CHECK(!(in.set & API_CRON_EXPR) || (in.expr && in.expr_field));
	CHECK(!(in.set & API_CRON_SCRIPT) || in.script);
	CHECK(in.enabled == 0 || in.enabled == 1);
	api_cron_input_release(&in);
	return 0;
}
