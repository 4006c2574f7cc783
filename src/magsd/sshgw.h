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
 * The child keeps only the client socket and a pipe to magsd (its end
 * tells magsd the session is over; lines on it report activity). It
 * authenticates against the key table it inherited at fork (the table is
 * current at accept time), and runs commands through the job's control
 * socket with the exec protocol (src/common/execproto.h).
 *
 * What works today: exec with exit status (`ssh host 'cmd'`), stdin up
 * to EXECPROTO_STDIN_MAX when the client sends EOF within
 * SSHGW_STDIN_WAIT_MS (`ssh host cmd < file`). A shell or an interactive
 * stdin needs the runtime's exec protocol to stream stdin and allocate a
 * PTY (docs/ARCHITECTURE.md); scp (which talks over stdin) and sftp need
 * the same.
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
#define SSHGW_STDIN_WAIT_MS 300
#define SSHGW_AUTH_TIMEOUT_S 30

struct sshgw;

/* The control socket of a live job's sandbox: 0 and path filled, or
 * -ENOENT. Set by the lifecycle code; the default is
 * sshgw_control_path(). */
typedef int (*sshgw_control_fn)(const char *job_id, char *path, size_t n, void *arg);
/* A session reached the job (auth) and, at most every 10 s, saw traffic. */
typedef void (*sshgw_activity_fn)(const char *job_id, void *arg);

/* Load (or create, mode 0600) the host key, listen on cfg->ssh_listen and
 * watch the listener on loop; the store's live keys are loaded. NULL with
 * err set on failure. */
struct sshgw *sshgw_new(const struct config *cfg, struct store *st, struct loop *loop,
			struct mags_err *err);
/* Stop listening; live sessions (children) go on until they end. NULL-safe. */
void sshgw_free(struct sshgw *gw);

void sshgw_set_hooks(struct sshgw *gw, sshgw_control_fn control,
		     sshgw_activity_fn activity, void *arg);

int sshgw_port(const struct sshgw *gw);

/* "<data_dir>/run/<job_id>.sock": where magsd asks the runtime to put a
 * job's control socket (mags-runtime --control). */
void sshgw_control_path(const struct config *cfg, const char *job_id, char *path, size_t n);

/* A new key pair for the job: 0 and *private_key (OpenSSH PEM text,
 * malloc'd) set, or negative errno with err. */
int sshgw_key_issue(struct sshgw *gw, const char *job_id, const char *user_id,
		    char **private_key, struct mags_err *err);

/* The job's sandbox ended: its keys stop working. */
void sshgw_job_ended(struct sshgw *gw, const char *job_id);

int sshgw_session_count(const struct sshgw *gw);

#endif
