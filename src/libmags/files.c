/*
 * files.c - mags_file_upload: one local file to POST /mags-files as
 * multipart/form-data, streamed from disk through multipart.c (a 100 MiB
 * file is never held in memory), answered with the file's id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "libmags/client.h"
#include "libmags/multipart.h"
#include "mags/mags.h"
#include "common/banned.h"

/* The id in an upload answer: {"file_id"}, {"id"}, or the first of
 * {"file_ids": ["..."]} / {"file_ids": [{"file_id"}]}. */
static const char *answer_id(json_t *o)
{
	json_t *v = json_object_get(o, "file_id");

	if (!json_is_string(v))
		v = json_object_get(o, "id");
	if (!json_is_string(v)) {
		v = json_array_get(json_object_get(o, "file_ids"), 0);
		if (json_is_object(v)) {
			json_t *w = json_object_get(v, "file_id");

			v = json_is_string(w) ? w : json_object_get(v, "id");
		}
	}
	return json_is_string(v) && json_string_length(v) > 0 ?
	       json_string_value(v) : NULL;
}

int mags_file_upload(struct mags_client *c, const char *path, char **file_id,
		     json_t **out, struct mags_err *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *ctype = NULL;
	struct multipart m;
	struct http_req req = { 0 };
	struct http_resp resp;
	struct stat st;
	json_t *o = NULL;
	const char *id;
	int r;

	*file_id = NULL;
	if (out)
		*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "open '%s'", path);
	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "stat '%s'", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s' is not a regular file", path);
	if ((unsigned long long)st.st_size > MAGS_UPLOAD_MAX)
		return err_set(err, MAGS_E_TOO_LARGE, EFBIG,
			       "'%s' is larger than the upload limit of %llu MiB",
			       path, MAGS_UPLOAD_MAX >> 20);
	multipart_init(&m, "file", path, fd, (uint64_t)st.st_size, NULL);
	ctype = multipart_content_type(&m);
	req.content_type = ctype;
	req.body_read = multipart_read;
	req.body_arg = &m;
	req.body_len = (size_t)multipart_length(&m);
	r = client_send_req(c, "POST", "/mags-files", &req, NULL, NULL, &resp, err);
	r = client_json_result(&resp, r, &o, err);
	http_resp_release(&resp);
	multipart_release(&m);
	if (r == 0 && !(json_is_object(o) && (id = answer_id(o)))) {
		r = err_set(err, MAGS_E_INTERNAL, EPROTO,
			    "server took the upload but sent no file_id");
	} else if (r == 0) {
		*file_id = xstrdup(id);
	}
	if (r < 0)
		err_wrap(err, "upload '%s'", path);
	if (out && r == 0)
		*out = o;
	else
		json_decref(o);
	return r;
}
