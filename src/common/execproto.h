/*
 * execproto.h - the exec/control protocol of a sandbox's control socket,
 * spoken by magsd (and `mags-runtime exec`) on one side and the sandbox's
 * init on the other (docs/ARCHITECTURE.md, "Exec and control socket").
 *
 * A connection carries one request and its answer. Everything is a frame:
 *
 *   +------+----------------------+-----------------+
 *   | type | length (4 bytes, BE) | payload (length) |
 *   +------+----------------------+-----------------+
 *
 *   client -> init   'Q'  the request, a JSON object (one per connection):
 *                         {"op": "exec" (default) | "status" | "stop",
 *                          "command": "...",  "env": {"K": "V", ...},
 *                          "cwd": "/root", "timeout": seconds (0 = none),
 *                          "tty": false, "stdin": "text"}
 *   init -> client   'O'  stdout bytes      (exec, any number, in order)
 *                    'E'  stderr bytes      (exec)
 *                    'X'  exit, JSON {"exit_code": N, "timed_out": bool}
 *                         (exec, last frame)
 *                    'S'  a JSON answer to "status" / "stop" (last frame)
 *                    'R'  an error message, UTF-8 text (last frame): the
 *                         request was refused or the exec could not start
 *
 * Pure functions only (no I/O), so the same code is used and unit tested
 * on both sides. JSON through jansson.
 */
#ifndef MAGS_COMMON_EXECPROTO_H
#define MAGS_COMMON_EXECPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define EXECPROTO_HDR          5
#define EXECPROTO_REQUEST_MAX  (2u * 1024 * 1024)  /* 'Q' payload */
#define EXECPROTO_CHUNK_MAX    (64u * 1024)        /* 'O'/'E' payload init sends */
#define EXECPROTO_FRAME_MAX    (2u * 1024 * 1024)  /* any frame a reader accepts */
#define EXECPROTO_COMMAND_MAX  (1024u * 1024)
#define EXECPROTO_ENV_MAX      256
#define EXECPROTO_ENV_LEN_MAX  (64u * 1024)        /* one KEY=VALUE */
#define EXECPROTO_STDIN_MAX    (1024u * 1024)
#define EXECPROTO_TIMEOUT_MAX  (7u * 24 * 3600)
#define EXECPROTO_DEFAULT_CWD  "/root"

enum execproto_type {
	EXECPROTO_REQUEST = 'Q',
	EXECPROTO_STDOUT = 'O',
	EXECPROTO_STDERR = 'E',
	EXECPROTO_EXIT = 'X',
	EXECPROTO_REPLY = 'S',
	EXECPROTO_ERROR = 'R',
};

enum execproto_op {
	EXECPROTO_OP_EXEC = 0,
	EXECPROTO_OP_STATUS,
	EXECPROTO_OP_STOP,
};

struct execproto_request {
	enum execproto_op op;
	char *command;       /* exec: required, non-empty */
	char **env;          /* "KEY=VALUE" strings, n_env of them */
	size_t n_env;
	char *cwd;           /* absolute; EXECPROTO_DEFAULT_CWD when absent */
	uint32_t timeout;    /* seconds, 0 = none */
	int tty;
	char *stdin_data;    /* NULL = no stdin (/dev/null) */
	size_t stdin_len;
};

/* Write a frame header for a payload of len bytes into hdr. */
void execproto_header(unsigned char hdr[EXECPROTO_HDR], char type, uint32_t len);

/* Look at the start of a byte stream: 0 if fewer than EXECPROTO_HDR bytes,
 * 1 with *type and *len set, -EPROTO for an unknown type, -E2BIG for a
 * length above max. */
int execproto_peek(const void *buf, size_t avail, size_t max, char *type,
		   uint32_t *len);

/* Parse a 'Q' payload into req (zeroed first; free with
 * execproto_request_release, also after a failure). Unknown keys are
 * ignored; everything else is checked against the limits above. Returns 0
 * or -EINVAL with a message in err. */
int execproto_request_parse(const char *json, size_t len,
			    struct execproto_request *req, struct mags_err *err);

/* The JSON payload for req (only non-default fields are written).
 * Returns an xmalloc'd string and its length in *len. */
char *execproto_request_encode(const struct execproto_request *req, size_t *len);

void execproto_request_release(struct execproto_request *req);

/* The 'X' payload, and its parser (0 or -EINVAL). */
char *execproto_exit_encode(int exit_code, int timed_out, size_t *len);
int execproto_exit_parse(const char *json, size_t len, int *exit_code, int *timed_out);

#endif
