/*
 * cmd_run.c - `mags run [options] <script>`: submit a job, stream its
 * output as it is produced (stdout records to stdout, stderr records to
 * stderr, one flush per line) and exit with the job's exit code.
 *
 * Files given with -f are uploaded first (streamed, POST /mags-files) and
 * passed as file_ids. With --url/--ssh, access is enabled once the sandbox
 * runs. With -p the run ends when the script's output ends (the log
 * stream's end event says "running"); the sandbox keeps running.
 *
 * The first Ctrl-C stops the job on the server and exits 130; a second one
 * kills mags at once (SA_RESETHAND). If the log stream breaks before the
 * job's end event, the status is polled instead and the lines not yet shown
 * are fetched from the stored log.
 */
#include "mags/cli.h"
#include "mags/termsafe.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "mags/run_args.h"
#include "common/banned.h"

const char cmd_run_usage[] =
	"Usage: mags run [options] <script>\n"
	"\n"
	"Execute a script in a new sandbox, stream its output and exit with its\n"
	"exit code. <script> is inline shell (quote it in single quotes) or the\n"
	"path of a local script file, whose content is sent.\n"
	"\n"
	"Options:\n"
	"  -w, --workspace <name>     Name the job and its workspace; the workspace is\n"
	"                             kept on the server's disk for reuse\n"
	"  -n, --name <name>          Alias for -w\n"
	"  -p, --persistent           Keep the sandbox alive after the script and keep\n"
	"                             its workspace indefinitely\n"
	"  --base <workspace>         Start from an existing workspace (read-only);\n"
	"                             with -w, fork it into a new workspace\n"
	"  -e, --ephemeral            No workspace, nothing kept (fastest); cannot be\n"
	"                             combined with -w, -p or --base\n"
	"  --no-sleep                 Never auto-sleep this sandbox (requires -p)\n"
	"  --idle-timeout <seconds>   Sleep after this long idle (requires -p; default:\n"
	"                             the server's, 10 min)\n"
	"  --url                      Enable a public URL (requires -p)\n"
	"  --port <port>              Port the URL exposes (default: 8080)\n"
	"  -f, --file <path>          Upload a local file into /root (repeatable,\n"
	"                             at most 100 MiB each)\n"
	"  --disk <GB>                Disk size in GB (default: 2)\n"
	"  --startup-command <cmd>    Command to run when the sandbox wakes from sleep\n"
	"  --timeout <seconds>        Stop the script after this many seconds\n"
	"  --ssh                      Enable SSH access once the job runs\n"
	"\n"
	"Examples:\n"
	"  mags run 'echo Hello World'\n"
	"  mags run -e 'uname -a && df -h'\n"
	"  mags run ./script.sh\n"
	"  mags run --timeout 60 'for i in 1 2 3; do echo $i; sleep 1; done'\n"
	"  mags run -w myproject -p 'pip install flask requests'\n"
	"  mags run -w webapp -p --no-sleep --url --port 8080 'python3 -m http.server 8080'\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

struct run_state {
	const char *id;
	size_t shown;            /* log records printed so far */
	bool ended;
	char *status;            /* final status, exit code and message */
	bool has_exit_code;
	int exit_code;
	char *error_message;
};

/* Print one log record where it belongs, flushed so output keeps pace. */
static void print_record(json_t *rec)
{
	json_t *m = json_object_get(rec, "message");
	const char *src = cli_jstr(rec, "source", "stdout");
	const char *text = json_is_string(m) ? json_string_value(m) : "";
	size_t len = json_is_string(m) ? json_string_length(m) : 0;

	if (strcmp(src, "stdout") == 0) {
		termsafe_write(stdout, text, len);
		fputc('\n', stdout);
		fflush(stdout);
	} else if (strcmp(src, "stderr") == 0) {
		fflush(stdout);
		termsafe_write(stderr, text, len);
		fputc('\n', stderr);
	} else {
		/* The system speaking (timeouts, truncation): a hint. */
		fflush(stdout);
		fputs(cli_color(stderr, CLI_GRAY), stderr);
		termsafe_write(stderr, text, len);
		fputs(cli_reset(stderr), stderr);
		fputc('\n', stderr);
	}
}

static void set_end(struct run_state *st, const char *status, json_t *code,
		    const char *msg)
{
	st->ended = true;
	free(st->status);
	st->status = xstrdup(status ? status : "");
	st->has_exit_code = json_is_integer(code);
	st->exit_code = st->has_exit_code ? (int)json_integer_value(code) : 0;
	free(st->error_message);
	st->error_message = msg ? xstrdup(msg) : NULL;
}

static int on_event(const struct mags_log_event *ev, void *arg)
{
	struct run_state *st = arg;

	if (ev->end) {
		set_end(st, ev->status, json_object_get(ev->json, "exit_code"),
			ev->error_message);
		return 0;
	}
	print_record(ev->json);
	st->shown++;
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL); /* a signal cuts it short, which is what we want */
}

/* The job's script is over: the job ended, or (a persistent job) its
 * sandbox lives on with the script's exit code set. */
static bool script_ended(json_t *job)
{
	const char *status = cli_jstr(job, "status", NULL);

	if (mags_status_is_terminal(status))
		return true;
	return (status && (strcmp(status, "running") == 0 ||
			   strcmp(status, "sleeping") == 0)) &&
	       json_is_true(json_object_get(job, "persistent")) &&
	       json_is_integer(json_object_get(job, "exit_code"));
}

/* The stream broke: poll the status until the job ends, then print the
 * records the stream did not deliver. */
static int poll_until_end(struct mags_client *c, struct run_state *st,
			  struct mags_err *err)
{
	json_t *job = NULL, *logs = NULL, *arr, *rec;
	size_t i;
	int r, delay = 250;

	for (;;) {
		if (interrupted)
			return -ECANCELED;
		r = mags_job_status(c, st->id, &job, err);
		if (r == -ECANCELED)
			return r;
		if (r < 0 && mags_client_last_status(c) != 0)
			return r; /* the server answered: no point retrying */
		if (r == 0 && script_ended(job))
			break;
		json_decref(job);
		job = NULL;
		sleep_ms(delay);
		if (delay < 2000)
			delay *= 2;
	}
	r = mags_job_logs(c, st->id, &logs, err);
	if (r == 0) {
		arr = json_object_get(logs, "logs");
		json_array_foreach(arr, i, rec) {
			if (i >= st->shown) {
				print_record(rec);
				st->shown++;
			}
		}
	}
	json_decref(logs);
	set_end(st, cli_jstr(job, "status", ""), json_object_get(job, "exit_code"),
		cli_jstr(job, "error_message", NULL));
	json_decref(job);
	return r;
}

/* An exit status for a job's exit code: 0..255, never 0 for a failure. */
static int exit_status(bool has, int code, int fallback)
{
	if (!has || code == 0)
		return fallback;
	code &= 0xff;
	return code ? code : 1;
}

/* Wait (up to 30 s) until the job's sandbox runs, for --url and --ssh:
 * access needs a live sandbox. 0 when it runs, -ESRCH when the job ended
 * first, another negative errno with err. */
static int wait_running(struct mags_client *c, const char *id,
			struct mags_err *err)
{
	int64_t deadline = time_mono_ms() + 30000;

	for (;;) {
		json_t *job = NULL;
		const char *status;
		int r = mags_job_status(c, id, &job, err);

		if (r < 0)
			return r;
		status = cli_jstr(job, "status", "");
		r = strcmp(status, "running") == 0 || strcmp(status, "sleeping") == 0 ? 0 :
		    mags_status_is_terminal(status) ? -ESRCH : 1;
		json_decref(job);
		if (r <= 0)
			return r;
		if (interrupted)
			return -ECANCELED;
		if (time_mono_ms() > deadline)
			return err_set(err, MAGS_E_UNAVAILABLE, ETIMEDOUT,
				       "the sandbox did not start within 30 s");
		sleep_ms(100);
	}
}

/* POST /mags-jobs/{id}/access for --url and --ssh once the sandbox runs.
 * A failure is shown but does not end the run: the script still runs. */
static void request_access(struct mags_client *c, const char *id,
			   const char *name, int port, bool ssh)
{
	struct mags_err err = { 0 };
	json_t *out = NULL;
	int r = wait_running(c, id, &err);

	if (r == -ESRCH)
		err_set(&err, MAGS_E_CONFLICT, ESRCH, "the job ended before it could be reached");
	if (r < 0 || mags_job_access(c, id, port, &out, &err) < 0) {
		cli_hint(stderr, "%s access is not available: %s",
			 ssh ? "SSH" : "URL", err.msg);
	} else if (ssh) {
		cli_hint(stderr, "SSH: mags ssh %s", name);
	} else {
		const char *url = cli_jstr(out, "url", NULL);

		if (url)
			cli_ok(stderr, "URL: %s", url);
	}
	json_decref(out);
}

/* -f/--file: upload each file, in order; their ids go into file_ids. */
static int upload_files(struct cli_ctx *ctx, const struct run_args *a,
			json_t **ids)
{
	struct mags_err err = { 0 };

	*ids = json_array();
	for (size_t i = 0; i < a->nfiles; i++) {
		char *fid = NULL;

		if (isatty(STDERR_FILENO))
			cli_hint(stderr, "Uploading %s...", a->files[i]);
		if (mags_file_upload(ctx->client, a->files[i], &fid, NULL, &err) < 0) {
			json_decref(*ids);
			*ids = NULL;
			return cli_fail(&err);
		}
		json_array_append_new(*ids, json_string(fid));
		free(fid);
	}
	return 0;
}

static int submit(struct cli_ctx *ctx, const struct run_args *a, char **id)
{
	struct mags_err err = { 0 };
	_cleanup_free_ char *text = NULL;
	json_t *req, *resp = NULL, *ids = NULL;
	int is_file, r;

	is_file = run_script_load(a->script, &text, &err);
	if (is_file < 0)
		return cli_fail(&err);
	if (a->nfiles > 0) {
		r = upload_files(ctx, a, &ids);
		if (r)
			return r;
	}
	req = run_args_request(a, is_file ? text : a->script, is_file);
	if (ids)
		json_object_set_new(req, "file_ids", ids);
	r = mags_job_submit(ctx->client, req, &resp, &err);
	json_decref(req);
	if (r < 0)
		return cli_fail(&err);
	*id = xstrdup(cli_jstr(resp, "request_id", ""));
	json_decref(resp);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a;
	struct mags_err err = { 0 };
	struct run_state st = { 0 };
	struct cli_ctx ctx;
	struct sigaction sa = { .sa_handler = on_sigint, .sa_flags = SA_RESETHAND };
	_cleanup_free_ char *id = NULL;
	int r, code;

	r = run_args_parse(argc, argv, &a, &err);
	if (r == 1) {
		fputs(cmd_run_usage, stdout);
		return 0;
	}
	if (r < 0 || run_args_check(&a, &err) < 0)
		return cli_usage_error("run", "%s", err.msg);
	for (size_t i = 0; i < a.nfiles; i++) {
		struct stat sb;

		if (stat(a.files[i], &sb) < 0)
			return cli_error("file '%s': %s", a.files[i], strerror(errno));
		if (!S_ISREG(sb.st_mode))
			return cli_error("file '%s': not a regular file", a.files[i]);
		if ((unsigned long long)sb.st_size > MAGS_UPLOAD_MAX)
			return cli_error("file '%s' is larger than the upload limit of %llu MiB",
					 a.files[i], MAGS_UPLOAD_MAX >> 20);
	}
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = submit(&ctx, &a, &id);
	if (r)
		goto out;
	st.id = id;
	if (isatty(STDERR_FILENO))
		cli_hint(stderr, "Job %s", id);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	mags_client_set_cancel(ctx.client, &interrupted);
	if (a.url)
		request_access(ctx.client, id, a.workspace ? a.workspace : id, a.port, false);
	if (a.ssh)
		request_access(ctx.client, id, a.workspace ? a.workspace : id, 22, true);

	r = mags_job_follow(ctx.client, id, on_event, &st, &err);
	if (r == 0 && st.status && !mags_status_is_terminal(st.status) &&
	    !st.has_exit_code && !interrupted) {
		/* An end event while the script has not ended (a server that
		 * ends the follow of a persistent job early): poll instead. */
		r = poll_until_end(ctx.client, &st, &err);
	} else if (r == -ECONNRESET && !interrupted) {
		if (isatty(STDERR_FILENO))
			cli_hint(stderr, "Log stream lost (%s); polling the job instead.", err.msg);
		err_clear(&err);
		r = poll_until_end(ctx.client, &st, &err);
	}
	if (interrupted || r == -ECANCELED) {
		struct mags_err serr = { 0 };

		mags_client_set_cancel(ctx.client, NULL);
		mags_client_set_timeouts(ctx.client, 5000, 10000);
		if (mags_job_stop(ctx.client, id, NULL, &serr) < 0)
			cli_error("interrupted; could not stop job %s: %s", id, serr.msg);
		else
			cli_error("interrupted; stopped job %s", id);
		r = CLI_EXIT_SIGINT;
		goto out;
	}
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	code = exit_status(st.has_exit_code, st.exit_code, 0);
	if (!st.status) {
		r = cli_error("job %s: no final status from the server", id);
		goto out;
	}
	if (strcmp(st.status, "running") == 0 || strcmp(st.status, "sleeping") == 0) {
		/* -p: the script is over, its sandbox lives on. */
		const char *name = a.workspace ? a.workspace : id;

		cli_hint(stderr, "Sandbox '%s' keeps running: mags exec %s '<command>', "
			 "mags ssh %s, mags stop %s", name, name, name, name);
	} else if (strcmp(st.status, "error") == 0) {
		cli_error("job %s failed: %s", id,
			  st.error_message ? st.error_message : "unknown error");
		code = exit_status(st.has_exit_code, st.exit_code, 1);
	} else if (strcmp(st.status, "stopped") == 0) {
		cli_error("job %s was stopped", id);
		code = exit_status(st.has_exit_code, st.exit_code, 1);
	}
	r = code;
out:
	free(st.status);
	free(st.error_message);
	cli_close(&ctx);
	return r;
}
