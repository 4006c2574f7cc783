/*
 * loop.c - the epoll loop (see loop.h). Removal during dispatch only marks
 * the watch dead and moves it to a graveyard freed after the round, so an
 * event already fetched for it is skipped instead of touching freed memory.
 */
#include "magsd/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

struct loop_watch {
	int fd;
	int dead;
	loop_fn fn;
	void *arg;
	struct loop_watch *prev, *next;   /* live list, then graveyard (next) */
};

struct loop {
	int epfd;
	struct loop_watch *live;
	struct loop_watch *graveyard;
};

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void bury(struct loop *l)
{
	while (l->graveyard) {
		struct loop_watch *w = l->graveyard;
		l->graveyard = w->next;
		free(w);
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->live)
		loop_remove(l, l->live);
	bury(l);
	close(l->epfd);
	free(l);
}

struct loop_watch *loop_add(struct loop *l, int fd, uint32_t events,
			    loop_fn fn, void *arg)
{
	struct loop_watch *w = xcalloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		errno = e;
		return NULL;
	}
	w->next = l->live;
	if (l->live)
		l->live->prev = w;
	l->live = w;
	return w;
}

void loop_remove(struct loop *l, struct loop_watch *w)
{
	if (!w || w->dead)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = 1;
	if (w->prev)
		w->prev->next = w->next;
	else
		l->live = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = NULL;
	w->next = l->graveyard;
	l->graveyard = w;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n, ran = 0;

	n = epoll_wait(l->epfd, evs, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = evs[i].data.ptr;
		if (w->dead)
			continue;
		w->fn(w->fd, evs[i].events, w->arg);
		ran++;
	}
	bury(l);
	return ran;
}
