/*
 * replay.c - a plain main() for a libFuzzer target, so the normal test run
 * (gcc, no libFuzzer) feeds it every file of its corpus: a crash or a
 * sanitizer report found once by `make fuzz` stays a test failure.
 *
 *     replay_<target> DIR_OR_FILE...
 *
 * Files in a directory run in name order. Exits 0 after all ran (the
 * target aborts on a violated invariant), 2 on a usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/banned.h"

#define REPLAY_MAX_INPUT (4 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "replay: open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf)
		abort();
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* an exact-size copy, so ASan sees reads past the end */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path, int *count)
{
	struct dirent **ents;
	struct stat st;
	int n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (run_file(path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	n = scandir(path, &ents, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "replay: read '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char child[4096];
		if (ents[i]->d_name[0] != '.' &&
		    (size_t)snprintf(child, sizeof(child), "%s/%s", path,
				     ents[i]->d_name) < sizeof(child) &&
		    stat(child, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(child) < 0)
				r = -1;
			else
				(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int main(int argc, char **argv)
{
	int count = 0, r = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) < 0)
			r = 2;
	printf("%s: %d input%s replayed\n", argv[0], count, count == 1 ? "" : "s");
	return r;
}
