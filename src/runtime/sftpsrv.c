/*
 * sftpsrv.c - the SFTP server inside the sandbox (see sftpsrv.h).
 *
 * Why our own and not the image's sftp-server: images are arbitrary (a
 * busybox image has none), and the server must not depend on what the
 * sandbox's user put into /usr/lib. It is small because the sandbox does
 * the confining: this process is already chrooted by its mount
 * namespace, unprivileged outside its user namespace and under the
 * seccomp filter, so it simply does what the client asks, as the
 * sandbox's root, one request at a time (blocking; one session per
 * process).
 */
#include "runtime/sftpsrv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/execproto.h"
#include "common/sftpproto.h"
#include "common/util.h"
#include "common/banned.h"

#define READDIR_BATCH 128

struct handle {
	int used;
	int fd;       /* a file, or -1 */
	DIR *dir;     /* a directory, or NULL */
};

struct session {
	int in_fd, out_fd;
	int inited;
	struct handle h[SFTP_HANDLES_MAX];
	unsigned char *pkt;      /* one request */
	struct sftp_out out;     /* one reply */
};

static int read_exact(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return got ? -EPROTO : 0;
		got += (size_t)r;
	}
	return 1;
}

static int send_reply(struct session *s)
{
	int n = sftp_out_end(&s->out);

	if (n < 0)
		return n;
	return write_full(s->out_fd, s->out.p, (size_t)n) < 0 ? -EPIPE : 0;
}

static int reply_status(struct session *s, uint32_t id, enum sftp_status code)
{
	static const char *const msg[] = {
		[SFTP_OK] = "Success", [SFTP_EOF] = "End of file",
		[SFTP_NO_SUCH_FILE] = "No such file", [SFTP_PERMISSION_DENIED] = "Permission denied",
		[SFTP_FAILURE] = "Failure", [SFTP_BAD_MESSAGE] = "Bad message",
		[6] = "No connection", [7] = "Connection lost",
		[SFTP_OP_UNSUPPORTED] = "Operation unsupported",
	};

	sftp_out_begin(&s->out, SFTP_STATUS, id);
	sftp_out_u32(&s->out, code);
	sftp_out_cstr(&s->out, msg[code]);
	sftp_out_cstr(&s->out, "");
	return send_reply(s);
}

/* The status for errno e, with the system's message. */
static int reply_errno(struct session *s, uint32_t id, int e)
{
	enum sftp_status code = sftp_status_from_errno(e);

	if (code == SFTP_OK)
		return reply_status(s, id, code);
	sftp_out_begin(&s->out, SFTP_STATUS, id);
	sftp_out_u32(&s->out, code);
	sftp_out_cstr(&s->out, strerror(e));
	sftp_out_cstr(&s->out, "");
	return send_reply(s);
}

static int reply_result(struct session *s, uint32_t id, int r)
{
	return reply_errno(s, id, r < 0 ? errno : 0);
}

static int reply_stat(struct session *s, uint32_t id, const struct stat *st)
{
	struct sftp_attrs a;

	sftp_attrs_from_stat(&a, st);
	sftp_out_begin(&s->out, SFTP_ATTRS, id);
	sftp_out_attrs(&s->out, &a);
	return send_reply(s);
}

/* A NAME reply with one entry (REALPATH, READLINK, expand-path). */
static int reply_name(struct session *s, uint32_t id, const char *name)
{
	struct sftp_attrs none = { 0 };

	sftp_out_begin(&s->out, SFTP_NAME, id);
	sftp_out_u32(&s->out, 1);
	sftp_out_cstr(&s->out, name);
	sftp_out_cstr(&s->out, name);
	sftp_out_attrs(&s->out, &none);
	return send_reply(s);
}

/* A C string of a path from the packet ("." for an empty one). */
static char *cpath(struct sftp_str p)
{
	return p.len ? xstrndup(p.p, p.len) : xstrdup(".");
}

static struct handle *get_handle(struct session *s, struct sftp_str h, int want_dir)
{
	int i = sftp_handle_decode(h);

	if (i < 0 || !s->h[i].used || (want_dir ? !s->h[i].dir : s->h[i].fd < 0))
		return NULL;
	return &s->h[i];
}

static int new_handle(struct session *s)
{
	for (int i = 0; i < SFTP_HANDLES_MAX; i++)
		if (!s->h[i].used)
			return i;
	return -1;
}

static int reply_handle(struct session *s, uint32_t id, int i)
{
	unsigned char h[4];

	sftp_handle_encode(h, (unsigned)i);
	sftp_out_begin(&s->out, SFTP_HANDLE, id);
	sftp_out_str(&s->out, h, sizeof(h));
	return send_reply(s);
}

/* realpath(3) that also takes a path whose last component does not
 * exist yet (the target of a put), like OpenSSH's server. */
static char *resolve(const char *path)
{
	char *r = realpath(path, NULL), *dir, *slash;
	const char *base;

	if (r || errno != ENOENT)
		return r;
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (!slash) {
		free(dir);
		dir = xstrdup(".");
		base = path;
	} else {
		*slash = '\0';
		base = path + (slash - dir) + 1;
		if (slash == dir) {
			free(dir);
			dir = xstrdup("/");
		}
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		free(dir);
		errno = ENOENT;
		return NULL;
	}
	r = realpath(dir, NULL);
	free(dir);
	if (r) {
		char *full = xasprintf("%s%s%s", r, strcmp(r, "/") ? "/" : "", base);
		free(r);
		r = full;
	}
	return r;
}

static int apply_attrs(const char *path, int fd, const struct sftp_attrs *a)
{
	if (a->flags & SFTP_ATTR_SIZE) {
		if ((fd >= 0 ? ftruncate(fd, (off_t)a->size) : truncate(path, (off_t)a->size)) < 0)
			return -1;
	}
	if (a->flags & SFTP_ATTR_PERMISSIONS) {
		mode_t m = (mode_t)(a->perm & 07777);
		if ((fd >= 0 ? fchmod(fd, m) : chmod(path, m)) < 0)
			return -1;
	}
	if (a->flags & SFTP_ATTR_UIDGID) {
		if ((fd >= 0 ? fchown(fd, a->uid, a->gid) : chown(path, a->uid, a->gid)) < 0)
			return -1;
	}
	if (a->flags & SFTP_ATTR_ACMODTIME) {
		struct timespec ts[2] = { { .tv_sec = a->atime }, { .tv_sec = a->mtime } };
		if ((fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, path, ts, 0)) < 0)
			return -1;
	}
	return 0;
}

static int do_open(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	mode_t mode = (rq->attrs.flags & SFTP_ATTR_PERMISSIONS) ? (rq->attrs.perm & 07777) : 0666;
	int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK, fd, i;
	struct stat st;

	if ((rq->pflags & SFTP_FXF_READ) && (rq->pflags & SFTP_FXF_WRITE))
		flags |= O_RDWR;
	else if (rq->pflags & SFTP_FXF_WRITE)
		flags |= O_WRONLY;
	else
		flags |= O_RDONLY;
	if (rq->pflags & SFTP_FXF_APPEND)
		flags |= O_APPEND;
	if (rq->pflags & SFTP_FXF_CREAT)
		flags |= O_CREAT;
	if (rq->pflags & SFTP_FXF_TRUNC)
		flags |= O_TRUNC;
	if (rq->pflags & SFTP_FXF_EXCL)
		flags |= O_EXCL;
	if ((i = new_handle(s)) < 0)
		return reply_status(s, rq->id, SFTP_FAILURE);
	/* O_NONBLOCK: a FIFO must not hang the session; regular files get
	 * blocking I/O back. */
	fd = open(path, flags, mode);
	if (fd < 0)
		return reply_errno(s, rq->id, errno);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return reply_errno(s, rq->id, EISDIR);
	}
	if (S_ISREG(st.st_mode))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	s->h[i] = (struct handle){ .used = 1, .fd = fd, .dir = NULL };
	return reply_handle(s, rq->id, i);
}

static int do_opendir(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	int i = new_handle(s);
	DIR *d;

	if (i < 0)
		return reply_status(s, rq->id, SFTP_FAILURE);
	d = opendir(path);
	if (!d)
		return reply_errno(s, rq->id, errno);
	s->h[i] = (struct handle){ .used = 1, .fd = -1, .dir = d };
	return reply_handle(s, rq->id, i);
}

static int do_close(struct session *s, const struct sftp_req *rq)
{
	int i = sftp_handle_decode(rq->handle), r;

	if (i < 0 || !s->h[i].used)
		return reply_status(s, rq->id, SFTP_FAILURE);
	r = s->h[i].dir ? closedir(s->h[i].dir) : close(s->h[i].fd);
	s->h[i] = (struct handle){ 0 };
	return reply_result(s, rq->id, r);
}

static int do_read(struct session *s, const struct sftp_req *rq)
{
	struct handle *h = get_handle(s, rq->handle, 0);
	size_t want = rq->len < SFTP_DATA_MAX ? rq->len : SFTP_DATA_MAX;
	size_t at;
	ssize_t n;

	if (!h)
		return reply_status(s, rq->id, SFTP_FAILURE);
	if (rq->offset > (uint64_t)INT64_MAX)
		return reply_status(s, rq->id, SFTP_EOF);
	/* Read straight into the reply: header, then the data string. */
	sftp_out_begin(&s->out, SFTP_DATA, rq->id);
	at = s->out.len;
	sftp_out_u32(&s->out, 0);
	do
		n = pread(h->fd, s->out.p + at + 4, want, (off_t)rq->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return reply_errno(s, rq->id, errno);
	if (n == 0 && want)
		return reply_status(s, rq->id, SFTP_EOF);
	s->out.len = at;
	sftp_out_u32(&s->out, (uint32_t)n);
	s->out.len += (size_t)n;
	return send_reply(s);
}

static int do_write(struct session *s, const struct sftp_req *rq)
{
	struct handle *h = get_handle(s, rq->handle, 0);
	size_t done = 0;

	if (!h)
		return reply_status(s, rq->id, SFTP_FAILURE);
	if (rq->offset > (uint64_t)INT64_MAX - rq->data.len)
		return reply_errno(s, rq->id, EFBIG);
	while (done < rq->data.len) {
		ssize_t n = pwrite(h->fd, rq->data.p + done, rq->data.len - done,
				   (off_t)(rq->offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return reply_errno(s, rq->id, n < 0 ? errno : EIO);
		done += (size_t)n;
	}
	return reply_status(s, rq->id, SFTP_OK);
}

static int do_readdir(struct session *s, const struct sftp_req *rq)
{
	struct handle *h = get_handle(s, rq->handle, 1);
	size_t count_at;
	uint32_t count = 0;

	if (!h)
		return reply_status(s, rq->id, SFTP_FAILURE);
	sftp_out_begin(&s->out, SFTP_NAME, rq->id);
	count_at = s->out.len;
	sftp_out_u32(&s->out, 0);
	/* Stop well before the packet limit: one entry is < 2 * NAME_MAX +
	 * 200 bytes. */
	while (count < READDIR_BATCH && s->out.len < SFTP_PACKET_MAX / 2) {
		struct dirent *e;
		struct stat st;
		struct sftp_attrs a;
		char longname[NAME_MAX + 128];

		errno = 0;
		e = readdir(h->dir);
		if (!e)
			break;
		if (fstatat(dirfd(h->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		sftp_attrs_from_stat(&a, &st);
		sftp_longname(longname, sizeof(longname), e->d_name, &st);
		sftp_out_cstr(&s->out, e->d_name);
		sftp_out_cstr(&s->out, longname);
		sftp_out_attrs(&s->out, &a);
		count++;
	}
	if (!count)
		return errno ? reply_errno(s, rq->id, errno) : reply_status(s, rq->id, SFTP_EOF);
	{
		size_t end = s->out.len;
		s->out.len = count_at;
		sftp_out_u32(&s->out, count);
		s->out.len = end;
	}
	return send_reply(s);
}

static int do_stat(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	struct stat st;
	int r;

	if (rq->type == SFTP_FSTAT) {
		int i = sftp_handle_decode(rq->handle);
		if (i < 0 || !s->h[i].used)
			return reply_status(s, rq->id, SFTP_FAILURE);
		r = fstat(s->h[i].dir ? dirfd(s->h[i].dir) : s->h[i].fd, &st);
	} else if (rq->type == SFTP_LSTAT) {
		r = lstat(path, &st);
	} else {
		r = stat(path, &st);
	}
	if (r < 0)
		return reply_errno(s, rq->id, errno);
	return reply_stat(s, rq->id, &st);
}

static int do_setstat(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	int fd = -1;

	if (rq->type == SFTP_FSETSTAT) {
		int i = sftp_handle_decode(rq->handle);
		if (i < 0 || !s->h[i].used)
			return reply_status(s, rq->id, SFTP_FAILURE);
		fd = s->h[i].dir ? dirfd(s->h[i].dir) : s->h[i].fd;
	}
	return reply_result(s, rq->id, apply_attrs(path, fd, &rq->attrs));
}

static int do_realpath(struct session *s, const struct sftp_req *rq, int expand)
{
	_cleanup_free_ char *path = cpath(rq->path);
	_cleanup_free_ char *resolved = NULL;

	if (expand && path[0] == '~' && (path[1] == '/' || !path[1])) {
		char *home = xasprintf("%s%s", EXECPROTO_DEFAULT_CWD, path + 1);
		free(path);
		path = home;
	}
	resolved = resolve(path);
	if (!resolved)
		return reply_errno(s, rq->id, errno);
	return reply_name(s, rq->id, resolved);
}

static int do_readlink(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return reply_errno(s, rq->id, errno);
	target[n] = '\0';
	return reply_name(s, rq->id, target);
}

/* SSH_FXP_RENAME must not replace an existing target (v3). */
static int rename_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

static int do_statvfs(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *path = cpath(rq->path);
	struct statvfs v;

	if (statvfs(path, &v) < 0)
		return reply_errno(s, rq->id, errno);
	sftp_out_begin(&s->out, SFTP_EXTENDED_REPLY, rq->id);
	sftp_out_u64(&s->out, v.f_bsize);
	sftp_out_u64(&s->out, v.f_frsize);
	sftp_out_u64(&s->out, v.f_blocks);
	sftp_out_u64(&s->out, v.f_bfree);
	sftp_out_u64(&s->out, v.f_bavail);
	sftp_out_u64(&s->out, v.f_files);
	sftp_out_u64(&s->out, v.f_ffree);
	sftp_out_u64(&s->out, v.f_favail);
	sftp_out_u64(&s->out, v.f_fsid);
	sftp_out_u64(&s->out, ((v.f_flag & ST_RDONLY) ? 1 : 0) | ((v.f_flag & ST_NOSUID) ? 2 : 0));
	sftp_out_u64(&s->out, v.f_namemax);
	return send_reply(s);
}

static int do_extended(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *a = cpath(rq->path);
	_cleanup_free_ char *b = cpath(rq->path2);
	struct handle *h;

	switch (rq->ext) {
	case SFTP_EXT_POSIX_RENAME:
		return reply_result(s, rq->id, rename(a, b));
	case SFTP_EXT_HARDLINK:
		return reply_result(s, rq->id, link(a, b));
	case SFTP_EXT_FSYNC:
		h = get_handle(s, rq->handle, 0);
		if (!h)
			return reply_status(s, rq->id, SFTP_FAILURE);
		return reply_result(s, rq->id, fsync(h->fd));
	case SFTP_EXT_STATVFS:
		return do_statvfs(s, rq);
	case SFTP_EXT_EXPAND_PATH:
		return do_realpath(s, rq, 1);
	case SFTP_EXT_LIMITS:
		sftp_out_begin(&s->out, SFTP_EXTENDED_REPLY, rq->id);
		sftp_out_u64(&s->out, SFTP_PACKET_MAX);
		sftp_out_u64(&s->out, SFTP_DATA_MAX);
		sftp_out_u64(&s->out, SFTP_DATA_MAX);
		sftp_out_u64(&s->out, SFTP_HANDLES_MAX);
		return send_reply(s);
	default:
		return reply_status(s, rq->id, SFTP_OP_UNSUPPORTED);
	}
}

static int do_version(struct session *s)
{
	static const char *const ext[][2] = {
		{ "posix-rename@openssh.com", "1" },
		{ "statvfs@openssh.com", "2" },
		{ "hardlink@openssh.com", "1" },
		{ "fsync@openssh.com", "1" },
		{ "expand-path@openssh.com", "1" },
		{ "limits@openssh.com", "1" },
	};

	sftp_out_begin(&s->out, SFTP_VERSION_REPLY, 0);
	sftp_out_u32(&s->out, SFTP_VERSION);
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		sftp_out_cstr(&s->out, ext[i][0]);
		sftp_out_cstr(&s->out, ext[i][1]);
	}
	return send_reply(s);
}

/* One request; a negative return ends the session. */
static int dispatch(struct session *s, const struct sftp_req *rq)
{
	_cleanup_free_ char *a = NULL, *b = NULL;

	if (rq->type == SFTP_INIT) {
		if (s->inited)
			return -EPROTO;
		s->inited = 1;
		return do_version(s);
	}
	if (!s->inited)
		return -EPROTO;
	switch (rq->type) {
	case SFTP_OPEN:
		return do_open(s, rq);
	case SFTP_CLOSE:
		return do_close(s, rq);
	case SFTP_READ:
		return do_read(s, rq);
	case SFTP_WRITE:
		return do_write(s, rq);
	case SFTP_LSTAT: case SFTP_STAT: case SFTP_FSTAT:
		return do_stat(s, rq);
	case SFTP_SETSTAT: case SFTP_FSETSTAT:
		return do_setstat(s, rq);
	case SFTP_OPENDIR:
		return do_opendir(s, rq);
	case SFTP_READDIR:
		return do_readdir(s, rq);
	case SFTP_REALPATH:
		return do_realpath(s, rq, 0);
	case SFTP_READLINK:
		return do_readlink(s, rq);
	case SFTP_EXTENDED:
		return do_extended(s, rq);
	default:
		break;
	}
	a = cpath(rq->path);
	b = cpath(rq->path2);
	switch (rq->type) {
	case SFTP_REMOVE:
		return reply_result(s, rq->id, unlink(a));
	case SFTP_MKDIR:
		return reply_result(s, rq->id,
				    mkdir(a, (rq->attrs.flags & SFTP_ATTR_PERMISSIONS) ?
					  (rq->attrs.perm & 07777) : 0777));
	case SFTP_RMDIR:
		return reply_result(s, rq->id, rmdir(a));
	case SFTP_RENAME:
		return reply_result(s, rq->id, rename_noreplace(a, b));
	case SFTP_SYMLINK:
		/* OpenSSH sends (target, link): the draft's order swapped,
		 * and every client follows OpenSSH. */
		return reply_result(s, rq->id, symlink(a, b));
	default:
		return reply_status(s, rq->id, SFTP_OP_UNSUPPORTED);
	}
}

int sftpsrv_serve(int in_fd, int out_fd)
{
	static struct session s;
	int r;

	memset(&s, 0, sizeof(s));
	s.in_fd = in_fd;
	s.out_fd = out_fd;
	s.pkt = xmalloc(SFTP_PACKET_MAX);
	s.out.p = xmalloc(SFTP_PACKET_MAX + 4);
	s.out.cap = SFTP_PACKET_MAX + 4;
	for (;;) {
		unsigned char hdr[4];
		struct sftp_req rq;
		uint32_t len;

		r = read_exact(in_fd, hdr, sizeof(hdr));
		if (r <= 0)
			break; /* 0: the client closed between packets */
		if ((r = sftp_packet_length(hdr, &len)) < 0)
			break;
		if ((r = read_exact(in_fd, s.pkt, len)) <= 0) {
			r = r ? r : -EPROTO;
			break;
		}
		r = sftp_request_parse(s.pkt, len, &rq);
		if (r == -ENOTSUP && rq.type != SFTP_INIT)
			r = s.inited ? reply_status(&s, rq.id, SFTP_OP_UNSUPPORTED) : -EPROTO;
		else if (r == 0)
			r = dispatch(&s, &rq);
		if (r < 0)
			break;
	}
	for (int i = 0; i < SFTP_HANDLES_MAX; i++) {
		if (s.h[i].dir)
			closedir(s.h[i].dir);
		else if (s.h[i].used)
			close(s.h[i].fd);
	}
	free(s.pkt);
	free(s.out.p);
	return r;
}

void sftpsrv_child(int fd)
{
	static const char ok[] = "{\"sftp\":true}";
	unsigned char hdr[EXECPROTO_HDR];
	sigset_t none;
	int null;

	/* Its own session: a hang-up kills its process group like an
	 * exec's. It does not exec, so the fds init holds (other execs'
	 * pipes, the log, the listening socket) must go: a held write end
	 * would keep another exec's reader from ever seeing EOF. */
	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN); /* a vanished client is EPIPE, then exit */
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(1);
		fd = 3;
	}
	if (close_range(4, ~0U, 0) < 0) {
		struct rlimit rl;
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ?
			  (int)rl.rlim_cur : 65536;
		for (int i = 4; i < max; i++)
			close(i);
	}
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		for (int i = 0; i < 3; i++)
			if (null != i)
				dup2(null, i);
		if (null > 3)
			close(null);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	umask(022);
	if (chdir(EXECPROTO_DEFAULT_CWD) < 0 && chdir("/") < 0)
		_exit(1);
	execproto_header(hdr, EXECPROTO_REPLY, sizeof(ok) - 1);
	if (write_full(fd, hdr, sizeof(hdr)) < 0 || write_full(fd, ok, sizeof(ok) - 1) < 0)
		_exit(1);
	_exit(sftpsrv_serve(fd, fd) < 0 ? 1 : 0);
}
