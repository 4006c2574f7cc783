/*
 * run_args.c - `mags run` options to a job request (see run_args.h).
 *
 * The flags are those of contract §1.6 plus the hidden [003] spellings
 * (--persist, --from, --startup, --always-on, --timeout, --ssh) so that
 * commands copied from either generation of the documentation work.
 */
#include "mags/run_args.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "mags/cli.h"
#include "common/banned.h"

enum {
	OPT_BASE = 1000,
	OPT_NO_SLEEP,
	OPT_URL,
	OPT_PORT,
	OPT_DISK,
	OPT_STARTUP,
	OPT_TIMEOUT,
	OPT_SSH,
	OPT_IDLE_TIMEOUT,
};

static const struct option run_options[] = {
	{ "workspace", required_argument, NULL, 'w' },
	{ "name", required_argument, NULL, 'n' },
	{ "persistent", no_argument, NULL, 'p' },
	{ "persist", no_argument, NULL, 'p' },
	{ "ephemeral", no_argument, NULL, 'e' },
	{ "file", required_argument, NULL, 'f' },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "from", required_argument, NULL, OPT_BASE },
	{ "base-image", required_argument, NULL, OPT_BASE },
	{ "no-sleep", no_argument, NULL, OPT_NO_SLEEP },
	{ "always-on", no_argument, NULL, OPT_NO_SLEEP },
	{ "url", no_argument, NULL, OPT_URL },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "startup-command", required_argument, NULL, OPT_STARTUP },
	{ "startup", required_argument, NULL, OPT_STARTUP },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "ssh", no_argument, NULL, OPT_SSH },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad_value(struct mags_err *err, const char *opt, const char *v,
		     const char *want)
{
	return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
		       "invalid value '%s' for %s: want %s", v, opt, want);
}

int run_args_parse(int argc, char **argv, struct run_args *a,
		   struct mags_err *err)
{
	int c, idx;

	memset(a, 0, sizeof(*a));
	a->port = 8080;
	optind = 0; /* full re-initialisation of getopt (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":w:n:pef:h", run_options, &idx)) != -1) {
		switch (c) {
		case 'w':
		case 'n':
			if (!*optarg)
				return bad_value(err, c == 'w' ? "--workspace" : "--name",
						 optarg, "a name");
			a->workspace = optarg;
			break;
		case 'p':
			a->persistent = true;
			break;
		case 'e':
			a->ephemeral = true;
			break;
		case 'f':
			if (a->nfiles == RUN_MAX_FILES)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "too many --file options (at most %d)",
					       RUN_MAX_FILES);
			a->files[a->nfiles++] = optarg;
			break;
		case OPT_BASE:
			if (!*optarg)
				return bad_value(err, "--base", optarg, "a workspace name");
			a->base = optarg;
			break;
		case OPT_NO_SLEEP:
			a->no_sleep = true;
			break;
		case OPT_URL:
			a->url = true;
			break;
		case OPT_SSH:
			a->ssh = true;
			break;
		case OPT_PORT:
			if (cli_parse_int(optarg, 1, 65535, &a->port) < 0)
				return bad_value(err, "--port", optarg, "a port from 1 to 65535");
			break;
		case OPT_DISK:
			if (cli_parse_int(optarg, 1, 1024, &a->disk_gb) < 0)
				return bad_value(err, "--disk", optarg, "a whole number of GB from 1 to 1024");
			break;
		case OPT_STARTUP:
			a->startup_command = optarg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_int(optarg, 1, INT_MAX, &a->timeout) < 0)
				return bad_value(err, "--timeout", optarg, "a number of seconds");
			break;
		case OPT_IDLE_TIMEOUT:
			if (cli_parse_int(optarg, 1, RUN_IDLE_TIMEOUT_MAX, &a->idle_timeout) < 0)
				return bad_value(err, "--idle-timeout", optarg,
						 "seconds from 1 to 2592000");
			break;
		case 'h':
			return 1;
		case ':':
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt != '?')
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "unknown option '-%c'", optopt);
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no script given");
	if (argc - optind > 1)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "too many arguments: quote the script, as in  mags run '%s %s'",
			       argv[optind], argv[optind + 1]);
	a->script = argv[optind];
	if (!*a->script)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "the script is empty");
	return 0;
}

int run_args_check(const struct run_args *a, struct mags_err *err)
{
	if (a->ephemeral && a->workspace)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "-e/--ephemeral cannot be combined with -w/--workspace or -n/--name");
	if (a->ephemeral && a->persistent)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "-e/--ephemeral cannot be combined with -p/--persistent");
	if (a->ephemeral && a->base)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "-e/--ephemeral cannot be combined with --base");
	if (a->no_sleep && !a->persistent)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--no-sleep requires -p/--persistent");
	if (a->url && !a->persistent)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--url requires -p/--persistent");
	if (a->idle_timeout && !a->persistent)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--idle-timeout requires -p/--persistent");
	return 0;
}

json_t *run_args_request(const struct run_args *a, const char *script,
			 bool is_file)
{
	json_t *req = json_object();

	json_object_set_new(req, "script", json_string(script));
	json_object_set_new(req, "type", json_string(is_file ? "file" : "inline"));
	if (a->workspace) {
		json_object_set_new(req, "name", json_string(a->workspace));
		json_object_set_new(req, "workspace_id", json_string(a->workspace));
	}
	if (a->persistent)
		json_object_set_new(req, "persistent", json_true());
	if (a->base)
		json_object_set_new(req, "base_workspace_id", json_string(a->base));
	if (a->no_sleep)
		json_object_set_new(req, "no_sleep", json_true());
	if (a->disk_gb > 0)
		json_object_set_new(req, "disk_gb", json_integer(a->disk_gb));
	if (a->startup_command)
		json_object_set_new(req, "startup_command",
				    json_string(a->startup_command));
	if (a->timeout > 0)
		json_object_set_new(req, "timeout", json_integer(a->timeout));
	if (a->idle_timeout > 0)
		json_object_set_new(req, "idle_timeout", json_integer(a->idle_timeout));
	return req;
}

int run_script_load(const char *arg, char **text, struct mags_err *err)
{
	struct stat st;
	ssize_t n;

	*text = NULL;
	if (strlen(arg) >= PATH_MAX || strchr(arg, '\n') || stat(arg, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	if ((size_t)st.st_size > RUN_SCRIPT_MAX)
		return err_set(err, MAGS_E_TOO_LARGE, EFBIG,
			       "script file '%s' is larger than %u bytes", arg,
			       RUN_SCRIPT_MAX);
	n = read_file(arg, RUN_SCRIPT_MAX, text);
	if (n < 0)
		return err_sys(err, (int)-n, "read script file '%s'", arg);
	if (memchr(*text, '\0', (size_t)n)) {
		free(*text);
		*text = NULL;
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "script file '%s' is not text", arg);
	}
	return 1;
}
