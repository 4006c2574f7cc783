/*
 * objstore_tool - drive one object store from the command line, for the
 * end-to-end tests of objstore_s3.c (tests/e2e/test_objstore_s3.py builds it
 * against build/lib/libmagsd.a).
 *
 * The store is S3, configured from the environment: S3_ENDPOINT, S3_BUCKET,
 * S3_PREFIX, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, S3_PATH_STYLE (1/0).
 *
 *   objstore_tool put KEY FILE         put_fd from FILE
 *   objstore_tool putbuf KEY TEXT      put_buf
 *   objstore_tool putmany PREFIX N     put_buf PREFIX00000 .. (N keys, body = key)
 *   objstore_tool get KEY FILE         get_fd into FILE (created/truncated)
 *   objstore_tool getbuf KEY MAX       get_buf, the content on stdout
 *   objstore_tool exists KEY           prints 1 or 0
 *   objstore_tool del KEY
 *   objstore_tool list PREFIX          prints "KEY SIZE" lines
 *
 * Built with -DWITH_SNAPSHOT (when libmagsd.a has the snapshot engine):
 *   objstore_tool sync UPPER STATE USER WS      snapshot_sync + move the head,
 *                                               prints the manifest hash
 *   objstore_tool restore USER WS CACHE DEST    restore the head (copies)
 *
 * A failure prints "objstore_tool: <message> (errno N)" and exits 1 (2 for
 * ENOENT). With OBJSTORE_TOOL_RSS=1 the peak RSS is printed on stderr as
 * "maxrss_kb=N", so a test can check that transfers stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/err.h"
#include "magsd/objstore.h"
#ifdef WITH_SNAPSHOT
#include "magsd/snapshot.h"
#endif

static int print_key(const char *key, uint64_t size, void *arg)
{
	printf("%s %llu\n", key, (unsigned long long)size);
	return 0;
}

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v ? v : def;
}

/* Peak RSS of this program: VmHWM belongs to the address space, so unlike
 * getrusage's ru_maxrss it does not include the forked parent's pages from
 * before execve (a large pytest would otherwise count as ours). */
static void report_rss(void)
{
	char line[256];
	FILE *f;

	if (!getenv("OBJSTORE_TOOL_RSS") || !(f = fopen("/proc/self/status", "re")))
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			fprintf(stderr, "maxrss_kb=%ld\n", strtol(line + 6, NULL, 10));
	fclose(f);
}

int main(int argc, char **argv)
{
	struct s3_config cfg = {
		.endpoint = env("S3_ENDPOINT", ""),
		.bucket = env("S3_BUCKET", ""),
		.prefix = env("S3_PREFIX", ""),
		.region = env("S3_REGION", "us-east-1"),
		.access_key = env("S3_ACCESS_KEY", ""),
		.secret_key = env("S3_SECRET_KEY", ""),
		.path_style = atoi(env("S3_PATH_STYLE", "1")),
	};
	struct mags_err err = { 0 };
	struct objstore *os;
	const char *cmd;
	int r = 0, fd;

	if (argc < 3) {
		fprintf(stderr, "usage: objstore_tool put|putbuf|putmany|get|getbuf|exists|del|list ...\n");
		return 64;
	}
	cmd = argv[1];
	os = objstore_open_s3(&cfg, &err);
	if (!os) {
		fprintf(stderr, "objstore_tool: %s (errno %d)\n", err.msg, err.sys_errno);
		return 1;
	}
	if (strcmp(cmd, "put") == 0 && argc == 4) {
		fd = open(argv[3], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(argv[3]);
			return 1;
		}
		r = os->ops->put_fd(os, argv[2], fd, &err);
		close(fd);
	} else if (strcmp(cmd, "putbuf") == 0 && argc == 4) {
		r = os->ops->put_buf(os, argv[2], argv[3], strlen(argv[3]), &err);
	} else if (strcmp(cmd, "putmany") == 0 && argc == 4) {
		long n = atol(argv[3]);
		char key[512];

		for (long i = 0; i < n && r == 0; i++) {
			snprintf(key, sizeof(key), "%s%05ld", argv[2], i);
			r = os->ops->put_buf(os, key, key, strlen(key), &err);
		}
	} else if (strcmp(cmd, "get") == 0 && argc == 4) {
		fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(argv[3]);
			return 1;
		}
		r = os->ops->get_fd(os, argv[2], fd, &err);
		close(fd);
	} else if (strcmp(cmd, "getbuf") == 0 && argc == 4) {
		char *buf = NULL;
		size_t len = 0;

		r = os->ops->get_buf(os, argv[2], (size_t)atol(argv[3]), &buf, &len, &err);
		if (r == 0) {
			if (strlen(buf) != len)
				fprintf(stderr, "objstore_tool: get_buf length %zu != strlen\n", len);
			fwrite(buf, 1, len, stdout);
			free(buf);
		}
	} else if (strcmp(cmd, "exists") == 0 && argc == 3) {
		r = os->ops->exists(os, argv[2], &err);
		if (r >= 0) {
			printf("%d\n", r);
			r = 0;
		}
	} else if (strcmp(cmd, "del") == 0 && argc == 3) {
		r = os->ops->del(os, argv[2], &err);
	} else if (strcmp(cmd, "list") == 0 && argc == 3) {
		r = os->ops->list(os, argv[2], print_key, NULL, &err);
#ifdef WITH_SNAPSHOT
	} else if (strcmp(cmd, "sync") == 0 && argc == 6) {
		char parent[65], hash[65];
		int h = snapshot_head_get(os, argv[4], argv[5], parent, &err);

		if (h < 0 && h != -ENOENT) {
			r = h;
		} else {
			r = snapshot_sync(os, argv[2], argv[3], h == 0 ? parent : NULL, hash, NULL,
					  &err);
			if (r == 0)
				r = snapshot_head_set(os, argv[4], argv[5], hash, &err);
			if (r == 0)
				printf("%s\n", hash);
		}
	} else if (strcmp(cmd, "restore") == 0 && argc == 6) {
		char hash[65];

		r = snapshot_head_get(os, argv[2], argv[3], hash, &err);
		if (r == 0)
			r = snapshot_restore(os, argv[4], hash, argv[5], SNAPSHOT_RESTORE_COPY, NULL,
					     &err);
#endif
	} else {
		fprintf(stderr, "objstore_tool: bad command\n");
		r = -EINVAL;
		err.sys_errno = EINVAL;
		snprintf(err.msg, sizeof(err.msg), "usage");
	}
	os->ops->free(os);
	report_rss();
	if (r < 0) {
		fprintf(stderr, "objstore_tool: %s (errno %d)\n", err.msg, -r);
		return r == -ENOENT ? 2 : 1;
	}
	return 0;
}
