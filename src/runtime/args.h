/*
 * args.h - the command line of mags-runtime (the magsd -> mags-runtime
 * interface in docs/ARCHITECTURE.md), parsed into a struct runtime_config.
 */
#ifndef MAGS_RUNTIME_ARGS_H
#define MAGS_RUNTIME_ARGS_H

#include <stdint.h>

#include "common/err.h"

#define RUNTIME_DEFAULT_UID_BASE  100000u
#define RUNTIME_DEFAULT_TIMEOUT   300u          /* seconds, 0 = none */
#define RUNTIME_DEFAULT_MEMORY_MB 512u
#define RUNTIME_DEFAULT_CPU_MILLI 1000u   /* 1 CPU */
#define RUNTIME_DEFAULT_PIDS      1024u
#define RUNTIME_DEFAULT_LOG_LIMIT (16ull * 1024 * 1024)
#define RUNTIME_DEFAULT_HOSTNAME  "mags-vm"

#define RUNTIME_ID_MAX       64    /* job ids become cgroup directory names */
#define RUNTIME_ENV_MAX      256   /* --env options */
#define RUNTIME_ENV_LEN_MAX  (64 * 1024)  /* one KEY=VALUE */
#define RUNTIME_SCRIPT_MAX   (1024 * 1024)
#define RUNTIME_HOSTNAME_MAX 64    /* HOST_NAME_MAX */
#define RUNTIME_ID_RANGE     65536u /* ids mapped into every sandbox */

struct runtime_config {
	const char *id;
	const char *rootfs;
	const char *log_path;
	const char *run_dir;
	uint32_t uid_base;
	uint32_t timeout_sec;
	uint32_t memory_mb;
	uint32_t cpu_milli;   /* --cpus in thousandths ("0.5" -> 500) */
	uint32_t pids;
	uint64_t log_limit;
	const char *hostname;
	const char *env[RUNTIME_ENV_MAX]; /* "KEY=VALUE", pointers into argv */
	unsigned n_env;
	const char *script;      /* after "--"; NULL with --script-file */
	const char *script_file; /* --script-file: read by the supervisor */
	/* The process's argv and environment strings (one block, set by
	 * main): init blanks them so the sandbox cannot read magsd's
	 * environment or host paths in /proc/1/cmdline and environ. */
	char *title;
	size_t title_len;
};

/* Parse `run ...` (argv[0] is the program, argv[1] must be "run"). The
 * config points into argv, which must outlive it. Returns 0, 1 when help
 * was asked for, or -EINVAL with a message in err. Pure: no I/O. */
int args_parse(int argc, char **argv, struct runtime_config *cfg,
	       struct mags_err *err);

/* The usage text, for --help and errors. */
extern const char args_usage[];

#endif
