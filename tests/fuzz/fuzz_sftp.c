/*
 * fuzz_sftp.c - libFuzzer target for the SFTP packet decoder
 * (src/common/sftpproto.h), which reads what an SSH user sends to the
 * sandbox's SFTP server. Input: a byte stream cut into packets the way the
 * server cuts it (4-byte length, body). Checks that every decoded string
 * lies inside its packet, that paths hold no NUL, that handles decode in
 * range, and that the attributes of a decoded request encode and decode
 * back to themselves.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sftpproto.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void inside(const struct sftp_str *s, const uint8_t *p, size_t n, int path)
{
	if (!s->len)
		return;
	CHECK((const uint8_t *)s->p >= p && (const uint8_t *)s->p + s->len <= p + n);
	if (path)
		CHECK(!memchr(s->p, '\0', s->len));
}

static void attrs_round_trip(const struct sftp_attrs *a)
{
	static unsigned char buf[256];
	struct sftp_out o = { .p = buf, .cap = sizeof(buf) };
	struct sftp_req again;
	int n;

	/* SETSTAT id "x" attrs, built with the encoder, read by the decoder */
	sftp_out_begin(&o, SFTP_SETSTAT, 1);
	sftp_out_cstr(&o, "x");
	sftp_out_attrs(&o, a);
	n = sftp_out_end(&o);
	CHECK(n > 4);
	CHECK(sftp_request_parse(buf + 4, (size_t)n - 4, &again) == 0);
	CHECK(again.attrs.flags == (a->flags & ~SFTP_ATTR_EXTENDED));
	if (a->flags & SFTP_ATTR_SIZE)
		CHECK(again.attrs.size == a->size);
	if (a->flags & SFTP_ATTR_UIDGID)
		CHECK(again.attrs.uid == a->uid && again.attrs.gid == a->gid);
	if (a->flags & SFTP_ATTR_PERMISSIONS)
		CHECK(again.attrs.perm == a->perm);
	if (a->flags & SFTP_ATTR_ACMODTIME)
		CHECK(again.attrs.atime == a->atime && again.attrs.mtime == a->mtime);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= 4) {
		struct sftp_req rq;
		uint32_t len;
		int r;

		if (sftp_packet_length(data, &len) < 0)
			return 0; /* the server ends the session here */
		data += 4;
		size -= 4;
		if (len > size)
			return 0;
		r = sftp_request_parse(data, len, &rq);
		CHECK(r == 0 || r == -EBADMSG || r == -ENOTSUP);
		if (r == 0) {
			int h;

			inside(&rq.path, data, len, 1);
			inside(&rq.path2, data, len, 1);
			inside(&rq.handle, data, len, 0);
			inside(&rq.data, data, len, 0);
			inside(&rq.ext_name, data, len, 0);
			h = sftp_handle_decode(rq.handle);
			CHECK(h == -EBADF || (h >= 0 && h < SFTP_HANDLES_MAX));
			attrs_round_trip(&rq.attrs);
		}
		data += len;
		size -= len;
	}
	return 0;
}
