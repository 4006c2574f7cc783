/*
 * status.h - the runtime's report to magsd: one line per event on fd 3
 * (the status pipe), or on stderr when fd 3 is not open (manual runs).
 *
 *   started <host-pid-of-init> | script-timeout | script-exit <code> |
 *   exit <code> | timeout | stopped | error <msg>
 *
 * With --state-file the same lines, after a first "supervisor <pid>", are
 * also kept in a file rewritten atomically (write + rename) on every
 * change, so a magsd that restarted can read where the sandbox is.
 */
#ifndef MAGS_RUNTIME_STATUS_H
#define MAGS_RUNTIME_STATUS_H

#include "common/err.h"

#define STATUS_FD 3

/* Pick fd 3 if open (and mark it close-on-exec), else stderr. Returns
 * the fd used. */
int status_open(void);

/* The fd status_open chose (-1 before). */
int status_fd(void);

/* Keep the state file at path from now on (its first line: "supervisor
 * <our pid>"). 0, or -errno if it could not be written. */
int status_state_open(const char *path, struct mags_err *err);

/* Write one line (a '\n' is added) to fd 3 and the state file. Errors
 * are ignored: if magsd is gone the job still runs to its end and is
 * cleaned up (SIGPIPE is ignored by the runtime). */
void status_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
