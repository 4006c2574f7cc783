/* Unit tests for the network options of mags-runtime (src/runtime/args.c:
 * --net, --net-addr, --net-allow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define BASE "mags-runtime", "run", "--id", "j", "--rootfs", "/i", "--log", "/l", \
	"--run-dir", "/r"

static int parse(int argc, char **argv, struct runtime_config *c, struct mags_err *err)
{
	memset(err, 0, sizeof(*err));
	return args_parse(argc, argv, c, err);
}

static void default_is_no_network(void **state)
{
	char *argv[] = { BASE, "--", "true" };
	struct runtime_config c;
	struct mags_err err;

	assert_int_equal(parse(ARGC(argv), argv, &c, &err), 0);
	assert_int_equal(c.net_mode, RUNTIME_NET_NONE);
	assert_int_equal(c.n_net_allow, 0);
	assert_false(c.has_net_addr);
}

static void nat_with_address_and_allow_list(void **state)
{
	char *argv[] = { BASE, "--net", "nat", "--net-addr=10.200.0.4/30",
			 "--net-allow", "198.51.100.0/25", "--net-allow=203.0.113.9", "--", "true" };
	struct runtime_config c;
	struct mags_err err;

	assert_int_equal(parse(ARGC(argv), argv, &c, &err), 0);
	assert_int_equal(c.net_mode, RUNTIME_NET_NAT);
	assert_true(c.has_net_addr);
	assert_true(c.net_addr.addr == 0x0ac80004u && c.net_addr.prefix == 30);
	assert_int_equal(c.n_net_allow, 2);
	assert_true(c.net_allow[0].addr == 0xc6336400u && c.net_allow[0].prefix == 25);
	assert_true(c.net_allow[1].addr == 0xcb007109u && c.net_allow[1].prefix == 32);
}

static void bad_network_options(void **state)
{
	struct { char *opt, *val; const char *msg; } cases[] = {
		{ "--net", "bridge", "invalid --net 'bridge'" },
		{ "--net-addr", "10.200.0.5/30", "invalid --net-addr" },
		{ "--net-addr", "10.9.0.4/30", "invalid --net-addr" },
		{ "--net-addr", "10.200.0.0/24", "invalid --net-addr" },
		{ "--net-allow", "198.51.100.1/24", "invalid --net-allow" },
		{ "--net-allow", "example.com", "invalid --net-allow" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { BASE, "--net", "nat", cases[i].opt, cases[i].val, "--", "true" };
		struct runtime_config c;
		struct mags_err err;

		assert_int_equal(parse(ARGC(argv), argv, &c, &err), -22);
		assert_non_null(strstr(err.msg, cases[i].msg));
	}
}

static void allow_list_and_address_need_nat(void **state)
{
	char *a[] = { BASE, "--net-allow", "198.51.100.0/24", "--", "true" };
	char *b[] = { BASE, "--net", "none", "--net-addr", "10.200.0.4/30", "--", "true" };
	struct runtime_config c;
	struct mags_err err;

	assert_int_equal(parse(ARGC(a), a, &c, &err), -22);
	assert_string_equal(err.msg, "--net-allow needs --net nat");
	assert_int_equal(parse(ARGC(b), b, &c, &err), -22);
	assert_string_equal(err.msg, "--net-addr needs --net nat");
}

static void allow_list_is_bounded(void **state)
{
	char *argv[10 + 2 * (NETCFG_ALLOW_MAX + 1) + 4];
	char vals[NETCFG_ALLOW_MAX + 1][24];
	char *base[] = { BASE, "--net", "nat" };
	struct runtime_config c;
	struct mags_err err;
	int n = 0;

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	for (int i = 0; i <= NETCFG_ALLOW_MAX; i++) {
		snprintf(vals[i], sizeof(vals[i]), "198.51.100.%d", i);
		argv[n++] = "--net-allow";
		argv[n++] = vals[i];
	}
	argv[n++] = "--";
	argv[n++] = "true";
	assert_int_equal(parse(n, argv, &c, &err), -22);
	assert_non_null(strstr(err.msg, "too many --net-allow"));
	/* Without the 65th, the 64 are accepted. */
	argv[n - 4] = "--";
	argv[n - 3] = "true";
	assert_int_equal(parse(n - 2, argv, &c, &err), 0);
	assert_int_equal(c.n_net_allow, NETCFG_ALLOW_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_is_no_network),
		cmocka_unit_test(nat_with_address_and_allow_list),
		cmocka_unit_test(bad_network_options),
		cmocka_unit_test(allow_list_and_address_need_nat),
		cmocka_unit_test(allow_list_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
