/*
 * manifest.c - encode and decode snapshot manifests (format in manifest.h).
 *
 * The format is line-oriented text rather than JSON because a workspace
 * tree holds arbitrary bytes in names (newlines, invalid UTF-8): one escape
 * rule with a single canonical spelling keeps the bytes deterministic and
 * the decoder small enough to check every byte of hostile input.
 */
#include "magsd/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/util.h"
#include "common/banned.h"

void manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->root.type = MANIFEST_DIR;
	m->root.path = xstrdup("");
}

static void entry_release(struct manifest_entry *e)
{
	free(e->path);
	free(e->target);
	e->path = e->target = NULL;
}

void manifest_release(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_release(&m->entries[i]);
	entry_release(&m->root);
	free(m->entries);
	m->entries = NULL;
	m->n = m->cap = 0;
}

struct manifest_entry *manifest_add(struct manifest *m, const char *path, size_t len, char type)
{
	struct manifest_entry *e;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->entries = xrealloc(m->entries, m->cap * sizeof(*m->entries));
	}
	e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrndup(path, len);
	e->path_len = len;
	e->type = type;
	return e;
}

static int pathcmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct manifest_entry *a = x, *b = y;
	return pathcmp(a->path, a->path_len, b->path, b->path_len);
}

void manifest_sort(struct manifest *m)
{
	qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
}

static ssize_t find_in(const struct manifest_entry *v, size_t n, const char *p, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = pathcmp(v[mid].path, v[mid].path_len, p, len);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

ssize_t manifest_find(const struct manifest *m, const char *path, size_t len)
{
	return find_in(m->entries, m->n, path, len);
}

/* ---- escaping ---- */

static int raw_byte(unsigned char c)
{
	return c >= '!' && c <= '~' && c != '%';
}

char *manifest_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = xmalloc(len * 3 + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (raw_byte(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *manifest_unescape(const char *s, size_t len, size_t *out_len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= len)
				goto bad;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				goto bad;
			c = (unsigned char)(h << 4 | l);
			if (c == 0 || raw_byte(c))
				goto bad; /* NUL, or a byte that has a shorter spelling */
			*o++ = (char)c;
			i += 2;
		} else if (raw_byte(c)) {
			*o++ = (char)c;
		} else {
			goto bad;
		}
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
bad:
	free(out);
	return NULL;
}

int manifest_path_valid(const char *p, size_t len)
{
	size_t depth = 0, start = 0;

	if (len == 0 || len > MANIFEST_MAX_PATH)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] == '\0')
			return 0;
		if (i < len && p[i] != '/')
			continue;
		size_t n = i - start;
		if (n == 0 || n > MANIFEST_MAX_NAME)
			return 0;
		if ((n == 1 && p[start] == '.') || (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return 0;
		if (++depth > MANIFEST_MAX_DEPTH)
			return 0;
		start = i + 1;
	}
	return 1;
}

/* ---- encoding ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_need(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	while (b->len + n + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 65536;
	b->p = xrealloc(b->p, b->cap);
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_need(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_need(b, 128);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= b->cap - b->len) {
		buf_need(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void buf_escaped(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	buf_need(b, len * 3);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (raw_byte(c)) {
			b->p[b->len++] = (char)c;
		} else {
			b->p[b->len++] = '%';
			b->p[b->len++] = hex[c >> 4];
			b->p[b->len++] = hex[c & 15];
		}
	}
	b->p[b->len] = '\0';
}

static void buf_attrs(struct buf *b, const struct manifest_entry *e)
{
	buf_printf(b, " %04o %" PRIu32 " %" PRIu32 " %" PRId64, e->mode & 07777, e->uid, e->gid,
		   e->mtime_ns);
}

int manifest_encode(const struct manifest *m, char **out, size_t *len, size_t *body_off,
		    struct mags_err *err)
{
	struct buf b = {0};
	size_t off;

	buf_printf(&b, "mags-manifest 1\nparent %s\ncreated %" PRId64 "\n",
		   m->parent[0] ? m->parent : "-", m->created_ms);
	off = b.len;
	buf_add(&b, "root", 4);
	buf_attrs(&b, &m->root);
	buf_printf(&b, " %c\n", m->root.opaque ? 'o' : '-');
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		buf_add(&b, &e->type, 1);
		switch (e->type) {
		case MANIFEST_FILE:
			buf_attrs(&b, e);
			buf_printf(&b, " %" PRIu64 " %s", e->size, e->hash);
			break;
		case MANIFEST_DIR:
			buf_attrs(&b, e);
			buf_printf(&b, " %c", e->opaque ? 'o' : '-');
			break;
		case MANIFEST_SYMLINK:
			buf_attrs(&b, e);
			buf_add(&b, " ", 1);
			buf_escaped(&b, e->target ? e->target : "", e->target_len);
			break;
		case MANIFEST_HARDLINK:
			buf_add(&b, " ", 1);
			buf_escaped(&b, e->target ? e->target : "", e->target_len);
			break;
		case MANIFEST_CHR:
		case MANIFEST_BLK:
			buf_attrs(&b, e);
			buf_printf(&b, " %" PRIu32 ":%" PRIu32, e->rdev_major, e->rdev_minor);
			break;
		case MANIFEST_FIFO:
			buf_attrs(&b, e);
			break;
		default:
			break; /* caught by the check below */
		}
		buf_add(&b, " ", 1);
		buf_escaped(&b, e->path, e->path_len);
		buf_add(&b, "\n", 1);
	}
	buf_printf(&b, "end %zu\n", m->n);
	*out = b.p;
	*len = b.len;
	if (body_off)
		*body_off = off;
	return 0;
}

/* ---- decoding ---- */

struct fields {
	const char *f[10];
	size_t l[10];
	size_t n;
};

static int split(const char *s, size_t len, struct fields *fs)
{
	size_t start = 0;

	fs->n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (fs->n == 10 || i == start)
			return -1; /* too many fields, or an empty one (double space) */
		fs->f[fs->n] = s + start;
		fs->l[fs->n] = i - start;
		fs->n++;
		start = i + 1;
	}
	return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
	uint64_t v;

	if (len > 0 && s[0] == '-') {
		if (parse_u64(s + 1, len - 1, (uint64_t)INT64_MAX + 1, &v) < 0 || v == 0)
			return -1;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return 0;
	}
	if (parse_u64(s, len, INT64_MAX, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int is_hash(const char *s, size_t len)
{
	if (len != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (hexval(s[i]) < 0)
			return 0;
	return 1;
}

/* MODE UID GID MTIME at fs->f[i..i+3] */
static const char *parse_attrs(const struct fields *fs, size_t i, struct manifest_entry *e)
{
	uint64_t v;

	if (fs->l[i] != 4)
		return "mode is not 4 octal digits";
	e->mode = 0;
	for (size_t k = 0; k < 4; k++) {
		char c = fs->f[i][k];
		if (c < '0' || c > '7')
			return "mode is not 4 octal digits";
		e->mode = e->mode * 8 + (uint32_t)(c - '0');
	}
	if (parse_u64(fs->f[i + 1], fs->l[i + 1], MANIFEST_MAX_ID, &v) < 0)
		return "bad uid";
	e->uid = (uint32_t)v;
	if (parse_u64(fs->f[i + 2], fs->l[i + 2], MANIFEST_MAX_ID, &v) < 0)
		return "bad gid";
	e->gid = (uint32_t)v;
	if (parse_i64(fs->f[i + 3], fs->l[i + 3], &e->mtime_ns) < 0)
		return "bad mtime";
	return NULL;
}

static const char *parse_opaque(const char *s, size_t len, int *out)
{
	if (len == 1 && (s[0] == 'o' || s[0] == '-')) {
		*out = s[0] == 'o';
		return NULL;
	}
	return "opaque flag is not 'o' or '-'";
}

static const char *parse_rdev(const char *s, size_t len, struct manifest_entry *e)
{
	const char *colon = memchr(s, ':', len);
	uint64_t a, b;

	if (!colon || parse_u64(s, (size_t)(colon - s), UINT32_MAX, &a) < 0 ||
	    parse_u64(colon + 1, len - (size_t)(colon - s) - 1, UINT32_MAX, &b) < 0)
		return "bad device number";
	e->rdev_major = (uint32_t)a;
	e->rdev_minor = (uint32_t)b;
	return NULL;
}

/* Parse one entry line into e (path/target allocated). NULL or a reason. */
static const char *parse_entry(const char *s, size_t len, struct manifest_entry *e)
{
	struct fields fs;
	const char *why;
	size_t want;
	uint64_t v;

	if (len < 2 || s[1] != ' ' || split(s + 2, len - 2, &fs) < 0)
		return "malformed line";
	e->type = s[0];
	switch (e->type) {
	case MANIFEST_FILE: want = 7; break;
	case MANIFEST_DIR: want = 6; break;
	case MANIFEST_SYMLINK: want = 6; break;
	case MANIFEST_HARDLINK: want = 2; break;
	case MANIFEST_CHR: case MANIFEST_BLK: want = 6; break;
	case MANIFEST_FIFO: want = 5; break;
	default: return "unknown entry type";
	}
	if (fs.n != want)
		return "wrong number of fields";
	e->path = manifest_unescape(fs.f[want - 1], fs.l[want - 1], &e->path_len);
	if (!e->path)
		return "path is not canonically escaped";
	if (!manifest_path_valid(e->path, e->path_len))
		return "path is empty, absolute, too long or has an empty, '.' or '..' component";
	if (e->type != MANIFEST_HARDLINK && (why = parse_attrs(&fs, 0, e)))
		return why;
	switch (e->type) {
	case MANIFEST_FILE:
		if (parse_u64(fs.f[4], fs.l[4], MANIFEST_MAX_FILE, &v) < 0)
			return "bad or absurd file size";
		e->size = v;
		if (!is_hash(fs.f[5], fs.l[5]))
			return "bad blob hash";
		memcpy(e->hash, fs.f[5], 64);
		e->hash[64] = '\0';
		break;
	case MANIFEST_DIR:
		return parse_opaque(fs.f[4], fs.l[4], &e->opaque);
	case MANIFEST_SYMLINK:
		e->target = manifest_unescape(fs.f[4], fs.l[4], &e->target_len);
		if (!e->target || e->target_len == 0 || e->target_len > MANIFEST_MAX_PATH)
			return "bad symlink target";
		break;
	case MANIFEST_HARDLINK:
		e->target = manifest_unescape(fs.f[0], fs.l[0], &e->target_len);
		if (!e->target || !manifest_path_valid(e->target, e->target_len))
			return "bad hard link target";
		break;
	case MANIFEST_CHR:
	case MANIFEST_BLK:
		return parse_rdev(fs.f[4], fs.l[4], e);
	}
	return NULL;
}

static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*p >= end)
		return 0;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return 1;
}

int manifest_decode(const char *buf, size_t len, struct manifest *m, struct mags_err *err)
{
	const char *p = buf, *end = buf + len, *line;
	size_t ll, lineno = 0;
	struct fields fs;
	const char *why;
	uint64_t v;

	manifest_init(m);
	if (len > MANIFEST_MAX_BYTES)
		return err_set(err, MAGS_E_BAD_REQUEST, EBADMSG, "manifest: larger than %u bytes",
			       MANIFEST_MAX_BYTES);
#define BAD(...) do { \
		char why_[200]; \
		snprintf(why_, sizeof(why_), __VA_ARGS__); \
		return err_set(err, MAGS_E_BAD_REQUEST, EBADMSG, "manifest line %zu: %s", lineno, why_); \
	} while (0)
#define LINE() do { \
		lineno++; \
		if (next_line(&p, end, &line, &ll) <= 0) \
			BAD("missing or unterminated line"); \
	} while (0)

	LINE();
	if (ll != 15 || memcmp(line, "mags-manifest 1", 15))
		BAD("not a mags manifest (version 1)");
	LINE();
	if (ll == 8 && !memcmp(line, "parent -", 8)) {
		m->parent[0] = '\0';
	} else if (ll == 71 && !memcmp(line, "parent ", 7) && is_hash(line + 7, 64)) {
		memcpy(m->parent, line + 7, 64);
		m->parent[64] = '\0';
	} else {
		BAD("bad parent");
	}
	LINE();
	if (ll < 9 || memcmp(line, "created ", 8) || parse_i64(line + 8, ll - 8, &m->created_ms) < 0)
		BAD("bad created time");
	LINE();
	if (ll < 5 || memcmp(line, "root ", 5) || split(line + 5, ll - 5, &fs) < 0 || fs.n != 5)
		BAD("bad root line");
	if ((why = parse_attrs(&fs, 0, &m->root)) || (why = parse_opaque(fs.f[4], fs.l[4], &m->root.opaque)))
		BAD("root: %s", why);

	for (;;) {
		LINE();
		if (ll >= 4 && !memcmp(line, "end ", 4)) {
			if (parse_u64(line + 4, ll - 4, SIZE_MAX, &v) < 0 || v != m->n)
				BAD("entry count does not match");
			if (p != end)
				BAD("data after the end line");
			return 0;
		}
		if (m->n >= MANIFEST_MAX_ENTRIES)
			BAD("more than %u entries", MANIFEST_MAX_ENTRIES);
		struct manifest_entry *e = manifest_add(m, "", 0, 0);
		free(e->path);
		e->path = NULL;
		why = parse_entry(line, ll, e);
		if (why)
			BAD("%s", why);
		if (m->n > 1) {
			const struct manifest_entry *prev = &m->entries[m->n - 2];
			int c = pathcmp(prev->path, prev->path_len, e->path, e->path_len);
			if (c == 0)
				BAD("duplicate path");
			if (c > 0)
				BAD("entries not sorted by path");
		}
		const char *slash = memrchr(e->path, '/', e->path_len);
		if (slash) {
			ssize_t pi = find_in(m->entries, m->n - 1, e->path, (size_t)(slash - e->path));
			if (pi < 0 || m->entries[pi].type != MANIFEST_DIR)
				BAD("parent is not a directory listed before it");
		}
		if (e->type == MANIFEST_HARDLINK) {
			ssize_t ti = find_in(m->entries, m->n - 1, e->target, e->target_len);
			if (ti < 0 || m->entries[ti].type != MANIFEST_FILE)
				BAD("hard link target is not a regular file listed before it");
		}
	}
#undef LINE
#undef BAD
}
