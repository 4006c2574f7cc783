/*
 * fuzz_status_line.c - libFuzzer target for the pure parsers behind the
 * status lines a runtime writes on fd 3 (supervisor.c status_line):
 * "usage cpu_us=N mem_peak=N" (api_usage_parse_status) and "net <ipv4>"
 * (netcfg_parse_ipv4). Input: one line. Checks that usage numbers are not
 * negative and that an address that parses formats back to the same text
 * (one spelling: no leading zeros, no octal).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/netcfg.h"
#include "magsd/api_usage.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t cpu = -1, mem = -1;
	uint32_t a;
	char *s, buf[16];

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (api_usage_parse_status(s, &cpu, &mem) == 0)
		CHECK(cpu >= 0 && mem >= 0);
	if (netcfg_parse_ipv4(s, &a) == 0) {
		netcfg_format_ipv4(a, buf);
		CHECK(!strcmp(buf, s));
	}
	if (size > 4 && !memcmp(s, "net ", 4) && netcfg_parse_ipv4(s + 4, &a) == 0) {
		netcfg_format_ipv4(a, buf);
		CHECK(!strcmp(buf, s + 4));
	}
	free(s);
	return 0;
}
