/* Unit tests for the directory object store (src/magsd/objstore_dir.c) and
 * the shared key rules (src/magsd/objstore.c), on real files in a temp dir. */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/objstore.h"

struct fixture {
	char dir[64];
	struct objstore *os;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct mags_err err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/mags-objstore-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->os = objstore_open_dir(f->dir, &err);
	if (!f->os)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	objstore_free(f->os);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void keys_are_checked(void **state)
{
	assert_true(objstore_key_valid("blobs/ab/ab12"));
	assert_true(objstore_key_valid("heads/usr_1/my-ws.2"));
	assert_false(objstore_key_valid(""));
	assert_false(objstore_key_valid("/etc/passwd"));
	assert_false(objstore_key_valid("a/../../etc"));
	assert_false(objstore_key_valid(".."));
	assert_false(objstore_key_valid("a/./b"));
	assert_false(objstore_key_valid("a//b"));
	assert_false(objstore_key_valid("a/"));
	assert_false(objstore_key_valid("a/.tmp-x"));
	assert_false(objstore_key_valid("a b"));
	assert_false(objstore_key_valid("a\nb"));
	assert_false(objstore_key_valid(NULL));
}

static void put_get_exists_delete(void **state)
{
	struct fixture *f = *state;
	struct objstore *os = f->os;
	struct mags_err err;
	char *buf;
	size_t len;

	assert_int_equal(os->ops->exists(os, "manifests/x", &err), 0);
	assert_int_equal(os->ops->put_buf(os, "manifests/x", "hello", 5, &err), 0);
	assert_int_equal(os->ops->exists(os, "manifests/x", &err), 1);
	assert_int_equal(os->ops->get_buf(os, "manifests/x", 100, &buf, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	/* overwrite is atomic: the new content, no temp file left */
	assert_int_equal(os->ops->put_buf(os, "manifests/x", "bye", 3, &err), 0);
	assert_int_equal(os->ops->get_buf(os, "manifests/x", 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "bye");
	free(buf);
	assert_int_equal(os->ops->get_buf(os, "manifests/x", 2, &buf, &len, &err), -EFBIG);
	assert_int_equal(os->ops->del(os, "manifests/x", &err), 0);
	assert_int_equal(os->ops->del(os, "manifests/x", &err), 0); /* missing: fine */
	err_clear(&err);
	assert_int_equal(os->ops->get_buf(os, "manifests/x", 100, &buf, &len, &err), -ENOENT);
	assert_int_equal(err.code, MAGS_E_NOT_FOUND);
	assert_non_null(strstr(err.msg, "manifests/x"));
	/* keys outside the store are refused before any file access */
	assert_int_equal(os->ops->put_buf(os, "../escape", "x", 1, &err), -EINVAL);
	assert_int_equal(os->ops->get_buf(os, "/etc/passwd", 100, &buf, &len, &err), -EINVAL);
	char path[128];
	snprintf(path, sizeof(path), "%s/../escape", f->dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void fd_transfers(void **state)
{
	struct fixture *f = *state;
	struct objstore *os = f->os;
	struct mags_err err;
	char data[200000];
	int in = memfd_create("in", MFD_CLOEXEC), out = memfd_create("out", MFD_CLOEXEC);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	assert_int_equal(write(in, data, sizeof(data)), sizeof(data));
	lseek(in, 100, SEEK_SET); /* put_fd reads from the current offset */
	assert_int_equal(os->ops->put_fd(os, "blobs/aa/aa1", in, &err), 0);
	assert_int_equal(os->ops->get_fd(os, "blobs/aa/aa1", out, &err), 0);
	assert_int_equal(lseek(out, 0, SEEK_CUR), sizeof(data) - 100);
	char back[200000];
	assert_int_equal(pread(out, back, sizeof(back), 0), sizeof(data) - 100);
	assert_memory_equal(back, data + 100, sizeof(data) - 100);
	assert_int_equal(os->ops->get_fd(os, "blobs/aa/none", out, &err), -ENOENT);
	close(in);
	close(out);
}

struct seen {
	char keys[16][64];
	uint64_t sizes[16];
	int n;
};

static int collect(const char *key, uint64_t size, void *arg)
{
	struct seen *s = arg;
	snprintf(s->keys[s->n], 64, "%s", key);
	s->sizes[s->n++] = size;
	return s->n == 16;
}

static void list_is_recursive_sorted_and_by_prefix(void **state)
{
	struct fixture *f = *state;
	struct objstore *os = f->os;
	struct mags_err err;
	struct seen s = {0};
	char tmp[128];

	assert_int_equal(os->ops->put_buf(os, "heads/u2/b", "22", 2, &err), 0);
	assert_int_equal(os->ops->put_buf(os, "heads/u1/a", "1", 1, &err), 0);
	assert_int_equal(os->ops->put_buf(os, "heads/u10/c", "333", 3, &err), 0);
	assert_int_equal(os->ops->put_buf(os, "manifests/m", "x", 1, &err), 0);
	/* a temp file left by a crashed put is never listed */
	snprintf(tmp, sizeof(tmp), "%s/heads/u1/.tmp-a-0123", f->dir);
	int fd = open(tmp, O_CREAT | O_WRONLY, 0600);
	close(fd);

	assert_int_equal(os->ops->list(os, "heads/", collect, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "heads/u1/a");
	assert_string_equal(s.keys[1], "heads/u10/c");
	assert_string_equal(s.keys[2], "heads/u2/b");
	assert_int_equal(s.sizes[1], 3);

	memset(&s, 0, sizeof(s));
	assert_int_equal(os->ops->list(os, "heads/u1", collect, &s, &err), 0);
	assert_int_equal(s.n, 2); /* u1/ and u10/: a string prefix, like S3 */

	memset(&s, 0, sizeof(s));
	assert_int_equal(os->ops->list(os, "heads/u1/", collect, &s, &err), 0);
	assert_int_equal(s.n, 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(os->ops->list(os, "nothing/", collect, &s, &err), 0);
	assert_int_equal(s.n, 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(os->ops->list(os, "", collect, &s, &err), 0);
	assert_int_equal(s.n, 4);
}

static void empty_blob_reads_as_missing(void **state)
{
	struct fixture *f = *state;
	struct objstore *os = f->os;
	struct mags_err err;
	char path[128];

	/* what a power cut can leave of a blob written before its syncfs */
	assert_int_equal(os->ops->put_buf(os, "blobs/bb/bb1", "", 0, &err), 0);
	assert_int_equal(os->ops->exists(os, "blobs/bb/bb1", &err), 0);
	snprintf(path, sizeof(path), "%s/blobs/bb/bb1", f->dir);
	assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_are_checked),
		cmocka_unit_test_setup_teardown(put_get_exists_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(fd_transfers, setup, teardown),
		cmocka_unit_test_setup_teardown(list_is_recursive_sorted_and_by_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_blob_reads_as_missing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
