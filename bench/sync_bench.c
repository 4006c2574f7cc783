/*
 * sync_bench.c - workspace snapshot benchmark (bench/sync_bench.sh builds and
 * runs it). On a generated workspace of 10,000 files / 200 MB in a scratch
 * directory, with the directory object store, it times in one run:
 *
 *   first sync           empty store, no sync state
 *   no-change sync       nothing changed since the last sync
 *   one-file sync        one 20 KB file rewritten
 *   restore, cold cache  empty local blob cache (download + verify + link)
 *   restore, warm cache  every blob cached: hard links only
 *   restore, warm, copy  SNAPSHOT_RESTORE_COPY (a writable upper)
 *   tar | zstd           tar -c of the same tree piped to zstd -3
 *   zstd -d | tar -x     and back
 *
 * and prints median and p99 (of few runs: the max) per case; the page cache
 * is warm throughout (dropping it would disturb the whole host).
 *
 *   sync_bench SCRATCH_DIR [runs] [json_out]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/objstore.h"
#include "magsd/snapshot.h"

#define NDIRS 100
#define PER_DIR 100
#define SMALL 10240        /* 9,900 files of ~10 KB = ~100 MB */
#define LARGE (1 << 20)    /* 100 files of 1 MB = 100 MB */

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Half random, half text: compresses about 2:1 like typical workspaces. */
static void fill(char *b, size_t n)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog; int main(void) { return 0; }\n";
	size_t i = 0;
	while (i < n) {
		if (next() & 1) {
			for (size_t k = 0; k < 64 && i < n; k++, i++)
				b[i] = (char)next();
		} else {
			for (size_t k = 0; k < sizeof(text) - 1 && i < n; k++, i++)
				b[i] = text[k];
		}
	}
}

static void write_path(const char *p, const char *b, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_full(fd, b, n) < 0) {
		perror(p);
		exit(1);
	}
	close(fd);
}

static uint64_t make_tree(const char *upper)
{
	char *b = xmalloc(LARGE);
	uint64_t total = 0;

	mkdir_p(upper, 0755);
	for (int d = 0; d < NDIRS; d++) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/d%03d", upper, d);
		mkdir(dir, 0755);
		for (int f = 0; f < PER_DIR; f++) {
			char p[600];
			size_t n = f == 0 ? LARGE : SMALL + (next() % 2048) - 1024;
			snprintf(p, sizeof(p), "%s/f%03d.dat", dir, f);
			fill(b, n);
			write_path(p, b, n);
			total += n;
		}
	}
	free(b);
	return total;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	const char *name;
	double v[64];
	int n;
	uint64_t bytes; /* for throughput */
};

static struct result results[16];
static int nresults;

static struct result *res(const char *name, uint64_t bytes)
{
	struct result *r = &results[nresults++];
	r->name = name;
	r->bytes = bytes;
	return r;
}

static void report(FILE *json)
{
	printf("\n%-24s %10s %10s %12s\n", "case", "median ms", "p99 ms", "median MB/s");
	if (json)
		fprintf(json, "{\"cases\": [");
	for (int i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		qsort(r->v, (size_t)r->n, sizeof(double), dcmp);
		double med = r->n % 2 ? r->v[r->n / 2] : (r->v[r->n / 2 - 1] + r->v[r->n / 2]) / 2;
		int k = (int)(0.99 * (r->n - 1) + 0.999);
		double p99 = r->v[k < r->n ? k : r->n - 1];
		double mbs = r->bytes ? r->bytes / 1e6 / (med / 1e3) : 0;
		if (r->bytes)
			printf("%-24s %10.1f %10.1f %12.0f\n", r->name, med, p99, mbs);
		else
			printf("%-24s %10.1f %10.1f %12s\n", r->name, med, p99, "-");
		if (json)
			fprintf(json, "%s{\"case\": \"%s\", \"runs\": %d, \"median_ms\": %.2f, \"p99_ms\": %.2f, \"mb_per_s\": %.0f}",
				i ? ", " : "", r->name, r->n, med, p99, mbs);
	}
	if (json)
		fprintf(json, "]}\n");
}

static void die(const char *what, struct mags_err *err)
{
	fprintf(stderr, "sync_bench: %s: %s\n", what, err->msg);
	exit(1);
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "sync_bench: failed: %s\n", cmd);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct mags_err err;
	struct snapshot_stats st;
	char head[65], h[65];
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	FILE *json = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: sync_bench SCRATCH_DIR [runs] [json_out]\n");
		return 2;
	}
	if (runs < 1 || runs > 20)
		runs = 5;
	const char *dir = argv[1];
	char *upper = xasprintf("%s/upper", dir), *store = xasprintf("%s/store", dir);
	char *state = xasprintf("%s/sync-state", dir), *cache = xasprintf("%s/cache", dir);
	char *dest = xasprintf("%s/restore", dir), *cmd;

	printf("generating %d files in %s ...\n", NDIRS * PER_DIR, upper);
	uint64_t total = make_tree(upper);
	printf("workspace: %d files, %.1f MB\n", NDIRS * PER_DIR, total / 1e6);

	/* first sync: empty store, no state */
	struct result *r = res("first sync", total);
	for (int i = 0; i < runs; i++) {
		rm_rf(store);
		unlink(state);
		struct objstore *os = objstore_open_dir(store, &err);
		double t = now_ms();
		if (snapshot_sync(os, upper, state, NULL, head, &st, &err) < 0)
			die("first sync", &err);
		objstore_free(os); /* includes the syncfs of the blobs */
		r->v[r->n++] = now_ms() - t;
	}
	printf("first sync: %" PRIu64 " blobs, %.1f MB compressed\n", st.blobs_uploaded,
	       st.bytes_uploaded / 1e6);

	struct objstore *os = objstore_open_dir(store, &err);
	if (snapshot_head_set(os, "usr_bench", "ws", head, &err) < 0)
		die("head", &err);

	r = res("no-change sync", 0);
	for (int i = 0; i < runs * 4; i++) {
		double t = now_ms();
		if (snapshot_sync(os, upper, state, head, h, &st, &err) < 0)
			die("no-change sync", &err);
		r->v[r->n++] = now_ms() - t;
		if (strcmp(h, head) || st.bytes_read)
			fprintf(stderr, "sync_bench: no-change sync read %" PRIu64 " bytes\n", st.bytes_read);
	}

	r = res("one-file sync", 0);
	char *b = xmalloc(SMALL);
	for (int i = 0; i < runs * 4; i++) {
		char p[600];
		snprintf(p, sizeof(p), "%s/d%03d/f%03d.dat", upper, (i * 7) % NDIRS, 1 + i % (PER_DIR - 1));
		fill(b, SMALL);
		write_path(p, b, SMALL);
		double t = now_ms();
		if (snapshot_sync(os, upper, state, head, h, &st, &err) < 0 ||
		    snapshot_head_set(os, "usr_bench", "ws", h, &err) < 0)
			die("one-file sync", &err);
		r->v[r->n++] = now_ms() - t;
		memcpy(head, h, 65);
		if (st.blobs_uploaded != 1)
			fprintf(stderr, "sync_bench: one-file sync uploaded %" PRIu64 " blobs\n", st.blobs_uploaded);
	}
	free(b);

	r = res("restore, cold cache", total);
	for (int i = 0; i < runs; i++) {
		rm_rf(cache);
		rm_rf(dest);
		double t = now_ms();
		if (snapshot_restore(os, cache, head, dest, 0, &st, &err) < 0)
			die("restore", &err);
		r->v[r->n++] = now_ms() - t;
	}
	r = res("restore, warm cache", total);
	for (int i = 0; i < runs; i++) {
		rm_rf(dest);
		double t = now_ms();
		if (snapshot_restore(os, cache, head, dest, 0, &st, &err) < 0)
			die("restore", &err);
		r->v[r->n++] = now_ms() - t;
		if (st.blobs_fetched)
			fprintf(stderr, "sync_bench: warm restore fetched %" PRIu64 " blobs\n", st.blobs_fetched);
	}
	r = res("restore, warm, copy", total);
	for (int i = 0; i < runs; i++) {
		rm_rf(dest);
		double t = now_ms();
		if (snapshot_restore(os, cache, head, dest, SNAPSHOT_RESTORE_COPY, &st, &err) < 0)
			die("restore", &err);
		r->v[r->n++] = now_ms() - t;
	}
	objstore_free(os);

	/* the same tree through tar and zstd, in the same run */
	r = res("tar | zstd -3", total);
	cmd = xasprintf("tar -C '%s' -cf - . | zstd -q -3 -T1 -o '%s/ws.tar.zst' -f", upper, dir);
	for (int i = 0; i < runs; i++) {
		double t = now_ms();
		sh(cmd);
		r->v[r->n++] = now_ms() - t;
	}
	free(cmd);
	struct stat sb;
	cmd = xasprintf("%s/ws.tar.zst", dir);
	if (stat(cmd, &sb) == 0)
		printf("tar | zstd -3: %.1f MB compressed\n", sb.st_size / 1e6);
	free(cmd);
	r = res("zstd -d | tar -x", total);
	cmd = xasprintf("mkdir -p '%s' && zstd -q -dc '%s/ws.tar.zst' | tar -C '%s' -xf -", dest, dir, dest);
	for (int i = 0; i < runs; i++) {
		rm_rf(dest);
		double t = now_ms();
		sh(cmd);
		r->v[r->n++] = now_ms() - t;
	}
	free(cmd);

	if (argc > 3 && !(json = fopen(argv[3], "w")))
		perror(argv[3]);
	report(json);
	if (json)
		fclose(json);
	return 0;
}
