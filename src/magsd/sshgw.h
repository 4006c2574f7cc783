/*
 * sshgw.h - the SSH gateway (DESIGN §5): one port for every sandbox,
 * served with libssh. POST /mags-jobs/{id}/access {"port": 22} issues a
 * fresh ed25519 key pair for the job (sshgw_key_issue): the public half is
 * kept (store access_keys, and in memory), the private half is returned
 * once and never stored. Every call issues a new key; a job keeps its
 * SSHGW_KEYS_PER_JOB newest, and keys die with the job. The key alone
 * names the job: `ssh -i key -p PORT root@HOST` lands in that job's
 * sandbox; any other key, or a user other than root, is refused.
 *
 * Process model: the listener is on magsd's loop (non-blocking accept);
 * each accepted connection is served by a forked child that runs libssh
 * in blocking mode with its own small poll loop (ssh_event). libssh 0.10
 * drives the key exchange and authentication from its own poll loop and
 * offers no way to learn that it has output pending (nothing to map onto
 * EPOLLOUT), so a child per session keeps every libssh call out of the
 * daemon's loop; it also keeps a crash in SSH parsing out of the daemon.
 * The child keeps only the client socket and a socket to magsd, which
 * carries short lines: child -> magsd "auth|activity|wake|busy|idle JOB",
 * magsd -> child the answer to "wake": "ok", "gone" or "err MESSAGE". It
 * authenticates against the key table it inherited at fork (the table is
 * current at accept time), and runs commands through the job's control
 * socket with the exec protocol (src/common/execproto.h).
 *
 * Login: a valid signature makes the child ask magsd to wake the job
 * (hooks.wake, lifecycle_wake) and wait for it; a job that has ended is
 * refused there, so a key outlives a sleep but not the job. Then one
 * session channel: `exec` runs the command with stdin streamed ('I'
 * frames, channel EOF = an empty 'I'), on a tty if a pty was asked for;
 * `shell` runs a login shell (bash if the sandbox has it, else sh) the
 * same way; `pty-req` gives the tty's TERM and size, `window-change`
 * becomes a 'W' frame, `signal` a 'K' frame; the 'X' exit code becomes
 * the exit-status. `subsystem sftp` asks init for {"op": "sftp"} and
 * relays raw bytes both ways (scp in OpenSSH 9 uses SFTP). While a
 * command or sftp runs, the session is "busy" (hooks.busy: an exec in
 * flight, so the sandbox does not fall asleep under an idle shell).
 * Buffers are bounded both ways: at most SSHGW_INPUT_MAX bytes of the
 * client's data wait for init (beyond that libssh keeps the rest and the
 * client's window is not reopened); output is written to the channel
 * before init is read again.
 */
#ifndef MAGS_MAGSD_SSHGW_H
#define MAGS_MAGSD_SSHGW_H

#include <stddef.h>

#include "common/err.h"
#include "magsd/config.h"
#include "magsd/job.h"
#include "magsd/loop.h"
#include "magsd/store.h"

#define SSHGW_KEYS_PER_JOB 16
#define SSHGW_AUTH_TIMEOUT_S 30
#define SSHGW_WAKE_WAIT_MS 75000          /* > LIFECYCLE_WAKE_MAX_MS */
#define SSHGW_INPUT_MAX (256u * 1024)     /* client data waiting for init */

struct sshgw;

/* The control socket of a live job's sandbox: 0 and path filled, or
 * -ENOENT. The default is sshgw_control_path(). */
typedef int (*sshgw_control_fn)(const char *job_id, char *path, size_t n, void *arg);
/* A session reached the job (auth) and, at most every 10 s, saw traffic. */
typedef void (*sshgw_activity_fn)(const char *job_id, void *arg);
/* A session's command (shell, exec, sftp) started (begin 1) or ended (0). */
typedef void (*sshgw_busy_fn)(const char *job_id, int begin, void *arg);
/* The answer to a wake: r == 0 the sandbox is up, r < 0 not (msg why). */
typedef void (*sshgw_woken_fn)(void *cbarg, int r, const char *msg);
/* Make sure the job has a live sandbox, as lifecycle_wake: 1 it has one,
 * 0 woken will be called, -ESRCH/-ENOENT the job has ended, other < 0 a
 * failure. wake_cancel forgets a pending woken call. */
typedef int (*sshgw_wake_fn)(const char *job_id, sshgw_woken_fn woken, void *cbarg,
			     void *arg);
typedef void (*sshgw_wake_cancel_fn)(const char *job_id, sshgw_woken_fn woken, void *cbarg,
				     void *arg);

/* All optional (NULL: the default path, no reports, no wake). */
struct sshgw_hooks {
	sshgw_control_fn control;
	sshgw_activity_fn activity;
	sshgw_busy_fn busy;
	sshgw_wake_fn wake;
	sshgw_wake_cancel_fn wake_cancel;
	void *arg;
};

/* Load (or create, mode 0600) the host key, listen on cfg->ssh_listen and
 * watch the listener on loop; the store's live keys are loaded. NULL with
 * err set on failure. */
struct sshgw *sshgw_new(const struct config *cfg, struct store *st, struct loop *loop,
			struct mags_err *err);
/* Stop listening; live sessions (children) go on until they end. NULL-safe. */
void sshgw_free(struct sshgw *gw);

void sshgw_set_hooks(struct sshgw *gw, const struct sshgw_hooks *hooks);

int sshgw_port(const struct sshgw *gw);

/* "<data_dir>/run/<job_id>.sock": where magsd asks the runtime to put a
 * job's control socket (mags-runtime --control). */
void sshgw_control_path(const struct config *cfg, const char *job_id, char *path, size_t n);

/* A new key pair for the job: 0 and *private_key (OpenSSH PEM text,
 * malloc'd) set, or negative errno with err. */
int sshgw_key_issue(struct sshgw *gw, const char *job_id, const char *user_id,
		    char **private_key, struct mags_err *err);

/* The job ended for good (not a sleep): its keys stop working. */
void sshgw_job_ended(struct sshgw *gw, const char *job_id);

int sshgw_session_count(const struct sshgw *gw);

#endif
