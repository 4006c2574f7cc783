/*
 * net.c - the sandbox's network namespace: loopback (inside), and with
 * --net nat the veth link to the host (by the supervisor). See net.h.
 *
 * The supervisor configures the sandbox's end without running anything
 * inside: it creates the pair with the peer already in the sandbox's
 * namespace and named eth0 (IFLA_NET_NS_FD), then opens a second
 * rtnetlink socket while briefly joined to that namespace (setns and
 * straight back: a socket stays bound to the namespace it was made in)
 * and sets the address and route through it. The sandbox itself never
 * needs CAP_NET_ADMIN.
 */
#include "runtime/net.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/mount.h>
#include <linux/nsfs.h>

#include "common/util.h"
#include "runtime/netfw.h"
#include "runtime/netlink.h"
#include "common/banned.h"

/* Bring `lo` up in the calling process's network namespace. */
static int net_loopback_up(struct mags_err *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (fd < 0)
		return err_sys(err, errno, "socket");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "get flags of 'lo'");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "bring up 'lo'");
	return 0;
}

/* In a new namespace, as host root: net sysctls act on the writer's
 * namespace and read the values in the writer's user namespace. Every
 * group may ping (only the sandbox's processes live here), every user
 * may bind any port (a sandbox's root has no CAP_NET_BIND_SERVICE over
 * a namespace the host owns). */
static int ns_settings(struct mags_err *err)
{
	static const struct { const char *path, *value; } set[] = {
		{ "/proc/sys/net/ipv4/ping_group_range", "0 2147483647" },
		{ "/proc/sys/net/ipv4/ip_unprivileged_port_start", "0" },
	};
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		int r = write_file(set[i].path, set[i].value);
		if (r < 0)
			return err_sys(err, -r, "write '%s'", set[i].path);
	}
	return 0;
}

/* A network namespace owned by the host's user namespace? */
static int ns_check(int fd, struct mags_err *err)
{
	struct stat a, b;
	int owner;

	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--netns-fd: not a network namespace");
	owner = ioctl(fd, NS_GET_USERNS);
	if (owner < 0)
		return err_sys(err, errno, "--netns-fd: its user namespace");
	if (fstat(owner, &a) < 0 || stat("/proc/self/ns/user", &b) < 0) {
		close(owner);
		return err_sys(err, errno, "--netns-fd: stat");
	}
	close(owner);
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return err_set(err, MAGS_E_BAD_REQUEST, EPERM,
			       "--netns-fd: not owned by the host's user namespace");
	return 0;
}

int net_ns_open(const struct runtime_config *cfg, int *fresh, struct mags_err *err)
{
	_cleanup_close_ int host = -1;
	int ns, r;

	*fresh = 0;
	if (cfg->netns_fd >= 0) {
		if (ns_check(cfg->netns_fd, err) < 0)
			return -1;
		(void)fcntl(cfg->netns_fd, F_SETFD, FD_CLOEXEC);
		return cfg->netns_fd;
	}
	host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host < 0)
		return err_sys(err, errno, "open '/proc/self/ns/net'");
	if (unshare(CLONE_NEWNET) < 0)
		return err_sys(err, errno, "unshare");
	r = net_loopback_up(err);
	if (r == 0)
		r = ns_settings(err);
	ns = r == 0 ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
	if (r == 0 && ns < 0)
		err_sys(err, errno, "open '/proc/self/ns/net'");
	if (setns(host, CLONE_NEWNET) < 0)
		abort(); /* we would configure the host as if it were the sandbox */
	if (ns >= 0)
		*fresh = 1;
	return ns;
}

/* fn with the calling thread inside netns, and back in the host's
 * namespace (host_ns) afterwards: abort if that fails, since we would then
 * configure the host as if it were the sandbox. fn's result; -1 with
 * errno if entering fails. */
static long net_ns_call(int netns, int host_ns, long (*fn)(void *), void *arg)
{
	long r;
	int e;

	if (setns(netns, CLONE_NEWNET) < 0)
		return -1;
	r = fn(arg);
	e = errno;
	if (setns(host_ns, CLONE_NEWNET) < 0)
		abort();
	errno = e;
	return r;
}

static long sysfs_mount(void *arg)
{
	int fs, m;

	(void)arg;
	fs = (int)syscall(SYS_fsopen, "sysfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		close(fs);
		return -e;
	}
	m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
			 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			 MOUNT_ATTR_NOEXEC);
	if (m < 0)
		m = -errno;
	close(fs);
	return m;
}

int net_sysfs_fd(int netns, int host_ns)
{
	long r = net_ns_call(netns, host_ns, sysfs_mount, NULL);

	if (r == -1 && errno)
		return -errno;
	return (int)r;
}

/* The rtnetlink socket and eth0's index, inside the namespace of ns. */
static int open_inside(int ns, int *ifindex, struct mags_err *err)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd, e = 0;

	if (self < 0)
		return err_sys(err, errno, "open '/proc/self/ns/net'");
	if (setns(ns, CLONE_NEWNET) < 0)
		return err_sys(err, errno, "setns into the sandbox's network namespace");
	fd = netlink_open();
	*ifindex = (int)if_nametoindex("eth0");
	if (!*ifindex)
		e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* we would configure the host as if it were the sandbox */
	if (fd < 0)
		return err_sys(err, -fd, "netlink socket");
	if (!*ifindex) {
		close(fd);
		return err_sys(err, e, "find 'eth0'");
	}
	return fd;
}

/* Create the pair; a host end of that name that is still there is
 * normally the previous sandbox of this slot, whose namespace the kernel
 * is still destroying: give it a second. */
static int create_pair(struct net_link *n, int ns, struct mags_err *err)
{
	int64_t deadline = time_mono_ms() + 1000;
	int r;

	while ((r = netlink_veth_create(n->rtnl, n->link.ifname, "eth0", ns)) == -EEXIST &&
	       time_mono_ms() < deadline)
		usleep(10000);
	if (r == -EEXIST)
		return err_set(err, MAGS_E_CONFLICT, EEXIST,
			       "interface '%s' exists: another sandbox has the address "
			       "of this slot", n->link.ifname);
	if (r < 0)
		return err_sys(err, -r, "create veth '%s'", n->link.ifname);
	n->ifindex = (int)if_nametoindex(n->link.ifname);
	if (!n->ifindex)
		return err_sys(err, errno, "find '%s'", n->link.ifname);
	return 0;
}

int net_policy_add(const struct runtime_config *cfg, struct net_link *n,
		   struct mags_err *err)
{
	if (cfg->net_mode != RUNTIME_NET_NAT || !cfg->n_net_allow || n->has_policy)
		return 0;
	if (n->ifindex <= 0)
		return err_set(err, MAGS_E_INTERNAL, ENODEV, "no link for the allow list");
	if (netfw_job_add(n->ifindex, cfg->net_allow, cfg->n_net_allow, err) < 0)
		return -1;
	n->has_policy = 1;
	return 0;
}

int net_attach(const struct runtime_config *cfg, int ns, int fresh, struct net_link *n,
	       struct mags_err *err)
{
	char path[64], a[16];
	_cleanup_close_ int in = -1;
	int eth0 = 0, r;

	n->rtnl = -1;
	if (cfg->net_mode != RUNTIME_NET_NAT)
		return 0;
	if (cfg->has_net_addr) {
		if (netcfg_link_for_subnet(&cfg->net_addr, &n->link) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "bad --net-addr");
	} else {
		netcfg_link_for_uid_base(cfg->uid_base, &n->link);
	}

	/* The firewall first: a link without it would reach the host. */
	r = netfw_ready();
	if (r == 0)
		r = netfw_setup(err);
	else if (r < 0)
		err_sys(err, -r, "ask nftables for table '" NETFW_TABLE "'");
	if (r < 0)
		return -1;

	/* A kept namespace has its link, addressed, routed and up: only the
	 * job's allow list is new. (Were its host end gone, the pair died
	 * with it: build it again below.) */
	if (!fresh && (n->ifindex = (int)if_nametoindex(n->link.ifname)) > 0) {
		if (net_policy_add(cfg, n, err) < 0) {
			n->ifindex = 0;
			return -1;
		}
		return 0;
	}
	n->ifindex = 0;
	n->rtnl = netlink_open();
	if (n->rtnl < 0)
		return err_sys(err, -n->rtnl, "netlink socket");

	if (create_pair(n, ns, err) < 0)
		goto bad;
	r = netlink_link_no_ipv6(n->rtnl, n->ifindex);
	if (r >= 0)
		r = netlink_addr_add(n->rtnl, n->ifindex, n->link.host, NETCFG_LINK_PREFIX);
	if (r < 0) {
		err_sys(err, -r, "address %s on '%s'", netcfg_format_ipv4(n->link.host, a),
			n->link.ifname);
		goto bad;
	}
	/* The allow list is in place before a packet can flow. */
	if (net_policy_add(cfg, n, err) < 0)
		goto bad;
	r = netlink_link_up(n->rtnl, n->ifindex);
	if (r < 0) {
		err_sys(err, -r, "bring up '%s'", n->link.ifname);
		goto bad;
	}

	in = open_inside(ns, &eth0, err);
	if (in < 0)
		goto bad;
	r = netlink_link_no_ipv6(in, eth0);
	if (r >= 0)
		r = netlink_addr_add(in, eth0, n->link.sandbox, NETCFG_LINK_PREFIX);
	if (r >= 0)
		r = netlink_link_up(in, eth0);
	if (r >= 0)
		r = netlink_route_default(in, eth0, n->link.host);
	if (r < 0) {
		err_sys(err, -r, "configure 'eth0' (%s/%d via %s)",
			netcfg_format_ipv4(n->link.sandbox, a), NETCFG_LINK_PREFIX,
			netcfg_format_ipv4(n->link.host, path));
		goto bad;
	}
	return 0;
bad:
	net_detach(n);
	return -1;
}

void net_detach(struct net_link *n)
{
	net_detach_ex(n, 1);
}

void net_detach_ex(struct net_link *n, int delete_link)
{
	if (n->has_policy) {
		/* Failing leaves a rule keyed by a dead ifindex: harmless. */
		netfw_job_del(n->ifindex, NULL);
		n->has_policy = 0;
	}
	/* Deleting a veth is synchronous in the kernel (~20-40 ms of RCU
	 * grace periods). Once the sandbox's network namespace has no process
	 * left, the kernel removes the pair by itself in the background, so
	 * teardown skips it: the link is not reused before then (magsd hands
	 * out links round robin and skips existing ones). */
	if (delete_link && n->ifindex > 0 && n->rtnl >= 0)
		netlink_link_del(n->rtnl, n->ifindex);
	n->ifindex = 0;
	if (n->rtnl >= 0)
		close(n->rtnl);
	n->rtnl = -1;
}

int net_resolv_conf_fd(void)
{
	uint32_t ns[NETCFG_NAMESERVERS_MAX];
	_cleanup_free_ char *text = netcfg_resolv_conf(ns, netfw_nameservers(ns, NETCFG_NAMESERVERS_MAX));
	int fd = memfd_create("resolv.conf", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write_full(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}
