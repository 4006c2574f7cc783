/*
 * new_args.c - `mags new` options to a sandbox request (see new_args.h).
 *
 * A sandbox is a job that never ends by itself: API-persistent, with
 * `sleep infinity` as both script and startup command, so that it stays
 * up for `mags ssh` and `mags exec`. Without -p its workspace stays on the
 * server's local disk (no_sync); with -p it is saved to the object store.
 */
#include "mags/new_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mags/cli.h"
#include "common/banned.h"

enum {
	OPT_BASE = 1000,
	OPT_DISK,
	OPT_NO_SLEEP,
	OPT_URL,
	OPT_PORT,
	OPT_STARTUP,
	OPT_WAIT,
	OPT_IDLE_TIMEOUT,
};

static const struct option new_options[] = {
	{ "persistent", no_argument, NULL, 'p' },
	{ "persist", no_argument, NULL, 'p' },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "no-sleep", no_argument, NULL, OPT_NO_SLEEP },
	{ "url", no_argument, NULL, OPT_URL },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "startup-command", required_argument, NULL, OPT_STARTUP },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void new_args_init(struct new_args *a)
{
	const char *t = getenv("MAGS_NEW_TIMEOUT");

	memset(a, 0, sizeof(*a));
	a->port = 8080;
	a->wait_s = 30;
	if (t && *t)
		cli_parse_int(t, 1, 86400, &a->wait_s);
}

/* JavaScript's parseInt(v) || 0 for the sizes people type: leading
 * digits, anything else (or too large) is 0. */
static int leading_int(const char *v)
{
	long n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v >= '0' && *v <= '9'; v++) {
		n = n * 10 + (*v - '0');
		if (n > 1024)
			return 0;
	}
	return (int)n;
}

int new_args_parse(int argc, char **argv, struct new_args *a,
		   struct mags_err *err)
{
	int c;

	new_args_init(a);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ph", new_options, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->persistent = true;
			break;
		case OPT_BASE:
			a->base = *optarg ? optarg : NULL;
			break;
		case OPT_DISK:
			a->disk_gb = leading_int(optarg);
			break;
		case OPT_NO_SLEEP:
			a->no_sleep = true;
			break;
		case OPT_URL:
			a->url = true;
			break;
		case OPT_PORT:
			if (cli_parse_int(optarg, 1, 65535, &a->port) < 0)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "invalid value '%s' for --port: want a port from 1 to 65535",
					       optarg);
			break;
		case OPT_STARTUP:
			a->startup_command = *optarg ? optarg : NULL;
			break;
		case OPT_WAIT:
			if (cli_parse_int(optarg, 1, 86400, &a->wait_s) < 0)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "invalid value '%s' for --wait: want seconds", optarg);
			break;
		case OPT_IDLE_TIMEOUT:
			if (cli_parse_int(optarg, 1, NEW_IDLE_TIMEOUT_MAX, &a->idle_timeout) < 0)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "invalid value '%s' for --idle-timeout: want seconds "
					       "from 1 to %d", optarg, NEW_IDLE_TIMEOUT_MAX);
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
	if (argc - optind > 1)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc && *argv[optind])
		a->name = argv[optind];
	return 0;
}

json_t *new_args_request(const struct new_args *a)
{
	json_t *req = json_object();

	json_object_set_new(req, "script", json_string("sleep infinity"));
	json_object_set_new(req, "type", json_string("inline"));
	json_object_set_new(req, "persistent", json_true());
	json_object_set_new(req, "name", json_string(a->name));
	json_object_set_new(req, "workspace_id", json_string(a->name));
	json_object_set_new(req, "startup_command",
			    json_string(a->startup_command ? a->startup_command :
					"sleep infinity"));
	json_object_set_new(req, "no_sync", json_boolean(!a->persistent));
	if (a->base)
		json_object_set_new(req, "base_workspace_id", json_string(a->base));
	if (a->disk_gb > 0)
		json_object_set_new(req, "disk_gb", json_integer(a->disk_gb));
	if (a->no_sleep)
		json_object_set_new(req, "no_sleep", json_true());
	if (a->idle_timeout > 0)
		json_object_set_new(req, "idle_timeout", json_integer(a->idle_timeout));
	return req;
}
