/*
 * multipart.h - a multipart/form-data body holding one file, produced in
 * blocks as it is sent, so a 100 MiB upload never sits in memory.
 */
#ifndef MAGS_LIBMAGS_MULTIPART_H
#define MAGS_LIBMAGS_MULTIPART_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */

struct multipart {
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
	char *head;          /* "--B\r\nContent-Disposition: ...\r\n\r\n" */
	size_t head_len;
	char *tail;          /* "\r\n--B--\r\n" */
	size_t tail_len;
	int fd;              /* the file, read from its current offset */
	uint64_t file_len;   /* bytes of the file that go into the body */
	uint64_t pos;        /* bytes of the body produced so far */
};

/*
 * Prepare the body for one part named field ("file") with the file's
 * content read from fd (file_len bytes; fd stays the caller's) and the
 * given filename (its last path component is used; '"', CR and LF are
 * percent-encoded as browsers do). boundary NULL: a random one.
 */
void multipart_init(struct multipart *m, const char *field,
		    const char *filename, int fd, uint64_t file_len,
		    const char *boundary);
void multipart_release(struct multipart *m);

/* The body's total length: head + file + tail. */
uint64_t multipart_length(const struct multipart *m);

/* "multipart/form-data; boundary=...", malloc'd. */
char *multipart_content_type(const struct multipart *m);

/* http_req.body_read: the next up to cap bytes of the body. Returns the
 * count, 0 at the end, -EIO when the file ended early. */
ssize_t multipart_read(void *m, char *buf, size_t cap);

#endif
