/*
 * copyin.c - uploads into the sandbox (see copyin.h).
 *
 * Why not simply open(path, O_CREAT) after pivot_root: the sandbox tree
 * is partly the user's (a workspace or base layer may hold any symlink),
 * and a symlink in a parent would redirect the write to wherever it
 * points, including the kernel's /proc files. Resolving one component at
 * a time with O_NOFOLLOW from "/" only ever writes where the path says.
 */
#include "runtime/copyin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

int copyin_open(const char *host, size_t host_len, struct mags_err *err)
{
	_cleanup_free_ char *path = xstrndup(host, host_len);
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		close(fd);
		if (S_ISREG(st.st_mode))
			return err_sys(err, e, "stat '%s'", path);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s': not a regular file", path);
	}
	return fd;
}

static int copy_fd(int out, int in)
{
	off_t off = 0;

	for (;;) {
		ssize_t n = sendfile(out, in, &off, 1 << 20);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int copyin_place(int src_fd, const char *path, struct mags_err *err)
{
	char name[NAME_MAX + 1];
	const char *p = path + 1;
	int dir, fd, r;

	dir = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir < 0)
		return err_sys(err, errno, "open '/'");
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		if (len == 0 || len > NAME_MAX) {
			close(dir);
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'%s': bad path component", path);
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (!slash)
			break;
		if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST) {
			r = err_sys(err, errno, "mkdir '%.*s'", (int)(slash - path), path);
			close(dir);
			return r;
		}
		/* ELOOP for a symlink, ENOTDIR for anything else. */
		next = openat(dir, name, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
		if (next < 0) {
			r = err_sys(err, errno, "open '%.*s'", (int)(slash - path), path);
			close(dir);
			return r;
		}
		close(dir);
		dir = next;
		p = slash + 1;
	}

	/* Replace a file, symlink or whiteout there; never a directory. */
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT) {
		r = err_sys(err, errno == EISDIR ? EISDIR : errno, "replace '%s'", path);
		close(dir);
		return r;
	}
	fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(dir);
	if (fd < 0)
		return err_sys(err, errno, "create '%s'", path);
	if ((r = copy_fd(fd, src_fd)) < 0) {
		err_sys(err, -r, "write '%s'", path);
		close(fd);
		return r;
	}
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0644) < 0) {
		r = err_sys(err, errno, "chown '%s'", path);
		close(fd);
		return r;
	}
	if (close(fd) < 0)
		return err_sys(err, errno, "write '%s'", path);
	return 0;
}
