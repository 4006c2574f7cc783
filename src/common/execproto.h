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
 *                         {"op": "exec" (default) | "status" | "stop" | "sftp",
 *                          "command": "...",  "env": {"K": "V", ...},
 *                          "cwd": "/root", "timeout": seconds (0 = none),
 *                          "tty": false, "rows": 24, "cols": 80,
 *                          "term": "xterm", "stdin": "text",
 *                          "stdin_stream": false}
 *   client -> init   after 'Q', only for an exec with stdin_stream or tty:
 *                    'I'  stdin bytes (<= 64 KiB); an empty 'I' is EOF
 *                         (closes the pipe; with a tty writes ^D)
 *                    'W'  window size: rows, cols (2 bytes BE each)
 *                    'K'  a signal (1 byte) for the exec's process group;
 *                         only INT QUIT HUP TERM KILL USR1 USR2 WINCH,
 *                         others are ignored
 *   init -> client   'O'  stdout bytes      (exec, any number, in order)
 *                    'E'  stderr bytes      (exec)
 *                    'X'  exit, JSON {"exit_code": N, "timed_out": bool}
 *                         (exec, last frame)
 *                    'S'  a JSON answer to "status" / "stop" (last frame)
 *                    'R'  an error message, UTF-8 text (last frame): the
 *                         request was refused or the exec could not start
 *
 * With a tty, output comes as 'O' only (the pty merges both streams).
 * "sftp": init answers one 'S' {"sftp": true}; from then on the
 * connection carries raw SFTP v3 packets both ways (no frames) until
 * either side closes.
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
#define EXECPROTO_INPUT_MAX    (64u * 1024)        /* 'I' payload */
#define EXECPROTO_WINSIZE_MAX  1000                /* rows and cols: 1..this */
#define EXECPROTO_DEFAULT_ROWS 24
#define EXECPROTO_DEFAULT_COLS 80
#define EXECPROTO_TERM_MAX     64

enum execproto_type {
	EXECPROTO_REQUEST = 'Q',
	EXECPROTO_STDOUT = 'O',
	EXECPROTO_STDERR = 'E',
	EXECPROTO_EXIT = 'X',
	EXECPROTO_REPLY = 'S',
	EXECPROTO_ERROR = 'R',
	EXECPROTO_INPUT = 'I',    /* client -> init */
	EXECPROTO_WINSIZE = 'W',  /* client -> init */
	EXECPROTO_SIGNAL = 'K',   /* client -> init */
};

enum execproto_op {
	EXECPROTO_OP_EXEC = 0,
	EXECPROTO_OP_STATUS,
	EXECPROTO_OP_STOP,
	EXECPROTO_OP_SFTP,
};

struct execproto_request {
	enum execproto_op op;
	char *command;       /* exec: required, non-empty */
	char **env;          /* "KEY=VALUE" strings, n_env of them */
	size_t n_env;
	char *cwd;           /* absolute; EXECPROTO_DEFAULT_CWD when absent */
	uint32_t timeout;    /* seconds, 0 = none */
	int tty;
	unsigned rows, cols; /* tty size; the defaults when absent */
	char *term;          /* TERM for the exec; NULL = the sandbox's */
	char *stdin_data;    /* NULL = no stdin (/dev/null) */
	size_t stdin_len;
	int stdin_stream;    /* stdin comes as 'I' frames (always with tty) */
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

/* The 'W' payload: rows then cols, 2 bytes big-endian each. The parser
 * returns 0, or -EINVAL for a wrong length or a size outside
 * 1..EXECPROTO_WINSIZE_MAX. */
void execproto_winsize_encode(unsigned char p[4], unsigned rows, unsigned cols);
int execproto_winsize_parse(const void *p, size_t len, unsigned *rows, unsigned *cols);

/* 1 if a 'K' frame may deliver signal sig (INT QUIT HUP TERM KILL USR1
 * USR2 WINCH), else 0. */
int execproto_signal_allowed(int sig);

/* The 'X' payload, and its parser (0 or -EINVAL). */
char *execproto_exit_encode(int exit_code, int timed_out, size_t *len);
int execproto_exit_parse(const char *json, size_t len, int *exit_code, int *timed_out);

#endif
