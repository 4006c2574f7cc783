/*
 * netcfg.c - addressing plan of the sandbox network (see netcfg.h).
 * Pure functions, unit-tested in tests/unit/test_netcfg.c.
 */
#include "common/netcfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

int netcfg_parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t a = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		int digits = 0;

		if (part > 0 && *s++ != '.')
			return -EINVAL;
		while (*s >= '0' && *s <= '9') {
			if (digits == 1 && v == 0)
				return -EINVAL; /* leading zero */
			v = v * 10 + (unsigned)(*s++ - '0');
			if (++digits > 3 || v > 255)
				return -EINVAL;
		}
		if (!digits)
			return -EINVAL;
		a = a << 8 | v;
	}
	if (*s)
		return -EINVAL;
	*out = a;
	return 0;
}

static uint32_t mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int netcfg_parse_cidr(const char *s, struct netcfg_cidr *out)
{
	const char *slash = strchr(s, '/');
	char ip[16];
	unsigned prefix = 32;
	uint32_t a;

	if (slash) {
		const char *p = slash + 1;
		size_t n = (size_t)(slash - s);

		if (n >= sizeof(ip) || !*p || strlen(p) > 2)
			return -EINVAL;
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9' || (p == slash + 1 && *p == '0' && p[1]))
				return -EINVAL;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > 32)
			return -EINVAL;
		memcpy(ip, s, n);
		ip[n] = '\0';
		s = ip;
	}
	if (netcfg_parse_ipv4(s, &a) < 0 || (a & ~mask_of(prefix)))
		return -EINVAL;
	out->addr = a;
	out->prefix = prefix;
	return 0;
}

char *netcfg_format_ipv4(uint32_t a, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}

int netcfg_cidr_contains(const struct netcfg_cidr *c, uint32_t addr)
{
	return (addr & mask_of(c->prefix)) == c->addr;
}

void netcfg_link_at(uint32_t index, struct netcfg_link *l)
{
	index %= NETCFG_LINKS;
	l->index = index;
	l->subnet = NETCFG_POOL_ADDR + 4 * index;
	l->host = l->subnet + 1;
	l->sandbox = l->subnet + 2;
	snprintf(l->ifname, sizeof(l->ifname), NETCFG_IFNAME_PREFIX "%u", index);
}

void netcfg_link_for_uid_base(uint32_t uid_base, struct netcfg_link *l)
{
	netcfg_link_at(uid_base >> 16, l);
}

int netcfg_link_for_subnet(const struct netcfg_cidr *c, struct netcfg_link *l)
{
	const struct netcfg_cidr pool = { NETCFG_POOL_ADDR, NETCFG_POOL_PREFIX };

	if (c->prefix != NETCFG_LINK_PREFIX || !netcfg_cidr_contains(&pool, c->addr))
		return -EINVAL;
	netcfg_link_at((c->addr - NETCFG_POOL_ADDR) / 4, l);
	return 0;
}

int netcfg_nameservers(const char *text, uint32_t *out, int max)
{
	int n = 0;

	while (*text && n < max) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[256], word[64];
		uint32_t a;

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			/* "nameserver ADDR" and nothing but blanks or a comment after */
			if (sscanf(line, " nameserver %63s", word) == 1 &&
			    netcfg_parse_ipv4(word, &a) == 0 && (a >> 24) != 127) {
				int dup = 0;
				for (int i = 0; i < n; i++)
					dup |= out[i] == a;
				if (!dup)
					out[n++] = a;
			}
		}
		text += len + (eol ? 1 : 0);
	}
	return n;
}

char *netcfg_resolv_conf(const uint32_t *ns, int n)
{
	char *text, buf[16];

	if (n <= 0)
		return xstrdup("# written by mags: the host has no nameserver a sandbox can reach\n");
	text = xstrdup("# written by mags: the host's upstream nameservers\n");
	for (int i = 0; i < n; i++) {
		char *next = xasprintf("%snameserver %s\n", text, netcfg_format_ipv4(ns[i], buf));
		free(text);
		text = next;
	}
	return text;
}
