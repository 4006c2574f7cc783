/*
 * cmd_version.c - `mags --version`: prints the version and touches
 * nothing else (no configuration, no network), so it also measures the
 * bare start-up cost of the CLI.
 */
#include "mags/cli.h"

#include "common/banned.h"

const char cmd_version_usage[] =
	"Usage: mags --version\n"
	"\n"
	"Print the version of mags.\n";

int cmd_version(int argc, char **argv)
{
	fputs("mags " MAGS_VERSION "\n", stdout);
	return 0;
}
