/*
 * run_args.h - `mags run` options: parsing, the client-side constraints of
 * contract §1.20, and their mapping to a POST /mags-jobs request. Pure
 * logic, apart from reading a script file, so that unit tests cover it.
 */
#ifndef MAGS_CLI_RUN_ARGS_H
#define MAGS_CLI_RUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "mags/mags.h"

/* A script file larger than this is refused before it is sent. */
#define RUN_SCRIPT_MAX (1u << 20)
#define RUN_MAX_FILES 64

struct run_args {
	const char *script;           /* the positional argument */
	const char *workspace;        /* -w/--workspace or -n/--name */
	const char *base;             /* --base (aliases --from, --base-image) */
	const char *startup_command;  /* --startup-command (alias --startup) */
	const char *files[RUN_MAX_FILES]; /* -f/--file, in order */
	size_t nfiles;
	bool persistent;              /* -p (alias --persist) */
	bool no_sleep;                /* --no-sleep (alias --always-on) */
	bool ephemeral;               /* -e */
	bool url;                     /* --url */
	bool ssh;                     /* --ssh */
	int port;                     /* --port, 8080 unless given */
	int disk_gb;                  /* --disk; 0 when not given */
	int timeout;                  /* --timeout seconds; 0 when not given */
	int idle_timeout;             /* --idle-timeout seconds; 0: the server's */
};

#define RUN_IDLE_TIMEOUT_MAX 2592000  /* 30 days, as the server's bound */

/*
 * Parse argv (argv[0] is "run"). Returns 0, 1 when --help was asked, or
 * -EINVAL with a message for people in err (a misuse: exit 2).
 */
int run_args_parse(int argc, char **argv, struct run_args *a,
		   struct mags_err *err);

/* The §1.20 constraints. 0 or -EINVAL with the broken one in err. */
int run_args_check(const struct run_args *a, struct mags_err *err);

/*
 * The request body for POST /mags-jobs: script (the given text), type
 * ("file" when is_file), name and workspace_id for -w/-n, persistent,
 * base_workspace_id, no_sleep, disk_gb, timeout and idle_timeout when given,
 * startup_command. A new reference.
 */
json_t *run_args_request(const struct run_args *a, const char *script,
			 bool is_file);

/*
 * DECISIONS D16: when arg names an existing regular file, read it into
 * *text (malloc'd) and return 1; otherwise return 0 (arg is the script
 * itself). -errno with err filled when the file cannot be read or is too
 * large.
 */
int run_script_load(const char *arg, char **text, struct mags_err *err);

#endif
