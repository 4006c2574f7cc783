/*
 * loop.h - magsd's one event loop: an epoll set of fds, each with a
 * callback. No threads, no timers of its own: the caller passes the wait
 * timeout, computed from whoever has a deadline (MHD, followers, the
 * supervisor).
 *
 * A watch may be removed from inside any callback, including its own; its
 * memory is released after the current round of callbacks.
 */
#ifndef MAGS_MAGSD_LOOP_H
#define MAGS_MAGSD_LOOP_H

#include <stdint.h>

struct loop;
struct loop_watch;

typedef void (*loop_fn)(int fd, uint32_t events, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watch fd for events (EPOLLIN...); NULL on failure (errno set). */
struct loop_watch *loop_add(struct loop *loop, int fd, uint32_t events,
			    loop_fn fn, void *arg);

/* Stop watching (does not close the fd). NULL-safe. */
void loop_remove(struct loop *loop, struct loop_watch *w);

/* Wait up to timeout_ms (-1 = forever) and run the callbacks of ready fds.
 * Returns how many ran, or -errno (EINTR is 0). */
int loop_run_once(struct loop *loop, int timeout_ms);

#endif
