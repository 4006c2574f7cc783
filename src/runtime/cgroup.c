/*
 * cgroup.c - create, fill, limit and remove the sandbox's cgroup on v1
 * and v2 hosts (see cgroup.h).
 *
 * The cgroup is job-independent: a warm pool could create it ahead of
 * time with the pool's default limits. The supervisor moves the
 * sandbox's first process in before that process creates its cgroup
 * namespace, so inside the sandbox the job's cgroup is the root.
 */
#include "runtime/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

void cgroup_limits_compute(struct cgroup_limits *l, uint32_t memory_mb,
			   uint32_t cpu_milli, uint32_t pids)
{
	l->memory_bytes = (uint64_t)memory_mb << 20;
	l->cpu_quota_us = cpu_milli * (CGROUP_CPU_PERIOD_US / 1000);
	if (l->cpu_quota_us < CGROUP_CPU_QUOTA_MIN_US)
		l->cpu_quota_us = CGROUP_CPU_QUOTA_MIN_US;
	l->pids = pids;
}

size_t cgroup_format_cpu_max(char *buf, size_t len, uint32_t quota_us)
{
	int n = snprintf(buf, len, "%u %u", quota_us, CGROUP_CPU_PERIOD_US);
	return n < 0 ? 0 : (size_t)n;
}

size_t cgroup_format_path(char *buf, size_t len, int version,
			  const char *controller, const char *id)
{
	int n;

	if (version == 2 || !controller)
		n = snprintf(buf, len, CGROUP_FS_ROOT "/" CGROUP_PARENT "/%s", id);
	else
		n = snprintf(buf, len, CGROUP_FS_ROOT "/%s/" CGROUP_PARENT "/%s",
			     controller, id);
	return n < 0 ? 0 : (size_t)n;
}

uint64_t cgroup_parse_key(const char *text, const char *key)
{
	const char *p = text;
	size_t n = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

uint64_t cgroup_parse_oom_kills(const char *text)
{
	return cgroup_parse_key(text, "oom_kill");
}

int cgroup_detect(void)
{
	struct statfs sf;

	if (statfs(CGROUP_FS_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		return 2;
	return 1;
}

/* Write a value to dir/file. */
static int put(const char *dir, const char *file, const char *val,
	       struct mags_err *err)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = write_file(path, val);
	if (r < 0)
		return err_sys(err, -r, "write '%s' to '%s'", val, path);
	return 0;
}

static int exists(const char *dir, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* mkdir the job's directory; a leftover from a crashed run with the same
 * id is removed first if it is empty. */
static int make_dir(struct cgroup *cg, const char *path, struct mags_err *err)
{
	char parent[CGROUP_PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", parent);
	if (mkdir(path, 0755) < 0) {
		if (errno != EEXIST || rmdir(path) < 0 || mkdir(path, 0755) < 0)
			return err_sys(err, errno == EBUSY ? EEXIST : errno,
				       "mkdir '%s'", path);
	}
	snprintf(cg->dirs[cg->n_dirs++], CGROUP_PATH_MAX, "%s", path);
	return 0;
}

static int create_v2(struct cgroup *cg, const char *id, const struct cgroup_limits *l,
		     struct mags_err *err)
{
	char path[CGROUP_PATH_MAX], buf[64];
	int r;

	/* Controllers must be enabled in every ancestor's subtree_control
	 * before the job's directory can use them. Writing is idempotent. */
	if (mkdir(CGROUP_FS_ROOT "/" CGROUP_PARENT, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", CGROUP_FS_ROOT "/" CGROUP_PARENT);
	r = put(CGROUP_FS_ROOT, "cgroup.subtree_control", "+memory +cpu +pids", err);
	if (r < 0)
		return r;
	r = put(CGROUP_FS_ROOT "/" CGROUP_PARENT, "cgroup.subtree_control",
		"+memory +cpu +pids", err);
	if (r < 0)
		return r;

	cgroup_format_path(path, sizeof(path), 2, NULL, id);
	r = make_dir(cg, path, err);
	if (r < 0)
		return r;
	cg->memory = cg->pids = 0;

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)l->memory_bytes);
	if ((r = put(path, "memory.max", buf, err)) < 0)
		return r;
	/* No swap: the memory limit is the whole budget (hosts without swap
	 * accounting have no memory.swap.max and no swap to escape to). */
	if (exists(path, "memory.swap.max") &&
	    (r = put(path, "memory.swap.max", "0", err)) < 0)
		return r;
	/* see create_v1: the sandboxes' parent weighs less than host tasks */
	(void)put(CGROUP_FS_ROOT "/" CGROUP_PARENT, "cpu.weight", CGROUP_PARENT_CPU_WEIGHT, NULL);
	cgroup_format_cpu_max(buf, sizeof(buf), l->cpu_quota_us);
	if ((r = put(path, "cpu.max", buf, err)) < 0)
		return r;
	snprintf(buf, sizeof(buf), "%u", l->pids);
	return put(path, "pids.max", buf, err);
}

static int create_v1(struct cgroup *cg, const char *id, const struct cgroup_limits *l,
		     struct mags_err *err)
{
	/* Only what is used: limits, and cpuacct for usage and idle
	 * detection. Every hierarchy costs a mkdir, a migration and an rmdir
	 * per job (the freezer one was made and never used: 5% of a job's
	 * cgroup work). */
	static const struct { const char *name; int required; } ctrls[] = {
		{ "memory", 1 }, { "cpu", 1 }, { "pids", 1 }, { "cpuacct", 0 },
	};
	struct stat seen[CGROUP_MAX_DIRS];
	unsigned n_seen = 0;
	char path[CGROUP_PATH_MAX], buf[64];
	int r;

	for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
		struct stat st;
		int dup = 0;

		snprintf(path, sizeof(path), CGROUP_FS_ROOT "/%s", ctrls[i].name);
		if (stat(path, &st) < 0 || !exists(path, "cgroup.procs")) {
			if (!ctrls[i].required)
				continue;
			return err_set(err, MAGS_E_INTERNAL, ENOENT,
				       "cgroup v1 controller '%s' is not mounted at '%s'",
				       ctrls[i].name, path);
		}
		/* cpu and cpuacct are often co-mounted ("cpu,cpuacct" with
		 * symlinks): one directory serves both. */
		for (unsigned k = 0; k < n_seen; k++)
			if (seen[k].st_dev == st.st_dev && seen[k].st_ino == st.st_ino)
				dup = 1;
		if (dup)
			continue;
		seen[n_seen++] = st;

		cgroup_format_path(path, sizeof(path), 1, ctrls[i].name, id);
		r = make_dir(cg, path, err);
		if (r < 0)
			return r;
		int idx = (int)cg->n_dirs - 1;

		if (!strcmp(ctrls[i].name, "memory")) {
			cg->memory = idx;
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)l->memory_bytes);
			if ((r = put(path, "memory.limit_in_bytes", buf, err)) < 0)
				return r;
			/* memory+swap = memory: no swap. Present only with
			 * swap accounting. */
			if (exists(path, "memory.memsw.limit_in_bytes") &&
			    (r = put(path, "memory.memsw.limit_in_bytes", buf, err)) < 0)
				return r;
		} else if (!strcmp(ctrls[i].name, "cpu")) {
			/* All sandboxes together weigh a quarter of one host
			 * task: under contention magsd and the supervisors that
			 * start and stop sandboxes keep running (a CPU burner
			 * must not slow its neighbours' starts). Best effort. */
			(void)put(CGROUP_FS_ROOT "/cpu/" CGROUP_PARENT, "cpu.shares",
				  CGROUP_PARENT_CPU_SHARES, NULL);
			snprintf(buf, sizeof(buf), "%u", CGROUP_CPU_PERIOD_US);
			if ((r = put(path, "cpu.cfs_period_us", buf, err)) < 0)
				return r;
			snprintf(buf, sizeof(buf), "%u", l->cpu_quota_us);
			if ((r = put(path, "cpu.cfs_quota_us", buf, err)) < 0)
				return r;
		} else if (!strcmp(ctrls[i].name, "pids")) {
			cg->pids = idx;
			snprintf(buf, sizeof(buf), "%u", l->pids);
			if ((r = put(path, "pids.max", buf, err)) < 0)
				return r;
		}
	}
	return 0;
}

int cgroup_create(struct cgroup *cg, const char *id, const struct cgroup_limits *l,
		  struct mags_err *err)
{
	int r;

	memset(cg, 0, sizeof(*cg));
	cg->version = cgroup_detect();
	r = cg->version == 2 ? create_v2(cg, id, l, err) : create_v1(cg, id, l, err);
	if (r < 0)
		cgroup_destroy(cg);
	return r;
}

int cgroup_rename(struct cgroup *cg, const char *id, struct mags_err *err)
{
	for (unsigned i = 0; i < cg->n_dirs; i++) {
		char to[CGROUP_PATH_MAX];
		const char *slash = strrchr(cg->dirs[i], '/');
		int n = (int)(slash - cg->dirs[i]);

		if (snprintf(to, sizeof(to), "%.*s/%s", n, cg->dirs[i], id) >= (int)sizeof(to))
			return err_set(err, MAGS_E_INTERNAL, ENAMETOOLONG, "cgroup path too long");
		/* a leftover of a crashed run with this id: gone if empty */
		if (rename(cg->dirs[i], to) < 0 &&
		    (errno != EEXIST || rmdir(to) < 0 || rename(cg->dirs[i], to) < 0))
			return err_sys(err, errno, "rename '%s' to '%s'", cg->dirs[i], to);
		memcpy(cg->dirs[i], to, sizeof(to));
	}
	return 0;
}

int cgroup_add(struct cgroup *cg, pid_t pid, struct mags_err *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (unsigned i = 0; i < cg->n_dirs; i++) {
		int r = put(cg->dirs[i], "cgroup.procs", buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* 1 if processes are left (and they were sent SIGKILL), 0 if empty. */
static int kill_listed(const char *dir)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	int left = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (read_file(path, 1 << 20, &text) < 0)
		return 0;
	for (char *p = text; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0) {
			kill((pid_t)pid, SIGKILL);
			left = 1;
		}
		p = end;
		while (*p == '\n')
			p++;
	}
	return left;
}

void cgroup_kill(struct cgroup *cg)
{
	if (cg->n_dirs == 0)
		return;
	if (cg->version == 2 && put(cg->dirs[0], "cgroup.kill", "1", NULL) == 0)
		return;
	kill_listed(cg->dirs[cg->pids]);
}

uint64_t cgroup_oom_kills(struct cgroup *cg)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;

	if (cg->n_dirs == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", cg->dirs[cg->memory],
		 cg->version == 2 ? "memory.events" : "memory.oom_control");
	if (read_file(path, 64 * 1024, &text) < 0)
		return 0;
	return cgroup_parse_oom_kills(text);
}

/* A file of dir holding one number (v1 counters); -1 if unreadable. */
static int64_t read_number(const char *dir, const char *file)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	char *end;
	unsigned long long v;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_file(path, 4096, &text) < 0)
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		return -1;
	return (int64_t)(v > INT64_MAX ? INT64_MAX : v);
}

void cgroup_usage(struct cgroup *cg, uint64_t *cpu_us, uint64_t *mem_peak)
{
	char path[PATH_MAX];
	int64_t v;

	*cpu_us = 0;
	*mem_peak = 0;
	if (cg->n_dirs == 0)
		return;
	if (cg->version == 2) {
		_cleanup_free_ char *text = NULL;

		snprintf(path, sizeof(path), "%s/cpu.stat", cg->dirs[0]);
		if (read_file(path, 64 * 1024, &text) >= 0)
			*cpu_us = cgroup_parse_key(text, "usage_usec");
		v = read_number(cg->dirs[0], "memory.peak");
		*mem_peak = v > 0 ? (uint64_t)v : 0;
		return;
	}
	/* cpuacct is its own hierarchy or shares cpu's directory */
	for (unsigned i = 0; i < cg->n_dirs; i++) {
		v = read_number(cg->dirs[i], "cpuacct.usage");
		if (v >= 0) {
			*cpu_us = (uint64_t)v / 1000;
			break;
		}
	}
	v = read_number(cg->dirs[cg->memory], "memory.max_usage_in_bytes");
	*mem_peak = v > 0 ? (uint64_t)v : 0;
}

int cgroup_destroy(struct cgroup *cg)
{
	int ret = 0;

	/* Normally empty by now: the sandbox's pid 1 has been reaped, and
	 * the kernel does not let pid 1 go before the rest of its pid
	 * namespace. Exiting tasks can still be listed for a moment. */
	for (int i = (int)cg->n_dirs - 1; i >= 0; i--) {
		int tries = 0;

		while (rmdir(cg->dirs[i]) < 0) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || ++tries > 200) {
				ret = -errno;
				break;
			}
			if (tries == 1 || tries % 50 == 0)
				kill_listed(cg->dirs[i]);
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	cg->n_dirs = 0;
	return ret;
}
