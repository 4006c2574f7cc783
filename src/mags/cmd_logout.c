/*
 * cmd_logout.c - `mags logout`: remove the saved token from
 * ~/.mags/config.json (the saved server URL stays, as the default of the
 * next `mags login`).
 */
#include "mags/cli.h"

#include <stdlib.h>

#include "common/banned.h"

const char cmd_logout_usage[] =
	"Usage: mags logout\n"
	"\n"
	"Remove the API token saved by 'mags login'. MAGS_API_TOKEN, when set,\n"
	"still applies.\n";

int cmd_logout(int argc, char **argv)
{
	struct mags_err err = { 0 };
	char *path;
	int r;

	if (argc > 1)
		return cli_usage_error("logout", "unexpected argument '%s'", argv[1]);
	r = mags_config_forget_token(&err);
	if (r < 0)
		return cli_fail(&err);
	path = mags_config_path();
	if (r == 1)
		cli_ok(stdout, "Logged out: removed the saved token from %s",
		       path ? path : "~/.mags/config.json");
	else
		cli_hint(stdout, "Not logged in: no saved token.");
	free(path);
	if ((getenv("MAGS_API_TOKEN") && *getenv("MAGS_API_TOKEN")) ||
	    (getenv("MAGS_TOKEN") && *getenv("MAGS_TOKEN")))
		cli_hint(stdout, "Note: a token in the environment (MAGS_API_TOKEN or MAGS_TOKEN) still applies.");
	return 0;
}
