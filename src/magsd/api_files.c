/*
 * api_files.c - POST /mags-files (multipart upload, streamed to disk by
 * files.c). Answers {"file_ids": [...]} and, for a single file, also
 * {"file_id": ...}.
 */
#include "magsd/api.h"
#include "magsd/files.h"
#include "common/banned.h"

int api_files_stream(struct http_req *req, const char *data, size_t n)
{
	return files_stream(req, data, n);
}

void api_files_upload(struct http_req *req)
{
	files_finish(req);
}
