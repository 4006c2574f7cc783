/* Unit tests for the SFTP v3 packet codec (src/common/sftpproto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/sftpproto.h"

/* Build a packet body (what follows the length) from pieces. */
struct pk {
	unsigned char b[1024];
	size_t n;
};

static void u8(struct pk *p, uint8_t v)
{
	p->b[p->n++] = v;
}

static void u32(struct pk *p, uint32_t v)
{
	u8(p, (uint8_t)(v >> 24));
	u8(p, (uint8_t)(v >> 16));
	u8(p, (uint8_t)(v >> 8));
	u8(p, (uint8_t)v);
}

static void u64(struct pk *p, uint64_t v)
{
	u32(p, (uint32_t)(v >> 32));
	u32(p, (uint32_t)v);
}

static void str(struct pk *p, const char *s, size_t n)
{
	u32(p, (uint32_t)n);
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

#define STR(p, s) str(p, s, sizeof(s) - 1)

static void packet_lengths(void **state)
{
	uint32_t len = 7;

	assert_int_equal(sftp_packet_length((const unsigned char *)"\0\0\0\x05", &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(sftp_packet_length((const unsigned char *)"\0\x04\0\0", &len), 0);
	assert_int_equal(len, SFTP_PACKET_MAX);
	assert_int_equal(sftp_packet_length((const unsigned char *)"\0\x04\0\x01", &len), -EMSGSIZE);
	assert_int_equal(sftp_packet_length((const unsigned char *)"\0\0\0\0", &len), -EMSGSIZE);
	assert_int_equal(sftp_packet_length((const unsigned char *)"\xff\xff\xff\xff", &len),
			 -EMSGSIZE);
}

static void init_and_open(void **state)
{
	struct pk p = { .n = 0 };
	struct sftp_req r;

	u8(&p, SFTP_INIT);
	u32(&p, 3);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.type, SFTP_INIT);
	assert_int_equal(r.version, 3);

	p.n = 0;
	u8(&p, SFTP_OPEN);
	u32(&p, 42);
	STR(&p, "/root/f");
	u32(&p, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_TRUNC);
	u32(&p, SFTP_ATTR_PERMISSIONS | SFTP_ATTR_SIZE | SFTP_ATTR_EXTENDED);
	u64(&p, 1234);
	u32(&p, 0644);
	u32(&p, 1);          /* one extended pair */
	STR(&p, "k");
	STR(&p, "v");
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.id, 42);
	assert_int_equal(r.path.len, 7);
	assert_memory_equal(r.path.p, "/root/f", 7);
	assert_int_equal(r.pflags, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_TRUNC);
	assert_int_equal(r.attrs.size, 1234);
	assert_int_equal(r.attrs.perm, 0644);
	/* the same without its last byte is short */
	assert_int_equal(sftp_request_parse(p.b, p.n - 1, &r), -EBADMSG);
}

static void read_write_and_two_paths(void **state)
{
	struct pk p = { .n = 0 };
	struct sftp_req r;

	u8(&p, SFTP_READ);
	u32(&p, 7);
	str(&p, "\0\0\0\x05", 4);
	u64(&p, 1ull << 40);
	u32(&p, 32768);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(sftp_handle_decode(r.handle), 5);
	assert_true(r.offset == 1ull << 40);
	assert_int_equal(r.len, 32768);

	p.n = 0;
	u8(&p, SFTP_WRITE);
	u32(&p, 8);
	str(&p, "\0\0\0\x01", 4);
	u64(&p, 0);
	str(&p, "da\0ta", 5); /* data may hold NUL bytes */
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.data.len, 5);
	assert_memory_equal(r.data.p, "da\0ta", 5);

	p.n = 0;
	u8(&p, SFTP_SYMLINK);
	u32(&p, 9);
	STR(&p, "/etc/passwd");
	STR(&p, "ln");
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.path.len, 11);
	assert_int_equal(r.path2.len, 2);
}

static void extended(void **state)
{
	struct pk p = { .n = 0 };
	struct sftp_req r;

	u8(&p, SFTP_EXTENDED);
	u32(&p, 1);
	STR(&p, "posix-rename@openssh.com");
	STR(&p, "a");
	STR(&p, "b");
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.ext, SFTP_EXT_POSIX_RENAME);
	assert_memory_equal(r.path2.p, "b", 1);

	p.n = 0;
	u8(&p, SFTP_EXTENDED);
	u32(&p, 2);
	STR(&p, "fsync@openssh.com");
	str(&p, "\0\0\0\0", 4);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.ext, SFTP_EXT_FSYNC);
	assert_int_equal(sftp_handle_decode(r.handle), 0);

	p.n = 0;
	u8(&p, SFTP_EXTENDED);
	u32(&p, 3);
	STR(&p, "whatever@example.com");
	u32(&p, 12345); /* its own fields: not ours to read */
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.ext, SFTP_EXT_UNKNOWN);

	/* a known name whose fields are missing */
	p.n = 0;
	u8(&p, SFTP_EXTENDED);
	u32(&p, 4);
	STR(&p, "hardlink@openssh.com");
	STR(&p, "a");
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG);
}

static void malformed(void **state)
{
	struct pk p = { .n = 0 };
	struct sftp_req r;

	assert_int_equal(sftp_request_parse(p.b, 0, &r), -EBADMSG);
	u8(&p, SFTP_STAT);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG); /* no id */
	u32(&p, 5);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG); /* no path */
	u32(&p, 0xffffffff);                                          /* path beyond the end */
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG);

	p.n = 0;
	u8(&p, SFTP_REMOVE);
	u32(&p, 5);
	str(&p, "a\0b", 3);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG); /* NUL in a path */

	p.n = 0;
	u8(&p, SFTP_SETSTAT);
	u32(&p, 5);
	STR(&p, "x");
	u32(&p, SFTP_ATTR_EXTENDED);
	u32(&p, 0xffffffff); /* a count far beyond the packet */
	STR(&p, "k");
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -EBADMSG);

	p.n = 0;
	u8(&p, 99);
	u32(&p, 77);
	assert_int_equal(sftp_request_parse(p.b, p.n, &r), -ENOTSUP);
	assert_int_equal(r.id, 77); /* answerable */
}

static void handles(void **state)
{
	unsigned char h[4];

	sftp_handle_encode(h, 255);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ (const char *)h, 4 }), 255);
	sftp_handle_encode(h, SFTP_HANDLES_MAX);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ (const char *)h, 4 }), -EBADF);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ "\xff\xff\xff\xff", 4 }), -EBADF);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ "\0\0\0", 3 }), -EBADF);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ "\0\0\0\0\0", 5 }), -EBADF);
	assert_int_equal(sftp_handle_decode((struct sftp_str){ "", 0 }), -EBADF);
}

static void output_packets(void **state)
{
	unsigned char buf[64];
	struct sftp_out o = { .p = buf, .cap = sizeof(buf) };
	struct sftp_attrs a = { .flags = SFTP_ATTR_SIZE | SFTP_ATTR_PERMISSIONS | SFTP_ATTR_EXTENDED,
				.size = 5, .perm = 0100644 };

	sftp_out_begin(&o, SFTP_STATUS, 9);
	sftp_out_u32(&o, SFTP_EOF);
	sftp_out_cstr(&o, "eof");
	assert_int_equal(sftp_out_end(&o), 4 + 1 + 4 + 4 + 7);
	assert_memory_equal(buf, "\0\0\0\x10\x65\0\0\0\x09\0\0\0\x01\0\0\0\x03" "eof", 20);

	sftp_out_begin(&o, SFTP_VERSION_REPLY, 0); /* no id */
	sftp_out_u32(&o, 3);
	assert_int_equal(sftp_out_end(&o), 9);

	sftp_out_begin(&o, SFTP_ATTRS, 1);
	sftp_out_attrs(&o, &a); /* the extended flag is never sent */
	assert_int_equal(sftp_out_end(&o), 9 + 4 + 8 + 4);
	assert_memory_equal(buf + 9, "\0\0\0\x05", 4);

	sftp_out_begin(&o, SFTP_NAME, 1);
	for (int i = 0; i < 10; i++)
		sftp_out_cstr(&o, "0123456789");
	assert_true(o.overflow);
	assert_int_equal(sftp_out_end(&o), -EMSGSIZE);
}

static void longnames_and_status(void **state)
{
	struct stat st = { .st_mode = S_IFDIR | 0755, .st_nlink = 2, .st_size = 4096 };
	char out[128];

	st.st_mtime = 0;
	sftp_longname(out, sizeof(out), "dir", &st);
	assert_string_equal(out, "drwxr-xr-x    2 0        0            4096 Jan  1 00:00 dir");
	st.st_mode = S_IFREG | 04750;
	st.st_uid = 1000;
	sftp_longname(out, sizeof(out), "f", &st);
	assert_memory_equal(out, "-rwsr-x--- ", 11);
	st.st_mode = S_IFLNK | 0777;
	sftp_longname(out, sizeof(out), "l", &st);
	assert_int_equal(out[0], 'l');
	assert_true(sftp_longname(out, 8, "long-name", &st) > 8);
	assert_int_equal(strlen(out), 7);

	assert_int_equal(sftp_status_from_errno(0), SFTP_OK);
	assert_int_equal(sftp_status_from_errno(ENOENT), SFTP_NO_SUCH_FILE);
	assert_int_equal(sftp_status_from_errno(EACCES), SFTP_PERMISSION_DENIED);
	assert_int_equal(sftp_status_from_errno(EEXIST), SFTP_FAILURE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(packet_lengths),
		cmocka_unit_test(init_and_open),
		cmocka_unit_test(read_write_and_two_paths),
		cmocka_unit_test(extended),
		cmocka_unit_test(malformed),
		cmocka_unit_test(handles),
		cmocka_unit_test(output_packets),
		cmocka_unit_test(longnames_and_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
