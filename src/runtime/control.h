/*
 * control.h - the sandbox's control socket on the host (--control PATH).
 *
 * The supervisor binds and listens before cloning; the sandbox's init
 * inherits the listening fd and serves it (execsrv.h): exec, status and
 * stop requests in the protocol of common/execproto.h. The client side
 * here is `mags-runtime exec|status|stop` (magsd speaks the protocol
 * itself with the same codec).
 */
#ifndef MAGS_RUNTIME_CONTROL_H
#define MAGS_RUNTIME_CONTROL_H

#include "common/err.h"

/* Bind a SOCK_STREAM unix socket at path, mode 0600, and listen. A stale
 * socket at path is replaced; anything else there is an error. Returns the
 * fd (O_CLOEXEC) or -errno. */
int control_listen(const char *path, struct mags_err *err);

/* `mags-runtime exec|status|stop ...` (argv[1] is the subcommand).
 * Returns the process exit code: the command's for exec (125 when the
 * request failed, 255 when the connection broke), 0/1 for status/stop. */
int control_client_main(int argc, char **argv);

#endif
