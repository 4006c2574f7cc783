/*
 * netfw.c - IP forwarding and the nftables table `inet mags`.
 *
 * Why these rules (10.200.0.0/16 is the sandbox pool, mg* the host ends):
 *
 *   forward, from a sandbox (iifname mg*) -> chain egress:
 *     not IPv4 -> drop            sandboxes have no IPv6 egress
 *     source not in the pool, or not routed back through the interface
 *       it came from (fib)  -> drop     no spoofing another sandbox
 *     out through another mg*, or to 10.200.0.0/16 -> drop   sandboxes
 *       never reach each other
 *     to 169.254.0.0/16 (cloud metadata 169.254.169.254, link-local),
 *       0/8, 127/8, multicast and reserved -> drop
 *     the sandbox's allow list, if it has one (map jobs: ifindex ->
 *       jump allow_<ifindex>: DNS to the host's nameservers, the CIDRs,
 *       then drop)
 *     otherwise accepted (NAT egress)
 *   forward, to a sandbox (oifname mg*): only replies (established,
 *     related); new connections come from the host itself (the proxy,
 *     the SSH gateway), which is output, not forward
 *   input from mg*: only replies to the host's own connections, and
 *     DNS (udp/tcp 53) to the gateway address of the link it came in
 *     on where the receiving socket carries magsd's mark (its DNS
 *     forwarder, magsd/dns.c): a DNS server of the host's own, bound to
 *     a wildcard address, stays out of reach like the host's other
 *     services (magsd's API, anything on any host address).
 *   prerouting: DNS to NETCFG_DNS_ADDR (the nameserver in a sandbox's
 *     resolv.conf when magsd forwards) is redirected to the gateway
 *     address of the link it came in on.
 *   postrouting: masquerade the pool leaving through any non-mags
 *     interface.
 *   output: the host's own packets to a pool address that has no link
 *     (a sandbox just gone, say, with the proxy still holding its
 *     address) are refused instead of following the default route off
 *     the machine (the host's own gateway addresses go through lo).
 *
 * The base chains have policy accept and only judge sandbox traffic, so
 * the host's own rules (other tables) are untouched.
 */
#include "runtime/netfw.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/netlink.h"
#include "common/banned.h"

#define T "inet " NETFW_TABLE
/* magsd's DNS forwarder sockets (magsd/dns.h DNS_SOCKET_MARK, "mags") */
#define DNS_MARK "0x6d616773"

static const char ruleset[] =
	"add table " T "\n"
	"add set " T " dns4 { type ipv4_addr; }\n"
	"add map " T " jobs { type iface_index : verdict; }\n"
	"add chain " T " forward { type filter hook forward priority filter; policy accept; }\n"
	"add chain " T " input { type filter hook input priority filter; policy accept; }\n"
	"add chain " T " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
	"add chain " T " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
	"add chain " T " output { type filter hook output priority filter; policy accept; }\n"
	"add chain " T " egress\n"
	"flush chain " T " forward\n"
	"flush chain " T " input\n"
	"flush chain " T " postrouting\n"
	"flush chain " T " prerouting\n"
	"flush chain " T " output\n"
	"flush chain " T " egress\n"
	"flush set " T " dns4\n"
	"add rule " T " forward iifname \"" NETCFG_IFNAME_GLOB "\" jump egress\n"
	"add rule " T " forward oifname \"" NETCFG_IFNAME_GLOB "\" ct state established,related accept\n"
	"add rule " T " forward oifname \"" NETCFG_IFNAME_GLOB "\" drop\n"
	"add rule " T " egress meta nfproto != ipv4 drop\n"
	"add rule " T " egress ip saddr != " NETCFG_POOL_CIDR " drop\n"
	"add rule " T " egress fib saddr . iif oif missing drop\n"
	"add rule " T " egress oifname \"" NETCFG_IFNAME_GLOB "\" drop\n"
	"add rule " T " egress ip daddr { 0.0.0.0/8, " NETCFG_POOL_CIDR ", 127.0.0.0/8, "
		"169.254.0.0/16, 224.0.0.0/3 } drop\n"
	"add rule " T " egress iif vmap @jobs\n"
	"add rule " T " input iifname \"" NETCFG_IFNAME_GLOB "\" ct state established,related accept\n"
	"add rule " T " input iifname \"" NETCFG_IFNAME_GLOB "\" drop\n"
	"add rule " T " postrouting ip saddr " NETCFG_POOL_CIDR " oifname != \""
		NETCFG_IFNAME_GLOB "\" masquerade\n"
	"add rule " T " output ip daddr " NETCFG_POOL_CIDR " oifname != \"lo\" oifname != \""
		NETCFG_IFNAME_GLOB "\" reject\n"
	"add rule " T " prerouting iifname \"" NETCFG_IFNAME_GLOB "\" ip daddr " NETCFG_DNS_ADDR
		" meta l4proto { tcp, udp } th dport 53 redirect\n";

/* DNS to the sandbox's gateway, and only to magsd's forwarder there
 * (inserted ahead of input's final drop). Its own step: a kernel without
 * nft_socket refuses it, and then sandboxes still get their network,
 * without the forwarder. */
static const char dns_rule[] =
	"insert rule " T " input iifname \"" NETCFG_IFNAME_GLOB "\" meta l4proto { tcp, udp } "
		"th dport 53 fib daddr . iif type local socket mark " DNS_MARK " accept\n";

static const char *nft_path(void)
{
	static const char *const where[] = {
		"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/usr/local/sbin/nft",
	};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

static int memfd_with(const char *name, const char *text)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (text && (write_full(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Run `nft -f` on script as one transaction. On failure err holds nft's
 * first line of complaint. With output, what nft printed (malloc'd, at
 * most 1 MiB) is returned there on success. */
static int nft_run_output(const char *script, char **output, struct mags_err *err)
{
	const char *nft = nft_path();
	_cleanup_close_ int in = -1, out = -1;
	char msg[512];
	int status;
	ssize_t n;
	pid_t pid;

	if (!nft)
		return err_set(err, MAGS_E_INTERNAL, ENOENT,
			       "nft not found (install the nftables package)");
	in = memfd_with("nft-script", script);
	out = memfd_with("nft-out", NULL);
	if (in < 0 || out < 0)
		return err_sys(err, -(in < 0 ? in : out), "memfd_create");
	pid = fork();
	if (pid < 0)
		return err_sys(err, errno, "fork");
	if (pid == 0) {
		char *const argv[] = { (char *)"nft", (char *)"-f", (char *)"/dev/stdin", NULL };
		char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		execve(nft, argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(err, errno, "waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (output) {
			off_t size = lseek(out, 0, SEEK_END);
			size_t len = size > 0 ? (size_t)(size < (1 << 20) ? size : (1 << 20)) : 0;

			*output = xmalloc(len + 1);
			n = len ? pread(out, *output, len, 0) : 0;
			(*output)[n > 0 ? n : 0] = '\0';
		}
		return 0;
	}
	n = pread(out, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	return err_set(err, MAGS_E_INTERNAL, EIO, "nft: %s",
		       msg[0] ? msg : "failed");
}

static int nft_run(const char *script, struct mags_err *err)
{
	return nft_run_output(script, NULL, err);
}

/* Allow-list chains whose host end is gone: a supervisor that was
 * SIGKILLed could not remove its own. They can never match again (the
 * kernel does not reuse an ifindex soon), so this only bounds the
 * table's size. A chain whose interface still exists is a live
 * sandbox's, or one being set up right now: left alone. */
static void gc_allow_lists(void)
{
	_cleanup_free_ char *text = NULL;
	const char *p;

	if (nft_run_output("list table " T "\n", &text, NULL) < 0)
		return;
	for (p = text; (p = strstr(p, "chain allow_")) != NULL;) {
		char *end, name[IF_NAMESIZE];
		long idx = strtol(p + 12, &end, 10);

		p = end;
		if (idx <= 0 || idx > INT32_MAX || (*end != ' ' && *end != '\n'))
			continue;
		if (if_indextoname((unsigned)idx, name))
			continue;
		if (netfw_job_del((int)idx, NULL) < 0) {
			/* the map entry was already gone */
			_cleanup_free_ char *s = xasprintf(
				"flush chain " T " allow_%ld\ndelete chain " T " allow_%ld\n", idx, idx);
			nft_run(s, NULL);
		}
	}
}

int netfw_nameservers(uint32_t *out, int max)
{
	const char *fwd = getenv("MAGS_RUNTIME_DNS");
	uint32_t a;

	/* magsd forwards DNS (it sets this for the runtimes it starts) */
	if (fwd && max > 0 && netcfg_parse_ipv4(fwd, &a) == 0) {
		out[0] = a;
		return 1;
	}
	static const char *const files[] = {
		"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *text = NULL;
		int n;

		if (read_file(files[i], 64 * 1024, &text) < 0)
			continue;
		n = netcfg_nameservers(text, out, max);
		if (n > 0)
			return n;
	}
	return 0;
}

int netfw_setup(struct mags_err *err)
{
	uint32_t ns[NETCFG_NAMESERVERS_MAX];
	int n = netfw_nameservers(ns, NETCFG_NAMESERVERS_MAX), r;
	_cleanup_free_ char *script = xstrdup(ruleset);

	for (int i = 0; i < n; i++) {
		char buf[16];
		char *next = xasprintf("%sadd element " T " dns4 { %s }\n", script,
				       netcfg_format_ipv4(ns[i], buf));
		free(script);
		script = next;
	}
	r = write_file("/proc/sys/net/ipv4/ip_forward", "1");
	if (r < 0)
		return err_sys(err, -r, "write 'net.ipv4.ip_forward'");
	_cleanup_free_ char *with_dns = xasprintf("%s%s", script, dns_rule);
	struct mags_err dns_err;
	r = nft_run(with_dns, &dns_err);
	if (r < 0) {
		r = nft_run(script, err);
		if (r < 0) {
			err_wrap(err, "firewall table '" T "'");
			return r;
		}
		fprintf(stderr, "mags-runtime: warning: no DNS forwarder rule (%s)\n", dns_err.msg);
	}
	gc_allow_lists();
	return 0;
}

static int count_host_ends(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	const size_t plen = strlen(NETCFG_IFNAME_PREFIX);
	int n = 0;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		const char *s = i->if_name + plen;
		if (strncmp(i->if_name, NETCFG_IFNAME_PREFIX, plen) || !*s)
			continue;
		while (*s >= '0' && *s <= '9')
			s++;
		n += !*s;
	}
	if_freenameindex(ifs);
	return n;
}

int netfw_teardown(int force, struct mags_err *err)
{
	int n = count_host_ends();

	if (n < 0)
		return err_sys(err, -n, "list interfaces");
	if (n > 0 && !force)
		return err_set(err, MAGS_E_CONFLICT, EBUSY,
			       "%d sandbox%s still on the network (%s interfaces): "
			       "stop them first, or use --force", n, n == 1 ? " is" : "es are",
			       NETCFG_IFNAME_GLOB);
	/* "add" first, so deleting a table that is not there succeeds. */
	return nft_run("add table " T "\ndelete table " T "\n", err);
}

int netfw_ready(void)
{
	_cleanup_free_ char *fwd = NULL;
	int r = netlink_nft_table_exists(NFPROTO_INET, NETFW_TABLE);

	if (r <= 0)
		return r;
	if (read_file("/proc/sys/net/ipv4/ip_forward", 16, &fwd) < 0 || fwd[0] != '1')
		return 0;
	return 1;
}

int netfw_job_add(int ifindex, const struct netcfg_cidr *allow, unsigned n,
		  struct mags_err *err)
{
	_cleanup_free_ char *script = xasprintf(
		"add chain " T " allow_%d\n"
		"flush chain " T " allow_%d\n"
		"add rule " T " allow_%d ip daddr @dns4 meta l4proto { tcp, udp } th dport 53 accept\n",
		ifindex, ifindex, ifindex);

	for (unsigned i = 0; i < n; i++) {
		char buf[16];
		char *next = xasprintf("%sadd rule " T " allow_%d ip daddr %s/%u accept\n",
				       script, ifindex,
				       netcfg_format_ipv4(allow[i].addr, buf), allow[i].prefix);
		free(script);
		script = next;
	}
	{
		char *next = xasprintf("%sadd rule " T " allow_%d drop\n"
				       "add element " T " jobs { %d : jump allow_%d }\n",
				       script, ifindex, ifindex, ifindex);
		free(script);
		script = next;
	}
	if (nft_run(script, err) < 0)
		return err_wrap(err, "allow list"), -EIO;
	return 0;
}

int netfw_job_del(int ifindex, struct mags_err *err)
{
	_cleanup_free_ char *script = xasprintf(
		"delete element " T " jobs { %d }\n"
		"flush chain " T " allow_%d\n"
		"delete chain " T " allow_%d\n", ifindex, ifindex, ifindex);

	return nft_run(script, err);
}

int netfw_main(int argc, char **argv)
{
	struct mags_err err = { 0 };
	int force = 0, r;

	if (geteuid() != 0) {
		fprintf(stderr, "mags-runtime: %s: must run as root\n", argv[1]);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[1], "net-teardown") && !strcmp(argv[i], "--force")) {
			force = 1;
			continue;
		}
		fprintf(stderr, "mags-runtime: %s: unexpected argument '%s'\n", argv[1], argv[i]);
		return 2;
	}
	if (!strcmp(argv[1], "net-setup"))
		r = netfw_setup(&err);
	else
		r = netfw_teardown(force, &err);
	if (r < 0) {
		fprintf(stderr, "mags-runtime: %s\n", err.msg);
		return 1;
	}
	return 0;
}
