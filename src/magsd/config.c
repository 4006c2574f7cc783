/*
 * config.c - defaults, config file, environment (see config.h). Every value
 * is range-checked here so the rest of magsd can trust it.
 */
#include "magsd/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", CONFIG_DEFAULT_DATA_DIR);
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", CONFIG_DEFAULT_LISTEN);
	snprintf(cfg->image, sizeof(cfg->image), "default");
	cfg->job_timeout = 300;
	cfg->memory_mb = 512;
	cfg->cpus = 1.0;
	cfg->pids = 1024;
	cfg->log_limit = 16 * 1024 * 1024;
	cfg->max_jobs = 64;
	cfg->max_body = 1024 * 1024 + 256 * 1024;
	cfg->sync_interval = 30;
	cfg->local_ttl = 600;
	cfg->unmount_idle = 5;
	cfg->disk_gb = 2;
	cfg->max_disk_gb = 64;
	cfg->file_ttl = 86400;
	cfg->upload_max = 100LL * 1024 * 1024;
	snprintf(cfg->object_store, sizeof(cfg->object_store), "dir");
	snprintf(cfg->s3_region, sizeof(cfg->s3_region), "us-east-1");
	cfg->s3_path_style = 1;
	cfg->max_cron_jobs = 100;
	snprintf(cfg->proxy_listen, sizeof(cfg->proxy_listen), "%s", CONFIG_DEFAULT_PROXY_LISTEN);
	snprintf(cfg->url_domain, sizeof(cfg->url_domain), "localhost");
	cfg->proxy_idle_timeout = 300;
	cfg->proxy_max_conns = 1024;
	cfg->proxy_connect_wait = 10;
	snprintf(cfg->ssh_listen, sizeof(cfg->ssh_listen), "%s", CONFIG_DEFAULT_SSH_LISTEN);
	cfg->ssh_max_sessions = 128;
	cfg->idle_timeout = 600;
	cfg->pool_min = 1;
	cfg->pool_max = 8;
	cfg->netns_keep = 64;
	snprintf(cfg->network, sizeof(cfg->network), "nat");
	snprintf(cfg->dns_forward, sizeof(cfg->dns_forward), "auto");
}

const char *config_data_dir(const char *flag)
{
	const char *e;

	if (flag && *flag)
		return flag;
	e = getenv("MAGS_DATA_DIR");
	if (e && *e)
		return e;
	return CONFIG_DEFAULT_DATA_DIR;
}

static int parse_int(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

static const struct {
	const char *key;
	long long lo, hi;
	size_t off;   /* offset of an int field; 0 = special */
} int_keys[] = {
	{ "job_timeout", 1, 7LL * 86400, offsetof(struct config, job_timeout) },
	{ "memory_mb", 16, 1024LL * 1024, offsetof(struct config, memory_mb) },
	{ "pids", 8, 1 << 22, offsetof(struct config, pids) },
	{ "max_jobs", 1, 4096, offsetof(struct config, max_jobs) },
	{ "sync_interval", 1, 86400, offsetof(struct config, sync_interval) },
	{ "local_ttl", 1, 30LL * 86400, offsetof(struct config, local_ttl) },
	{ "unmount_idle", 1, 86400, offsetof(struct config, unmount_idle) },
	{ "disk_gb", 1, 4096, offsetof(struct config, disk_gb) },
	{ "max_disk_gb", 1, 4096, offsetof(struct config, max_disk_gb) },
	{ "file_ttl", 1, 365LL * 86400, offsetof(struct config, file_ttl) },
	{ "s3_path_style", 0, 1, offsetof(struct config, s3_path_style) },
	{ "max_cron_jobs", 1, 10000, offsetof(struct config, max_cron_jobs) },
	{ "cron_clock_offset", -400LL * 86400, 400LL * 86400,
	  offsetof(struct config, cron_clock_offset) },
	{ "proxy_idle_timeout", 1, 86400, offsetof(struct config, proxy_idle_timeout) },
	{ "proxy_max_conns", 1, 65536, offsetof(struct config, proxy_max_conns) },
	{ "proxy_connect_wait", 0, 600, offsetof(struct config, proxy_connect_wait) },
	{ "ssh_max_sessions", 1, 4096, offsetof(struct config, ssh_max_sessions) },
	{ "idle_timeout", 0, 30LL * 86400, offsetof(struct config, idle_timeout) },
	{ "pool_min", 0, 256, offsetof(struct config, pool_min) },
	{ "pool_max", 0, 256, offsetof(struct config, pool_max) },
	{ "netns_keep", 0, 4096, offsetof(struct config, netns_keep) },
};

/* String settings: the value is copied whole or refused if too long. */
static const struct {
	const char *key;
	size_t off, len;
} str_keys[] = {
#define STR_KEY(k) { #k, offsetof(struct config, k), sizeof(((struct config *)0)->k) }
	STR_KEY(s3_endpoint), STR_KEY(s3_bucket), STR_KEY(s3_prefix), STR_KEY(s3_region),
	STR_KEY(s3_access_key), STR_KEY(s3_secret_key), STR_KEY(web_dir),
	STR_KEY(proxy_test_addr), STR_KEY(ssh_host), STR_KEY(ssh_host_key),
	STR_KEY(dns_upstream),
#undef STR_KEY
};

int config_set(struct config *cfg, const char *key, const char *value,
	       struct mags_err *err)
{
	char k[64];
	long long n;
	size_t i;

	for (i = 0; key[i] && i < sizeof(k) - 1; i++)
		k[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
	k[i] = '\0';

	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		if (strcmp(k, int_keys[i].key))
			continue;
		if (parse_int(value, int_keys[i].lo, int_keys[i].hi, &n) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'%s': must be an integer from %lld to %lld",
				       k, int_keys[i].lo, int_keys[i].hi);
		*(int *)((char *)cfg + int_keys[i].off) = (int)n;
		return 0;
	}
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++) {
		if (strcmp(k, str_keys[i].key))
			continue;
		if (strlen(value) >= str_keys[i].len)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'%s': longer than %zu characters", k, str_keys[i].len - 1);
		snprintf((char *)cfg + str_keys[i].off, str_keys[i].len, "%s", value);
		return 0;
	}
	if (!strcmp(k, "object_store")) {
		if (strcmp(value, "dir") && strcmp(value, "s3"))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'object_store': must be 'dir' or 's3', got '%.32s'", value);
		snprintf(cfg->object_store, sizeof(cfg->object_store), "%s", value);
		return 0;
	}
	if (!strcmp(k, "network")) {
		if (strcmp(value, "nat") && strcmp(value, "none"))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'network': must be 'nat' or 'none', got '%.32s'", value);
		snprintf(cfg->network, sizeof(cfg->network), "%s", value);
		return 0;
	}
	if (!strcmp(k, "dns_forward")) {
		if (strcmp(value, "auto") && strcmp(value, "on") && strcmp(value, "off"))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'dns_forward': must be 'auto', 'on' or 'off', got '%.32s'", value);
		snprintf(cfg->dns_forward, sizeof(cfg->dns_forward), "%s", value);
		return 0;
	}
	if (!strcmp(k, "upload_max")) {
		if (parse_int(value, 1024, 1LL << 40, &n) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'upload_max': must be a byte count from 1024");
		cfg->upload_max = n;
		return 0;
	}
	if (!strcmp(k, "listen")) {
		if (!*value || strlen(value) >= sizeof(cfg->listen) || !strrchr(value, ':'))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'listen': expected HOST:PORT, got '%s'", value);
		snprintf(cfg->listen, sizeof(cfg->listen), "%s", value);
		return 0;
	}
	if (!strcmp(k, "proxy_listen") || !strcmp(k, "ssh_listen")) {
		char *dst = k[0] == 'p' ? cfg->proxy_listen : cfg->ssh_listen;
		if (!*value || strlen(value) >= sizeof(cfg->proxy_listen) ||
		    (strcmp(value, "off") && !strrchr(value, ':')))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'%s': expected HOST:PORT or off, got '%s'", k, value);
		snprintf(dst, sizeof(cfg->proxy_listen), "%s", value);
		return 0;
	}
	if (!strcmp(k, "url_domain")) {
		/* dot-separated DNS labels: it becomes the suffix of Host headers */
		size_t len = strlen(value), lab = 0;
		int ok = len > 0 && len < sizeof(cfg->url_domain) && value[0] != '.' &&
			 value[len - 1] != '.';
		for (size_t j = 0; ok && j < len; j++) {
			char ch = value[j];
			if (ch == '.') {
				ok = lab > 0;
				lab = 0;
			} else {
				ok = (isalnum((unsigned char)ch) || ch == '-') && ++lab <= 63;
			}
		}
		if (!ok)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'url_domain': expected a DNS name, got '%.64s'", value);
		for (size_t j = 0; j <= len; j++)
			cfg->url_domain[j] = (char)tolower((unsigned char)value[j]);
		return 0;
	}
	if (!strcmp(k, "image")) {
		if (!*value || strlen(value) >= sizeof(cfg->image))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'image': bad image name '%s'", value);
		snprintf(cfg->image, sizeof(cfg->image), "%s", value);
		return 0;
	}
	if (!strcmp(k, "cpus")) {
		char *end;
		double d;

		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(d) || d < 0.01 || d > 1024)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'cpus': must be a number from 0.01 to 1024");
		cfg->cpus = d;
		return 0;
	}
	if (!strcmp(k, "log_limit")) {
		if (parse_int(value, 4096, 1LL << 40, &n) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'log_limit': must be a byte count from 4096");
		cfg->log_limit = n;
		return 0;
	}
	if (!strcmp(k, "max_body")) {
		if (parse_int(value, 1024, 1LL << 30, &n) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'max_body': must be a byte count from 1024 to 1 GiB");
		cfg->max_body = (size_t)n;
		return 0;
	}
	return err_set(err, MAGS_E_BAD_REQUEST, ENOENT, "unknown setting '%s'", key);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load_file(struct config *cfg, const char *path, struct mags_err *err)
{
	_cleanup_free_ char *text = NULL;
	ssize_t n = read_file(path, 64 * 1024, &text);
	char *line, *next;
	int lineno = 0, r;

	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return err_sys(err, (int)-n, "read '%s'", path);
	for (line = text; line && *line; line = next) {
		char *eq, *key, *val;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "%s:%d: expected 'key = value'", path, lineno);
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		r = config_set(cfg, key, val, err);
		if (r < 0) {
			err_wrap(err, "%s:%d", path, lineno);
			return r;
		}
	}
	return 0;
}

int config_load_env(struct config *cfg, struct mags_err *err)
{
	static const char *const keys[] = {
		"listen", "image", "job_timeout", "memory_mb", "cpus", "pids",
		"log_limit", "max_jobs", "max_body", "sync_interval", "local_ttl", "unmount_idle",
		"disk_gb", "max_disk_gb", "file_ttl", "upload_max", "object_store",
		"s3_endpoint", "s3_bucket", "s3_prefix", "s3_region", "s3_access_key",
		"s3_secret_key", "s3_path_style", "max_cron_jobs", "cron_clock_offset",
		"web_dir", "proxy_listen", "url_domain", "proxy_idle_timeout",
		"proxy_max_conns", "proxy_connect_wait", "proxy_test_addr", "ssh_listen",
		"ssh_host", "ssh_host_key", "ssh_max_sessions", "idle_timeout", "network",
		"pool_min", "pool_max", "netns_keep",
		"dns_upstream", "dns_forward",
	};
	char name[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t j, n = (size_t)snprintf(name, sizeof(name), "MAGS_");
		for (j = 0; keys[i][j] && n + j < sizeof(name) - 1; j++)
			name[n + j] = (char)toupper((unsigned char)keys[i][j]);
		name[n + j] = '\0';
		const char *v = getenv(name);
		if (!v || !*v)
			continue;
		int r = config_set(cfg, keys[i], v, err);
		if (r < 0) {
			err_wrap(err, "environment %s", name);
			return r;
		}
	}
	return 0;
}
