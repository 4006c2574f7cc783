/*
 * fuzz_http.c - libFuzzer target for magsd's HTTP request handling end to
 * end: libmicrohttpd in the external-epoll mode magsd uses (http_start),
 * the real route table, authentication and handlers (api.c, api_*.c,
 * files.c multipart uploads, web.c static files), on a store in a
 * temporary data directory. The input is the raw byte stream of one client
 * connection, handed to MHD over a socketpair (MHD_add_connection), so
 * request lines, headers, chunked bodies, JSON bodies of every route and
 * multipart uploads are all fed from the same bytes.
 *
 * The data directory holds a user "fuzz" whose API token is FUZZ_TOKEN
 * (seeds use it) and no image: an accepted job fails to start before the
 * runtime would be forked, and fork() itself fails here (EAGAIN) for the
 * paths that would fork a worker (workspace preparation, syncs), so nothing
 * runs outside this process.
 *
 * Short forms in the input stand for what mutations would rarely keep
 * intact (see expand()); the token and the session are restored before
 * every input.
 *
 * Invariants: every answer is an HTTP/1.x status line from MHD, no answer is
 * a 500 (an internal error is a bug whatever the input; the one exception is
 * the worker this target refused to fork), every JSON answer parses, and the
 * connection is gone once the client closed it.
 */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/auth.h"
#include "magsd/files.h"
#include "magsd/http.h"
#include "magsd/lifecycle.h"
#include "magsd/log.h"
#include "magsd/logs.h"
#include "magsd/scheduler.h"
#include "magsd/serve.h"
#include "magsd/supervisor.h"
#include "magsd/task.h"
#include "magsd/web.h"
#include "magsd/workspace.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_http: %s\n", #c); abort(); } } while (0)

#define FUZZ_TOKEN "mags_00112233445566778899aabbccddeeff00112233"
#define FUZZ_SESSION "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HTTP_FUZZ_MAX_INPUT (256 * 1024)
#define MAX_OUTPUT (4 * 1024 * 1024)
#define IDLE_ROUNDS 6
#define MAX_ROUNDS 4000

static struct config cfg;
static struct server srv;
static int forks;
static char *db_path;
static char token_hash[AUTH_HASH_HEX_LEN + 1], session_hash[AUTH_HASH_HEX_LEN + 1];
static char csrf[AUTH_HASH_HEX_LEN + 1];

/*
 * Nothing forks: magsd's fork() and vfork() calls (task_start: workspace
 * preparation, syncs; the supervisor's runtime, which no image lets it
 * reach) land here
 * and fail as if the process table were full, so their error paths run and
 * no child of a fuzzed daemon ever exists. A real fork of this ASan process
 * would also cost milliseconds per input.
 */
pid_t fork(void)
{
	forks++;
	errno = EAGAIN;
	return -1;
}

/* The supervisor starts runtimes (and warm-pool members) with vfork. */
pid_t vfork(void)
{
	return fork();
}

static void on_job_change(const char *job_id, void *arg)
{
	logs_wake(srv.logs, job_id);
}

static void on_job_end(const char *job_id, void *arg)
{
	workspace_job_ended(srv.ws, job_id);
	lifecycle_on_end(&srv, job_id);
}

static void on_job_event(const char *job_id, const char *line, void *arg)
{
	lifecycle_on_event(&srv, job_id, line);
}

static void on_job_detach(const char *job_id, void *arg)
{
	lifecycle_on_detach(&srv, job_id);
}

static int job_output_live(const char *job_id, void *arg)
{
	return lifecycle_output_live(&srv, job_id);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "we");

	CHECK(f);
	fputs(text, f);
	fclose(f);
	free(p);
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
	char uid[32];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char *dir;

	dir = xasprintf("%s/mags-fuzz-http-XXXXXX", base);
	CHECK(mkdtemp(dir));
	data_dir = xstrdup(dir);
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN);
	log_set_verbose(0);
	err_clear(&err);

	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	snprintf(cfg.proxy_listen, sizeof(cfg.proxy_listen), "off");
	snprintf(cfg.ssh_listen, sizeof(cfg.ssh_listen), "off");
	snprintf(cfg.network, sizeof(cfg.network), "none");
	cfg.pool_min = cfg.pool_max = 0;   /* no sandboxes built ahead */
	char *web = xasprintf("%s/web", dir);
	CHECK(mkdir(web, 0755) == 0);
	put_file(web, "index.html", "<!doctype html><title>mags</title>\n");
	put_file(web, "app.js", "console.log('mags')\n");
	snprintf(cfg.web_dir, sizeof(cfg.web_dir), "%s", web);
	free(web);
	cfg.max_body = 64 * 1024;
	cfg.upload_max = 64 * 1024;
	char *jobs = xasprintf("%s/jobs", dir), *run = xasprintf("%s/run", dir);
	CHECK(mkdir_p(jobs, 0700) == 0 && mkdir_p(run, 0700) == 0);
	free(jobs);
	free(run);

	db_path = xasprintf("%s/mags.db", dir);
	CHECK(store_open(db_path, &srv.store, &err) == 0);
	CHECK(store_user_add(srv.store, "fuzz", uid, &err) == 0);
	auth_token_hash(FUZZ_TOKEN, token_hash);
	CHECK(store_token_add(srv.store, "tok_000000000001", uid, token_hash, &err) == 0);
	auth_token_hash(FUZZ_SESSION, session_hash);
	auth_csrf_for(FUZZ_SESSION, csrf);

	srv.cfg = &cfg;
	srv.loop = loop_new();
	CHECK(srv.loop);
	/* no image is built in dir: a job fails before its runtime is forked */
	srv.sv = supervisor_new(&cfg, srv.store, srv.loop, "/nonexistent/mags-runtime",
				cfg.image);
	srv.logs = logs_new(cfg.data_dir, srv.store, srv.sv);
	supervisor_on_change(srv.sv, on_job_change, NULL);
	srv.ws = workspaces_new(&srv);
	supervisor_on_end(srv.sv, on_job_end, NULL);
	srv.lc = lifecycle_new(&srv);
	supervisor_on_event(srv.sv, on_job_event, NULL);
	supervisor_on_detach(srv.sv, on_job_detach, NULL);
	logs_set_live(srv.logs, job_output_live, NULL);
	srv.sched = scheduler_new(&srv, &err);
	CHECK(srv.sched);
	srv.mhd = http_start(&srv, cfg.listen, &err);
	CHECK(srv.mhd);
	free(dir);
}

/* One round of serve.c's loop, without waiting. */
static void round_once(void)
{
	int64_t now;
	int st;
	pid_t pid;

	(void)loop_run_once(srv.loop, 0);
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		(void)task_reaped(pid, st);
	now = time_mono_ms();
	logs_tick(srv.logs, now);
	supervisor_tick(srv.sv, now);
	workspace_tick(srv.ws, now);
	lifecycle_tick(srv.lc, now);
	api_exec_tick(&srv, now);
	if (now >= srv.next_file_expiry) {
		files_expire(&srv);
		srv.next_file_expiry = now + 1000;
	}
	MHD_run(srv.mhd);
}

static unsigned conn_count(void)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(srv.mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return i ? i->num_connections : 0;
}

/* Every "HTTP/1.x NNN" status line in out: not 500, and JSON bodies parse. */
static void check_answers(const char *out, size_t len, int forked)
{
	size_t i = 0;

	if (!len)
		return;
	CHECK(len >= 12 && !memcmp(out, "HTTP/1.", 7));
	while (i < len) {
		const char *p = memmem(out + i, len - i, "HTTP/1.", 7);
		if (!p || (size_t)(p - out) + 12 > len)
			break;
		if (p == out || p[-1] == '\n') {
			int status = atoi(p + 9);
			/* a worker that could not be forked (fork() above) is a
			 * real internal error of that request, not a bug */
			size_t rest = len - (size_t)(p - out);
			const char *next = memmem(p + 7, rest - 7, "HTTP/1.", 7);
			if (status == 500 &&
			    !(forked && memmem(p, next ? (size_t)(next - p) : rest,
					       "\"error\":\"could not start", 23))) {
				fprintf(stderr, "fuzz_http: a 500 answer:\n%.*s\n",
					(int)(len - (size_t)(p - out) < 600 ? len - (size_t)(p - out) : 600), p);
				abort();
			}
			const char *hend = memmem(p, len - (size_t)(p - out), "\r\n\r\n", 4);
			const char *cl = hend ? memmem(p, (size_t)(hend - p), "Content-Length: ", 16) : NULL;
			const char *json = hend ? memmem(p, (size_t)(hend - p),
							 "Content-Type: application/json", 30) : NULL;
			if (hend && cl && json) {
				size_t n = strtoul(cl + 16, NULL, 10);
				const char *body = hend + 4;
				if ((size_t)(body - out) + n <= len && n > 0) {
					json_error_t je;
					json_t *j = json_loadb(body, n, 0, &je);
					CHECK(j);
					json_decref(j);
				}
			}
		}
		i = (size_t)(p - out) + 7;
	}
}

/* The credentials the seeds use stay valid whatever an input did (it may
 * revoke the token, sign out, or open sessions until ours is dropped). */
static void credentials(void)
{
	struct store_ident id;
	struct mags_err err;
	int64_t now = time_now_ms();

	if (store_token_auth(srv.store, token_hash, &id) < 0) {
		sqlite3 *db;
		CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
		CHECK(sqlite3_exec(db, "UPDATE tokens SET revoked_at = NULL", NULL, NULL,
				   NULL) == SQLITE_OK);
		sqlite3_close(db);
		CHECK(store_token_auth(srv.store, token_hash, &id) == 0);
	}
	if (store_session_auth(srv.store, session_hash, now, &id, NULL) < 0) {
		err_clear(&err);
		(void)store_session_delete(srv.store, session_hash);
		CHECK(store_session_add(srv.store, "ses_fuzz00000001", session_hash, &id, now,
					now + 24 * 3600 * 1000, WEB_SESSIONS_PER_TOKEN, &err) == 0);
	}
}

/* Short forms in an input, so that mutations keep what is long to guess:
 * "\x01A" the Authorization header, "\x01S" the session cookie with its
 * CSRF header, "\x01J" Content-Type: application/json. */
static uint8_t *expand(const uint8_t *data, size_t size, size_t *out_len)
{
	const char *a = "Authorization: Bearer " FUZZ_TOKEN "\r\n";
	char sess[256];
	const char *j = "Content-Type: application/json\r\n";
	uint8_t *o;
	size_t n = 0, room = size + 1;

	snprintf(sess, sizeof(sess), "Cookie: " AUTH_SESSION_COOKIE "=%s\r\n"
		 AUTH_CSRF_HEADER ": %s\r\n", FUZZ_SESSION, csrf);
	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == 1)
			room += sizeof(sess);
	o = xmalloc(room);
	for (size_t i = 0; i < size; i++) {
		const char *m = NULL;
		if (data[i] == 1 && i + 1 < size)
			m = data[i + 1] == 'A' ? a : data[i + 1] == 'S' ? sess :
			    data[i + 1] == 'J' ? j : NULL;
		if (m) {
			memcpy(o + n, m, strlen(m));
			n += strlen(m);
			i++;
		} else {
			o[n++] = data[i];
		}
	}
	*out_len = n;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static char *out;
	struct sockaddr_in peer = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .sin_port = htons(40000) };
	size_t sent = 0, got = 0;
	int sv[2], idle = 0, shut = 0, eof = 0;
	uint8_t *buf;
	int forks_before;

	if (!ready) {
		setup();
		out = xmalloc(MAX_OUTPUT);
		ready = 1;
	}
	if (size > HTTP_FUZZ_MAX_INPUT)
		return 0;
	credentials();
	forks_before = forks;
	data = buf = expand(data, size, &size);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(MHD_add_connection(srv.mhd, sv[1], (struct sockaddr *)&peer, sizeof(peer)) ==
	      MHD_YES);
	for (int r = 0; r < MAX_ROUNDS && !eof; r++) {
		int progress = 0;
		ssize_t n;

		if (sent < size) {
			n = send(sv[0], data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0) {
				sent += (size_t)n;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN) {
				sent = size;   /* MHD hung up */
			}
		}
		round_once();
		for (;;) {
			n = recv(sv[0], out + got, MAX_OUTPUT - got, 0);
			if (n > 0) {
				got += (size_t)n;
				progress = 1;
				if (got == MAX_OUTPUT)
					got = 0;   /* keep reading, answers are bounded anyway */
				continue;
			}
			if (n == 0)
				eof = 1;
			break;
		}
		idle = progress ? 0 : idle + 1;
		if (sent == size && idle >= IDLE_ROUNDS && !shut) {
			/* all was said and nothing moves: the client is done */
			shutdown(sv[0], SHUT_WR);
			shut = 1;
			idle = 0;
		} else if (shut && idle >= IDLE_ROUNDS) {
			break;
		}
	}
	close(sv[0]);
	if (getenv("FUZZ_HTTP_DEBUG"))
		fprintf(stderr, "fuzz_http: %zu of %zu bytes sent, %zu back:\n%.*s\n", sent, size,
			got, (int)(got < 2000 ? got : 2000), out);
	check_answers(out, got, forks != forks_before);
	free(buf);
	/* suspended answers (logs?follow, workspace waiters) end with the daemon
	 * connection; what remains must go after the client hung up */
	for (int r = 0; r < 20 && conn_count(); r++)
		round_once();
	if (conn_count()) {
		workspace_drop_waiters(srv.ws);
		logs_resume_all(srv.logs, 1);
		for (int r = 0; r < 20 && conn_count(); r++)
			round_once();
	}
	/* an exec whose client left is ended within a second (api_exec_tick) */
	for (int r = 0; r < 300 && conn_count(); r++) {
		usleep(10 * 1000);
		round_once();
	}
	CHECK(conn_count() == 0);
	return 0;
}
