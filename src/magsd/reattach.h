/*
 * reattach.h - at daemon start, take back the sandboxes the previous
 * daemon left running (docs/ARCHITECTURE.md "Surviving magsd").
 *
 * For every persistent job not finished: `running` with a live sandbox
 * (its state file DATA_DIR/run/<id>.state names a runtime that
 * pidfd_open finds and whose control socket answers {"op": "status"}) is
 * re-attached (supervisor_adopt); `running` without one is started again
 * if always-on (no_sleep, D14), else ends `error` with the reason;
 * `sleeping` stays asleep, holding its workspace. Then sandboxes no job
 * claims are stopped, and every other job left accepted/running becomes
 * `error`, "daemon restarted".
 *
 * Runs once, on the loop's thread, before the HTTP server starts;
 * blocking for at most a couple of seconds per unresponsive sandbox.
 */
#ifndef MAGS_MAGSD_REATTACH_H
#define MAGS_MAGSD_REATTACH_H

#include <sys/types.h>

struct server;

void reattach_all(struct server *srv);

/* What a state file says. */
struct reattach_state {
	pid_t pid;          /* "supervisor <pid>" */
	int started;        /* "started" seen */
	int ended;          /* a final line: exit, stopped, timeout, error */
	int script_exit;    /* the last "script-exit N", -1 if none */
};

/* Parse a state file's text (pure). 0, or -EINVAL without a supervisor line. */
int reattach_state_parse(const char *text, struct reattach_state *out);

#endif
