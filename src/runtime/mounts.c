/*
 * mounts.c - build the sandbox's mount tree (see mounts.h).
 *
 * Why idmapped mounts: the image is owned by host root and shared by every
 * job. Chowning a copy per sandbox is slow; an idmapped mount makes the
 * same files appear owned by the sandbox's root without touching them.
 * Overlay over an idmapped lower layer needs Linux >= 5.19; overlay inside
 * a user namespace >= 5.11 ("userxattr" keeps its metadata in user.*
 * xattrs, which tmpfs supports since 6.6).
 *
 * Order matters: everything is mounted below run_dir/root while the host
 * tree is still visible (a fresh proc/sysfs is only allowed in a user
 * namespace while a fully visible one exists, and the device nodes are
 * bound from the host's /dev), then pivot_root drops the host tree.
 */
#include "runtime/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

/* The new mount API through syscall(2): older glibc has no wrappers. */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

struct mags_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

int mounts_idmapped_tree(const char *dir, pid_t userns_pid, int writable,
			 struct mags_err *err)
{
	char path[64];
	_cleanup_close_ int userns = -1;
	int tree;
	struct mags_mount_attr attr = { 0 };

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)userns_pid);
	userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		return err_sys(err, errno, "open '%s'", path);
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, dir,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return err_sys(err, errno, "open_tree '%s'", dir);
	attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV |
			(writable ? 0 : MOUNT_ATTR_RDONLY);
	attr.userns_fd = (uint64_t)userns;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
		    &attr, sizeof(attr)) < 0) {
		int e = errno;
		close(tree);
		return err_sys(err, e, "idmap '%s'", dir);
	}
	return tree;
}

int mounts_make_private(struct mags_err *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(err, errno, "make '/' private");
	return 0;
}

static int mkdir_at(int dfd, const char *name, mode_t mode, struct mags_err *err)
{
	if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '%s'", name);
	return 0;
}

int mounts_scratch(const char *run_dir, unsigned size_mb, struct mags_err *err)
{
	char opts[64];
	int fd;

	/* Its pages are charged to the sandbox's memory cgroup. uid=0 is
	 * read in the sandbox's user namespace: its root owns it. */
	snprintf(opts, sizeof(opts), "mode=0755,uid=0,gid=0,size=%um", size_mb);
	if (mount("mags", run_dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return err_sys(err, errno, "mount tmpfs on '%s'", run_dir);
	fd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "open '%s'", run_dir);
	return fd;
}

static int attach(int fd, const char *name, mode_t mode, struct mags_err *err)
{
	int r = mkdir_at(AT_FDCWD, name, mode, err);

	if (r < 0)
		return r;
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return err_sys(err, errno, "attach '%s'", name);
	return 0;
}

int mounts_rootfs(struct mounts_layers *l, struct mags_err *err)
{
	char opts[512], name[16];
	size_t off = 0;
	int r;

	/* Relative paths from the scratch dir: the overlay option string
	 * cannot quote ',' or ':' that an absolute run_dir might hold. */
	if ((r = mkdir_at(AT_FDCWD, "root", 0755, err)) < 0)
		goto out;
	if ((r = attach(l->image, "lower", 0755, err)) < 0) {
		err_wrap(err, "image");
		goto out;
	}
	off += (size_t)snprintf(opts + off, sizeof(opts) - off, "lowerdir=");
	for (unsigned i = 0; i < l->n_lower; i++) {
		snprintf(name, sizeof(name), "l%u", i);
		if ((r = attach(l->lower[i], name, 0755, err)) < 0) {
			err_wrap(err, "lower layer %u", i);
			goto out;
		}
		off += (size_t)snprintf(opts + off, sizeof(opts) - off, "%s:", name);
	}
	off += (size_t)snprintf(opts + off, sizeof(opts) - off, "lower,");
	if (l->upper >= 0) {
		/* The workspace: its upper/ and work/ on one (idmapped) mount,
		 * as overlayfs requires. */
		if ((r = attach(l->upper, "ws", 0755, err)) < 0) {
			err_wrap(err, "upper layer");
			goto out;
		}
		off += (size_t)snprintf(opts + off, sizeof(opts) - off,
					"upperdir=ws/upper,workdir=ws/work,userxattr");
	} else {
		if ((r = mkdir_at(AT_FDCWD, "upper", 0755, err)) < 0 ||
		    (r = mkdir_at(AT_FDCWD, "work", 0700, err)) < 0)
			goto out;
		off += (size_t)snprintf(opts + off, sizeof(opts) - off,
					"upperdir=upper,workdir=work,userxattr");
	}
	if (off >= sizeof(opts) - 1) {
		r = err_set(err, MAGS_E_INTERNAL, E2BIG, "overlay options too long");
		goto out;
	}
	if (mount("overlay", "root", "overlay", MS_NODEV, opts) < 0) {
		r = err_sys(err, errno, "mount overlay");
		goto out;
	}
	r = 0;
out:
	mounts_layers_release(l);
	return r;
}

void mounts_layers_release(struct mounts_layers *l)
{
	if (l->image >= 0)
		close(l->image);
	for (unsigned i = 0; i < l->n_lower; i++)
		if (l->lower[i] >= 0)
			close(l->lower[i]);
	if (l->upper >= 0)
		close(l->upper);
	l->image = l->upper = -1;
	l->n_lower = 0;
}

/* The image may lack a mount point: create it (in the overlay upper). */
static int ensure_dir(const char *root, const char *rel, mode_t mode,
		      struct mags_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir '/%s'", rel);
	return 0;
}

static int do_mount(const char *root, const char *rel, const char *src,
		    const char *type, unsigned long flags, const char *data,
		    struct mags_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mount(src, path, type, flags, data) < 0)
		return err_sys(err, errno, "mount %s on '/%s'", type ? type : src, rel);
	return 0;
}

/* Hide a kernel interface: /dev/null over a file, an empty read-only
 * tmpfs over a directory. Paths the kernel does not have are skipped. */
static int mask(const char *root, const char *rel, struct mags_err *err)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		if (mount("mags", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=0,mode=0555") < 0)
			return err_sys(err, errno, "mask '/%s'", rel);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		return err_sys(err, errno, "mask '/%s'", rel);
	}
	return 0;
}

static int read_only(const char *root, const char *rel, struct mags_err *err)
{
	char path[PATH_MAX];
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (access(path, F_OK) < 0)
		return 0;
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | fl, NULL) < 0)
		return err_sys(err, errno, "make '/%s' read-only", rel);
	return 0;
}

/* Docker's masked and read-only paths (moby oci/defaults.go). */
static const char *const masked[] = {
	"proc/asound", "proc/acpi", "proc/kcore", "proc/keys",
	"proc/latency_stats", "proc/timer_list", "proc/timer_stats",
	"proc/sched_debug", "proc/scsi", "proc/sysrq-trigger",
	"sys/firmware", "sys/devices/virtual/powercap",
};
static const char *const readonly[] = {
	"proc/bus", "proc/fs", "proc/irq", "proc/sys",
};

static int mount_dev(const char *root, struct mags_err *err)
{
	static const char *const nodes[] = { "null", "zero", "full", "random",
					     "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	char dev[PATH_MAX - 32], path[PATH_MAX];
	int r;

	/* A small tmpfs: device nodes made in a user namespace do not work
	 * (its mounts are nodev for them), so the few the sandbox needs are
	 * bound from the host's /dev. */
	if ((r = do_mount(root, "dev", "mags", "tmpfs", MS_NOSUID | MS_NOEXEC,
			  "mode=0755,size=1m", err)) < 0)
		return r;
	snprintf(dev, sizeof(dev), "%s/dev", root);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char host[32];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dev, nodes[i]);
		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			return err_sys(err, errno, "create '/dev/%s'", nodes[i]);
		close(fd);
		if (mount(host, path, NULL, MS_BIND, NULL) < 0)
			return err_sys(err, errno, "bind '%s'", host);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			return err_sys(err, errno, "symlink '/dev/%s'", links[i][1]);
	}
	if ((r = ensure_dir(root, "dev/pts", 0755, err)) < 0 ||
	    (r = do_mount(root, "dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620", err)) < 0)
		return r;
	if ((r = ensure_dir(root, "dev/shm", 01777, err)) < 0 ||
	    (r = do_mount(root, "dev/shm", "shm", "tmpfs",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", err)) < 0)
		return r;
	if ((r = ensure_dir(root, "dev/mqueue", 0755, err)) < 0 ||
	    (r = do_mount(root, "dev/mqueue", "mqueue", "mqueue",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err)) < 0)
		return r;
	return 0;
}

int mounts_system(const char *root, int sysfs_fd, struct mags_err *err)
{
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int r;

	if ((r = ensure_dir(root, "proc", 0555, err)) < 0 ||
	    (r = ensure_dir(root, "dev", 0755, err)) < 0 ||
	    (r = ensure_dir(root, "sys", 0555, err)) < 0 ||
	    (r = ensure_dir(root, "tmp", 01777, err)) < 0 ||
	    (r = ensure_dir(root, "root", 0700, err)) < 0 ||
	    (r = ensure_dir(root, "uploads", 0755, err)) < 0)
		return r;

	/* A proc of the sandbox's pid namespace: it sees only its own
	 * processes. */
	if ((r = do_mount(root, "proc", "proc", "proc", fl, NULL, err)) < 0)
		return r;
	/* A sysfs of the sandbox's network namespace: the supervisor's,
	 * mounted in that namespace (sysfs_fd), or our own. Where the host's
	 * own /sys is partly hidden (nested containers) the kernel refuses a
	 * fresh one: an empty read-only /sys is better than no sandbox. */
	if (sysfs_fd >= 0) {
		char at[PATH_MAX];
		snprintf(at, sizeof(at), "%s/sys", root);
		r = (int)syscall(SYS_move_mount, sysfs_fd, "", AT_FDCWD, at,
				 MOVE_MOUNT_F_EMPTY_PATH);
		close(sysfs_fd);
		if (r < 0)
			return err_sys(err, errno, "attach sysfs on '%s'", at);
	} else if ((r = do_mount(root, "sys", "sysfs", "sysfs", fl | MS_RDONLY, NULL, err)) < 0) {
		if (r != -EPERM)
			return r;
		if ((r = do_mount(root, "sys", "mags", "tmpfs", fl | MS_RDONLY,
				  "size=0,mode=0555", err)) < 0)
			return r;
	}
	if ((r = mount_dev(root, err)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++)
		if ((r = mask(root, masked[i], err)) < 0)
			return r;
	for (size_t i = 0; i < sizeof(readonly) / sizeof(readonly[0]); i++)
		if ((r = read_only(root, readonly[i], err)) < 0)
			return r;
	return 0;
}

int mounts_pivot(const char *root, struct mags_err *err)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one;
	 * unmounting "." then detaches the old root (and every host mount
	 * under it) from this namespace. No directory for it is needed. */
	if (chdir(root) < 0)
		return err_sys(err, errno, "chdir '%s'", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_sys(err, errno, "pivot_root '%s'", root);
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(err, errno, "detach old root");
	if (chdir("/") < 0)
		return err_sys(err, errno, "chdir '/'");
	return 0;
}
