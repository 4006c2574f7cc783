/*
 * fuzz_files_name.c - libFuzzer target for the file name an upload gives
 * (files_sanitize_name, src/magsd/files.h): it becomes one path component
 * under DATA_DIR/files/<user>/<id>/ and later a file in a job's /root, so
 * it must never be a path. Checks: no '/', '\', ':' or control byte, not
 * "", "." or "..", at most FILES_NAME_MAX bytes, and sanitizing again
 * changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/files.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[FILES_NAME_MAX + 1], again[FILES_NAME_MAX + 1];
	char *in;
	size_t n;

	if (size > 4096)
		return 0;
	in = malloc(size + 1);
	if (!in)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	memset(out, 0x5a, sizeof(out));
	files_sanitize_name(in, out);
	n = strlen(out);
	CHECK(n >= 1 && n <= FILES_NAME_MAX);
	CHECK(strcmp(out, ".") && strcmp(out, ".."));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\' && c != ':');
	}
	files_sanitize_name(out, again);
	CHECK(!strcmp(out, again));
	free(in);
	return 0;
}
