/*
 * status.h - the runtime's report to magsd: one line per event on fd 3
 * (the status pipe), or on stderr when fd 3 is not open (manual runs).
 *
 *   started <host-pid-of-init> | exit <code> | timeout | stopped | error <msg>
 */
#ifndef MAGS_RUNTIME_STATUS_H
#define MAGS_RUNTIME_STATUS_H

#define STATUS_FD 3

/* Pick fd 3 if open (and mark it close-on-exec), else stderr. Returns
 * the fd used. */
int status_open(void);

/* The fd status_open chose (-1 before). */
int status_fd(void);

/* Write one line (a '\n' is added). Errors are ignored: if magsd is gone
 * the job still runs to its end and is cleaned up. */
void status_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
