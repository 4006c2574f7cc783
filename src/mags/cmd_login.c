/*
 * cmd_login.c - `mags login` (DECISIONS D11): ask for the server URL and
 * an API token (prompts on a terminal; --url/--token flags; the token on
 * stdin otherwise), check the token with GET /api/v1/whoami and save both
 * in ~/.mags/config.json (0600). Tokens come from the server's
 * administrator (`magsd token create --user NAME`); nothing is saved unless
 * the server accepted the token.
 */
#include "mags/cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

const char cmd_login_usage[] =
	"Usage: mags login [--url <server>] [--token <token>]\n"
	"\n"
	"Authenticate and save credentials to ~/.mags/config.json. On a terminal,\n"
	"mags asks for the server URL and the API token; otherwise the token is\n"
	"read from stdin. The token is checked with the server before it is saved.\n"
	"Ask the server's administrator for a token (magsd token create).\n"
	"\n"
	"Options:\n"
	"  --url <server>     Server URL (default: $MAGS_API_URL, the saved URL\n"
	"                     or " MAGS_DEFAULT_URL ")\n"
	"  --token <token>    API token (instead of the prompt or stdin)\n"
	"\n"
	"Examples:\n"
	"  mags login\n"
	"  mags login --url http://sandbox-host:8420\n"
	"  echo \"$TOKEN\" | mags login --url http://sandbox-host:8420\n";

enum { OPT_URL = 1000, OPT_TOKEN };

static const struct option login_options[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ NULL, 0, NULL, 0 },
};

/* Read one line from f, without its newline and surrounding blanks. NULL
 * at EOF with nothing read. */
static char *read_line(FILE *f)
{
	char *line = NULL, *s, *e;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);

	if (n < 0) {
		free(line);
		return NULL;
	}
	for (s = line; *s == ' ' || *s == '\t'; s++)
		;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	s = xstrdup(s);
	explicit_bzero(line, cap);
	free(line);
	return s;
}

/* Prompt on stderr, read the answer from stdin (a terminal); with
 * secret, the terminal does not echo it. */
static char *prompt(const char *question, bool secret)
{
	struct termios old, quiet;
	bool restore = false;
	char *ans;

	fputs(question, stderr);
	fflush(stderr);
	if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	ans = read_line(stdin);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return ans;
}

int cmd_login(int argc, char **argv)
{
	struct mags_config cfg;
	struct mags_err err = { 0 };
	struct mags_client *client = NULL;
	_cleanup_free_ char *url = NULL;
	char *token = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *who = NULL;
	bool tty = isatty(STDIN_FILENO);
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", login_options, NULL)) != -1) {
		switch (c) {
		case OPT_URL:
			free(url);
			url = xstrdup(optarg);
			break;
		case OPT_TOKEN:
			free(token);
			token = xstrdup(optarg);
			break;
		case ':':
			return cli_usage_error("login", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("login", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("login", "unexpected argument '%s'", argv[optind]);

	/* The default URL is whatever a client would use now. A broken config
	 * file must not keep people from logging in again. */
	if (mags_config_load(&cfg, &err) < 0) {
		cli_hint(stderr, "ignoring the config file: %s", err.msg);
		cfg.api_url = xstrdup(getenv("MAGS_API_URL") && *getenv("MAGS_API_URL") ?
				      getenv("MAGS_API_URL") : MAGS_DEFAULT_URL);
		cfg.api_token = NULL;
	}
	/* Prompt only for what the flags leave open: `--token T` alone means
	 * "the usual server". */
	if (!url && !token && tty) {
		_cleanup_free_ char *q = xasprintf("Server URL [%s]: ", cfg.api_url);

		url = prompt(q, false);
		if (!url) {
			r = cli_error("no server URL given");
			goto out;
		}
	}
	if (!url || !*url) {
		free(url);
		url = xstrdup(cfg.api_url);
	}
	client = mags_client_new(url, NULL, &err);
	if (!client) {
		r = cli_fail(&err);
		goto out;
	}
	if (!token && tty) {
		cli_hint(stderr, "Ask the server's administrator for an API token (magsd token create --user NAME).");
		token = prompt("API token: ", true);
	} else if (!token) {
		token = read_line(stdin);
	}
	if (!token || !*token) {
		r = cli_usage_error("login", "no token given: type it at the prompt, pass --token or pipe it on stdin");
		goto out;
	}
	mags_client_free(client);
	client = mags_client_new(url, token, &err);
	if (!client) {
		r = cli_fail(&err);
		goto out;
	}
	r = mags_whoami(client, &who, &err);
	if (r < 0) {
		if (err.code == MAGS_E_UNAUTHORIZED)
			r = cli_error("%s rejected the token: %s", mags_client_url(client), err.msg);
		else
			r = cli_fail(&err);
		goto out;
	}
	r = mags_config_save(mags_client_url(client), token, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	path = mags_config_path();
	cli_ok(stdout, "Logged in as %s on %s", cli_jstr(who, "user", "?"),
	       mags_client_url(client));
	cli_hint(stdout, "Credentials saved to %s", path ? path : "~/.mags/config.json");
	if (cfg.token_source && strcmp(cfg.token_source, "config") != 0)
		cli_hint(stdout, "Note: %s is set and takes precedence over the saved token.",
			 cfg.token_source);
	if (strcmp(cfg.url_source ? cfg.url_source : "", "MAGS_API_URL") == 0 &&
	    strcmp(cfg.api_url, mags_client_url(client)) != 0)
		cli_hint(stdout, "Note: MAGS_API_URL is set and takes precedence over the saved URL.");
	r = 0;
out:
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	json_decref(who);
	mags_client_free(client);
	mags_config_release(&cfg);
	return r;
}
