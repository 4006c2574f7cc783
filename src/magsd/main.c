/*
 * main.c - magsd's entry point: a table of subcommands. `--data-dir DIR`
 * may appear anywhere on the command line and applies to every command.
 */
#include <stdio.h>
#include <string.h>

#include "magsd/admin.h"
#include "magsd/config.h"
#include "magsd/crashpoint.h"
#include "magsd/openapi.h"
#include "magsd/serve.h"
#include "common/banned.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv, const char *data_dir);
	const char *summary;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "run the daemon in the foreground" },
	{ "user", cmd_user, "add NAME: create a user, print its id" },
	{ "token", cmd_token, "create --user NAME | revoke ID | list --user NAME" },
	{ "image", cmd_image, "build busybox|default | import NAME TARBALL | list" },
	{ "routes", cmd_routes, "print the REST API's routes, one METHOD PATH a line" },
	{ "crash-points", cmd_crash_points, "list the crash points MAGS_CRASH_AT can arm (tests)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: magsd [--data-dir DIR] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nThe data directory is --data-dir, else $MAGS_DATA_DIR, else %s.\n",
		CONFIG_DEFAULT_DATA_DIR);
}

int main(int argc, char **argv)
{
	const char *data_dir = NULL;
	int n = 0;

	/* take --data-dir out wherever it is; keep the rest in order */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data-dir")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "magsd: option '--data-dir' needs a value\n");
				return 2;
			}
			data_dir = argv[++i];
		} else if (!strncmp(argv[i], "--data-dir=", 11)) {
			data_dir = argv[i] + 11;
		} else {
			argv[++n] = argv[i];
		}
	}
	argc = n + 1;
	argv[argc] = NULL;
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 2, argv + 2, config_data_dir(data_dir));
	fprintf(stderr, "magsd: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
