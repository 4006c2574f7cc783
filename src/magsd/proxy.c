/*
 * proxy.c - the public-URL proxy (see proxy.h).
 *
 * Every connection is a small state machine driven by pump(): read what
 * can be read into bounded buffers, move client bytes through the request
 * framer (head rewritten, bodies and raw streams copied), write what can
 * be written. Watches are edge-triggered and registered once for
 * EPOLLIN|EPOLLOUT, so no epoll_ctl(MOD) is needed: readiness is
 * remembered in flags that are cleared on EAGAIN.
 *
 * The client side is framed with http-parser (head, Content-Length or
 * chunked body, upgrade); the upstream side is not parsed at all: its
 * bytes go to the client as they come, so a hostile upstream (endless
 * headers, endless body, huge chunks) costs one bounded buffer.
 */
#include "magsd/proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/log.h"
#include "common/banned.h"

#define RETRY_MS 100            /* between connects to a refusing port, at most */
#define RETRY_FIRST_MS 2        /* the first retry: a woken sandbox is ready in ms */
#define LINGER_MS 2000          /* reading what a client still sends after our error */
#define ACTIVITY_MS 1000
#define MAX_HEADERS 128

enum cstate {
	C_HEAD,       /* waiting for (the rest of) a request head */
	C_BODY,       /* inside a request body: bytes pass through the framer */
	C_RAW,        /* upgraded: everything passes */
	C_REPLY,      /* sending our own answer, then closing */
	C_LINGER,     /* answer sent, write side shut: draining the client */
};

enum ustate {
	U_NONE,       /* no route yet */
	U_WAIT,       /* connect refused: retry at retry_at */
	U_CONNECTING,
	U_OPEN,
	U_CLOSED,
};

struct buf {
	char *d;
	size_t off, len, cap;   /* bytes at d[off .. off+len) */
};

struct hdr {
	const char *f, *v;
	size_t fl, vl;
};

struct pconn {
	struct proxy *px;
	struct pconn *prev, *next;
	int cfd, ufd;
	struct loop_watch *cw, *uw;
	int c_rd, c_wr, u_rd, u_wr;   /* edge-triggered readiness */
	int c_hup, u_hup;             /* the peer's FIN (or an error) was signalled */
	int retries;                  /* connects retried so far (the backoff) */
	int c_eof, u_eof, u_shut;
	enum cstate cs;
	enum ustate us;
	struct buf cin, c2u, u2c;
	http_parser hp;
	int hp_done;                  /* message complete seen (parser paused) */
	/* the head being parsed: pointers into cin */
	struct hdr hdrs[MAX_HEADERS];
	int n_hdrs, hdr_overflow, in_value;
	const char *url;
	size_t url_len;
	char host[256];               /* of the first request, lowercased */
	struct proxy_route route;
	char peer[64];
	int64_t created, last_io, retry_at, connect_until, linger_until, last_activity;
	int64_t connect_started;
	int requests;
	int again;                    /* pump stopped with work left (fairness) */
};

struct proxy {
	const struct config *cfg;
	struct store *st;
	struct loop *loop;
	int lfd;
	int port;
	struct loop_watch *lw;
	struct pconn *conns;
	int n_conns;
	int64_t next_due;             /* earliest deadline worth a scan, 0 = none */
	int n_again;                  /* connections with c->again set */
	struct proxy_hooks hooks;
};

static void pump(struct pconn *c);

/* ---- pure parts ------------------------------------------------------- */

int proxy_label_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > STORE_SUB_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int proxy_host_sub(const char *host, size_t len, const char *domain,
		   char sub[STORE_SUB_MAX + 1])
{
	size_t dl = strlen(domain), end = len, dot;
	char low[256];

	/* strip an optional :port (digits only) */
	for (size_t i = len; i > 0; i--) {
		if (host[i - 1] == ':') {
			if (i == len)
				return -EINVAL;
			for (size_t j = i; j < len; j++)
				if (!isdigit((unsigned char)host[j]))
					return -EINVAL;
			end = i - 1;
			break;
		}
		if (!isdigit((unsigned char)host[i - 1]))
			break;
	}
	/* a fully qualified name may end with '.' */
	if (end > 0 && host[end - 1] == '.')
		end--;
	if (end >= sizeof(low) || end < dl + 2)
		return -EINVAL;
	for (size_t i = 0; i < end; i++)
		low[i] = (char)tolower((unsigned char)host[i]);
	low[end] = '\0';
	dot = end - dl - 1;
	if (low[dot] != '.' || memcmp(low + dot + 1, domain, dl))
		return -EINVAL;
	if (dot > STORE_SUB_MAX)
		return -EINVAL;
	memcpy(sub, low, dot);
	sub[dot] = '\0';
	return proxy_label_valid(sub) ? 0 : -EINVAL;
}

int proxy_target_parse(const char *target, struct sockaddr_storage *sa, unsigned *salen)
{
	char host[64];
	const char *colon, *h = target;
	size_t hl;
	char *end;
	long port;

	memset(sa, 0, sizeof(*sa));
	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)sa;
		size_t n = strlen(target + 5);
		if (n == 0 || n >= sizeof(un->sun_path) || target[5] != '/')
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, target + 5, n + 1);
		*salen = (unsigned)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	colon = strrchr(target, ':');
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - target);
	if (hl >= 2 && target[0] == '[' && target[hl - 1] == ']') {
		h = target + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		return -EINVAL;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
	}
	return 0;
}

static int job_state(struct proxy *px, const char *job_id)
{
	struct job j;
	int st;

	if (px->hooks.state)
		return px->hooks.state(job_id, px->hooks.arg);
	memset(&j, 0, sizeof(j));
	if (store_job_get(px->st, job_id, NULL, &j) < 0)
		return PROXY_JOB_GONE;
	st = !strcmp(j.status, "running") ? PROXY_JOB_RUNNING :
	     !strcmp(j.status, "sleeping") ? PROXY_JOB_SLEEPING : PROXY_JOB_GONE;
	job_release(&j);
	return st;
}

int proxy_route_lookup(struct proxy *px, const char *host, size_t len,
		       struct proxy_route *out)
{
	struct store_access_url u;
	struct store_alias a;
	char ip[64];

	memset(out, 0, sizeof(*out));
	if (proxy_host_sub(host, len, px->cfg->url_domain, out->sub) < 0)
		return -ENOENT;
	/* a job's own URL first: an alias can never shadow it */
	if (store_access_url_find(px->st, out->sub, &u) == 0) {
		snprintf(out->job_id, sizeof(out->job_id), "%s", u.job_id);
		out->port = u.port;
	} else if (store_alias_get(px->st, out->sub, &a) == 0) {
		if (store_job_live_for_workspace(px->st, a.user_id, a.workspace_id,
						 out->job_id) < 0)
			return -ESRCH;
		if (store_access_url_latest_port(px->st, out->job_id, &out->port) < 0)
			out->port = PROXY_DEFAULT_PORT;
	} else {
		return -ENOENT;
	}
	out->state = job_state(px, out->job_id);
	if (out->state == PROXY_JOB_GONE)
		return -ESRCH;
	if (px->hooks.addr && px->hooks.addr(out->job_id, ip, sizeof(ip), px->hooks.arg) == 0)
		snprintf(out->target, sizeof(out->target), strchr(ip, ':') ? "[%s]:%d" : "%s:%d",
			 ip, out->port);
	else if (px->cfg->proxy_test_addr[0])
		snprintf(out->target, sizeof(out->target), "%s:%d", px->cfg->proxy_test_addr,
			 out->port);
	return 0;
}

void proxy_url(const struct proxy *px, const char *sub, char *buf, size_t n)
{
	snprintf(buf, n, "http://%s.%s:%d/", sub, px->cfg->url_domain, px->port);
}

/* ---- buffers ------------------------------------------------------------ */

static void buf_init(struct buf *b, size_t cap)
{
	b->d = xmalloc(cap);
	b->off = b->len = 0;
	b->cap = cap;
}

static size_t buf_room(struct buf *b)
{
	if (b->off && b->off + b->len == b->cap) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	return b->cap - b->off - b->len;
}

static char *buf_tail(struct buf *b)
{
	return b->d + b->off + b->len;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n)
		return -ENOSPC;
	if (b->cap - b->off - b->len < n) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	memcpy(buf_tail(b), p, n);
	b->len += n;
	return 0;
}

/* ---- connections -------------------------------------------------------- */

static void due_at(struct proxy *px, int64_t t)
{
	if (!px->next_due || t < px->next_due)
		px->next_due = t;
}

/* When to try the upstream again: 2, 4, 8, ... ms, then every RETRY_MS.
 * A sandbox being woken listens a few ms after it starts; a fixed 100 ms
 * would be most of the wake's latency. */
static int64_t retry_after(struct pconn *c, int64_t now)
{
	int64_t d = c->retries < 6 ? (int64_t)RETRY_FIRST_MS << c->retries : RETRY_MS;

	c->retries++;
	return now + (d < RETRY_MS ? d : RETRY_MS);
}

static void up_close(struct pconn *c)
{
	if (c->ufd >= 0) {
		loop_remove(c->px->loop, c->uw);
		c->uw = NULL;
		close(c->ufd);
		c->ufd = -1;
	}
}

static void conn_free(struct pconn *c)
{
	struct proxy *px = c->px;

	up_close(c);
	loop_remove(px->loop, c->cw);
	close(c->cfd);
	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	px->n_conns--;
	if (c->again)
		px->n_again--;
	free(c->cin.d);
	free(c->c2u.d);
	free(c->u2c.d);
	free(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Answer with our own page and close: the upstream (if any) is dropped,
 * what it already sent stays in front. */
static void reply(struct pconn *c, int status, const char *msg)
{
	char body[700], head[300];
	int bl, hl;

	if (c->cs == C_REPLY || c->cs == C_LINGER)
		return;
	up_close(c);
	c->us = U_CLOSED;
	bl = snprintf(body, sizeof(body),
		      "<!doctype html>\n<html><head><title>%d %s</title></head>\n"
		      "<body><h1>%d %s</h1>\n<p>%s</p>\n<hr><p>mags proxy</p></body></html>\n",
		      status, reason(status), status, reason(status), msg);
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
		      "Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
		      status, reason(status), bl);
	if (c->u2c.cap - c->u2c.len < (size_t)(hl + bl))
		c->u2c.off = c->u2c.len = 0;
	(void)buf_append(&c->u2c, head, (size_t)hl);
	(void)buf_append(&c->u2c, body, (size_t)bl);
	c->cs = C_REPLY;
}

static void activity(struct pconn *c, int64_t now)
{
	struct proxy *px = c->px;

	c->last_io = now;
	if (!c->route.job_id[0] || now - c->last_activity < ACTIVITY_MS)
		return;
	c->last_activity = now;
	if (px->hooks.activity)
		px->hooks.activity(c->route.job_id, px->hooks.arg);
}

static void on_up(int fd, uint32_t events, void *arg);

static void up_connect(struct pconn *c)
{
	struct sockaddr_storage sa;
	unsigned salen;
	int fd;

	if (!c->route.target[0]) {
		/* being woken (lifecycle.c): its new sandbox's address, once it has one */
		struct proxy *px = c->px;
		char ip[64];
		if (px->hooks.addr && px->hooks.addr(c->route.job_id, ip, sizeof(ip), px->hooks.arg) == 0)
			snprintf(c->route.target, sizeof(c->route.target),
				 strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, c->route.port);
		if (!c->route.target[0]) {
			c->us = U_WAIT;
			c->retry_at = retry_after(c, time_mono_ms());
			due_at(px, c->retry_at);
			return;
		}
	}
	if (proxy_target_parse(c->route.target, &sa, &salen) < 0) {
		reply(c, 502, "The sandbox address is not usable.");
		return;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		reply(c, 502, "No socket for the sandbox connection.");
		return;
	}
	if (sa.ss_family != AF_UNIX) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
		close(fd);
		c->us = U_WAIT;
		c->retry_at = retry_after(c, time_mono_ms());
		due_at(c->px, c->retry_at);
		return;
	}
	c->ufd = fd;
	c->u_rd = c->u_wr = c->u_hup = 0;
	c->connect_started = time_mono_ms();
	c->uw = loop_add(c->px->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, on_up, c);
	if (!c->uw) {
		close(fd);
		c->ufd = -1;
		reply(c, 502, "Cannot watch the sandbox connection.");
		return;
	}
	c->us = U_CONNECTING;
	due_at(c->px, c->connect_until > c->connect_started + 2000 ? c->connect_until :
		      c->connect_started + 2000);
}

/* A refused or failed connect: retry until connect_until, then 502. */
static void up_failed(struct pconn *c, int64_t now)
{
	up_close(c);
	if (now + RETRY_FIRST_MS <= c->connect_until) {
		c->us = U_WAIT;
		c->retry_at = retry_after(c, now);
		due_at(c->px, c->retry_at);
		return;
	}
	reply(c, 502, "The sandbox is not answering on this port.");
}

/* The first request's Host: find the route and start connecting. */
static void route(struct pconn *c, const char *host, size_t hl)
{
	struct proxy *px = c->px;
	int64_t now = time_mono_ms();
	int r;

	r = proxy_route_lookup(px, host, hl, &c->route);
	if (r == -ENOENT) {
		reply(c, 404, "No sandbox has this address.");
		return;
	}
	if (r < 0) {
		reply(c, 502, "The sandbox behind this address is not running.");
		return;
	}
	/* a sleeping sandbox has no address until it is woken (up_connect
	 * asks again) */
	if (!c->route.target[0] && c->route.state != PROXY_JOB_SLEEPING) {
		reply(c, 502, "The sandbox has no network.");
		return;
	}
	c->connect_until = now + (int64_t)px->cfg->proxy_connect_wait * 1000;
	if (c->route.state == PROXY_JOB_SLEEPING) {
		if (!px->hooks.wake || px->hooks.wake(c->route.job_id, px->hooks.arg) < 0) {
			reply(c, 502, "The sandbox is asleep and could not be woken.");
			return;
		}
	}
	c->last_activity = 0;
	c->retries = 0;
	activity(c, now);
	up_connect(c);
}

/* http-parser callbacks: collect the head's pieces (they point into cin,
 * which holds the whole head while it is parsed). */
static int on_url(http_parser *p, const char *at, size_t n)
{
	struct pconn *c = p->data;

	if (!c->url)
		c->url = at;
	c->url_len = (size_t)(at + n - c->url);
	return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
	struct pconn *c = p->data;

	if (c->in_value || c->n_hdrs == 0) {
		if (c->n_hdrs == MAX_HEADERS) {
			c->hdr_overflow = 1;
			return 1;
		}
		c->hdrs[c->n_hdrs].f = at;
		c->hdrs[c->n_hdrs].fl = 0;
		c->hdrs[c->n_hdrs].v = NULL;
		c->hdrs[c->n_hdrs].vl = 0;
		c->n_hdrs++;
		c->in_value = 0;
	}
	struct hdr *h = &c->hdrs[c->n_hdrs - 1];
	h->fl = (size_t)(at + n - h->f);
	return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
	struct pconn *c = p->data;
	struct hdr *h = &c->hdrs[c->n_hdrs - 1];

	if (!c->in_value) {
		h->v = at;
		c->in_value = 1;
	}
	h->vl = (size_t)(at + n - h->v);
	return 0;
}

static int on_complete(http_parser *p)
{
	struct pconn *c = p->data;

	c->hp_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings head_settings = {
	.on_url = on_url,
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_message_complete = on_complete,
};

static const http_parser_settings body_settings = {
	.on_message_complete = on_complete,
};

static int field_is(const struct hdr *h, const char *name)
{
	return h->fl == strlen(name) && !strncasecmp(h->f, name, h->fl);
}

static int field_has_prefix(const struct hdr *h, const char *prefix)
{
	size_t n = strlen(prefix);
	return h->fl >= n && !strncasecmp(h->f, prefix, n);
}

/* Find the end of a head in cin: the length including the blank line, 0 if
 * not complete. */
static size_t head_end(const struct buf *b)
{
	const char *s = b->d + b->off;

	for (size_t i = 0; i + 1 < b->len; i++) {
		if (s[i] != '\n')
			continue;
		if (s[i + 1] == '\n')
			return i + 2;
		if (i + 2 < b->len && s[i + 1] == '\r' && s[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One complete head at the front of cin: parse, route or check Host,
 * write the rewritten head to c2u. 1 if consumed, 0 to wait for room in
 * c2u, -1 if the connection is answering an error now. */
static int do_head(struct pconn *c, size_t hlen)
{
	const char *s = c->cin.d + c->cin.off;
	const struct hdr *host = NULL;
	char out[PROXY_HEAD_MAX + 1024];
	size_t n, w = 0;
	enum http_errno e;

	if (c->c2u.cap - c->c2u.len < hlen + 1024)
		return 0;
	c->n_hdrs = 0;
	c->hdr_overflow = 0;
	c->in_value = 0;
	c->url = NULL;
	c->url_len = 0;
	c->hp_done = 0;
	http_parser_init(&c->hp, HTTP_REQUEST);
	c->hp.data = c;
	n = http_parser_execute(&c->hp, &head_settings, s, hlen);
	e = HTTP_PARSER_ERRNO(&c->hp);
	if (c->hdr_overflow) {
		reply(c, 431, "Too many request headers.");
		return -1;
	}
	if ((e != HPE_OK && e != HPE_PAUSED) || !c->url || n == 0) {
		reply(c, 400, "The request could not be parsed.");
		return -1;
	}
	if (e == HPE_PAUSED)
		http_parser_pause(&c->hp, 0);
	/* leading blank lines are skipped by the parser: the head ends at n
	 * only when the message had no body, else at hlen */
	if (n < hlen && !c->hp_done && !c->hp.upgrade) {
		reply(c, 400, "The request could not be parsed.");
		return -1;
	}
	for (int i = 0; i < c->n_hdrs; i++) {
		if (!field_is(&c->hdrs[i], "host"))
			continue;
		if (host) {
			reply(c, 400, "More than one Host header.");
			return -1;
		}
		host = &c->hdrs[i];
	}
	if (!host || !host->v || host->vl == 0 || host->vl >= sizeof(c->host)) {
		reply(c, 400, "The request has no usable Host header.");
		return -1;
	}
	if (c->requests == 0) {
		for (size_t i = 0; i < host->vl; i++)
			c->host[i] = (char)tolower((unsigned char)host->v[i]);
		c->host[host->vl] = '\0';
		route(c, host->v, host->vl);
		if (c->cs == C_REPLY)
			return -1;
	} else if (host->vl != strlen(c->host) || strncasecmp(host->v, c->host, host->vl)) {
		reply(c, 421, "This connection serves another host: open a new connection.");
		return -1;
	}
	c->requests++;

	/* request line, the headers minus X-Forwarded-*, then ours */
	w += (size_t)snprintf(out + w, sizeof(out) - w, "%s %.*s HTTP/%u.%u\r\n",
			      http_method_str((enum http_method)c->hp.method), (int)c->url_len,
			      c->url, c->hp.http_major, c->hp.http_minor);
	for (int i = 0; i < c->n_hdrs && w < sizeof(out); i++) {
		const struct hdr *h = &c->hdrs[i];
		if (field_has_prefix(h, "x-forwarded-") || field_is(h, "forwarded"))
			continue;
		w += (size_t)snprintf(out + w, sizeof(out) - w, "%.*s: %.*s\r\n", (int)h->fl,
				      h->f, (int)h->vl, h->v ? h->v : "");
	}
	if (w < sizeof(out))
		w += (size_t)snprintf(out + w, sizeof(out) - w,
				      "X-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\n"
				      "X-Forwarded-Host: %s\r\n\r\n", c->peer, c->host);
	if (w >= sizeof(out)) {
		reply(c, 431, "The request head is too large.");
		return -1;
	}
	(void)buf_append(&c->c2u, out, w);
	if (c->hp.upgrade) {
		/* WebSocket or CONNECT: from here on bytes just pass, and the
		 * head's own length is the parser's */
		buf_consume(&c->cin, n);
		c->cs = C_RAW;
	} else if (c->hp_done) {
		buf_consume(&c->cin, n < hlen ? n : hlen);
		c->cs = C_HEAD;
	} else {
		buf_consume(&c->cin, hlen);
		c->cs = C_BODY;
	}
	return 1;
}

/* Move client bytes from cin to c2u as far as room allows. */
static void frame_client(struct pconn *c)
{
	for (;;) {
		size_t room, n;

		if (c->cs == C_HEAD) {
			size_t hlen;
			/* blank lines between requests are allowed */
			while (c->cin.len && (c->cin.d[c->cin.off] == '\r' ||
					      c->cin.d[c->cin.off] == '\n'))
				buf_consume(&c->cin, 1);
			if (!c->cin.len)
				return;
			hlen = head_end(&c->cin);
			if (!hlen) {
				if (c->cin.len >= PROXY_HEAD_MAX)
					reply(c, 431, "The request head is too large.");
				else if (c->c_eof && c->requests == 0)
					reply(c, 400, "The request ended early.");
				else if (c->c_eof)
					c->cin.off = c->cin.len = 0;   /* a torn last request */
				return;
			}
			if (do_head(c, hlen) <= 0)
				return;
			continue;
		}
		if (c->cs != C_BODY && c->cs != C_RAW)
			return;
		if (!c->cin.len)
			return;
		room = c->c2u.cap - c->c2u.len;
		n = c->cin.len < room ? c->cin.len : room;
		if (!n)
			return;
		if (c->cs == C_BODY) {
			size_t p;
			c->hp_done = 0;
			p = http_parser_execute(&c->hp, &body_settings, c->cin.d + c->cin.off, n);
			enum http_errno e = HTTP_PARSER_ERRNO(&c->hp);
			if (e != HPE_OK && e != HPE_PAUSED) {
				/* a malformed body: nothing sensible can follow */
				reply(c, 400, "The request body could not be parsed.");
				return;
			}
			(void)buf_append(&c->c2u, c->cin.d + c->cin.off, p);
			buf_consume(&c->cin, p);
			if (c->hp_done) {
				http_parser_pause(&c->hp, 0);
				c->cs = C_HEAD;
			}
			continue;
		}
		(void)buf_append(&c->c2u, c->cin.d + c->cin.off, n);
		buf_consume(&c->cin, n);
	}
}

static int io_again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static void pump(struct pconn *c)
{
	struct proxy *px = c->px;
	int64_t now = time_mono_ms();

	if (c->again) {
		c->again = 0;
		px->n_again--;
	}
	for (int round = 0;; round++) {
		int progress = 0;
		ssize_t n;

		if (round == 64) {
			/* readiness is edge-triggered: nothing will call us again for
			 * what is left, so the next loop round does (proxy_tick) */
			c->again = 1;
			px->n_again++;
			break;
		}

		/* client -> cin */
		if (c->c_rd && !c->c_eof && c->cs != C_REPLY) {
			size_t room = buf_room(&c->cin);
			if (c->cs == C_LINGER) {
				char junk[4096];
				n = read(c->cfd, junk, sizeof(junk));
				if (n > 0)
					progress = 1;
				else if (n == 0 || !io_again()) {
					conn_free(c);
					return;
				} else
					c->c_rd = 0;
			} else if (room) {
				n = read(c->cfd, buf_tail(&c->cin), room);
				if (n > 0) {
					c->cin.len += (size_t)n;
					progress = 1;
					activity(c, now);
					/* a short read drained the socket: the next
					 * bytes bring a new edge, so no read for
					 * EAGAIN (a third of the syscalls of a small
					 * request); not once the peer shut down, as
					 * its EOF brings no edge of its own */
					if ((size_t)n < room && !c->c_hup)
						c->c_rd = 0;
				} else if (n == 0) {
					c->c_eof = 1;
					progress = 1;
				} else if (!io_again()) {
					conn_free(c);
					return;
				} else {
					c->c_rd = 0;
				}
			}
		}
		if (c->cs == C_HEAD || c->cs == C_BODY || c->cs == C_RAW)
			frame_client(c);

		/* c2u -> upstream */
		if (c->us == U_OPEN && c->u_wr && c->c2u.len) {
			n = send(c->ufd, c->c2u.d + c->c2u.off, c->c2u.len, MSG_NOSIGNAL);
			if (n > 0) {
				buf_consume(&c->c2u, (size_t)n);
				progress = 1;
			} else if (n < 0 && io_again()) {
				c->u_wr = 0;
			} else {
				/* the upstream went away: what it sent still goes out */
				c->u_eof = 1;
				c->c2u.len = 0;
				progress = 1;
			}
		}
		if (c->us == U_OPEN && c->c_eof && !c->c2u.len && !c->cin.len && !c->u_shut &&
		    c->cs != C_REPLY) {
			(void)shutdown(c->ufd, SHUT_WR);
			c->u_shut = 1;
		}

		/* upstream -> u2c */
		if (c->us == U_OPEN && c->u_rd && !c->u_eof) {
			size_t room = buf_room(&c->u2c);
			if (room) {
				n = read(c->ufd, buf_tail(&c->u2c), room);
				if (n > 0) {
					c->u2c.len += (size_t)n;
					progress = 1;
					activity(c, now);
					if ((size_t)n < room && !c->u_hup)
						c->u_rd = 0;   /* drained, as above */
				} else if (n == 0 || !io_again()) {
					c->u_eof = 1;
					progress = 1;
				} else {
					c->u_rd = 0;
				}
			}
		}

		/* u2c -> client */
		if (c->c_wr && c->u2c.len) {
			n = send(c->cfd, c->u2c.d + c->u2c.off, c->u2c.len, MSG_NOSIGNAL);
			if (n > 0) {
				buf_consume(&c->u2c, (size_t)n);
				progress = 1;
			} else if (n < 0 && io_again()) {
				c->c_wr = 0;
			} else {
				conn_free(c);
				return;
			}
		}

		/* endings */
		if (c->cs == C_REPLY && !c->u2c.len) {
			(void)shutdown(c->cfd, SHUT_WR);
			c->cs = C_LINGER;
			c->linger_until = now + LINGER_MS;
			due_at(px, c->linger_until);
			if (c->c_eof) {
				conn_free(c);
				return;
			}
			progress = 1;
		}
		if (c->us == U_OPEN && c->u_eof && !c->u2c.len && c->cs != C_REPLY &&
		    c->cs != C_LINGER) {
			/* the upstream ended: so does this connection */
			conn_free(c);
			return;
		}
		if (c->c_eof && (c->cs == C_HEAD || c->cs == C_BODY) && c->us == U_NONE &&
		    !c->cin.len) {
			conn_free(c);
			return;
		}
		if (c->c_eof && c->us == U_CLOSED && c->cs != C_REPLY && c->cs != C_LINGER &&
		    !c->u2c.len) {
			conn_free(c);
			return;
		}
		if (!progress)
			break;
	}
}

static void on_client(int fd, uint32_t events, void *arg)
{
	struct pconn *c = arg;

	(void)fd;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->c_hup = 1;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->c_rd = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->c_wr = 1;
	pump(c);
}

static void on_up(int fd, uint32_t events, void *arg)
{
	struct pconn *c = arg;
	int64_t now = time_mono_ms();

	if (c->us == U_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			up_failed(c, now);
			pump(c);
			return;
		}
		c->us = U_OPEN;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->u_hup = 1;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->u_rd = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->u_wr = 1;
	pump(c);
}

static void on_listen(int fd, uint32_t events, void *arg)
{
	struct proxy *px = arg;

	(void)events;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct pconn *c;

		if (cfd < 0)
			return;
		if (px->n_conns >= px->cfg->proxy_max_conns) {
			close(cfd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->px = px;
		c->cfd = cfd;
		c->ufd = -1;
		c->created = c->last_io = time_mono_ms();
		buf_init(&c->cin, PROXY_HEAD_MAX);
		buf_init(&c->c2u, PROXY_BUF_MAX);
		buf_init(&c->u2c, PROXY_BUF_MAX);
		if (sa.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, c->peer,
				  sizeof(c->peer));
		else if (sa.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, c->peer,
				  sizeof(c->peer));
		else
			snprintf(c->peer, sizeof(c->peer), "unknown");
		{
			int one = 1;
			(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c->next = px->conns;
		if (px->conns)
			px->conns->prev = c;
		px->conns = c;
		px->n_conns++;
		c->cw = loop_add(px->loop, cfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 on_client, c);
		if (!c->cw) {
			conn_free(c);
			continue;
		}
		due_at(px, c->created + PROXY_HEAD_TIMEOUT_MS);
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

int proxy_listen_socket(const char *spec, int *port, struct mags_err *err)
{
	struct sockaddr_storage sa;
	unsigned salen;
	char tmp[300];
	int fd, one = 1;

	if (!strncmp(spec, "localhost:", 10))
		snprintf(tmp, sizeof(tmp), "127.0.0.1%s", spec + 9);
	else
		snprintf(tmp, sizeof(tmp), "%s", spec);
	{
		/* port 0 is allowed here (a free one is picked) */
		char *colon = strrchr(tmp, ':');
		int zero = colon && !strcmp(colon, ":0");
		if (zero)
			colon[1] = '1';
		if (proxy_target_parse(tmp, &sa, &salen) < 0 || sa.ss_family == AF_UNIX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "bad listen address '%s' (expected IP:PORT)", spec);
		if (zero) {
			if (sa.ss_family == AF_INET)
				((struct sockaddr_in *)&sa)->sin_port = 0;
			else
				((struct sockaddr_in6 *)&sa)->sin6_port = 0;
		}
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 512) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "listen on '%s'", spec);
	}
	{
		struct sockaddr_storage b;
		socklen_t bl = sizeof(b);
		if (getsockname(fd, (struct sockaddr *)&b, &bl) == 0)
			*port = ntohs(b.ss_family == AF_INET ? ((struct sockaddr_in *)&b)->sin_port
				      : ((struct sockaddr_in6 *)&b)->sin6_port);
	}
	return fd;
}

struct proxy *proxy_new(const struct config *cfg, struct store *st, struct loop *loop,
			struct mags_err *err)
{
	struct proxy *px = xcalloc(1, sizeof(*px));

	px->cfg = cfg;
	px->st = st;
	px->loop = loop;
	px->lfd = proxy_listen_socket(cfg->proxy_listen, &px->port, err);
	if (px->lfd < 0) {
		err_wrap(err, "proxy");
		free(px);
		return NULL;
	}
	px->lw = loop_add(loop, px->lfd, EPOLLIN, on_listen, px);
	if (!px->lw) {
		err_sys(err, errno, "proxy: watch listener");
		close(px->lfd);
		free(px);
		return NULL;
	}
	return px;
}

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	while (px->conns)
		conn_free(px->conns);
	loop_remove(px->loop, px->lw);
	close(px->lfd);
	free(px);
}

void proxy_set_hooks(struct proxy *px, const struct proxy_hooks *hooks)
{
	px->hooks = *hooks;
}

int proxy_port(const struct proxy *px)
{
	return px->port;
}

int proxy_conn_count(const struct proxy *px)
{
	return px->n_conns;
}

void proxy_job_ended(struct proxy *px, const char *job_id)
{
	struct pconn *c = px->conns, *next;
	/* A sandbox that went to sleep, or the old one of a job being woken
	 * (a request can arrive while it is still on its way out): requests
	 * not yet connected wait on for the job's next sandbox. */
	int st = job_state(px, job_id), woken = 0;

	for (; c; c = next) {
		next = c->next;
		if (!c->route.job_id[0] || strcmp(c->route.job_id, job_id) ||
		    c->cs == C_REPLY || c->cs == C_LINGER)
			continue;
		if ((c->us == U_WAIT || c->us == U_CONNECTING) && st != PROXY_JOB_GONE) {
			if (st == PROXY_JOB_SLEEPING && !woken) {
				woken = 1;
				if (!px->hooks.wake || px->hooks.wake(job_id, px->hooks.arg) < 0) {
					reply(c, 502, "The sandbox is asleep and could not be woken.");
					pump(c);
					continue;
				}
			}
			up_close(c);
			c->route.target[0] = '\0';
			c->us = U_WAIT;
			c->retries = 0;
			c->retry_at = retry_after(c, time_mono_ms());
			due_at(px, c->retry_at);
			continue;
		}
		if (c->us == U_WAIT || c->us == U_CONNECTING) {
			reply(c, 502, "The sandbox ended.");
			pump(c);
		} else {
			conn_free(c);
		}
	}
}

/* The deadline of a connection, or 0 if none. */
static int64_t conn_due(const struct pconn *c, int idle_ms)
{
	if (c->cs == C_LINGER)
		return c->linger_until;
	if (c->us == U_WAIT)
		return c->retry_at;
	if (c->us == U_CONNECTING)    /* a connect in flight gets 2 s at least */
		return c->connect_until > c->connect_started + 2000 ? c->connect_until :
		       c->connect_started + 2000;
	if (c->requests == 0 && c->cs == C_HEAD)
		return c->created + PROXY_HEAD_TIMEOUT_MS;
	return c->last_io + idle_ms;
}

int proxy_next_timeout(struct proxy *px, int64_t now)
{
	if (!px)
		return -1;
	if (px->n_again)
		return 0;
	if (!px->next_due)
		return -1;
	return px->next_due <= now ? 0 : (int)(px->next_due - now);
}

void proxy_tick(struct proxy *px, int64_t now)
{
	int idle_ms;
	struct pconn *c, *next;

	if (!px)
		return;
	if (px->n_again) {
		for (c = px->conns; c; c = next) {
			next = c->next;
			if (c->again)
				pump(c);
		}
	}
	if (!px->next_due || now < px->next_due)
		return;
	px->next_due = 0;
	idle_ms = px->cfg->proxy_idle_timeout * 1000;
	for (c = px->conns; c; c = next) {
		int64_t due = conn_due(c, idle_ms);
		next = c->next;
		if (due > now) {
			due_at(px, due);
			continue;
		}
		if (c->cs == C_LINGER) {
			conn_free(c);
		} else if (c->us == U_WAIT) {
			if (now > c->connect_until)
				reply(c, 502, "The sandbox is not answering on this port.");
			else
				up_connect(c);
			pump(c);
		} else if (c->us == U_CONNECTING) {
			reply(c, 502, "The sandbox did not accept the connection in time.");
			pump(c);
		} else if (c->requests == 0 && c->cs == C_HEAD) {
			reply(c, 408, "The request head did not arrive in time.");
			pump(c);
		} else {
			conn_free(c);
		}
	}
	/* what the handlers above left pending */
	for (c = px->conns; c; c = c->next) {
		int64_t due = conn_due(c, idle_ms);
		due_at(px, due > now ? due : now + 1);
	}
}
