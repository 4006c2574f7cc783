/*
 * network.c - net-setup at start and the pool of /30 links (see
 * network.h).
 *
 * net-setup runs in a child (mags-runtime execs nft), before the loop
 * exists: it takes ~20 ms, and deciding before the first request means no
 * job ever starts under a setting that changes a moment later. Its stderr
 * comes back through a pipe so the warning magsd logs names the real cause
 * (nft missing, no nf_tables in the kernel, ...).
 */
#include "magsd/network.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/nsfs.h>
#include <unistd.h>

#include "common/netcfg.h"
#include "common/util.h"
#include "magsd/config.h"
#include "magsd/dns.h"
#include "magsd/log.h"
#include "common/banned.h"

extern char **environ;

int network_setup(const char *runtime, struct mags_err *err)
{
	char msg[512];
	size_t len = 0;
	int pfd[2], wstatus = 0, devnull;
	int64_t deadline = time_mono_ms() + NETWORK_SETUP_TIMEOUT_MS;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(err, errno, "pipe");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		if (devnull >= 0)
			close(devnull);
		return err_sys(err, e, "fork");
	}
	if (pid == 0) {
		char *argv[] = { (char *)runtime, (char *)"net-setup", NULL };
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
		}
		dup2(pfd[1], STDERR_FILENO);
		execve(runtime, argv, environ);
		dprintf(STDERR_FILENO, "cannot run '%s': %s", runtime, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	if (devnull >= 0)
		close(devnull);

	/* Read its message until EOF (it exited) or the deadline. */
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char buf[256];
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(msg) - 1) {
			size_t k = (size_t)n < sizeof(msg) - 1 - len ? (size_t)n : sizeof(msg) - 1 - len;
			memcpy(msg + len, buf, k);
			len += k;
		}
	}
	close(pfd[0]);
	msg[len] = '\0';
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';

	if (waitpid(pid, &wstatus, WNOHANG) == 0) {
		/* still there at the deadline, or it closed stderr early */
		while (time_mono_ms() < deadline && waitpid(pid, &wstatus, WNOHANG) == 0)
			usleep(10000);
		if (waitpid(pid, &wstatus, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
				;
			return err_set(err, MAGS_E_INTERNAL, ETIMEDOUT,
				       "'%s net-setup' took longer than %d s", runtime,
				       NETWORK_SETUP_TIMEOUT_MS / 1000);
		}
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return 0;
	if (WIFSIGNALED(wstatus))
		return err_set(err, MAGS_E_INTERNAL, EIO, "'%s net-setup' killed by signal %d%s%s",
			       runtime, WTERMSIG(wstatus), len ? ": " : "", msg);
	return err_set(err, MAGS_E_INTERNAL, EIO, "'%s net-setup' failed (exit %d)%s%s",
		       runtime, WEXITSTATUS(wstatus), len ? ": " : "", msg);
}

void network_links_init(struct network_links *nl, int keep)
{
	uint32_t r;

	memset(nl, 0, sizeof(*nl));
	for (size_t i = 0; i < NETWORK_LINK_END; i++)
		nl->netns[i] = -1;
	nl->keep = keep;
	random_bytes(&r, sizeof(r));
	nl->next = NETWORK_LINK_FIRST + r % (NETWORK_LINK_END - NETWORK_LINK_FIRST);
}

/* The topmost spare user may have, or -1. */
static int spare_for(const struct network_links *nl, const char *user)
{
	for (int k = nl->n_spare - 1; k >= 0; k--) {
		const char *o = nl->owner[nl->spare[k]];
		if (!user || !o || !strcmp(o, user))
			return k;
	}
	return -1;
}

int network_link_take(struct network_links *nl, const char *user)
{
	const uint32_t n = NETWORK_LINK_END - NETWORK_LINK_FIRST;
	int s = spare_for(nl, user);

	if (s >= 0) {
		int i = nl->spare[s];
		memmove(&nl->spare[s], &nl->spare[s + 1],
			(size_t)(nl->n_spare - s - 1) * sizeof(nl->spare[0]));
		nl->n_spare--;
		nl->used[i] = NETWORK_LINK_USED;
		dns_link_open(i);
		return i;
	}

	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = NETWORK_LINK_FIRST + (nl->next - NETWORK_LINK_FIRST + k) % n;
		char name[IF_NAMESIZE];

		if (nl->used[i] != NETWORK_LINK_FREE)
			continue;
		/* another daemon's sandbox, or one a killed runtime left for
		 * the kernel to clean up */
		snprintf(name, sizeof(name), NETCFG_IFNAME_PREFIX "%u", i);
		if (if_nametoindex(name))
			continue;
		nl->used[i] = NETWORK_LINK_USED;
		dns_link_open((int)i);
		/* round robin: a just-freed link (its veth may still be going
		 * away) is the last to be used again */
		nl->next = i + 1 < NETWORK_LINK_END ? i + 1 : NETWORK_LINK_FIRST;
		return (int)i;
	}
	return -EAGAIN;
}

void network_link_release(struct network_links *nl, int index, const char *user)
{
	if (index < (int)NETWORK_LINK_FIRST || index >= (int)NETWORK_LINK_END ||
	    nl->used[index] != NETWORK_LINK_USED)
		return;
	dns_link_close(index);
	if (nl->netns[index] >= 0 && nl->n_spare < nl->keep) {
		if (user && (!nl->owner[index] || strcmp(nl->owner[index], user))) {
			free(nl->owner[index]);
			nl->owner[index] = xstrdup(user);
		}
		nl->used[index] = NETWORK_LINK_SPARE;
		nl->spare[nl->n_spare++] = index;
		return;
	}
	if (nl->netns[index] >= 0)
		close(nl->netns[index]); /* the kernel removes it and its link */
	nl->netns[index] = -1;
	free(nl->owner[index]);
	nl->owner[index] = NULL;
	nl->used[index] = NETWORK_LINK_FREE;
}

const char *network_link_owner(const struct network_links *nl, int index)
{
	if (index < (int)NETWORK_LINK_FIRST || index >= (int)NETWORK_LINK_END)
		return NULL;
	return nl->owner[index];
}

int network_link_netns(const struct network_links *nl, int index)
{
	if (index < (int)NETWORK_LINK_FIRST || index >= (int)NETWORK_LINK_END)
		return -1;
	return nl->netns[index];
}

void network_link_adopt_netns(struct network_links *nl, int index, pid_t pid,
			      const char *rest)
{
	unsigned long long dev, ino;
	struct stat st;
	char path[64];
	int fdnum, fd, n = 0;

	if (nl->keep <= 0 || index < (int)NETWORK_LINK_FIRST ||
	    index >= (int)NETWORK_LINK_END || nl->used[index] != NETWORK_LINK_USED ||
	    nl->netns[index] >= 0)
		return;
	if (sscanf(rest, "%d %llu %llu%n", &fdnum, &dev, &ino, &n) != 3 || rest[n] ||
	    fdnum < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fdnum);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (unsigned long long)st.st_dev != dev ||
	    (unsigned long long)st.st_ino != ino || ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return;
	}
	nl->netns[index] = fd;
}

int network_netns_kept(const struct network_links *nl)
{
	int n = 0;

	for (size_t i = NETWORK_LINK_FIRST; i < NETWORK_LINK_END; i++)
		n += nl->netns[i] >= 0;
	return n;
}

void network_link_subnet(int index, char *buf, size_t n)
{
	struct netcfg_link link;
	char a[16];

	netcfg_link_at((uint32_t)index, &link);
	snprintf(buf, n, "%s/%d", netcfg_format_ipv4(link.subnet, a), NETCFG_LINK_PREFIX);
}

/* The host's nameservers a sandbox could reach through NAT (not on the
 * host's loopback), as the runtime picks them for resolv.conf. */
static int host_reachable_nameservers(void)
{
	static const char *const files[] = {
		"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *text = NULL;
		uint32_t ns[NETCFG_NAMESERVERS_MAX];
		int n;

		if (read_file(files[i], 64 * 1024, &text) < 0)
			continue;
		n = netcfg_nameservers(text, ns, NETCFG_NAMESERVERS_MAX);
		if (n > 0)
			return n;
	}
	return 0;
}

void network_dns_start(const struct config *cfg, struct loop *loop)
{
	struct mags_err err;
	char ups[256];
	int on;

	err_clear(&err);
	if (dns_configure(cfg->dns_upstream, &err) < 0) {
		log_warn("dns: %s; names in allow lists fail, no forwarder", err.msg);
		return;
	}
	dns_upstreams_text(ups, sizeof(ups));
	on = !strcmp(cfg->dns_forward, "on") ||
	     (!strcmp(cfg->dns_forward, "auto") && host_reachable_nameservers() == 0);
	if (!on) {
		log_info("dns: upstreams %s; sandboxes use the host's nameservers", ups);
		return;
	}
	if (dns_forward_start(loop, &err) < 0) {
		log_warn("dns forwarder unavailable: %s", err.msg);
		return;
	}
	setenv("MAGS_RUNTIME_DNS", NETCFG_DNS_ADDR, 1);
	log_info("dns: forwarder for sandboxes (" NETCFG_DNS_ADDR ") to %s", ups);
}

int network_allow_resolve(const char *list, char **out, struct mags_err *err)
{
	_cleanup_free_ char *copy = xstrdup(list);
	size_t cap = NETCFG_ALLOW_MAX * 20 + 1, len = 0;
	char *res = xmalloc(cap), *save = NULL;
	int n = 0;

	res[0] = '\0';
	for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		struct netcfg_cidr c;
		uint32_t addrs[NETCFG_ALLOW_MAX];
		char a[16];
		int k;

		if (netcfg_parse_cidr(e, &c) == 0) {
			addrs[0] = c.addr;
			k = 1;
		} else {
			k = dns_resolve_a(e, addrs, NETCFG_ALLOW_MAX, err);
			if (k < 0) {
				free(res);
				err_wrap(err, "network.allow");
				return -1;
			}
			c.prefix = 32;
		}
		for (int i = 0; i < k; i++) {
			if (n == NETCFG_ALLOW_MAX) {
				free(res);
				return err_set(err, MAGS_E_BAD_REQUEST, E2BIG,
					       "network.allow: more than %d networks once '%s' is "
					       "resolved", NETCFG_ALLOW_MAX, e);
			}
			len += (size_t)snprintf(res + len, cap - len, "%s%s/%u", n ? "," : "",
						netcfg_format_ipv4(addrs[i], a), c.prefix);
			n++;
		}
	}
	*out = res;
	return 0;
}
