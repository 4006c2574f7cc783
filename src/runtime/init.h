/*
 * init.h - pid 1 of the sandbox.
 *
 * A pid namespace needs an init: orphans are re-parented to it and must be
 * reaped, and when it exits the kernel kills everything else in the
 * namespace. Ours runs the script, turns its output into log records as
 * it arrives, reaps every child, forwards SIGTERM/SIGINT/SIGHUP to the
 * script, and when the script's process ends kills whatever it left
 * behind (daemons included) and exits with the script's status.
 */
#ifndef MAGS_RUNTIME_INIT_H
#define MAGS_RUNTIME_INIT_H

#include "runtime/args.h"

/* Default environment of the script (before --env values). */
#define INIT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Build the script's environment: HOME, PATH, TERM, HOSTNAME, USER and
 * then cfg->env (a later KEY replaces an earlier one). Returns a NULL-
 * terminated array of xmalloc'd strings (the caller execs or leaks it).
 * Pure (unit tested). */
char **init_build_env(const struct runtime_config *cfg);

/* The exit code for a wait status: the code, or 128 + signal. */
int init_exit_code(int wstatus);

/* Run as pid 1 inside the finished sandbox (after pivot_root, privileges
 * dropped, filter loaded). log_fd is the job log, sock the set-up channel
 * (gets CHANNEL_READY once the script runs, or CHANNEL_ERROR; later
 * CHANNEL_SCRIPT_EXIT and CHANNEL_STOP), control_fd the listening exec
 * socket or -1 (execsrv.h). The signal mask must block SIGCHLD, SIGTERM,
 * SIGINT and SIGHUP. Never returns: exits with the script's exit code,
 * or with cfg->keep_alive runs until the supervisor kills it. */
__attribute__((noreturn))
void init_main(const struct runtime_config *cfg, int log_fd, int sock, int control_fd);

#endif
