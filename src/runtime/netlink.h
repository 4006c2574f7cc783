/*
 * netlink.h - the few rtnetlink requests the sandbox network needs,
 * written by hand over a NETLINK_ROUTE socket (no `ip` subprocess on the
 * path of every sandbox): create a veth pair whose peer lands in another
 * network namespace, add an address, bring a link up, add a default
 * route, delete a link.
 *
 * Each call sends one request and waits for its acknowledgement on the
 * socket given, which acts on the network namespace it was created in.
 * Returns 0 or -errno (the kernel's answer). Addresses are host order.
 */
#ifndef MAGS_RUNTIME_NETLINK_H
#define MAGS_RUNTIME_NETLINK_H

#include <stdint.h>

/* A NETLINK_ROUTE socket (O_CLOEXEC) in the caller's network namespace,
 * or -errno. */
int netlink_open(void);

/* veth pair: `name` here, `peer` in the namespace of netns_fd, both
 * down. -EEXIST if `name` exists. */
int netlink_veth_create(int fd, const char *name, const char *peer, int netns_fd);

/* No IPv6 on a link that is still down: addr_gen_mode none, so it never
 * gets an fe80:: address (the kernel refuses this at creation). */
int netlink_link_no_ipv6(int fd, int ifindex);

int netlink_link_up(int fd, int ifindex);
int netlink_addr_add(int fd, int ifindex, uint32_t addr, unsigned prefix);
int netlink_route_default(int fd, int ifindex, uint32_t gateway);
/* Deleting one end of a veth deletes both. -ENODEV if there is none. */
int netlink_link_del(int fd, int ifindex);

/* Does the nftables table `name` of family (NFPROTO_INET, ...) exist:
 * 1 yes, 0 no, -errno if the kernel could not be asked (one
 * NFT_MSG_GETTABLE over NETLINK_NETFILTER). */
int netlink_nft_table_exists(int family, const char *name);

#endif
