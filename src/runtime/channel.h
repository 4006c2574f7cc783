/*
 * channel.h - the supervisor <-> sandbox set-up channel: a SOCK_SEQPACKET
 * socketpair, one message per step, optionally carrying one fd.
 *
 *   supervisor -> sandbox  CHANNEL_LAYER  an idmapped layer mount before
 *                                         GO: msg "lower" (in order, topmost
 *                                         first) or "upper" (the workspace)
 *                          CHANNEL_FILE   a --copy-in file (fd), msg = the
 *                                         path inside the sandbox
 *                          CHANNEL_GO     ids mapped, cgroup joined; the
 *                                         idmapped image mount attached.
 *                                         A prepared pool member gets two:
 *                                         with the image before it parks,
 *                                         and one without an fd with its
 *                                         job (it takes no CHANNEL_LAYER)
 *                          CHANNEL_SPEC, CHANNEL_LOG, CHANNEL_CONTROL
 *                                         (warm-pool member only, first):
 *                                         the job's arguments (a memfd of
 *                                         NUL-terminated strings), its log,
 *                                         its control socket
 *   sandbox -> supervisor  CHANNEL_READY  the script is running (a
 *                                         prepared pool member: first,
 *                                         its root is built)
 *                          CHANNEL_ERROR  set-up failed: the message
 *                          CHANNEL_SCRIPT_EXIT  (--keep-alive) the script
 *                                         ended: msg = its exit code
 *                          CHANNEL_STOP   a "stop" request came in on the
 *                                         control socket
 *   supervisor -> sandbox  CHANNEL_KILL_SCRIPT  (--keep-alive) the timeout
 *                                         passed: SIGKILL the script's group
 *
 * EOF means the other side died.
 */
#ifndef MAGS_RUNTIME_CHANNEL_H
#define MAGS_RUNTIME_CHANNEL_H

#include <stddef.h>

enum channel_kind {
	CHANNEL_GO = 'G',
	CHANNEL_LAYER = 'L',
	CHANNEL_FILE = 'F',
	CHANNEL_READY = 'R',
	CHANNEL_ERROR = 'E',
	CHANNEL_SCRIPT_EXIT = 'X',
	CHANNEL_STOP = 'P',
	CHANNEL_KILL_SCRIPT = 'K',
	/* warm-pool member taking its job (sandbox.c), before the layers: */
	CHANNEL_SPEC = 'S',      /* memfd: the job's run arguments */
	CHANNEL_LOG = 'O',       /* the job log */
	CHANNEL_CONTROL = 'C',   /* the listening control socket */
};

#define CHANNEL_MSG_MAX 600

/* socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC). 0 or -errno. */
int channel_pair(int sv[2]);

/* Send kind + msg (may be NULL) + fd (-1 for none). 0 or -errno. */
int channel_send(int sock, char kind, const char *msg, int fd);

/* Receive one message: *kind, msg (NUL-terminated, up to len-1 bytes) and
 * *fd (-1 if none; the caller owns it). Returns 1, 0 on EOF, or -errno. */
int channel_recv(int sock, char *kind, char *msg, size_t len, int *fd);

#endif
