/*
 * proxy.h - the public-URL proxy (DESIGN §5, DECISIONS D10): one listener
 * on magsd's loop that routes `Host: <sub>.<url_domain>[:port]` to a port
 * of a live sandbox and then splices bytes both ways.
 *
 * Routing (proxy_route_lookup): <sub> is either a job port's unguessable
 * id (store access_urls, made by POST /mags-jobs/{id}/access) or a URL
 * alias (store url_aliases) that follows its workspace's live job. The
 * target is "<sandbox ip>:<port>" once the job has a network address (the
 * addr hook, fed by the runtime's `net <ip>` line); without one the
 * request is answered 502 "sandbox has no network". A test-only setting
 * (proxy_test_addr) stands in for every job's address.
 *
 * Per client connection: the request head is read (at most
 * PROXY_HEAD_MAX bytes, within PROXY_HEAD_TIMEOUT_MS: 431 / 408), parsed
 * with http-parser, rewritten with X-Forwarded-For/-Proto/-Host (clients'
 * own X-Forwarded-* headers are dropped) and sent to one upstream
 * connection opened for the first request. Later requests on the same
 * keep-alive connection are framed by http-parser too (Content-Length and
 * chunked bodies stream through, never buffered whole) and must name the
 * same Host (else 421). An Upgrade (WebSocket) or CONNECT switches the
 * connection to raw splicing. Responses are spliced as they come.
 * Back-pressure: each direction has a bounded buffer; a side is not read
 * while the other side's buffer is full. Idle connections are closed
 * after proxy_idle_timeout; at most proxy_max_conns at once.
 *
 * No threads, no blocking calls: non-blocking sockets, edge-triggered
 * epoll watches on the caller's loop, deadlines through
 * proxy_next_timeout/proxy_tick.
 */
#ifndef MAGS_MAGSD_PROXY_H
#define MAGS_MAGSD_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "magsd/config.h"
#include "magsd/job.h"
#include "magsd/loop.h"
#include "magsd/store.h"

#define PROXY_HEAD_MAX (32 * 1024)
#define PROXY_HEAD_TIMEOUT_MS 10000
#define PROXY_BUF_MAX (64 * 1024)       /* per direction: ~160 KiB a connection */
#define PROXY_TARGET_MAX 128
#define PROXY_DEFAULT_PORT 8080         /* an alias's port when its job has no URL */

struct proxy;

/* Hooks the lifecycle code provides (all optional; arg is passed back). */
struct proxy_hooks {
	/* The job's sandbox address ("10.88.0.5"), 0; -ENOENT if it has none. */
	int (*addr)(const char *job_id, char *ip, size_t n, void *arg);
	/* PROXY_JOB_* for the job. NULL: the store's status decides. */
	int (*state)(const char *job_id, void *arg);
	/* Traffic for the job (at most once a second per connection): the
	 * idle-sleep logic's activity signal. */
	void (*activity)(const char *job_id, void *arg);
	/* A request for a sleeping job: start waking it (0), or refuse (< 0:
	 * 502). The request is held and its connect retried until the port
	 * answers or proxy_connect_wait passes. */
	int (*wake)(const char *job_id, void *arg);
	void *arg;
};

#define PROXY_JOB_GONE 0
#define PROXY_JOB_RUNNING 1
#define PROXY_JOB_SLEEPING 2

struct proxy_route {
	char sub[STORE_SUB_MAX + 1];
	char job_id[JOB_ID_MAX];
	int port;
	int state;                         /* PROXY_JOB_* */
	char target[PROXY_TARGET_MAX];     /* "ip:port", "[v6]:port", "unix:/path";
	                                    * "" = the sandbox has no network */
};

/* Listen on cfg->proxy_listen and watch it on loop. cfg, st and loop must
 * outlive the proxy. NULL with err set on failure. */
struct proxy *proxy_new(const struct config *cfg, struct store *st, struct loop *loop,
			struct mags_err *err);
/* Close every connection and the listener. NULL-safe. */
void proxy_free(struct proxy *px);

void proxy_set_hooks(struct proxy *px, const struct proxy_hooks *hooks);

/* The port bound (cfg may say 0). */
int proxy_port(const struct proxy *px);

/* The <sub> of a Host header value: "<sub>.<domain>" or "<sub>.<domain>:<port>",
 * ASCII case-insensitive, sub a single DNS label. 0 and sub (lowercased)
 * filled, or -EINVAL. */
int proxy_host_sub(const char *host, size_t len, const char *domain,
		   char sub[STORE_SUB_MAX + 1]);

/* 1 if s is a DNS label a URL may use: 1-63 of [a-z0-9-], not starting or
 * ending with '-' (lowercase only). */
int proxy_label_valid(const char *s);

/* Route a Host header value: 0 and *out filled; -ENOENT for an unknown
 * host or sub; -ESRCH when the sub is known but its job (or the alias's
 * workspace) has no live sandbox. out->target is "" when the job has no
 * network address. */
int proxy_route_lookup(struct proxy *px, const char *host, size_t len,
		       struct proxy_route *out);

/* Parse a target ("ip:port", "[v6]:port", "unix:/path") into a sockaddr.
 * 0 or -EINVAL. */
struct sockaddr_storage;
int proxy_target_parse(const char *target, struct sockaddr_storage *sa, unsigned *salen);

/* The URL of a sub: "http://<sub>.<domain>:<port>/" into buf. */
void proxy_url(const struct proxy *px, const char *sub, char *buf, size_t n);

/* Close the connections of a job whose sandbox ended. */
void proxy_job_ended(struct proxy *px, const char *job_id);

/* Deadlines: ms until the next one (-1 if none), and the work due at now
 * (monotonic ms). */
int proxy_next_timeout(struct proxy *px, int64_t now);
void proxy_tick(struct proxy *px, int64_t now);

int proxy_conn_count(const struct proxy *px);

/* A listening TCP socket (non-blocking, close-on-exec) on "HOST:PORT" or
 * "[V6]:PORT"; *port gets the port bound. The fd, or negative errno with
 * err set. Shared with the SSH gateway. */
int proxy_listen_socket(const char *spec, int *port, struct mags_err *err);

#endif
