/*
 * config.h - magsd's settings. Precedence: command-line flags > environment
 * (MAGS_<KEY>, e.g. MAGS_LISTEN) > DATA_DIR/magsd.conf (`key = value`
 * lines, '#' comments) > built-in defaults. The data directory itself comes
 * from --data-dir, else MAGS_DATA_DIR, else /var/lib/mags.
 */
#ifndef MAGS_MAGSD_CONFIG_H
#define MAGS_MAGSD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CONFIG_DEFAULT_DATA_DIR "/var/lib/mags"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8420"
#define CONFIG_DEFAULT_PROXY_LISTEN "127.0.0.1:8421"
#define CONFIG_DEFAULT_SSH_LISTEN "127.0.0.1:2222"

struct config {
	char data_dir[PATH_MAX];
	char listen[256];     /* HOST:PORT, [V6]:PORT */
	char image[65];       /* default image name */
	int job_timeout;      /* seconds, default for jobs without "timeout" */
	int memory_mb;
	double cpus;
	int pids;
	int64_t log_limit;    /* bytes per job log */
	int max_jobs;         /* live sandboxes at once; more -> 429 */
	size_t max_body;      /* request body bytes; more -> 413 */
	/* workspaces and uploads (issue 3) */
	int sync_interval;    /* seconds between syncs of a running persistent job */
	int local_ttl;        /* seconds a local workspace outlives its last use */
	int unmount_idle;     /* seconds an idle workspace disk stays mounted */
	int disk_gb;          /* default workspace disk size */
	int max_disk_gb;      /* largest disk_gb a job may ask for */
	int file_ttl;         /* seconds an unused upload is kept */
	int64_t upload_max;   /* bytes per uploaded file; more -> 413 */
	char object_store[8]; /* "dir" (DATA_DIR/objects) or "s3" */
	char s3_endpoint[256];
	char s3_bucket[128];
	char s3_prefix[128];
	char s3_region[64];
	char s3_access_key[128];
	char s3_secret_key[256];
	int s3_path_style;
	/* cron (issue 6) */
	int max_cron_jobs;    /* cron jobs per user; more -> 429 */
	int cron_clock_offset;/* seconds added to the cron clock: tests only */
	/* dashboard (issue 10) */
	char web_dir[PATH_MAX]; /* its static files; "" = found next to the binary */
	/* public URLs and SSH (issue 5: proxy.c, sshgw.c) */
	char proxy_listen[256];   /* HOST:PORT of the URL proxy, "off" = none */
	char url_domain[254];     /* URLs are http://<sub>.<url_domain>:<port>/ */
	int proxy_idle_timeout;   /* seconds a proxied connection may be silent */
	int proxy_max_conns;      /* client connections at once; more are closed */
	int proxy_connect_wait;   /* seconds to retry a refused sandbox port before 502 */
	char proxy_test_addr[64]; /* tests only: address of jobs without a network */
	char ssh_listen[256];     /* HOST:PORT of the SSH gateway, "off" = none */
	char ssh_host[256];       /* ssh_host answered by /access; "" = from the request */
	char ssh_host_key[PATH_MAX]; /* "" = DATA_DIR/ssh_host_ed25519_key (created) */
	int ssh_max_sessions;     /* SSH connections at once; more are closed */
	/* long-lived sandboxes (issue 4: lifecycle.c) */
	int idle_timeout;         /* seconds without activity before a persistent job sleeps */
	/* warm pool (issue 8: pool.c): sandboxes built ahead, between
	 * pool_min and pool_max as demand asks (0/0 = none, every job cold) */
	int pool_min;
	int pool_max;
	/* network namespaces kept for reuse when their sandbox is gone (issue
	 * 8: network.h); 0 = every sandbox makes its own and it dies with it */
	int netns_keep;
	/* sandbox network (issue 5: network.c) */
	char network[8];          /* "nat" (default): jobs get a link and NAT
	                           * egress unless they ask for "none"; "none":
	                           * loopback only for every job */
	char dns_upstream[256];   /* "ip[:port] ..." the resolvers magsd asks (dns.c);
	                           * "" = the host's /etc/resolv.conf */
	char dns_forward[8];      /* "auto" (default: on when the host's resolvers
	                           * are all on its loopback), "on", "off" */
};

/* Built-in defaults, data_dir included. */
void config_defaults(struct config *cfg);

/* The data directory: flag if non-NULL, else $MAGS_DATA_DIR, else default. */
const char *config_data_dir(const char *flag);

/* Set one key ("listen", "image", "job_timeout", "memory_mb", "cpus",
 * "pids", "log_limit", "max_jobs", "max_body", "sync_interval",
 * "local_ttl", "unmount_idle", "disk_gb", "max_disk_gb", "file_ttl", "upload_max",
 * "object_store", "s3_endpoint", "s3_bucket", "s3_prefix", "s3_region",
 * "s3_access_key", "s3_secret_key", "s3_path_style", "max_cron_jobs",
 * "cron_clock_offset", "web_dir", "proxy_listen", "url_domain",
 * "proxy_idle_timeout", "proxy_max_conns", "proxy_connect_wait",
 * "proxy_test_addr", "ssh_listen", "ssh_host", "ssh_host_key",
 * "ssh_max_sessions", "network", "idle_timeout" (0 = never sleep),
 * "dns_upstream", "dns_forward"; '-' and
 * '_' are the same).
 * -ENOENT for an unknown key, -EINVAL for a bad value; err says which. */
int config_set(struct config *cfg, const char *key, const char *value,
	       struct mags_err *err);

/* Apply a config file; a missing file is not an error. Unknown keys and
 * bad values are errors naming the line. */
int config_load_file(struct config *cfg, const char *path, struct mags_err *err);

/* Apply MAGS_<KEY> environment variables. */
int config_load_env(struct config *cfg, struct mags_err *err);

#endif
