/*
 * test_dns.c - the DNS wire format of magsd's resolver and forwarder
 * (src/magsd/dns.c): hostnames as allow lists take them, the query built
 * for a name, answers parsed (compression, CNAME chains, error codes,
 * someone else's id, truncation), and what the forwarder agrees to relay.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "magsd/dns.h"

static void names_are_hostnames(void **state)
{
	(void)state;
	assert_true(dns_name_valid("example.com"));
	assert_true(dns_name_valid("localhost"));
	assert_true(dns_name_valid("A-b.c0.example"));
	assert_true(dns_name_valid("1.2.3.example"));
	assert_false(dns_name_valid(""));
	assert_false(dns_name_valid(".example.com"));
	assert_false(dns_name_valid("example.com."));
	assert_false(dns_name_valid("a..b"));
	assert_false(dns_name_valid("-a.b"));
	assert_false(dns_name_valid("a-.b"));
	assert_false(dns_name_valid("a_b.c"));
	assert_false(dns_name_valid("a b"));
	assert_false(dns_name_valid("10.1.2.3"));
	assert_false(dns_name_valid("10.1.2.300"));
	char lab[70];
	memset(lab, 'a', 64);
	lab[64] = '\0';
	assert_false(dns_name_valid(lab));
	lab[63] = '\0';
	assert_true(dns_name_valid(lab));
	char big[300];
	memset(big, 'a', 254);
	for (int i = 60; i < 254; i += 61)
		big[i] = '.';
	big[254] = '\0';
	assert_false(dns_name_valid(big));
}

static void query_is_standard(void **state)
{
	uint8_t q[300];
	int n;

	(void)state;
	n = dns_query_build("Ab.example", 0x1234, q, sizeof(q));
	assert_int_equal(n, 12 + 12 + 4);
	assert_int_equal(q[0], 0x12);
	assert_int_equal(q[1], 0x34);
	assert_int_equal(q[2], 0x01);
	assert_int_equal(q[5], 1);
	assert_memory_equal(q + 12, "\002ab\007example\000\000\001\000\001", 16);
	assert_true(dns_query_ok(q, (size_t)n));
	assert_int_equal(dns_query_build("bad name", 1, q, sizeof(q)), -EINVAL);
	assert_int_equal(dns_query_build("example.com", 1, q, 20), -EINVAL);
}

/* An answer to "www.example" (id 7): a CNAME to "x.example" (compressed)
 * and two A records. */
static size_t answer(uint8_t *m, int rcode, int tc)
{
	static const uint8_t a[] = {
		0, 7, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
		/* www.example CNAME x.example */
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 'x', 0xc0, 16,
		/* x.example A 198.51.100.7 */
		0xc0, 41, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7,
		/* x.example A 203.0.113.9 */
		0xc0, 41, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 9,
	};
	memcpy(m, a, sizeof(a));
	m[3] = (uint8_t)(0x80 | rcode);
	if (tc)
		m[2] |= 0x02;
	return sizeof(a);
}

static void answers_are_parsed(void **state)
{
	uint8_t m[512];
	uint32_t out[4];
	size_t len = answer(m, 0, 0);

	(void)state;
	assert_int_equal(dns_answer_parse(m, len, 7, out, 4), 2);
	assert_int_equal(out[0], 0xc6336407u);
	assert_int_equal(out[1], 0xcb007109u);
	assert_int_equal(dns_answer_parse(m, len, 7, out, 1), 1);
	/* another id, a query, cut short: not an answer to us */
	assert_int_equal(dns_answer_parse(m, len, 8, out, 4), -EINVAL);
	for (size_t cut = 30; cut < len; cut += 7)
		assert_int_equal(dns_answer_parse(m, cut, 7, out, 4), -EINVAL);
	m[2] &= 0x7f;
	assert_int_equal(dns_answer_parse(m, len, 7, out, 4), -EINVAL);
	len = answer(m, 3, 0);
	assert_int_equal(dns_answer_parse(m, len, 7, out, 4), -ENOENT);
	len = answer(m, 2, 0);
	assert_int_equal(dns_answer_parse(m, len, 7, out, 4), -EIO);
	/* a compression loop is refused, not followed */
	len = answer(m, 0, 0);
	m[29] = 0xc0;
	m[30] = 29;
	assert_true(dns_answer_parse(m, len, 7, out, 4) <= 2);
}

static void forwarder_relays_only_plain_queries(void **state)
{
	uint8_t q[600];
	int n;

	(void)state;
	n = dns_query_build("example.com", 9, q, sizeof(q));
	assert_true(dns_query_ok(q, (size_t)n));
	assert_false(dns_query_ok(q, 11));
	assert_false(dns_query_ok(q, (size_t)n - 1));   /* the question cut */
	q[2] |= 0x80;                                   /* a response */
	assert_false(dns_query_ok(q, (size_t)n));
	q[2] = 0x01 | (5 << 3);                         /* opcode UPDATE */
	assert_false(dns_query_ok(q, (size_t)n));
	q[2] = 0x01;
	q[5] = 2;                                       /* two questions */
	assert_false(dns_query_ok(q, (size_t)n));
	q[5] = 1;
	q[12] = 0xc0;                                   /* compressed question */
	assert_false(dns_query_ok(q, (size_t)n));
	memset(q + 12, 1, sizeof(q) - 12);              /* over 512 bytes */
	assert_false(dns_query_ok(q, 513));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_hostnames),
		cmocka_unit_test(query_is_standard),
		cmocka_unit_test(answers_are_parsed),
		cmocka_unit_test(forwarder_relays_only_plain_queries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
