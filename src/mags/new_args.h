/*
 * new_args.h - `mags new` options (contract §1.5) and the sandbox request
 * they make, plus the create-and-wait step that `mags ssh` (auto-start)
 * and `mags resize` share with `mags new`. The parsing and the request are
 * pure logic, covered by unit tests.
 */
#ifndef MAGS_CLI_NEW_ARGS_H
#define MAGS_CLI_NEW_ARGS_H

#include <stdbool.h>

#include "common/err.h"
#include "mags/mags.h"

struct mags_client;

struct new_args {
	const char *name;             /* the positional name; NULL: none given */
	const char *base;             /* --base <workspace> */
	const char *startup_command;  /* --startup-command; NULL: sleep infinity */
	bool persistent;              /* -p/--persistent */
	bool no_sleep;                /* --no-sleep */
	bool url;                     /* --url */
	int port;                     /* --port, 8080 unless given */
	int disk_gb;                  /* --disk; 0: not sent */
	int wait_s;                   /* --wait: seconds to wait for running */
	int idle_timeout;             /* --idle-timeout seconds; 0: the server's */
};

#define NEW_IDLE_TIMEOUT_MAX 2592000  /* 30 days, as the server's bound */

/*
 * Parse argv (argv[0] is "new"). As in the 1.8.12 CLI, --disk takes the
 * leading digits of its value and a value that gives 0 is dropped; a
 * missing name is not an error here (a->name stays NULL: the caller prints
 * the documented message). Returns 0, 1 for --help, or -EINVAL with err.
 */
int new_args_parse(int argc, char **argv, struct new_args *a,
		   struct mags_err *err);

/* Defaults: port 8080, wait 30 s or $MAGS_NEW_TIMEOUT. */
void new_args_init(struct new_args *a);

/*
 * The POST /mags-jobs body, keys in this order: script "sleep infinity",
 * type "inline", persistent true, name, workspace_id (both = name),
 * startup_command, no_sync (= !persistent), then base_workspace_id,
 * disk_gb, no_sleep and idle_timeout when given. A new reference.
 */
json_t *new_args_request(const struct new_args *a);

/*
 * cmd_new.c: submit a's sandbox, poll its status every second (or
 * $MAGS_POLL_INTERVAL_MS) until it runs, up to a->wait_s, and print the
 * documented lines; with --url, enable the URL. *id (may be NULL) gets the
 * request id. Returns 0 or an exit code (already printed).
 */
int new_sandbox(struct mags_client *c, const struct new_args *a, char **id);

#endif
