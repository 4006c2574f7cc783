/*
 * commands.c - the table of mags commands: name, handler, one-line summary
 * and full help. main() dispatches through it and `mags help` prints it.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const struct cli_cmd cli_cmds[] = {
	{ "login", cmd_login, "", "Authenticate and save credentials", cmd_login_usage },
	{ "logout", cmd_logout, "", "Remove saved credentials", cmd_logout_usage },
	{ "whoami", cmd_whoami, "", "Show current authentication status", cmd_whoami_usage },
	{ "new", cmd_new, "<name> [-p]", "Create a VM sandbox (add -p for S3 data persistence)", cmd_new_usage },
	{ "run", cmd_run, "[options] <script>", "Execute a script in a new sandbox", cmd_run_usage },
	{ "ssh", cmd_ssh, "<name>", "Open an SSH session (auto-starts if needed)", cmd_ssh_usage },
	{ "exec", cmd_exec, "<name> <command>", "Run a command on an existing sandbox", cmd_exec_usage },
	{ "list", cmd_list, "", "List recent jobs", cmd_list_usage },
	{ "logs", cmd_logs, "<name|id>", "View job logs", cmd_logs_usage },
	{ "status", cmd_status, "<name|id>", "Check job status", cmd_status_usage },
	{ "stop", cmd_stop, "<name|id>", "Stop a running job", cmd_stop_usage },
	{ "sync", cmd_sync, "<name|id>", "Sync workspace to S3 without stopping the VM", cmd_sync_usage },
	{ "resize", cmd_resize, "<name> --disk <GB>", "Resize disk for a workspace", cmd_resize_usage },
	{ "url", cmd_url, "<name|id> [port]", "Enable public URL access for a running job", cmd_url_usage },
	{ "set", cmd_set, "<name|id> [options]", "Update VM settings (--no-sleep, --sleep)", cmd_set_usage },
	{ "workspace", cmd_workspace, "list|delete", "List or delete workspaces", cmd_workspace_usage },
	{ "cron", cmd_cron, "add|list|...", "Manage scheduled cron jobs", cmd_cron_usage },
	{ "usage", cmd_usage, "[--days N]", "Show usage (jobs, VM time)", cmd_usage_usage },
	{ "browser", cmd_browser, "[name]", "Browser sessions (not available self-hosted)", cmd_browser_usage },
	{ "setup-claude", cmd_setup_claude, "", "Install the Mags skill for Claude Code", cmd_setup_claude_usage },
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
