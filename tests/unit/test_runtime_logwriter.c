/* Unit tests for output -> job log records (src/runtime/logwriter.c),
 * written into a memfd and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/logwriter.h"

static int64_t fake_clock(void)
{
	return 1700000000123LL;
}

static struct logwriter lw; /* big: not on the stack */
static struct log_stream out, err;
static int fd;

static int setup(void **state)
{
	fd = memfd_create("log", MFD_CLOEXEC);
	assert_true(fd >= 0);
	logwriter_init(&lw, fd, 1 << 20);
	lw.clock = fake_clock;
	log_stream_init(&out, LOGFMT_STDOUT);
	log_stream_init(&err, LOGFMT_STDERR);
	return 0;
}

static int teardown(void **state)
{
	close(fd);
	return 0;
}

/* The whole file as a malloc'd string (after the writer's flush, as
 * init does after every read). */
static char *contents(void)
{
	assert_int_equal(logwriter_flush(&lw), 0);
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)n + 1);

	assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
	buf[n] = '\0';
	return buf;
}

static void one_record_per_line_as_it_arrives(void **state)
{
	char *s;

	log_stream_feed(&lw, &out, "hel", 3);
	s = contents();
	assert_string_equal(s, ""); /* no newline yet: nothing written */
	free(s);
	log_stream_feed(&lw, &out, "lo\nwor", 6);
	log_stream_feed(&lw, &err, "oops\n", 5);
	log_stream_feed(&lw, &out, "ld\n\n", 4);
	s = contents();
	assert_string_equal(s, "1700000000123 o hello\n"
			       "1700000000123 e oops\n"
			       "1700000000123 o world\n"
			       "1700000000123 o \n");
	free(s);
}

static void records_wait_in_the_buffer_until_flushed(void **state)
{
	log_stream_feed(&lw, &out, "a\nb\n", 4);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	assert_int_equal(lw.pending, 2 * strlen("1700000000123 o a\n"));
	assert_int_equal(logwriter_flush(&lw), 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), 2 * strlen("1700000000123 o a\n"));
	/* system records go out at once */
	logwriter_system(&lw, "x");
	assert_int_equal(lw.pending, 0);
}

static void partial_last_line_is_flushed_at_eof(void **state)
{
	char *s;

	log_stream_feed(&lw, &out, "a\nno newline", 12);
	log_stream_flush(&lw, &out);
	log_stream_flush(&lw, &out); /* nothing left: no empty record */
	s = contents();
	assert_string_equal(s, "1700000000123 o a\n1700000000123 o no newline\n");
	free(s);
}

static void bytes_are_kept_as_produced(void **state)
{
	char *s;

	log_stream_feed(&lw, &out, "tab\there\r\x01\n", 11);
	s = contents();
	assert_string_equal(s, "1700000000123 o tab\there\r\x01\n");
	free(s);
}

static void long_lines_are_cut_into_max_line_records(void **state)
{
	size_t n = 2 * LOGFMT_MAX_LINE + 10;
	char *big = malloc(n + 1), *s, *p;
	int records = 0;

	memset(big, 'x', n);
	big[n] = '\n';
	/* in odd-sized pieces, as a pipe would deliver them */
	for (size_t off = 0; off < n + 1; off += 4093)
		log_stream_feed(&lw, &out, big + off, n + 1 - off < 4093 ? n + 1 - off : 4093);
	s = contents();
	for (p = s; *p; records++) {
		char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) - strlen("1700000000123 o ");
		assert_true(len == (records < 2 ? LOGFMT_MAX_LINE : 10));
		p = nl + 1;
	}
	assert_int_equal(records, 3);
	free(s);
	free(big);
}

static void the_cap_writes_one_marker_then_drops(void **state)
{
	char *s;

	lw.limit = 60; /* room for two 22-byte records, not three */
	log_stream_feed(&lw, &out, "first\nsecond\nthird\nfourth\n", 26);
	log_stream_feed(&lw, &err, "more\n", 5);
	assert_true(lw.truncated);
	s = contents();
	assert_string_equal(s, "1700000000123 o first\n"
			       "1700000000123 o second\n"
			       "1700000000123 s [log truncated: limit of 60 bytes reached]\n");
	free(s);
	/* system records (timeouts, OOM) still get through */
	assert_int_equal(logwriter_system(&lw, "job timed out after %d seconds", 5), 0);
}

static void existing_bytes_count_against_the_cap(void **state)
{
	char *s;

	assert_int_equal(write(fd, "1 s earlier\n", 12), 12);
	logwriter_init(&lw, fd, 40);
	lw.clock = fake_clock;
	log_stream_feed(&lw, &out, "ab\ncd\n", 6);
	s = contents();
	assert_string_equal(s, "1 s earlier\n"
			       "1700000000123 o ab\n"
			       "1700000000123 s [log truncated: limit of 40 bytes reached]\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(one_record_per_line_as_it_arrives, setup, teardown),
		cmocka_unit_test_setup_teardown(records_wait_in_the_buffer_until_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(partial_last_line_is_flushed_at_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(bytes_are_kept_as_produced, setup, teardown),
		cmocka_unit_test_setup_teardown(long_lines_are_cut_into_max_line_records, setup, teardown),
		cmocka_unit_test_setup_teardown(the_cap_writes_one_marker_then_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(existing_bytes_count_against_the_cap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
