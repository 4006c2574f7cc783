/* Unit tests for workspace snapshots (src/magsd/snapshot.c) on real files:
 * sync a layer into a directory object store, restore it, compare trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>
#include <dirent.h>
#include <openssl/sha.h>

#include "common/util.h"
#include "magsd/manifest.h"
#include "magsd/objstore.h"
#include "magsd/snapshot.h"

struct fx {
	char root[64];
	char *store, *upper, *state, *cache, *out;
	struct objstore *os;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct mags_err err;

	if (geteuid() != 0)
		return -1; /* owners, whiteouts: needs root, like magsd */
	snprintf(f->root, sizeof(f->root), "/tmp/mags-snap-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	f->store = xasprintf("%s/store", f->root);
	f->upper = xasprintf("%s/upper", f->root);
	f->state = xasprintf("%s/sync-state", f->root);
	f->cache = xasprintf("%s/cache", f->root);
	f->out = xasprintf("%s/out", f->root);
	mkdir(f->upper, 0755);
	f->os = objstore_open_dir(f->store, &err);
	*state = f;
	return f->os ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	objstore_free(f->os);
	rm_rf(f->root);
	free(f->store);
	free(f->upper);
	free(f->state);
	free(f->cache);
	free(f->out);
	free(f);
	return 0;
}

/* ---- tree helpers ---- */

static void put(const char *dir, const char *name, const char *content, size_t len, mode_t mode)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, content, len), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void puts_(const char *dir, const char *name, const char *content)
{
	put(dir, name, content, strlen(content), 0644);
}

static char *path_of(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* Every entry below root as one line with everything a restore must keep;
 * sorted, so two trees compare as two strings. Sockets are not kept. The
 * root itself is the line ". ..." unless left out. */
static char **lines;
static size_t nlines;
static size_t rootlen;
static int with_root;

static int digest_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192], extra[4200] = "";
	const char *relp = strlen(p) > rootlen ? p + rootlen + 1 : "";
	_cleanup_free_ char *rel = manifest_escape(relp, strlen(relp));

	if (S_ISSOCK(st->st_mode) || (!rel[0] && !with_root))
		return 0;
	if (S_ISREG(st->st_mode)) {
		_cleanup_free_ char *c = NULL;
		ssize_t n = read_file(p, 1 << 26, &c);
		uint64_t h = 1469598103934665603ULL;
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)c[i]) * 1099511628211ULL;
		snprintf(extra, sizeof(extra), "size=%lld fnv=%016llx", (long long)st->st_size,
			 (unsigned long long)h);
	} else if (S_ISLNK(st->st_mode)) {
		char t[4097];
		ssize_t n = readlink(p, t, sizeof(t) - 1);
		t[n < 0 ? 0 : n] = '\0';
		_cleanup_free_ char *et = manifest_escape(t, strlen(t));
		snprintf(extra, sizeof(extra), "-> %s", et);
	} else if (S_ISDIR(st->st_mode)) {
		char v[8];
		ssize_t n = lgetxattr(p, "user.overlay.opaque", v, sizeof(v));
		snprintf(extra, sizeof(extra), "opaque=%d", n == 1 && v[0] == 'y');
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		snprintf(extra, sizeof(extra), "rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	}
	snprintf(line, sizeof(line), "%s type=%o mode=%04o uid=%u gid=%u mtime=%lld.%09ld %s",
		 rel[0] ? rel : ".", st->st_mode & S_IFMT, st->st_mode & 07777, st->st_uid,
		 st->st_gid, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, extra);
	lines = xrealloc(lines, (nlines + 1) * sizeof(*lines));
	lines[nlines++] = xstrdup(line);
	return 0;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *tree_digest_opt(const char *root, int root_too)
{
	size_t total = 1, o = 0;
	char *out;

	lines = NULL;
	nlines = 0;
	rootlen = strlen(root);
	with_root = root_too;
	assert_int_equal(nftw(root, digest_one, 64, FTW_PHYS), 0);
	qsort(lines, nlines, sizeof(*lines), strp_cmp);
	for (size_t i = 0; i < nlines; i++)
		total += strlen(lines[i]) + 1;
	out = xmalloc(total);
	for (size_t i = 0; i < nlines; i++) {
		size_t l = strlen(lines[i]);
		memcpy(out + o, lines[i], l);
		out[o + l] = '\n';
		o += l + 1;
		free(lines[i]);
	}
	out[o] = '\0';
	free(lines);
	return out;
}

static char *tree_digest(const char *root)
{
	return tree_digest_opt(root, 1);
}

static void assert_same_tree(const char *a, const char *b)
{
	_cleanup_free_ char *da = tree_digest(a);
	_cleanup_free_ char *db = tree_digest(b);
	if (strcmp(da, db))
		fail_msg("trees differ:\n--- %s\n%s--- %s\n%s", a, da, b, db);
}

/* A layer with every kind of entry the overlay upper can hold. */
/* For one-off paths in make_rich_tree: a small ring of static buffers. */
static const char *pth(const char *dir, const char *name)
{
	static char ring[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(ring[i], sizeof(ring[i]), "%s/%s", dir, name);
	return ring[i];
}

static void make_rich_tree(const char *u)
{
	char *p = NULL;
	static char big[3 << 20];

	mkdir(pth(u, "etc"), 0755);
	puts_(u, "etc/hostname", "box\n");
	puts_(u, "etc/line\nbreak name", "newline in the name\n");
	puts_(u, "etc/\xff\xfe-not-utf8", "latin-1 name\n");
	put(u, "etc/empty", "", 0, 0600);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)((i * 2654435761u) >> 13);
	put(u, "big.bin", big, sizeof(big), 0644);
	put(u, "su", "#!/bin/sh\nid\n", 13, 0755);
	p = path_of(u, "su");
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chmod(p, 04755), 0);
	free(p);
	puts_(u, "owned", "by 1234\n");
	p = path_of(u, "owned");
	assert_int_equal(chown(p, 1234, 65534), 0);
	free(p);
	/* hard links */
	puts_(u, "etc/a-first", "linked\n");
	assert_int_equal(link(pth(u, "etc/a-first"), pth(u, "z-second")), 0);
	/* symlinks, never followed */
	assert_int_equal(symlink("/etc/shadow", pth(u, "evil")), 0);
	assert_int_equal(symlink("../../..", pth(u, "etc/up")), 0);
	/* whiteout and opaque dir */
	assert_int_equal(mknod(pth(u, "etc/motd"), S_IFCHR | 0, makedev(0, 0)), 0);
	mkdir(pth(u, "opt"), 0750);
	assert_int_equal(setxattr(pth(u, "opt"), "user.overlay.opaque", "y", 1, 0), 0);
	puts_(u, "opt/v", "gold\n");
	assert_int_equal(mkfifo(pth(u, "fifo"), 0640), 0);
	/* a socket: skipped */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", u);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	mkdir(pth(u, "ro"), 0555);
	/* a dir with a fixed old mtime */
	struct timespec ts[2] = {{1000, 5}, {1000, 5}};
	assert_int_equal(utimensat(AT_FDCWD, pth(u, "opt"), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void sync_ok(struct fx *f, const char *parent, char out[65], struct snapshot_stats *st)
{
	struct mags_err err;
	err_clear(&err);
	if (snapshot_sync(f->os, f->upper, f->state, parent, out, st, &err) < 0)
		fail_msg("sync: %s", err.msg);
}

static void restore_ok(struct fx *f, const char *hash, const char *dest, unsigned flags,
		       struct snapshot_stats *st)
{
	struct mags_err err;
	err_clear(&err);
	if (snapshot_restore(f->os, f->cache, hash, dest, flags, st, &err) < 0)
		fail_msg("restore: %s", err.msg);
}

/* ---- tests ---- */

static void sync_and_restore_round_trip(void **state)
{
	struct fx *f = *state;
	struct snapshot_stats st;
	struct mags_err err;
	char h[65], head[65];
	struct stat sb;
	char t[64];

	make_rich_tree(f->upper);
	sync_ok(f, NULL, h, &st);
	assert_int_equal(st.files, 10);
	assert_true(st.blobs_uploaded >= 8);
	assert_int_equal(snapshot_head_set(f->os, "usr_1", "golden", h, &err), 0);
	assert_int_equal(snapshot_head_get(f->os, "usr_1", "golden", head, &err), 0);
	assert_string_equal(head, h);

	/* hard-linked restore (a lower) */
	restore_ok(f, h, f->out, 0, &st);
	assert_int_equal(st.files, 10);
	assert_same_tree(f->upper, f->out);
	_cleanup_free_ char *evil = path_of(f->out, "evil");
	assert_int_equal(lstat(evil, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	assert_int_equal(readlink(evil, t, sizeof(t)), 11);
	_cleanup_free_ char *wh = path_of(f->out, "etc/motd");
	assert_int_equal(lstat(wh, &sb), 0);
	assert_true(S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(0, 0));
	_cleanup_free_ char *su = path_of(f->out, "su");
	assert_int_equal(stat(su, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 04755); /* kept: below a 0700 root dir */
	struct stat s1, s2;
	_cleanup_free_ char *l1 = path_of(f->out, "etc/a-first"), *l2 = path_of(f->out, "z-second");
	assert_int_equal(stat(l1, &s1), 0);
	assert_int_equal(stat(l2, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);

	/* copied restore (a writable upper): same tree, own inodes */
	_cleanup_free_ char *out2 = xasprintf("%s/out2", f->root);
	restore_ok(f, h, out2, SNAPSHOT_RESTORE_COPY, &st);
	assert_same_tree(f->upper, out2);
	_cleanup_free_ char *c1 = path_of(out2, "etc/hostname");
	_cleanup_free_ char *c2 = path_of(f->out, "etc/hostname");
	assert_int_equal(stat(c1, &s1), 0);
	assert_int_equal(stat(c2, &s2), 0);
	assert_true(s1.st_ino != s2.st_ino);
	assert_int_equal(s1.st_nlink, 1);
	_cleanup_free_ char *k1 = path_of(out2, "etc/a-first"), *k2 = path_of(out2, "z-second");
	assert_int_equal(stat(k1, &s1), 0);
	assert_int_equal(stat(k2, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino); /* hard links stay links */

	/* restoring into a non-empty directory is refused */
	err_clear(&err);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, out2, 0, NULL, &err), -EEXIST);

	/* the restored tree syncs to the same snapshot body: a round trip */
	char h2[65];
	_cleanup_free_ char *st2 = xasprintf("%s/state2", f->root);
	assert_int_equal(snapshot_sync(f->os, out2, st2, NULL, h2, NULL, &err), 0);
}

static void same_content_different_metadata(void **state)
{
	struct fx *f = *state;
	char h[65];
	struct stat s1, s2;

	put(f->upper, "a", "same\n", 5, 0644);
	put(f->upper, "b", "same\n", 5, 0755);
	_cleanup_free_ char *b = path_of(f->upper, "b");
	assert_int_equal(chown(b, 7, 7), 0);
	sync_ok(f, NULL, h, NULL);
	restore_ok(f, h, f->out, 0, NULL);
	assert_same_tree(f->upper, f->out);
	_cleanup_free_ char *oa = path_of(f->out, "a"), *ob = path_of(f->out, "b");
	stat(oa, &s1);
	stat(ob, &s2);
	assert_true(s1.st_ino != s2.st_ino);
	/* a second restore of the same snapshot only links */
	_cleanup_free_ char *out2 = xasprintf("%s/again", f->root);
	struct snapshot_stats st;
	restore_ok(f, h, out2, 0, &st);
	assert_int_equal(st.blobs_fetched, 0);
	assert_same_tree(f->upper, out2);
}

static void setuid_is_stripped_where_host_users_could_run_it(void **state)
{
	struct fx *f = *state;
	char h[65], pub[64];
	struct stat sb;

	put(f->upper, "su", "x", 1, 04755);
	_cleanup_free_ char *su = path_of(f->upper, "su");
	chmod(su, 04755);
	sync_ok(f, NULL, h, NULL);
	/* a world-traversable path all the way down */
	snprintf(pub, sizeof(pub), "/tmp/mags-pub-XXXXXX");
	assert_non_null(mkdtemp(pub));
	chmod(pub, 0755);
	_cleanup_free_ char *dest = xasprintf("%s/out", pub);
	restore_ok(f, h, dest, 0, NULL);
	_cleanup_free_ char *p = path_of(dest, "su");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	rm_rf(pub);
}

static void incremental_sync_reads_and_uploads_only_changes(void **state)
{
	struct fx *f = *state;
	struct snapshot_stats st;
	char h1[65], h2[65], h3[65], name[32];

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		char content[64];
		snprintf(content, sizeof(content), "file %d\n", i);
		puts_(f->upper, name, content);
	}
	sync_ok(f, NULL, h1, &st);
	assert_int_equal(st.blobs_uploaded, 50);
	assert_int_equal(st.files, 50);

	/* nothing changed: nothing read, nothing uploaded, same snapshot */
	sync_ok(f, h1, h2, &st);
	assert_string_equal(h2, h1);
	assert_int_equal(st.bytes_read, 0);
	assert_int_equal(st.blobs_uploaded, 0);
	assert_int_equal(st.bytes_uploaded, 0);

	/* one file changed: one file read, one blob */
	puts_(f->upper, "f07", "changed!\n");
	sync_ok(f, h1, h3, &st);
	assert_string_not_equal(h3, h1);
	assert_int_equal(st.bytes_read, 9);
	assert_int_equal(st.blobs_uploaded, 1);

	/* the new manifest names its parent */
	char *buf;
	size_t len;
	struct mags_err err;
	char key[80];
	snprintf(key, sizeof(key), "manifests/%s", h3);
	assert_int_equal(f->os->ops->get_buf(f->os, key, 1 << 20, &buf, &len, &err), 0);
	char want[80];
	snprintf(want, sizeof(want), "parent %s\n", h1);
	assert_non_null(strstr(buf, want));
	free(buf);

	/* a change back to known content: read, but no upload */
	puts_(f->upper, "f07", "file 7\n");
	sync_ok(f, h3, h2, &st);
	assert_int_equal(st.blobs_uploaded, 0);
	assert_int_equal(st.bytes_read, 7);

	/* a damaged state file only costs a full read */
	assert_int_equal(write_file(f->state, "garbage"), 0);
	sync_ok(f, h2, h3, &st);
	assert_int_equal(st.files, 50);
	assert_int_equal(st.blobs_uploaded, 0);
	assert_true(st.bytes_read > 0);
}

static void tampered_objects_are_detected_and_nothing_is_written(void **state)
{
	struct fx *f = *state;
	struct mags_err err;
	char h[65], key[80], *buf;
	size_t len;
	const char *secret = "the real content\n";

	puts_(f->upper, "data", secret);
	sync_ok(f, NULL, h, NULL);
	/* swap the blob for a valid zstd frame of other content */
	char blob[65];
	snprintf(key, sizeof(key), "manifests/%s", h);
	assert_int_equal(f->os->ops->get_buf(f->os, key, 1 << 20, &buf, &len, &err), 0);
	char *p = strstr(buf, "f 0644");
	assert_non_null(p);
	sscanf(p, "f %*s %*s %*s %*s %*s %64s", blob);
	free(buf);
	char z[256];
	size_t zn = ZSTD_compress(z, sizeof(z), "the evil content\n", 17, 1);
	snprintf(key, sizeof(key), "blobs/%.2s/%s", blob, blob);
	assert_int_equal(f->os->ops->put_buf(f->os, key, z, zn, &err), 0);

	err_clear(&err);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its hash"));
	_cleanup_free_ char *d = path_of(f->out, "data");
	assert_int_equal(access(d, F_OK), -1);
	/* and the cache did not keep it */
	_cleanup_free_ char *cb = xasprintf("%s/blobs/%s", f->cache, blob);
	assert_int_equal(access(cb, F_OK), -1);

	/* garbage instead of zstd */
	assert_int_equal(f->os->ops->put_buf(f->os, key, "not zstd at all", 15, &err), 0);
	err_clear(&err);
	rm_rf(f->out);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "tampered"));

	/* a manifest edited in place */
	snprintf(key, sizeof(key), "manifests/%s", h);
	assert_int_equal(f->os->ops->get_buf(f->os, key, 1 << 20, &buf, &len, &err), 0);
	buf[len - 3] = '2'; /* end count */
	assert_int_equal(f->os->ops->put_buf(f->os, key, buf, len, &err), 0);
	free(buf);
	err_clear(&err);
	rm_rf(f->out);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "manifest does not match its hash"));
}

/* Store a hand-written manifest under its true hash, as an attacker with
 * write access to the store could. */
static void plant(struct fx *f, const char *text, char out[65])
{
	struct mags_err err;
	char key[80];

	unsigned char d[32];
	SHA256((const unsigned char *)text, strlen(text), d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	snprintf(key, sizeof(key), "manifests/%s", out);
	assert_int_equal(f->os->ops->put_buf(f->os, key, text, strlen(text), &err), 0);
}

#define MHEAD "mags-manifest 1\nparent -\ncreated 1\nroot 0755 0 0 0 -\n"
#define EMPTYH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void hostile_manifests_cannot_write_outside(void **state)
{
	struct fx *f = *state;
	struct mags_err err;
	char h[65];
	_cleanup_free_ char *victim = xasprintf("%s/victim", f->root);

	mkdir(victim, 0755);
	/* a symlink to outside, then a file through it */
	_cleanup_free_ char *t1 = xasprintf(MHEAD "l 0777 0 0 0 %s a\nf 0644 0 0 0 0 " EMPTYH
					     " a/pwned\nend 2\n", victim);
	plant(f, t1, h);
	err_clear(&err);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "parent is not a directory"));
	_cleanup_free_ char *pw = path_of(victim, "pwned");
	assert_int_equal(access(pw, F_OK), -1);

	plant(f, MHEAD "f 0644 0 0 0 0 " EMPTYH " ../pwned\nend 1\n", h);
	err_clear(&err);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "'..'"));

	/* a real device node is recorded by the format but refused on restore */
	plant(f, MHEAD "c 0666 0 0 0 1:3 null\nend 1\n", h);
	err_clear(&err);
	rm_rf(f->out);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, "device node 1:3 refused"));
	plant(f, MHEAD "b 0666 0 0 0 8:0 sda\nend 1\n", h);
	err_clear(&err);
	rm_rf(f->out);
	assert_int_equal(snapshot_restore(f->os, f->cache, h, f->out, 0, NULL, &err), -EPERM);

	/* a head pointing at garbage */
	assert_int_equal(f->os->ops->put_buf(f->os, "heads/u/w", "../../etc", 9, &err), 0);
	assert_int_equal(snapshot_head_get(f->os, "u", "w", h, &err), -EBADMSG);
	assert_int_equal(snapshot_head_get(f->os, "u", "none", h, &err), -ENOENT);
	assert_int_equal(snapshot_head_get(f->os, "u", "../x", h, &err), -EINVAL);
	/* and a head is never set to a manifest that is not there */
	assert_int_equal(snapshot_head_set(f->os, "u", "w", EMPTYH, &err), -ENOENT);
}

/* Restore head and compare to one of the expected trees; 1 = a, 2 = b. */
static int restore_matches(struct fx *f, const char *hash, const char *a, const char *b, int n)
{
	_cleanup_free_ char *dest = xasprintf("%s/check-%d", f->root, n);
	_cleanup_free_ char *da = tree_digest_opt(a, 0), *db = tree_digest_opt(b, 0), *dd = NULL;
	int which = 0;

	restore_ok(f, hash, dest, SNAPSHOT_RESTORE_COPY, NULL);
	dd = tree_digest_opt(dest, 0);
	which = !strcmp(dd, da) ? 1 : !strcmp(dd, db) ? 2 : 0;
	rm_rf(dest);
	return which;
}

static void crash_at_every_write_leaves_old_or_new_head(void **state)
{
	struct fx *f = *state;
	struct mags_err err;
	char h1[65], head[65];
	_cleanup_free_ char *v1 = xasprintf("%s/v1", f->root), *v2 = xasprintf("%s/v2", f->root);
	int n, completed = 0;

	/* v1: synced, head set */
	for (int i = 0; i < 5; i++) {
		char name[16], c[32];
		snprintf(name, sizeof(name), "keep%d", i);
		snprintf(c, sizeof(c), "v1 content %d\n", i);
		puts_(f->upper, name, c);
	}
	puts_(f->upper, "gone", "deleted in v2\n");
	sync_ok(f, NULL, h1, NULL);
	assert_int_equal(snapshot_head_set(f->os, "usr_c", "ws", h1, &err), 0);
	restore_ok(f, h1, v1, SNAPSHOT_RESTORE_COPY, NULL);

	/* v2: modified, added, deleted */
	puts_(f->upper, "keep0", "v2 changed\n");
	puts_(f->upper, "new1", "v2 new 1\n");
	puts_(f->upper, "new2", "v2 new 2\n");
	_cleanup_free_ char *gone = path_of(f->upper, "gone");
	unlink(gone);
	mkdir(v2, 0700);
	/* the expected v2 tree is the upper itself */

	for (n = 1; n < 50 && !completed; n++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			char s[16], out[65], parent[65];
			struct mags_err e;
			snprintf(s, sizeof(s), "%d", n);
			setenv("MAGS_SYNC_CRASH_AT", s, 1);
			if (snapshot_head_get(f->os, "usr_c", "ws", parent, &e) < 0)
				_exit(2);
			if (snapshot_sync(f->os, f->upper, f->state, parent, out, NULL, &e) < 0)
				_exit(3);
			if (snapshot_head_set(f->os, "usr_c", "ws", out, &e) < 0)
				_exit(4);
			_exit(0);
		}
		int ws;
		assert_int_equal(waitpid(pid, &ws, 0), pid);
		assert_true(WIFEXITED(ws));
		int code = WEXITSTATUS(ws);
		if (code != 0 && code != 99)
			fail_msg("crash point %d: child exited %d", n, code);
		completed = code == 0;
		assert_int_equal(snapshot_head_get(f->os, "usr_c", "ws", head, &err), 0);
		int which = restore_matches(f, head, v1, f->upper, n);
		if (which == 0)
			fail_msg("crash point %d: head restores to neither tree", n);
		if (completed)
			assert_int_equal(which, 2);
		else
			assert_int_equal(which, 1);
		/* GC between crashes must not break the next attempt either */
		assert_int_equal(snapshot_gc(f->os, NULL, 0, NULL, &err), 0);
	}
	assert_true(completed);
	assert_true(n > 3); /* 3 blobs + manifest + head: several crash points */
}

static void gc_keeps_shared_blobs_and_drops_the_rest(void **state)
{
	struct fx *f = *state;
	struct snapshot_gc_stats gs;
	struct mags_err err;
	char a1[65], a2[65], b1[65], key[80];
	_cleanup_free_ char *u2 = xasprintf("%s/upper2", f->root);
	_cleanup_free_ char *s2 = xasprintf("%s/state2", f->root);

	mkdir(u2, 0755);
	puts_(f->upper, "shared", "in both workspaces\n");
	puts_(f->upper, "only-a", "only in a\n");
	puts_(u2, "shared", "in both workspaces\n");
	puts_(u2, "only-b", "only in b\n");
	sync_ok(f, NULL, a1, NULL);
	assert_int_equal(snapshot_head_set(f->os, "usr_1", "a", a1, &err), 0);
	assert_int_equal(snapshot_sync(f->os, u2, s2, NULL, b1, NULL, &err), 0);
	assert_int_equal(snapshot_head_set(f->os, "usr_2", "b", b1, &err), 0);

	/* a moves on: only-a deleted, new file added */
	_cleanup_free_ char *oa = path_of(f->upper, "only-a");
	unlink(oa);
	puts_(f->upper, "new-a", "new in a\n");
	sync_ok(f, a1, a2, NULL);
	assert_int_equal(snapshot_head_set(f->os, "usr_1", "a", a2, &err), 0);

	/* a1 is still a base somebody uses: kept with its blobs */
	const char *live[] = {a1};
	assert_int_equal(snapshot_gc(f->os, live, 1, &gs, &err), 0);
	assert_int_equal(gs.manifests_deleted, 0);
	assert_int_equal(gs.blobs_deleted, 0);

	assert_int_equal(snapshot_gc(f->os, NULL, 0, &gs, &err), 0);
	assert_int_equal(gs.manifests_deleted, 1); /* a1 */
	assert_int_equal(gs.blobs_deleted, 1);     /* only-a */
	assert_int_equal(gs.blobs_kept, 3);        /* shared, only-b, new-a */
	snprintf(key, sizeof(key), "manifests/%s", a1);
	assert_int_equal(f->os->ops->exists(f->os, key, &err), 0);
	restore_ok(f, a2, f->out, 0, NULL);
	assert_same_tree(f->upper, f->out);

	/* b deleted: its own blob goes, the shared one stays for a */
	assert_int_equal(snapshot_head_delete(f->os, "usr_2", "b", &err), 0);
	assert_int_equal(snapshot_head_delete(f->os, "usr_2", "b", &err), 0);
	assert_int_equal(snapshot_gc(f->os, NULL, 0, &gs, &err), 0);
	assert_int_equal(gs.manifests_deleted, 1);
	assert_int_equal(gs.blobs_deleted, 1);
	assert_int_equal(gs.blobs_kept, 2);
	_cleanup_free_ char *out2 = xasprintf("%s/out2", f->root);
	_cleanup_free_ char *cache2 = xasprintf("%s/cache2", f->root);
	assert_int_equal(snapshot_restore(f->os, cache2, a2, out2, 0, NULL, &err), 0);
	assert_same_tree(f->upper, out2);

	/* a damaged head stops the GC before it deletes anything */
	assert_int_equal(f->os->ops->put_buf(f->os, "heads/usr_9/x", "junk", 4, &err), 0);
	assert_int_equal(snapshot_gc(f->os, NULL, 0, &gs, &err), -EBADMSG);
}

static void sync_after_crash_and_gc_reuploads_collected_blobs(void **state)
{
	struct fx *f = *state;
	struct mags_err err;
	char h1[65], h2[65], h3[65];

	puts_(f->upper, "a", "first\n");
	sync_ok(f, NULL, h1, NULL);
	assert_int_equal(snapshot_head_set(f->os, "u", "w", h1, &err), 0);
	/* a sync whose head was never moved (killed after its manifest) */
	puts_(f->upper, "b", "second\n");
	sync_ok(f, h1, h2, NULL);
	/* GC collects its manifest and the blob of b */
	struct snapshot_gc_stats gs;
	assert_int_equal(snapshot_gc(f->os, NULL, 0, &gs, &err), 0);
	assert_int_equal(gs.blobs_deleted, 1);
	/* the state still says b is known: the next sync must not trust it */
	struct snapshot_stats st;
	sync_ok(f, h1, h3, &st);
	assert_int_equal(st.blobs_uploaded, 1);
	assert_int_equal(snapshot_head_set(f->os, "u", "w", h3, &err), 0);
	restore_ok(f, h3, f->out, 0, NULL);
	assert_same_tree(f->upper, f->out);
}

static void materialise_once(void **state)
{
	struct fx *f = *state;
	struct mags_err err;
	char h[65];
	char *p1 = NULL, *p2 = NULL;
	_cleanup_free_ char *snaps = xasprintf("%s/snapshots", f->root);
	struct stat sb;

	make_rich_tree(f->upper);
	sync_ok(f, NULL, h, NULL);
	assert_int_equal(snapshot_materialise(f->os, f->cache, snaps, h, &p1, &err), 0);
	assert_same_tree(f->upper, p1);
	assert_int_equal(stat(snaps, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* the second call finds it; nothing else is left in the directory */
	assert_int_equal(snapshot_materialise(f->os, f->cache, snaps, h, &p2, &err), 0);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);
	assert_int_equal(snapshot_materialise(f->os, f->cache, snaps, EMPTYH, &p1, &err), -ENOENT);
	DIR *d = opendir(snaps);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sync_and_restore_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(same_content_different_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(setuid_is_stripped_where_host_users_could_run_it, setup, teardown),
		cmocka_unit_test_setup_teardown(incremental_sync_reads_and_uploads_only_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered_objects_are_detected_and_nothing_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_manifests_cannot_write_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_at_every_write_leaves_old_or_new_head, setup, teardown),
		cmocka_unit_test_setup_teardown(gc_keeps_shared_blobs_and_drops_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(sync_after_crash_and_gc_reuploads_collected_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(materialise_once, setup, teardown),
	};
	if (geteuid() != 0) {
		printf("test_snapshot: skipped: needs root (owners, whiteouts)\n");
		return getenv("MAGS_MUST_WORK") ? 1 : 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
