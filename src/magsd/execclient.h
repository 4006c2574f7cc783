/*
 * execclient.h - magsd's side of a sandbox's control socket
 * (common/execproto.h), driven by the event loop: one non-blocking unix
 * socket connection per request, the 'Q' frame written as the socket
 * takes it, the answer's frames read as they arrive. No threads and no
 * blocking call, so an exec that runs for an hour costs the daemon one fd.
 *
 * Lifetime: execclient_start returns a client that calls out() for every
 * 'O'/'E' frame and then done() exactly once; after done() returns the
 * client is freed by itself (drop the pointer in done). execclient_free()
 * cancels before that: the socket is closed (init then SIGKILLs the
 * exec's process group) and no callback runs any more.
 */
#ifndef MAGS_MAGSD_EXECCLIENT_H
#define MAGS_MAGSD_EXECCLIENT_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/loop.h"

#define EXECCLIENT_STDOUT 1
#define EXECCLIENT_STDERR 2

struct execclient;

/* Output of the exec, in the order init sent it. */
typedef void (*execclient_out_fn)(void *arg, int stream, const char *data, size_t n);

/* The end. r == 0: an exec ended ('X': exit_code, timed_out) or a status
 * or stop request was answered ('S': reply is its JSON text, else NULL).
 * r < 0: the request failed; msg says why ('R' text from init, or the
 * connection's failure). */
typedef void (*execclient_done_fn)(void *arg, int r, int exit_code, int timed_out,
				   const char *reply, const char *msg);

/* Connect to the control socket at path and send request (a 'Q' JSON
 * payload, copied). NULL with err set if the socket cannot be reached. */
struct execclient *execclient_start(struct loop *loop, const char *path,
				    const char *request, size_t len,
				    execclient_out_fn out, execclient_done_fn done,
				    void *arg, struct mags_err *err);

/* Back-pressure: while paused the socket is not read (init then stops
 * reading the exec's pipes: a slow HTTP client slows its own exec). */
void execclient_pause(struct execclient *ec, int paused);

/* Cancel (see above). NULL-safe. */
void execclient_free(struct execclient *ec);

/* Blocking helper for start-up only (re-attach, before the loop runs):
 * send {"op": op} and wait up to timeout_ms for the 'S' answer. 0 and
 * *reply (malloc'd JSON text), or negative errno. */
int execclient_call_sync(const char *path, const char *op, int timeout_ms, char **reply);

#endif
