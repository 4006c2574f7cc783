/*
 * util.h - small helpers every component uses: allocation that aborts on
 * out-of-memory, time, random ids, fd and path helpers, cleanup attributes.
 */
#ifndef MAGS_COMMON_UTIL_H
#define MAGS_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Allocation: out of memory aborts with a message (git's xmalloc). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Cleanup helpers: `_cleanup_free_ char *p = ...;` */
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* Wall-clock milliseconds since the epoch, and a monotonic clock in ms. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);

/* Format unix ms as "2026-11-27T09:12:26.123Z" into buf (>= 32 bytes). */
void time_format_iso(int64_t ms, char *buf, size_t len);

/* Fill buf with n cryptographically random bytes (getrandom). Aborts on
 * failure: there is no safe fallback. */
void random_bytes(void *buf, size_t n);

/* n random bytes as 2n lowercase hex chars plus NUL into out. */
void random_hex(char *out, size_t nbytes);

/* A random UUID v4 string ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"), out >= 37. */
void random_uuid(char *out);

/* write()/read() the whole buffer, retrying on EINTR and short counts.
 * Return 0 or -errno (read_full: -EIO on early EOF). */
int write_full(int fd, const void *buf, size_t len);

/* The n strings of v one after another, each with its NUL (a command
 * line as /proc/<pid>/cmdline holds it, for one write): malloc'd, its
 * length in *len. */
char *strv_join0(const char *const *v, size_t n, size_t *len);

/* Create dir and its parents (like mkdir -p). 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);

/* Remove a tree (like rm -rf), not crossing mount points. 0 or -errno. */
int rm_rf(const char *path);

/* Read a whole small file (<= max bytes) into a NUL-terminated buffer.
 * Returns bytes read or -errno; *out owned by caller. */
ssize_t read_file(const char *path, size_t max, char **out);

/* Write a whole string to a file path (O_WRONLY|O_TRUNC|O_CREAT? no: for
 * /proc and /sys files we never create: flags O_WRONLY only). 0 or -errno. */
int write_file(const char *path, const char *data);

#endif
