/* Unit tests for the sandbox network's addressing plan (src/common/netcfg.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/netcfg.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static void ipv4_addresses_parse_strictly(void **state)
{
	uint32_t a;

	assert_int_equal(netcfg_parse_ipv4("10.200.0.1", &a), 0);
	assert_true(a == IP(10, 200, 0, 1));
	assert_int_equal(netcfg_parse_ipv4("0.0.0.0", &a), 0);
	assert_true(a == 0);
	assert_int_equal(netcfg_parse_ipv4("255.255.255.255", &a), 0);
	assert_true(a == 0xffffffffu);
	static const char *const bad[] = {
		"", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
		"01.2.3.4", "1..3.4", "1.2.3.", "a.b.c.d", "1.2.3.4/", "1000.1.1.1",
		"-1.2.3.4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(netcfg_parse_ipv4(bad[i], &a), -22);
}

static void cidrs_need_zero_host_bits(void **state)
{
	struct netcfg_cidr c;

	assert_int_equal(netcfg_parse_cidr("198.51.100.0/25", &c), 0);
	assert_true(c.addr == IP(198, 51, 100, 0) && c.prefix == 25);
	assert_int_equal(netcfg_parse_cidr("198.51.100.7", &c), 0);
	assert_true(c.addr == IP(198, 51, 100, 7) && c.prefix == 32);
	assert_int_equal(netcfg_parse_cidr("0.0.0.0/0", &c), 0);
	assert_true(c.addr == 0 && c.prefix == 0);
	assert_true(netcfg_cidr_contains(&c, IP(8, 8, 8, 8)));
	assert_int_equal(netcfg_parse_cidr("198.51.100.7/24", &c), -22);
	assert_int_equal(netcfg_parse_cidr("198.51.100.0/33", &c), -22);
	assert_int_equal(netcfg_parse_cidr("198.51.100.0/", &c), -22);
	assert_int_equal(netcfg_parse_cidr("198.51.100.0/024", &c), -22);
	assert_int_equal(netcfg_parse_cidr("198.51.100.0/2x", &c), -22);
	assert_int_equal(netcfg_parse_cidr("/24", &c), -22);

	assert_int_equal(netcfg_parse_cidr("198.51.100.0/25", &c), 0);
	assert_true(netcfg_cidr_contains(&c, IP(198, 51, 100, 1)));
	assert_true(netcfg_cidr_contains(&c, IP(198, 51, 100, 127)));
	assert_false(netcfg_cidr_contains(&c, IP(198, 51, 100, 128)));
	assert_false(netcfg_cidr_contains(&c, IP(198, 51, 100, 200)));
}

static void links_follow_the_pool(void **state)
{
	struct netcfg_link l;
	char buf[16];

	netcfg_link_at(0, &l);
	assert_string_equal(netcfg_format_ipv4(l.host, buf), "10.200.0.1");
	assert_string_equal(netcfg_format_ipv4(l.sandbox, buf), "10.200.0.2");
	assert_string_equal(l.ifname, "mg0");
	netcfg_link_at(16383, &l);
	assert_string_equal(netcfg_format_ipv4(l.subnet, buf), "10.200.255.252");
	assert_string_equal(netcfg_format_ipv4(l.sandbox, buf), "10.200.255.254");
	assert_string_equal(l.ifname, "mg16383");
	netcfg_link_at(16384, &l); /* wraps */
	assert_int_equal(l.index, 0);
}

static void uid_bases_map_to_distinct_links(void **state)
{
	struct netcfg_link l, m;
	char buf[16];

	/* magsd's default: 100000 + slot * 65536 */
	netcfg_link_for_uid_base(100000, &l);
	assert_int_equal(l.index, 1);
	assert_string_equal(netcfg_format_ipv4(l.sandbox, buf), "10.200.0.6");
	assert_string_equal(l.ifname, "mg1");
	netcfg_link_for_uid_base(100000 + 65536, &m);
	assert_int_equal(m.index, 2);
	/* Any two non-overlapping 65536-id ranges land on different links. */
	for (uint32_t b = 65536; b < (1u << 24); b += 4099) {
		netcfg_link_for_uid_base(b, &l);
		netcfg_link_for_uid_base(b + 65536, &m);
		assert_int_not_equal(l.index, m.index);
	}
}

static void net_addr_must_be_a_pool_slash_30(void **state)
{
	struct netcfg_cidr c;
	struct netcfg_link l;

	assert_int_equal(netcfg_parse_cidr("10.200.1.8/30", &c), 0);
	assert_int_equal(netcfg_link_for_subnet(&c, &l), 0);
	assert_int_equal(l.index, (256 + 8) / 4);
	assert_true(l.host == IP(10, 200, 1, 9) && l.sandbox == IP(10, 200, 1, 10));
	assert_string_equal(l.ifname, "mg66");
	assert_int_equal(netcfg_parse_cidr("10.200.1.8/29", &c), 0);
	assert_int_equal(netcfg_link_for_subnet(&c, &l), -22);
	assert_int_equal(netcfg_parse_cidr("10.201.0.0/30", &c), 0);
	assert_int_equal(netcfg_link_for_subnet(&c, &l), -22);
	assert_int_equal(netcfg_parse_cidr("10.200.1.9/30", &c), -22); /* host bits */
}

static void nameservers_skip_stubs_and_ipv6(void **state)
{
	uint32_t ns[3];
	const char *conf =
		"# generated\n"
		"search corp.example\n"
		"nameserver 127.0.0.53\n"
		"nameserver   10.255.255.53\n"
		"\tnameserver 2001:db8::1\n"
		"nameserver 10.255.255.53\n"  /* duplicate */
		"nameserverx 1.1.1.1\n"
		"#nameserver 9.9.9.9\n"
		"nameserver 192.0.2.53 # a comment\n"
		"nameserver 198.51.100.53\n"
		"nameserver 203.0.113.53";       /* no final newline; 4th: over max */

	assert_int_equal(netcfg_nameservers(conf, ns, 3), 3);
	assert_true(ns[0] == IP(10, 255, 255, 53));
	assert_true(ns[1] == IP(192, 0, 2, 53));
	assert_true(ns[2] == IP(198, 51, 100, 53));
	assert_int_equal(netcfg_nameservers("nameserver 127.0.0.53\n", ns, 3), 0);
	assert_int_equal(netcfg_nameservers("", ns, 3), 0);
}

static void resolv_conf_lists_them(void **state)
{
	uint32_t ns[2] = { IP(10, 255, 255, 53), IP(192, 0, 2, 53) };
	char *t = netcfg_resolv_conf(ns, 2);

	assert_non_null(strstr(t, "\nnameserver 10.255.255.53\nnameserver 192.0.2.53\n"));
	free(t);
	t = netcfg_resolv_conf(ns, 0);
	assert_null(strstr(t, "\nnameserver"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_addresses_parse_strictly),
		cmocka_unit_test(cidrs_need_zero_host_bits),
		cmocka_unit_test(links_follow_the_pool),
		cmocka_unit_test(uid_bases_map_to_distinct_links),
		cmocka_unit_test(net_addr_must_be_a_pool_slash_30),
		cmocka_unit_test(nameservers_skip_stubs_and_ipv6),
		cmocka_unit_test(resolv_conf_lists_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
