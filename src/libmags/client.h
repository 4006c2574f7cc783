/*
 * client.h - the inside of struct mags_client, shared by client.c (the
 * generic request) and jobs.c (the typed calls).
 */
#ifndef MAGS_LIBMAGS_CLIENT_H
#define MAGS_LIBMAGS_CLIENT_H

#include <signal.h>
#include <stdbool.h>

#include <jansson.h>

#include "libmags/http.h"
#include "libmags/url.h"

struct mags_err;

struct mags_client {
	struct url url;
	char *token;
	int last_status;
	int connect_ms;
	int read_ms;
	volatile sig_atomic_t *cancel;
};

/*
 * Send METHOD /api/v1<path> (body: JSON text or NULL). With cb set, a 2xx
 * body streams to cb and no idle timeout applies. resp is initialised here
 * and released by the caller. Returns what http_do returns; records the
 * status in c->last_status.
 */
int client_send(struct mags_client *c, const char *method, const char *path,
		const char *body, http_body_cb cb, void *arg,
		struct http_resp *resp, struct mags_err *err);

/* The same with the body fields of *body (body or body_read, their
 * length, content_type, accept); the rest of *body is ignored. */
int client_send_req(struct mags_client *c, const char *method,
		    const char *path, const struct http_req *body,
		    http_body_cb cb, void *arg, struct http_resp *resp,
		    struct mags_err *err);

/* Turn a buffered response (r: what client_send returned) into
 * mags_request's result: 0 with *out the JSON of a 2xx answer, -EPROTO
 * with the server's message for an error answer (then *out is its body, if
 * any), or r. Does not release resp. */
int client_json_result(struct http_resp *resp, int r, json_t **out,
		       struct mags_err *err);

/*
 * Fill err from an error response: the "error" string of a JSON body
 * {"error", "code"}, else a short description with the status. The code
 * follows the status (404 -> MAGS_E_NOT_FOUND, ...). Returns -EPROTO.
 */
int client_http_error(int status, const char *body, size_t len,
		      struct mags_err *err);

/*
 * METHOD path with body (may be NULL) whose 2xx answer must be a JSON
 * object (what names the call in the error when it is not), or, with
 * allow_empty, an empty body (then *out is an empty object). *out is NULL
 * on failure; out may be NULL.
 */
int client_call_object(struct mags_client *c, const char *method,
		       const char *path, json_t *body, bool allow_empty,
		       json_t **out, const char *what, struct mags_err *err);

/* Check a path parameter (an id or name): non-empty, at most 256 bytes.
 * what names it in the error ("job id"). */
int client_check_param(const char *s, const char *what, struct mags_err *err);

#endif
