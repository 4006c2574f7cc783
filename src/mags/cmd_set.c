/*
 * cmd_set.c - `mags set <name|id> --no-sleep | --sleep
 * [--startup-command C] [--idle-timeout S]`: change a live sandbox's
 * settings (PATCH /mags-jobs/{id}).
 */
#include "mags/cli.h"

#include <string.h>

#include "mags/run_args.h"

#include "common/banned.h"

const char cmd_set_usage[] =
	"Usage: mags set <name|id> [--no-sleep | --sleep] [--startup-command <cmd>]\n"
	"                [--idle-timeout <seconds|default>]\n"
	"\n"
	"Update a sandbox's settings.\n"
	"\n"
	"Options:\n"
	"  --no-sleep                 Never auto-sleep this VM\n"
	"  --sleep                    Re-enable auto-sleep\n"
	"  --startup-command <cmd>    Command to run when it wakes or recovers\n"
	"  --idle-timeout <seconds>   Sleep after this long idle; 'default': the\n"
	"                             server's (10 min)\n"
	"  --json                     Print the API's answer\n"
	"\n"
	"Examples:\n"
	"  mags set webapp --no-sleep\n"
	"  mags set webapp --sleep\n"
	"  mags set dev --idle-timeout 3600\n";

int cmd_set(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target = NULL, *startup = NULL, *idle = NULL;
	char *id = NULL;
	json_t *fields, *out = NULL;
	int sleep_opt = -1, r; /* -1: unchanged, 0: --no-sleep, 1: --sleep */
	bool json = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--no-sleep") == 0)
			sleep_opt = 0;
		else if (strcmp(a, "--sleep") == 0)
			sleep_opt = 1;
		else if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--startup-command") == 0 || strcmp(a, "--startup") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("set", "option '%s' needs a value", a);
			startup = argv[++i];
		} else if (strncmp(a, "--startup-command=", 18) == 0)
			startup = a + 18;
		else if (strcmp(a, "--idle-timeout") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("set", "option '%s' needs a value", a);
			idle = argv[++i];
		} else if (strncmp(a, "--idle-timeout=", 15) == 0)
			idle = a + 15;
		else if (a[0] == '-' && a[1])
			return cli_usage_error("set", "unknown option '%s'", a);
		else if (target)
			return cli_usage_error("set", "unexpected argument '%s'", a);
		else
			target = a;
	}
	if (!target)
		return cli_usage_error("set", "missing <name|id>");
	if (sleep_opt < 0 && !startup && !idle)
		return cli_usage_error("set", "nothing to set: give --no-sleep, --sleep, "
				       "--startup-command or --idle-timeout");
	/* seconds, or "default" for the server's idle time again (null) */
	int idle_s = 0;
	if (idle && strcmp(idle, "default") &&
	    cli_parse_int(idle, 1, RUN_IDLE_TIMEOUT_MAX, &idle_s) < 0)
		return cli_usage_error("set", "invalid value '%s' for --idle-timeout: want seconds "
				       "from 1 to %d, or 'default'", idle, RUN_IDLE_TIMEOUT_MAX);
	fields = json_object();
	if (sleep_opt >= 0)
		json_object_set_new(fields, "no_sleep", json_boolean(sleep_opt == 0));
	if (startup)
		json_object_set_new(fields, "startup_command", json_string(startup));
	if (idle)
		json_object_set_new(fields, "idle_timeout",
				    idle_s > 0 ? json_integer(idle_s) : json_null());
	r = cli_open(&ctx, true);
	if (r) {
		json_decref(fields);
		return r;
	}
	r = cli_resolve(ctx.client, target, &id, NULL, &err);
	if (r == 0)
		r = mags_job_update(ctx.client, id, fields, &out, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (json) {
		cli_print_json(out);
	} else {
		if (sleep_opt == 0)
			cli_ok(stdout, "Auto-sleep disabled for '%s' (never sleeps)", target);
		else if (sleep_opt == 1)
			cli_ok(stdout, "Auto-sleep enabled for '%s'", target);
		if (startup)
			cli_ok(stdout, "Startup command for '%s' set", target);
		if (idle_s > 0)
			cli_ok(stdout, "Idle timeout for '%s' set to %d s", target, idle_s);
		else if (idle)
			cli_ok(stdout, "Idle timeout for '%s' back to the server's default", target);
	}
	r = 0;
out:
	free(id);
	json_decref(fields);
	json_decref(out);
	cli_close(&ctx);
	return r;
}
