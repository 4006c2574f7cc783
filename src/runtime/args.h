/*
 * args.h - the command line of mags-runtime (the magsd -> mags-runtime
 * interface in docs/ARCHITECTURE.md), parsed into a struct runtime_config.
 */
#ifndef MAGS_RUNTIME_ARGS_H
#define MAGS_RUNTIME_ARGS_H

#include <stdint.h>

#include "common/err.h"
#include "common/netcfg.h"

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
#define RUNTIME_LOWER_MAX    16    /* --lower layers (over the image) */
#define RUNTIME_COPYIN_MAX   64    /* --copy-in files */
#define RUNTIME_SANDBOX_PATH_MAX 512 /* SANDBOXPATH of --copy-in */
#define RUNTIME_SOCKET_PATH_MAX  107 /* --control: sun_path less its NUL */
#define RUNTIME_SPEC_MAX     (24 * 1024 * 1024) /* a pooled job's arguments */
#define RUNTIME_SPEC_ARGC_MAX 4096

/* --net: the sandbox's network (issue 5). */
enum runtime_net {
	RUNTIME_NET_NONE = 0, /* loopback only (the default) */
	RUNTIME_NET_NAT,      /* a veth link to the host, egress NATed */
};

/* --copy-in HOSTFILE:SANDBOXPATH, both pointing into argv. */
struct runtime_copyin {
	const char *host;      /* absolute host path (the part before ':') */
	size_t host_len;
	const char *path;      /* absolute, normalised sandbox path */
};

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
	/* Workspace layers (issue 3): the writable layer's directory (holds
	 * upper/ and work/; NULL = a tmpfs upper) and read-only snapshot
	 * layers above the image, topmost first. */
	const char *upper;
	const char *lower[RUNTIME_LOWER_MAX];
	unsigned n_lower;
	struct runtime_copyin copyin[RUNTIME_COPYIN_MAX];
	unsigned n_copyin;
	/* Long-lived sandboxes (issue 4). */
	int keep_alive;          /* the sandbox outlives its script */
	const char *control;     /* exec/control socket path on the host */
	const char *state_file;  /* the supervisor's state, rewritten atomically */
	/* Network (issue 5): --net, --net-addr (a /30 of the pool; 0 =
	 * derived from the uid base), --net-allow (egress only to these). */
	enum runtime_net net_mode;
	int has_net_addr;
	struct netcfg_cidr net_addr;
	struct netcfg_cidr net_allow[NETCFG_ALLOW_MAX];
	unsigned n_net_allow;
	/* --netns-fd N: an inherited fd of a network namespace magsd kept
	 * from an earlier sandbox of the same link (net.h); -1 = make one. */
	int netns_fd;
	/* --pool: a warm-pool member (sandbox.c): build the job-independent
	 * part, then read the job on stdin. With --rootfs (and --run-dir, its
	 * own scratch) a "prepared" member: its root filesystem is built
	 * before it parks, and it takes only jobs on that image without
	 * workspace or snapshot layers. */
	int pool;
	const char *script;      /* after "--"; NULL with --script-file */
	const char *script_file; /* --script-file: read by the supervisor */
	/* The process's argv and environment strings (one block, set by
	 * main): init blanks them so the sandbox cannot read magsd's
	 * environment or host paths in /proc/1/cmdline and environ. */
	char *title;
	size_t title_len;
	size_t argv_len;         /* of which the argv strings */
};

/* Parse `run ...` (argv[0] is the program, argv[1] must be "run"). The
 * config points into argv, which must outlive it. Returns 0, 1 when help
 * was asked for, or -EINVAL with a message in err. Pure: no I/O. */
int args_parse(int argc, char **argv, struct runtime_config *cfg,
	       struct mags_err *err);

/* Is path an acceptable --copy-in SANDBOXPATH: absolute, at most
 * RUNTIME_SANDBOX_PATH_MAX bytes, no empty, "." or ".." components, not "/"
 * and not inside the kernel's trees (/proc, /sys, /dev). Pure. */
int args_valid_sandbox_path(const char *path);

/* A job for a warm-pool member (--pool) comes as its `run` command line,
 * each argument NUL-terminated, argv[0] included. Split buf (len bytes,
 * the last a NUL) into a malloc'd NULL-terminated *argv pointing into
 * buf. Returns argc, or -EINVAL (empty, unterminated, fewer than 2 or more
 * than RUNTIME_SPEC_ARGC_MAX arguments). Pure. */
int args_split(char *buf, size_t len, char ***argv);

/* The usage text, for --help and errors. */
extern const char args_usage[];

#endif
