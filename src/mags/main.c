/*
 * main.c - the mags command-line client: find the command in the table
 * (commands.c) and run it. Options that belong to no command (--help,
 * --version) are handled here, before anything reads the configuration,
 * so `mags --version` costs no more than starting the program.
 */
#include <stdio.h>
#include <string.h>

#include "mags/cli.h"
#include "common/trace.h"
#include "common/banned.h"

/* True when argv asks for help before a "--". */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	const char *name = argc > 1 ? argv[1] : "help";

	trace_mark('C', "mags %s", name);

	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	else if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
		name = "version";
	cmd = cli_cmd_find(name);
	if (!cmd) {
		if (name[0] == '-')
			return cli_usage_error(NULL, "unknown option '%s'", name);
		return cli_usage_error(NULL, "unknown command '%s'", name);
	}
	if (argc > 1 && cmd->run != cmd_help && wants_help(argc - 1, argv + 1)) {
		cli_print_usage(cmd);
		return 0;
	}
	return cmd->run(argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : (char *[]){ "help", NULL });
}
