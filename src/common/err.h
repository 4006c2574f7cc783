/*
 * err.h - a caller-owned, fixed-size error message.
 *
 * A fallible function returns a negative errno and, where a person must
 * understand the failure, also fills a struct mags_err passed last. The
 * message is written once where the failure happened and wrapped with
 * context on the way up:  err_wrap(err, "sandbox '%s'", id)  turns
 * "mount: Permission denied" into "sandbox 'x': mount: Permission denied".
 * Nothing to free; a NULL err is allowed everywhere.
 */
#ifndef MAGS_COMMON_ERR_H
#define MAGS_COMMON_ERR_H

#include <stddef.h>


/* Codes that the API edge maps to HTTP statuses through one table. */
enum mags_err_code {
	MAGS_E_OK = 0,
	MAGS_E_INTERNAL,    /* 500 */
	MAGS_E_BAD_REQUEST, /* 400 */
	MAGS_E_UNAUTHORIZED,/* 401 */
	MAGS_E_FORBIDDEN,   /* 403 */
	MAGS_E_NOT_FOUND,   /* 404 */
	MAGS_E_CONFLICT,    /* 409 */
	MAGS_E_TOO_LARGE,   /* 413 */
	MAGS_E_TOO_MANY,    /* 429 */
	MAGS_E_UNAVAILABLE, /* 503 */
};

/* Also defined, identically, by the public include/mags/mags.h. */
#ifndef MAGS_ERR_STRUCT_DEFINED
#define MAGS_ERR_STRUCT_DEFINED
#define MAGS_ERR_MSG_MAX 512
struct mags_err {
	int code;                  /* enum mags_err_code */
	int sys_errno;             /* errno at the failure, 0 if none */
	char msg[MAGS_ERR_MSG_MAX];
};
#endif

/* Set the message (printf-style). Returns -errno_val (or -EINVAL if 0) so
 * callers can write  return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "...");  */
int err_set(struct mags_err *err, int code, int errno_val, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Like err_set with ": strerror(errno_val)" appended; code MAGS_E_INTERNAL. */
int err_sys(struct mags_err *err, int errno_val, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context and ": ". Keeps code and errno. */
void err_wrap(struct mags_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_clear(struct mags_err *err);

/* HTTP status for a code, and the short code name used in JSON errors
 * ("bad_request", "not_found", ...). */
int err_http_status(int code);
const char *err_code_name(int code);

#endif
