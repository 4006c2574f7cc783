/*
 * network.h - magsd's side of the sandbox network (issue 5; the runtime
 * builds the links, see docs/ARCHITECTURE.md "Sandbox network"): the
 * host's firewall set up once at start, and the pool of /30 links handed
 * to sandboxes with --net-addr.
 *
 * magsd allocates the links itself instead of letting the runtime derive
 * them from the uid base: every magsd on a host uses the same uid-base
 * slots, so two daemons (several test sessions, a staging daemon beside
 * production) would both give their first sandbox mg1. A link whose host
 * end (mg<i>) already exists on the host is skipped, and the search starts
 * at a random link, so daemons that start together do not race for the
 * same one. Taking a link opens the DNS forwarder's sockets on it, and
 * releasing it closes them (dns.h).
 */
#ifndef MAGS_MAGSD_NETWORK_H
#define MAGS_MAGSD_NETWORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Links magsd hands out: [FIRST, END). Links from END up are left to
 * whatever drives mags-runtime directly (tests/e2e/test_network.py uses
 * 9000 and up). */
#define NETWORK_LINK_FIRST 1u
#define NETWORK_LINK_END 8192u
#define NETWORK_SETUP_TIMEOUT_MS 10000

/* Run `runtime net-setup` (nftables table inet mags, ip_forward) and wait
 * for it, at most NETWORK_SETUP_TIMEOUT_MS. Runs before the loop starts.
 * 0, or negative errno with err saying why (the tool's own message when
 * it printed one). */
int network_setup(const char *runtime, struct mags_err *err);

/*
 * Kept network namespaces (issue 8): a sandbox's network namespace is
 * made by its runtime, owned by the host (nothing inside can change it),
 * with the link of its address in it. When the sandbox is gone magsd
 * keeps the namespace (an fd: the kernel would otherwise destroy it, in
 * ~30 ms of background work, and the next sandbox would build another)
 * and hands it to the next sandbox of that link (--netns-fd). At most
 * `keep` namespaces wait unused ("spare" links); taking a link prefers a
 * spare one, most recently used first. magsd's exit closes them all and
 * the kernel removes them with their links.
 *
 * A namespace is only ever lent again to the same tenant (user) whose
 * sandbox used it last, or to anyone if no tenant's sandbox ran in it
 * yet: what a sandbox leaves in a network namespace that outlives it is
 * little (its processes and sockets die with it) but not nothing (the
 * interface and protocol counters in /proc/net, TIME_WAIT sockets for a
 * minute), and none of it may reach another tenant.
 */
#define NETWORK_LINK_FREE 0
#define NETWORK_LINK_USED 1
#define NETWORK_LINK_SPARE 2   /* free, with a kept namespace */

struct network_links {
	unsigned char used[NETWORK_LINK_END];   /* NETWORK_LINK_* */
	int netns[NETWORK_LINK_END];            /* kept namespace fd, -1 = none */
	int spare[NETWORK_LINK_END];            /* stack of SPARE links */
	int n_spare;
	char *owner[NETWORK_LINK_END];          /* user its sandbox ran for, NULL = none */
	int keep;             /* at most this many spare (0: no reuse) */
	uint32_t next;        /* where the next search starts */
};

/* Start the search at a random link; keep up to keep spare namespaces. */
void network_links_init(struct network_links *nl, int keep);

/* A free link: a spare one of user's (or of no one's yet; user NULL: any
 * spare, for a pool member whose job is not known: see
 * network_link_owner), or one not held by one of our sandboxes and
 * without an interface mg<i> on the host. Its index, or -EAGAIN when
 * every link is taken. */
int network_link_take(struct network_links *nl, const char *user);
/* The link is free again, its sandbox having run for user (NULL: no job
 * ran, the owner stays); its namespace, if kept, waits as a spare (or is
 * let go beyond `keep`). */
void network_link_release(struct network_links *nl, int index, const char *user);
/* The user whose sandbox last ran in the link's kept namespace, or NULL. */
const char *network_link_owner(const struct network_links *nl, int index);

/* The kept namespace of a link (to pass to its runtime), or -1. */
int network_link_netns(const struct network_links *nl, int index);

/* A runtime of link index reported its new namespace ("netns FD DEV INO"
 * status line, rest = "FD DEV INO"): open it through /proc/<pid>/fd/FD
 * (pid: that runtime, our unreaped child), check it is that namespace,
 * and keep it for the link. Quietly does nothing when reuse is off, the
 * link has one already, or the check fails. */
void network_link_adopt_netns(struct network_links *nl, int index, pid_t pid,
			      const char *rest);

/* How many namespaces are kept (spare or in use). */
int network_netns_kept(const struct network_links *nl);

/* "--net-addr" value of link index: "10.200.A.B/30" (buf >= 20 bytes). */
void network_link_subnet(int index, char *buf, size_t n);

struct config;
struct loop;

/*
 * DNS (dns.c): take the upstreams of the `dns_upstream` setting and start
 * the forwarder when `dns_forward` is "on", or "auto" and the host's
 * resolvers are all on its loopback (a sandbox could not reach them). With
 * the forwarder on, MAGS_RUNTIME_DNS=NETCFG_DNS_ADDR is put in magsd's
 * environment, which the runtimes it starts inherit: their sandboxes'
 * resolv.conf then names that address (netfw.c). Logs what it decided;
 * never stops the start.
 */
void network_dns_start(const struct config *cfg, struct loop *loop);

/*
 * An allow list as stored ("entry,entry,...": CIDRs and hostnames) with
 * each hostname replaced by its addresses as /32s (dns_resolve_a, bounded
 * in time), for --net-allow. The new list (malloc'd) in *out, or -1 with
 * err set: a name that does not resolve, or more than NETCFG_ALLOW_MAX
 * networks in all.
 */
int network_allow_resolve(const char *list, char **out, struct mags_err *err);

#endif
