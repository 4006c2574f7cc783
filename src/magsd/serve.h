/*
 * serve.h - `magsd serve`: the daemon. Wires the store, supervisor, log
 * followers and HTTP server onto one epoll loop and runs it until SIGTERM
 * or SIGINT, then shuts down gracefully (stop accepting, stop every
 * sandbox and wait for it, end the log streams, close the database).
 */
#ifndef MAGS_MAGSD_SERVE_H
#define MAGS_MAGSD_SERVE_H

#include "magsd/config.h"
#include "magsd/logs.h"
#include "magsd/loop.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"

struct MHD_Daemon;
struct workspaces;

/* What the API handlers reach through their request. */
struct server {
	struct config *cfg;
	struct store *store;
	struct loop *loop;
	struct supervisor *sv;
	struct logs *logs;
	struct MHD_Daemon *mhd;
	struct workspaces *ws;
	int64_t next_file_expiry;   /* monotonic ms */
	int stopping;
	struct scheduler *sched;    /* cron firing (scheduler.h) */
	struct proxy *proxy;        /* public URLs (proxy.h), NULL if off */
	struct sshgw *sshgw;        /* SSH gateway (sshgw.h), NULL if off */
	struct lifecycle *lc;       /* sleep, wake, always-on (lifecycle.h) */
};

/* argv: the arguments after "serve" (--data-dir already taken out). */
int cmd_serve(int argc, char **argv, const char *data_dir);

#endif
