/*
 * err.c - fixed-size error messages with context wrapping (see err.h).
 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int vset(struct mags_err *err, int code, int errno_val, const char *fmt,
		va_list ap)
{
	if (err) {
		err->code = code;
		err->sys_errno = errno_val;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return errno_val > 0 ? -errno_val : -EINVAL;
}

int err_set(struct mags_err *err, int code, int errno_val, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vset(err, code, errno_val, fmt, ap);
	va_end(ap);
	return r;
}

int err_sys(struct mags_err *err, int errno_val, const char *fmt, ...)
{
	va_list ap;
	int r;
	size_t n;

	va_start(ap, fmt);
	r = vset(err, MAGS_E_INTERNAL, errno_val, fmt, ap);
	va_end(ap);
	if (err) {
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
			 strerror(errno_val > 0 ? errno_val : EINVAL));
	}
	return r;
}

void err_wrap(struct mags_err *err, const char *fmt, ...)
{
	char prefix[MAGS_ERR_MSG_MAX / 2];
	char old[MAGS_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	int n = snprintf(err->msg, sizeof(err->msg), "%s: ", prefix);
	if (n > 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, "%.*s", (int)(sizeof(err->msg) - (size_t)n - 1), old);
}

void err_clear(struct mags_err *err)
{
	if (err) {
		err->code = MAGS_E_OK;
		err->sys_errno = 0;
		err->msg[0] = '\0';
	}
}

static const struct {
	int code;
	int status;
	const char *name;
} err_table[] = {
	{ MAGS_E_OK, 200, "ok" },
	{ MAGS_E_INTERNAL, 500, "internal" },
	{ MAGS_E_BAD_REQUEST, 400, "bad_request" },
	{ MAGS_E_UNAUTHORIZED, 401, "unauthorized" },
	{ MAGS_E_FORBIDDEN, 403, "forbidden" },
	{ MAGS_E_NOT_FOUND, 404, "not_found" },
	{ MAGS_E_CONFLICT, 409, "conflict" },
	{ MAGS_E_TOO_LARGE, 413, "too_large" },
	{ MAGS_E_TOO_MANY, 429, "too_many_requests" },
	{ MAGS_E_UNAVAILABLE, 503, "unavailable" },
};

int err_http_status(int code)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return err_table[i].status;
	return 500;
}

const char *err_code_name(int code)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return err_table[i].name;
	return "internal";
}
