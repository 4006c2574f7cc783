/*
 * syncer.c - snapshot operations for workspaces (see syncer.h): opens the
 * configured object store and calls the snapshot engine. Runs only in task
 * children.
 */
#include "magsd/syncer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "common/banned.h"

#include "magsd/crashpoint.h"
#include "magsd/objstore.h"
#include "magsd/snapshot.h"


static struct objstore *open_store(const struct config *cfg, struct mags_err *err)
{
	if (!strcmp(cfg->object_store, "s3")) {
		struct s3_config s3 = {
			.endpoint = cfg->s3_endpoint,
			.bucket = cfg->s3_bucket,
			.prefix = cfg->s3_prefix,
			.region = cfg->s3_region,
			.access_key = cfg->s3_access_key,
			.secret_key = cfg->s3_secret_key,
			.path_style = cfg->s3_path_style,
		};
		return objstore_open_s3(&s3, err);
	}
	_cleanup_free_ char *root = xasprintf("%s/objects", cfg->data_dir);
	return objstore_open_dir(root, err);
}

static char *cache_dir(const struct config *cfg)
{
	return xasprintf("%s/cache", cfg->data_dir);
}

int syncer_sync(const struct config *cfg, const char *user_id, const char *name,
		const char *upper, const char *state, char hash_out[SYNCER_HASH_MAX],
		struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	char parent[65], out[65];
	int r;

	if (!os)
		return -EIO;
	r = snapshot_head_get(os, user_id, name, parent, err);
	if (r == -ENOENT)
		parent[0] = '\0';
	else if (r < 0)
		goto out;
	err_clear(err);
	r = snapshot_sync(os, upper, state, parent[0] ? parent : NULL, out, NULL, err);
	if (r < 0)
		goto out;
	if (strcmp(out, parent) && (r = snapshot_head_set(os, user_id, name, out, err)) < 0)
		goto out;
	crashpoint("sync:head-set");
	snprintf(hash_out, SYNCER_HASH_MAX, "%s", out);
	r = 0;
out:
	objstore_free(os);
	return r;
}

int syncer_head_get(const struct config *cfg, const char *user_id, const char *name,
		    char hash_out[SYNCER_HASH_MAX], struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	char h[65];
	int r;

	if (!os)
		return -EIO;
	r = snapshot_head_get(os, user_id, name, h, err);
	if (r == 0)
		snprintf(hash_out, SYNCER_HASH_MAX, "%s", h);
	objstore_free(os);
	return r;
}

int syncer_restore(const struct config *cfg, const char *hash, const char *dst,
		   struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	_cleanup_free_ char *cache = cache_dir(cfg);
	int r;

	if (!os)
		return -EIO;
	r = snapshot_restore(os, cache, hash, dst, SNAPSHOT_RESTORE_COPY, NULL, err);
	objstore_free(os);
	return r;
}

int syncer_materialise(const struct config *cfg, const char *hash, struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	_cleanup_free_ char *cache = cache_dir(cfg);
	_cleanup_free_ char *snaps = xasprintf("%s/snapshots", cfg->data_dir);
	char *path = NULL;
	int r;

	if (!os)
		return -EIO;
	(void)mkdir_p(snaps, 0700);
	r = snapshot_materialise(os, cache, snaps, hash, &path, err);
	free(path);
	objstore_free(os);
	return r;
}

int syncer_head_delete(const struct config *cfg, const char *user_id, const char *name,
		       struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	int r;

	if (!os)
		return -EIO;
	r = snapshot_head_delete(os, user_id, name, err);
	objstore_free(os);
	return r;
}

int syncer_gc(const struct config *cfg, const char *const *live, size_t n_live,
	      struct mags_err *err)
{
	struct objstore *os = open_store(cfg, err);
	int r;

	if (!os)
		return -EIO;
	r = snapshot_gc(os, live, n_live, NULL, err);
	objstore_free(os);
	return r;
}
