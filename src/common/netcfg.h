/*
 * netcfg.h - the sandbox network's addressing plan and its pure parts:
 * IPv4 and CIDR parsing, the 10.200.0.0/16 pool of /30 links, interface
 * names, and the nameservers a sandbox's /etc/resolv.conf points at.
 * Shared by mags-runtime (which builds the link) and magsd (which may
 * hand out addresses with --net-addr). No I/O.
 *
 * The pool: 10.200.0.0/16 is cut into 16384 /30s. Link i is
 * 10.200.0.0 + 4*i: .+1 is the host end (interface "mg<i>" on the host,
 * the sandbox's gateway), .+2 is the sandbox's eth0. Without --net-addr
 * the link is derived from the uid base: i = (uid_base >> 16) % 16384.
 * Two live sandboxes never share a uid range and ranges are 65536 ids
 * wide, so two distinct uid bases below 2^30 give distinct links.
 */
#ifndef MAGS_COMMON_NETCFG_H
#define MAGS_COMMON_NETCFG_H

#include <stddef.h>
#include <stdint.h>

#define NETCFG_POOL_ADDR    0x0ac80000u /* 10.200.0.0 */
#define NETCFG_POOL_PREFIX  16
#define NETCFG_POOL_CIDR    "10.200.0.0/16"
#define NETCFG_LINK_PREFIX  30
#define NETCFG_LINKS        16384u      /* /30s in the pool */
#define NETCFG_IFNAME_PREFIX "mg"       /* host ends: mg0 .. mg16383 */
#define NETCFG_IFNAME_GLOB  "mg*"
#define NETCFG_ALLOW_MAX    64          /* --net-allow entries */
#define NETCFG_NAMESERVERS_MAX 3        /* as the resolver reads */
/* The nameserver of sandboxes when magsd forwards DNS (magsd/dns.h): the
 * firewall redirects it to the gateway of the link a query comes in on,
 * where magsd listens. An address of link 0, which magsd never hands out. */
#define NETCFG_DNS_ADDR     "10.200.0.1"

/* An IPv4 network, host byte order, host bits zero. */
struct netcfg_cidr {
	uint32_t addr;
	unsigned prefix; /* 0..32 */
};

/* One sandbox's link (all addresses host byte order). */
struct netcfg_link {
	uint32_t index;   /* position in the pool */
	uint32_t subnet;  /* the /30 */
	uint32_t host;    /* subnet + 1: the host end, the sandbox's gateway */
	uint32_t sandbox; /* subnet + 2: eth0 inside */
	char ifname[16];  /* "mg<index>", the host end's name */
};

/* Dotted quad, exactly four decimal parts 0..255 without leading zeros
 * (so "010.1.1.1" is not silently octal somewhere else). 0 or -EINVAL. */
int netcfg_parse_ipv4(const char *s, uint32_t *out);

/* "A.B.C.D/N" or "A.B.C.D" (= /32). Host bits must be zero: a typo like
 * 198.51.100.7/24 is refused rather than widened. 0 or -EINVAL. */
int netcfg_parse_cidr(const char *s, struct netcfg_cidr *out);

/* buf of at least 16 bytes. Returns buf. */
char *netcfg_format_ipv4(uint32_t addr, char *buf);

/* Is addr inside cidr. */
int netcfg_cidr_contains(const struct netcfg_cidr *cidr, uint32_t addr);

/* The link at pool position index (taken modulo NETCFG_LINKS). */
void netcfg_link_at(uint32_t index, struct netcfg_link *link);

/* The default link of a sandbox whose ids start at uid_base. */
void netcfg_link_for_uid_base(uint32_t uid_base, struct netcfg_link *link);

/* The link for --net-addr: a /30 inside the pool given by its network
 * address ("10.200.1.8/30"). 0 or -EINVAL. */
int netcfg_link_for_subnet(const struct netcfg_cidr *subnet, struct netcfg_link *link);

/* The IPv4 nameservers of a resolv.conf text, in order, skipping
 * loopback ones (127.0.0.0/8: stub resolvers such as systemd-resolved's
 * 127.0.0.53 mean nothing inside another network namespace) and IPv6
 * ones (sandboxes have no IPv6 egress). At most max. Returns the count. */
int netcfg_nameservers(const char *resolv_conf, uint32_t *out, int max);

/* The sandbox's /etc/resolv.conf for these nameservers (malloc'd). */
char *netcfg_resolv_conf(const uint32_t *ns, int n);

#endif
