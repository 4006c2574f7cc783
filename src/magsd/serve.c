/*
 * serve.c - the daemon's main loop (see serve.h).
 *
 * Every iteration: wait on epoll for at most the nearest deadline (MHD's
 * own timeout, 10 ms while a log follower waits, a runtime's kill
 * deadline), run the callbacks (signals, status pipes), resume followers
 * whose log grew, then let MHD do its work. MHD_run is called on every
 * iteration, so connections resumed in this round are served in it.
 */
#include "magsd/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/netcfg.h"
#include "common/util.h"
#include "magsd/api.h"
#include "magsd/http.h"
#include "magsd/image.h"
#include "magsd/lifecycle.h"
#include "magsd/reattach.h"
#include "magsd/files.h"
#include "magsd/log.h"
#include "magsd/network.h"
#include "magsd/proxy.h"
#include "magsd/sshgw.h"
#include "magsd/scheduler.h"
#include "magsd/task.h"
#include "magsd/workspace.h"
#include "common/banned.h"

#define SHUTDOWN_MAX_MS 30000
#define DRAIN_MAX_MS 3000

static void usage(void)
{
	fprintf(stderr,
		"usage: magsd serve [--data-dir DIR] [--listen HOST:PORT] [--image NAME]\n"
		"                   [--job-timeout SEC] [--memory-mb N] [--cpus N] [--pids N]\n"
		"                   [--log-limit BYTES] [--max-jobs N] [--max-body BYTES]\n");
}

static char *runtime_path(void)
{
	const char *e = getenv("MAGS_RUNTIME");
	char exe[PATH_MAX];
	ssize_t n;

	if (e && *e)
		return xstrdup(e);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("mags-runtime");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return xasprintf("%s/mags-runtime", exe);
}

struct serve_state {
	struct server srv;
	int sigfd;
	int64_t shutdown_deadline;
	int64_t drain_deadline;
};

static void begin_shutdown(struct serve_state *ss, const char *why)
{
	struct server *srv = &ss->srv;
	int lfd;

	if (srv->stopping) {
		log_warn("%s again: killing the remaining sandboxes", why);
		supervisor_kill_all(srv->sv);
		return;
	}
	srv->stopping = 1;
	log_info("%s: shutting down (stopping %d sandbox%s)", why,
		 supervisor_live_count(srv->sv),
		 supervisor_live_count(srv->sv) == 1 ? "" : "es");
	lfd = MHD_quiesce_daemon(srv->mhd);
	if (lfd >= 0)
		close(lfd);
	workspace_shutdown(srv->ws);
	supervisor_shutdown(srv->sv);
	ss->shutdown_deadline = time_mono_ms() + SHUTDOWN_MAX_MS;
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct serve_state *ss = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			supervisor_reap(ss->srv.sv);
		else if (si.ssi_signo == SIGTERM)
			begin_shutdown(ss, "SIGTERM");
		else if (si.ssi_signo == SIGINT)
			begin_shutdown(ss, "SIGINT");
	}
	/* signals coalesce: reap whatever exited even without a fresh SIGCHLD */
	supervisor_reap(ss->srv.sv);
}

/* a followed job log grew: its followers send it now */
static void on_log_growth(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	logs_on_watch(arg);
}

static void on_mhd(int fd, uint32_t events, void *arg)
{
	/* MHD_run follows every loop round */
	(void)fd;
	(void)events;
	(void)arg;
}

static void on_job_change(const char *job_id, void *arg)
{
	struct server *srv = arg;

	logs_wake(srv->logs, job_id);
}

static int proxy_job_state(const char *job_id, void *arg);

static void on_job_end(const char *job_id, void *arg)
{
	struct server *srv = arg;

	workspace_job_ended(srv->ws, job_id);
	lifecycle_on_end(srv, job_id);
	if (srv->proxy)   /* off when its port was taken */
		proxy_job_ended(srv->proxy, job_id);
	/* SSH keys outlive a sleep (a login wakes the sandbox), not the job */
	if (srv->sshgw && proxy_job_state(job_id, srv) != PROXY_JOB_SLEEPING)
		sshgw_job_ended(srv->sshgw, job_id);
}

static void on_job_event(const char *job_id, const char *line, void *arg)
{
	lifecycle_on_event(arg, job_id, line);
}

static void on_job_detach(const char *job_id, void *arg)
{
	lifecycle_on_detach(arg, job_id);
}

static int job_output_live(const char *job_id, void *arg)
{
	return lifecycle_output_live(arg, job_id);
}

/* The proxy's view of a job: running and with a live sandbox, or asleep. */
static int proxy_job_state(const char *job_id, void *arg)
{
	struct server *srv = arg;
	struct job j;
	int st = PROXY_JOB_GONE;

	memset(&j, 0, sizeof(j));
	if (store_job_get(srv->store, job_id, NULL, &j) < 0)
		return PROXY_JOB_GONE;
	if (!strcmp(j.status, "running") && supervisor_is_live(srv->sv, job_id))
		st = PROXY_JOB_RUNNING;
	else if (!strcmp(j.status, "sleeping"))
		st = PROXY_JOB_SLEEPING;
	job_release(&j);
	return st;
}

/* Where the proxy connects: the sandbox's own address (its veth). */
static int proxy_job_addr(const char *job_id, char *ip, size_t n, void *arg)
{
	struct server *srv = arg;

	return supervisor_job_ip(srv->sv, job_id, ip, n);
}

static void proxy_job_activity(const char *job_id, void *arg)
{
	lifecycle_touch(arg, job_id);
}

static void proxy_woken(void *arg, int r, const char *msg)
{
	(void)arg;
	(void)r;
	(void)msg;
}

/* A request for a sleeping job: wake it (the proxy retries its connect). */
static int proxy_job_wake(const char *job_id, void *arg)
{
	return lifecycle_wake(arg, job_id, proxy_woken, NULL) < 0 ? -1 : 0;
}

static void ssh_job_busy(const char *job_id, int begin, void *arg)
{
	if (begin)
		lifecycle_exec_begin(arg, job_id);
	else
		lifecycle_exec_end(arg, job_id);
}

static int ssh_job_wake(const char *job_id, sshgw_woken_fn cb, void *cbarg, void *arg)
{
	return lifecycle_wake(arg, job_id, cb, cbarg);
}

static void ssh_job_wake_cancel(const char *job_id, sshgw_woken_fn cb, void *cbarg, void *arg)
{
	lifecycle_wake_cancel(arg, job_id, cb, cbarg);
}

/* The URL proxy and the SSH gateway (issue 5). A port that cannot be
 * bound is a warning, not a failure: the API still serves, and /access
 * answers 503 for what is missing. */
static void start_edges(struct server *srv)
{
	struct config *cfg = srv->cfg;
	struct mags_err err;

	if (strcmp(cfg->proxy_listen, "off")) {
		err_clear(&err);
		srv->proxy = proxy_new(cfg, srv->store, srv->loop, &err);
		if (!srv->proxy) {
			log_warn("%s: public URLs are off", err.msg);
		} else {
			struct proxy_hooks h = { .state = proxy_job_state, .arg = srv,
						 .addr = proxy_job_addr,
						 .activity = proxy_job_activity,
						 .wake = proxy_job_wake };
			proxy_set_hooks(srv->proxy, &h);
			log_info("proxy on port %d for http://<sub>.%s:%d/", proxy_port(srv->proxy),
				 cfg->url_domain, proxy_port(srv->proxy));
		}
	}
	if (strcmp(cfg->ssh_listen, "off")) {
		err_clear(&err);
		srv->sshgw = sshgw_new(cfg, srv->store, srv->loop, &err);
		if (!srv->sshgw) {
			log_warn("%s: SSH access is off", err.msg);
		} else {
			/* an SSH session is activity, its command an exec in
			 * flight (no sleep under it); a login wakes the sandbox */
			struct sshgw_hooks h = { .activity = proxy_job_activity, .busy = ssh_job_busy,
						 .wake = ssh_job_wake, .wake_cancel = ssh_job_wake_cancel,
						 .arg = srv };
			sshgw_set_hooks(srv->sshgw, &h);
			log_info("SSH gateway on port %d", sshgw_port(srv->sshgw));
		}
	}
}

/* The sandbox network (issue 5): the host's firewall first, then nat for
 * the jobs. A host where it cannot be set up (no nft, no nf_tables) still
 * runs jobs, with loopback only. The table is not removed at shutdown: it
 * only judges mg* traffic, other daemons' sandboxes may rely on it, and
 * removing it while another runtime builds a link would leave that link
 * unfiltered. */
static void start_network(struct server *srv, const char *runtime)
{
	struct mags_err err;

	if (!strcmp(srv->cfg->network, "none")) {
		log_info("sandbox network off (network = none): jobs get loopback only");
		return;
	}
	/* first: the forwarder decides the runtimes' resolv.conf (netfw.c) */
	network_dns_start(srv->cfg, srv->loop);
	err_clear(&err);
	if (network_setup(runtime, &err) < 0) {
		log_warn("sandbox network unavailable, jobs get loopback only: %s", err.msg);
		return;
	}
	supervisor_set_nat(srv->sv, 1);
	log_info("sandbox network: nat (" NETCFG_POOL_CIDR ")");
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int parse_flags(struct config *cfg, int argc, char **argv, struct mags_err *err)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val;
		char key[64];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage();
			exit(0);
		}
		if (strncmp(a, "--", 2))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "unexpected argument '%s'", a);
		const char *eq = strchr(a, '=');
		if (eq) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - a - 2), a + 2);
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "option '%s' needs a value", a);
			snprintf(key, sizeof(key), "%s", a + 2);
			val = argv[++i];
		}
		int r = config_set(cfg, key, val, err);
		if (r < 0) {
			err_wrap(err, "option '--%s'", key);
			return r;
		}
	}
	return 0;
}

/*
 * Every live sandbox holds fds here (status pipe, pidfd, exec sockets), so
 * do proxied and SSH connections: a soft limit of 1024 (systemd's default)
 * would stop well short of max_jobs = 1000. Raise the soft limit to what
 * the settings can use, within the hard limit.
 */
static void raise_fd_limit(const struct config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_jobs * 8 + (rlim_t)cfg->proxy_max_conns * 2 +
		      (rlim_t)cfg->ssh_max_sessions * 2 + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warn("open file limit %llu is below the %llu the settings may use "
			 "(max_jobs %d): raise it (LimitNOFILE=)",
			 (unsigned long long)rl.rlim_max, (unsigned long long)want, cfg->max_jobs);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("raise the open file limit to %llu: %s", (unsigned long long)want,
			 strerror(errno));
}

static int setup(struct serve_state *ss, struct mags_err *err)
{
	struct server *srv = &ss->srv;
	struct config *cfg = srv->cfg;
	_cleanup_free_ char *db = xasprintf("%s/mags.db", cfg->data_dir);
	_cleanup_free_ char *jobs = xasprintf("%s/jobs", cfg->data_dir);
	_cleanup_free_ char *run = xasprintf("%s/run", cfg->data_dir);
	_cleanup_free_ char *runtime = runtime_path();
	_cleanup_free_ char *rootfs = NULL;
	const char *used;
	sigset_t mask;
	int r;

	raise_fd_limit(cfg);
	if ((r = mkdir_p(cfg->data_dir, 0755)) < 0 || (r = mkdir_p(jobs, 0700)) < 0 ||
	    (r = mkdir_p(run, 0700)) < 0)
		return err_sys(err, -r, "create data directory '%s'", cfg->data_dir);
	/* the runtime gets absolute paths whatever our working directory */
	char *abs = realpath(cfg->data_dir, NULL);
	if (!abs)
		return err_sys(err, errno, "data directory '%s'", cfg->data_dir);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", abs);
	free(abs);
	if ((r = store_open(db, &srv->store, err)) < 0)
		return r;
	/* jobs a previous daemon left unfinished: reattach_all, below */

	if (!image_name_valid(cfg->image))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "bad image name '%s'", cfg->image);
	if (access(runtime, X_OK) < 0)
		log_warn("sandbox runtime '%s' is not executable: jobs will fail (set MAGS_RUNTIME?)",
			 runtime);
	rootfs = supervisor_image_rootfs(cfg->data_dir, cfg->image, &used);
	if (!rootfs)
		log_warn("image '%s' is not built: jobs will fail until 'magsd image build %s'",
			 cfg->image, cfg->image);
	else if (strcmp(used, cfg->image))
		log_warn("image '%s' is not built, using '%s' instead", cfg->image, used);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return err_sys(err, errno, "block signals");
	signal(SIGPIPE, SIG_IGN);
	ss->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ss->sigfd < 0)
		return err_sys(err, errno, "signalfd");

	srv->loop = loop_new();
	if (!srv->loop)
		return err_sys(err, errno, "epoll");
	srv->sv = supervisor_new(cfg, srv->store, srv->loop, runtime, cfg->image);
	start_network(srv, runtime);
	srv->logs = logs_new(cfg->data_dir, srv->store, srv->sv);
	supervisor_on_change(srv->sv, on_job_change, srv);
	srv->ws = workspaces_new(srv);
	supervisor_on_end(srv->sv, on_job_end, srv);
	/* long-lived sandboxes (issue 4): sleep/wake, and the ones a previous
	 * daemon left running are taken back before anything else runs */
	srv->lc = lifecycle_new(srv);
	supervisor_on_event(srv->sv, on_job_event, srv);
	supervisor_on_detach(srv->sv, on_job_detach, srv);
	logs_set_live(srv->logs, job_output_live, srv);
	if (logs_watch_fd(srv->logs) >= 0 &&
	    !loop_add(srv->loop, logs_watch_fd(srv->logs), EPOLLIN, on_log_growth, srv->logs))
		return err_sys(err, errno, "watch job logs");
	reattach_all(srv);
	if (!loop_add(srv->loop, ss->sigfd, EPOLLIN, on_signal, ss))
		return err_sys(err, errno, "watch signals");

	srv->sched = scheduler_new(srv, err);
	if (!srv->sched)
		return -EIO;

	start_edges(srv);

	srv->mhd = http_start(srv, cfg->listen, err);
	if (!srv->mhd)
		return -EADDRINUSE;
	if (!loop_add(srv->loop, http_epoll_fd(srv->mhd), EPOLLIN, on_mhd, NULL))
		return err_sys(err, errno, "watch HTTP server");

	char host[256];
	const char *colon = strrchr(cfg->listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
	log_info("listening on %s:%d (data %s, image '%s', runtime %s)", host,
		 http_port(srv->mhd), cfg->data_dir, cfg->image, runtime);
	return 0;
}

static void run(struct serve_state *ss)
{
	struct server *srv = &ss->srv;

	for (;;) {
		int64_t now = time_mono_ms();
		MHD_UNSIGNED_LONG_LONG mt;
		int t = -1;

		if (MHD_get_timeout(srv->mhd, &mt) == MHD_YES)
			t = mt > INT_MAX ? INT_MAX : (int)mt;
		t = min_timeout(t, logs_next_timeout(srv->logs, now));
		t = min_timeout(t, supervisor_next_timeout(srv->sv, now));
		t = min_timeout(t, workspace_next_timeout(srv->ws, now));
		t = min_timeout(t, proxy_next_timeout(srv->proxy, now));
		t = min_timeout(t, lifecycle_next_timeout(srv->lc, now));
		t = min_timeout(t, api_exec_next_timeout(now));
		if (srv->stopping)
			t = min_timeout(t, 50);
		int r = loop_run_once(srv->loop, t);
		if (r < 0) {
			log_warn("epoll: %s", strerror(-r));
			begin_shutdown(ss, "event loop failure");
		}
		now = time_mono_ms();
		logs_tick(srv->logs, now);
		supervisor_tick(srv->sv, now);
		workspace_tick(srv->ws, now);
		proxy_tick(srv->proxy, now);
		lifecycle_tick(srv->lc, now);
		api_exec_tick(srv, now);
		if (now >= srv->next_file_expiry) {
			files_expire(srv);
			/* every minute, or twice per file_ttl when that is shorter */
			srv->next_file_expiry = now + (srv->cfg->file_ttl < 120 ?
						       (int64_t)srv->cfg->file_ttl * 500 : 60000);
		}
		MHD_run(srv->mhd);
		/* After MHD: a job's end event or response goes out before
		 * this loop turn spawns pool members (a vfork and an exec). */
		supervisor_pool_tick(srv->sv, time_mono_ms());

		if (!srv->stopping)
			continue;
		/* final syncs of the stopped sandboxes run to their end */
		if (supervisor_live_count(srv->sv) == 0 && task_count() == 0) {
			if (!ss->drain_deadline) {
				ss->drain_deadline = now + DRAIN_MAX_MS;
				logs_resume_all(srv->logs, 0);
			}
			if (logs_count(srv->logs) == 0 || now >= ss->drain_deadline)
				break;
		}
		if (now >= ss->shutdown_deadline) {
			log_warn("shutdown: %d sandbox%s did not end in time",
				 supervisor_live_count(srv->sv),
				 supervisor_live_count(srv->sv) == 1 ? "" : "es");
			break;
		}
	}
}

static void teardown(struct serve_state *ss)
{
	struct server *srv = &ss->srv;

	if (srv->mhd) {
		/* MHD must not be stopped with suspended connections */
		if (srv->ws)
			workspace_drop_waiters(srv->ws);
		api_exec_shutdown(srv);
		logs_resume_all(srv->logs, 1);
		for (int i = 0; i < 3; i++)
			MHD_run(srv->mhd);
		MHD_stop_daemon(srv->mhd);
	}
	scheduler_free(srv->sched);
	proxy_free(srv->proxy);
	sshgw_free(srv->sshgw);
	logs_free(srv->logs);
	lifecycle_free(srv->lc);
	if (srv->ws)
		workspaces_free(srv->ws);
	supervisor_free(srv->sv);
	loop_free(srv->loop);
	if (ss->sigfd >= 0)
		close(ss->sigfd);
	store_close(srv->store);
}

int cmd_serve(int argc, char **argv, const char *data_dir)
{
	struct config cfg;
	struct serve_state ss;
	struct mags_err err;
	_cleanup_free_ char *conf = NULL;
	int r;

	memset(&ss, 0, sizeof(ss));
	ss.sigfd = -1;
	ss.srv.cfg = &cfg;
	err_clear(&err);
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	conf = xasprintf("%s/magsd.conf", data_dir);
	if ((r = config_load_file(&cfg, conf, &err)) < 0 ||
	    (r = config_load_env(&cfg, &err)) < 0 ||
	    (r = parse_flags(&cfg, argc, argv, &err)) < 0) {
		fprintf(stderr, "magsd: %s\n", err.msg);
		return 2;
	}
	r = setup(&ss, &err);
	if (r < 0) {
		fprintf(stderr, "magsd: %s\n", err.msg);
		teardown(&ss);
		return 1;
	}
	run(&ss);
	teardown(&ss);
	log_info("stopped");
	return 0;
}
