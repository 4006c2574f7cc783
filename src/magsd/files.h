/*
 * files.h - uploaded files (POST /mags-files, DECISIONS D3): a
 * multipart/form-data body is parsed as it arrives (libmicrohttpd's post
 * processor) and each file part is written straight to
 * DATA_DIR/files/<user_id>/<file_id>/<name>, never held whole in memory.
 * A file over upload_max bytes makes the request 413 and every file of it
 * is removed. Files belong to their uploader, are placed in a job's /root
 * and /uploads by file_ids, and expire file_ttl after their last use.
 */
#ifndef MAGS_MAGSD_FILES_H
#define MAGS_MAGSD_FILES_H

#include <stddef.h>

struct server;
struct http_req;

#define FILES_NAME_MAX 255
#define FILES_PER_REQUEST_MAX 64

/* The name a client gave, made safe as one path component: its last
 * component (after '/' or '\'), control characters and ':' replaced by '_',
 * at most FILES_NAME_MAX bytes (cut at a UTF-8 boundary); "", "." and ".."
 * become "upload". out has FILES_NAME_MAX + 1 bytes. */
void files_sanitize_name(const char *in, char *out);

/* A chunk of the request body (api_files_stream). 0, or < 0 to hang up. */
int files_stream(struct http_req *req, const char *data, size_t n);

/* The body is complete: store the files and answer. */
void files_finish(struct http_req *req);

/* Remove files unused for file_ttl. */
void files_expire(struct server *srv);

#endif
