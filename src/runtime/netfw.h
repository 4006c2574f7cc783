/*
 * netfw.h - the host's side of the sandbox network: IP forwarding and
 * the nftables table `inet mags` (NAT out, isolation rules), plus the
 * per-sandbox allow lists. The rules are in netfw.c and in
 * docs/ARCHITECTURE.md ("Sandbox network").
 *
 * The table is written with `nft -f` (a program, so only at set-up and
 * for sandboxes with an allow list, never for every sandbox): once by
 * `mags-runtime net-setup` (magsd at start), or lazily by the first
 * `--net nat` sandbox that finds it missing.
 */
#ifndef MAGS_RUNTIME_NETFW_H
#define MAGS_RUNTIME_NETFW_H

#include "common/err.h"
#include "common/netcfg.h"

#define NETFW_TABLE "mags"

/* Enable net.ipv4.ip_forward and (re)write the table's rules and the
 * nameserver set. Idempotent, atomic (one nft transaction), and safe
 * while sandboxes run: their allow lists (the `jobs` map and the
 * allow_<ifindex> chains) are kept; those of sandboxes whose host end
 * is gone (a SIGKILLed supervisor) are removed. 0 or -errno with err. */
int netfw_setup(struct mags_err *err);

/* Remove the table. Refused (-EBUSY) while a host end (mg*) exists,
 * unless force: without the table running sandboxes would reach the
 * host and each other. ip_forward is left as it is. Idempotent. */
int netfw_teardown(int force, struct mags_err *err);

/* Is the host ready for a nat sandbox: the table exists and IP
 * forwarding is on. 1, 0, or -errno. Cheap (one netlink round trip). */
int netfw_ready(void);

/* The allow list of the sandbox whose host end has this ifindex: its
 * egress is limited to allow[] (plus DNS to the host's nameservers).
 * Keyed by ifindex, which the kernel does not reuse soon, so an entry
 * a killed supervisor left behind can never apply to a later sandbox. */
int netfw_job_add(int ifindex, const struct netcfg_cidr *allow, unsigned n,
		  struct mags_err *err);
int netfw_job_del(int ifindex, struct mags_err *err);

/* The host's upstream IPv4 nameservers (see netcfg_nameservers): from
 * /etc/resolv.conf, or when that names only stub resolvers on 127.x,
 * from /run/systemd/resolve/resolv.conf. Returns the count (0..max). */
int netfw_nameservers(uint32_t *out, int max);

/* `mags-runtime net-setup` / `net-teardown [--force]`. Exit code. */
int netfw_main(int argc, char **argv);

#endif
