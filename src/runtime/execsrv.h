/*
 * execsrv.h - init's exec server: serves the sandbox's control socket
 * (--control) inside init's poll loop.
 *
 * Each connection sends one request (common/execproto.h). An exec becomes
 * a child of init (`/bin/sh -c COMMAND` in its own session and process
 * group, in cwd, with the sandbox's environment plus the request's), so it
 * runs in the sandbox's namespaces and cgroup with init's capabilities,
 * no_new_privs and seccomp filter. Its stdout and stderr are streamed back
 * as frames, then its exit code. The request's timeout, or the client
 * hanging up, kills the exec's process group. When the exec's own process
 * ends, what its pipes hold is sent and the exit frame follows at once:
 * processes it left in the background keep running (their later output is
 * read and dropped, so they do not die of SIGPIPE).
 *
 * An exec may also take its stdin as 'I' frames (stdin_stream), signals
 * ('K') and, with a tty, run on a pty of the sandbox's devpts with window
 * sizes ('W'). An "sftp" request hands the connection to a forked child
 * serving SFTP (sftpsrv.h); it counts as an exec until it is reaped.
 *
 * Runs in init only: single-threaded, non-blocking, bounded (connections,
 * buffered output and stdin per connection, request size, time to send a
 * request).
 */
#ifndef MAGS_RUNTIME_EXECSRV_H
#define MAGS_RUNTIME_EXECSRV_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#define EXECSRV_CONN_MAX     256   /* live connections (execs included) */
#define EXECSRV_ORPHAN_MAX   256   /* pipes still held by background processes */
#define EXECSRV_POLLFD_MAX   (1 + 4 * EXECSRV_CONN_MAX + EXECSRV_ORPHAN_MAX) /* client, 2 pipes, stdin */
#define EXECSRV_REQUEST_MS   10000 /* to send the whole request */

struct exec_conn;

struct execsrv {
	int listen_fd;                 /* -1: no control socket */
	char **base_env;               /* the sandbox's environment */
	int keep_alive;
	/* Set by init, read by "status". */
	int script_done;
	int script_exit;
	/* Set by a "stop" request; init tells the supervisor and clears it. */
	int stop_requested;

	struct exec_conn *conn[EXECSRV_CONN_MAX];
	size_t n_conn;
	int orphan[EXECSRV_ORPHAN_MAX];
	size_t n_orphan;
	size_t listen_idx;             /* slots in the last poll array */
	size_t orphan_idx, n_polled_orphan;
};

/* listen_fd: the inherited listening socket (made non-blocking here);
 * base_env: NULL-terminated "K=V" array that outlives the server. */
void execsrv_init(struct execsrv *s, int listen_fd, char **base_env, int keep_alive);

/* Append the server's fds to pfd[] (room for EXECSRV_POLLFD_MAX) and lower
 * *timeout_ms (-1 = none) to the nearest deadline. Returns how many. */
size_t execsrv_poll_fill(struct execsrv *s, struct pollfd *pfd, int *timeout_ms);

/* Handle what poll() reported for the entries execsrv_poll_fill added
 * (pfd is the same pointer it was given), and expire deadlines. */
void execsrv_poll_handle(struct execsrv *s, struct pollfd *pfd);

/* init reaped pid: if it was an exec, finish it and return 1; else 0. */
int execsrv_reaped(struct execsrv *s, pid_t pid, int wstatus);

#endif
