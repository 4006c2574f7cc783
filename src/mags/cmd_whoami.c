/*
 * cmd_whoami.c - `mags whoami`: who the token belongs to and which server
 * it is for. Exits 1 when there is no token or the server rejects it, so
 * scripts can test "am I logged in".
 */
#include "mags/cli.h"

#include <string.h>

#include "common/banned.h"

const char cmd_whoami_usage[] =
	"Usage: mags whoami [--json]\n"
	"\n"
	"Show the user the API token belongs to and the server it is for.\n"
	"Exits 1 when not logged in or when the server rejects the token.\n"
	"\n"
	"Options:\n"
	"  --json    Print the API's JSON\n";

static const char *source_text(const char *src)
{
	if (!src)
		return "none";
	if (strcmp(src, "config") == 0)
		return "~/.mags/config.json";
	return src;
}

int cmd_whoami(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	json_t *out = NULL;
	bool json = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return cli_usage_error("whoami", "unexpected argument '%s'", argv[i]);
	}
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = mags_whoami(ctx.client, &out, &err);
	if (r < 0) {
		if (err.code == MAGS_E_UNAUTHORIZED) {
			cli_error("not logged in: %s rejected the token from %s (%s)",
				  mags_client_url(ctx.client),
				  source_text(ctx.cfg.token_source), err.msg);
			cli_hint(stderr, "Run 'mags login' or set MAGS_API_TOKEN.");
			r = CLI_EXIT_FAIL;
		} else {
			r = cli_fail(&err);
		}
		goto out;
	}
	if (json) {
		cli_print_json(out);
	} else {
		cli_ok(stdout, "Logged in as %s", cli_jstr(out, "user", "?"));
		printf("Server: %s\n", mags_client_url(ctx.client));
		cli_hint(stdout, "Token from %s", source_text(ctx.cfg.token_source));
	}
	r = 0;
out:
	json_decref(out);
	cli_close(&ctx);
	return r;
}
