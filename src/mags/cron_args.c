/*
 * cron_args.c - `mags cron add|create` arguments (see cron_args.h). The
 * schedule is checked by the server (5-field cron or @daily and friends);
 * here only what is missing.
 */
#include "mags/cron_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

enum { OPT_DISABLED = 1000 };

static const struct option cron_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "schedule", required_argument, NULL, 's' },
	{ "workspace", required_argument, NULL, 'w' },
	{ "persistent", no_argument, NULL, 'p' },
	{ "disabled", no_argument, NULL, OPT_DISABLED },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cron_args_parse(int argc, char **argv, struct cron_args *a,
		    char *name_buf, size_t name_len, struct mags_err *err)
{
	bool create = strcmp(argv[0], "create") == 0;
	int c, nops;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:s:w:ph", cron_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			a->name = optarg;
			break;
		case 's':
			a->schedule = optarg;
			break;
		case 'w':
			a->workspace = *optarg ? optarg : NULL;
			break;
		case 'p':
			a->persistent = true;
			break;
		case OPT_DISABLED:
			a->disabled = true;
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
	nops = argc - optind;
	if (create) {
		if (nops != 2)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "usage: mags cron create '<cron-expr>' '<command>'");
		if (a->schedule)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "give the schedule once: as the first operand of create");
		a->schedule = argv[optind];
		a->script = argv[optind + 1];
		if (!a->name) {
			char hex[9];

			random_hex(hex, 4);
			snprintf(name_buf, name_len, "cron-%s", hex);
			a->name = name_buf;
		}
	} else {
		if (nops == 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no script given");
		if (nops > 1)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "too many arguments: quote the script, as in  mags cron add ... '%s %s'",
				       argv[optind], argv[optind + 1]);
		a->script = argv[optind];
	}
	if (!a->name || !*a->name)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "--name is required");
	if (!a->schedule || !*a->schedule)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--schedule is required (a cron expression such as \"0 */2 * * *\")");
	if (!*a->script)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "the script is empty");
	return 0;
}

json_t *cron_args_request(const struct cron_args *a)
{
	json_t *req = json_object();

	json_object_set_new(req, "name", json_string(a->name));
	json_object_set_new(req, "cron_expression", json_string(a->schedule));
	json_object_set_new(req, "script", json_string(a->script));
	if (a->workspace)
		json_object_set_new(req, "workspace_id", json_string(a->workspace));
	if (a->persistent)
		json_object_set_new(req, "persistent", json_true());
	json_object_set_new(req, "enabled", json_boolean(!a->disabled));
	return req;
}
