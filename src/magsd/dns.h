/*
 * dns.h - the host's resolvers as magsd uses them (issue 5): names in
 * allow lists resolved at job start, and a small DNS forwarder for
 * sandboxes when the host's resolver is on its own loopback.
 *
 * Both talk to the upstreams of the `dns_upstream` setting ("ip[:port]"
 * separated by commas or blanks; default: the IPv4 nameservers of the
 * host's /etc/resolv.conf, loopback stubs included, since magsd runs on
 * the host), so an allow list holds the addresses a sandbox would get.
 */
#ifndef MAGS_MAGSD_DNS_H
#define MAGS_MAGSD_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct loop;

#define DNS_UPSTREAM_MAX     4
#define DNS_RESOLVE_MS       2000    /* a name of an allow list, all upstreams */
#define DNS_QUERY_MAX        512     /* a sandbox's query (UDP or TCP) */
#define DNS_INFLIGHT_MAX     256     /* forwarded queries awaiting an answer */
#define DNS_TRY_MS           1500    /* per upstream, then the next one */
#define DNS_RATE             100     /* queries a second per sandbox ... */
#define DNS_BURST            200     /* ... after a burst of this many */
#define DNS_TCP_MAX          64      /* TCP connections from sandboxes */
#define DNS_TCP_IDLE_MS      10000
#define DNS_TCP_PIPELINE     4       /* queries of one connection at once */
/* Marks magsd's forwarder sockets: the firewall lets sandboxes reach port
 * 53 of their gateway only where a socket with this mark listens
 * (netfw.c), never another service of the host. */
#define DNS_SOCKET_MARK      0x6d616773u

/* Set the upstreams from the setting (NULL or "" = the host's
 * resolv.conf). 0, or -EINVAL with err set (a malformed entry, or no
 * upstream at all). Called once at start. */
int dns_configure(const char *setting, struct mags_err *err);
/* The upstreams as text ("127.0.0.1:53, ..."), for the log. */
void dns_upstreams_text(char *buf, size_t n);

/* A hostname as an allow list takes it: 1-253 bytes of dot-separated
 * labels of [A-Za-z0-9-] (1-63, no hyphen at either end), not all digits
 * and dots. 1 or 0. */
int dns_name_valid(const char *name);

/*
 * The IPv4 addresses (A records, following the upstream's CNAMEs) of
 * name, asked of the upstreams in turn within DNS_RESOLVE_MS in all:
 * blocks the caller for at most that long (an allow list's names, at job
 * start). Returns how many were put in out (1..max), or -1 with err set:
 * no such name, no A record, no answer in time.
 */
int dns_resolve_a(const char *name, uint32_t *out, int max, struct mags_err *err);

/*
 * The forwarder: sandboxes send queries to their gateway, port 53 (their
 * resolv.conf names NETCFG_DNS_ADDR, which the firewall redirects to the
 * gateway address of the link they came in on). For each link in use,
 * dns_link_open binds a UDP and a TCP socket to that link's host end .1
 * (IP_FREEBIND: the address appears when the runtime builds the link) and
 * marks them DNS_SOCKET_MARK. Queries are checked (size, a standard query
 * with one question), limited per link (DNS_RATE/DNS_BURST) and in all
 * (DNS_INFLIGHT_MAX), and relayed over UDP to the upstreams; the answer
 * goes back unchanged but for the id. TCP queries (pipelined, up to
 * DNS_TCP_PIPELINE at once per connection) are relayed the same way (the
 * upstream's UDP answer, truncated or not, is what they get).
 */
int dns_forward_start(struct loop *loop, struct mags_err *err);
int dns_forward_on(void);
/* Open / close the sockets of link i (network_link_take/release). Open
 * returns 0 or -errno; both are no-ops while the forwarder is off. */
int dns_link_open(int link);
void dns_link_close(int link);

/* Counters, for the log and tests. */
struct dns_stats {
	uint64_t queries, answered, dropped_rate, dropped_bad, dropped_full, timeouts;
};
void dns_stats_get(struct dns_stats *st);

/* ---- wire format (pure; exposed for the unit tests) ---- */

/* A standard query for name (type A, class IN, recursion desired) with
 * this id into buf; its length, or -EINVAL (name too long or bad). */
int dns_query_build(const char *name, uint16_t id, uint8_t *buf, size_t n);
/* The A records of an answer to query id: count put in out (0..max),
 * -ENOENT for NXDOMAIN, -EIO for another error code, -EINVAL when it is
 * not an answer to that query or is malformed. */
int dns_answer_parse(const uint8_t *msg, size_t len, uint16_t id, uint32_t *out, int max);
/* 1 if msg is a standard query with one question that a forwarder may
 * relay (QR 0, opcode 0, QDCOUNT 1, a well-formed question). */
int dns_query_ok(const uint8_t *msg, size_t len);

#endif
