/*
 * fuzz_proxy_head.c - libFuzzer target for the public-URL proxy
 * (src/magsd/proxy.c), driven end to end in this process: the real
 * listener, request framer (http-parser heads, Content-Length and chunked
 * bodies, upgrades, keep-alive requests), head rewriting and splicing, on
 * magsd's loop. A store in a temporary directory holds one URL,
 * "app.localhost", whose job is "running" at 127.0.0.1 (the hooks say so)
 * on the port of an upstream socket this target plays.
 *
 * Input: the bytes a client sends, then optionally the marker "\0UP\0" and
 * the bytes the sandboxed upstream answers (sent once it got a request
 * head; the proxy splices them unparsed).
 *
 * Invariants: the client gets either upstream bytes or one of the proxy's
 * own answers (a complete "HTTP/1.1 NNN" head); the upstream gets a head
 * with a request line and exactly one X-Forwarded-For per request (a
 * client's own X-Forwarded-* headers never pass); a connection is freed
 * once its client is gone.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/log.h"
#include "magsd/loop.h"
#include "magsd/proxy.h"
#include "magsd/store.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_proxy_head: %s (errno %d)\n", #c, errno); abort(); } } while (0)

#define MARK "\0UP\0"
#define MARK_LEN 4
#define MAX_OUT (1024 * 1024)
#define IDLE_ROUNDS 4
#define MAX_ROUNDS 2000

static struct config cfg;
static struct store *st;
static struct loop *lp;
static struct proxy *px;
static int up_lfd;

static int hook_state(const char *job_id, void *arg)
{
	return PROXY_JOB_RUNNING;
}

static int hook_addr(const char *job_id, char *ip, size_t n, void *arg)
{
	snprintf(ip, n, "127.0.0.1");
	return 0;
}

static char *data_dir;   /* removed at exit */

static void cleanup(void)
{
	if (data_dir)
		(void)rm_rf(data_dir);
}

static void setup(void)
{
	struct mags_err err;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char *dir = xasprintf("%s/mags-fuzz-proxy-XXXXXX", base), *db;
	struct proxy_hooks h = { .state = hook_state, .addr = hook_addr };

	CHECK(mkdtemp(dir));
	data_dir = xstrdup(dir);
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN);
	log_set_verbose(0);
	err_clear(&err);
	config_defaults(&cfg);
	snprintf(cfg.proxy_listen, sizeof(cfg.proxy_listen), "127.0.0.1:0");
	snprintf(cfg.url_domain, sizeof(cfg.url_domain), "localhost");
	cfg.proxy_connect_wait = 0;

	up_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(up_lfd >= 0);
	CHECK(bind(up_lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(up_lfd, 64) == 0);
	CHECK(getsockname(up_lfd, (struct sockaddr *)&a, &al) == 0);

	db = xasprintf("%s/mags.db", dir);
	CHECK(store_open(db, &st, &err) == 0);
	char uid[32];
	struct job j;
	memset(&j, 0, sizeof(j));
	CHECK(store_user_add(st, "fuzz", uid, &err) == 0);
	snprintf(j.id, sizeof(j.id), "job_fuzz");
	snprintf(j.user_id, sizeof(j.user_id), "%s", uid);
	snprintf(j.status, sizeof(j.status), "running");
	snprintf(j.type, sizeof(j.type), "inline");
	j.script = (char *)"true";
	j.timeout = 300;
	j.created_at = 1;
	CHECK(store_job_insert(st, &j, &err) == 0);
	if (store_access_url_add(st, "app", "job_fuzz", uid, ntohs(a.sin_port), 1, &err) < 0) {
		fprintf(stderr, "fuzz_proxy_head: %s\n", err.msg);
		abort();
	}
	free(db);
	free(dir);
	lp = loop_new();
	CHECK(lp);
	px = proxy_new(&cfg, st, lp, &err);
	CHECK(px);
	proxy_set_hooks(px, &h);
}

/* Close without TIME_WAIT: thousands of connections a second otherwise
 * run out of local ports. */
static void close_rst(int fd)
{
	struct linger l = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* The upstream ends abortively: a FIN from here would leave TIME_WAIT
 * entries that block the proxy's next ephemeral ports. The proxy sees the
 * reset as the upstream's end, like an EOF. */
static void up_close(int *fd)
{
	if (*fd >= 0)
		close_rst(*fd);
	*fd = -1;
}

static void drain(int fd, char *buf, size_t *len, int *eof)
{
	for (;;) {
		ssize_t n = recv(fd, buf + *len, MAX_OUT - *len, 0);
		if (n > 0) {
			*len += (size_t)n;
			if (*len == MAX_OUT)
				*len = MAX_OUT / 2;   /* keep the front, bounded */
			continue;
		}
		if (n == 0)
			*eof = 1;
		return;
	}
}

static size_t count_lines_ci(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix), c = 0;

	for (size_t i = 0; i + pl <= len; i++)
		if ((i == 0 || s[i - 1] == '\n') && !strncasecmp(s + i, prefix, pl))
			c++;
	return c;
}

static void check_upstream(const char *s, size_t len)
{
	const char *end;
	const char *sp;

	if (!s || !len)
		return;
	/* the first head: what the proxy wrote itself */
	end = memmem(s, len, "\r\n\r\n", 4);
	if (!end)
		return;   /* still cut short by the upstream's buffer: nothing to judge */
	sp = memchr(s, ' ', (size_t)(end - s));
	CHECK(sp && sp != s);
	CHECK(memmem(s, (size_t)(end - s), " HTTP/", 6));
	CHECK(count_lines_ci(s, (size_t)(end - s) + 2, "x-forwarded-for:") == 1);
	CHECK(count_lines_ci(s, (size_t)(end - s) + 2, "x-forwarded-host:") == 1);
	CHECK(count_lines_ci(s, (size_t)(end - s) + 2, "forwarded:") == 0);
	CHECK(count_lines_ci(s, (size_t)(end - s) + 2, "host:") == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static char *cout, *uout;
	const uint8_t *mark = memmem(data, size, MARK, MARK_LEN);
	size_t clen = mark ? (size_t)(mark - data) : size;
	const uint8_t *up = mark ? mark + MARK_LEN : NULL;
	size_t ulen = mark ? size - clen - MARK_LEN : 0;
	size_t csent = 0, usent = 0, cgot = 0, ugot = 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int cfd, ufd = -1, ceof = 0, ueof = 0, idle = 0, cshut = 0, uconn = 0;

	if (!ready) {
		setup();
		cout = xmalloc(MAX_OUT);
		uout = xmalloc(MAX_OUT);
		ready = 1;
	}
	a.sin_port = htons((uint16_t)proxy_port(px));
	if (size > 256 * 1024)
		return 0;
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(cfd >= 0);
	/* a random 127/8 source: a client that half-closed first keeps its
	 * port in TIME_WAIT, and one address has only ~28k of them */
	src.sin_addr.s_addr = htonl(0x7f000000u | (1u + (uint32_t)rand() % 254u) << 16 |
				    ((uint32_t)rand() & 0xffu) << 8 | (1u + (uint32_t)rand() % 254u));
	CHECK(bind(cfd, (struct sockaddr *)&src, sizeof(src)) == 0);
	/* non-blocking: libFuzzer's timer signal would interrupt a blocking one */
	if (connect(cfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		struct pollfd pfd = { .fd = cfd, .events = POLLOUT };
		int e = 0;
		socklen_t el = sizeof(e);
		CHECK(errno == EINPROGRESS || errno == EINTR);
		while (poll(&pfd, 1, 5000) < 0)
			CHECK(errno == EINTR);
		CHECK(getsockopt(cfd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0);
	}

	for (int r = 0; r < MAX_ROUNDS; r++) {
		int progress = 0;
		ssize_t n;

		if (csent < clen) {
			n = send(cfd, data + csent, clen - csent, MSG_NOSIGNAL);
			if (n > 0) {
				csent += (size_t)n;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN) {
				csent = clen;
			}
		}
		(void)loop_run_once(lp, 0);
		proxy_tick(px, time_mono_ms());
		if (!uconn) {
			ufd = accept4(up_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (ufd >= 0)
				progress = uconn = 1;
		}
		if (ufd >= 0 && !ueof) {
			size_t before = ugot;
			drain(ufd, uout, &ugot, &ueof);
			progress |= ugot != before || ueof;
			/* answer once a head came in */
			if (usent < ulen && memmem(uout, ugot, "\r\n\r\n", 4)) {
				n = send(ufd, up + usent, ulen - usent, MSG_NOSIGNAL);
				if (n > 0) {
					usent += (size_t)n;
					progress = 1;
				} else if (n < 0 && errno != EAGAIN) {
					usent = ulen;
				}
			}
			if (ueof) {
				up_close(&ufd);
				ueof = 1;
			}
		}
		if (!ceof) {
			size_t before = cgot;
			drain(cfd, cout, &cgot, &ceof);
			progress |= cgot != before || ceof;
		}
		if (ceof && (!uconn || ueof))
			break;
		idle = progress ? 0 : idle + 1;
		if (idle >= IDLE_ROUNDS) {
			if (!cshut && csent == clen) {
				shutdown(cfd, SHUT_WR);
				cshut = 1;
				idle = 0;
			} else if (ufd >= 0) {
				up_close(&ufd);
				ueof = 1;
				idle = 0;
			} else {
				break;
			}
		}
	}

	check_upstream(uout, ugot);
	if (!uconn && cgot) {
		/* nothing reached an upstream: the answer is the proxy's own */
		CHECK(cgot >= 17 && !memcmp(cout, "HTTP/1.1 ", 9));
		CHECK(cout[9] == '4' || cout[9] == '5');
		CHECK(memmem(cout, cgot, "\r\n\r\n", 4));
	}
	if (uconn)
		CHECK(ugot > 0 || cgot == 0 || !memcmp(cout, "HTTP/1.1 ", 9));
	close_rst(cfd);
	up_close(&ufd);
	/* both ends gone: the proxy frees the connection */
	for (int r = 0; r < 50 && proxy_conn_count(px); r++) {
		(void)loop_run_once(lp, r < 10 ? 0 : 1);
		proxy_tick(px, time_mono_ms());
	}
	CHECK(proxy_conn_count(px) == 0);
	/* a late upstream connect (a retry) is dropped */
	while ((ufd = accept4(up_lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close_rst(ufd);
	return 0;
}
