/*
 * cli.h - what the mags commands share: the command table, coloured
 * output, opening a client from the configuration, <name|id> resolution
 * and small argument helpers. One cmd_<name>.c per command.
 */
#ifndef MAGS_CLI_H
#define MAGS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "common/err.h" /* before mags.h, which then reuses its struct */
#include "mags/mags.h"

/* Exit codes besides a job's own: 1 for failures, 2 for misuse. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_SIGINT 130

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *args;                  /* "[options] <script>" for help */
	const char *summary;               /* one line for `mags help` */
	const char *usage;                 /* full text for `mags <cmd> --help` */
};

/* commands.c: the table, NULL-terminated, in help order. */
extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_cmd_find(const char *name);

int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_ssh(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_url(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_workspace(int argc, char **argv);
int cmd_cron(int argc, char **argv);
int cmd_usage(int argc, char **argv);
int cmd_browser(int argc, char **argv);
int cmd_setup_claude(int argc, char **argv);

extern const char cmd_run_usage[], cmd_list_usage[], cmd_status_usage[],
	cmd_logs_usage[], cmd_stop_usage[], cmd_whoami_usage[],
	cmd_login_usage[], cmd_logout_usage[], cmd_help_usage[],
	cmd_version_usage[], cmd_new_usage[], cmd_exec_usage[],
	cmd_ssh_usage[], cmd_sync_usage[], cmd_resize_usage[],
	cmd_url_usage[], cmd_set_usage[], cmd_workspace_usage[],
	cmd_cron_usage[], cmd_usage_usage[], cmd_browser_usage[],
	cmd_setup_claude_usage[];

/* Print the help of one command (stdout). */
void cli_print_usage(const struct cli_cmd *cmd);

/* ---- output ---------------------------------------------------------------- */

enum cli_color {
	CLI_RED,
	CLI_GREEN,
	CLI_GRAY,
	CLI_BOLD,
};

/* The escape sequence for c on f, or "" when f is not a terminal or
 * NO_COLOR is set; cli_reset likewise. */
const char *cli_color(FILE *f, enum cli_color c);
const char *cli_reset(FILE *f);

/* "mags: <message>" in red on stderr; returns CLI_EXIT_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A misuse of command cmd: the message, then a hint to its --help;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print a failed call's message; for a rejected token add a login hint.
 * Returns CLI_EXIT_FAIL. */
int cli_fail(const struct mags_err *err);

/* A line in green (success) or gray (hint) on f. */
void cli_ok(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_hint(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print JSON as the API sent it (indented) on stdout. */
void cli_print_json(json_t *j);

/* ---- client ---------------------------------------------------------------- */

struct cli_ctx {
	struct mags_config cfg;
	struct mags_client *client;
};

/* Load the configuration and make a client. Without a token (and with
 * need_token) say how to log in. Returns 0 or an exit code (printed). */
int cli_open(struct cli_ctx *ctx, bool need_token);
void cli_close(struct cli_ctx *ctx);

/* True for a job whose sandbox exists: accepted, running, sleeping. */
bool cli_job_is_live(const char *status);

/*
 * Resolve a <name|id> argument (contract §1.0): a job id the server knows,
 * else the newest job among recent ones whose name or workspace_id is arg,
 * preferring live ones (accepted, running, sleeping). *id is malloc'd; *job
 * (may be NULL) gets the job object.
 */
int cli_resolve(struct mags_client *c, const char *arg, char **id, json_t **job,
		struct mags_err *err);

/* ---- arguments ---------------------------------------------------------------- */

/* The arguments of the <name|id> commands: one operand, --json and, when
 * follow is not NULL, -f/--follow. Returns 0 or an exit code (printed). */
int cli_parse_target(const char *cmd, int argc, char **argv, const char **target,
		     bool *json, bool *follow);

/* Parse a whole decimal int in [min, max]. 0 or -EINVAL. */
int cli_parse_int(const char *s, int min, int max, int *out);

/* A table on stdout: a bold header row, then nrows rows of ncols cells
 * (cells[row * ncols + col]; NULL or "" shows as "-"), columns padded to
 * their widest cell (at most 64), the last one not padded. */
void cli_table(int ncols, const char *const *head, const char **cells,
	       size_t nrows);

/* A JSON member as table text into buf: strings as they are, integers,
 * reals with no decimals, booleans as yes/no; "-" when absent or null. */
const char *cli_jcell(json_t *obj, const char *key, char *buf, size_t len);

/* A size in bytes as "512 B", "1.5 KiB", "2.0 GiB" into buf. */
const char *cli_bytes(double bytes, char *buf, size_t len);

/* Sleep ms milliseconds (a signal cuts it short). */
void cli_sleep_ms(int ms);

/* String member of a JSON object, or dflt. */
const char *cli_jstr(json_t *obj, const char *key, const char *dflt);

/* "2026-11-27T09:12:26.123Z" as "2026-11-27 09:12:26" into buf; "-" for
 * NULL. */
const char *cli_time(const char *iso, char *buf, size_t len);

#endif
