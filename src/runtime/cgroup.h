/*
 * cgroup.h - the sandbox's control group: memory, CPU and pids limits, a
 * kill switch and the OOM report, on cgroup v1 (one hierarchy per
 * controller, as on hybrid hosts) and cgroup v2 (unified).
 *
 * Layout: v1 /sys/fs/cgroup/<controller>/mags/<id> for memory, cpu, pids
 * (required) and cpuacct, freezer (if mounted); v2 /sys/fs/cgroup/mags/<id>
 * with memory, cpu and pids enabled in the parents' subtree_control.
 * Runs in the supervisor, as host root.
 */
#ifndef MAGS_RUNTIME_CGROUP_H
#define MAGS_RUNTIME_CGROUP_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define CGROUP_FS_ROOT   "/sys/fs/cgroup"
#define CGROUP_PARENT    "mags"
/* A short CFS period: with 100 ms a sandbox holding a 1-CPU quota can burn
 * both cores for 50 ms at a time, starving magsd and its neighbours in
 * bursts; 10 ms keeps those bursts short. */
#define CGROUP_CPU_PERIOD_US 10000u
#define CGROUP_CPU_QUOTA_MIN_US 1000u   /* the kernel's minimum */
#define CGROUP_PARENT_CPU_SHARES "256"  /* v1; a host task has 1024 */
#define CGROUP_PARENT_CPU_WEIGHT "25"   /* v2; a host task has 100 */
#define CGROUP_MAX_DIRS  5
#define CGROUP_PATH_MAX  256  /* the root, a controller, "mags", an id */

struct cgroup_limits {
	uint64_t memory_bytes;   /* memory and memory+swap limit */
	uint32_t cpu_quota_us;   /* per CGROUP_CPU_PERIOD_US */
	uint32_t pids;
};

struct cgroup {
	int version;                        /* 1 or 2 */
	unsigned n_dirs;
	char dirs[CGROUP_MAX_DIRS][CGROUP_PATH_MAX]; /* what we created, in order */
	int memory;                         /* index in dirs of memory's dir */
	int pids;                           /* index of a dir listing our pids */
};

/* Pure helpers (unit tested). */
void cgroup_limits_compute(struct cgroup_limits *l, uint32_t memory_mb,
			   uint32_t cpu_milli, uint32_t pids);
/* "<quota> <period>" for v2 cpu.max. Returns length. */
size_t cgroup_format_cpu_max(char *buf, size_t len, uint32_t quota_us);
/* The directory of job id: v1 needs the controller, v2 passes NULL. */
size_t cgroup_format_path(char *buf, size_t len, int version,
			  const char *controller, const char *id);
/* The value of the "oom_kill N" line in a memory.events/oom_control text,
 * 0 if there is none. */
uint64_t cgroup_parse_oom_kills(const char *text);
/* The value of the "<key> N" line of a flat-keyed cgroup file (cpu.stat,
 * memory.events), 0 if there is none. */
uint64_t cgroup_parse_key(const char *text, const char *key);

/* 2 if /sys/fs/cgroup is a cgroup2 mount, else 1. */
int cgroup_detect(void);

/* Create the job's cgroup(s) with the limits. On failure removes what it
 * made. 0 or -errno with err set. */
int cgroup_create(struct cgroup *cg, const char *id, const struct cgroup_limits *l,
		  struct mags_err *err);

/* Rename the cgroup's directories to id (same parents): a warm-pool
 * member's cgroup becomes the job's, with its processes and limits.
 * 0 or -1 with err set (the dirs renamed so far keep their new name). */
int cgroup_rename(struct cgroup *cg, const char *id, struct mags_err *err);

/* Move pid into every hierarchy of the cgroup. */
int cgroup_add(struct cgroup *cg, pid_t pid, struct mags_err *err);

/* SIGKILL every process in the cgroup (v2 cgroup.kill, v1 a loop over
 * cgroup.procs). Best effort. */
void cgroup_kill(struct cgroup *cg);

/* Number of OOM kills in the cgroup so far (0 if unknown). */
uint64_t cgroup_oom_kills(struct cgroup *cg);

/* What the sandbox used so far: CPU time in microseconds (v1
 * cpuacct.usage, in ns, of whichever dir has it; v2 cpu.stat usage_usec)
 * and its peak memory in bytes (v1 memory.max_usage_in_bytes, v2
 * memory.peak). Either is 0 where the kernel does not report it (v2
 * before Linux 5.19 has no memory.peak, v1 without cpuacct no CPU time).
 * Read it before cgroup_destroy: the numbers go with the directory. */
void cgroup_usage(struct cgroup *cg, uint64_t *cpu_us, uint64_t *mem_peak);

/* Remove the cgroup dirs; kills leftovers and retries briefly while the
 * kernel still lists exiting tasks. 0 or -errno (dirs left behind). */
int cgroup_destroy(struct cgroup *cg);

#endif
