/*
 * net.h - the sandbox's network.
 *
 * Every sandbox has a network namespace of its own with `lo` up. The
 * supervisor makes it (net_ns_open), owned by the host's user namespace:
 * nothing in the sandbox can reconfigure it, so after the sandbox is gone
 * magsd may keep it, link and all, and hand it to a later sandbox of the
 * same link (--netns-fd): network namespaces are slow to make and slower
 * to destroy (the kernel's cleanup_net), and reuse skips both. With --net nat the supervisor also
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

/*
 * The sandbox's network namespace, as an fd (O_CLOEXEC). With
 * cfg->netns_fd (a kept one from magsd) that fd, checked: a network
 * namespace owned by the host's user namespace. Otherwise a new one,
 * made by unshare in the calling (host root) process and left again at
 * once, with lo up, ping allowed to every group (ping_group_range) and
 * ports below 1024 open to the sandbox's users (ip_unprivileged_port_start:
 * the sandbox's root holds no capability over a namespace the host owns);
 * *fresh says which. -1 with err set on failure.
 */
int net_ns_open(const struct runtime_config *cfg, int *fresh, struct mags_err *err);

/* A detached, read-only sysfs mount of netns (for the sandbox's /sys: a
 * sysfs shows the network namespace of whoever mounts it, and the
 * sandbox itself may not mount one of a namespace the host owns). fd or
 * -errno. */
int net_sysfs_fd(int netns, int host_ns);

/* What the supervisor made, to undo at teardown. */
struct net_link {
	struct netcfg_link link;
	int rtnl;          /* NETLINK_ROUTE socket in the host's namespace */
	int ifindex;       /* the host end's; 0 = no link */
	int has_policy;    /* an allow list is in the firewall */
};

/* Supervisor, host root, before the sandbox's script can run: cfg's
 * --net nat link into the network namespace netns (a kept namespace,
 * !fresh, has its link already: only the policy is added, unless its
 * host end is gone), its firewall policy, and (once per host) the
 * firewall itself.
 * n must be zeroed by the caller first. 0, or -errno with err (what was
 * made is then already undone). */
int net_attach(const struct runtime_config *cfg, int netns, int fresh, struct net_link *n,
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
