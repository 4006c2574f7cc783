/*
 * sshgw.c - the SSH gateway (see sshgw.h for the model and its limits).
 *
 * Parent side (on magsd's loop): the listener, the key table, one socket
 * per live session child (its lines: activity, wake requests, busy/idle).
 * Child side (after fork, blocking libssh): key exchange, public-key
 * authentication against the inherited table (and the wake), one session
 * channel, and for its exec/shell/sftp request one connection to the
 * job's control socket speaking the exec protocol: 'Q' out, then 'I'
 * (stdin), 'W' (window size) and 'K' (signals) out, 'O'/'E' to the
 * channel's stdout/stderr, 'X' to the exit status; for sftp, raw bytes
 * both ways after init's 'S'.
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
	int fd;                       /* socket to the child */
	struct loop_watch *w;
	char line[256];
	size_t len;
	char job_id[JOB_ID_MAX];      /* once it logged in */
	int busy;                     /* its command runs: counted as an exec */
	int waking;                   /* a wake is pending for it */
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
	struct sshgw_hooks hooks;
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

enum sess_req { REQ_NONE, REQ_EXEC, REQ_SHELL, REQ_SFTP };

/* A login shell: bash where the sandbox has it (the Debian image), sh in
 * a minimal one (busybox). */
#define SHELL_COMMAND "if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l"

struct sess {
	struct sshgw *gw;
	ssh_session s;
	ssh_event ev;
	ssh_channel ch;
	int report;                   /* socket to magsd, lines both ways */
	const struct gwkey *key;
	int auth_tries;
	char wake_error[256];         /* the login could not wake the sandbox */
	char **env;
	size_t n_env;
	/* what the channel asked for */
	enum sess_req req;
	char *command;
	int pty;
	char term[EXECPROTO_TERM_MAX + 1];
	unsigned rows, cols;
	/* the connection to init */
	int ctl;                      /* control socket, -1 */
	int raw;                      /* sftp: init said yes, bytes are raw now */
	unsigned char *fr;            /* from init, not yet handled */
	size_t fr_len, fr_cap;
	unsigned char *out;           /* to init: frames, or raw sftp bytes */
	size_t out_len;
	int in_eof;                   /* the client's EOF is queued (or sent) */
	int winch;                    /* a new window size waits to be queued */
	unsigned w_rows, w_cols;
	unsigned char sigs[8];        /* signals waiting to be queued */
	int n_sigs;
	int done;
	int64_t last_report;
};

/* Slack past SSHGW_INPUT_MAX for one 'I' frame and the small frames. */
#define OUT_CAP (SSHGW_INPUT_MAX + EXECPROTO_INPUT_MAX + 256)

static void report(struct sess *ss, const char *what)
{
	char line[160];
	int64_t now = time_mono_ms();

	if (!ss->key || (!strcmp(what, "activity") && now - ss->last_report < 10000))
		return;
	ss->last_report = now;
	int n = snprintf(line, sizeof(line), "%s %s\n", what, ss->key->job_id);
	(void)!write(ss->report, line, (size_t)n);
}

/* Ask magsd to wake the job and wait for its answer: 0 up, -ESRCH the job
 * has ended (the key no longer counts), -EIO with wake_error set. */
static int wake_job(struct sess *ss)
{
	char line[300];
	size_t len = 0;
	int64_t deadline = time_mono_ms() + SSHGW_WAKE_WAIT_MS;
	int n = snprintf(line, sizeof(line), "wake %s\n", ss->key->job_id);
	const char *fail = NULL;

	alarm(0);
	if (write_full(ss->report, line, (size_t)n) < 0)
		fail = "the server did not answer";
	while (!fail) {
		int64_t left = deadline - time_mono_ms();
		struct pollfd pf = { .fd = ss->report, .events = POLLIN };
		char *nl;
		ssize_t r;

		if (left <= 0) {
			fail = "the sandbox did not wake in time";
			break;
		}
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR) {
			fail = "the server did not answer";
			break;
		}
		r = read(ss->report, line + len, sizeof(line) - 1 - len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0 || (len += (size_t)r) == sizeof(line) - 1) {
			fail = "the server did not answer";
			break;
		}
		line[len] = '\0';
		nl = strchr(line, '\n');
		if (!nl)
			continue;
		*nl = '\0';
		if (!strcmp(line, "gone")) {
			alarm(SSHGW_AUTH_TIMEOUT_S);
			return -ESRCH;
		}
		if (strcmp(line, "ok"))
			fail = !strncmp(line, "err ", 4) ? line + 4 : "the sandbox could not be woken";
		break;
	}
	alarm(SSHGW_AUTH_TIMEOUT_S);
	if (!fail)
		return 0;
	snprintf(ss->wake_error, sizeof(ss->wake_error), "%.200s", fail);
	return -EIO;
}

static int auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey,
		       char signature_state, void *userdata)
{
	struct sess *ss = userdata;
	char *b64 = NULL, line[128];
	const struct gwkey *k;

	(void)s;
	if (++ss->auth_tries > 20 || ss->key)
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
	/* a login wakes a sleeping sandbox; the key of an ended job is
	 * refused here (a stop while asleep leaves the table as it was at
	 * fork) */
	if (wake_job(ss) == -ESRCH) {
		ss->key = NULL;
		return SSH_AUTH_DENIED;
	}
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
	ss->done = 1;
	if (!ss->ch || !ssh_channel_is_open(ss->ch))
		return;
	if (msg) {
		/* a line on the client's terminal needs the CR a tty adds */
		(void)ssh_channel_write_stderr(ss->ch, msg, (uint32_t)strlen(msg));
		(void)ssh_channel_write_stderr(ss->ch, ss->pty ? "\r\n" : "\n", ss->pty ? 2 : 1);
	}
	(void)ssh_channel_request_send_exit_status(ss->ch, code);
	(void)ssh_channel_send_eof(ss->ch);
	(void)ssh_channel_close(ss->ch);
}

static void ch_close(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	ss->done = 1;
}

static unsigned winsize_clamp(int v, unsigned dflt)
{
	if (v <= 0)
		return dflt;
	return v > EXECPROTO_WINSIZE_MAX ? EXECPROTO_WINSIZE_MAX : (unsigned)v;
}

static int ch_pty(ssh_session s, ssh_channel ch, const char *term, int w, int h, int pw,
		  int ph, void *userdata)
{
	struct sess *ss = userdata;
	size_t n = strlen(term);
	int ok = n > 0 && n <= EXECPROTO_TERM_MAX;

	(void)s; (void)ch; (void)pw; (void)ph;
	if (ss->pty || ss->req != REQ_NONE)
		return -1;
	for (size_t i = 0; ok && i < n; i++)
		ok = term[i] > ' ' && term[i] < 0x7f;
	/* a TERM that cannot be passed on: the sandbox's default */
	snprintf(ss->term, sizeof(ss->term), "%s", ok ? term : "");
	ss->rows = winsize_clamp(h, EXECPROTO_DEFAULT_ROWS);
	ss->cols = winsize_clamp(w, EXECPROTO_DEFAULT_COLS);
	ss->pty = 1;
	return 0;
}

static int ch_winch(ssh_session s, ssh_channel ch, int w, int h, int pw, int ph,
		    void *userdata)
{
	struct sess *ss = userdata;

	(void)s; (void)ch; (void)pw; (void)ph;
	if (!ss->pty)
		return -1;
	ss->rows = winsize_clamp(h, ss->rows);
	ss->cols = winsize_clamp(w, ss->cols);
	ss->w_rows = ss->rows;
	ss->w_cols = ss->cols;
	ss->winch = ss->ctl >= 0;      /* before the start the request has it */
	return 0;
}

static void ch_signal(ssh_session s, ssh_channel ch, const char *name, void *userdata)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "TERM", SIGTERM }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
		{ "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
	};
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	if (ss->req == REQ_SFTP || ss->n_sigs >= (int)sizeof(ss->sigs))
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i].name) && execproto_signal_allowed(names[i].sig))
			ss->sigs[ss->n_sigs++] = (unsigned char)names[i].sig;
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
	if (ss->req != REQ_NONE || !*command || strlen(command) > EXECPROTO_COMMAND_MAX)
		return -1;
	ss->command = xstrdup(command);
	ss->req = REQ_EXEC;
	return 0;
}

static int ch_shell(ssh_session s, ssh_channel ch, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	if (ss->req != REQ_NONE)
		return -1;
	ss->command = xstrdup(SHELL_COMMAND);
	ss->req = REQ_SHELL;
	return 0;
}

static int ch_subsystem(ssh_session s, ssh_channel ch, const char *sub, void *userdata)
{
	struct sess *ss = userdata;

	(void)s;
	(void)ch;
	if (ss->req != REQ_NONE || strcmp(sub, "sftp"))
		return -1;
	ss->req = REQ_SFTP;
	return 0;
}

/* Queue one frame for init (the caller checked the room). */
static void out_frame(struct sess *ss, char type, const void *p, size_t len)
{
	execproto_header(ss->out + ss->out_len, type, (uint32_t)len);
	if (len)
		memcpy(ss->out + ss->out_len + EXECPROTO_HDR, p, len);
	ss->out_len += EXECPROTO_HDR + len;
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

	if (ss->wake_error[0]) {
		char msg[300];
		snprintf(msg, sizeof(msg), "mags: %s", ss->wake_error);
		finish(ss, 255, msg);
		return;
	}
	if (ss->gw->hooks.control)
		r = ss->gw->hooks.control(ss->key->job_id, path, sizeof(path), ss->gw->hooks.arg);
	else {
		sshgw_control_path(ss->gw->cfg, ss->key->job_id, path, sizeof(path));
		r = 0;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	if (r < 0 || strlen(path) >= sizeof(un.sun_path)) {
		finish(ss, 255, "mags: the sandbox is not reachable");
		return;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		if (fd >= 0)
			close(fd);
		finish(ss, 255, "mags: the sandbox is not reachable (is it running?)");
		return;
	}
	memset(&rq, 0, sizeof(rq));
	if (ss->req == REQ_SFTP) {
		rq.op = EXECPROTO_OP_SFTP;
	} else {
		rq.op = EXECPROTO_OP_EXEC;
		rq.command = ss->command;
		rq.env = ss->env;
		rq.n_env = ss->n_env;
		rq.cwd = (char *)EXECPROTO_DEFAULT_CWD;
		rq.stdin_stream = 1;
		if (ss->pty) {
			rq.tty = 1;
			rq.rows = ss->rows;
			rq.cols = ss->cols;
			rq.term = ss->term[0] ? ss->term : NULL;
		}
	}
	payload = execproto_request_encode(&rq, &plen);
	execproto_header(hdr, EXECPROTO_REQUEST, (uint32_t)plen);
	if (write_full(fd, hdr, sizeof(hdr)) < 0 || write_full(fd, payload, plen) < 0) {
		free(payload);
		close(fd);
		finish(ss, 255, "mags: the sandbox did not take the command");
		return;
	}
	free(payload);
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	ss->ctl = fd;
	ss->out = xmalloc(OUT_CAP);
	report(ss, "busy");
}

/* Write all of p to the channel. Blocking: libssh waits for the client's
 * window by polling the session (callbacks may run, they only set
 * flags); meanwhile init is not read, which is the back-pressure. */
static void ch_write(struct sess *ss, const char *p, size_t len, int is_stderr)
{
	while (len && !ss->done) {
		int n = is_stderr ? ssh_channel_write_stderr(ss->ch, p, (uint32_t)len)
				  : ssh_channel_write(ss->ch, p, (uint32_t)len);
		if (n == SSH_ERROR || !ssh_channel_is_open(ss->ch)) {
			ss->done = 1;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Frames from init (raw bytes once sftp runs): to the channel. Called
 * from the child's own poll loop, never from inside libssh's. */
static void ctl_read(struct sess *ss)
{
	ssize_t n;

	if (ss->fr_cap - ss->fr_len < 65536) {
		ss->fr_cap = ss->fr_len + 65536 + EXECPROTO_HDR;
		ss->fr = xrealloc(ss->fr, ss->fr_cap);
	}
	n = read(ss->ctl, ss->fr + ss->fr_len, ss->fr_cap - ss->fr_len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (ss->raw)
			finish(ss, 0, NULL);          /* the sftp server ended */
		else
			finish(ss, 255, "mags: the connection to the sandbox broke");
		return;
	}
	ss->fr_len += (size_t)n;
	report(ss, "activity");
	while (ss->fr_len && !ss->done) {
		char type;
		uint32_t len;
		int r;

		if (ss->raw) {
			ch_write(ss, (char *)ss->fr, ss->fr_len, 0);
			ss->fr_len = 0;
			return;
		}
		r = execproto_peek(ss->fr, ss->fr_len, EXECPROTO_FRAME_MAX, &type, &len);
		if (r < 0) {
			finish(ss, 255, "mags: bad answer from the sandbox");
			return;
		}
		if (r == 0 || ss->fr_len < EXECPROTO_HDR + len) {
			if (r == 1 && ss->fr_cap < EXECPROTO_HDR + len) {
				ss->fr_cap = EXECPROTO_HDR + len;
				ss->fr = xrealloc(ss->fr, ss->fr_cap);
			}
			return;
		}
		char *p = (char *)ss->fr + EXECPROTO_HDR;
		if (type == EXECPROTO_STDOUT && ss->req != REQ_SFTP) {
			ch_write(ss, p, len, 0);
		} else if (type == EXECPROTO_STDERR && ss->req != REQ_SFTP) {
			ch_write(ss, p, len, 1);
		} else if (type == EXECPROTO_EXIT && ss->req != REQ_SFTP) {
			int code = 255, to = 0;
			(void)execproto_exit_parse(p, len, &code, &to);
			finish(ss, code, NULL);
			return;
		} else if (type == EXECPROTO_REPLY && ss->req == REQ_SFTP) {
			ss->raw = 1;           /* what follows is SFTP */
		} else if (type == EXECPROTO_ERROR) {
			char msg[600];
			snprintf(msg, sizeof(msg), "mags: %.*s", (int)(len > 500 ? 500 : len), p);
			finish(ss, ss->req == REQ_SFTP ? 1 : 125, msg);
			return;
		} else {
			finish(ss, 255, "mags: bad answer from the sandbox");
			return;
		}
		memmove(ss->fr, ss->fr + EXECPROTO_HDR + len, ss->fr_len - EXECPROTO_HDR - len);
		ss->fr_len -= EXECPROTO_HDR + len;
	}
}

/* The client's side to init: window size and signals first, then what
 * the channel holds while there is room, then its EOF. Data beyond the
 * room stays in libssh, which reopens the client's window only as it is
 * read. */
static void pump_input(struct sess *ss)
{
	unsigned char tmp[EXECPROTO_INPUT_MAX];

	if (ss->req == REQ_SFTP && !ss->raw)
		return;                    /* nothing goes before init's yes */
	if (ss->winch && ss->out_len + 16 <= OUT_CAP) {
		unsigned char w[4];
		execproto_winsize_encode(w, ss->w_rows, ss->w_cols);
		out_frame(ss, EXECPROTO_WINSIZE, w, sizeof(w));
		ss->winch = 0;
	}
	while (ss->n_sigs && ss->out_len + 16 <= OUT_CAP) {
		out_frame(ss, EXECPROTO_SIGNAL, &ss->sigs[0], 1);
		memmove(ss->sigs, ss->sigs + 1, (size_t)--ss->n_sigs);
	}
	while (!ss->in_eof && !ss->done && ss->out_len < SSHGW_INPUT_MAX) {
		size_t room = SSHGW_INPUT_MAX - ss->out_len;
		int n = ssh_channel_read_nonblocking(ss->ch, tmp,
						     (uint32_t)(room < sizeof(tmp) ? room : sizeof(tmp)),
						     0);
		if (n > 0) {
			if (ss->raw) {
				memcpy(ss->out + ss->out_len, tmp, (size_t)n);
				ss->out_len += (size_t)n;
			} else {
				out_frame(ss, EXECPROTO_INPUT, tmp, (size_t)n);
			}
			report(ss, "activity");
			continue;
		}
		if (n == SSH_ERROR) {
			ss->done = 1;
			return;
		}
		if (n == SSH_EOF || ssh_channel_is_eof(ss->ch)) {
			ss->in_eof = 1;
			if (!ss->raw)
				out_frame(ss, EXECPROTO_INPUT, NULL, 0);
			else if (!ss->out_len)
				(void)shutdown(ss->ctl, SHUT_WR);
		}
		return;
	}
}

static void ctl_write(struct sess *ss)
{
	ssize_t n = write(ss->ctl, ss->out, ss->out_len);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* init went away: what it sent before still gets read */
		ss->out_len = 0;
		return;
	}
	memmove(ss->out, ss->out + n, ss->out_len - (size_t)n);
	ss->out_len -= (size_t)n;
	if (!ss->out_len && ss->raw && ss->in_eof)
		(void)shutdown(ss->ctl, SHUT_WR);
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
	/* keep the client socket (3) and the socket to magsd (4) only: no
	 * listener of magsd may outlive it in a session */
	if (cfd != 3 && dup2(cfd, 3) < 0)
		_exit(1);
	if (rfd != 4 && dup2(rfd, 4) < 0)
		_exit(1);
	if (syscall(SYS_close_range, 5U, ~0U, 0U) < 0)
		for (int fd = 5; fd < 4096; fd++)
			close(fd);
	(void)fcntl(3, F_SETFL, 0);
	(void)fcntl(4, F_SETFL, 0);
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
	/* no data callback: the client's data stays in libssh until
	 * pump_input reads it, so the window is the back-pressure */
	struct ssh_channel_callbacks_struct ccb = {
		.userdata = &ss,
		.channel_close_function = ch_close,
		.channel_signal_function = ch_signal,
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

	/* authentication (and the wake) and the session channel */
	while (!ss.key || !ss.ch) {
		if (ssh_event_dopoll(ss.ev, 100) == SSH_ERROR || !ssh_is_connected(ss.s))
			_exit(0);
	}
	ssh_set_channel_callbacks(ss.ch, &ccb);
	alarm(0);

	/* the request: exec, shell or sftp (after env and pty-req) */
	deadline = time_mono_ms() + SSHGW_AUTH_TIMEOUT_S * 1000;
	while (!ss.done && ss.req == REQ_NONE && time_mono_ms() < deadline)
		if (ssh_event_dopoll(ss.ev, 100) == SSH_ERROR || !ssh_is_connected(ss.s))
			_exit(0);
	if (!ss.done && ss.req != REQ_NONE)
		start_exec(&ss);
	while (!ss.done && ss.ctl >= 0 && ssh_is_connected(ss.s)) {
		pump_input(&ss);
		struct pollfd pf[2] = {
			{ .fd = ssh_get_fd(ss.s), .events = POLLIN },
			{ .fd = ss.ctl, .events = POLLIN | (ss.out_len ? POLLOUT : 0) },
		};
		if (poll(pf, 2, 100) < 0 && errno != EINTR)
			break;
		/* always: libssh may hold packets it read while writing */
		if (ssh_event_dopoll(ss.ev, 0) == SSH_ERROR)
			break;
		if (!ss.done && (pf[1].revents & POLLOUT))
			ctl_write(&ss);
		if (!ss.done && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			ctl_read(&ss);
	}
	if (ss.ctl >= 0) {
		close(ss.ctl);             /* init kills what still runs */
		report(&ss, "idle");
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

static void woken(void *arg, int r, const char *msg);

static void child_gone(struct gwchild *ch)
{
	struct sshgw *gw = ch->gw;
	struct gwchild **pp = &gw->children;

	while (*pp && *pp != ch)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ch->next;
	gw->n_children--;
	if (ch->waking && gw->hooks.wake_cancel)
		gw->hooks.wake_cancel(ch->job_id, woken, ch, gw->hooks.arg);
	if (ch->busy && gw->hooks.busy)
		gw->hooks.busy(ch->job_id, 0, gw->hooks.arg);
	loop_remove(gw->loop, ch->w);
	close(ch->fd);
	free(ch);
}

/* A short line to the child; nothing else waits in its socket, so this
 * does not block. */
static void child_say(struct gwchild *ch, const char *what, const char *msg)
{
	char line[300];
	int n = snprintf(line, sizeof(line), "%s%s%.200s\n", what, msg ? " " : "",
			 msg ? msg : "");

	for (char *p = line; p < line + n - 1; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	(void)!write(ch->fd, line, (size_t)n);
}

static void woken(void *arg, int r, const char *msg)
{
	struct gwchild *ch = arg;

	ch->waking = 0;
	if (r == 0)
		child_say(ch, "ok", NULL);
	else if (r == -ESRCH || r == -ENOENT) {
		/* ended without the end hook (stopped while asleep) */
		sshgw_job_ended(ch->gw, ch->job_id);
		child_say(ch, "gone", NULL);
	}
	else
		child_say(ch, "err", msg && *msg ? msg : "the sandbox could not be woken");
}

/* One line from a child: "VERB JOB". */
static void child_line(struct gwchild *ch, const char *verb, const char *job_id)
{
	const struct sshgw_hooks *h = &ch->gw->hooks;

	if (strlen(job_id) >= sizeof(ch->job_id) || (ch->job_id[0] && strcmp(ch->job_id, job_id)))
		return;                     /* one job per session */
	snprintf(ch->job_id, sizeof(ch->job_id), "%s", job_id);
	if (!strcmp(verb, "wake")) {
		if (ch->waking)
			return;
		int r = h->wake ? h->wake(job_id, woken, ch, h->arg) : 1;
		if (r == 0)
			ch->waking = 1;
		else
			woken(ch, r > 0 ? 0 : r,
			      r == -EAGAIN ? "the server is shutting down" : NULL);
	} else if (!strcmp(verb, "busy") || !strcmp(verb, "idle")) {
		int begin = verb[0] == 'b';
		if (begin != ch->busy && h->busy)
			h->busy(job_id, begin, h->arg);
		ch->busy = begin;
	} else if (h->activity) {
		h->activity(job_id, h->arg);       /* auth, activity */
	}
}

static void on_child(int fd, uint32_t events, void *arg)
{
	struct gwchild *ch = arg;
	ssize_t n;

	(void)events;
	n = read(fd, ch->line + ch->len, sizeof(ch->line) - 1 - ch->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
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
		char *sp = strchr(ch->line, ' ');
		if (sp) {
			*sp = '\0';
			child_line(ch, ch->line, sp + 1);
		}
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
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) < 0) {
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

void sshgw_set_hooks(struct sshgw *gw, const struct sshgw_hooks *hooks)
{
	gw->hooks = *hooks;
}

int sshgw_port(const struct sshgw *gw)
{
	return gw->port;
}

int sshgw_session_count(const struct sshgw *gw)
{
	return gw->n_children;
}
