/*
 * files.c - uploads (see files.h).
 */
#include "magsd/files.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/http.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "common/banned.h"

#define DISCARD_MAX ((uint64_t)16 * 1024 * 1024)

struct upfile {
	char id[64];
	char name[FILES_NAME_MAX + 1];
	char *dir;
	int fd;
	uint64_t size;
};

struct upload {
	struct http_req *req;
	struct MHD_PostProcessor *pp;
	int bad_type;
	int too_large;
	char too_large_name[FILES_NAME_MAX + 1];
	int io_error;
	char io_msg[256];
	int too_many;
	uint64_t discarded;
	struct upfile files[FILES_PER_REQUEST_MAX];
	int n;
	int cur;                     /* index of the part being written, -1 none */
};

void files_sanitize_name(const char *in, char *out)
{
	const char *base = in;
	size_t n = 0;

	for (const char *p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	for (const char *p = base; *p && n < FILES_NAME_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		out[n++] = (c < 0x20 || c == 0x7f || c == ':') ? '_' : (char)c;
	}
	/* do not end inside a UTF-8 sequence */
	if (n == FILES_NAME_MAX) {
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0 && ((unsigned char)out[k - 1] & 0x80))
			n = k - 1;
	}
	out[n] = '\0';
	if (!n || !strcmp(out, ".") || !strcmp(out, ".."))
		snprintf(out, FILES_NAME_MAX + 1, "upload");
}

static void file_close(struct upfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static void upload_free(void *ctx)
{
	struct upload *u = ctx;

	if (!u)
		return;
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	for (int i = 0; i < u->n; i++) {
		file_close(&u->files[i]);
		/* not committed (the request failed or was cut): leave nothing */
		if (u->files[i].dir)
			(void)rm_rf(u->files[i].dir);
		free(u->files[i].dir);
	}
	free(u);
}

static int file_start(struct upload *u, const char *filename)
{
	struct server *srv = u->req->srv;
	struct upfile *f;
	char hex[25];
	int r;

	if (u->n == FILES_PER_REQUEST_MAX) {
		u->too_many = 1;
		u->cur = -1;
		return 0;
	}
	f = &u->files[u->n];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	random_hex(hex, 12);
	snprintf(f->id, sizeof(f->id), "file_%s", hex);
	files_sanitize_name(filename, f->name);
	f->dir = xasprintf("%s/files/%s/%s", srv->cfg->data_dir, u->req->ident.user_id, f->id);
	u->n++;
	u->cur = u->n - 1;
	if ((r = mkdir_p(f->dir, 0700)) < 0) {
		u->io_error = 1;
		snprintf(u->io_msg, sizeof(u->io_msg), "create upload directory: %s", strerror(-r));
		return -1;
	}
	_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, f->name);
	f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f->fd < 0) {
		u->io_error = 1;
		snprintf(u->io_msg, sizeof(u->io_msg), "create upload: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data,
			       uint64_t off, size_t size)
{
	struct upload *u = cls;
	struct upfile *f;
	int r;

	(void)kind;
	(void)key;
	(void)content_type;
	(void)transfer_encoding;
	if (!filename)
		return MHD_YES;   /* plain form fields are ignored */
	if (u->io_error)
		return MHD_YES;
	if (off == 0 && (u->cur < 0 || u->files[u->cur].size > 0 ||
			 strcmp(u->files[u->cur].name, "") == 0)) {
		if (u->cur >= 0)
			file_close(&u->files[u->cur]);
		if (file_start(u, filename) < 0)
			return MHD_YES;
	}
	if (u->cur < 0 || !size)
		return MHD_YES;
	f = &u->files[u->cur];
	if (f->size + size > (uint64_t)u->req->srv->cfg->upload_max) {
		if (!u->too_large)
			snprintf(u->too_large_name, sizeof(u->too_large_name), "%s", f->name);
		u->too_large = 1;
		/* remove the partial file now: nothing of it stays on disk */
		file_close(f);
		(void)rm_rf(f->dir);
		f->size += size;
		u->discarded += size;
		return MHD_YES;
	}
	if (f->fd < 0) {
		f->size += size;
		return MHD_YES;
	}
	if ((r = write_full(f->fd, data, size)) < 0) {
		u->io_error = 1;
		snprintf(u->io_msg, sizeof(u->io_msg), "write upload '%s': %s", f->name, strerror(-r));
		file_close(f);
		return MHD_YES;
	}
	f->size += size;
	return MHD_YES;
}

int files_stream(struct http_req *req, const char *data, size_t n)
{
	struct upload *u = req->ctx;

	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->req = req;
		u->cur = -1;
		req->ctx = u;
		req->ctx_free = upload_free;
		u->pp = MHD_create_post_processor(req->conn, 64 * 1024, on_part, u);
		if (!u->pp)
			u->bad_type = 1;
	}
	if (u->bad_type || u->too_many) {
		u->discarded += n;
		return u->discarded > DISCARD_MAX ? -1 : 0;
	}
	if (MHD_post_process(u->pp, data, n) != MHD_YES)
		u->bad_type = 1;
	/* far past the limit: stop reading a body we will refuse anyway */
	if (u->too_large && u->discarded > DISCARD_MAX) {
		log_warn("upload: a file far over the limit, closing the connection");
		return -1;
	}
	return 0;
}

void files_finish(struct http_req *req)
{
	struct server *srv = req->srv;
	struct upload *u = req->ctx;
	struct mags_err err;
	json_t *ids;

	if (!u) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "expected a multipart/form-data body with a 'file' field");
		return;
	}
	if (u->pp) {
		MHD_destroy_post_processor(u->pp);
		u->pp = NULL;
	}
	if (u->cur >= 0)
		file_close(&u->files[u->cur]);
	if (u->too_large) {
		http_reply_errorf(req, MAGS_E_TOO_LARGE, "file '%s' is larger than %lld bytes",
				  u->too_large_name, (long long)srv->cfg->upload_max);
		return;  /* upload_free removes every file of the request */
	}
	if (u->io_error) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "%s", u->io_msg);
		return;
	}
	if (u->too_many) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "at most %d files per request",
				  FILES_PER_REQUEST_MAX);
		return;
	}
	if (u->bad_type || u->n == 0) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "expected a multipart/form-data body with a 'file' field");
		return;
	}
	ids = json_array();
	for (int i = 0; i < u->n; i++) {
		struct upfile *f = &u->files[i];
		struct store_file sf;

		memset(&sf, 0, sizeof(sf));
		snprintf(sf.id, sizeof(sf.id), "%s", f->id);
		snprintf(sf.user_id, sizeof(sf.user_id), "%s", req->ident.user_id);
		snprintf(sf.name, sizeof(sf.name), "%s", f->name);
		sf.size = (int64_t)f->size;
		sf.created_at = sf.last_used_at = time_now_ms();
		if (store_file_add(srv->store, &sf, &err) < 0) {
			json_decref(ids);
			http_reply_error(req, &err);
			return;
		}
		json_array_append_new(ids, json_string(f->id));
		/* committed: keep it */
		free(f->dir);
		f->dir = NULL;
		log_info("file %s '%s' (%llu bytes) uploaded by '%s'", f->id, f->name,
			 (unsigned long long)f->size, req->ident.user_name);
	}
	json_t *o = json_pack("{s:o}", "file_ids", ids);
	if (json_array_size(ids) == 1)
		json_object_set(o, "file_id", json_array_get(ids, 0));
	http_reply_json(req, 200, o);
}

static void expire_one(const struct store_file *f, void *arg)
{
	struct server *srv = arg;
	_cleanup_free_ char *dir = xasprintf("%s/files/%s/%s", srv->cfg->data_dir,
					     f->user_id, f->id);

	(void)rm_rf(dir);
	log_info("file %s expired", f->id);
}

void files_expire(struct server *srv)
{
	(void)store_file_expire(srv->store, time_now_ms() - (int64_t)srv->cfg->file_ttl * 1000,
				expire_one, srv);
}
