/*
 * image.h - sandbox images: named root filesystems under DATA_DIR/images.
 *
 * An image is DATA_DIR/images/NAME/rootfs (owned by host root, never written
 * by a sandbox: the runtime mounts it as the read-only lower layer of an
 * overlay) plus DATA_DIR/images/NAME/info (key=value: created, size, source).
 *
 * Every image is built or imported into a temporary directory beside its
 * target (DATA_DIR/images/.tmp-NAME-PID-XXXXXX) and renamed into place only
 * when complete, so a half-built image is never used; replacing an existing
 * image swaps the two directories atomically (renameat2 RENAME_EXCHANGE) and
 * then removes the old one.
 *
 * These functions block (a Debian build takes minutes): they are for magsd's
 * admin subcommands and tests, never for the daemon's event loop. They fork
 * and exec helpers (busybox, debootstrap, apt-get, tar) and wait for them.
 */
#ifndef MAGS_MAGSD_IMAGE_H
#define MAGS_MAGSD_IMAGE_H

#include <stdio.h>

#include "common/err.h"

/* Build a named image into DATA_DIR/images/NAME/rootfs, progress lines on
 * stderr. name: "busybox" (from Debian's busybox-static, /bin/busybox or
 * $MAGS_BUSYBOX; well under a second) or "default" (Debian bookworm with
 * debootstrap plus the DECISIONS D12 package list and an `apk` shim; needs
 * root and the Debian mirror of /etc/apt/sources.list(.d) or
 * $MAGS_DEBIAN_MIRROR; minutes). Replaces an existing image of that name.
 * 0 or -errno with err filled. */
int image_build(const char *data_dir, const char *name, struct mags_err *err);

/* Import a rootfs tarball (any compression GNU tar detects) as image NAME.
 * Members with absolute paths or ".." components are refused before anything
 * is extracted; owners and modes are kept (numeric ids). Replaces an existing
 * image of that name. 0 or -errno with err filled. */
int image_import(const char *data_dir, const char *name, const char *tarball,
		 struct mags_err *err);

/* Print one line per image, sorted by name: "NAME\tSIZE_BYTES\tCREATED\n"
 * (CREATED as ISO 8601 UTC, e.g. 2026-11-27T09:12:26.123Z) to out. No
 * images (or no images directory) prints nothing. 0 or -errno. */
int image_list(const char *data_dir, FILE *out, struct mags_err *err);

/* Malloc'd path of DATA_DIR/images/NAME/rootfs if that image exists (and
 * NAME is valid), else NULL. The caller frees it. */
char *image_rootfs(const char *data_dir, const char *name);

/* 1 if name matches [a-z0-9][a-z0-9._-]{0,63}, else 0. */
int image_name_valid(const char *name);

#endif
