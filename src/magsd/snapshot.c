/*
 * snapshot.c - sync a workspace layer to the object store as
 * content-addressed blobs plus a manifest, restore it, and collect garbage
 * (see snapshot.h for the contract, manifest.h for the tree format).
 *
 * Sync is incremental through a private state file: for every regular file
 * of the last sync it records (size, mtime, inode, ctime, hash). A file whose
 * four values are unchanged is not read again. The state also records the
 * manifest that sync produced: only when that manifest is the caller's
 * parent (the current head) are the recorded hashes known to be in the store
 * (the head references them, so GC keeps them); otherwise each reused hash
 * is checked with exists() before it is referenced again.
 *
 * Restore fetches every missing blob into a local cache first (verifying
 * hash and size), and only then creates the tree, so a tampered store fails
 * before anything is written. The cache holds each blob's content once as
 * cache/blobs/<h>, and the inodes that restores hard-link as
 * cache/inodes/<h>-<mode>-<uid>-<gid>-<mtime_ns>: a hard link shares mode,
 * owner and times, so two files with equal content but different metadata
 * need two inodes. The first inode for a blob is the downloaded file itself.
 */
#include "magsd/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "common/util.h"
#include "magsd/crashpoint.h"
#include "magsd/manifest.h"
#include "common/banned.h"

#define ZSTD_LEVEL      3
#define SMALL_FILE      (1u << 20)   /* read whole, compress in memory */
#define IO_BUF          (1u << 20)
#define HEAD_MAX        256
#define OPAQUE_XATTR    "user.overlay.opaque"
#define OPAQUE_TRUSTED  "trusted.overlay.opaque"

/* ---------------------------------------------------------------- helpers */

int snapshot_hash_valid(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static void hex_digest(const unsigned char *d, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

static EVP_MD_CTX *sha_new(void)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		abort();
	return c;
}

static void sha_final(EVP_MD_CTX *c, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n;

	EVP_DigestFinal_ex(c, d, &n);
	hex_digest(d, out);
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
}

static void sha_buf(const void *p, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned n;

	EVP_Digest(p, len, d, &n, EVP_sha256(), NULL);
	hex_digest(d, out);
}

static void blob_key(const char *h, char key[80])
{
	snprintf(key, 80, "blobs/%.2s/%s", h, h);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec t;
	t.tv_sec = ns / 1000000000;
	t.tv_nsec = ns % 1000000000;
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000;
		t.tv_sec--;
	}
	return t;
}

/* A path for messages: escaped, so newlines in names cannot forge lines. */
struct shown {
	char s[200];
};

static struct shown show(const char *p, size_t len)
{
	struct shown r;
	_cleanup_free_ char *e = manifest_escape(p, len > 60 ? 60 : len);
	snprintf(r.s, sizeof(r.s), "%s%s", e, len > 60 ? "..." : "");
	return r;
}

/* An open-addressing set of hashes (64 hex) or inode numbers. */
struct hset {
	char (*k)[65];
	uint64_t *ino;   /* parallel, for inode maps */
	size_t *val;
	size_t n, cap;
};

static uint64_t hkey(const char *h)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 4 | (uint64_t)(h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10);
	return v;
}

static void hset_release(struct hset *s)
{
	free(s->k);
	free(s->ino);
	free(s->val);
	memset(s, 0, sizeof(*s));
}

static int hset_has(const struct hset *s, const char *h)
{
	if (!s->cap)
		return 0;
	for (size_t i = hkey(h) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->k[i][0])
			return 0;
		if (!memcmp(s->k[i], h, 64))
			return 1;
	}
}

static void hset_add(struct hset *s, const char *h)
{
	if (hset_has(s, h))
		return;
	if ((s->n + 1) * 2 > s->cap) {
		struct hset t = {0};
		t.cap = s->cap ? s->cap * 2 : 1024;
		t.k = xcalloc(t.cap, sizeof(*t.k));
		for (size_t i = 0; i < s->cap; i++)
			if (s->k[i][0])
				hset_add(&t, s->k[i]);
		hset_release(s);
		*s = t;
	}
	size_t i = hkey(h) & (s->cap - 1);
	while (s->k[i][0])
		i = (i + 1) & (s->cap - 1);
	memcpy(s->k[i], h, 64);
	s->k[i][64] = '\0';
	s->n++;
}

static size_t imap_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

/* inode -> value; values are indexes + 1 (0 = empty) */
static size_t imap_get(const struct hset *s, uint64_t ino)
{
	if (!s->cap)
		return 0;
	for (size_t i = imap_mix(ino) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->val[i])
			return 0;
		if (s->ino[i] == ino)
			return s->val[i];
	}
}

static void imap_put(struct hset *s, uint64_t ino, size_t val)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct hset t = {0};
		t.cap = s->cap ? s->cap * 2 : 256;
		t.ino = xcalloc(t.cap, sizeof(*t.ino));
		t.val = xcalloc(t.cap, sizeof(*t.val));
		for (size_t i = 0; i < s->cap; i++)
			if (s->val[i])
				imap_put(&t, s->ino[i], s->val[i]);
		hset_release(s);
		*s = t;
	}
	size_t i = imap_mix(ino) & (s->cap - 1);
	while (s->val[i] && s->ino[i] != ino)
		i = (i + 1) & (s->cap - 1);
	if (!s->val[i])
		s->n++;
	s->ino[i] = ino;
	s->val[i] = val;
}

/* --------------------------------------------------------- crash testing */

static long crash_count;

/* Called before every object-store write of a sync (and the head_set after
 * it): MAGS_SYNC_CRASH_AT=N dies at the N-th, so a test can enumerate every
 * point where a sync can be interrupted. */
static void crash_point(void)
{
	const char *s = getenv("MAGS_SYNC_CRASH_AT");

	crash_count++;
	if (s && *s && strtol(s, NULL, 10) == crash_count)
		_exit(99);
	crashpoint("sync:write");
}

static int os_put_buf(struct objstore *os, const char *key, const void *buf, size_t len,
		      struct mags_err *err)
{
	crash_point();
	return os->ops->put_buf(os, key, buf, len, err);
}

static int os_put_fd(struct objstore *os, const char *key, int fd, struct mags_err *err)
{
	crash_point();
	return os->ops->put_fd(os, key, fd, err);
}

/* ------------------------------------------------------------ sync state */

struct state_rec {
	char *path;
	size_t path_len;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	char hash[65];
};

struct state {
	char manifest[65], body[65];
	struct state_rec *v;
	size_t n;
};

static void state_release(struct state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* A decimal number (signed if sign) in a NUL-terminated field; the value
 * is stored as its two's-complement bits when signed. */
static int parse_num(const char *s, int sign, uint64_t *out)
{
	int neg = sign && *s == '-';
	uint64_t v = 0;

	s += neg;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > UINT64_MAX / 10 - 1)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = neg ? (uint64_t)0 - v : v;
	return 0;
}

/* Load the state; anything unexpected = no state (it is only a cache). */
static void state_load(const char *file, struct state *s)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t len = read_file(file, 1u << 30, &buf);
	char *p, *end, *nl;
	size_t cap = 0, want;

	memset(s, 0, sizeof(*s));
	if (len <= 0)
		return;
	p = buf;
	end = buf + len;
	if (sscanf(p, "mags-sync-state 1\nmanifest %64[0-9a-f]\nbody %64[0-9a-f]\ncount %zu\n",
		   s->manifest, s->body, &want) != 3 || !snapshot_hash_valid(s->manifest) ||
	    !snapshot_hash_valid(s->body))
		goto bad;
	for (int i = 0; i < 4; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto bad;
		p = nl + 1;
	}
	while (p < end) {
		struct state_rec r;
		char *sp, *f[6];

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto bad;
		/* size mtime ino ctime hash path: split on the first five spaces */
		f[0] = p;
		for (int i = 1; i < 6; i++) {
			sp = memchr(f[i - 1], ' ', (size_t)(nl - f[i - 1]));
			if (!sp)
				goto bad;
			*sp = '\0';
			f[i] = sp + 1;
		}
		*nl = '\0';
		if (parse_num(f[0], 0, &r.size) < 0 || parse_num(f[1], 1, (uint64_t *)&r.mtime_ns) < 0 ||
		    parse_num(f[2], 0, &r.ino) < 0 || parse_num(f[3], 1, (uint64_t *)&r.ctime_ns) < 0 ||
		    !snapshot_hash_valid(f[4]))
			goto bad;
		r.path = manifest_unescape(f[5], (size_t)(nl - f[5]), &r.path_len);
		if (!r.path)
			goto bad;
		memcpy(r.hash, f[4], 65);
		if (s->n && strcmp(s->v[s->n - 1].path, r.path) >= 0) {
			free(r.path);
			goto bad;
		}
		if (s->n == cap) {
			cap = cap ? cap * 2 : 1024;
			s->v = xrealloc(s->v, cap * sizeof(*s->v));
		}
		s->v[s->n++] = r;
		p = nl + 1;
	}
	if (s->n != want)
		goto bad;
	return;
bad:
	state_release(s);
}

static const struct state_rec *state_find(const struct state *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].path, path);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Rewrite the state atomically (temp + rename; not fsync'd: losing it only
 * costs a full re-read). Regular files of the sorted manifest m. */
static int state_save(const char *file, const struct manifest *m, const char *mhash,
		      const char *body, struct mags_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	size_t count = 0;
	char rnd[17];
	FILE *f;
	int fd;

	for (size_t i = 0; i < m->n; i++)
		count += m->entries[i].type == MANIFEST_FILE || m->entries[i].type == MANIFEST_HARDLINK;
	random_hex(rnd, 8);
	tmp = xasprintf("%s.tmp-%s", file, rnd);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, errno, "sync state '%s': create", tmp);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return err_sys(err, ENOMEM, "sync state '%s'", tmp);
	}
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	fprintf(f, "mags-sync-state 1\nmanifest %s\nbody %s\ncount %zu\n", mhash, body, count);
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		if (e->type != MANIFEST_FILE && e->type != MANIFEST_HARDLINK)
			continue;
		_cleanup_free_ char *ep = manifest_escape(e->path, e->path_len);
		fprintf(f, "%" PRIu64 " %" PRId64 " %" PRIu64 " %" PRId64 " %s %s\n", e->size,
			e->mtime_ns, e->ino, e->ctime_ns, e->hash, ep);
	}
	if (fclose(f) != 0) {
		int e = errno;
		unlink(tmp);
		return err_sys(err, e, "sync state '%s': write", tmp);
	}
	if (rename(tmp, file) < 0) {
		int e = errno;
		unlink(tmp);
		return err_sys(err, e, "sync state '%s': rename", file);
	}
	return 0;
}

/* ------------------------------------------------------------------ sync */

struct syncer {
	struct objstore *os;
	struct manifest m;
	struct state old;
	int trusted;           /* old state's hashes are referenced by the head */
	struct hset present;   /* blobs known to be in the store */
	struct hset links;     /* inode -> entry index + 1, for nlink > 1 */
	int all_reused;
	int tmpdir_fd;         /* where big files are compressed to */
	char path[MANIFEST_MAX_PATH + 2];
	size_t plen;
	unsigned char *buf;    /* IO_BUF */
	void *zbuf;            /* compressBound(SMALL_FILE) */
	size_t zcap;
	ZSTD_CCtx *cctx;
	EVP_MD_CTX *md;
	struct snapshot_stats *st;
	struct mags_err *err;
};

/* Hash fd from offset 0 to EOF. */
static int hash_fd(struct syncer *s, int fd, char out[65], uint64_t *size)
{
	uint64_t n = 0;

	for (;;) {
		ssize_t r = pread(fd, s->buf, IO_BUF, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		EVP_DigestUpdate(s->md, s->buf, (size_t)r);
		n += (uint64_t)r;
	}
	sha_final(s->md, out);
	*size = n;
	s->st->bytes_read += n;
	return 0;
}

static int open_tmp(struct syncer *s)
{
	int fd = openat(s->tmpdir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	char name[40], rnd[17];
	random_hex(rnd, 8);
	snprintf(name, sizeof(name), ".sync-tmp-%s", rnd);
	fd = openat(s->tmpdir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	unlinkat(s->tmpdir_fd, name, 0);
	return fd;
}

/* Compress fd (re-read from 0) into a temp file while hashing again, and
 * upload it under the hash of what was actually compressed. */
static int upload_stream(struct syncer *s, int fd, char hash[65], uint64_t *size)
{
	_cleanup_close_ int tfd = open_tmp(s);
	size_t outcap = ZSTD_CStreamOutSize();
	_cleanup_free_ char *out = xmalloc(outcap);
	uint64_t n = 0, zn = 0;
	char key[80];
	int r;

	if (tfd < 0)
		return err_sys(s->err, -tfd, "temp file for compression");
	ZSTD_CCtx_reset(s->cctx, ZSTD_reset_session_only);
	for (int last = 0; !last;) {
		ssize_t got = pread(fd, s->buf, IO_BUF, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_sys(s->err, errno, "read");
		last = got == 0;
		EVP_DigestUpdate(s->md, s->buf, (size_t)got);
		n += (uint64_t)got;
		ZSTD_inBuffer in = {s->buf, (size_t)got, 0};
		int finished;
		do {
			ZSTD_outBuffer ob = {out, outcap, 0};
			size_t rem = ZSTD_compressStream2(s->cctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(rem))
				return err_set(s->err, MAGS_E_INTERNAL, EIO, "zstd: %s", ZSTD_getErrorName(rem));
			if ((r = write_full(tfd, out, ob.pos)) < 0)
				return err_sys(s->err, -r, "write temp file");
			zn += ob.pos;
			finished = last ? rem == 0 : in.pos == in.size;
		} while (!finished);
	}
	sha_final(s->md, hash);
	*size = n;
	s->st->bytes_read += n;
	blob_key(hash, key);
	if (lseek(tfd, 0, SEEK_SET) < 0)
		return err_sys(s->err, errno, "seek temp file");
	if ((r = os_put_fd(s->os, key, tfd, s->err)) < 0)
		return r;
	s->st->blobs_uploaded++;
	s->st->bytes_uploaded += zn;
	hset_add(&s->present, hash);
	return 0;
}

static int upload_mem(struct syncer *s, const void *p, size_t len, const char *hash)
{
	char key[80];
	size_t z = ZSTD_compressCCtx(s->cctx, s->zbuf, s->zcap, p, len, ZSTD_LEVEL);
	int r;

	if (ZSTD_isError(z))
		return err_set(s->err, MAGS_E_INTERNAL, EIO, "zstd: %s", ZSTD_getErrorName(z));
	blob_key(hash, key);
	if ((r = os_put_buf(s->os, key, s->zbuf, z, s->err)) < 0)
		return r;
	s->st->blobs_uploaded++;
	s->st->bytes_uploaded += z;
	hset_add(&s->present, hash);
	return 0;
}

/* 1 if the blob is (now known to be) in the store, 0 if not, < 0 error. */
static int blob_present(struct syncer *s, const char *hash)
{
	char key[80];
	int r;

	if (hset_has(&s->present, hash))
		return 1;
	blob_key(hash, key);
	r = s->os->ops->exists(s->os, key, s->err);
	if (r > 0)
		hset_add(&s->present, hash);
	return r;
}

/* Read (unless reusable), hash and upload (unless present) one regular
 * file. 0 done, 1 the file vanished under us (a live workspace: drop the
 * entry), < 0 error. */
static int sync_file(struct syncer *s, int dfd, const char *name, struct manifest_entry *e)
{
	const struct state_rec *old = state_find(&s->old, s->path);
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (old && old->size == e->size && old->mtime_ns == e->mtime_ns && old->ino == e->ino &&
	    old->ctime_ns == e->ctime_ns) {
		memcpy(e->hash, old->hash, 65);
		if (s->trusted)
			return 0; /* the head references it: in the store */
		if ((r = blob_present(s, e->hash)) != 0)
			return r < 0 ? r : 0;
		/* Recorded but gone from the store (GC after a crashed sync). */
	} else {
		s->all_reused = 0;
		if (e->nlink > 1) {
			size_t v = imap_get(&s->links, e->ino);
			const struct manifest_entry *o = v ? &s->m.entries[v - 1] : NULL;
			if (o && o->ctime_ns == e->ctime_ns && o->size == e->size && o->hash[0]) {
				memcpy(e->hash, o->hash, 65);
				return 0; /* another name of a file read in this walk */
			}
		}
	}

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENXIO))
		return 1; /* deleted or replaced by a symlink since readdir: skip it */
	if (fd < 0)
		return err_sys(s->err, errno, "open '%s'", show(s->path, s->plen).s);
	if (fstat(fd, &st) < 0)
		return err_sys(s->err, errno, "stat '%s'", show(s->path, s->plen).s);
	if (!S_ISREG(st.st_mode))
		return 1; /* replaced by something else: the next sync sees what */
	/* What we record is the stat from before the read: if the file changes
	 * while we read it, its ctime moves on and the next sync reads it again. */
	e->size = (uint64_t)st.st_size;
	e->mtime_ns = ts_ns(&st.st_mtim);
	e->ctime_ns = ts_ns(&st.st_ctim);
	e->ino = st.st_ino;

	if (st.st_size <= (off_t)SMALL_FILE) {
		size_t got = 0;
		for (;;) {
			ssize_t n = read(fd, s->buf + got, SMALL_FILE + 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return err_sys(s->err, errno, "read '%s'", show(s->path, s->plen).s);
			if (n == 0 || (got += (size_t)n) > SMALL_FILE)
				break;
		}
		if (got <= SMALL_FILE) {
			s->st->bytes_read += got;
			e->size = got;
			sha_buf(s->buf, got, e->hash);
			if ((r = blob_present(s, e->hash)) != 0)
				return r < 0 ? r : 0;
			return upload_mem(s, s->buf, got, e->hash);
		}
		/* grew past the small size while we read it: stream it */
	}
	if ((r = hash_fd(s, fd, e->hash, &e->size)) < 0)
		return err_sys(s->err, -r, "read '%s'", show(s->path, s->plen).s);
	if ((r = blob_present(s, e->hash)) != 0)
		return r < 0 ? r : 0;
	/* The upload hashes again what it compresses: if the file changed in
	 * between, the entry takes the hash of what was stored. */
	if ((r = upload_stream(s, fd, e->hash, &e->size)) < 0)
		err_wrap(s->err, "'%s'", show(s->path, s->plen).s);
	return r;
}

static int read_opaque(int fd)
{
	char v[4];
	ssize_t n = fgetxattr(fd, OPAQUE_XATTR, v, sizeof(v));
	if (n < 0)
		n = fgetxattr(fd, OPAQUE_TRUSTED, v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

static void fill_attrs(struct manifest_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->ctime_ns = ts_ns(&st->st_ctim);
	e->ino = st->st_ino;
	e->nlink = st->st_nlink;
	e->size = (uint64_t)st->st_size;
}

static int sync_dir(struct syncer *s, int dfd, int depth)
{
	_cleanup_close_ int dupfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	struct dirent *de;
	DIR *dir;
	int r = 0;

	if (dupfd < 0)
		return err_sys(s->err, errno, "dup");
	dir = fdopendir(dupfd);
	if (!dir)
		return err_sys(s->err, errno, "read directory");
	dupfd = -1;
	while (r == 0 && (errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		size_t nl = strlen(name), base = s->plen;
		struct manifest_entry *e;
		struct stat st;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (base + (base ? 1 : 0) + nl > MANIFEST_MAX_PATH) {
			r = err_set(s->err, MAGS_E_BAD_REQUEST, ENAMETOOLONG,
				    "'%s/...': path longer than %d bytes", show(s->path, s->plen).s,
				    MANIFEST_MAX_PATH);
			break;
		}
		if (base)
			s->path[s->plen++] = '/';
		memcpy(s->path + s->plen, name, nl + 1);
		s->plen += nl;

		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) /* deleted under us: not part of this sync */
				r = err_sys(s->err, errno, "stat '%s'", show(s->path, s->plen).s);
			goto next;
		}
		if (st.st_uid > MANIFEST_MAX_ID || st.st_gid > MANIFEST_MAX_ID) {
			r = err_set(s->err, MAGS_E_BAD_REQUEST, EOVERFLOW,
				    "'%s': owner %u:%u outside the sandbox's ids",
				    show(s->path, s->plen).s, st.st_uid, st.st_gid);
			goto next;
		}
		switch (st.st_mode & S_IFMT) {
		case S_IFREG:
			e = manifest_add(&s->m, s->path, s->plen, MANIFEST_FILE);
			fill_attrs(e, &st);
			r = sync_file(s, dfd, name, e);
			if (r == 1) {
				free(e->path);
				s->m.n--;
				r = 0;
				break;
			}
			s->st->files++;
			if (r == 0 && e->nlink > 1 && !imap_get(&s->links, e->ino))
				imap_put(&s->links, e->ino, s->m.n);
			break;
		case S_IFDIR: {
			int cfd;
			if (depth + 1 >= MANIFEST_MAX_DEPTH) {
				r = err_set(s->err, MAGS_E_BAD_REQUEST, ELOOP,
					    "'%s': directories nested deeper than %d",
					    show(s->path, s->plen).s, MANIFEST_MAX_DEPTH);
				break;
			}
			cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				if (errno != ENOENT)
					r = err_sys(s->err, errno, "open '%s'", show(s->path, s->plen).s);
				break;
			}
			e = manifest_add(&s->m, s->path, s->plen, MANIFEST_DIR);
			fill_attrs(e, &st);
			e->opaque = read_opaque(cfd);
			s->st->dirs++;
			r = sync_dir(s, cfd, depth + 1);
			close(cfd);
			break;
		}
		case S_IFLNK: {
			char t[MANIFEST_MAX_PATH + 1];
			ssize_t n = readlinkat(dfd, name, t, sizeof(t));
			if (n < 0) {
				if (errno != ENOENT)
					r = err_sys(s->err, errno, "readlink '%s'", show(s->path, s->plen).s);
				break;
			}
			if (n == 0 || n > MANIFEST_MAX_PATH) {
				r = err_set(s->err, MAGS_E_BAD_REQUEST, ENAMETOOLONG,
					    "'%s': symlink target too long", show(s->path, s->plen).s);
				break;
			}
			e = manifest_add(&s->m, s->path, s->plen, MANIFEST_SYMLINK);
			fill_attrs(e, &st);
			e->target = xstrndup(t, (size_t)n);
			e->target_len = (size_t)n;
			break;
		}
		case S_IFCHR:
		case S_IFBLK:
			e = manifest_add(&s->m, s->path, s->plen,
					 S_ISCHR(st.st_mode) ? MANIFEST_CHR : MANIFEST_BLK);
			fill_attrs(e, &st);
			e->rdev_major = major(st.st_rdev);
			e->rdev_minor = minor(st.st_rdev);
			break;
		case S_IFIFO:
			e = manifest_add(&s->m, s->path, s->plen, MANIFEST_FIFO);
			fill_attrs(e, &st);
			break;
		default:
			break; /* sockets: meaningless once the process is gone */
		}
next:
		s->plen = base;
		s->path[base] = '\0';
	}
	if (r == 0 && errno)
		r = err_sys(s->err, errno, "read directory '%s'", show(s->path, s->plen).s);
	closedir(dir);
	return r;
}

static int ino_idx_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b; /* {ino, index} pairs */
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* After sorting: every further name of a multiply-linked file becomes a
 * hard link to the first name (in path order). */
static void mark_hardlinks(struct manifest *m)
{
	uint64_t (*v)[2] = NULL;
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].type == MANIFEST_FILE && m->entries[i].nlink > 1)
			n++;
	if (n < 2)
		return;
	v = xmalloc(n * sizeof(*v));
	n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].type == MANIFEST_FILE && m->entries[i].nlink > 1) {
			v[n][0] = m->entries[i].ino;
			v[n][1] = i;
			n++;
		}
	qsort(v, n, sizeof(*v), ino_idx_cmp);
	for (size_t i = 1; i < n; i++) {
		size_t first = i;
		while (first > 0 && v[first - 1][0] == v[i][0])
			first--;
		if (first == i)
			continue;
		struct manifest_entry *t = &m->entries[v[first][1]], *e = &m->entries[v[i][1]];
		e->type = MANIFEST_HARDLINK;
		e->target = xstrndup(t->path, t->path_len);
		e->target_len = t->path_len;
	}
	free(v);
}

static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == file)
		return xstrdup("/");
	return xstrndup(file, (size_t)(slash - file));
}

int snapshot_sync(struct objstore *os, const char *upper_dir, const char *state_file,
		  const char *parent_hash, char out_hash[65], struct snapshot_stats *st,
		  struct mags_err *err)
{
	struct snapshot_stats dummy;
	struct syncer s = {0};
	_cleanup_close_ int rootfd = -1;
	_cleanup_free_ char *enc = NULL, *tmpdir = NULL;
	char body[65], mhash[65], key[80];
	size_t len, body_off;
	struct stat rst;
	int64_t t0 = time_mono_ms();
	int r;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	crash_count = 0;
	if (parent_hash && !snapshot_hash_valid(parent_hash))
		return err_set(err, MAGS_E_INTERNAL, EINVAL, "sync: bad parent hash");
	s.os = os;
	s.st = st;
	s.err = err;
	s.all_reused = 1;
	s.tmpdir_fd = -1;
	manifest_init(&s.m);

	rootfd = open(upper_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0) {
		r = err_sys(err, errno, "sync '%s': open", upper_dir);
		goto out;
	}
	tmpdir = dir_of(state_file);
	s.tmpdir_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.tmpdir_fd < 0) {
		r = err_sys(err, errno, "sync state directory '%s'", tmpdir);
		goto out;
	}
	if (fstat(rootfd, &rst) < 0) {
		r = err_sys(err, errno, "sync '%s': stat", upper_dir);
		goto out;
	}
	fill_attrs(&s.m.root, &rst);
	if (rst.st_uid > MANIFEST_MAX_ID || rst.st_gid > MANIFEST_MAX_ID)
		s.m.root.uid = s.m.root.gid = 0;
	s.m.root.opaque = read_opaque(rootfd);

	state_load(state_file, &s.old);
	s.trusted = parent_hash && s.old.manifest[0] && !strcmp(s.old.manifest, parent_hash);
	s.buf = xmalloc(IO_BUF > SMALL_FILE + 1 ? IO_BUF : SMALL_FILE + 1);
	s.zcap = ZSTD_compressBound(SMALL_FILE);
	s.zbuf = xmalloc(s.zcap);
	s.cctx = ZSTD_createCCtx();
	if (!s.cctx)
		abort();
	ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	s.md = sha_new();

	r = sync_dir(&s, rootfd, 0);
	if (r < 0) {
		err_wrap(err, "sync '%s'", upper_dir);
		goto out;
	}
	manifest_sort(&s.m);
	mark_hardlinks(&s.m);

	/* The body alone decides whether anything changed. */
	if (parent_hash)
		memcpy(s.m.parent, parent_hash, 65);
	s.m.created_ms = time_now_ms();
	r = manifest_encode(&s.m, &enc, &len, &body_off, err);
	if (r < 0) {
		err_wrap(err, "sync '%s'", upper_dir);
		goto out;
	}
	sha_buf(enc + body_off, len - body_off, body);
	if (s.trusted && !strcmp(s.old.body, body)) {
		memcpy(out_hash, parent_hash, 65);
		if (!s.all_reused || s.old.n != st->files)
			r = state_save(state_file, &s.m, parent_hash, body, err);
		goto out;
	}
	/* Our own output must pass the restore-side rules: a tree that breaks
	 * them is refused now rather than found unrestorable later. */
	{
		struct manifest check;
		r = manifest_decode(enc, len, &check, err);
		manifest_release(&check);
		if (r < 0) {
			if (err)
				err->code = MAGS_E_INTERNAL;
			err_wrap(err, "sync '%s': unrestorable tree", upper_dir);
			goto out;
		}
	}
	sha_buf(enc, len, mhash);
	snprintf(key, sizeof(key), "manifests/%s", mhash);
	r = os_put_buf(os, key, enc, len, err);
	if (r < 0) {
		err_wrap(err, "sync '%s'", upper_dir);
		goto out;
	}
	st->bytes_uploaded += len;
	/* A state that names a manifest no head points to yet is harmless: it
	 * is only trusted when that manifest is the next sync's parent. */
	r = state_save(state_file, &s.m, mhash, body, err);
	if (r < 0)
		goto out;
	memcpy(out_hash, mhash, 65);
out:
	st->ms = time_mono_ms() - t0;
	if (s.tmpdir_fd >= 0)
		close(s.tmpdir_fd);
	state_release(&s.old);
	manifest_release(&s.m);
	hset_release(&s.present);
	hset_release(&s.links);
	free(s.buf);
	free(s.zbuf);
	ZSTD_freeCCtx(s.cctx);
	if (s.md)
		EVP_MD_CTX_free(s.md);
	return r;
}

/* ----------------------------------------------------------------- heads */

static int head_key(const char *user_id, const char *ws, char *key, size_t n, struct mags_err *err)
{
	if (!user_id || !ws || strchr(user_id, '/') || strchr(ws, '/') ||
	    snprintf(key, n, "heads/%s/%s", user_id, ws) >= (int)n || !objstore_key_valid(key))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "workspace '%s': invalid name",
			       ws ? ws : "");
	return 0;
}

int snapshot_head_get(struct objstore *os, const char *user_id, const char *ws,
		      char out_hash[65], struct mags_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char key[600];
	size_t len = 0;
	int r;

	if ((r = head_key(user_id, ws, key, sizeof(key), err)) < 0)
		return r;
	r = os->ops->get_buf(os, key, HEAD_MAX, &buf, &len, err);
	if (r == -ENOENT)
		return err_set(err, MAGS_E_NOT_FOUND, ENOENT, "workspace '%s': never synced", ws);
	if (r < 0) {
		err_wrap(err, "workspace '%s': head", ws);
		return r;
	}
	if (len < 64 || (len > 64 && !(len == 65 && buf[64] == '\n')))
		goto bad;
	buf[64] = '\0';
	if (!snapshot_hash_valid(buf))
		goto bad;
	memcpy(out_hash, buf, 65);
	return 0;
bad:
	return err_set(err, MAGS_E_INTERNAL, EBADMSG, "workspace '%s': head object is damaged", ws);
}

int snapshot_head_set(struct objstore *os, const char *user_id, const char *ws,
		      const char *hash, struct mags_err *err)
{
	char key[600], mkey[80], val[66];
	int r;

	if ((r = head_key(user_id, ws, key, sizeof(key), err)) < 0)
		return r;
	if (!snapshot_hash_valid(hash))
		return err_set(err, MAGS_E_INTERNAL, EINVAL, "workspace '%s': bad snapshot hash", ws);
	snprintf(mkey, sizeof(mkey), "manifests/%s", hash);
	r = os->ops->exists(os, mkey, err);
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, MAGS_E_NOT_FOUND, ENOENT,
			       "workspace '%s': snapshot '%.12s' is not in the store", ws, hash);
	snprintf(val, sizeof(val), "%s\n", hash);
	r = os_put_buf(os, key, val, 65, err);
	if (r < 0)
		err_wrap(err, "workspace '%s': move head", ws);
	return r;
}

int snapshot_head_delete(struct objstore *os, const char *user_id, const char *ws,
			 struct mags_err *err)
{
	char key[600];
	int r;

	if ((r = head_key(user_id, ws, key, sizeof(key), err)) < 0)
		return r;
	r = os->ops->del(os, key, err);
	if (r < 0)
		err_wrap(err, "workspace '%s': delete head", ws);
	return r;
}

/* -------------------------------------------------------------- manifests */

static int manifest_load(struct objstore *os, const char *hash, struct manifest *m,
			 struct mags_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char key[80], got[65];
	size_t len = 0;
	int r;

	manifest_init(m);
	if (!snapshot_hash_valid(hash))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "snapshot '%s': not a hash", hash);
	snprintf(key, sizeof(key), "manifests/%s", hash);
	r = os->ops->get_buf(os, key, MANIFEST_MAX_BYTES, &buf, &len, err);
	if (r < 0) {
		if (r == -ENOENT)
			return err_set(err, MAGS_E_NOT_FOUND, ENOENT, "snapshot '%.12s': not in the store", hash);
		err_wrap(err, "snapshot '%.12s'", hash);
		return r;
	}
	sha_buf(buf, len, got);
	if (strcmp(got, hash))
		return err_set(err, MAGS_E_INTERNAL, EBADMSG,
			       "snapshot '%.12s': manifest does not match its hash (damaged or tampered store)",
			       hash);
	manifest_release(m);
	r = manifest_decode(buf, len, m, err);
	if (r < 0 && err) {
		err->code = MAGS_E_INTERNAL;
		err_wrap(err, "snapshot '%.12s'", hash);
	}
	return r;
}

/* ---------------------------------------------------------------- restore */

struct restorer {
	struct objstore *os;
	const struct manifest *m;
	int blobs_fd, inodes_fd, tmp_fd;
	int copy;          /* copy contents rather than link cache inodes */
	int keep_setid;
	size_t *first_child, *next_sibling; /* SIZE_MAX = none; index m->n = root */
	struct snapshot_stats *st;
	struct mags_err *err;
};

#define NONE SIZE_MAX

static uint32_t eff_mode(const struct restorer *rs, const struct manifest_entry *e)
{
	uint32_t mode = e->mode & 07777;
	if (!rs->keep_setid)
		mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	return mode;
}

static void variant_name(const struct restorer *rs, const struct manifest_entry *e, char out[160])
{
	snprintf(out, 160, "%s-%04o-%" PRIu32 "-%" PRIu32 "-%" PRId64, e->hash, eff_mode(rs, e),
		 e->uid, e->gid, e->mtime_ns);
}

/* Owner, mode, times of a regular file being built (chown first: it clears
 * setuid bits). */
static int set_file_attrs(int fd, const struct manifest_entry *e, uint32_t mode)
{
	struct timespec ts[2];

	ts[0] = ts[1] = ns_ts(e->mtime_ns);
	if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

static int copy_contents(int in, int out, uint64_t size)
{
	uint64_t done = 0;
	char buf[1 << 16];

	if (size == 0)
		return 0;
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	while (done < size) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(size - done), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	if (done == size)
		return 0;
	if (lseek(in, (off_t)done, SEEK_SET) < 0 || lseek(out, (off_t)done, SEEK_SET) < 0)
		return -errno;
	while (done < size) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		int r = write_full(out, buf, (size_t)n);
		if (r < 0)
			return r;
		done += (uint64_t)n;
	}
	return 0;
}

/* Download blob e->hash into cache/blobs/<h>, checking size and hash, and
 * make the downloaded inode the cache inode for e's metadata. */
static int fetch_blob(struct restorer *rs, const struct manifest_entry *e, int zfd,
		      ZSTD_DCtx *dctx, EVP_MD_CTX *md, unsigned char *ibuf, unsigned char *obuf)
{
	char key[80], tmp[100], rnd[17], got[65], vname[160];
	_cleanup_close_ int out = -1;
	uint64_t produced = 0, zsize;
	off_t zoff = 0;
	int r;

	blob_key(e->hash, key);
	if (ftruncate(zfd, 0) < 0 || lseek(zfd, 0, SEEK_SET) < 0)
		return err_sys(rs->err, errno, "temp file");
	r = rs->os->ops->get_fd(rs->os, key, zfd, rs->err);
	if (r < 0) {
		err_wrap(rs->err, "blob '%.12s'", e->hash);
		return r;
	}
	{
		struct stat zst;
		if (fstat(zfd, &zst) < 0)
			return err_sys(rs->err, errno, "temp file");
		zsize = (uint64_t)zst.st_size;
	}
	rs->st->blobs_fetched++;
	rs->st->bytes_fetched += zsize;

	random_hex(rnd, 8);
	snprintf(tmp, sizeof(tmp), "%.64s.%s", e->hash, rnd);
	out = openat(rs->tmp_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return err_sys(rs->err, errno, "cache temp file");
	ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
	size_t last = 1;
	int any = 0;
	while ((uint64_t)zoff < zsize) {
		ssize_t n = pread(zfd, ibuf, IO_BUF, zoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = err_sys(rs->err, n < 0 ? errno : EIO, "read temp file");
			goto fail;
		}
		zoff += n;
		ZSTD_inBuffer in = {ibuf, (size_t)n, 0};
		while (in.pos < in.size) {
			ZSTD_outBuffer ob = {obuf, IO_BUF, 0};
			last = ZSTD_decompressStream(dctx, &ob, &in);
			if (ZSTD_isError(last)) {
				r = err_set(rs->err, MAGS_E_INTERNAL, EBADMSG,
					    "blob '%.12s': not valid zstd data (damaged or tampered store): %s",
					    e->hash, ZSTD_getErrorName(last));
				goto fail;
			}
			produced += ob.pos;
			if (produced > e->size) {
				r = err_set(rs->err, MAGS_E_INTERNAL, EBADMSG,
					    "blob '%.12s': larger than the manifest says (damaged or tampered store)",
					    e->hash);
				goto fail;
			}
			EVP_DigestUpdate(md, obuf, ob.pos);
			if ((r = write_full(out, obuf, ob.pos)) < 0) {
				err_sys(rs->err, -r, "cache write");
				goto fail;
			}
			any = 1;
		}
	}
	sha_final(md, got);
	if (!any || last != 0 || produced != e->size || strcmp(got, e->hash)) {
		r = err_set(rs->err, MAGS_E_INTERNAL, EBADMSG,
			    "blob '%.12s': content does not match its hash (damaged or tampered store)",
			    e->hash);
		goto fail;
	}
	if ((r = set_file_attrs(out, e, eff_mode(rs, e))) < 0) {
		err_sys(rs->err, -r, "cache file attributes");
		goto fail;
	}
	variant_name(rs, e, vname);
	if (linkat(rs->tmp_fd, tmp, rs->inodes_fd, vname, 0) < 0 && errno != EEXIST) {
		r = err_sys(rs->err, errno, "cache link");
		goto fail;
	}
	if (renameat(rs->tmp_fd, tmp, rs->blobs_fd, e->hash) < 0) {
		r = err_sys(rs->err, errno, "cache rename");
		goto fail;
	}
	return 0;
fail:
	unlinkat(rs->tmp_fd, tmp, 0);
	return r;
}

/* Make cache/inodes/<variant> from cache/blobs/<h> (a copy: new inode). */
static int make_variant(struct restorer *rs, const struct manifest_entry *e, const char *vname)
{
	_cleanup_close_ int in = openat(rs->blobs_fd, e->hash, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	char tmp[100], rnd[17];
	int r;

	if (in < 0)
		return -errno;
	random_hex(rnd, 8);
	snprintf(tmp, sizeof(tmp), "v-%.64s.%s", e->hash, rnd);
	out = openat(rs->tmp_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r = copy_contents(in, out, e->size);
	if (r == 0)
		r = set_file_attrs(out, e, eff_mode(rs, e));
	if (r == 0 && linkat(rs->tmp_fd, tmp, rs->inodes_fd, vname, 0) < 0 && errno != EEXIST)
		r = -errno;
	unlinkat(rs->tmp_fd, tmp, 0);
	return r;
}

static int place_copy(struct restorer *rs, int dfd, const char *name, const struct manifest_entry *e)
{
	_cleanup_close_ int in = openat(rs->blobs_fd, e->hash, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	int r;

	if (in < 0)
		return -errno;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r = copy_contents(in, out, e->size);
	if (r == 0)
		r = set_file_attrs(out, e, eff_mode(rs, e));
	return r;
}

static int place_file(struct restorer *rs, int dfd, const char *name, const struct manifest_entry *e)
{
	char vname[160];

	if (!rs->copy) {
		variant_name(rs, e, vname);
		for (int tries = 0; tries < 2; tries++) {
			if (linkat(rs->inodes_fd, vname, dfd, name, 0) == 0)
				return 0;
			if (errno == EXDEV) {
				rs->copy = 1; /* dest on another filesystem: copy from now on */
				break;
			}
			if (errno == EMLINK)
				break; /* that inode has too many links: copy this one */
			if (errno != ENOENT || tries)
				return -errno;
			int r = make_variant(rs, e, vname);
			if (r < 0)
				return r;
		}
	}
	return place_copy(rs, dfd, name, e);
}

static int set_node_attrs(int dfd, const char *name, const struct manifest_entry *e, int chmod_it)
{
	struct timespec ts[2];

	ts[0] = ts[1] = ns_ts(e->mtime_ns);
	if (fchownat(dfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (chmod_it && fchmodat(dfd, name, e->mode & 01777, 0) < 0)
		return -errno;
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int set_dir_attrs(int fd, const struct manifest_entry *e)
{
	struct timespec ts[2];

	ts[0] = ts[1] = ns_ts(e->mtime_ns);
	if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode & 07777) < 0)
		return -errno;
	if (e->opaque && fsetxattr(fd, OPAQUE_XATTR, "y", 1, 0) < 0)
		return -errno;
	if (futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

static const char *base_name(const struct manifest_entry *e)
{
	const char *slash = memrchr(e->path, '/', e->path_len);
	return slash ? slash + 1 : e->path;
}

/* Create the children of directory idx (open as dfd), depth first. */
static int build_dir(struct restorer *rs, int dfd, size_t idx)
{
	const struct manifest *m = rs->m;
	int r = 0;

	for (size_t c = rs->first_child[idx]; c != NONE && r == 0; c = rs->next_sibling[c]) {
		const struct manifest_entry *e = &m->entries[c];
		const char *name = base_name(e);

		switch (e->type) {
		case MANIFEST_DIR: {
			int cfd;
			if (mkdirat(dfd, name, 0700) < 0) {
				r = -errno;
				break;
			}
			cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = -errno;
				break;
			}
			rs->st->dirs++;
			r = build_dir(rs, cfd, c);
			close(cfd);
			if (r < 0)
				return r; /* message already set below */
			break;
		}
		case MANIFEST_FILE:
			r = place_file(rs, dfd, name, e);
			rs->st->files++;
			rs->st->bytes_read += e->size;
			break;
		case MANIFEST_SYMLINK:
			if (symlinkat(e->target, dfd, name) < 0)
				r = -errno;
			else
				r = set_node_attrs(dfd, name, e, 0);
			break;
		case MANIFEST_CHR:
		case MANIFEST_BLK:
			if (e->type == MANIFEST_BLK || e->rdev_major || e->rdev_minor) {
				return err_set(rs->err, MAGS_E_FORBIDDEN, EPERM,
					       "'%s': device node %u:%u refused (only overlay whiteouts are restored)",
					       show(e->path, e->path_len).s, e->rdev_major, e->rdev_minor);
			}
			if (mknodat(dfd, name, S_IFCHR | 0600, makedev(0, 0)) < 0)
				r = -errno;
			else
				r = set_node_attrs(dfd, name, e, 1);
			break;
		case MANIFEST_FIFO:
			if (mknodat(dfd, name, S_IFIFO | 0600, 0) < 0)
				r = -errno;
			else
				r = set_node_attrs(dfd, name, e, 1);
			break;
		case MANIFEST_HARDLINK:
			break; /* second pass: the target may come later in this walk */
		}
		if (r < 0)
			return err_sys(rs->err, -r, "create '%s'", show(e->path, e->path_len).s);
	}
	return r;
}

/* Open the directory holding entry path p (relative to rootfd), never
 * following a symlink. Returns an fd or -errno. */
static int open_parent_dir(int rootfd, const char *p, size_t len)
{
	const char *slash = memrchr(p, '/', len);
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	const char *s = p;

	if (fd < 0 || !slash)
		return fd < 0 ? -errno : fd;
	while (s < slash) {
		const char *e = memchr(s, '/', (size_t)(slash - s + 1));
		char name[MANIFEST_MAX_NAME + 1];
		size_t n = (size_t)(e - s);
		memcpy(name, s, n);
		name[n] = '\0';
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
		s = e + 1;
	}
	return fd;
}

static int build_links(struct restorer *rs, int rootfd)
{
	const struct manifest *m = rs->m;

	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		if (e->type != MANIFEST_HARDLINK)
			continue;
		ssize_t ti = manifest_find(m, e->target, e->target_len);
		const struct manifest_entry *t = &m->entries[ti];
		int tfd = open_parent_dir(rootfd, t->path, t->path_len);
		int dfd = open_parent_dir(rootfd, e->path, e->path_len);
		int r = 0;
		if (tfd < 0 || dfd < 0)
			r = tfd < 0 ? tfd : dfd;
		else if (linkat(tfd, base_name(t), dfd, base_name(e), 0) < 0)
			r = -errno;
		if (tfd >= 0)
			close(tfd);
		if (dfd >= 0)
			close(dfd);
		if (r < 0)
			return err_sys(rs->err, -r, "hard link '%s'", show(e->path, e->path_len).s);
		rs->st->files++;
		rs->st->bytes_read += t->size;
	}
	return 0;
}

/* Directory attributes last, children first: creating entries changes a
 * directory's mtime, and a 0555 directory is set after it was filled. */
static int finish_dirs(struct restorer *rs, int dfd, size_t idx)
{
	const struct manifest *m = rs->m;

	for (size_t c = rs->first_child[idx]; c != NONE; c = rs->next_sibling[c]) {
		const struct manifest_entry *e = &m->entries[c];
		if (e->type != MANIFEST_DIR)
			continue;
		int cfd = openat(dfd, base_name(e), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			return err_sys(rs->err, errno, "open '%s'", show(e->path, e->path_len).s);
		int r = finish_dirs(rs, cfd, c);
		if (r == 0 && (r = set_dir_attrs(cfd, e)) < 0)
			err_sys(rs->err, -r, "attributes of '%s'", show(e->path, e->path_len).s);
		close(cfd);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Setuid/setgid files may exist only where no host user can run them. */
static int setid_safe(int destfd, const char *dest)
{
	struct statvfs sv;
	char *rp, *slash;
	int safe = 0;

	if (fstatvfs(destfd, &sv) == 0 && (sv.f_flag & ST_NOSUID))
		return 1;
	rp = realpath(dest, NULL);
	if (!rp)
		return 0;
	while ((slash = strrchr(rp, '/'))) {
		struct stat st;
		if (slash == rp)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(rp, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
		    !(st.st_mode & 0011)) {
			safe = 1;
			break;
		}
		if (slash == rp)
			break;
	}
	free(rp);
	return safe;
}

static int open_cache(const char *cache_dir, int *cfd, int *bfd, int *ifd, int *tfd,
		      struct mags_err *err)
{
	int r = mkdir_p(cache_dir, 0700);

	if (r < 0)
		return err_sys(err, -r, "cache '%s'", cache_dir);
	*cfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*cfd < 0)
		return err_sys(err, errno, "cache '%s'", cache_dir);
	if (fchmod(*cfd, 0700) < 0)
		return err_sys(err, errno, "cache '%s': chmod", cache_dir);
	const char *sub[3] = {"blobs", "inodes", "tmp"};
	int *fds[3] = {bfd, ifd, tfd};
	for (int i = 0; i < 3; i++) {
		if (mkdirat(*cfd, sub[i], 0700) < 0 && errno != EEXIST)
			return err_sys(err, errno, "cache '%s/%s'", cache_dir, sub[i]);
		*fds[i] = openat(*cfd, sub[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*fds[i] < 0)
			return err_sys(err, errno, "cache '%s/%s'", cache_dir, sub[i]);
	}
	return 0;
}

static int dir_is_empty(int fd)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	struct dirent *de;
	int empty = 1;

	if (!d) {
		if (dup >= 0)
			close(dup);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int fetch_missing(struct restorer *rs, int cfd)
{
	const struct manifest *m = rs->m;
	struct hset seen = {0};
	_cleanup_close_ int zfd = -1;
	unsigned char *ibuf = NULL, *obuf = NULL;
	ZSTD_DCtx *dctx = NULL;
	EVP_MD_CTX *md = NULL;
	int r = 0, fetched = 0;

	for (size_t i = 0; i < m->n && r == 0; i++) {
		const struct manifest_entry *e = &m->entries[i];
		if (e->type != MANIFEST_FILE || hset_has(&seen, e->hash))
			continue;
		hset_add(&seen, e->hash);
		if (faccessat(rs->blobs_fd, e->hash, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (!dctx) {
			zfd = openat(rs->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
			if (zfd < 0) {
				r = err_sys(rs->err, errno, "cache temp file");
				break;
			}
			dctx = ZSTD_createDCtx();
			md = sha_new();
			ibuf = xmalloc(IO_BUF);
			obuf = xmalloc(IO_BUF);
			if (!dctx)
				abort();
			/* A blob can't make us allocate more than this window. */
			ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27);
		}
		r = fetch_blob(rs, e, zfd, dctx, md, ibuf, obuf);
		fetched = 1;
	}
	/* Cached inodes are hard-linked into trees that must survive a power
	 * cut: make their contents durable once, not per file. */
	if (r == 0 && fetched && syncfs(cfd) < 0)
		r = err_sys(rs->err, errno, "cache: syncfs");
	hset_release(&seen);
	ZSTD_freeDCtx(dctx);
	if (md)
		EVP_MD_CTX_free(md);
	free(ibuf);
	free(obuf);
	return r;
}

int snapshot_restore(struct objstore *os, const char *cache_dir, const char *hash,
		     const char *dest_dir, unsigned flags, struct snapshot_stats *st,
		     struct mags_err *err)
{
	struct snapshot_stats dummy;
	struct manifest m;
	struct restorer rs = {0};
	int cfd = -1, destfd = -1, r;
	int64_t t0 = time_mono_ms();

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	rs.blobs_fd = rs.inodes_fd = rs.tmp_fd = -1;
	r = manifest_load(os, hash, &m, err);
	if (r < 0)
		goto out;
	rs.os = os;
	rs.m = &m;
	rs.st = st;
	rs.err = err;
	rs.copy = !!(flags & SNAPSHOT_RESTORE_COPY);

	/* The destination first (to know whether setid bits may stay, which
	 * names the cache inodes), then every blob, then the tree. */
	if ((r = mkdir_p(dest_dir, 0700)) < 0) {
		r = err_sys(err, -r, "restore into '%s'", dest_dir);
		goto out;
	}
	destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (destfd < 0) {
		r = err_sys(err, errno, "restore into '%s'", dest_dir);
		goto out;
	}
	if (dir_is_empty(destfd) != 1) {
		r = err_set(err, MAGS_E_CONFLICT, EEXIST, "restore into '%s': not empty", dest_dir);
		goto out;
	}
	rs.keep_setid = setid_safe(destfd, dest_dir);

	r = open_cache(cache_dir, &cfd, &rs.blobs_fd, &rs.inodes_fd, &rs.tmp_fd, err);
	if (r < 0)
		goto out;
	r = fetch_missing(&rs, cfd);
	if (r < 0) {
		err_wrap(err, "restore snapshot '%.12s'", hash);
		goto out;
	}
	crashpoint("restore:blobs-fetched");

	rs.first_child = xmalloc((m.n + 1) * sizeof(size_t));
	rs.next_sibling = xmalloc((m.n + 1) * sizeof(size_t));
	for (size_t i = 0; i <= m.n; i++)
		rs.first_child[i] = rs.next_sibling[i] = NONE;
	for (size_t i = m.n; i-- > 0;) {
		const struct manifest_entry *e = &m.entries[i];
		const char *slash = memrchr(e->path, '/', e->path_len);
		size_t parent = m.n;
		if (slash)
			parent = (size_t)manifest_find(&m, e->path, (size_t)(slash - e->path));
		rs.next_sibling[i] = rs.first_child[parent];
		rs.first_child[parent] = i;
	}
	if ((r = build_dir(&rs, destfd, m.n)) < 0 || (r = build_links(&rs, destfd)) < 0 ||
	    (r = finish_dirs(&rs, destfd, m.n)) < 0) {
		err_wrap(err, "restore snapshot '%.12s' into '%s'", hash, dest_dir);
		goto out;
	}
	if ((r = set_dir_attrs(destfd, &m.root)) < 0) {
		err_sys(err, -r, "restore into '%s': attributes", dest_dir);
		goto out;
	}
	crashpoint("restore:tree-built");
	if (syncfs(destfd) < 0)
		r = err_sys(err, errno, "restore into '%s': syncfs", dest_dir);
out:
	st->ms = time_mono_ms() - t0;
	free(rs.first_child);
	free(rs.next_sibling);
	manifest_release(&m);
	if (destfd >= 0)
		close(destfd);
	if (cfd >= 0)
		close(cfd);
	if (rs.blobs_fd >= 0)
		close(rs.blobs_fd);
	if (rs.inodes_fd >= 0)
		close(rs.inodes_fd);
	if (rs.tmp_fd >= 0)
		close(rs.tmp_fd);
	return r;
}

int snapshot_materialise(struct objstore *os, const char *cache_dir,
			 const char *snapshots_dir, const char *hash, char **out_path,
			 struct mags_err *err)
{
	_cleanup_free_ char *final = NULL, *tmp = NULL;
	char rnd[17];
	struct stat st;
	int r;

	if (!snapshot_hash_valid(hash))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "snapshot '%s': not a hash", hash);
	r = mkdir_p(snapshots_dir, 0700);
	if (r < 0 || chmod(snapshots_dir, 0700) < 0)
		return err_sys(err, r < 0 ? -r : errno, "snapshots directory '%s'", snapshots_dir);
	final = xasprintf("%s/%s", snapshots_dir, hash);
	if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
		*out_path = final;
		final = NULL;
		return 0;
	}
	random_hex(rnd, 8);
	tmp = xasprintf("%s/.tmp-%s-%s", snapshots_dir, hash, rnd);
	r = snapshot_restore(os, cache_dir, hash, tmp, 0, NULL, err);
	if (r == 0 && rename(tmp, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			r = 0; /* materialised by someone else meanwhile: same content */
		else
			r = err_sys(err, errno, "snapshot '%.12s': rename into place", hash);
	}
	rm_rf(tmp);
	if (r < 0)
		return r;
	*out_path = final;
	final = NULL;
	return 0;
}

/* --------------------------------------------------------------------- gc */

struct keys {
	char **v;
	size_t n, cap;
};

static int collect_key(const char *key, uint64_t size, void *arg)
{
	struct keys *k = arg;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 256;
		k->v = xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n++] = xstrdup(key);
	return 0;
}

static void keys_release(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

int snapshot_gc(struct objstore *os, const char *const *extra_live, size_t n_extra,
		struct snapshot_gc_stats *st, struct mags_err *err)
{
	struct snapshot_gc_stats dummy;
	struct keys heads = {0}, mans = {0}, blobs = {0};
	struct hset live = {0}, marked = {0};
	int r;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));

	/* Mark. Any doubt stops the GC before the sweep. */
	r = os->ops->list(os, "heads/", collect_key, &heads, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < heads.n; i++) {
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;
		r = os->ops->get_buf(os, heads.v[i], HEAD_MAX, &buf, &len, err);
		if (r == -ENOENT)
			continue; /* deleted meanwhile */
		if (r < 0)
			goto out;
		if (len >= 64)
			buf[64] = '\0';
		if (len < 64 || !snapshot_hash_valid(buf)) {
			r = err_set(err, MAGS_E_INTERNAL, EBADMSG, "gc: head '%s' is damaged", heads.v[i]);
			goto out;
		}
		hset_add(&live, buf);
	}
	for (size_t i = 0; i < n_extra; i++) {
		if (!snapshot_hash_valid(extra_live[i])) {
			r = err_set(err, MAGS_E_INTERNAL, EINVAL, "gc: live snapshot '%s' is not a hash",
				    extra_live[i]);
			goto out;
		}
		hset_add(&live, extra_live[i]);
	}
	for (size_t i = 0; i < live.cap; i++) {
		struct manifest m;
		if (!live.k[i][0])
			continue;
		r = manifest_load(os, live.k[i], &m, err);
		if (r < 0) {
			manifest_release(&m);
			err_wrap(err, "gc");
			goto out;
		}
		for (size_t j = 0; j < m.n; j++)
			if (m.entries[j].type == MANIFEST_FILE)
				hset_add(&marked, m.entries[j].hash);
		manifest_release(&m);
	}
	st->manifests_kept = live.n;

	/* Sweep: manifests first, so a crash in between leaves no manifest
	 * whose blobs are gone. */
	r = os->ops->list(os, "manifests/", collect_key, &mans, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < mans.n; i++) {
		const char *h = mans.v[i] + strlen("manifests/");
		if (!snapshot_hash_valid(h) || hset_has(&live, h))
			continue;
		if ((r = os->ops->del(os, mans.v[i], err)) < 0)
			goto out;
		st->manifests_deleted++;
	}
	r = os->ops->list(os, "blobs/", collect_key, &blobs, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < blobs.n; i++) {
		const char *k = blobs.v[i];
		/* blobs/xx/<h> with xx = h[0:2]; anything else is not ours */
		if (strlen(k) != 6 + 3 + 64 || k[8] != '/' || !snapshot_hash_valid(k + 9) ||
		    memcmp(k + 6, k + 9, 2))
			continue;
		if (hset_has(&marked, k + 9)) {
			st->blobs_kept++;
			continue;
		}
		if ((r = os->ops->del(os, k, err)) < 0)
			goto out;
		st->blobs_deleted++;
	}
out:
	keys_release(&heads);
	keys_release(&mans);
	keys_release(&blobs);
	hset_release(&live);
	hset_release(&marked);
	return r;
}
