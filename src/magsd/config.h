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
};

/* Built-in defaults, data_dir included. */
void config_defaults(struct config *cfg);

/* The data directory: flag if non-NULL, else $MAGS_DATA_DIR, else default. */
const char *config_data_dir(const char *flag);

/* Set one key ("listen", "image", "job_timeout", "memory_mb", "cpus",
 * "pids", "log_limit", "max_jobs", "max_body"; '-' and '_' are the same).
 * -ENOENT for an unknown key, -EINVAL for a bad value; err says which. */
int config_set(struct config *cfg, const char *key, const char *value,
	       struct mags_err *err);

/* Apply a config file; a missing file is not an error. Unknown keys and
 * bad values are errors naming the line. */
int config_load_file(struct config *cfg, const char *path, struct mags_err *err);

/* Apply MAGS_<KEY> environment variables. */
int config_load_env(struct config *cfg, struct mags_err *err);

#endif
