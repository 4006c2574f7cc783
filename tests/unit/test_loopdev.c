/* Unit tests for src/magsd/loopdev.c: a real image on a real loop device
 * (root and /dev/loop-control, as magsd itself needs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "magsd/loopdev.h"

static char dir[PATH_MAX], img[PATH_MAX + 16], mnt[PATH_MAX + 16];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mags-loopdev-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 64];

	(void)state;
	(void)umount2(mnt, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void make_image_at(const char *path, off_t size, int ext4)
{
	char cmd[PATH_MAX + 128];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
	if (!ext4)
		return;
	snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH mkfs.ext4 -q -F '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void make_image(int ext4)
{
	make_image_at(img, 64 << 20, ext4);
}

/* The loop devices whose backing file is img, right now. */
static int attached(void)
{
	char want[PATH_MAX + 16], p[600], got[PATH_MAX + 16];
	struct dirent *e;
	int n = 0;
	DIR *d = opendir("/sys/block");

	assert_non_null(d);
	assert_non_null(realpath(img, want));
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(got, sizeof(got), f)) {
			got[strcspn(got, "\n")] = 0;
			n += !strcmp(got, want);
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Detaching on the last close may trail by a moment. */
static int attached_after_settle(void)
{
	for (int i = 0; i < 100 && attached(); i++)
		usleep(20 * 1000);
	return attached();
}

/* The mountinfo line of mnt: its source and options. */
static int mount_of(char *src, size_t slen, char *opts, size_t olen)
{
	char line[4096], want[PATH_MAX + 16];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	assert_non_null(f);
	assert_non_null(realpath(mnt, want));
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], o[512], fs[64], s[PATH_MAX];
		if (sscanf(line, "%*d %*d %*s %*s %4095s %511s", mp, o) != 2 || strcmp(mp, want))
			continue;
		char *dash = strstr(line, " - ");
		assert_non_null(dash);
		assert_int_equal(sscanf(dash, " - %63s %4095s", fs, s), 2);
		assert_string_equal(fs, "ext4");
		snprintf(src, slen, "%s", s);
		snprintf(opts, olen, "%s", o);
		found = 1;
	}
	fclose(f);
	return found;
}

static void mounts_with_flags_and_detaches_on_unmount(void **state)
{
	struct mags_err err = { 0 };
	char src[PATH_MAX], opts[512], f[PATH_MAX + 32];

	(void)state;
	make_image(1);
	assert_int_equal(loop_mount(img, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
				    "noinit_itable", &err), 0);
	assert_true(mount_of(src, sizeof(src), opts, sizeof(opts)));
	assert_int_equal(strncmp(src, "/dev/loop", 9), 0);
	assert_non_null(strstr(opts, "nosuid"));
	assert_non_null(strstr(opts, "nodev"));
	assert_non_null(strstr(opts, "noatime"));
	assert_int_equal(attached(), 1);
	/* direct I/O: the image's blocks are not cached twice (the host's
	 * filesystem here can do O_DIRECT) */
	char dio[PATH_MAX + 64], v[8] = "";
	snprintf(dio, sizeof(dio), "/sys/block/%s/loop/dio", src + 5);
	FILE *df = fopen(dio, "r");
	assert_non_null(df);
	assert_non_null(fgets(v, sizeof(v), df));
	fclose(df);
	assert_int_equal(v[0], '1');
	/* it is a real, writable filesystem */
	snprintf(f, sizeof(f), "%s/hello", mnt);
	int fd = open(f, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hi", 2), 2);
	close(fd);
	/* autoclear: the last unmount lets the device go */
	assert_int_equal(umount2(mnt, 0), 0);
	assert_int_equal(attached_after_settle(), 0);
	/* and it mounts again with what was written */
	assert_int_equal(loop_mount(img, mnt, "ext4", 0, NULL, &err), 0);
	assert_int_equal(access(f, F_OK), 0);
	assert_int_equal(umount2(mnt, 0), 0);
	assert_int_equal(attached_after_settle(), 0);
}

static void a_failed_mount_leaves_nothing_attached(void **state)
{
	struct mags_err err = { 0 };
	char src[PATH_MAX], opts[512];

	(void)state;
	make_image(0);                       /* zeros: no filesystem */
	assert_true(loop_mount(img, mnt, "ext4", 0, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "mount /dev/loop"));
	assert_false(mount_of(src, sizeof(src), opts, sizeof(opts)));
	assert_int_equal(attached_after_settle(), 0);
}

/* magsd runs each workspace's mount in its own task: many at once. */
static void concurrent_mounts_all_get_a_device(void **state)
{
	enum { N = 32 };
	char imgs[N][PATH_MAX + 32], mnts[N][PATH_MAX + 32];
	pid_t pids[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(imgs[i], sizeof(imgs[i]), "%s/d%d.img", dir, i);
		snprintf(mnts[i], sizeof(mnts[i]), "%s/m%d", dir, i);
		assert_int_equal(mkdir(mnts[i], 0700), 0);
		make_image_at(imgs[i], 16 << 20, 1);
	}
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct mags_err err = { 0 };
			int r = loop_mount(imgs[i], mnts[i], "ext4", 0, NULL, &err);
			if (r < 0)
				fprintf(stderr, "%s\n", err.msg);
			_exit(r < 0);
		}
	}
	int failed = 0;
	for (int i = 0; i < N; i++) {
		int ws;
		assert_int_equal(waitpid(pids[i], &ws, 0), pids[i]);
		failed += !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
	}
	for (int i = 0; i < N; i++)
		(void)umount2(mnts[i], 0);
	assert_int_equal(failed, 0);
}

static void a_missing_image_is_a_clear_error(void **state)
{
	struct mags_err err = { 0 };

	(void)state;
	assert_int_equal(loop_mount(img, mnt, "ext4", 0, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "disk.img"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mounts_with_flags_and_detaches_on_unmount, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_mount_leaves_nothing_attached, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_mounts_all_get_a_device, setup, teardown),
		cmocka_unit_test_setup_teardown(a_missing_image_is_a_clear_error, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
