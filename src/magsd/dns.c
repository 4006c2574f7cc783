/*
 * dns.c - the host's resolvers for allow lists and a DNS forwarder for
 * sandboxes (see dns.h).
 *
 * Why a forwarder: a sandbox reaches the outside through NAT, so it can
 * use the host's nameservers directly when they are ordinary addresses.
 * When the host's resolver is on its own loopback (systemd-resolved's
 * 127.0.0.53, a local dnsmasq), a sandbox can never reach it: loopback
 * and the host's services are exactly what the firewall keeps it from.
 * magsd, on the host, can. It relays a sandbox's queries, and nothing
 * else, to that resolver: one UDP and one TCP socket on each live link's
 * gateway address, port 53, marked so that the firewall's one opening
 * (netfw.c) leads to them and to no other socket of the host.
 *
 * The relay is deliberately small: a query is checked (≤ 512 bytes, a
 * standard query with one question), rate-limited per link, given a
 * fresh random id and sent over UDP to an upstream; the answer, matched
 * by upstream address and id, goes back with the client's id. Pending
 * queries live in a fixed table (DNS_INFLIGHT_MAX); a full table, a link
 * over its rate or a malformed packet means the query is dropped, as a
 * busy resolver would, and the client's resolver retries. No cache.
 *
 * dns_resolve_a is synchronous on purpose: it runs at job start for the
 * few names of an allow list, bounded to DNS_RESOLVE_MS in all, and on a
 * normal host answers in well under a millisecond from the local
 * resolver. It asks the same upstreams, so the rules hold the addresses
 * the sandbox itself resolves.
 */
#include "magsd/dns.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>

#include "common/netcfg.h"
#include "common/util.h"
#include "magsd/log.h"
#include "magsd/loop.h"
#include "common/banned.h"

static struct sockaddr_in upstreams[DNS_UPSTREAM_MAX];
static int n_upstreams;

/* ---- wire format ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int dns_name_valid(const char *name)
{
	size_t len = strlen(name), lab = 0;
	int alpha = 0;

	if (len < 1 || len > 253 || name[0] == '.' || name[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '.') {
			if (lab == 0 || name[i - 1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if ((c == '-' && lab == 0) || ++lab > 63)
			return 0;
		alpha |= !(c >= '0' && c <= '9');
	}
	/* "10.1.2.3" (or "1.2.3.300") is a mistyped address, not a name */
	return name[len - 1] != '-' && alpha;
}

int dns_query_build(const char *name, uint16_t id, uint8_t *buf, size_t n)
{
	size_t len = strlen(name), p = 12;

	if (!dns_name_valid(name) || n < 12 + len + 2 + 4)
		return -EINVAL;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01;          /* RD */
	buf[5] = 1;             /* QDCOUNT */
	for (const char *s = name; *s;) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		buf[p++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++) {
			char c = s[i];
			buf[p++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		s += l + (dot ? 1 : 0);
	}
	buf[p++] = 0;
	buf[p++] = 0; buf[p++] = 1;     /* A */
	buf[p++] = 0; buf[p++] = 1;     /* IN */
	return (int)p;
}

/* Skip a (possibly compressed) name at *p; 0 or -EINVAL. */
static int skip_name(const uint8_t *msg, size_t len, size_t *p)
{
	size_t q = *p;

	for (int labels = 0; labels < 128; labels++) {
		if (q >= len)
			return -EINVAL;
		uint8_t l = msg[q];
		if (l == 0) {
			*p = q + 1;
			return 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (q + 2 > len)
				return -EINVAL;
			*p = q + 2;
			return 0;
		}
		if (l & 0xc0)
			return -EINVAL;
		q += 1 + l;
	}
	return -EINVAL;
}

int dns_query_ok(const uint8_t *msg, size_t len)
{
	size_t p = 12;

	if (len < 12 + 5 || len > DNS_QUERY_MAX)
		return 0;
	/* QR 0 and opcode 0 (a standard query); one question, no answers */
	if ((msg[2] & 0xf8) != 0 || get16(msg + 4) != 1 || get16(msg + 6) != 0)
		return 0;
	/* the question's name uncompressed */
	for (;;) {
		if (p >= len || (msg[p] & 0xc0))
			return 0;
		if (msg[p] == 0)
			break;
		p += 1 + msg[p];
	}
	return p + 1 + 4 <= len;
}

int dns_answer_parse(const uint8_t *msg, size_t len, uint16_t id, uint32_t *out, int max)
{
	size_t p = 12;
	int n = 0, qd, an, rcode;

	if (len < 12 || get16(msg) != id || !(msg[2] & 0x80))
		return -EINVAL;
	rcode = msg[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EIO;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	for (int i = 0; i < qd; i++) {
		if (skip_name(msg, len, &p) < 0 || p + 4 > len)
			return -EINVAL;
		p += 4;
	}
	for (int i = 0; i < an; i++) {
		uint16_t type, class, rdlen;

		if (skip_name(msg, len, &p) < 0 || p + 10 > len)
			return -EINVAL;
		type = get16(msg + p);
		class = get16(msg + p + 2);
		rdlen = get16(msg + p + 8);
		p += 10;
		if (p + rdlen > len)
			return -EINVAL;
		if (type == 1 && class == 1 && rdlen == 4 && n < max) {
			uint32_t a = (uint32_t)msg[p] << 24 | (uint32_t)msg[p + 1] << 16 |
				     (uint32_t)msg[p + 2] << 8 | msg[p + 3];
			int dup = 0;
			for (int k = 0; k < n; k++)
				dup |= out[k] == a;
			if (!dup)
				out[n++] = a;
		}
		p += rdlen;
	}
	return n;
}

/* ---- upstreams ---- */

static int upstream_add(const char *s, struct mags_err *err)
{
	char host[64];
	const char *colon = strchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	uint32_t a;
	long port = 53;

	if (hl == 0 || hl >= sizeof(host))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'dns_upstream': '%.64s' is not an IPv4 address[:port]", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (netcfg_parse_ipv4(host, &a) < 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'dns_upstream': '%.64s' is not an IPv4 address[:port]", s);
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || port < 1 || port > 65535)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'dns_upstream': bad port in '%.64s'", s);
	}
	if (n_upstreams == DNS_UPSTREAM_MAX)
		return 0;
	memset(&upstreams[n_upstreams], 0, sizeof(upstreams[0]));
	upstreams[n_upstreams].sin_family = AF_INET;
	upstreams[n_upstreams].sin_addr.s_addr = htonl(a);
	upstreams[n_upstreams].sin_port = htons((uint16_t)port);
	n_upstreams++;
	return 0;
}

int dns_configure(const char *setting, struct mags_err *err)
{
	n_upstreams = 0;
	if (setting && *setting) {
		_cleanup_free_ char *copy = xstrdup(setting);
		char *save = NULL;
		for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
			if (upstream_add(t, err) < 0)
				return -EINVAL;
	} else {
		/* the host's resolvers, its own loopback ones included */
		_cleanup_free_ char *text = NULL;
		if (read_file("/etc/resolv.conf", 64 * 1024, &text) >= 0) {
			for (char *line = text; line && *line;) {
				char *eol = strchr(line, '\n'), word[64];
				if (eol)
					*eol = '\0';
				if (sscanf(line, " nameserver %63s", word) == 1)
					upstream_add(word, NULL);
				line = eol ? eol + 1 : NULL;
			}
		}
	}
	if (n_upstreams == 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "no IPv4 DNS upstream (set 'dns_upstream' or a nameserver "
			       "in /etc/resolv.conf)");
	return 0;
}

void dns_upstreams_text(char *buf, size_t n)
{
	size_t w = 0;

	buf[0] = '\0';
	for (int i = 0; i < n_upstreams && w < n; i++) {
		char a[16];
		w += (size_t)snprintf(buf + w, n - w, "%s%s:%u", i ? ", " : "",
				      netcfg_format_ipv4(ntohl(upstreams[i].sin_addr.s_addr), a),
				      ntohs(upstreams[i].sin_port));
	}
}

/* ---- the synchronous resolver ---- */

int dns_resolve_a(const char *name, uint32_t *out, int max, struct mags_err *err)
{
	int64_t deadline = time_mono_ms() + DNS_RESOLVE_MS;
	uint8_t q[300], a[4096];
	int qlen, last = -ETIMEDOUT;

	if (n_upstreams == 0)
		return err_set(err, MAGS_E_UNAVAILABLE, ENOENT, "resolve '%s': no DNS upstream", name);
	for (int i = 0; i < n_upstreams; i++) {
		int64_t until = i == n_upstreams - 1 ? deadline
			: time_mono_ms() + (deadline - time_mono_ms()) / (n_upstreams - i);
		_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		uint16_t id;

		random_bytes(&id, sizeof(id));
		qlen = dns_query_build(name, id, q, sizeof(q));
		if (qlen < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "resolve '%.64s': not a hostname", name);
		/* connected: only that upstream's datagrams come in */
		if (fd < 0 || connect(fd, (struct sockaddr *)&upstreams[i], sizeof(upstreams[i])) < 0 ||
		    send(fd, q, (size_t)qlen, 0) != qlen) {
			last = -EIO;
			continue;
		}
		for (;;) {
			int64_t left = until - time_mono_ms();
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;
			int r;

			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				break;
			n = recv(fd, a, sizeof(a), 0);
			if (n < 0) {
				last = -EIO;        /* ICMP unreachable: no resolver there */
				break;
			}
			r = dns_answer_parse(a, (size_t)n, id, out, max);
			if (r == -EINVAL)
				continue;           /* not our answer */
			if (r > 0)
				return r;
			if (r == -ENOENT)
				return err_set(err, MAGS_E_BAD_REQUEST, ENOENT,
					       "resolve '%s': no such domain", name);
			last = r == 0 ? -ENODATA : r;
			if (r == 0)
				return err_set(err, MAGS_E_BAD_REQUEST, ENODATA,
					       "resolve '%s': the name has no IPv4 address", name);
			break;
		}
	}
	return err_set(err, MAGS_E_UNAVAILABLE, -last, "resolve '%s': %s", name,
		       last == -ETIMEDOUT ? "no answer from the DNS upstream in time"
					  : "the DNS upstream failed");
}

/* ---- the forwarder ---- */

struct dns_link {
	int udp, tcp;
	uint32_t peer;              /* the sandbox's address on the link */
	struct loop_watch *wu, *wt;
	double tokens;
	int64_t refill_ms;
	int n_tcp;
};

struct dns_tcp {
	int fd, link;
	struct loop_watch *w;
	uint8_t buf[2 + DNS_QUERY_MAX];
	size_t have;
	int waiting;                /* its queries pending (at most DNS_TCP_PIPELINE) */
	int eof;                    /* the client shut down its side */
	int64_t idle_until;
	struct dns_tcp *next;
};

struct dns_pending {
	int used, link, attempt;
	uint16_t id, client_id;
	struct sockaddr_in client;
	struct dns_tcp *tcp;        /* or NULL: answer over UDP */
	int64_t deadline;
	uint8_t query[DNS_QUERY_MAX];
	size_t qlen;
};

static struct {
	struct loop *loop;
	int on;
	int up;                     /* the upstream UDP socket */
	struct loop_watch *wup;
	int timer;
	struct loop_watch *wtimer;
	struct dns_link *links[NETCFG_LINKS];
	struct dns_pending pending[DNS_INFLIGHT_MAX];
	int n_pending, n_tcp;
	struct dns_tcp *tcps;
	struct dns_stats stats;
} fw;

int dns_forward_on(void)
{
	return fw.on;
}

void dns_stats_get(struct dns_stats *st)
{
	*st = fw.stats;
}

static void timer_arm(void)
{
	struct itimerspec its = { 0 };

	if (fw.n_pending > 0 || fw.tcps) {
		its.it_value.tv_nsec = 100 * 1000000L;
		its.it_interval.tv_nsec = 100 * 1000000L;
	}
	timerfd_settime(fw.timer, 0, &its, NULL);
}

static int upstream_send(struct dns_pending *p)
{
	const struct sockaddr_in *to = &upstreams[p->attempt % n_upstreams];

	p->query[0] = (uint8_t)(p->id >> 8);
	p->query[1] = (uint8_t)p->id;
	p->deadline = time_mono_ms() + DNS_TRY_MS;
	return sendto(fw.up, p->query, p->qlen, MSG_DONTWAIT, (const struct sockaddr *)to,
		      sizeof(*to)) == (ssize_t)p->qlen ? 0 : -EIO;
}

static void pending_drop(struct dns_pending *p)
{
	if (p->tcp)
		p->tcp->waiting--;
	p->used = 0;
	fw.n_pending--;
}

static void tcp_close(struct dns_tcp *c)
{
	struct dns_link *l = fw.links[c->link];

	for (int i = 0; i < DNS_INFLIGHT_MAX; i++)
		if (fw.pending[i].used && fw.pending[i].tcp == c)
			pending_drop(&fw.pending[i]);
	for (struct dns_tcp **pp = &fw.tcps; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	loop_remove(fw.loop, c->w);
	close(c->fd);
	if (l)
		l->n_tcp--;
	fw.n_tcp--;
	free(c);
}

/* Take a sandbox's query of link i: 0, or -1 if it was dropped. */
static int query_take(int i, const uint8_t *msg, size_t len, const struct sockaddr_in *from,
		      struct dns_tcp *tcp)
{
	struct dns_link *l = fw.links[i];
	struct dns_pending *p = NULL;
	int64_t now = time_mono_ms();

	fw.stats.queries++;
	if (!dns_query_ok(msg, len)) {
		fw.stats.dropped_bad++;
		return -1;
	}
	l->tokens += (double)(now - l->refill_ms) * DNS_RATE / 1000.0;
	if (l->tokens > DNS_BURST)
		l->tokens = DNS_BURST;
	l->refill_ms = now;
	if (l->tokens < 1) {
		fw.stats.dropped_rate++;
		return -1;
	}
	l->tokens -= 1;
	if (fw.n_pending >= DNS_INFLIGHT_MAX) {
		fw.stats.dropped_full++;
		return -1;
	}
	for (int k = 0; k < DNS_INFLIGHT_MAX && !p; k++)
		if (!fw.pending[k].used)
			p = &fw.pending[k];
	memset(p, 0, sizeof(*p));
	p->used = 1;
	p->link = i;
	p->client_id = get16(msg);
	if (from)
		p->client = *from;
	p->tcp = tcp;
	memcpy(p->query, msg, len);
	p->qlen = len;
	/* a fresh id no other pending query has: the upstream's answer is
	 * matched by it */
	for (int tries = 0; tries < 64; tries++) {
		int clash = 0;
		random_bytes(&p->id, sizeof(p->id));
		for (int k = 0; k < DNS_INFLIGHT_MAX; k++)
			clash |= fw.pending[k].used && &fw.pending[k] != p && fw.pending[k].id == p->id;
		if (!clash)
			break;
	}
	fw.n_pending++;
	if (tcp)
		tcp->waiting++;
	upstream_send(p);
	timer_arm();
	return 0;
}

static void on_udp(int fd, uint32_t events, void *arg)
{
	int i = (int)(intptr_t)arg;
	uint8_t buf[DNS_QUERY_MAX + 1];

	/* a bounded batch, then back to the loop */
	for (int k = 0; k < 32 && fw.links[i]; k++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		/* only the link's own sandbox (its address: answers never go
		 * anywhere else, whatever a packet claims) */
		if (from.sin_family != AF_INET || ntohl(from.sin_addr.s_addr) != fw.links[i]->peer) {
			fw.stats.dropped_bad++;
			continue;
		}
		query_take(i, buf, (size_t)n, &from, NULL);
	}
}

/* A connection's bytes: each complete length-prefixed query is relayed as
 * it arrives (answers go back in whatever order they come, which RFC 7766
 * allows), up to DNS_TCP_PIPELINE at once. */
static void on_tcp_conn(int fd, uint32_t events, void *arg)
{
	struct dns_tcp *c = arg;
	ssize_t n;

	if (c->waiting >= DNS_TCP_PIPELINE) {
		/* more queued than served: the watch is level-triggered, so
		 * leaving the bytes unread would spin the loop */
		fw.stats.dropped_full++;
		tcp_close(c);
		return;
	}
	n = read(fd, c->buf + c->have, sizeof(c->buf) - c->have);
	if (n == 0 && c->waiting) {
		/* the client is done sending: its answers still go out, then
		 * the connection closes (on_upstream, on_timer) */
		c->eof = 1;
		loop_remove(fw.loop, c->w);
		c->w = NULL;
		return;
	}
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		tcp_close(c);
		return;
	}
	c->have += (size_t)n;
	c->idle_until = time_mono_ms() + DNS_TCP_IDLE_MS;
	while (c->have >= 2) {
		size_t want = get16(c->buf);
		if (want > DNS_QUERY_MAX || want < 12) {
			fw.stats.dropped_bad++;
			tcp_close(c);
			return;
		}
		if (c->have < 2 + want)
			return;
		if (c->waiting >= DNS_TCP_PIPELINE || query_take(c->link, c->buf + 2, want, NULL, c) < 0) {
			tcp_close(c);
			return;
		}
		c->have -= 2 + want;
		memmove(c->buf, c->buf + 2 + want, c->have);
	}
}

static void on_tcp_listen(int fd, uint32_t events, void *arg)
{
	int i = (int)(intptr_t)arg;
	struct dns_link *l = fw.links[i];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	int cfd = accept4(fd, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct dns_tcp *c;

	if (cfd < 0)
		return;
	if (!l || from.sin_family != AF_INET || ntohl(from.sin_addr.s_addr) != l->peer) {
		fw.stats.dropped_bad++;
		close(cfd);
		return;
	}
	if (fw.n_tcp >= DNS_TCP_MAX || l->n_tcp >= 4) {
		fw.stats.dropped_full++;
		close(cfd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = cfd;
	c->link = i;
	c->idle_until = time_mono_ms() + DNS_TCP_IDLE_MS;
	c->w = loop_add(fw.loop, cfd, EPOLLIN | EPOLLRDHUP, on_tcp_conn, c);
	if (!c->w) {
		close(cfd);
		free(c);
		return;
	}
	c->next = fw.tcps;
	fw.tcps = c;
	l->n_tcp++;
	fw.n_tcp++;
	timer_arm();
}

static void on_upstream(int fd, uint32_t events, void *arg)
{
	static uint8_t buf[65536];

	for (int k = 0; k < 64; k++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		struct dns_pending *p = NULL;

		if (n < 0)
			return;
		if (n < 12 || !(buf[2] & 0x80))
			continue;
		for (int i = 0; i < DNS_INFLIGHT_MAX && !p; i++) {
			struct dns_pending *q = &fw.pending[i];
			const struct sockaddr_in *u = &upstreams[q->attempt % n_upstreams];
			if (q->used && q->id == get16(buf) && from.sin_addr.s_addr == u->sin_addr.s_addr &&
			    from.sin_port == u->sin_port)
				p = q;
		}
		if (!p)
			continue;
		buf[0] = (uint8_t)(p->client_id >> 8);
		buf[1] = (uint8_t)p->client_id;
		if (p->tcp) {
			uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };
			struct iovec iov[2] = { { len, 2 }, { buf, (size_t)n } };
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
			/* the socket buffer takes a DNS answer whole; a client that
			 * does not read loses its connection */
			if (sendmsg(p->tcp->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != n + 2) {
				struct dns_tcp *c = p->tcp;
				pending_drop(p);
				tcp_close(c);
				continue;
			}
		} else if (fw.links[p->link]) {
			sendto(fw.links[p->link]->udp, buf, (size_t)n, MSG_DONTWAIT,
			       (struct sockaddr *)&p->client, sizeof(p->client));
		}
		fw.stats.answered++;
		struct dns_tcp *done = p->tcp;
		pending_drop(p);
		if (done && done->eof && !done->waiting)
			tcp_close(done);
	}
}

static void on_timer(int fd, uint32_t events, void *arg)
{
	uint64_t ticks;
	int64_t now = time_mono_ms();

	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	for (int i = 0; i < DNS_INFLIGHT_MAX; i++) {
		struct dns_pending *p = &fw.pending[i];
		if (!p->used || p->deadline > now)
			continue;
		if (++p->attempt < n_upstreams) {
			upstream_send(p);
			continue;
		}
		fw.stats.timeouts++;
		/* a TCP client is told, a UDP one retries on its own */
		struct dns_tcp *c = p->tcp;
		pending_drop(p);
		if (c)
			tcp_close(c);
	}
	for (struct dns_tcp *c = fw.tcps, *next; c; c = next) {
		next = c->next;
		if (!c->waiting && c->idle_until <= now)
			tcp_close(c);
	}
	timer_arm();
}

int dns_forward_start(struct loop *loop, struct mags_err *err)
{
	if (fw.on)
		return 0;
	if (n_upstreams == 0)
		return err_set(err, MAGS_E_INTERNAL, ENOENT, "no DNS upstream");
	fw.loop = loop;
	fw.up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	fw.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fw.up < 0 || fw.timer < 0) {
		int e = errno;
		if (fw.up >= 0)
			close(fw.up);
		if (fw.timer >= 0)
			close(fw.timer);
		return err_sys(err, e, "dns forwarder socket");
	}
	fw.wup = loop_add(loop, fw.up, EPOLLIN, on_upstream, NULL);
	fw.wtimer = loop_add(loop, fw.timer, EPOLLIN, on_timer, NULL);
	if (!fw.wup || !fw.wtimer) {
		int e = errno;
		loop_remove(loop, fw.wup);
		loop_remove(loop, fw.wtimer);
		close(fw.up);
		close(fw.timer);
		return err_sys(err, e, "dns forwarder watch");
	}
	fw.on = 1;
	return 0;
}

static int link_socket(int type, uint32_t addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(addr) };
	int one = 1, mark = (int)DNS_SOCKET_MARK;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int dns_link_open(int i)
{
	struct netcfg_link nl;
	struct dns_link *l;
	int r;

	if (!fw.on || i < 0 || i >= (int)NETCFG_LINKS)
		return 0;
	if (fw.links[i])
		dns_link_close(i);
	netcfg_link_at((uint32_t)i, &nl);
	l = xcalloc(1, sizeof(*l));
	l->udp = l->tcp = -1;
	l->peer = nl.sandbox;
	l->tokens = DNS_BURST;
	l->refill_ms = time_mono_ms();
	if ((r = link_socket(SOCK_DGRAM, nl.host)) < 0)
		goto bad;
	l->udp = r;
	if ((r = link_socket(SOCK_STREAM, nl.host)) < 0)
		goto bad;
	l->tcp = r;
	l->wu = loop_add(fw.loop, l->udp, EPOLLIN, on_udp, (void *)(intptr_t)i);
	l->wt = loop_add(fw.loop, l->tcp, EPOLLIN, on_tcp_listen, (void *)(intptr_t)i);
	if (!l->wu || !l->wt) {
		r = -errno;
		loop_remove(fw.loop, l->wu);
		loop_remove(fw.loop, l->wt);
		goto bad;
	}
	fw.links[i] = l;
	return 0;
bad:
	if (l->udp >= 0)
		close(l->udp);
	if (l->tcp >= 0)
		close(l->tcp);
	free(l);
	log_warn("dns forwarder on link %d: %s", i, strerror(-r));
	return r;
}

void dns_link_close(int i)
{
	struct dns_link *l;

	if (i < 0 || i >= (int)NETCFG_LINKS || !(l = fw.links[i]))
		return;
	for (struct dns_tcp *c = fw.tcps, *next; c; c = next) {
		next = c->next;
		if (c->link == i)
			tcp_close(c);
	}
	for (int k = 0; k < DNS_INFLIGHT_MAX; k++)
		if (fw.pending[k].used && fw.pending[k].link == i)
			pending_drop(&fw.pending[k]);
	loop_remove(fw.loop, l->wu);
	loop_remove(fw.loop, l->wt);
	close(l->udp);
	close(l->tcp);
	free(l);
	fw.links[i] = NULL;
}
