/*
 * sftpproto.c - SFTP v3 packet decoding and encoding (see sftpproto.h).
 *
 * The decoder reads through a cursor that never moves past the end of
 * the packet: every getter checks what is left first and reports a
 * short packet, so a hostile length cannot make it read out of bounds.
 */
#include "common/sftpproto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

struct cursor {
	const unsigned char *p;
	size_t left;
	int bad;
};

static uint32_t get_u32(struct cursor *c)
{
	uint32_t v;

	if (c->bad || c->left < 4) {
		c->bad = 1;
		return 0;
	}
	v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return v;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t hi = get_u32(c);
	return hi << 32 | get_u32(c);
}

static uint8_t get_u8(struct cursor *c)
{
	uint8_t v;

	if (c->bad || c->left < 1) {
		c->bad = 1;
		return 0;
	}
	v = c->p[0];
	c->p++;
	c->left--;
	return v;
}

static struct sftp_str get_str(struct cursor *c)
{
	struct sftp_str s = { "", 0 };
	uint32_t n = get_u32(c);

	if (c->bad || n > c->left) {
		c->bad = 1;
		return s;
	}
	s.p = (const char *)c->p;
	s.len = n;
	c->p += n;
	c->left -= n;
	return s;
}

/* A path: no NUL inside (it becomes a C string). */
static struct sftp_str get_path(struct cursor *c)
{
	struct sftp_str s = get_str(c);

	if (!c->bad && memchr(s.p, '\0', s.len))
		c->bad = 1;
	return s;
}

static void get_attrs(struct cursor *c, struct sftp_attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = get_u32(c);
	if (a->flags & SFTP_ATTR_SIZE)
		a->size = get_u64(c);
	if (a->flags & SFTP_ATTR_UIDGID) {
		a->uid = get_u32(c);
		a->gid = get_u32(c);
	}
	if (a->flags & SFTP_ATTR_PERMISSIONS)
		a->perm = get_u32(c);
	if (a->flags & SFTP_ATTR_ACMODTIME) {
		a->atime = get_u32(c);
		a->mtime = get_u32(c);
	}
	if (a->flags & SFTP_ATTR_EXTENDED) {
		/* Each pair takes at least 8 bytes, so the loop ends with the
		 * packet whatever the count says. */
		uint32_t count = get_u32(c);
		for (uint32_t i = 0; i < count && !c->bad; i++) {
			get_str(c);
			get_str(c);
		}
	}
}

int sftp_packet_length(const unsigned char hdr[4], uint32_t *len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		     (uint32_t)hdr[2] << 8 | hdr[3];

	if (n == 0 || n > SFTP_PACKET_MAX)
		return -EMSGSIZE;
	*len = n;
	return 0;
}

static enum sftp_ext ext_kind(struct sftp_str name)
{
	static const struct { const char *name; enum sftp_ext ext; } known[] = {
		{ "posix-rename@openssh.com", SFTP_EXT_POSIX_RENAME },
		{ "hardlink@openssh.com", SFTP_EXT_HARDLINK },
		{ "fsync@openssh.com", SFTP_EXT_FSYNC },
		{ "statvfs@openssh.com", SFTP_EXT_STATVFS },
		{ "expand-path@openssh.com", SFTP_EXT_EXPAND_PATH },
		{ "limits@openssh.com", SFTP_EXT_LIMITS },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == name.len &&
		    !memcmp(known[i].name, name.p, name.len))
			return known[i].ext;
	return SFTP_EXT_UNKNOWN;
}

int sftp_request_parse(const void *pkt, size_t len, struct sftp_req *req)
{
	struct cursor c = { pkt, len, 0 };

	memset(req, 0, sizeof(*req));
	req->path = req->path2 = req->handle = req->data = req->ext_name =
		(struct sftp_str){ "", 0 };
	req->type = get_u8(&c);
	if (req->type == SFTP_INIT) {
		req->version = get_u32(&c);
		return c.bad ? -EBADMSG : 0;
	}
	req->id = get_u32(&c);
	if (c.bad)
		return -EBADMSG;
	switch (req->type) {
	case SFTP_OPEN:
		req->path = get_path(&c);
		req->pflags = get_u32(&c);
		get_attrs(&c, &req->attrs);
		break;
	case SFTP_CLOSE: case SFTP_FSTAT: case SFTP_READDIR:
		req->handle = get_str(&c);
		break;
	case SFTP_READ:
		req->handle = get_str(&c);
		req->offset = get_u64(&c);
		req->len = get_u32(&c);
		break;
	case SFTP_WRITE:
		req->handle = get_str(&c);
		req->offset = get_u64(&c);
		req->data = get_str(&c);
		break;
	case SFTP_LSTAT: case SFTP_STAT: case SFTP_OPENDIR: case SFTP_REMOVE:
	case SFTP_RMDIR: case SFTP_REALPATH: case SFTP_READLINK:
		req->path = get_path(&c);
		break;
	case SFTP_SETSTAT: case SFTP_MKDIR:
		req->path = get_path(&c);
		get_attrs(&c, &req->attrs);
		break;
	case SFTP_FSETSTAT:
		req->handle = get_str(&c);
		get_attrs(&c, &req->attrs);
		break;
	case SFTP_RENAME: case SFTP_SYMLINK:
		req->path = get_path(&c);
		req->path2 = get_path(&c);
		break;
	case SFTP_EXTENDED:
		req->ext_name = get_str(&c);
		if (c.bad)
			break;
		req->ext = ext_kind(req->ext_name);
		switch (req->ext) {
		case SFTP_EXT_POSIX_RENAME: case SFTP_EXT_HARDLINK:
			req->path = get_path(&c);
			req->path2 = get_path(&c);
			break;
		case SFTP_EXT_FSYNC:
			req->handle = get_str(&c);
			break;
		case SFTP_EXT_STATVFS: case SFTP_EXT_EXPAND_PATH:
			req->path = get_path(&c);
			break;
		default:
			break;
		}
		break;
	default:
		return -ENOTSUP;
	}
	return c.bad ? -EBADMSG : 0;
}

int sftp_handle_decode(struct sftp_str h)
{
	const unsigned char *p = (const unsigned char *)h.p;
	uint32_t idx;

	if (h.len != 4)
		return -EBADF;
	idx = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (idx >= SFTP_HANDLES_MAX)
		return -EBADF;
	return (int)idx;
}

void sftp_handle_encode(unsigned char out[4], unsigned idx)
{
	out[0] = (unsigned char)(idx >> 24);
	out[1] = (unsigned char)(idx >> 16);
	out[2] = (unsigned char)(idx >> 8);
	out[3] = (unsigned char)idx;
}

void sftp_attrs_from_stat(struct sftp_attrs *a, const struct stat *st)
{
	a->flags = SFTP_ATTR_SIZE | SFTP_ATTR_UIDGID | SFTP_ATTR_PERMISSIONS |
		   SFTP_ATTR_ACMODTIME;
	a->size = (uint64_t)st->st_size;
	a->uid = (uint32_t)st->st_uid;
	a->gid = (uint32_t)st->st_gid;
	a->perm = (uint32_t)st->st_mode;
	a->atime = (uint32_t)st->st_atime;
	a->mtime = (uint32_t)st->st_mtime;
}

size_t sftp_longname(char *out, size_t n, const char *name, const struct stat *st)
{
	static const char rwx[] = "rwxrwxrwx";
	char mode[11], when[16];
	mode_t m = st->st_mode;
	time_t t = st->st_mtime;
	struct tm tm;
	int r;

	mode[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISCHR(m) ? 'c' :
		  S_ISBLK(m) ? 'b' : S_ISFIFO(m) ? 'p' : S_ISSOCK(m) ? 's' : '-';
	for (int i = 0; i < 9; i++)
		mode[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
	if (m & S_ISUID)
		mode[3] = (m & S_IXUSR) ? 's' : 'S';
	if (m & S_ISGID)
		mode[6] = (m & S_IXGRP) ? 's' : 'S';
	if (m & S_ISVTX)
		mode[9] = (m & S_IXOTH) ? 't' : 'T';
	mode[10] = '\0';
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%b %e %H:%M", &tm))
		snprintf(when, sizeof(when), "%s", "Jan  1 00:00");
	r = snprintf(out, n, "%s %4lu %-8u %-8u %8llu %s %s", mode,
		     (unsigned long)st->st_nlink, (unsigned)st->st_uid, (unsigned)st->st_gid,
		     (unsigned long long)st->st_size, when, name);
	return r < 0 ? 0 : (size_t)r;
}

enum sftp_status sftp_status_from_errno(int e)
{
	switch (e) {
	case 0:
		return SFTP_OK;
	case ENOENT: case ENOTDIR: case EBADF: case ELOOP:
		return SFTP_NO_SUCH_FILE;
	case EPERM: case EACCES: case EROFS:
		return SFTP_PERMISSION_DENIED;
	case ENOSYS: case EOPNOTSUPP:
		return SFTP_OP_UNSUPPORTED;
	default:
		return SFTP_FAILURE;
	}
}

static void put(struct sftp_out *o, const void *p, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

void sftp_out_u32(struct sftp_out *o, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };
	put(o, b, 4);
}

void sftp_out_u64(struct sftp_out *o, uint64_t v)
{
	sftp_out_u32(o, (uint32_t)(v >> 32));
	sftp_out_u32(o, (uint32_t)v);
}

void sftp_out_str(struct sftp_out *o, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		o->overflow = 1;
		return;
	}
	sftp_out_u32(o, (uint32_t)n);
	put(o, p, n);
}

void sftp_out_cstr(struct sftp_out *o, const char *s)
{
	sftp_out_str(o, s, strlen(s));
}

void sftp_out_begin(struct sftp_out *o, uint8_t type, uint32_t id)
{
	o->len = 0;
	o->overflow = 0;
	sftp_out_u32(o, 0);
	put(o, &type, 1);
	if (type != SFTP_VERSION_REPLY)
		sftp_out_u32(o, id);
}

void sftp_out_attrs(struct sftp_out *o, const struct sftp_attrs *a)
{
	uint32_t f = a->flags & ~SFTP_ATTR_EXTENDED;

	sftp_out_u32(o, f);
	if (f & SFTP_ATTR_SIZE)
		sftp_out_u64(o, a->size);
	if (f & SFTP_ATTR_UIDGID) {
		sftp_out_u32(o, a->uid);
		sftp_out_u32(o, a->gid);
	}
	if (f & SFTP_ATTR_PERMISSIONS)
		sftp_out_u32(o, a->perm);
	if (f & SFTP_ATTR_ACMODTIME) {
		sftp_out_u32(o, a->atime);
		sftp_out_u32(o, a->mtime);
	}
}

int sftp_out_end(struct sftp_out *o)
{
	uint32_t n;

	if (o->overflow || o->len < 5 || o->len - 4 > SFTP_PACKET_MAX)
		return -EMSGSIZE;
	n = (uint32_t)(o->len - 4);
	o->p[0] = (unsigned char)(n >> 24);
	o->p[1] = (unsigned char)(n >> 16);
	o->p[2] = (unsigned char)(n >> 8);
	o->p[3] = (unsigned char)n;
	return (int)o->len;
}
