/*
 * sftpproto.h - packets of the SFTP protocol, version 3
 * (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks), decoded and
 * encoded by pure functions so they are unit tested and fuzzed apart from
 * the server that does the I/O (src/runtime/sftpsrv.c).
 *
 * On the wire every packet is uint32 length (big-endian, not counting
 * itself), byte type, and for everything but INIT/VERSION a uint32
 * request id; strings are uint32 length + bytes. Everything a client
 * controls is bounded: a packet is at most SFTP_PACKET_MAX bytes, every
 * length inside it is checked against what is left of it.
 */
#ifndef MAGS_COMMON_SFTPPROTO_H
#define MAGS_COMMON_SFTPPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define SFTP_VERSION       3
#define SFTP_PACKET_MAX    (256u * 1024)        /* length field, either way */
#define SFTP_HANDLES_MAX   256
#define SFTP_DATA_MAX      (SFTP_PACKET_MAX - 1024) /* READ/WRITE payload */

enum sftp_type {
	SFTP_INIT = 1, SFTP_VERSION_REPLY = 2, SFTP_OPEN = 3, SFTP_CLOSE = 4,
	SFTP_READ = 5, SFTP_WRITE = 6, SFTP_LSTAT = 7, SFTP_FSTAT = 8,
	SFTP_SETSTAT = 9, SFTP_FSETSTAT = 10, SFTP_OPENDIR = 11,
	SFTP_READDIR = 12, SFTP_REMOVE = 13, SFTP_MKDIR = 14, SFTP_RMDIR = 15,
	SFTP_REALPATH = 16, SFTP_STAT = 17, SFTP_RENAME = 18,
	SFTP_READLINK = 19, SFTP_SYMLINK = 20,
	SFTP_STATUS = 101, SFTP_HANDLE = 102, SFTP_DATA = 103, SFTP_NAME = 104,
	SFTP_ATTRS = 105, SFTP_EXTENDED = 200, SFTP_EXTENDED_REPLY = 201,
};

enum sftp_status {
	SFTP_OK = 0, SFTP_EOF = 1, SFTP_NO_SUCH_FILE = 2,
	SFTP_PERMISSION_DENIED = 3, SFTP_FAILURE = 4, SFTP_BAD_MESSAGE = 5,
	SFTP_OP_UNSUPPORTED = 8,
};

/* OPEN pflags */
#define SFTP_FXF_READ   0x01
#define SFTP_FXF_WRITE  0x02
#define SFTP_FXF_APPEND 0x04
#define SFTP_FXF_CREAT  0x08
#define SFTP_FXF_TRUNC  0x10
#define SFTP_FXF_EXCL   0x20

/* attrs flags */
#define SFTP_ATTR_SIZE        0x00000001u
#define SFTP_ATTR_UIDGID      0x00000002u
#define SFTP_ATTR_PERMISSIONS 0x00000004u
#define SFTP_ATTR_ACMODTIME   0x00000008u
#define SFTP_ATTR_EXTENDED    0x80000000u

/* The extensions the server knows (EXTENDED requests). */
enum sftp_ext {
	SFTP_EXT_UNKNOWN = 0,
	SFTP_EXT_POSIX_RENAME,  /* posix-rename@openssh.com: old, new */
	SFTP_EXT_HARDLINK,      /* hardlink@openssh.com: old, new */
	SFTP_EXT_FSYNC,         /* fsync@openssh.com: handle */
	SFTP_EXT_STATVFS,       /* statvfs@openssh.com: path */
	SFTP_EXT_EXPAND_PATH,   /* expand-path@openssh.com: path */
	SFTP_EXT_LIMITS,        /* limits@openssh.com: nothing */
};

/* Bytes inside the packet (not NUL-terminated, not owned). */
struct sftp_str {
	const char *p;
	uint32_t len;
};

struct sftp_attrs {
	uint32_t flags;
	uint64_t size;
	uint32_t uid, gid, perm, atime, mtime;
};

struct sftp_req {
	uint8_t type;
	uint32_t id;              /* every request but INIT */
	uint32_t version;         /* INIT */
	struct sftp_str path;     /* the (first) path */
	struct sftp_str path2;    /* RENAME/SYMLINK/ext: the second path */
	struct sftp_str handle;
	struct sftp_str data;     /* WRITE */
	struct sftp_str ext_name; /* EXTENDED */
	enum sftp_ext ext;
	uint32_t pflags;          /* OPEN */
	uint64_t offset;          /* READ/WRITE */
	uint32_t len;             /* READ */
	struct sftp_attrs attrs;  /* OPEN/SETSTAT/FSETSTAT/MKDIR */
};

/* The 4-byte length that starts a packet: 0 with *len set, or -EMSGSIZE
 * for 0 or more than SFTP_PACKET_MAX. */
int sftp_packet_length(const unsigned char hdr[4], uint32_t *len);

/* Decode one packet (what follows its length: type, id, fields) into req
 * (pointers into pkt). Returns 0; -EBADMSG for a malformed packet
 * (truncated, a length beyond the packet, a path holding a NUL): the
 * session should end; -ENOTSUP for an unknown type, req->id set, so it
 * can be answered with SFTP_OP_UNSUPPORTED. Trailing bytes are ignored. */
int sftp_request_parse(const void *pkt, size_t len, struct sftp_req *req);

/* A handle string is the 4-byte big-endian index of an open handle.
 * Returns the index, or -EBADF (wrong length, index out of range). */
int sftp_handle_decode(struct sftp_str h);
void sftp_handle_encode(unsigned char out[4], unsigned idx);

/* The SFTP attributes of st (size, uid/gid, permissions, times). */
void sftp_attrs_from_stat(struct sftp_attrs *a, const struct stat *st);

/* An `ls -l` line for READDIR's longname, like OpenSSH's:
 * "drwxr-xr-x    2 0        0            4096 Jan  1 00:00 name".
 * Writes at most n bytes including the NUL; returns the length it
 * wanted (snprintf-like). */
size_t sftp_longname(char *out, size_t n, const char *name, const struct stat *st);

/* The SFTP status code for an errno value. */
enum sftp_status sftp_status_from_errno(int e);

/* An output packet being built into a fixed buffer of cap bytes. Writes
 * past the end set overflow and are dropped, so a caller builds first
 * and checks once. */
struct sftp_out {
	unsigned char *p;
	size_t len, cap;
	int overflow;
};

/* Start a packet: reserves the length, writes type (and id unless
 * type is SFTP_VERSION_REPLY). */
void sftp_out_begin(struct sftp_out *o, uint8_t type, uint32_t id);
void sftp_out_u32(struct sftp_out *o, uint32_t v);
void sftp_out_u64(struct sftp_out *o, uint64_t v);
void sftp_out_str(struct sftp_out *o, const void *p, size_t n);
void sftp_out_cstr(struct sftp_out *o, const char *s);
void sftp_out_attrs(struct sftp_out *o, const struct sftp_attrs *a);
/* Fill in the length. Returns the packet's size, or -EMSGSIZE if it did
 * not fit. */
int sftp_out_end(struct sftp_out *o);

#endif
