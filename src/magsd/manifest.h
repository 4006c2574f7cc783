/*
 * manifest.h - the snapshot manifest: one workspace tree (an overlay upper
 * layer) as deterministic text, so equal trees give equal bytes and the
 * sha256 of the bytes names the snapshot.
 *
 *   mags-manifest 1
 *   parent <64 hex | ->
 *   created <unix ms>
 *   root MODE UID GID MTIME_NS OPQ          the tree's top directory
 *   f MODE UID GID MTIME_NS SIZE BLOBHASH PATH     regular file
 *   d MODE UID GID MTIME_NS OPQ PATH               directory (OPQ: o | -)
 *   l MODE UID GID MTIME_NS TARGET PATH            symlink
 *   h TARGET PATH                                  hard link to the earlier f TARGET
 *   c MODE UID GID MTIME_NS MAJOR:MINOR PATH       char device (0:0 = whiteout)
 *   b MODE UID GID MTIME_NS MAJOR:MINOR PATH       block device
 *   p MODE UID GID MTIME_NS PATH                   fifo
 *   end <number of entries>
 *
 * MODE is 4 octal digits (permission, setuid, setgid and sticky bits); the
 * numbers are canonical decimal. PATH and TARGET are escaped: every byte
 * outside '!'..'~' and '%' itself is %xx (lowercase hex), any other byte is
 * itself, so names with spaces, newlines or any non-UTF-8 byte round-trip
 * and every value has exactly one spelling. Entries are sorted by path
 * (bytewise), each path once, every parent a 'd' entry before it. Sockets are
 * not recorded. Everything from the "root" line on is the *body*: two syncs of
 * an unchanged tree give the same body.
 *
 * manifest_decode treats its input as hostile: it rejects anything that does
 * not follow this grammar exactly, including "..", ".", absolute paths,
 * empty components, duplicates, unsorted entries, entries below a
 * non-directory (a symlink "a" and a file "a/b"), hard links to anything but
 * an earlier regular file, absurd sizes, ids above 65535 and unknown types.
 */
#ifndef MAGS_MAGSD_MANIFEST_H
#define MAGS_MAGSD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define MANIFEST_MAX_BYTES    (512u << 20)       /* whole manifest */
#define MANIFEST_MAX_ENTRIES  (8u << 20)
#define MANIFEST_MAX_PATH     4095               /* bytes, unescaped */
#define MANIFEST_MAX_NAME     255                /* one component */
#define MANIFEST_MAX_DEPTH    256                /* components in a path */
#define MANIFEST_MAX_FILE     (1ull << 40)       /* one regular file: 1 TiB */
#define MANIFEST_MAX_ID       65535u             /* uid/gid: the sandbox's range */

enum manifest_type {
	MANIFEST_FILE = 'f',
	MANIFEST_DIR = 'd',
	MANIFEST_SYMLINK = 'l',
	MANIFEST_HARDLINK = 'h',
	MANIFEST_CHR = 'c',
	MANIFEST_BLK = 'b',
	MANIFEST_FIFO = 'p',
};

struct manifest_entry {
	char *path;          /* owned; relative, '/'-separated, no NUL inside */
	size_t path_len;
	char type;           /* enum manifest_type */
	int opaque;          /* dir: user.overlay.opaque = y */
	uint32_t mode;       /* & 07777 (unused for 'h') */
	uint32_t uid, gid;
	int64_t mtime_ns;
	uint64_t size;       /* 'f' */
	char hash[65];       /* 'f': blob hash, 64 hex */
	char *target;        /* owned; 'l': link text, 'h': path of the first link */
	size_t target_len;
	uint32_t rdev_major, rdev_minor; /* 'c', 'b' */
	/* Sync bookkeeping (snapshot.c), not encoded: */
	uint64_t ino, nlink;
	int64_t ctime_ns;
};

struct manifest {
	char parent[65];     /* "" if none */
	int64_t created_ms;
	struct manifest_entry root; /* type 'd', path "" */
	struct manifest_entry *entries;
	size_t n, cap;
};

void manifest_init(struct manifest *m);
void manifest_release(struct manifest *m);

/* Append an entry for path (copied; len bytes) and return it zeroed but for
 * path and type. The pointer is valid until the next add. */
struct manifest_entry *manifest_add(struct manifest *m, const char *path, size_t len, char type);

/* Sort entries by path (bytewise). */
void manifest_sort(struct manifest *m);

/*
 * Encode m (entries must be sorted, see manifest_sort) into a malloc'd
 * buffer *out of *len bytes; *body_off (may be NULL) receives the offset of
 * the body (the "root" line). Always 0: the output is not re-checked here
 * (that costs a decode); a caller that builds m from untrusted data runs
 * manifest_decode on the result, as snapshot_sync does before uploading.
 */
int manifest_encode(const struct manifest *m, char **out, size_t *len, size_t *body_off,
		    struct mags_err *err);

/* Parse and validate buf (len bytes, need not be NUL-terminated) into m
 * (initialised here; release it even on failure). -EBADMSG with a message
 * naming the line on any violation. */
int manifest_decode(const char *buf, size_t len, struct manifest *m, struct mags_err *err);

/* Index of the entry with this path, or -1 (binary search; sorted m). */
ssize_t manifest_find(const struct manifest *m, const char *path, size_t len);

/* Escape len bytes of s as described above into a malloc'd string. */
char *manifest_escape(const char *s, size_t len);

/* Unescape exactly the canonical form; returns a malloc'd buffer (NUL
 * appended, *out_len without it) or NULL if s[0..len) is not canonical or
 * holds a NUL byte. */
char *manifest_unescape(const char *s, size_t len, size_t *out_len);

/* Check a relative path: not empty, no leading/trailing/double '/', no "."
 * or ".." component, names <= MANIFEST_MAX_NAME, <= MANIFEST_MAX_PATH bytes,
 * <= MANIFEST_MAX_DEPTH components, no NUL. 1 valid, 0 not. */
int manifest_path_valid(const char *p, size_t len);

#endif
