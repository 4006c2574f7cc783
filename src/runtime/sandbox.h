/*
 * sandbox.h - build one sandbox, supervise it, tear it down.
 *
 * The supervisor (this process, host root) and the sandbox's first
 * process (pid 1 inside, later its init) each run an ordered list of
 * steps, documented in sandbox.c. Everything is reported through
 * status.h; set-up failures become "error <step>: <what failed>".
 */
#ifndef MAGS_RUNTIME_SANDBOX_H
#define MAGS_RUNTIME_SANDBOX_H

#include "runtime/args.h"

/* Run cfg's job to its end. Returns the runtime's exit code: 0 if the
 * sandbox ran (whatever the script did), 1 on set-up failure. */
int sandbox_run(const struct runtime_config *cfg);

#endif
