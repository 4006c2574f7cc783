/*
 * args.c - parse and validate the mags-runtime command line.
 *
 * magsd is the only intended caller, but everything here still gets
 * checked: the id becomes a cgroup directory name, the uid base decides
 * which host ids the sandbox owns, and every number has a range. Parsing
 * is pure so the unit tests can drive it without a sandbox.
 */
#include "runtime/args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char args_usage[] =
	"usage: mags-runtime run --id ID --rootfs DIR --log FILE --run-dir DIR\n"
	"                        [--uid-base N] [--timeout SEC] [--memory-mb N] [--cpus N.N]\n"
	"                        [--pids N] [--log-limit BYTES] [--hostname NAME]\n"
	"                        [--env KEY=VALUE]... [--upper DIR] [--lower DIR]...\n"
	"                        [--copy-in HOSTFILE:SANDBOXPATH]... [--keep-alive]\n"
	"                        [--control SOCKET] [--state-file FILE]\n"
	"                        [--net none|nat] [--net-addr A.B.C.D/30]\n"
	"                        [--net-allow CIDR]... [--netns-fd N]\n"
	"                        (-- SCRIPT | --script-file FILE)\n"
	"       mags-runtime run --pool --id NAME [--uid-base N] [--memory-mb N]\n"
	"                        [--cpus N.N] [--pids N] [--net none|nat] [--net-addr A.B.C.D/30]\n"
	"                        [--netns-fd N] [--rootfs DIR --run-dir DIR]\n"
	"                        (builds the job-independent part, says 'pooled' on fd 3,\n"
	"                        then reads the job's 'run' arguments from stdin; with\n"
	"                        --rootfs its root filesystem is built before it parks,\n"
	"                        and it takes only jobs on that image without layers)\n"
	"       mags-runtime exec --control SOCKET [--timeout SEC] [--cwd DIR]\n"
	"                        [--env KEY=VALUE]... -- COMMAND\n"
	"       mags-runtime status --control SOCKET\n"
	"       mags-runtime stop --control SOCKET\n"
	"       mags-runtime net-setup\n"
	"       mags-runtime net-teardown [--force]\n"
	"\n"
	"Builds one sandbox, runs SCRIPT with /bin/sh -c inside it and reports on fd 3\n"
	"(or stderr if fd 3 is not open): net ADDRESS, started PID, exit CODE, timeout,\n"
	"stopped, error MESSAGE. See docs/ARCHITECTURE.md.\n";

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "2", "0.5", "1.25" -> thousandths (2000, 500, 1250); at most three
 * decimals, as magsd formats a double with %g. */
static int parse_milli(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int frac = -1;

	if (!*s || *s == '.')
		return -EINVAL;
	for (; *s; s++) {
		if (*s == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || frac == 3 || v > UINT32_MAX)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (frac >= 0)
			frac++;
	}
	if (frac == 0)
		return -EINVAL; /* "1." */
	for (int i = frac < 0 ? 0 : frac; i < 3; i++)
		v *= 10;
	*out = v;
	return 0;
}

static int valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RUNTIME_ID_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int valid_hostname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RUNTIME_HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int valid_env(const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || strlen(s) > RUNTIME_ENV_LEN_MAX)
		return 0;
	for (const char *p = s; p < eq; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (p > s && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

static int valid_path(const char *s)
{
	return s[0] == '/' && strlen(s) < PATH_MAX && strcmp(s, "/") != 0;
}

int args_valid_sandbox_path(const char *path)
{
	static const char *const kernel[] = { "/proc", "/sys", "/dev" };
	size_t n = strlen(path);
	const char *p = path;

	if (path[0] != '/' || n < 2 || n > RUNTIME_SANDBOX_PATH_MAX)
		return 0;
	while (*p) {
		const char *c = p + 1, *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		p = c + len;
	}
	for (size_t i = 0; i < sizeof(kernel) / sizeof(kernel[0]); i++) {
		size_t k = strlen(kernel[i]);
		if (!strncmp(path, kernel[i], k) && (path[k] == '/' || !path[k]))
			return 0;
	}
	return 1;
}

enum opt {
	OPT_ID, OPT_ROOTFS, OPT_LOG, OPT_RUN_DIR, OPT_UID_BASE, OPT_TIMEOUT,
	OPT_MEMORY, OPT_CPUS, OPT_PIDS, OPT_LOG_LIMIT, OPT_HOSTNAME, OPT_ENV,
	OPT_SCRIPT_FILE, OPT_UPPER, OPT_LOWER, OPT_COPY_IN, OPT_KEEP_ALIVE,
	OPT_CONTROL, OPT_STATE_FILE, OPT_NET, OPT_NET_ADDR, OPT_NET_ALLOW,
	OPT_POOL,
	OPT_NETNS_FD,
};

static const struct {
	const char *name;
	enum opt opt;
} options[] = {
	{ "upper", OPT_UPPER },     { "lower", OPT_LOWER },
	{ "copy-in", OPT_COPY_IN }, { "keep-alive", OPT_KEEP_ALIVE },
	{ "control", OPT_CONTROL }, { "state-file", OPT_STATE_FILE },
	{ "id", OPT_ID },           { "rootfs", OPT_ROOTFS },
	{ "log", OPT_LOG },         { "run-dir", OPT_RUN_DIR },
	{ "uid-base", OPT_UID_BASE }, { "timeout", OPT_TIMEOUT },
	{ "memory-mb", OPT_MEMORY }, { "cpus", OPT_CPUS },
	{ "pids", OPT_PIDS },       { "log-limit", OPT_LOG_LIMIT },
	{ "hostname", OPT_HOSTNAME }, { "env", OPT_ENV },
	{ "script-file", OPT_SCRIPT_FILE },
	{ "net", OPT_NET },         { "net-addr", OPT_NET_ADDR },
	{ "net-allow", OPT_NET_ALLOW }, { "pool", OPT_POOL },
	{ "netns-fd", OPT_NETNS_FD },
};

static int set_option(struct runtime_config *cfg, enum opt opt, const char *name,
		      const char *val, struct mags_err *err)
{
	uint64_t v;

	switch (opt) {
	case OPT_ID:
		if (!valid_id(val))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --id '%s': use 1-%d of [A-Za-z0-9._-]",
				       val, RUNTIME_ID_MAX);
		cfg->id = val;
		return 0;
	case OPT_ROOTFS:
	case OPT_LOG:
	case OPT_RUN_DIR:
	case OPT_SCRIPT_FILE:
	case OPT_UPPER:
	case OPT_LOWER:
	case OPT_CONTROL:
	case OPT_STATE_FILE:
		if (!valid_path(val))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --%s '%s': need an absolute path", name, val);
		if (opt == OPT_ROOTFS)
			cfg->rootfs = val;
		else if (opt == OPT_LOG)
			cfg->log_path = val;
		else if (opt == OPT_SCRIPT_FILE)
			cfg->script_file = val;
		else if (opt == OPT_UPPER)
			cfg->upper = val;
		else if (opt == OPT_STATE_FILE)
			cfg->state_file = val;
		else if (opt == OPT_CONTROL) {
			if (strlen(val) > RUNTIME_SOCKET_PATH_MAX)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "invalid --control '%s': longer than %d bytes",
					       val, RUNTIME_SOCKET_PATH_MAX);
			cfg->control = val;
		} else if (opt == OPT_LOWER) {
			if (cfg->n_lower >= RUNTIME_LOWER_MAX)
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "too many --lower options (max %d)",
					       RUNTIME_LOWER_MAX);
			cfg->lower[cfg->n_lower++] = val;
		} else
			cfg->run_dir = val;
		return 0;
	case OPT_COPY_IN: {
		/* The host path is magsd's (no ':' in it); the rest is the
		 * sandbox path. */
		const char *colon = strchr(val, ':');
		struct runtime_copyin *c;

		if (!colon || colon == val || val[0] != '/' ||
		    (size_t)(colon - val) >= PATH_MAX || !args_valid_sandbox_path(colon + 1))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --copy-in '%.200s': need HOSTFILE:SANDBOXPATH, "
				       "both absolute, the sandbox path without '.', '..' "
				       "or '//' and outside /proc, /sys and /dev", val);
		if (cfg->n_copyin >= RUNTIME_COPYIN_MAX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "too many --copy-in options (max %d)", RUNTIME_COPYIN_MAX);
		c = &cfg->copyin[cfg->n_copyin++];
		c->host = val;
		c->host_len = (size_t)(colon - val);
		c->path = colon + 1;
		return 0;
	}
	case OPT_HOSTNAME:
		if (!valid_hostname(val))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --hostname '%s'", val);
		cfg->hostname = val;
		return 0;
	case OPT_ENV:
		if (!valid_env(val))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --env '%.64s': need KEY=VALUE", val);
		if (cfg->n_env >= RUNTIME_ENV_MAX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "too many --env options (max %d)", RUNTIME_ENV_MAX);
		cfg->env[cfg->n_env++] = val;
		return 0;
	case OPT_NET:
		if (!strcmp(val, "none"))
			cfg->net_mode = RUNTIME_NET_NONE;
		else if (!strcmp(val, "nat"))
			cfg->net_mode = RUNTIME_NET_NAT;
		else
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --net '%.32s': need none or nat", val);
		return 0;
	case OPT_NET_ADDR: {
		struct netcfg_link link;

		if (netcfg_parse_cidr(val, &cfg->net_addr) < 0 ||
		    netcfg_link_for_subnet(&cfg->net_addr, &link) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --net-addr '%.32s': need a /30 of %s by its "
				       "network address (10.200.0.4/30)", val, NETCFG_POOL_CIDR);
		cfg->has_net_addr = 1;
		return 0;
	}
	case OPT_NET_ALLOW:
		if (cfg->n_net_allow >= NETCFG_ALLOW_MAX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "too many --net-allow options (max %d)", NETCFG_ALLOW_MAX);
		if (netcfg_parse_cidr(val, &cfg->net_allow[cfg->n_net_allow]) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --net-allow '%.32s': need an IPv4 address or "
				       "network (198.51.100.0/24), host bits zero", val);
		cfg->n_net_allow++;
		return 0;
	case OPT_CPUS:
		if (parse_milli(val, &v) < 0 || v < 10 || v > 1024 * 1000)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --cpus '%s': need a number in 0.01..1024", val);
		cfg->cpu_milli = (uint32_t)v;
		return 0;
	default:
		break;
	}

	/* The numeric options. Ranges keep arithmetic on them overflow-free
	 * (uid_base + 65536, memory_mb << 20, cpu_milli * 100). The uid base
	 * must stay clear of the host's own users (0 .. 65535). */
	static const struct { enum opt opt; uint64_t min, max; } ranges[] = {
		{ OPT_UID_BASE, 65536, UINT32_MAX - RUNTIME_ID_RANGE },
		{ OPT_TIMEOUT, 0, 365u * 24 * 3600 },
		{ OPT_MEMORY, 16, 1u << 22 },
		{ OPT_PIDS, 2, 4u << 20 },
		{ OPT_LOG_LIMIT, 1024, 1ull << 40 },
		{ OPT_NETNS_FD, 3, 1u << 20 },
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (ranges[i].opt != opt)
			continue;
		if (parse_u64(val, ranges[i].min, ranges[i].max, &v) < 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "invalid --%s '%s': need an integer in %llu..%llu",
				       name, val, (unsigned long long)ranges[i].min,
				       (unsigned long long)ranges[i].max);
		switch (opt) {
		case OPT_UID_BASE: cfg->uid_base = (uint32_t)v; break;
		case OPT_TIMEOUT: cfg->timeout_sec = (uint32_t)v; break;
		case OPT_MEMORY: cfg->memory_mb = (uint32_t)v; break;
		case OPT_PIDS: cfg->pids = (uint32_t)v; break;
		case OPT_LOG_LIMIT: cfg->log_limit = v; break;
		case OPT_NETNS_FD: cfg->netns_fd = (int)v; break;
		default: break;
		}
		return 0;
	}
	return err_set(err, MAGS_E_INTERNAL, EINVAL, "unhandled option --%s", name);
}

int args_parse(int argc, char **argv, struct runtime_config *cfg,
	       struct mags_err *err)
{
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->uid_base = RUNTIME_DEFAULT_UID_BASE;
	cfg->timeout_sec = RUNTIME_DEFAULT_TIMEOUT;
	cfg->memory_mb = RUNTIME_DEFAULT_MEMORY_MB;
	cfg->cpu_milli = RUNTIME_DEFAULT_CPU_MILLI;
	cfg->pids = RUNTIME_DEFAULT_PIDS;
	cfg->log_limit = RUNTIME_DEFAULT_LOG_LIMIT;
	cfg->hostname = RUNTIME_DEFAULT_HOSTNAME;
	cfg->netns_fd = -1;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "help")))
		return 1;
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "unknown command '%s': only 'run' is supported",
			       argc < 2 ? "" : argv[1]);

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t n;
		int r, found = 0;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (strncmp(a, "--", 2) != 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "unexpected argument '%.64s': the script goes after '--'", a);
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if (n == 0 || n >= sizeof(name))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "unknown option '--%.32s'", a);
		memcpy(name, a, n);
		name[n] = '\0';
		for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
			if (strcmp(options[k].name, name) != 0)
				continue;
			found = 1;
			if (options[k].opt == OPT_KEEP_ALIVE || options[k].opt == OPT_POOL) {
				if (eq)
					return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
						       "option '--%s' takes no value", name);
				if (options[k].opt == OPT_POOL)
					cfg->pool = 1;
				else
					cfg->keep_alive = 1;
				break;
			}
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "option '--%s' needs a value", name);
			r = set_option(cfg, options[k].opt, name, val, err);
			if (r < 0)
				return r;
			break;
		}
		if (!found)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "unknown option '--%s'", name);
	}

	if (cfg->netns_fd >= 0 && (cfg->net_mode != RUNTIME_NET_NAT || !cfg->has_net_addr))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--netns-fd needs --net nat and --net-addr (a kept namespace "
			       "has the link of one address)");
	if ((cfg->has_net_addr || cfg->n_net_allow) && cfg->net_mode != RUNTIME_NET_NAT)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "--%s needs --net nat", cfg->has_net_addr ? "net-addr" : "net-allow");
	/* A pool member is only the job-independent part: the job comes
	 * later, on stdin (sandbox.c). */
	if (cfg->pool) {
		if (!cfg->id)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "missing --id");
		if (i < argc || cfg->script_file || cfg->log_path ||
		    cfg->n_net_allow || cfg->keep_alive || cfg->control ||
		    cfg->state_file || cfg->upper || cfg->n_lower || cfg->n_copyin || cfg->n_env)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "--pool takes only --id, --uid-base, --memory-mb, --cpus, "
				       "--pids, --net, --net-addr, --netns-fd, --rootfs and "
				       "--run-dir: the job comes on stdin");
		/* A prepared member builds its root filesystem on its own run
		 * dir before it parks: it needs both. */
		if (!cfg->rootfs != !cfg->run_dir)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "--pool with --%s needs --%s too",
				       cfg->rootfs ? "rootfs" : "run-dir",
				       cfg->rootfs ? "run-dir" : "rootfs");
		return 0;
	}
	if (!cfg->id || !cfg->rootfs || !cfg->log_path || !cfg->run_dir)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "missing --%s",
			       !cfg->id ? "id" : !cfg->rootfs ? "rootfs" :
			       !cfg->log_path ? "log" : "run-dir");
	/* One argument is at most 128 KiB (MAX_ARG_STRLEN): bigger scripts
	 * come in a file. */
	if (cfg->script_file) {
		if (i < argc)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "give the script after '--' or with --script-file, not both");
		return 0;
	}
	if (i >= argc)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "missing script: put it after '--'");
	if (i + 1 != argc)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "too many arguments after '--': quote the script as one argument");
	if (strlen(argv[i]) > RUNTIME_SCRIPT_MAX)
		return err_set(err, MAGS_E_TOO_LARGE, E2BIG,
			       "script too long (max %d bytes)", RUNTIME_SCRIPT_MAX);
	cfg->script = argv[i];
	return 0;
}

int args_split(char *buf, size_t len, char ***argv)
{
	size_t n = 0, k = 0;

	if (!len || buf[len - 1] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	if (n < 2 || n > RUNTIME_SPEC_ARGC_MAX)
		return -EINVAL;
	*argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		(*argv)[k++] = buf + i;
	return (int)n;
}
