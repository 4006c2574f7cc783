/*
 * throughput.c - the concurrent-load client of the benchmark suite (figure 2 of
 * bench/README.md): N clients, each doing one job after another for S
 * seconds, and how many jobs ended, how long each took, how many failed.
 *
 *   bench-throughput api  URL TOKEN CLIENTS SECONDS   POST /mags-jobs {"script":"true",
 *                                         "ephemeral":true}, then follow its
 *                                         log to the end event (create->exit)
 *   bench-throughput null URL TOKEN CLIENTS SECONDS  GET /whoami: what the client and the
 *                                         HTTP layer alone can do
 *   bench-throughput cmd CLIENTS SECONDS -- ARGV...  spawn ARGV and wait for it (the CLI,
 *                                         the peers); "%n" in an argument is
 *                                         replaced by a unique number
 *
 * One thread per client, each with its own keep-alive connection (HTTP/1.1,
 * blocking sockets: a client waits for its job anyway). Prints one JSON
 * object: jobs, errors, jobs_per_s, p50_ms, p99_ms, max_ms, the first error,
 * and the client's own CPU time (getrusage: all threads, no children) so
 * the reader can see the client is not what limits the figure.
 *
 * Not linked with the project (cc -O2 -pthread bench/throughput.c); bench/run.sh
 * builds it into $B/bin/bench-throughput.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CLIENTS 256
#define MAX_SAMPLES (1 << 20)
#define BUF_MAX (1 << 20)

enum mode { MODE_API, MODE_NULL, MODE_CMD };

static enum mode mode;
static struct sockaddr_in addr;
static char host[96];
static const char *token;
static char **cmd_argv;
static int cmd_argc;
static double end_at;
static atomic_long n_samples, n_errors, n_seq;
static double *samples;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record_error(const char *fmt, const char *detail)
{
	atomic_fetch_add(&n_errors, 1);
	pthread_mutex_lock(&err_lock);
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), fmt, detail ? detail : "");
	pthread_mutex_unlock(&err_lock);
}

static void record_sample(double seconds)
{
	long i = atomic_fetch_add(&n_samples, 1);

	if (i < MAX_SAMPLES)
		samples[i] = seconds * 1000.0;
}

/* One keep-alive HTTP/1.1 connection with a read buffer. */
struct conn {
	int fd;
	char buf[65536];
	size_t off, len;
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->off = c->len = 0;
}

static int conn_open(struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int r = -errno;

		conn_close(c);
		return r;
	}
	c->off = c->len = 0;
	return 0;
}

static int conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf)) {
		if (c->off == 0)
			return -E2BIG;
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	do
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += (size_t)n;
	return 0;
}

/* A line ending in \r\n (or \n), without it, into line. */
static int conn_line(struct conn *c, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (nl) {
			size_t n = (size_t)(nl - (c->buf + c->off));
			size_t k = n > 0 && nl[-1] == '\r' ? n - 1 : n;

			if (k >= max)
				return -E2BIG;
			memcpy(line, c->buf + c->off, k);
			line[k] = '\0';
			c->off += n + 1;
			return 0;
		}
		int r = conn_fill(c);
		if (r < 0)
			return r;
	}
}

static int conn_bytes(struct conn *c, char *out, size_t n)
{
	while (n > 0) {
		if (c->off == c->len) {
			int r = conn_fill(c);
			if (r < 0)
				return r;
		}
		size_t k = c->len - c->off < n ? c->len - c->off : n;
		memcpy(out, c->buf + c->off, k);
		c->off += k;
		out += k;
		n -= k;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * One request and its whole answer: the status into *status, the body
 * (Content-Length or chunked, NUL-terminated, at most BUF_MAX) into body.
 * Reconnects once if a kept-alive connection turned out closed.
 */
static int http_call(struct conn *c, const char *method, const char *path,
		     const char *json, int *status, char *body, size_t *body_len)
{
	char req[2048], line[8192];
	long clen = -1;
	int chunked = 0, close_after = 0, r, tries = 0;
	size_t n = 0;

again:
	if (c->fd < 0 && (r = conn_open(c)) < 0)
		return r;
	if (json)
		r = snprintf(req, sizeof(req),
			     "%s /api/v1%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			     method, path, host, token, strlen(json), json);
	else
		r = snprintf(req, sizeof(req),
			     "%s /api/v1%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
			     method, path, host, token);
	if (r < 0 || (size_t)r >= sizeof(req))
		return -E2BIG;
	r = write_all(c->fd, req, (size_t)r);
	if (r == 0)
		r = conn_line(c, line, sizeof(line));
	if (r < 0) {
		conn_close(c);
		if (tries++ == 0)
			goto again;
		return r;
	}
	if (sscanf(line, "HTTP/1.%*d %d", status) != 1)
		return -EPROTO;
	for (;;) {
		if ((r = conn_line(c, line, sizeof(line))) < 0)
			return r;
		if (!line[0])
			break;
		if (!strncasecmp(line, "content-length:", 15))
			clen = strtol(line + 15, NULL, 10);
		else if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line, "chunked"))
			chunked = 1;
		else if (!strncasecmp(line, "connection:", 11) && strcasestr(line, "close"))
			close_after = 1;
	}
	if (chunked) {
		for (;;) {
			long k;

			if ((r = conn_line(c, line, sizeof(line))) < 0)
				return r;
			k = strtol(line, NULL, 16);
			if (k == 0) {
				if ((r = conn_line(c, line, sizeof(line))) < 0)   /* trailer end */
					return r;
				break;
			}
			if (k < 0 || n + (size_t)k >= BUF_MAX)
				return -E2BIG;
			if ((r = conn_bytes(c, body + n, (size_t)k)) < 0 ||
			    (r = conn_line(c, line, sizeof(line))) < 0)
				return r;
			n += (size_t)k;
		}
	} else if (clen >= 0) {
		if ((size_t)clen >= BUF_MAX)
			return -E2BIG;
		if ((r = conn_bytes(c, body, (size_t)clen)) < 0)
			return r;
		n = (size_t)clen;
	} else {
		return -EPROTO;
	}
	body[n] = '\0';
	*body_len = n;
	if (close_after)
		conn_close(c);
	return 0;
}

static void one_api_job(struct conn *c, char *body)
{
	static const char job[] = "{\"script\":\"true\",\"ephemeral\":true}";
	char path[256], id[128], detail[300];
	double t0 = now();
	size_t n;
	int st, r;

	r = http_call(c, "POST", "/mags-jobs", job, &st, body, &n);
	if (r < 0 || st != 200) {
		snprintf(detail, sizeof(detail), "%d %.200s", r < 0 ? r : st, r < 0 ? strerror(-r) : body);
		record_error("POST /mags-jobs: %s", detail);
		if (r < 0)
			conn_close(c);
		return;
	}
	char *p = strstr(body, "\"request_id\"");
	if (!p || sscanf(p, "\"request_id\"%*[ :]\"%127[^\"]\"", id) != 1) {
		record_error("POST /mags-jobs: no request_id in %.200s", body);
		return;
	}
	snprintf(path, sizeof(path), "/mags-jobs/%s/logs?follow=1", id);
	r = http_call(c, "GET", path, NULL, &st, body, &n);
	if (r < 0 || st != 200) {
		snprintf(detail, sizeof(detail), "%d %.200s", r < 0 ? r : st, r < 0 ? strerror(-r) : body);
		record_error("follow: %s", detail);
		if (r < 0)
			conn_close(c);
		return;
	}
	/* the last line is the end event: {"event": "end", "status": ...} */
	while (n > 0 && body[n - 1] == '\n')
		body[--n] = '\0';
	char *last = strrchr(body, '\n');
	last = last ? last + 1 : body;
	if (!strstr(last, "\"end\"") || !strstr(last, "\"completed\"")) {
		record_error("job did not complete: %.200s", last);
		return;
	}
	record_sample(now() - t0);
}

static void one_null(struct conn *c, char *body)
{
	double t0 = now();
	size_t n;
	int st;
	int r = http_call(c, "GET", "/whoami", NULL, &st, body, &n);

	if (r < 0 || st != 200) {
		record_error("GET /whoami: %s", r < 0 ? strerror(-r) : body);
		conn_close(c);
		return;
	}
	record_sample(now() - t0);
}

static void one_cmd(void)
{
	char *argv[64], num[32], bufs[64][256];
	long seq = atomic_fetch_add(&n_seq, 1);
	pid_t pid;
	int status, r;
	double t0;

	snprintf(num, sizeof(num), "%d-%ld", (int)getpid(), seq);
	for (int i = 0; i < cmd_argc && i < 63; i++) {
		char *pct = strstr(cmd_argv[i], "%n");

		argv[i] = cmd_argv[i];
		if (pct) {
			snprintf(bufs[i], sizeof(bufs[i]), "%.*s%s%s", (int)(pct - cmd_argv[i]),
				 cmd_argv[i], num, pct + 2);
			argv[i] = bufs[i];
		}
	}
	argv[cmd_argc < 63 ? cmd_argc : 63] = NULL;
	t0 = now();
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		record_error("spawn: %s", strerror(r));
		return;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char d[64];

		snprintf(d, sizeof(d), "status 0x%x", status);
		record_error("command failed: %s", d);
		return;
	}
	record_sample(now() - t0);
}

static void *client(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	char *body = malloc(BUF_MAX);

	(void)arg;
	if (!c || !body)
		abort();
	c->fd = -1;
	while (now() < end_at) {
		if (mode == MODE_API)
			one_api_job(c, body);
		else if (mode == MODE_NULL)
			one_null(c, body);
		else
			one_cmd();
	}
	conn_close(c);
	free(c);
	free(body);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *s, long n, double p)
{
	long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;

	if (n == 0)
		return 0;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return s[i];
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-throughput api|null URL TOKEN CLIENTS SECONDS\n"
			"       bench-throughput cmd CLIENTS SECONDS -- ARGV...\n");
	return 2;
}

static int parse_url(const char *url)
{
	char ip[64];
	int port;

	if (sscanf(url, "http://%63[^:]:%d", ip, &port) != 2)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
		return -1;
	snprintf(host, sizeof(host), "%s:%d", ip, port);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_CLIENTS];
	struct rusage ru;
	int clients, seconds, a = 2;
	double t0, wall, cpu;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "api") || !strcmp(argv[1], "null")) {
		if (argc != 6 || parse_url(argv[2]) < 0)
			return usage();
		mode = !strcmp(argv[1], "api") ? MODE_API : MODE_NULL;
		token = argv[3];
		a = 4;
	} else if (!strcmp(argv[1], "cmd")) {
		if (argc < 6 || strcmp(argv[4], "--"))
			return usage();
		mode = MODE_CMD;
		cmd_argv = argv + 5;
		cmd_argc = argc - 5;
	} else {
		return usage();
	}
	clients = atoi(argv[a]);
	seconds = atoi(argv[a + 1]);
	if (clients < 1 || clients > MAX_CLIENTS || seconds < 1 || seconds > 3600)
		return usage();
	samples = calloc(MAX_SAMPLES, sizeof(double));
	if (!samples)
		abort();

	t0 = now();
	end_at = t0 + seconds;
	for (int i = 0; i < clients; i++)
		if (pthread_create(&th[i], NULL, client, NULL)) {
			perror("pthread_create");
			return 1;
		}
	for (int i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	wall = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	      ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	long n = atomic_load(&n_samples);
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(samples, (size_t)n, sizeof(double), cmp_double);
	printf("{\"clients\": %d, \"seconds\": %.3f, \"jobs\": %ld, \"errors\": %ld, "
	       "\"jobs_per_s\": %.1f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
	       "\"client_cpu_s\": %.3f, \"client_cpu_us_per_job\": %.1f, \"first_error\": ",
	       clients, wall, n, atomic_load(&n_errors), n / wall, pct(samples, n, 50),
	       pct(samples, n, 99), n ? samples[n - 1] : 0.0, cpu,
	       n ? cpu * 1e6 / (double)n : 0.0);
	if (first_error[0])
		json_str(first_error);
	else
		fputs("null", stdout);
	puts("}");
	return 0;
}
