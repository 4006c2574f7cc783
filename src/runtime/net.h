/*
 * net.h - the sandbox's network.
 *
 * Every sandbox has its own network namespace with `lo` up (the sandbox
 * does that itself, net_loopback_up). With --net nat the supervisor also
 * gives it a link to the host (net_attach): a veth pair, host end
 * "mg<i>" with the pool's .1 address, sandbox end "eth0" with .2 and a
 * default route via .1 (addressing in common/netcfg.h); the host's
 * firewall (netfw.h) NATs its egress and keeps it from the host and
 * from other sandboxes. With --net none there is only loopback.
 */
#ifndef MAGS_RUNTIME_NET_H
#define MAGS_RUNTIME_NET_H

#include <sys/types.h>

#include "common/err.h"
#include "common/netcfg.h"
#include "runtime/args.h"

/* Bring `lo` up in the calling process's network namespace. */
int net_loopback_up(struct mags_err *err);

/* Let every group of the sandbox open ICMP echo sockets (ping without
 * CAP_NET_RAW): net.ipv4.ping_group_range of the namespace, written
 * through the host's /proc before pivot_root (net sysctls act on the
 * writer's network namespace). */
int net_allow_ping(struct mags_err *err);

/* What the supervisor made, to undo at teardown. */
struct net_link {
	struct netcfg_link link;
	int rtnl;          /* NETLINK_ROUTE socket in the host's namespace */
	int ifindex;       /* the host end's; 0 = no link */
	int has_policy;    /* an allow list is in the firewall */
};

/* Supervisor, host root, before the sandbox's script can run: cfg's
 * --net nat link into the network namespace of pid (the sandbox's pid
 * 1), its firewall policy, and (once per host) the firewall itself.
 * n must be zeroed by the caller first. 0, or -errno with err (what was
 * made is then already undone). */
int net_attach(const struct runtime_config *cfg, pid_t pid, struct net_link *n,
	       struct mags_err *err);

/* The job's allow list (--net-allow) on an attached link: net_attach
 * does it itself; a warm-pool member (attached before it knew its job)
 * calls it when it takes the job, before the sandbox runs anything.
 * 0 (also without a list) or -1 with err set. */
int net_policy_add(const struct runtime_config *cfg, struct net_link *n,
		   struct mags_err *err);

/* Undo net_attach (the host end first: deleting it deletes eth0 too, at
 * once, rather than when the kernel gets round to the dead namespace).
 * Safe to call on a zeroed or partly made n. */
void net_detach(struct net_link *n);
/* delete_link 0: leave the veth to the kernel's namespace cleanup (the
 * sandbox has exited, so its network namespace is going away). */
void net_detach_ex(struct net_link *n, int delete_link);

/* A memfd (O_CLOEXEC, at offset 0) holding the sandbox's /etc/resolv.conf:
 * the host's upstream nameservers. -errno on failure. */
int net_resolv_conf_fd(void);

#endif
