/*
 * client.h - the inside of struct mags_client, shared by client.c (the
 * generic request) and jobs.c (the typed calls).
 */
#ifndef MAGS_LIBMAGS_CLIENT_H
#define MAGS_LIBMAGS_CLIENT_H

#include <signal.h>

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

/*
 * Fill err from an error response: the "error" string of a JSON body
 * {"error", "code"}, else a short description with the status. The code
 * follows the status (404 -> MAGS_E_NOT_FOUND, ...). Returns -EPROTO.
 */
int client_http_error(int status, const char *body, size_t len,
		      struct mags_err *err);

#endif
