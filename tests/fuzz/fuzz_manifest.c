/*
 * fuzz_manifest.c - libFuzzer target for the snapshot manifest decoder
 * (manifest_decode, src/magsd/manifest.h). A manifest comes from the
 * object store, which anyone with bucket access can edit, so the decoder
 * treats it as hostile. The format has exactly one spelling per tree, so
 * whatever decodes must encode back to the very same bytes, decode again,
 * and keep the promises manifest.h makes about paths, order and links.
 * The escaping is checked on the raw input too: unescape(escape(x)) == x.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/manifest.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_escape(const uint8_t *data, size_t size)
{
	size_t n = size < 512 ? size : 512, back_len;
	char *esc = manifest_escape((const char *)data, n);
	char *back;

	for (const char *p = esc; *p; p++)
		CHECK(*p > ' ' && *p <= '~');
	back = manifest_unescape(esc, strlen(esc), &back_len);
	if (memchr(data, '\0', n)) {
		CHECK(!back);
	} else {
		CHECK(back && back_len == n && !memcmp(back, data, n));
	}
	free(back);
	free(esc);
}

static void check_entries(const struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		CHECK(manifest_path_valid(e->path, e->path_len));
		CHECK(e->path[e->path_len] == '\0' && strlen(e->path) == e->path_len);
		CHECK(manifest_find(m, e->path, e->path_len) == (ssize_t)i);
		if (i > 0) {
			const struct manifest_entry *p = &m->entries[i - 1];
			size_t l = p->path_len < e->path_len ? p->path_len : e->path_len;
			int c = memcmp(p->path, e->path, l);
			CHECK(c < 0 || (c == 0 && p->path_len < e->path_len));
		}
		/* every parent is a directory listed before it */
		const char *slash = memrchr(e->path, '/', e->path_len);
		if (slash) {
			ssize_t pi = manifest_find(m, e->path, (size_t)(slash - e->path));
			CHECK(pi >= 0 && (size_t)pi < i && m->entries[pi].type == MANIFEST_DIR);
		}
		switch (e->type) {
		case MANIFEST_FILE:
			CHECK(e->size <= MANIFEST_MAX_FILE && strlen(e->hash) == 64);
			break;
		case MANIFEST_HARDLINK: {
			ssize_t t = manifest_find(m, e->target, e->target_len);
			CHECK(t >= 0 && (size_t)t < i && m->entries[t].type == MANIFEST_FILE);
			break;
		}
		case MANIFEST_SYMLINK:
			CHECK(e->target && e->target[e->target_len] == '\0');
			break;
		case MANIFEST_DIR: case MANIFEST_CHR: case MANIFEST_BLK: case MANIFEST_FIFO:
			break;
		default:
			abort();
		}
		if (e->type != MANIFEST_HARDLINK)
			CHECK(e->mode <= 07777 && e->uid <= MANIFEST_MAX_ID &&
			      e->gid <= MANIFEST_MAX_ID);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, m2;
	struct mags_err err;
	char *out = NULL;
	size_t out_len = 0, body_off = 0;

	check_escape(data, size);
	err_clear(&err);
	if (manifest_decode((const char *)data, size, &m, &err) < 0) {
		CHECK(err.msg[0]);
		manifest_release(&m);
		return 0;
	}
	check_entries(&m);
	/* one spelling: what decoded encodes back to the same bytes */
	CHECK(manifest_encode(&m, &out, &out_len, &body_off, &err) == 0);
	CHECK(out_len == size && !memcmp(out, data, size));
	CHECK(body_off < out_len && !memcmp(out + body_off, "root ", 5));
	err_clear(&err);
	CHECK(manifest_decode(out, out_len, &m2, &err) == 0);
	CHECK(m2.n == m.n && !strcmp(m2.parent, m.parent) && m2.created_ms == m.created_ms);
	manifest_release(&m2);
	free(out);
	manifest_release(&m);
	return 0;
}
