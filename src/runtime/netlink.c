/*
 * netlink.c - hand-written rtnetlink requests (see netlink.h).
 *
 * A request is built in a fixed buffer as nlmsghdr + family header +
 * attributes (nested ones by patching their length after the inner
 * attributes are written), sent with NLM_F_ACK, and the reply is read
 * until the NLMSG_ERROR that carries the request's errno (0 = done).
 */
#include "runtime/netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/banned.h"

#ifndef IN6_ADDR_GEN_MODE_NONE
#define IN6_ADDR_GEN_MODE_NONE 1
#endif

struct req {
	union {
		struct nlmsghdr nh;
		char buf[1024];
	};
};

static void *req_init(struct req *r, uint16_t type, uint16_t flags, size_t hdr_len)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nh.nlmsg_len = NLMSG_LENGTH(hdr_len);
	return NLMSG_DATA(&r->nh);
}

/* Append an attribute; returns it (for nesting). The buffer is far
 * larger than any request here, so running out is a programming error. */
static struct rtattr *req_attr(struct req *r, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);
	struct rtattr *a = (struct rtattr *)(r->buf + off);

	if (off + RTA_SPACE(len) > sizeof(r->buf))
		abort();
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (data)
		memcpy(RTA_DATA(a), data, len);
	else
		memset(RTA_DATA(a), 0, len); /* room the caller fills in */
	r->nh.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
	return a;
}

static void req_nest_end(struct req *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(r->buf + r->nh.nlmsg_len - (char *)nest);
}

static int req_talk(int fd, struct req *r)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char buf[4096];
	static uint32_t seq;

	r->nh.nlmsg_seq = ++seq;
	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->nh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error; /* 0 or -errno */
			}
		}
	}
}

int netlink_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct timeval tv = { .tv_sec = 5 };

	if (fd < 0)
		return -errno;
	/* The kernel always answers; the bound keeps a bug from hanging us. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE none } }: no fe80::
 * address, so the link carries no IPv6 at all (no router solicitations
 * to the host, no link-local path to the host's services). */
static void add_no_ipv6(struct req *r)
{
	struct rtattr *spec = req_attr(r, IFLA_AF_SPEC, NULL, 0);
	struct rtattr *in6 = req_attr(r, AF_INET6, NULL, 0);
	uint8_t mode = IN6_ADDR_GEN_MODE_NONE;

	req_attr(r, IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
	req_nest_end(r, in6);
	req_nest_end(r, spec);
}

int netlink_veth_create(int fd, const char *name, const char *peer, int netns_fd)
{
	struct req r;
	struct rtattr *linkinfo, *data, *peer_attr;
	struct ifinfomsg *peer_ifi;
	uint32_t nsfd = (uint32_t)netns_fd;

	req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
	req_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	linkinfo = req_attr(&r, IFLA_LINKINFO, NULL, 0);
	req_attr(&r, IFLA_INFO_KIND, "veth", 4);
	data = req_attr(&r, IFLA_INFO_DATA, NULL, 0);
	/* VETH_INFO_PEER holds an ifinfomsg, then the peer's attributes. */
	peer_attr = req_attr(&r, VETH_INFO_PEER, NULL, sizeof(struct ifinfomsg));
	peer_ifi = RTA_DATA(peer_attr);
	peer_ifi->ifi_family = AF_UNSPEC;
	req_attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
	req_attr(&r, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
	req_nest_end(&r, peer_attr);
	req_nest_end(&r, data);
	req_nest_end(&r, linkinfo);
	return req_talk(fd, &r);
}

int netlink_link_no_ipv6(int fd, int ifindex)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_index = ifindex;
	add_no_ipv6(&r);
	return req_talk(fd, &r);
}

int netlink_link_up(int fd, int ifindex)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return req_talk(fd, &r);
}

int netlink_addr_add(int fd, int ifindex, uint32_t addr, unsigned prefix)
{
	struct req r;
	struct ifaddrmsg *ifa = req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
					 sizeof(*ifa));
	uint32_t be = htonl(addr);

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	req_attr(&r, IFA_LOCAL, &be, 4);
	req_attr(&r, IFA_ADDRESS, &be, 4);
	return req_talk(fd, &r);
}

int netlink_route_default(int fd, int ifindex, uint32_t gateway)
{
	struct req r;
	struct rtmsg *rt = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
	uint32_t be = htonl(gateway), oif = (uint32_t)ifindex;

	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	req_attr(&r, RTA_GATEWAY, &be, 4);
	req_attr(&r, RTA_OIF, &oif, 4);
	return req_talk(fd, &r);
}

int netlink_link_del(int fd, int ifindex)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_DELLINK, 0, sizeof(*ifi));

	ifi->ifi_index = ifindex;
	return req_talk(fd, &r);
}

int netlink_nft_table_exists(int family, const char *name)
{
	struct req r;
	struct nfgenmsg *g;
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	g = req_init(&r, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0, sizeof(*g));
	g->nfgen_family = (uint8_t)family;
	g->version = NFNETLINK_V0;
	req_attr(&r, NFTA_TABLE_NAME, name, strlen(name) + 1);
	ret = req_talk(fd, &r);
	close(fd);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}
