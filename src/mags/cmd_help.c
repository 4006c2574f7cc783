/*
 * cmd_help.c - `mags`, `mags help [command]`, `mags --help`: the command
 * list with the run options and examples people copy from.
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const char cmd_help_usage[] =
	"Usage: mags help [command]\n"
	"\n"
	"Show the list of commands, or the help of one command\n"
	"(the same as 'mags <command> --help').\n";

void cli_print_usage(const struct cli_cmd *cmd)
{
	fputs(cmd->usage, stdout);
	fflush(stdout);
}

/* Subcommands shown in the list under (or instead of) their command. */
static const struct {
	const char *parent;
	bool replace;        /* the rows stand for the command's own row */
	const char *left, *summary;
} sub_rows[] = {
	{ "url", false, "url alias <sub> <workspace>", "Create a stable URL alias" },
	{ "url", false, "url alias list", "List URL aliases" },
	{ "url", false, "url alias remove <sub>", "Remove a URL alias" },
	{ "workspace", true, "workspace list", "List persistent workspaces" },
	{ "workspace", true, "workspace delete <id>", "Delete workspace and its saved data" },
	{ "cron", true, "cron add [opts] <script>", "Create a scheduled cron job" },
	{ "cron", true, "cron list", "List cron jobs" },
	{ "cron", true, "cron remove <id>", "Delete a cron job" },
	{ "cron", true, "cron enable <id>", "Enable a cron job" },
	{ "cron", true, "cron disable <id>", "Disable a cron job" },
};

static void print_main_help(void)
{
	FILE *f = stdout;
	const char *b = cli_color(f, CLI_BOLD), *r = cli_reset(f);
	const char *g = cli_color(f, CLI_GRAY);

	fprintf(f, "%smags%s - secure Linux sandboxes for AI agents (version %s)\n\n",
		b, r, MAGS_VERSION);
	fprintf(f, "%sUsage:%s mags <command> [options]\n\n", b, r);
	fprintf(f, "%sCommands:%s\n", b, r);
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		char left[64];
		bool replaced = false;

		for (size_t i = 0; i < sizeof(sub_rows) / sizeof(sub_rows[0]); i++)
			if (strcmp(sub_rows[i].parent, c->name) == 0 && sub_rows[i].replace)
				replaced = true;
		snprintf(left, sizeof(left), "%s %s", c->name, c->args);
		if (!replaced)
			fprintf(f, "  %-30s %s\n", left, c->summary);
		for (size_t i = 0; i < sizeof(sub_rows) / sizeof(sub_rows[0]); i++)
			if (strcmp(sub_rows[i].parent, c->name) == 0)
				fprintf(f, "  %-30s %s\n", sub_rows[i].left, sub_rows[i].summary);
	}
	fprintf(f, "\n%sRun Options:%s\n", b, r);
	fputs("  -w, --workspace <name>     Name the job and its workspace (alias: -n, --name)\n"
	      "  -p, --persistent           Keep the sandbox alive and its workspace saved\n"
	      "  --base <workspace>         Start from an existing workspace (read-only)\n"
	      "  -e, --ephemeral            No workspace at all (fastest)\n"
	      "  --no-sleep                 Never auto-sleep (requires -p)\n"
	      "  --url [--port <port>]      Public URL for the sandbox (requires -p; port 8080)\n"
	      "  --ssh                      Enable SSH access once the job runs\n"
	      "  -f, --file <path>          Upload a file into /root (repeatable, <= 100 MiB)\n"
	      "  --disk <GB>                Disk size in GB (default: 2)\n"
	      "  --startup-command <cmd>    Command to run when the sandbox wakes\n"
	      "  --timeout <seconds>        Stop the script after this long\n", f);
	fprintf(f, "\n%sCron Options:%s\n", b, r);
	fputs("  -n, --name <name>          Cron job name (required)\n"
	      "  -s, --schedule <expr>      Cron expression, e.g. \"0 */2 * * *\" (required)\n"
	      "  -w, --workspace <name>     Workspace ID for storage\n"
	      "  -p, --persistent           Keep VM alive after script\n", f);
	fprintf(f, "\n%sExamples:%s\n", b, r);
	fprintf(f,
		"  mags login\n"
		"  mags new myvm                            %s# Create VM (local disk only)%s\n"
		"  mags new myvm -p                         %s# Create VM with S3 persistence%s\n"
		"  mags ssh myvm                            %s# SSH (auto-starts if needed)%s\n"
		"  mags exec myvm 'ls -la'                  %s# Run command on existing VM%s\n"
		"  mags run 'echo Hello World'\n"
		"  mags run -e 'uname -a && df -h'          %s# no workspace, fastest%s\n"
		"  mags run ./build.sh                      %s# a local script file%s\n"
		"  mags run -w myproject -p 'pip install flask requests'\n"
		"  mags run -w webapp -p --url --port 8080 'python3 -m http.server 8080'\n"
		"  mags run -f data.csv 'wc -l /root/data.csv'\n"
		"  mags url alias myapp webapp\n"
		"  mags cron add --name \"daily-backup\" --schedule \"0 0 * * *\" 'tar czf /root/backup.tar.gz /root/data'\n"
		"  mags list\n"
		"  mags logs <name|id> -f                   %s# follow the output%s\n",
		g, r, g, r, g, r, g, r, g, r, g, r, g, r);
	fprintf(f, "\n%sEnvironment:%s\n", b, r);
	fputs("  MAGS_API_URL     server URL (default " MAGS_DEFAULT_URL ")\n"
	      "  MAGS_API_TOKEN   API token; overrides 'mags login' (also MAGS_TOKEN)\n"
	      "  NO_COLOR         turn off colours\n", f);
	fprintf(f, "\nRun 'mags <command> --help' for the options of a command.\n");
	fflush(f);
}

int cmd_help(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_main_help();
		return 0;
	}
	cmd = cli_cmd_find(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	cli_print_usage(cmd);
	return 0;
}
