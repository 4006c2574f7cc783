/* Unit tests for the snapshot manifest codec (src/magsd/manifest.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/manifest.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static struct manifest_entry *add(struct manifest *m, const char *path, size_t len, char type,
				  uint32_t mode)
{
	struct manifest_entry *e = manifest_add(m, path, len, type);
	e->mode = mode;
	e->uid = 1000;
	e->gid = 100;
	e->mtime_ns = 1700000000123456789LL;
	return e;
}

/* A tree with every kind of entry and awkward names, added out of order. */
static void build(struct manifest *m)
{
	struct manifest_entry *e;

	manifest_init(m);
	memcpy(m->parent, H2, 65);
	m->created_ms = 1764236400000;
	m->root.mode = 0755;
	e = add(m, "dir/line\nbreak", 14, MANIFEST_FILE, 04755); /* setuid */
	e->size = 5;
	memcpy(e->hash, H1, 65);
	add(m, "dir", 3, MANIFEST_DIR, 0755)->opaque = 1;
	e = add(m, "dir/\xff\xfe latin", 12, MANIFEST_FILE, 0644);
	e->size = 0;
	memcpy(e->hash, H2, 65);
	e = add(m, "link", 4, MANIFEST_SYMLINK, 0777);
	e->target = xstrdup("/etc/passwd with space");
	e->target_len = strlen(e->target);
	e = add(m, "hard", 4, MANIFEST_HARDLINK, 0);
	e->target = xstrdup("dir/line\nbreak");
	e->target_len = 14;
	e = add(m, "wh", 2, MANIFEST_CHR, 0);
	e = add(m, "fifo", 4, MANIFEST_FIFO, 0600);
	e = add(m, "dir/caf\xc3\xa9%", 10, MANIFEST_FILE, 0600);
	e->size = 1ull << 33;
	memcpy(e->hash, H1, 65);
	add(m, "neg", 3, MANIFEST_DIR, 01777)->mtime_ns = -5;
	manifest_sort(m);
}

static void round_trip_keeps_every_byte(void **state)
{
	struct manifest m, d;
	struct mags_err err;
	char *buf, *buf2;
	size_t len, len2, off;

	build(&m);
	assert_int_equal(manifest_encode(&m, &buf, &len, &off, &err), 0);
	assert_true(!strncmp(buf + off, "root 0755 0 0 0 -\n", 18));
	/* the newline in a name is escaped: one line per entry */
	assert_non_null(strstr(buf, "f 4755 1000 100 1700000000123456789 5 " H1 " dir/line%0abreak\n"));
	assert_non_null(strstr(buf, " dir/%ff%fe%20latin\n"));
	assert_non_null(strstr(buf, "dir/caf%c3%a9%25\n"));
	assert_non_null(strstr(buf, "h dir/line%0abreak hard\n"));
	assert_non_null(strstr(buf, "d 0755 1000 100 1700000000123456789 o dir\n"));
	assert_non_null(strstr(buf, "c 0000 1000 100 1700000000123456789 0:0 wh\n"));
	assert_non_null(strstr(buf, "d 1777 1000 100 -5 - neg\n"));

	err_clear(&err);
	assert_int_equal(manifest_decode(buf, len, &d, &err), 0);
	assert_int_equal(d.n, m.n);
	assert_string_equal(d.parent, H2);
	for (size_t i = 0; i < m.n; i++) {
		assert_int_equal(d.entries[i].path_len, m.entries[i].path_len);
		assert_memory_equal(d.entries[i].path, m.entries[i].path, m.entries[i].path_len);
		assert_int_equal(d.entries[i].type, m.entries[i].type);
	}
	ssize_t i = manifest_find(&d, "dir/line\nbreak", 14);
	assert_true(i >= 0);
	assert_int_equal(d.entries[i].mode, 04755);
	i = manifest_find(&d, "dir/caf\xc3\xa9%", 10);
	assert_int_equal(d.entries[i].size, 1ull << 33);
	i = manifest_find(&d, "link", 4);
	assert_string_equal(d.entries[i].target, "/etc/passwd with space");
	/* re-encoding the decoded manifest gives the same bytes */
	assert_int_equal(manifest_encode(&d, &buf2, &len2, NULL, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	manifest_release(&m);
	manifest_release(&d);
}

static void equal_trees_give_equal_bytes(void **state)
{
	struct manifest a, b;
	struct mags_err err;
	char *x, *y;
	size_t lx, ly;

	build(&a);
	build(&b);
	/* reverse b's entries: sorting must restore the same order */
	for (size_t i = 0; i < b.n / 2; i++) {
		struct manifest_entry t = b.entries[i];
		b.entries[i] = b.entries[b.n - 1 - i];
		b.entries[b.n - 1 - i] = t;
	}
	manifest_sort(&b);
	assert_int_equal(manifest_encode(&a, &x, &lx, NULL, &err), 0);
	assert_int_equal(manifest_encode(&b, &y, &ly, NULL, &err), 0);
	assert_int_equal(lx, ly);
	assert_memory_equal(x, y, lx);
	free(x);
	free(y);
	manifest_release(&a);
	manifest_release(&b);
}

static void escaping_is_canonical(void **state)
{
	size_t n;
	char *s;

	s = manifest_escape("a b\n%\x7f\x01~!", 9);
	assert_string_equal(s, "a%20b%0a%25%7f%01~!");
	free(s);
	s = manifest_unescape("a%20b%0a", 8, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(s, "a b\n", 4);
	free(s);
	assert_null(manifest_unescape("%41", 3, &n));      /* 'A' has a shorter spelling */
	assert_null(manifest_unescape("%0A", 3, &n));      /* uppercase hex */
	assert_null(manifest_unescape("%00", 3, &n));      /* NUL */
	assert_null(manifest_unescape("a b", 3, &n));      /* raw space */
	assert_null(manifest_unescape("%2", 2, &n));       /* truncated */
	assert_null(manifest_unescape("\xff", 1, &n));     /* raw high byte */
}

static void path_rules(void **state)
{
	assert_true(manifest_path_valid("a/b.c/..d", 9));
	assert_false(manifest_path_valid("", 0));
	assert_false(manifest_path_valid("/a", 2));
	assert_false(manifest_path_valid("a/", 2));
	assert_false(manifest_path_valid("a//b", 4));
	assert_false(manifest_path_valid("a/../b", 6));
	assert_false(manifest_path_valid("..", 2));
	assert_false(manifest_path_valid("./a", 3));
	assert_false(manifest_path_valid("a\0b", 3));
	char longname[300];
	memset(longname, 'x', 256);
	assert_false(manifest_path_valid(longname, 256));
	assert_true(manifest_path_valid(longname, 255));
}

#define HEAD "mags-manifest 1\nparent -\ncreated 1\nroot 0755 0 0 0 -\n"

static void expect_bad(const char *text, const char *why)
{
	struct manifest m;
	struct mags_err err;

	err_clear(&err);
	if (manifest_decode(text, strlen(text), &m, &err) == 0) {
		manifest_release(&m);
		fail_msg("accepted: %s", text);
	}
	manifest_release(&m);
	if (!strstr(err.msg, why))
		fail_msg("'%s' does not mention '%s'", err.msg, why);
}

static void hostile_manifests_are_rejected(void **state)
{
	struct manifest m;
	struct mags_err err;
	const char *ok = HEAD "d 0755 0 0 0 - a\nf 0644 0 0 0 3 " H1 " a/b\nend 2\n";

	assert_int_equal(manifest_decode(ok, strlen(ok), &m, &err), 0);
	manifest_release(&m);

	expect_bad("", "missing");
	expect_bad("mags-manifest 2\n", "not a mags manifest");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " ../etc/passwd\nend 1\n", "'..'");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " /etc/passwd\nend 1\n", "absolute");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " %2fetc\nend 1\n", "escaped");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a//b\nend 1\n", "empty");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a\nf 0644 0 0 0 3 " H1 " a\nend 2\n", "duplicate");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " b\nf 0644 0 0 0 3 " H1 " a\nend 2\n", "not sorted");
	/* a symlink, then a file "through" it */
	expect_bad(HEAD "l 0777 0 0 0 /etc a\nf 0644 0 0 0 3 " H1 " a/passwd\nend 2\n",
		   "parent is not a directory");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a/b\nend 1\n", "parent is not a directory");
	expect_bad(HEAD "f 0644 0 0 0 9999999999999999 " H1 " a\nend 1\n", "absurd file size");
	expect_bad(HEAD "f 0644 0 0 0 3 xyz a\nend 1\n", "bad blob hash");
	expect_bad(HEAD "x 0644 0 0 0 a\nend 1\n", "unknown entry type");
	expect_bad(HEAD "f 0644 70000 0 0 3 " H1 " a\nend 1\n", "bad uid");
	expect_bad(HEAD "f 644 0 0 0 3 " H1 " a\nend 1\n", "mode");
	expect_bad(HEAD "f 0844 0 0 0 3 " H1 " a\nend 1\n", "mode");
	expect_bad(HEAD "f 0644 0 0 007 3 " H1 " a\nend 1\n", "bad mtime");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a\nend 2\n", "count");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a\nend 1\nextra\n", "after the end");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a\n", "missing");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a\nend 1", "unterminated");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 "  a\nend 1\n", "malformed");
	expect_bad(HEAD "f 0644 0 0 0 3 " H1 " a%00b\nend 1\n", "escaped");
	expect_bad(HEAD "h b a\nend 1\n", "hard link target");
	expect_bad(HEAD "d 0755 0 0 0 - a\nh a b\nend 2\n", "hard link target");
	expect_bad(HEAD "l 0777 0 0 0 %00 a\nend 1\n", "symlink target");
	expect_bad(HEAD "c 0000 0 0 0 0 a\nend 1\n", "device");
	expect_bad(HEAD "d 0755 0 0 0 x a\nend 1\n", "opaque");
	expect_bad("mags-manifest 1\nparent abc\ncreated 1\nroot 0755 0 0 0 -\nend 0\n", "parent");
}

static void deep_paths_are_bounded(void **state)
{
	struct buf_ {
		char *p;
		size_t n;
	} b = {xmalloc(1 << 20), 0};
	char path[2048] = "";
	size_t pl = 0;

	b.n = (size_t)snprintf(b.p, 1 << 20, HEAD);
	for (int i = 0; i < MANIFEST_MAX_DEPTH + 1; i++) {
		if (pl)
			path[pl++] = '/';
		path[pl++] = 'a';
		path[pl] = '\0';
		b.n += (size_t)snprintf(b.p + b.n, (1 << 20) - b.n, "d 0755 0 0 0 - %s\n", path);
	}
	b.n += (size_t)snprintf(b.p + b.n, (1 << 20) - b.n, "end %d\n", MANIFEST_MAX_DEPTH + 1);
	b.p[b.n] = '\0';
	expect_bad(b.p, "path is empty, absolute, too long");
	free(b.p);
}


/* Random byte edits of a valid manifest: the decoder never crashes, and
 * whatever it accepts is canonical (re-encodes to the very same bytes). */
static void mutations_are_rejected_or_canonical(void **state)
{
	struct manifest m;
	struct mags_err err;
	char *good, *buf;
	size_t len;
	uint64_t rng = 42;
	int accepted = 0;

	build(&m);
	assert_int_equal(manifest_encode(&m, &good, &len, NULL, &err), 0);
	manifest_release(&m);
	buf = xmalloc(len + 8);
	for (int i = 0; i < 20000; i++) {
		size_t n = len;
		memcpy(buf, good, len);
		for (int k = 0; k < 1 + i % 3; k++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t at = (size_t)(rng >> 33) % n;
			static const char pool[] = "0123456789abcdef%/. \n-lhfdcbpo:";
			char c = (rng & 0x100) ? pool[(rng >> 20) % (sizeof(pool) - 1)] : (char)(rng >> 24);
			if ((rng & 0x3000) == 0 && n > 1) {
				memmove(buf + at, buf + at + 1, n - at - 1); /* delete */
				n--;
			} else {
				buf[at] = c;
			}
		}
		struct manifest d;
		if (manifest_decode(buf, n, &d, &err) == 0) {
			char *again;
			size_t alen;
			accepted++;
			assert_int_equal(manifest_encode(&d, &again, &alen, NULL, &err), 0);
			if (alen != n || memcmp(again, buf, n))
				fail_msg("accepted a non-canonical manifest at iteration %d", i);
			free(again);
		}
		manifest_release(&d);
	}
	assert_true(accepted < 20000);
	free(buf);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_keeps_every_byte),
		cmocka_unit_test(equal_trees_give_equal_bytes),
		cmocka_unit_test(escaping_is_canonical),
		cmocka_unit_test(path_rules),
		cmocka_unit_test(hostile_manifests_are_rejected),
		cmocka_unit_test(deep_paths_are_bounded),
		cmocka_unit_test(mutations_are_rejected_or_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
