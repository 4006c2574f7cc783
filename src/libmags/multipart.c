/*
 * multipart.c - one file as a multipart/form-data body (see multipart.h).
 *
 * POST /mags-files takes the file the way a browser form sends it. The
 * body's length is known up front (head + file + tail), so it goes out with
 * a Content-Length and the server can refuse an oversized upload before
 * reading it; the file itself is read in blocks as the socket drains.
 */
#include "libmags/multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

/* A filename for the Content-Disposition header: the last component, with
 * the three bytes that would break the quoted string percent-encoded. */
static char *quoted_name(const char *filename)
{
	const char *base = strrchr(filename, '/');
	size_t n = 0;
	char *out, *o;

	base = base && base[1] ? base + 1 : filename;
	for (const char *p = base; *p; p++)
		n += (*p == '"' || *p == '\r' || *p == '\n') ? 3 : 1;
	out = o = xmalloc(n + 1);
	for (const char *p = base; *p; p++) {
		if (*p == '"' || *p == '\r' || *p == '\n') {
			static const char hex[] = "0123456789ABCDEF";

			*o++ = '%';
			*o++ = hex[(unsigned char)*p >> 4];
			*o++ = hex[(unsigned char)*p & 15];
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

void multipart_init(struct multipart *m, const char *field,
		    const char *filename, int fd, uint64_t file_len,
		    const char *boundary)
{
	_cleanup_free_ char *name = quoted_name(filename);

	memset(m, 0, sizeof(*m));
	if (boundary) {
		snprintf(m->boundary, sizeof(m->boundary), "%s", boundary);
	} else {
		char hex[33];

		random_hex(hex, 16);
		snprintf(m->boundary, sizeof(m->boundary), "mags-form-%s", hex);
	}
	m->head = xasprintf("--%s\r\n"
			    "Content-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
			    "Content-Type: application/octet-stream\r\n"
			    "\r\n",
			    m->boundary, field, name);
	m->head_len = strlen(m->head);
	m->tail = xasprintf("\r\n--%s--\r\n", m->boundary);
	m->tail_len = strlen(m->tail);
	m->fd = fd;
	m->file_len = file_len;
}

void multipart_release(struct multipart *m)
{
	free(m->head);
	free(m->tail);
	m->head = m->tail = NULL;
}

uint64_t multipart_length(const struct multipart *m)
{
	return m->head_len + m->file_len + m->tail_len;
}

char *multipart_content_type(const struct multipart *m)
{
	return xasprintf("multipart/form-data; boundary=%s", m->boundary);
}

ssize_t multipart_read(void *arg, char *buf, size_t cap)
{
	struct multipart *m = arg;
	uint64_t file_end = m->head_len + m->file_len;
	size_t done = 0;

	while (done < cap) {
		if (m->pos < m->head_len) {
			size_t n = m->head_len - m->pos;

			if (n > cap - done)
				n = cap - done;
			memcpy(buf + done, m->head + m->pos, n);
			m->pos += n;
			done += n;
		} else if (m->pos < file_end) {
			uint64_t left = file_end - m->pos;
			size_t want = cap - done < left ? cap - done : (size_t)left;
			ssize_t n = read(m->fd, buf + done, want);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -EIO; /* the file shrank under us */
			m->pos += (uint64_t)n;
			done += (size_t)n;
		} else if (m->pos < file_end + m->tail_len) {
			size_t off = (size_t)(m->pos - file_end);
			size_t n = m->tail_len - off;

			if (n > cap - done)
				n = cap - done;
			memcpy(buf + done, m->tail + off, n);
			m->pos += n;
			done += n;
		} else {
			break;
		}
	}
	return (ssize_t)done;
}
