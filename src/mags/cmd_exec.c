/*
 * cmd_exec.c - `mags exec <name|id> <command>`: run a command in a live
 * sandbox (DECISIONS D2) and exit with its exit code. Output is streamed
 * as the command writes it, stdout to stdout and stderr to stderr; the
 * server wakes a sleeping sandbox first.
 */
#include "mags/cli.h"
#include "mags/termsafe.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char cmd_exec_usage[] =
	"Usage: mags exec [options] <name|id> <command>\n"
	"\n"
	"Run a command on an existing sandbox (woken if it sleeps), print its\n"
	"output as it comes (stdout and stderr apart) and exit with its exit code.\n"
	"Quote the command in single quotes; several words are joined by spaces.\n"
	"\n"
	"Options:\n"
	"  --timeout <seconds>    Stop the command after this long\n"
	"  --env KEY=VALUE        Set an environment variable (repeatable)\n"
	"  --json                 Print {exit_code, stdout, stderr, ...} as JSON\n"
	"\n"
	"Examples:\n"
	"  mags exec myvm 'ls -la'\n"
	"  mags exec --env DEBUG=1 myvm 'python3 app.py'\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

struct exec_out {
	bool json;
	char *out, *err;     /* collected for --json */
	size_t out_len, err_len;
};

static void collect(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static int on_output(const char *stream, const char *data, size_t len, void *arg)
{
	struct exec_out *o = arg;
	bool is_err = strcmp(stream, "stderr") == 0;

	if (o->json) {
		if (is_err)
			collect(&o->err, &o->err_len, data, len);
		else
			collect(&o->out, &o->out_len, data, len);
		return 0;
	}
	if (is_err) {
		fflush(stdout);
		termsafe_write(stderr, data, len);
	} else {
		termsafe_write(stdout, data, len);
		fflush(stdout);
	}
	return 0;
}

int cmd_exec(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct exec_out o = { 0 };
	struct cli_ctx ctx;
	struct sigaction sa = { .sa_handler = on_sigint, .sa_flags = SA_RESETHAND };
	const char *target = NULL;
	_cleanup_free_ char *command = NULL;
	char *id = NULL;
	json_t *job = NULL, *result = NULL, *env = NULL, *code;
	int timeout = 0, r, i;

	env = json_object();
	/* Options come before <name|id>; everything after it is the command. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0) {
			const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);

			if (cli_parse_int(v, 1, 86400 * 7, &timeout) < 0) {
				r = cli_usage_error("exec", "invalid value '%s' for --timeout",
						    v ? v : "");
				goto out_env;
			}
		} else if (strcmp(a, "--env") == 0 || strncmp(a, "--env=", 6) == 0) {
			const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
			const char *eq = v ? strchr(v, '=') : NULL;

			if (!eq || eq == v) {
				r = cli_usage_error("exec", "--env wants KEY=VALUE, not '%s'",
						    v ? v : "");
				goto out_env;
			}
			char *key = xstrndup(v, (size_t)(eq - v));

			json_object_set_new(env, key, json_string(eq + 1));
			free(key);
		} else if (a[0] == '-' && a[1]) {
			r = cli_usage_error("exec", "unknown option '%s'", a);
			goto out_env;
		} else {
			break;
		}
	}
	if (i < argc)
		target = argv[i++];
	if (!target) {
		r = cli_usage_error("exec", "missing <name|id>");
		goto out_env;
	}
	if (i >= argc) {
		r = cli_usage_error("exec", "missing <command>");
		goto out_env;
	}
	command = xstrdup(argv[i]);
	for (i++; i < argc; i++) {
		char *more = xasprintf("%s %s", command, argv[i]);

		free(command);
		command = more;
	}
	r = cli_open(&ctx, true);
	if (r)
		goto out_env;
	r = cli_resolve(ctx.client, target, &id, &job, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if (mags_status_is_terminal(cli_jstr(job, "status", NULL))) {
		r = cli_error("sandbox '%s' is not running (job %s %s)", target, id,
			      cli_jstr(job, "status", ""));
		cli_hint(stderr, "Start one with: mags new %s", target);
		goto out;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	mags_client_set_cancel(ctx.client, &interrupted);
	r = mags_job_exec(ctx.client, id, command, timeout,
			  json_object_size(env) ? env : NULL, on_output, &o,
			  &result, &err);
	if (interrupted || r == -ECANCELED) {
		cli_error("interrupted");
		r = CLI_EXIT_SIGINT;
		goto out;
	}
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	code = json_object_get(result, "exit_code");
	if (o.json) {
		json_t *j = json_deep_copy(result);

		if (!json_object_get(j, "stdout"))
			json_object_set_new(j, "stdout", json_string(o.out ? o.out : ""));
		if (!json_object_get(j, "stderr"))
			json_object_set_new(j, "stderr", json_string(o.err ? o.err : ""));
		cli_print_json(j);
		json_decref(j);
	}
	r = (int)(json_integer_value(code) & 0xff);
	if (r == 0 && json_integer_value(code) != 0)
		r = 1;
out:
	free(id);
	json_decref(job);
	json_decref(result);
	cli_close(&ctx);
out_env:
	free(o.out);
	free(o.err);
	json_decref(env);
	return r;
}
