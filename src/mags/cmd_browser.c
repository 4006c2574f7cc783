/*
 * cmd_browser.c - `mags browser [name]`: the hosted service started a
 * Chromium session with CDP access. Self-hosted mags ships no browser
 * image, so the command says so plainly instead of pretending.
 */
#include "mags/cli.h"

#include "common/banned.h"

const char cmd_browser_usage[] =
	"Usage: mags browser [name]\n"
	"\n"
	"Not available in self-hosted mags (the hosted service started a\n"
	"Chromium session with CDP access). To run a browser yourself, install\n"
	"one in a persistent sandbox and expose its debugging port:\n"
	"  mags run -w browser -p --url --port 9222 'apt-get install -y chromium && \\\n"
	"    chromium --headless --remote-debugging-address=0.0.0.0 --remote-debugging-port=9222'\n";

int cmd_browser(int argc, char **argv)
{
	cli_error("'mags browser' is not available in self-hosted mags");
	cli_hint(stderr, "See 'mags browser --help' for running a browser in a sandbox yourself.");
	return CLI_EXIT_FAIL;
}
