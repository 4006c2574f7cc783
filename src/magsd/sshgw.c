/*
 * sshgw.c - the SSH gateway (see sshgw.h for the model and its limits).
 *
 * Parent side (on magsd's loop): the listener, the key table, one pipe per
 * live session child. Child side (after fork, blocking libssh): key
 * exchange, public-key authentication against the inherited table, one
 * session channel, and for an exec request one connection to the job's
 * control socket speaking the exec protocol: 'Q' out, 'O'/'E' to the
 * channel's stdout/stderr, 'X' to the exit status.
 */
#include "magsd/sshgw.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/execproto.h"
#include "common/util.h"
#include "magsd/log.h"
#include "magsd/proxy.h"
#include "common/banned.h"

struct gwkey {
	char pubkey[128];       /* "ssh-ed25519 <base64>" */
	char job_id[JOB_ID_MAX];
	char user_id[32];
};

struct gwchild {
	struct sshgw *gw;
	pid_t pid;
	int fd;
	struct loop_watch *w;
	char line[256];
	size_t len;
	struct gwchild *next;
};

struct sshgw {
	const struct config *cfg;
	struct store *st;
	struct loop *loop;
	int lfd, port;
	struct loop_watch *lw;
	char host_key[PATH_MAX];
	struct gwkey *keys;
	size_t n_keys, cap_keys;
	struct gwchild *children;
	int n_children;
	sshgw_control_fn control;
	sshgw_activity_fn activity;
	void *arg;
};

/* ---- key table ------------------------------------------------------------ */

static void key_add(struct sshgw *gw, const char *pubkey, const char *job_id,
		    const char *user_id)
{
	size_t same = 0, oldest = (size_t)-1;

	for (size_t i = 0; i < gw->n_keys; i++)
		if (!strcmp(gw->keys[i].job_id, job_id)) {
			if (oldest == (size_t)-1)
				oldest = i;
			same++;
		}
	if (same >= SSHGW_KEYS_PER_JOB) {
		memmove(&gw->keys[oldest], &gw->keys[oldest + 1],
			(gw->n_keys - oldest - 1) * sizeof(*gw->keys));
		gw->n_keys--;
	}
	if (gw->n_keys == gw->cap_keys) {
		gw->cap_keys = gw->cap_keys ? 2 * gw->cap_keys : 16;
		gw->keys = xrealloc(gw->keys, gw->cap_keys * sizeof(*gw->keys));
	}
	struct gwkey *k = &gw->keys[gw->n_keys++];
	snprintf(k->pubkey, sizeof(k->pubkey), "%s", pubkey);
	snprintf(k->job_id, sizeof(k->job_id), "%s", job_id);
	snprintf(k->user_id, sizeof(k->user_id), "%s", user_id);
}

static void key_load(const char *pubkey, const char *job_id, const char *user_id, void *arg)
{
	key_add(arg, pubkey, job_id, user_id);
}

static const struct gwkey *key_find(const struct sshgw *gw, const char *pubkey)
{
	for (size_t i = 0; i < gw->n_keys; i++)
		if (!strcmp(gw->keys[i].pubkey, pubkey))
			return &gw->keys[i];
	return NULL;
}

void sshgw_job_ended(struct sshgw *gw, const char *job_id)
{
	size_t w = 0;

	if (!gw)
		return;
	for (size_t i = 0; i < gw->n_keys; i++)
		if (strcmp(gw->keys[i].job_id, job_id))
			gw->keys[w++] = gw->keys[i];
	gw->n_keys = w;
}

int sshgw_key_issue(struct sshgw *gw, const char *job_id, const char *user_id,
		    char **private_key, struct mags_err *err)
{
	ssh_key key = NULL;
	char *pub = NULL, *priv = NULL, line[128];
	int r = 0;

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		return err_set(err, MAGS_E_INTERNAL, EIO, "generate an SSH key");
	if (ssh_pki_export_pubkey_base64(key, &pub) != SSH_OK ||
	    ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK) {
		r = err_set(err, MAGS_E_INTERNAL, EIO, "export an SSH key");
		goto out;
	}
	snprintf(line, sizeof(line), "ssh-ed25519 %s", pub);
	r = store_access_key_add(gw->st, line, job_id, user_id, time_now_ms(),
				 SSHGW_KEYS_PER_JOB, err);
	if (r < 0)
		goto out;
	key_add(gw, line, job_id, user_id);
	*private_key = xstrdup(priv);
out:
	ssh_string_free_char(pub);
	if (priv) {
		explicit_bzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	ssh_key_free(key);
	return r;
}

void sshgw_control_path(const struct config *cfg, const char *job_id, char *path, size_t n)
{
	snprintf(path, n, "%s/run/%s.sock", cfg->data_dir, job_id);
}

/* ---- the session child ------------------------------------------------------ */

struct sess {
	struct sshgw *gw;
	ssh_session s;
	ssh_event ev;
	ssh_channel ch;
	int report;                   /* pipe to magsd */
	const struct gwkey *key;
	int auth_tries;
	char **env;
	size_t n_env;
	char *command;                /* exec requested, not started */
	int64_t exec_at;
	char *in;                     /* stdin collected */
	size_t in_len;
	int in_eof, in_too_big;
	int ctl;                      /* control socket, -1 */
	unsigned char *fr;            /* frames from init */
	size_t fr_len, fr_cap;
	int done;
	int64_t last_report;
};

static void report(struct sess *ss, const char *what)
{
	char line[160];
	int64_t now = time_mono_ms();

	if (!ss->key || (now - ss->last_report < 10000 && strcmp(what, "auth")))
		return;
	ss->last_report = now;
	int n = snprintf(line, sizeof(line), "%s %s\n", what, ss->key->job_id);
	(void)!write(ss->report, line, (size_t)n);
}

static int auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey,
		       char signature_state, void *userdata)
{
	struct sess *ss = userdata;
	char *b64 = NULL, line[128];
	const struct gwkey *k;

	(void)s;
	if (++ss->auth_tries > 20)
		return SSH_AUTH_DENIED;
	if (strcmp(user, "root") || ssh_key_type(pubkey) != SSH_KEYTYPE_ED25519)
		return SSH_AUTH_DENIED;
	if (ssh_pki_export_pubkey_base64(pubkey, &b64) != SSH_OK)
		return SSH_AUTH_DENIED;
	snprintf(line, sizeof(line), "ssh-ed25519 %s", b64);
	ssh_string_free_char(b64);
	k = key_find(ss->gw, line);
	if (!k)
		return SSH_AUTH_DENIED;
	if (signature_state == SSH_PUBLICKEY_STATE_NONE)
		return SSH_AUTH_SUCCESS;      /* a probe: this key would do */
	if (signature_state != SSH_PUBLICKEY_STATE_VALID)
		return SSH_AUTH_DENIED;
	ss->key = k;
	report(ss, "auth");
	return SSH_AUTH_SUCCESS;
}

static ssh_channel channel_open(ssh_session s, void *userdata)
{
	struct sess *ss = userdata;

	if (ss->ch || !ss->key)
		return NULL;               /* one session channel per connection */
	ss->ch = ssh_channel_new(s);
	return ss->ch;
}

static void finish(struct sess *ss, int code, const char *msg)
{
	if (ss->done)
		return;
	if (msg)
		(void)ssh_channel_write_stderr(ss->ch, msg, (uint32_t)strlen(msg));
	(void)ssh_channel_request_send_exit_status(ss->ch, code);
	(void)ssh_channel_send_eof(ss->ch);
	(void)ssh_channel_close(ss->ch);
	ss->done = 1;
}

static int ch_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr,
		   void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	(void)is_stderr;
	if (!ss->command || ss->ctl >= 0)
		return (int)len;           /* no stdin stream once the exec runs */
	if (ss->in_len + len > EXECPROTO_STDIN_MAX) {
		ss->in_too_big = 1;
		return (int)len;
	}
	ss->in = xrealloc(ss->in, ss->in_len + len + 1);
	memcpy(ss->in + ss->in_len, data, len);
	ss->in_len += len;
	return (int)len;
}

static void ch_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	ss->in_eof = 1;
}

static void ch_close(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	ss->done = 1;
}

static int ch_pty(ssh_session s, ssh_channel ch, const char *term, int w, int h, int pw,
		  int ph, void *userdata)
{
	/* accepted so `ssh -t host cmd` works; the command runs without one */
	(void)s; (void)ch; (void)term; (void)w; (void)h; (void)pw; (void)ph; (void)userdata;
	return 0;
}

static int ch_winch(ssh_session s, ssh_channel ch, int w, int h, int pw, int ph,
		    void *userdata)
{
	(void)s; (void)ch; (void)w; (void)h; (void)pw; (void)ph; (void)userdata;
	return 0;
}

static int ch_env(ssh_session s, ssh_channel ch, const char *name, const char *value,
		  void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	/* what OpenSSH sends by default (LANG, LC_*): passed to the command */
	if (ss->n_env >= 32 || strlen(name) > 64 || strlen(value) > 1024 || !*name)
		return -1;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
		      (p > name && *p >= '0' && *p <= '9')))
			return -1;
	ss->env = xrealloc(ss->env, (ss->n_env + 1) * sizeof(char *));
	ss->env[ss->n_env++] = xasprintf("%s=%s", name, value);
	return 0;
}

static int ch_exec(ssh_session s, ssh_channel ch, const char *command, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	if (ss->command || !*command || strlen(command) > EXECPROTO_COMMAND_MAX)
		return -1;
	ss->command = xstrdup(command);
	ss->exec_at = time_mono_ms();
	return 0;
}

static int ch_shell(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	if (ss->command)
		return -1;
	/* accepted, then explained: an interactive shell needs the runtime to
	 * stream stdin and allocate a PTY */
	ss->command = xstrdup("");
	return 0;
}

static int ch_subsystem(ssh_session s, ssh_channel ch, const char *sub, void *userdata)
{
	(void)s; (void)ch; (void)sub; (void)userdata;
	return -1;                      /* sftp: not yet (see sshgw.h) */
}

static void start_exec(struct sess *ss)
{
	struct execproto_request rq;
	struct sockaddr_un un;
	unsigned char hdr[EXECPROTO_HDR];
	char path[PATH_MAX];
	char *payload;
	size_t plen;
	int fd, r;

	if (!ss->command[0]) {
		finish(ss, 1, "mags: interactive shells are not available yet (the sandbox "
		       "runtime has no PTY support); run a command instead: "
		       "ssh ... root@host 'COMMAND'\r\n");
		return;
	}
	if (ss->in_too_big) {
		finish(ss, 1, "mags: stdin larger than 1 MiB is not supported yet\n");
		return;
	}
	if (ss->gw->control)
		r = ss->gw->control(ss->key->job_id, path, sizeof(path), ss->gw->arg);
	else {
		sshgw_control_path(ss->gw->cfg, ss->key->job_id, path, sizeof(path));
		r = 0;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	if (r < 0 || strlen(path) >= sizeof(un.sun_path)) {
		finish(ss, 255, "mags: the sandbox is not reachable\n");
		return;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		if (fd >= 0)
			close(fd);
		finish(ss, 255, "mags: the sandbox is not reachable (is it running?)\n");
		return;
	}
	memset(&rq, 0, sizeof(rq));
	rq.op = EXECPROTO_OP_EXEC;
	rq.command = ss->command;
	rq.env = ss->env;
	rq.n_env = ss->n_env;
	rq.cwd = (char *)EXECPROTO_DEFAULT_CWD;
	if (ss->in_len) {
		ss->in[ss->in_len] = '\0';
		rq.stdin_data = ss->in;
		rq.stdin_len = ss->in_len;
	}
	payload = execproto_request_encode(&rq, &plen);
	execproto_header(hdr, EXECPROTO_REQUEST, (uint32_t)plen);
	if (write_full(fd, hdr, sizeof(hdr)) < 0 || write_full(fd, payload, plen) < 0) {
		free(payload);
		close(fd);
		finish(ss, 255, "mags: the sandbox did not take the command\n");
		return;
	}
	free(payload);
	ss->ctl = fd;
}

/* Frames from init: stream them to the channel. Called from the child's
 * own poll loop, never from inside libssh's: a blocking
 * ssh_channel_write waits for the client's window by polling the session,
 * and this must not run again in there. A slow client thus stops the
 * reading of init's output, which slows the exec (init reads its pipes
 * only while little waits). */
static int ctl_read(struct sess *ss, int fd)
{
	ssize_t n;

	if (ss->fr_cap - ss->fr_len < 65536) {
		ss->fr_cap = ss->fr_len + 65536 + EXECPROTO_HDR;
		ss->fr = xrealloc(ss->fr, ss->fr_cap);
	}
	n = read(fd, ss->fr + ss->fr_len, ss->fr_cap - ss->fr_len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		finish(ss, 255, "mags: the connection to the sandbox broke\n");
		return 0;
	}
	ss->fr_len += (size_t)n;
	report(ss, "activity");
	for (;;) {
		char type;
		uint32_t len;
		int r = execproto_peek(ss->fr, ss->fr_len, EXECPROTO_FRAME_MAX, &type, &len);

		if (r < 0) {
			finish(ss, 255, "mags: bad answer from the sandbox\n");
			return 0;
		}
		if (r == 0 || ss->fr_len < EXECPROTO_HDR + len) {
			if (r == 1 && ss->fr_cap < EXECPROTO_HDR + len) {
				ss->fr_cap = EXECPROTO_HDR + len;
				ss->fr = xrealloc(ss->fr, ss->fr_cap);
			}
			return 0;
		}
		char *p = (char *)ss->fr + EXECPROTO_HDR;
		if (type == EXECPROTO_STDOUT)
			(void)ssh_channel_write(ss->ch, p, len);
		else if (type == EXECPROTO_STDERR)
			(void)ssh_channel_write_stderr(ss->ch, p, len);
		else if (type == EXECPROTO_EXIT) {
			int code = 255, to = 0;
			(void)execproto_exit_parse(p, len, &code, &to);
			finish(ss, code, NULL);
			return 0;
		} else if (type == EXECPROTO_ERROR) {
			char msg[600];
			snprintf(msg, sizeof(msg), "mags: %.*s\n", (int)(len > 500 ? 500 : len), p);
			finish(ss, 125, msg);
			return 0;
		}
		memmove(ss->fr, ss->fr + EXECPROTO_HDR + len, ss->fr_len - EXECPROTO_HDR - len);
		ss->fr_len -= EXECPROTO_HDR + len;
	}
}

static void child_main(struct sshgw *gw, int cfd, int rfd)
{
	struct sess ss;
	ssh_bind b;
	sigset_t none;
	int64_t deadline;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* keep the client socket (3) and the report pipe (4) only: no
	 * listener of magsd may outlive it in a session */
	if (cfd != 3 && dup2(cfd, 3) < 0)
		_exit(1);
	if (rfd != 4 && dup2(rfd, 4) < 0)
		_exit(1);
	if (syscall(SYS_close_range, 5U, ~0U, 0U) < 0)
		for (int fd = 5; fd < 4096; fd++)
			close(fd);
	(void)fcntl(3, F_SETFL, 0);
	alarm(SSHGW_AUTH_TIMEOUT_S);

	memset(&ss, 0, sizeof(ss));
	ss.gw = gw;
	ss.report = 4;
	ss.ctl = -1;
	ss.s = ssh_new();
	b = ssh_bind_new();
	if (!ss.s || !b ||
	    ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY, gw->host_key) != SSH_OK ||
	    ssh_bind_accept_fd(b, ss.s, 3) != SSH_OK)
		_exit(1);

	struct ssh_server_callbacks_struct scb = {
		.userdata = &ss,
		.auth_pubkey_function = auth_pubkey,
		.channel_open_request_session_function = channel_open,
	};
	struct ssh_channel_callbacks_struct ccb = {
		.userdata = &ss,
		.channel_data_function = ch_data,
		.channel_eof_function = ch_eof,
		.channel_close_function = ch_close,
		.channel_pty_request_function = ch_pty,
		.channel_shell_request_function = ch_shell,
		.channel_exec_request_function = ch_exec,
		.channel_env_request_function = ch_env,
		.channel_subsystem_request_function = ch_subsystem,
		.channel_pty_window_change_function = ch_winch,
	};
	ssh_callbacks_init(&scb);
	ssh_callbacks_init(&ccb);
	ssh_set_server_callbacks(ss.s, &scb);
	if (ssh_handle_key_exchange(ss.s) != SSH_OK)
		_exit(1);
	ssh_set_auth_methods(ss.s, SSH_AUTH_METHOD_PUBLICKEY);
	ss.ev = ssh_event_new();
	if (!ss.ev || ssh_event_add_session(ss.ev, ss.s) != SSH_OK)
		_exit(1);

	/* authentication and the session channel */
	while (!ss.key || !ss.ch) {
		if (ssh_event_dopoll(ss.ev, 100) == SSH_ERROR || !ssh_is_connected(ss.s))
			_exit(0);
	}
	ssh_set_channel_callbacks(ss.ch, &ccb);
	alarm(0);

	/* the request: exec/shell; stdin until EOF or a short wait */
	deadline = time_mono_ms() + SSHGW_AUTH_TIMEOUT_S * 1000;
	while (!ss.done && ss.ctl < 0) {
		int64_t now = time_mono_ms();
		if (ss.command && (ss.in_eof || ss.in_too_big ||
				   now - ss.exec_at >= SSHGW_STDIN_WAIT_MS)) {
			start_exec(&ss);
			break;
		}
		if (!ss.command && now > deadline)
			break;
		if (ssh_event_dopoll(ss.ev, 20) == SSH_ERROR || !ssh_is_connected(ss.s))
			_exit(0);
	}
	while (!ss.done && ssh_is_connected(ss.s)) {
		struct pollfd pf[2] = {
			{ .fd = ssh_get_fd(ss.s), .events = POLLIN },
			{ .fd = ss.ctl, .events = POLLIN },
		};
		if (poll(pf, ss.ctl >= 0 ? 2 : 1, 100) < 0 && errno != EINTR)
			break;
		/* always: libssh may hold packets it read while writing */
		if (ssh_event_dopoll(ss.ev, 0) == SSH_ERROR)
			break;
		if (!ss.done && ss.ctl >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			ctl_read(&ss, ss.ctl);
	}
	/* let the exit status, EOF and close reach the client, which then
	 * hangs up itself (a disconnect from here would read as an error) */
	deadline = time_mono_ms() + 2000;
	while (ssh_is_connected(ss.s) && time_mono_ms() < deadline)
		if (ssh_event_dopoll(ss.ev, 100) == SSH_ERROR)
			break;
	ssh_disconnect(ss.s);
	_exit(0);
}

/* ---- parent side ------------------------------------------------------------- */

static void child_gone(struct gwchild *ch)
{
	struct sshgw *gw = ch->gw;
	struct gwchild **pp = &gw->children;

	while (*pp && *pp != ch)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ch->next;
	gw->n_children--;
	loop_remove(gw->loop, ch->w);
	close(ch->fd);
	free(ch);
}

static void on_child(int fd, uint32_t events, void *arg)
{
	struct gwchild *ch = arg;
	struct sshgw *gw = ch->gw;
	ssize_t n;

	(void)events;
	n = read(fd, ch->line + ch->len, sizeof(ch->line) - 1 - ch->len);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		child_gone(ch);
		return;
	}
	ch->len += (size_t)n;
	for (;;) {
		char *nl = memchr(ch->line, '\n', ch->len);
		if (!nl) {
			if (ch->len == sizeof(ch->line) - 1)
				ch->len = 0;
			return;
		}
		*nl = '\0';
		const char *sp = strchr(ch->line, ' ');
		if (sp && gw->activity)
			gw->activity(sp + 1, gw->arg);
		size_t used = (size_t)(nl - ch->line) + 1;
		memmove(ch->line, nl + 1, ch->len - used);
		ch->len -= used;
	}
}

static void on_listen(int fd, uint32_t events, void *arg)
{
	struct sshgw *gw = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), p[2];
		pid_t pid;

		if (cfd < 0)
			return;
		if (gw->n_children >= gw->cfg->ssh_max_sessions ||
		    pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			close(cfd);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_main(gw, cfd, p[1]);
			_exit(0);
		}
		close(cfd);
		close(p[1]);
		if (pid < 0) {
			close(p[0]);
			continue;
		}
		struct gwchild *ch = xcalloc(1, sizeof(*ch));
		ch->gw = gw;
		ch->pid = pid;
		ch->fd = p[0];
		ch->w = loop_add(gw->loop, p[0], EPOLLIN, on_child, ch);
		if (!ch->w) {
			close(p[0]);
			free(ch);
			continue;
		}
		ch->next = gw->children;
		gw->children = ch;
		gw->n_children++;
	}
}

static int host_key_ready(const char *path, struct mags_err *err)
{
	ssh_key key = NULL;
	struct stat st;
	int r = 0;

	if (stat(path, &st) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK)
			return err_set(err, MAGS_E_INTERNAL, EINVAL,
				       "SSH host key '%s' cannot be read", path);
		ssh_key_free(key);
		return 0;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		return err_set(err, MAGS_E_INTERNAL, EIO, "generate the SSH host key");
	mode_t old = umask(077);
	if (ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path) != SSH_OK)
		r = err_set(err, MAGS_E_INTERNAL, EIO, "write SSH host key '%s'", path);
	umask(old);
	if (r == 0)
		(void)chmod(path, 0600);
	ssh_key_free(key);
	return r;
}

struct sshgw *sshgw_new(const struct config *cfg, struct store *st, struct loop *loop,
			struct mags_err *err)
{
	struct sshgw *gw = xcalloc(1, sizeof(*gw));

	gw->cfg = cfg;
	gw->st = st;
	gw->loop = loop;
	gw->lfd = -1;
	if (cfg->ssh_host_key[0])
		snprintf(gw->host_key, sizeof(gw->host_key), "%s", cfg->ssh_host_key);
	else if ((size_t)snprintf(gw->host_key, sizeof(gw->host_key), "%.*s/ssh_host_ed25519_key",
				  (int)(sizeof(gw->host_key) - 32), cfg->data_dir) >=
		 sizeof(gw->host_key)) {
		err_set(err, MAGS_E_BAD_REQUEST, ENAMETOOLONG, "data directory path too long");
		goto fail;
	}
	ssh_init();
	if (host_key_ready(gw->host_key, err) < 0)
		goto fail;
	gw->lfd = proxy_listen_socket(cfg->ssh_listen, &gw->port, err);
	if (gw->lfd < 0)
		goto fail;
	gw->lw = loop_add(loop, gw->lfd, EPOLLIN, on_listen, gw);
	if (!gw->lw) {
		err_sys(err, errno, "watch listener");
		goto fail;
	}
	(void)store_access_key_list_live(st, key_load, gw);
	return gw;
fail:
	err_wrap(err, "SSH gateway");
	if (gw->lfd >= 0)
		close(gw->lfd);
	free(gw);
	return NULL;
}

void sshgw_free(struct sshgw *gw)
{
	if (!gw)
		return;
	while (gw->children)
		child_gone(gw->children);
	loop_remove(gw->loop, gw->lw);
	close(gw->lfd);
	free(gw->keys);
	free(gw);
}

void sshgw_set_hooks(struct sshgw *gw, sshgw_control_fn control,
		     sshgw_activity_fn activity, void *arg)
{
	gw->control = control;
	gw->activity = activity;
	gw->arg = arg;
}

int sshgw_port(const struct sshgw *gw)
{
	return gw->port;
}

int sshgw_session_count(const struct sshgw *gw)
{
	return gw->n_children;
}
