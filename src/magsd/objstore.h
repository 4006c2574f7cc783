/*
 * objstore.h - the object store behind workspace snapshots: a flat key space
 * of immutable blobs and small mutable pointers, implemented by a directory
 * on the host (objstore_dir.c, the default) or any S3-compatible server
 * (objstore_s3.c). Every call blocks: magsd runs them in forked children,
 * never in its event loop.
 *
 * Keys are relative paths of [A-Za-z0-9._/-] without "..", e.g.
 * "blobs/ab/ab12...", "manifests/<hash>", "heads/<user>/<workspace>".
 * A put is atomic: a reader sees the old object or the new one, never a part.
 */
#ifndef MAGS_MAGSD_OBJSTORE_H
#define MAGS_MAGSD_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct objstore;

/* Called once per key by objstore_list; return non-zero to stop early. */
typedef int (*objstore_list_fn)(const char *key, uint64_t size, void *arg);

struct objstore_ops {
	/* Store the whole content of fd (read from its current offset to EOF). */
	int (*put_fd)(struct objstore *os, const char *key, int fd, struct mags_err *err);
	int (*put_buf)(struct objstore *os, const char *key, const void *buf, size_t len,
		       struct mags_err *err);
	/* Write the object to fd. -ENOENT (err filled) if there is no such key. */
	int (*get_fd)(struct objstore *os, const char *key, int fd, struct mags_err *err);
	/* Read a small object (<= max bytes) into a malloc'd NUL-terminated buffer. */
	int (*get_buf)(struct objstore *os, const char *key, size_t max, char **out,
		       size_t *len, struct mags_err *err);
	/* 1 exists, 0 does not, < 0 error. */
	int (*exists)(struct objstore *os, const char *key, struct mags_err *err);
	/* Deleting a missing key is not an error. */
	int (*del)(struct objstore *os, const char *key, struct mags_err *err);
	int (*list)(struct objstore *os, const char *prefix, objstore_list_fn fn, void *arg,
		    struct mags_err *err);
	void (*free)(struct objstore *os);
};

struct objstore {
	const struct objstore_ops *ops;
};

/* Settings of an S3-compatible store (magsd.conf keys s3_endpoint, s3_bucket,
 * s3_prefix, s3_region, s3_access_key, s3_secret_key, s3_path_style). */
struct s3_config {
	const char *endpoint;    /* "http://127.0.0.1:9000" or "https://s3.amazonaws.com" */
	const char *bucket;
	const char *prefix;      /* "" or "mags/" */
	const char *region;      /* "us-east-1" */
	const char *access_key;
	const char *secret_key;
	int path_style;          /* 1: endpoint/bucket/key; 0: bucket.endpoint/key */
};

struct objstore *objstore_open_dir(const char *root, struct mags_err *err);
struct objstore *objstore_open_s3(const struct s3_config *cfg, struct mags_err *err);

/* NULL-safe. */
void objstore_free(struct objstore *os);

/* 1 if key is a valid object key (charset, no "..", no leading '/'). */
int objstore_key_valid(const char *key);

#endif
