/*
 * image.c - build, import and list sandbox images (see image.h).
 *
 * A sandbox's root filesystem is an overlay whose read-only lower layer is
 * an image: a plain directory tree owned by host root. Two images can be
 * built here: "busybox", a few hundred symlinks around Debian's static
 * busybox (built in milliseconds; the tests use it), and "default", Debian
 * bookworm made by debootstrap with the package list of DECISIONS D12
 * (minutes; what users get). Any other root filesystem comes in as a
 * tarball through image_import.
 *
 * Every producer writes into DATA_DIR/images/.tmp-NAME-PID-XXXXXX and the
 * finished tree is renamed over DATA_DIR/images/NAME at the very end, so a
 * crash or a failed build leaves at most a dot-directory that nothing uses
 * (and that the next build of that name removes once its pid is gone).
 */
#include "magsd/image.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define IMAGE_DEFAULT_SUITE "bookworm"
#define IMAGE_DEFAULT_MIRROR "http://deb.debian.org/debian"
#define IMAGE_HOSTNAME "mags-vm"

/* DECISIONS D12, plus libc6-dev (gcc only recommends it, and a compiler that
 * cannot find stdio.h is no compiler) and less. */
static const char *const default_packages[] = {
	"bash", "coreutils", "python3", "python3-pip", "nodejs", "npm", "git",
	"curl", "wget", "jq", "openssh-client", "gcc", "libc6-dev", "make",
	"vim", "nano", "ca-certificates", "procps", "iproute2", "less",
	NULL,
};

static void progress(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void progress(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "image %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

int image_name_valid(const char *name)
{
	size_t n;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') ||
		       (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (n = 1; name[n]; n++) {
		char c = name[n];
		if (n >= 64)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* ---- running helpers ---------------------------------------------------- */

/* Exit status of a waited child as a shell would report it. */
static int wait_code(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* In a freshly forked child: stdin from /dev/null, stdout to out_fd (or to
 * stderr, so a helper's chatter becomes our progress output), nothing else
 * open, then optionally chroot into root. */
static void child_setup(int out_fd, const char *root)
{
	int nul = open("/dev/null", O_RDONLY);

	if (nul >= 0 && nul != 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(out_fd >= 0 ? out_fd : 2, 1);
	if (out_fd > 2)
		close(out_fd);
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	if (root && (chroot(root) < 0 || chdir("/") < 0)) {
		fprintf(stderr, "chroot '%s': %s\n", root, strerror(errno));
		_exit(127);
	}
}

/* Run argv (PATH lookup) and wait. envp NULL keeps our environment.
 * Returns its exit code (>= 0; 127 if it could not be executed) or -errno. */
static int run_cmd(char *const argv[], char *const envp[], const char *root,
		   int out_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		child_setup(out_fd, root);
		if (envp)
			execvpe(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "exec '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return wait_code(pid);
}

/* Run argv and capture up to max bytes of its stdout into *out (NUL
 * terminated, caller frees). Returns the exit code or -errno. */
static int run_capture(char *const argv[], size_t max, char **out)
{
	int p[2], code;
	size_t len = 0, cap = 4096;
	char *buf;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		child_setup(p[1], NULL);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max)
				break;
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(p[0], buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(p[0]);
	code = wait_code(pid);
	buf[len] = '\0';
	*out = buf;
	return code;
}

/* ---- small file helpers ------------------------------------------------- */

static int write_new_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      mode);
	int r;

	if (fd < 0)
		return -errno;
	r = write_full(fd, data, strlen(data));
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	char buf[65536];

	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		int r = write_full(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (fchmod(out, mode) < 0)
		return -errno;
	return 0;
}

/* 1 if path is an ELF executable without a program interpreter (static),
 * 0 if it is dynamic or not ELF, -errno if unreadable. A dynamic busybox
 * (Debian's "busybox" package, not "busybox-static") would not run inside
 * an image that has no libc. */
static int elf_is_static(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (fd < 0)
		return -errno;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		off_t off = (off_t)eh.e_phoff + (off_t)i * eh.e_phentsize;
		if (pread(fd, &ph, sizeof(ph), off) != (ssize_t)sizeof(ph))
			return 0;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1;
}

/* ---- size of a tree ----------------------------------------------------- */

/* nftw has no user pointer; image functions are not used from threads. */
static uint64_t tree_bytes;

static int tree_add(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	/* Apparent size; hard links count once per name (close enough). */
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (uint64_t)st->st_size;
	else if (flag == FTW_SL)
		tree_bytes += (uint64_t)st->st_size;
	return 0;
}

static uint64_t tree_size(const char *dir)
{
	tree_bytes = 0;
	nftw(dir, tree_add, 32, FTW_PHYS | FTW_MOUNT);
	return tree_bytes;
}

/* ---- temp dir and the final rename -------------------------------------- */

/* Remove .tmp-NAME-PID-* left by builds whose process is gone. */
static void remove_stale_tmp(const char *images, const char *name)
{
	_cleanup_free_ char *prefix = xasprintf(".tmp-%s-", name);
	size_t plen = strlen(prefix);
	DIR *d = opendir(images);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		long pid = strtol(de->d_name + plen, NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", images, de->d_name);
		rm_rf(p);
	}
	closedir(d);
}

/* Create DATA_DIR/images/.tmp-NAME-PID-XXXXXX/rootfs. *tmp gets the
 * temp directory (caller frees, and removes it on failure). */
static int tmp_begin(const char *data_dir, const char *name, char **tmp,
		     struct mags_err *err)
{
	_cleanup_free_ char *images = xasprintf("%s/images", data_dir);
	char *t;
	int r;

	*tmp = NULL;
	r = mkdir_p(images, 0755);
	if (r < 0)
		return err_sys(err, -r, "create '%s'", images);
	remove_stale_tmp(images, name);
	t = xasprintf("%s/.tmp-%s-%ld-XXXXXX", images, name, (long)getpid());
	if (!mkdtemp(t)) {
		r = -errno;
		free(t);
		return err_sys(err, -r, "create temporary directory in '%s'", images);
	}
	chmod(t, 0755);
	_cleanup_free_ char *root = xasprintf("%s/rootfs", t);
	if (mkdir(root, 0755) < 0) {
		r = -errno;
		rm_rf(t);
		free(t);
		return err_sys(err, -r, "create '%s'", root);
	}
	chmod(root, 0755);
	*tmp = t;
	return 0;
}

/* Write TMP/info, then move TMP to DATA_DIR/images/NAME, replacing an
 * existing image atomically. On failure TMP is left for the caller. */
static int tmp_commit(const char *data_dir, const char *name, const char *tmp,
		      const char *source, struct mags_err *err)
{
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	_cleanup_free_ char *info_path = xasprintf("%s/info", tmp);
	_cleanup_free_ char *target = xasprintf("%s/images/%s", data_dir, name);
	_cleanup_free_ char *info = NULL;
	int r;

	info = xasprintf("created=%lld\nsize=%llu\nsource=%s\n",
			 (long long)time_now_ms(),
			 (unsigned long long)tree_size(root), source);
	r = write_new_file(info_path, info, 0644);
	if (r < 0)
		return err_sys(err, -r, "write '%s'", info_path);
	/* The tree reaches the disk before its name makes it an image. */
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		syncfs(dfd);
		close(dfd);
	}
	if (rename(tmp, target) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return err_sys(err, errno, "rename '%s' to '%s'", tmp, target);
	/* An image of that name exists: swap, then the old one sits at tmp. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_EXCHANGE) < 0)
		return err_sys(err, errno, "replace '%s'", target);
	rm_rf(tmp);
	return 0;
}

static void tmp_abort(char *tmp)
{
	if (tmp) {
		rm_rf(tmp);
		free(tmp);
	}
}

/* ---- the files every image gets ----------------------------------------- */

static int write_etc(const char *root, const char *pretty, int overwrite_ids)
{
	static const struct {
		const char *path;
		const char *data;
		int ids; /* passwd/group: only when we own the image's users */
	} files[] = {
		{ "etc/passwd",
		  "root:x:0:0:root:/root:/bin/sh\n"
		  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 1 },
		{ "etc/group", "root:x:0:\nnogroup:x:65534:\n", 1 },
		{ "etc/hostname", IMAGE_HOSTNAME "\n", 0 },
		{ "etc/hosts",
		  "127.0.0.1\tlocalhost\n"
		  "127.0.1.1\t" IMAGE_HOSTNAME "\n"
		  "::1\tlocalhost ip6-localhost ip6-loopback\n", 0 },
	};
	int r;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].ids && !overwrite_ids)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", root, files[i].path);
		r = write_new_file(p, files[i].data, 0644);
		if (r < 0)
			return r;
	}
	if (pretty) {
		_cleanup_free_ char *p = xasprintf("%s/etc/os-release", root);
		_cleanup_free_ char *d = xasprintf(
			"PRETTY_NAME=\"%s\"\nNAME=\"mags busybox\"\nID=mags-busybox\n"
			"VERSION_ID=1\nHOME_URL=\"https://github.com/mags\"\n", pretty);
		r = write_new_file(p, d, 0644);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- busybox ------------------------------------------------------------ */

static int build_busybox(const char *root, struct mags_err *err)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
		{ "bin", 0755 }, { "sbin", 0755 }, { "usr", 0755 },
		{ "usr/bin", 0755 }, { "usr/sbin", 0755 }, { "usr/local", 0755 },
		{ "usr/local/bin", 0755 }, { "etc", 0755 }, { "root", 0700 },
		{ "tmp", 01777 }, { "proc", 0555 }, { "sys", 0555 },
		{ "dev", 0755 }, { "run", 0755 }, { "var", 0755 },
		{ "var/tmp", 01777 }, { "uploads", 0755 }, { "home", 0755 },
	};
	const char *bb = getenv("MAGS_BUSYBOX");
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char *dst = xasprintf("%s/bin/busybox", root);
	int r, n = 0;

	if (!bb || !*bb)
		bb = "/bin/busybox";
	r = elf_is_static(bb);
	if (r < 0)
		return err_set(err, MAGS_E_INTERNAL, -r,
			       "busybox '%s': %s (install Debian's busybox-static)",
			       bb, strerror(-r));
	if (r == 0)
		return err_set(err, MAGS_E_INTERNAL, ENOEXEC,
			       "busybox '%s' is not a static executable "
			       "(install Debian's busybox-static)", bb);

	progress("busybox", "creating directories");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, dirs[i].path);
		if (mkdir(p, dirs[i].mode) < 0 && errno != EEXIST)
			return err_sys(err, errno, "create '%s'", p);
		if (chmod(p, dirs[i].mode) < 0) /* umask must not win */
			return err_sys(err, errno, "chmod '%s'", p);
	}

	progress("busybox", "copying %s", bb);
	r = copy_file(bb, dst, 0755);
	if (r < 0)
		return err_sys(err, -r, "copy '%s' to '%s'", bb, dst);

	char *argv[] = { (char *)bb, "--list-full", NULL };
	r = run_capture(argv, 1 << 20, &list);
	if (r != 0)
		return err_set(err, MAGS_E_INTERNAL, r < 0 ? -r : EIO,
			       "'%s --list-full' failed (%d)", bb, r);
	for (char *line = list, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* Entries are relative paths like "usr/bin/awk". */
		if (!*line || line[0] == '/' || strstr(line, "..") ||
		    !strcmp(line, "bin/busybox"))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", root, line);
		if (symlink("/bin/busybox", p) < 0) {
			if (errno == EEXIST)
				continue;
			return err_sys(err, errno, "symlink '%s'", p);
		}
		n++;
	}
	progress("busybox", "linked %d applets", n);
	_cleanup_free_ char *sh = xasprintf("%s/bin/sh", root);
	if (access(sh, F_OK) < 0)
		return err_set(err, MAGS_E_INTERNAL, ENOENT,
			       "busybox '%s' has no 'sh' applet", bb);

	r = write_etc(root, "mags busybox", 1);
	if (r < 0)
		return err_sys(err, -r, "write files in '%s/etc'", root);
	_cleanup_free_ char *prof = xasprintf("%s/etc/profile", root);
	r = write_new_file(prof,
			   "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			   "/usr/bin:/sbin:/bin\nexport PS1='\\u@\\h:\\w\\$ '\n",
			   0644);
	if (r < 0)
		return err_sys(err, -r, "write '%s'", prof);
	return 0;
}

/* ---- default (Debian) --------------------------------------------------- */

/* The Debian mirror the host's apt uses: the first URI of a source that
 * serves the bookworm suite (one-line .list and deb822 .sources formats).
 * $MAGS_DEBIAN_MIRROR wins; deb.debian.org is the fallback. */
static char *debian_mirror(void)
{
	const char *env = getenv("MAGS_DEBIAN_MIRROR");
	char *found = NULL;
	DIR *d;
	struct dirent *de;

	if (env && *env)
		return xstrdup(env);

	const char *files[64];
	char *owned[64];
	size_t nfiles = 0;

	files[nfiles] = "/etc/apt/sources.list";
	owned[nfiles++] = NULL;
	d = opendir("/etc/apt/sources.list.d");
	while (d && (de = readdir(d)) && nfiles < 64) {
		size_t l = strlen(de->d_name);
		if ((l > 5 && !strcmp(de->d_name + l - 5, ".list")) ||
		    (l > 8 && !strcmp(de->d_name + l - 8, ".sources"))) {
			owned[nfiles] = xasprintf("/etc/apt/sources.list.d/%s", de->d_name);
			files[nfiles] = owned[nfiles];
			nfiles++;
		}
	}
	if (d)
		closedir(d);

	for (size_t i = 0; i < nfiles && !found; i++) {
		_cleanup_free_ char *txt = NULL;
		if (read_file(files[i], 1 << 20, &txt) < 0)
			continue;
		/* deb822 stanzas: remember URIs and Suites until a blank line. */
		char uri[512] = "";
		int suite_ok = 0, is_deb = 0, deb822 = 0;
		for (char *line = txt, *next; line && !found; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			while (*line == ' ' || *line == '\t')
				line++;
			if (*line == '#')
				continue;
			if (!*line) {
				if (deb822 && is_deb && suite_ok && uri[0])
					found = xstrdup(uri);
				uri[0] = '\0';
				suite_ok = is_deb = deb822 = 0;
				continue;
			}
			if (!strncasecmp(line, "Types:", 6)) {
				deb822 = 1;
				is_deb = 0;
				for (char *t = line + 6; (t = strstr(t, "deb")); t += 3)
					if ((t[-1] == ' ' || t[-1] == '\t' || t[-1] == ':') &&
					    (t[3] == '\0' || t[3] == ' ' || t[3] == '\t'))
						is_deb = 1;
			} else if (!strncasecmp(line, "URIs:", 5)) {
				deb822 = 1;
				sscanf(line + 5, " %511s", uri);
			} else if (!strncasecmp(line, "Suites:", 7)) {
				deb822 = 1;
				char *s = line + 7;
				/* "bookworm" as a whole word, not bookworm-security */
				for (char *t = s; (t = strstr(t, IMAGE_DEFAULT_SUITE)); t++) {
					char after = t[strlen(IMAGE_DEFAULT_SUITE)];
					if ((t == s || t[-1] == ' ' || t[-1] == '\t') &&
					    (after == '\0' || after == ' ' || after == '\t'))
						suite_ok = 1;
				}
			} else if (!strncmp(line, "deb ", 4) || !strncmp(line, "deb\t", 4)) {
				/* deb [opts] URI SUITE COMPONENTS */
				char *p = line + 4, u[512], s[128];
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p == '[') {
					p = strchr(p, ']');
					if (!p)
						continue;
					p++;
				}
				if (sscanf(p, " %511s %127s", u, s) == 2 &&
				    !strcmp(s, IMAGE_DEFAULT_SUITE))
					found = xstrdup(u);
			}
		}
		if (!found && deb822 && is_deb && suite_ok && uri[0])
			found = xstrdup(uri);
	}
	for (size_t i = 0; i < nfiles; i++)
		free(owned[i]);
	return found ? found : xstrdup(IMAGE_DEFAULT_MIRROR);
}

/* The `apk` command of DECISIONS D12: Alpine's package commands on apt. */
static const char apk_shim[] =
	"#!/bin/sh\n"
	"# apk shim (mags): maps Alpine's apk add/del/update to Debian's apt-get so\n"
	"# scripts written for Alpine-based sandboxes keep working.\n"
	"set -e\n"
	"export DEBIAN_FRONTEND=noninteractive\n"
	"map() {\n"
	"\tcase \"$1\" in\n"
	"\tpy3-pip|py-pip) echo python3-pip ;;\n"
	"\tpy3-*) echo \"python3-${1#py3-}\" ;;\n"
	"\tpython3|python) echo python3 ;;\n"
	"\tpython3-dev|python-dev) echo python3-dev ;;\n"
	"\tnodejs|nodejs-current) echo nodejs ;;\n"
	"\tnpm) echo npm ;;\n"
	"\topenssh|openssh-client|openssh-client-default) echo openssh-client ;;\n"
	"\topenssh-server) echo openssh-server ;;\n"
	"\tbuild-base|alpine-sdk) echo build-essential ;;\n"
	"\tlinux-headers) echo linux-libc-dev ;;\n"
	"\tmusl-dev|libc-dev) echo libc6-dev ;;\n"
	"\tg++) echo g++ ;;\n"
	"\tbind-tools) echo dnsutils ;;\n"
	"\topenssl-dev|libressl-dev) echo libssl-dev ;;\n"
	"\tzlib-dev) echo zlib1g-dev ;;\n"
	"\tlibffi-dev) echo libffi-dev ;;\n"
	"\tsqlite) echo sqlite3 ;;\n"
	"\tsqlite-dev) echo libsqlite3-dev ;;\n"
	"\tpostgresql-client) echo postgresql-client ;;\n"
	"\tchromium) echo chromium ;;\n"
	"\tttf-freefont) echo fonts-freefont-ttf ;;\n"
	"\tshadow) echo passwd ;;\n"
	"\txz) echo xz-utils ;;\n"
	"\tbzip2) echo bzip2 ;;\n"
	"\tgnupg) echo gnupg ;;\n"
	"\ttzdata) echo tzdata ;;\n"
	"\tcoreutils|bash|git|curl|wget|jq|make|gcc|vim|nano|ca-certificates|procps|iproute2|tar|unzip|zip|rsync|file|less|ffmpeg|imagemagick|redis|nginx|sudo|tini|htop|tmux|strace) echo \"$1\" ;;\n"
	"\t*-dev) echo \"lib${1%-dev}-dev\" ;;\n"
	"\t*) echo \"$1\" ;;\n"
	"\tesac\n"
	"}\n"
	"lists_empty() { [ -z \"$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$')\" ]; }\n"
	"cmd=\"$1\"; [ $# -gt 0 ] && shift\n"
	"pkgs=\"\"; opts=\"\"\n"
	"for a in \"$@\"; do\n"
	"\tcase \"$a\" in\n"
	"\t--no-cache|--update-cache|-U|--quiet|-q|--virtual|--force|-f) [ \"$a\" = -U ] || [ \"$a\" = --update-cache ] && opts=update ;;\n"
	"\t-*) ;;\n"
	"\t*) pkgs=\"$pkgs $(map \"$a\")\" ;;\n"
	"\tesac\n"
	"done\n"
	"case \"$cmd\" in\n"
	"update) exec apt-get update ;;\n"
	"upgrade) apt-get update && exec apt-get -y upgrade ;;\n"
	"add)\n"
	"\tif [ \"$opts\" = update ] || lists_empty; then apt-get update; fi\n"
	"\texec apt-get install -y --no-install-recommends $pkgs ;;\n"
	"del) exec apt-get remove -y $pkgs ;;\n"
	"search) exec apt-cache search $pkgs ;;\n"
	"info) exec apt-cache show $pkgs ;;\n"
	"list) exec dpkg -l ;;\n"
	"*) echo \"usage: apk add|del|update|upgrade|search|info|list [packages]\" >&2; exit 1 ;;\n"
	"esac\n";

/* Mount what apt needs in root (in the calling process's private mount
 * namespace: everything disappears with it, the unmounts are courtesy). */
static const struct {
	const char *src, *dst, *type;
	unsigned long flags;
} chroot_mounts[] = {
	{ "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "sysfs", "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY },
	{ "/dev", "dev", NULL, MS_BIND | MS_REC },
};

static void chroot_umount(const char *root, size_t n)
{
	while (n-- > 0) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, chroot_mounts[n].dst);
		if (umount2(p, MNT_DETACH) < 0)
			fprintf(stderr, "umount '%s': %s\n", p, strerror(errno));
	}
}

/* The chroot step, in a child with its own mount namespace: apt-get update
 * and install the package list, then clean. Returns the child's exit code. */
static int default_chroot_step(const char *root)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		size_t n = 0;
		int code = 0;
		char *envp[] = {
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8", "HOME=/root",
			NULL,
		};

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			fprintf(stderr, "private mount namespace: %s\n", strerror(errno));
			_exit(1);
		}
		for (; n < sizeof(chroot_mounts) / sizeof(chroot_mounts[0]); n++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", root, chroot_mounts[n].dst);
			mkdir(p, 0755);
			if (mount(chroot_mounts[n].src, p, chroot_mounts[n].type,
				  chroot_mounts[n].flags, NULL) < 0) {
				fprintf(stderr, "mount '%s': %s\n", p, strerror(errno));
				chroot_umount(root, n);
				_exit(1);
			}
		}

		char *update[] = { "apt-get", "update", NULL };
		size_t np = sizeof(default_packages) / sizeof(default_packages[0]);
		char **install = xcalloc(np + 8, sizeof(char *));
		size_t k = 0;
		install[k++] = "apt-get";
		install[k++] = "install";
		install[k++] = "-y";
		install[k++] = "--no-install-recommends";
		for (size_t i = 0; default_packages[i]; i++)
			install[k++] = (char *)default_packages[i];
		install[k] = NULL;
		char *clean[] = { "apt-get", "clean", NULL };

		fprintf(stderr, "image default: apt-get update\n");
		code = run_cmd(update, envp, root, -1);
		if (code == 0) {
			fprintf(stderr, "image default: apt-get install");
			for (size_t i = 0; default_packages[i]; i++)
				fprintf(stderr, " %s", default_packages[i]);
			fprintf(stderr, "\n");
			code = run_cmd(install, envp, root, -1);
		}
		if (code == 0)
			code = run_cmd(clean, envp, root, -1);
		chroot_umount(root, n);
		_exit(code < 0 ? 1 : code);
	}
	return wait_code(pid);
}

static int build_default(const char *root, struct mags_err *err)
{
	_cleanup_free_ char *mirror = debian_mirror();
	int r;

	if (geteuid() != 0)
		return err_set(err, MAGS_E_FORBIDDEN, EPERM,
			       "building the default image needs root "
			       "(debootstrap and chroot)");

	progress("default", "debootstrap --variant=minbase %s from %s (takes minutes)",
		 IMAGE_DEFAULT_SUITE, mirror);
	char *deboot[] = { "debootstrap", "--variant=minbase", IMAGE_DEFAULT_SUITE,
			   (char *)root, mirror, NULL };
	r = run_cmd(deboot, NULL, NULL, -1);
	if (r == 127)
		return err_set(err, MAGS_E_INTERNAL, ENOENT,
			       "debootstrap not found (apt-get install debootstrap)");
	if (r != 0)
		return err_set(err, MAGS_E_INTERNAL, r < 0 ? -r : EIO,
			       "debootstrap failed (exit %d), see the output above", r);

	/* Name resolution for apt inside the chroot, and no daemons started
	 * by package scripts. */
	_cleanup_free_ char *resolv = xasprintf("%s/etc/resolv.conf", root);
	_cleanup_free_ char *hostres = NULL;
	if (read_file("/etc/resolv.conf", 1 << 16, &hostres) >= 0) {
		unlink(resolv); /* may be a dangling symlink */
		write_new_file(resolv, hostres, 0644);
	}
	_cleanup_free_ char *policy = xasprintf("%s/usr/sbin/policy-rc.d", root);
	r = write_new_file(policy, "#!/bin/sh\nexit 101\n", 0755);
	if (r < 0)
		return err_sys(err, -r, "write '%s'", policy);

	progress("default", "installing packages in a chroot");
	r = default_chroot_step(root);
	unlink(policy);
	if (r != 0)
		return err_set(err, MAGS_E_INTERNAL, r < 0 ? -r : EIO,
			       "installing packages failed (exit %d), see the output above", r);

	progress("default", "adding the apk shim and mags settings");
	_cleanup_free_ char *lbin = xasprintf("%s/usr/local/bin", root);
	mkdir_p(lbin, 0755);
	_cleanup_free_ char *apk = xasprintf("%s/usr/local/bin/apk", root);
	r = write_new_file(apk, apk_shim, 0755);
	if (r < 0)
		return err_sys(err, -r, "write '%s'", apk);
	r = write_etc(root, NULL, 0);
	if (r < 0)
		return err_sys(err, -r, "write files in '%s/etc'", root);
	_cleanup_free_ char *uploads = xasprintf("%s/uploads", root);
	mkdir(uploads, 0755);
	/* Package lists are large and go stale; `apk add` fetches them. */
	_cleanup_free_ char *lists = xasprintf("%s/var/lib/apt/lists", root);
	DIR *d = opendir(lists);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "partial") ||
		    !strcmp(de->d_name, "lock"))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", lists, de->d_name);
		rm_rf(p);
	}
	if (d)
		closedir(d);
	return 0;
}

int image_build(const char *data_dir, const char *name, struct mags_err *err)
{
	char *tmp = NULL;
	int64_t t0 = time_mono_ms();
	int r;

	if (!image_name_valid(name) ||
	    (strcmp(name, "busybox") != 0 && strcmp(name, "default") != 0))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "unknown image '%s' (can build: busybox, default)",
			       name ? name : "");
	r = tmp_begin(data_dir, name, &tmp, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	if (!strcmp(name, "busybox"))
		r = build_busybox(root, err);
	else
		r = build_default(root, err);
	if (r == 0)
		r = tmp_commit(data_dir, name, tmp,
			       !strcmp(name, "busybox") ? "busybox" : "debootstrap", err);
	if (r < 0) {
		tmp_abort(tmp);
		err_wrap(err, "build image '%s'", name);
		return r;
	}
	free(tmp);
	progress(name, "done in %.1f s: %s/images/%s/rootfs",
		 (double)(time_mono_ms() - t0) / 1000.0, data_dir, name);
	return 0;
}

/* ---- import ------------------------------------------------------------- */

/* 1 if a member name as `tar -t` prints it is safe to extract: relative and
 * without ".." components (GNU tar escapes newlines, so one line is one
 * member, and escaping never produces a bare ".." component). */
static int member_safe(const char *m)
{
	const char *p = m;

	if (m[0] == '/')
		return 0;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		if (!e)
			break;
		p = e + 1;
	}
	return 1;
}

int image_import(const char *data_dir, const char *name, const char *tarball,
		 struct mags_err *err)
{
	_cleanup_free_ char *list = NULL;
	char *tmp = NULL;
	struct stat st;
	int r, members = 0;

	if (!image_name_valid(name))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "invalid image name '%s' (want [a-z0-9][a-z0-9._-]{0,63})",
			       name ? name : "");
	if (stat(tarball, &st) < 0)
		return err_sys(err, errno, "tarball '%s'", tarball);
	if (!S_ISREG(st.st_mode))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "tarball '%s' is not a regular file", tarball);

	/* Read the listing first: nothing is written unless every member is
	 * relative and free of "..". */
	progress(name, "checking %s", tarball);
	char *tlist[] = { "tar", "-tf", (char *)tarball, NULL };
	r = run_capture(tlist, (size_t)1 << 30, &list);
	if (r != 0)
		return err_set(err, MAGS_E_BAD_REQUEST, r < 0 ? -r : EINVAL,
			       "import image '%s': cannot read tarball '%s' (tar exit %d)",
			       name, tarball, r);
	for (char *line = list, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line)
			continue;
		if (!member_safe(line))
			return err_set(err, MAGS_E_BAD_REQUEST, EPERM,
				       "import image '%s': tarball member '%s' is "
				       "absolute or contains '..'", name, line);
		members++;
	}
	if (members == 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "import image '%s': tarball '%s' is empty", name, tarball);

	r = tmp_begin(data_dir, name, &tmp, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	progress(name, "extracting %d entries", members);
	/* GNU tar also refuses "..", strips "/", and defers symlinks whose
	 * targets are absolute or climb (placeholders), so a member cannot be
	 * written through a symlink created by the archive. */
	char *tx[] = { "tar", "--numeric-owner", "--no-overwrite-dir",
		       "--same-owner", "-p", "-C", root, "-xf", (char *)tarball, NULL };
	r = run_cmd(tx, NULL, NULL, -1);
	if (r != 0) {
		tmp_abort(tmp);
		return err_set(err, MAGS_E_BAD_REQUEST, r < 0 ? -r : EIO,
			       "import image '%s': tar failed (exit %d)", name, r);
	}

	/* The extracted root must still be a real directory (not replaced by a
	 * symlink member "."), and has the mount points a sandbox needs. */
	if (lstat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		tmp_abort(tmp);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "import image '%s': the tarball's root is not a directory", name);
	}
	static const char *const mnt[] = { "proc", "sys", "dev", "tmp", "root",
					   "uploads" };
	for (size_t i = 0; i < sizeof(mnt) / sizeof(mnt[0]); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, mnt[i]);
		if (lstat(p, &st) == 0)
			continue;
		mode_t m = !strcmp(mnt[i], "tmp") ? 01777 :
			   !strcmp(mnt[i], "root") ? 0700 : 0755;
		if (mkdir(p, m) == 0)
			chmod(p, m);
	}
	r = tmp_commit(data_dir, name, tmp, "import", err);
	if (r < 0) {
		tmp_abort(tmp);
		err_wrap(err, "import image '%s'", name);
		return r;
	}
	free(tmp);
	progress(name, "imported: %s/images/%s/rootfs", data_dir, name);
	return 0;
}

/* ---- list and lookup ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_one(const char *data_dir, const char *name, FILE *out)
{
	_cleanup_free_ char *dir = xasprintf("%s/images/%s", data_dir, name);
	_cleanup_free_ char *info_path = xasprintf("%s/info", dir);
	_cleanup_free_ char *info = NULL;
	long long created = -1;
	unsigned long long size = 0;
	int have_size = 0;
	char iso[40];
	struct stat st;

	if (read_file(info_path, 4096, &info) >= 0) {
		for (char *l = info, *n; l && *l; l = n) {
			n = strchr(l, '\n');
			if (n)
				*n++ = '\0';
			if (!strncmp(l, "created=", 8))
				created = strtoll(l + 8, NULL, 10);
			else if (!strncmp(l, "size=", 5)) {
				size = strtoull(l + 5, NULL, 10);
				have_size = 1;
			}
		}
	}
	if (!have_size) {
		_cleanup_free_ char *root = xasprintf("%s/rootfs", dir);
		size = tree_size(root);
	}
	if (created < 0 && stat(dir, &st) == 0)
		created = (long long)st.st_mtim.tv_sec * 1000 +
			  st.st_mtim.tv_nsec / 1000000;
	time_format_iso(created < 0 ? 0 : created, iso, sizeof(iso));
	fprintf(out, "%s\t%llu\t%s\n", name, size, iso);
}

int image_list(const char *data_dir, FILE *out, struct mags_err *err)
{
	_cleanup_free_ char *images = xasprintf("%s/images", data_dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(images);

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(err, errno, "open '%s'", images);
	}
	while ((de = readdir(d))) {
		if (!image_name_valid(de->d_name))
			continue;
		_cleanup_free_ char *root = image_rootfs(data_dir, de->d_name);
		if (!root)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		list_one(data_dir, names[i], out);
		free(names[i]);
	}
	free(names);
	if (fflush(out) != 0)
		return err_sys(err, errno, "write image list");
	return 0;
}

char *image_rootfs(const char *data_dir, const char *name)
{
	struct stat st;
	char *p;

	if (!data_dir || !image_name_valid(name))
		return NULL;
	p = xasprintf("%s/images/%s/rootfs", data_dir, name);
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(p);
		return NULL;
	}
	return p;
}
