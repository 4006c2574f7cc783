/* Unit tests for images (src/magsd/image.c): names, the busybox build,
 * listing, and tarball import including hostile tarballs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "magsd/image.h"

struct fixture {
	char dir[64];  /* scratch directory of one test */
	char data[96]; /* DIR/data: the data dir under test */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/mags-test-image-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f);
	return 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int r;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	r = system(cmd);
	free(cmd);
	return r;
}

static char *slurp(const char *path)
{
	char *s = NULL;

	if (read_file(path, 1 << 20, &s) < 0)
		return NULL;
	return s;
}

/* No ".tmp-*" directories left in DATA/images. */
static int leftover_tmp(const char *data)
{
	char *cmd = xasprintf("ls -A '%s/images' 2>/dev/null | grep -q '^\\.tmp-'", data);
	int r = system(cmd);
	free(cmd);
	return r == 0;
}

static void names_are_validated(void **state)
{
	assert_true(image_name_valid("busybox"));
	assert_true(image_name_valid("default"));
	assert_true(image_name_valid("a"));
	assert_true(image_name_valid("0"));
	assert_true(image_name_valid("my-image_1.2"));
	char n64[65];
	memset(n64, 'a', 64);
	n64[64] = '\0';
	assert_true(image_name_valid(n64));
	char n65[66];
	memset(n65, 'a', 65);
	n65[65] = '\0';
	assert_false(image_name_valid(n65));
	assert_false(image_name_valid(NULL));
	assert_false(image_name_valid(""));
	assert_false(image_name_valid("."));
	assert_false(image_name_valid(".."));
	assert_false(image_name_valid(".hidden"));
	assert_false(image_name_valid("-x"));
	assert_false(image_name_valid("_x"));
	assert_false(image_name_valid("Upper"));
	assert_false(image_name_valid("a/b"));
	assert_false(image_name_valid("a b"));
	assert_false(image_name_valid("a\n"));
}

static void unknown_build_names_are_refused(void **state)
{
	struct fixture *f = *state;
	struct mags_err err = { 0 };

	assert_true(image_build(f->data, "alpine", &err) < 0);
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);
	assert_non_null(strstr(err.msg, "alpine"));
	assert_true(image_build(f->data, "../x", &err) < 0);
	assert_null(image_rootfs(f->data, "alpine"));
}

static void busybox_build_makes_a_usable_root(void **state)
{
	struct fixture *f = *state;
	struct mags_err err = { 0 };
	struct stat st;
	char link[256];

	int64_t t0 = time_mono_ms();
	assert_int_equal(image_build(f->data, "busybox", &err), 0);
	assert_true(time_mono_ms() - t0 < 3000);

	char *root = image_rootfs(f->data, "busybox");
	assert_non_null(root);
	char *p = xasprintf("%s/bin/sh", root);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(p, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "/bin/busybox");
	free(p);

	p = xasprintf("%s/bin/busybox", root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode) && (st.st_mode & 0111));
	free(p);

	p = xasprintf("%s/tmp", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	free(p);

	static const char *const dirs[] = { "sbin", "usr/bin", "usr/sbin", "root",
					    "proc", "sys", "dev", "run", "var/tmp",
					    "uploads", "etc" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		p = xasprintf("%s/%s", root, dirs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		free(p);
	}

	p = xasprintf("%s/etc/hostname", root);
	char *s = slurp(p);
	assert_non_null(s);
	assert_string_equal(s, "mags-vm\n");
	free(s);
	free(p);
	p = xasprintf("%s/etc/passwd", root);
	s = slurp(p);
	assert_non_null(s);
	assert_non_null(strstr(s, "root:x:0:0:root:/root:/bin/sh\n"));
	assert_non_null(strstr(s, "nobody:"));
	free(s);
	free(p);
	static const char *const files[] = { "etc/group", "etc/hosts", "etc/os-release" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = xasprintf("%s/%s", root, files[i]);
		assert_int_equal(stat(p, &st), 0);
		free(p);
	}

	/* The applets run: the image's own sh via chroot-free invocation. */
	assert_int_equal(sh("'%s/bin/busybox' sh -c 'exit 0'", root), 0);
	assert_false(leftover_tmp(f->data));

	/* Building again replaces the image in place. */
	p = xasprintf("%s/marker", root);
	assert_int_equal(sh("touch '%s'", p), 0);
	assert_int_equal(image_build(f->data, "busybox", &err), 0);
	assert_int_not_equal(access(p, F_OK), 0);
	free(p);
	p = xasprintf("%s/bin/sh", root);
	assert_int_equal(lstat(p, &st), 0);
	free(p);
	assert_false(leftover_tmp(f->data));
	free(root);
}

static void list_prints_one_line_per_image(void **state)
{
	struct fixture *f = *state;
	struct mags_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	/* No images directory at all: nothing printed, success. */
	out = open_memstream(&buf, &len);
	assert_int_equal(image_list(f->data, out, &err), 0);
	fclose(out);
	assert_int_equal(len, 0);
	free(buf);

	assert_int_equal(image_build(f->data, "busybox", &err), 0);
	/* A half-built leftover and a stray file are not images. */
	assert_int_equal(sh("mkdir -p '%s/images/.tmp-x-1-abc/rootfs' '%s/images/norootfs'",
			    f->data, f->data), 0);

	out = open_memstream(&buf, &len);
	assert_int_equal(image_list(f->data, out, &err), 0);
	fclose(out);
	char name[64], created[64];
	unsigned long long size;
	assert_int_equal(sscanf(buf, "%63[^\t]\t%llu\t%63[^\n]\n", name, &size, created), 3);
	assert_string_equal(name, "busybox");
	assert_true(size > 100000); /* the busybox binary alone is ~2 MB */
	assert_int_equal(strlen(created), 24);
	assert_int_equal(created[4], '-');
	assert_int_equal(created[10], 'T');
	assert_int_equal(created[23], 'Z');
	assert_non_null(strchr(buf, '\n'));
	assert_null(strchr(strchr(buf, '\n') + 1, '\n')); /* exactly one line */
	free(buf);
}

static void import_extracts_a_tarball(void **state)
{
	struct fixture *f = *state;
	struct mags_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(sh("cd '%s' && mkdir -p src/bin src/etc && echo hello > src/etc/greeting "
			    "&& ln -s /bin/busybox src/bin/sh && chmod 0640 src/etc/greeting "
			    "&& tar -C src -czf tiny.tar.gz .", f->dir), 0);
	char *tarball = xasprintf("%s/tiny.tar.gz", f->dir);
	assert_int_equal(image_import(f->data, "tiny", tarball, &err), 0);

	char *root = image_rootfs(f->data, "tiny");
	assert_non_null(root);
	char *p = xasprintf("%s/etc/greeting", root);
	char *s = slurp(p);
	assert_non_null(s);
	assert_string_equal(s, "hello\n");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(s);
	free(p);
	p = xasprintf("%s/bin/sh", root);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(p);
	/* Mount points a sandbox needs are created when missing. */
	p = xasprintf("%s/proc", root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	p = xasprintf("%s/tmp", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	free(p);

	FILE *out = open_memstream(&buf, &len);
	assert_int_equal(image_list(f->data, out, &err), 0);
	fclose(out);
	assert_true(strncmp(buf, "tiny\t", 5) == 0);
	free(buf);

	/* Bad names and missing files are refused. */
	assert_true(image_import(f->data, "Bad/Name", tarball, &err) < 0);
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);
	assert_true(image_import(f->data, "other", "/nonexistent.tar", &err) < 0);
	assert_null(image_rootfs(f->data, "other"));
	assert_false(leftover_tmp(f->data));
	free(root);
	free(tarball);
}

static void import_refuses_paths_outside_the_root(void **state)
{
	struct fixture *f = *state;
	struct mags_err err = { 0 };
	struct stat st;

	/* A member "../evil" (made with -P, which keeps it). */
	assert_int_equal(sh("cd '%s' && mkdir -p a/b && echo bad > a/evil "
			    "&& tar -C a/b -P -cf dotdot.tar ../evil "
			    "&& tar -tf dotdot.tar | grep -qx '../evil'", f->dir), 0);
	char *tarball = xasprintf("%s/dotdot.tar", f->dir);
	err_clear(&err);
	assert_true(image_import(f->data, "evil", tarball, &err) < 0);
	assert_non_null(strstr(err.msg, ".."));
	assert_null(image_rootfs(f->data, "evil"));
	/* Nothing named evil anywhere in the data dir or beside the images. */
	assert_int_not_equal(sh("find '%s' -name evil | grep -q .", f->data), 0);
	free(tarball);

	/* An absolute member. */
	assert_int_equal(sh("cd '%s' && tar -P -cf abs.tar '%s/a/evil' "
			    "&& tar -tf abs.tar | grep -q '^/'", f->dir, f->dir), 0);
	tarball = xasprintf("%s/abs.tar", f->dir);
	assert_true(image_import(f->data, "abs", tarball, &err) < 0);
	assert_null(image_rootfs(f->data, "abs"));
	free(tarball);

	/* A symlink to a directory outside, then a file through it. */
	assert_int_equal(sh("cd '%s' && mkdir -p outside s && ln -s '%s/outside' s/link "
			    "&& mkdir -p t/link && echo pwned > t/link/pwned "
			    "&& tar -C s -cf sym.tar link && tar -C t -rf sym.tar link/pwned",
			    f->dir, f->dir), 0);
	tarball = xasprintf("%s/sym.tar", f->dir);
	image_import(f->data, "sym", tarball, &err); /* may fail or succeed */
	char *p = xasprintf("%s/outside/pwned", f->dir);
	assert_int_not_equal(stat(p, &st), 0);
	free(p);
	free(tarball);

	/* A hard link whose target climbs out (made with Python's tarfile:
	 * GNU tar will not write one). */
	assert_int_equal(sh("cd '%s' && echo secret > outside/target && python3 -c '"
			    "import tarfile\n"
			    "with tarfile.open(\"hl.tar\", \"w\") as t:\n"
			    "  i = tarfile.TarInfo(\"stolen\"); i.type = tarfile.LNKTYPE\n"
			    "  i.linkname = \"../../../../../../../../%s/outside/target\"; t.addfile(i)\n"
			    "  i = tarfile.TarInfo(\"abs\"); i.type = tarfile.LNKTYPE\n"
			    "  i.linkname = \"%s/outside/target\"; t.addfile(i)\n'",
			    f->dir, f->dir, f->dir), 0);
	tarball = xasprintf("%s/hl.tar", f->dir);
	image_import(f->data, "hl", tarball, &err); /* may fail or succeed */
	p = xasprintf("%s/outside/target", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1); /* nothing links to it */
	free(p);
	free(tarball);

	/* An empty tarball is not an image. */
	assert_int_equal(sh("cd '%s' && tar -cf empty.tar -T /dev/null", f->dir), 0);
	tarball = xasprintf("%s/empty.tar", f->dir);
	assert_true(image_import(f->data, "empty", tarball, &err) < 0);
	free(tarball);
	assert_false(leftover_tmp(f->data));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_validated),
		cmocka_unit_test_setup_teardown(unknown_build_names_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(busybox_build_makes_a_usable_root, setup, teardown),
		cmocka_unit_test_setup_teardown(list_prints_one_line_per_image, setup, teardown),
		cmocka_unit_test_setup_teardown(import_extracts_a_tarball, setup, teardown),
		cmocka_unit_test_setup_teardown(import_refuses_paths_outside_the_root, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
