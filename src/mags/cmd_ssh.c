/*
 * cmd_ssh.c - `mags ssh <name>` (contract §1.7): an interactive shell in a
 * sandbox. The sandbox is started first when none is live (as `mags new`
 * would), or woken first when it sleeps (an exec of `true`, for which the
 * server wakes it; a login would wake it too, but inside ssh's timeouts).
 * Then POST /access on port 22 hands out a host, a port and a one-off
 * private key; the key goes to a 0600 temporary file for the ssh child
 * and is removed when ssh exits.
 */
#include "mags/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "mags/new_args.h"
#include "common/banned.h"

const char cmd_ssh_usage[] =
	"Usage: mags ssh <name|id> [-- <ssh arguments>]\n"
	"\n"
	"Open an SSH session into a sandbox as root. A sandbox that is not\n"
	"running is started first (like 'mags new <name>'; a sleeping one is\n"
	"woken). Arguments after '--' go to ssh (a remote command, say).\n"
	"$MAGS_SSH names the ssh program (default: ssh).\n"
	"\n"
	"Examples:\n"
	"  mags ssh myvm\n"
	"  mags ssh myvm -- uname -a\n";

/* Write key to a fresh 0600 file; its path into *path. */
static int write_key(const char *key, char **path)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = strlen(key);
	char *p = xasprintf("%s/mags-ssh-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkostemp(p, O_CLOEXEC), r = 0;

	if (fd < 0) {
		r = -errno;
		free(p);
		return r;
	}
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	if (r == 0)
		r = write_full(fd, key, len);
	/* OpenSSH refuses a key whose last line has no newline. */
	if (r == 0 && len && key[len - 1] != '\n')
		r = write_full(fd, "\n", 1);
	close(fd);
	if (r < 0) {
		unlink(p);
		free(p);
		return r;
	}
	*path = p;
	return 0;
}

/* Run ssh and wait for it; its exit status is ours. Ctrl-C belongs to the
 * remote shell, so mags ignores it meanwhile. */
static int run_ssh(const char *keyfile, const char *host, const char *port,
		   const char *user, int nextra, char **extra)
{
	const char *prog = getenv("MAGS_SSH");
	_cleanup_free_ char *dest = xasprintf("%s@%s", user, host);
	const char *argv[32 + 64];
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	int n = 0, status;
	pid_t pid;

	if (!prog || !*prog)
		prog = "ssh";
	argv[n++] = prog;
	argv[n++] = "-i";
	argv[n++] = keyfile;
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-o";
	argv[n++] = "StrictHostKeyChecking=no";
	argv[n++] = "-o";
	argv[n++] = "UserKnownHostsFile=/dev/null";
	argv[n++] = "-o";
	argv[n++] = "LogLevel=ERROR";
	argv[n++] = dest;
	for (int i = 0; i < nextra && n < (int)(sizeof(argv) / sizeof(argv[0])) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		return cli_error("fork: %s", strerror(e));
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execvp(prog, (char **)argv);
		fprintf(stderr, "mags: run '%s': %s\n", prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int cmd_ssh(int argc, char **argv)
{
	struct mags_err err = { 0 };
	struct cli_ctx ctx;
	const char *target = NULL;
	char *id = NULL, *keyfile = NULL;
	json_t *job = NULL, *acc = NULL, *v;
	char portbuf[16];
	const char *host, *key, *user;
	int nextra = 0, r, i;
	char **extra = NULL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			extra = argv + i + 1;
			nextra = argc - i - 1;
			break;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_usage_error("ssh", "unknown option '%s'", argv[i]);
		} else if (target) {
			return cli_usage_error("ssh", "unexpected argument '%s'", argv[i]);
		} else {
			target = argv[i];
		}
	}
	if (!target)
		return cli_usage_error("ssh", "missing <name|id>");
	r = cli_open(&ctx, true);
	if (r)
		return r;
	r = cli_resolve(ctx.client, target, &id, &job, &err);
	if (r < 0 && err.code != MAGS_E_NOT_FOUND) {
		r = cli_fail(&err);
		goto out;
	}
	if (r < 0 || mags_status_is_terminal(cli_jstr(job, "status", NULL))) {
		/* Nothing live: start the sandbox the way `mags new` does, keeping
		 * object-store persistence if the last one had it. */
		struct new_args a;
		const char *ws = cli_jstr(job, "workspace_id", NULL);

		new_args_init(&a);
		a.name = ws && *ws ? ws : target;
		a.persistent = json_is_true(json_object_get(job, "persistent")) &&
			       !json_is_true(json_object_get(job, "no_sync"));
		free(id);
		id = NULL;
		cli_hint(stderr, "Starting sandbox '%s'...", a.name);
		r = new_sandbox(ctx.client, &a, &id);
		if (r)
			goto out;
	}
	if (job && !strcmp(cli_jstr(job, "status", ""), "sleeping")) {
		json_t *res = NULL;

		cli_hint(stderr, "Waking sandbox '%s'...", target);
		r = mags_job_exec(ctx.client, id, "true", 0, NULL, NULL, NULL, &res, &err);
		json_decref(res);
		if (r < 0) {
			r = cli_fail(&err);
			goto out;
		}
	}
	r = mags_job_access(ctx.client, id, 22, &acc, &err);
	if (r < 0) {
		r = cli_fail(&err);
		goto out;
	}
	host = cli_jstr(acc, "ssh_host", NULL);
	key = cli_jstr(acc, "ssh_private_key", NULL);
	user = cli_jstr(acc, "ssh_user", "root");
	v = json_object_get(acc, "ssh_port");
	if (json_is_integer(v))
		snprintf(portbuf, sizeof(portbuf), "%lld", (long long)json_integer_value(v));
	else
		snprintf(portbuf, sizeof(portbuf), "%s", cli_jstr(acc, "ssh_port", "22"));
	if (!host || !*host || !key || !*key) {
		r = cli_error("the server gave no SSH access for '%s' (no ssh_host or ssh_private_key)",
			      target);
		goto out;
	}
	r = write_key(key, &keyfile);
	if (r < 0) {
		r = cli_error("write the SSH key to a temporary file: %s", strerror(-r));
		goto out;
	}
	r = run_ssh(keyfile, host, portbuf, user, nextra, extra);
	unlink(keyfile);
out:
	free(keyfile);
	free(id);
	json_decref(job);
	json_decref(acc);
	cli_close(&ctx);
	return r;
}
