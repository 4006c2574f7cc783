/*
 * commands.c - the table of mags commands: name, handler, one-line summary
 * and full help. main() dispatches through it and `mags help` prints it.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const struct cli_cmd cli_cmds[] = {
	{ "run", cmd_run, "[options] <script>", "Execute a script in a new sandbox", cmd_run_usage },
	{ "list", cmd_list, "", "List recent jobs", cmd_list_usage },
	{ "status", cmd_status, "<name|id>", "Check job status", cmd_status_usage },
	{ "logs", cmd_logs, "<name|id>", "View job logs", cmd_logs_usage },
	{ "stop", cmd_stop, "<name|id>", "Stop a running job", cmd_stop_usage },
	{ "login", cmd_login, "", "Authenticate and save credentials", cmd_login_usage },
	{ "logout", cmd_logout, "", "Remove saved credentials", cmd_logout_usage },
	{ "whoami", cmd_whoami, "", "Show current authentication status", cmd_whoami_usage },
	{ "help", cmd_help, "[command]", "Show help for mags or a command", cmd_help_usage },
	{ "version", cmd_version, "", "Print the version", cmd_version_usage },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}
