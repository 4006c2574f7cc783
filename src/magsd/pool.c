/*
 * pool.c - warm-pool bookkeeping and sizing (see pool.h). The processes
 * themselves are supervisor.c's: this file only decides which member a
 * job gets and how many members there should be.
 */
#include "magsd/pool.h"

#include <stddef.h>
#include <string.h>

#include "common/banned.h"

void pool_init(struct pool *p, int min, int max, int64_t now)
{
	if (min < 0)
		min = 0;
	if (max > POOL_LIMIT)
		max = POOL_LIMIT;
	if (min > max)
		min = max;
	p->min = min;
	p->max = max;
	p->target = min;
	p->count = 0;
	p->last_change = now;
	p->hits = p->misses = 0;
	p->owed_prepared = p->owed_bare = 0;
	p->list = NULL;
}

int pool_enabled(const struct pool *p)
{
	return p->max > 0;
}

void pool_add(struct pool *p, struct pool_member *m)
{
	m->next = p->list;
	p->list = m;
	p->count++;
}

static int active(const struct pool_member *m)
{
	return m->spec_fd >= 0 && !m->failed;
}

/* A job of this kind was served or missed: the refill owes one (bounded
 * by max, so an idle stretch after a burst does not keep a stale mix). */
static void owe(struct pool *p, int prepared)
{
	int *n = prepared ? &p->owed_prepared : &p->owed_bare;

	if (*n < p->max)
		(*n)++;
}

static struct pool_member *unlink_member(struct pool *p, struct pool_member **pp)
{
	struct pool_member *m = *pp;

	*pp = m->next;
	m->next = NULL;
	p->count--;
	p->hits++;
	return m;
}

struct pool_member *pool_take(struct pool *p, int nat, const char *rootfs,
			      const char *user, int64_t now)
{
	struct pool_member **bare = NULL;

	if (!pool_enabled(p))
		return NULL;
	owe(p, rootfs != NULL);
	for (struct pool_member **pp = &p->list, *m; (m = *pp); pp = &m->next) {
		if (!m->ready || !active(m) || (m->link >= 0) != !!nat)
			continue;
		/* a namespace another user's sandbox ran in is not this one's */
		if (m->owner[0] && (!user || strcmp(m->owner, user)))
			continue;
		if (!m->rootfs) {
			if (!bare)
				bare = pp;
			continue;
		}
		/* a layered job or another image never gets a prepared member */
		if (rootfs && !strcmp(m->rootfs, rootfs))
			return unlink_member(p, pp);
	}
	if (bare)
		return unlink_member(p, bare);
	p->misses++;
	if (p->target < p->max)
		p->target++;
	p->last_change = now;
	return NULL;
}

int pool_next_prepared(struct pool *p)
{
	if (p->owed_bare > 0) {
		p->owed_bare--;
		return 0;
	}
	if (p->owed_prepared > 0)
		p->owed_prepared--;
	return 1;
}

struct pool_member *pool_remove_pid(struct pool *p, pid_t pid)
{
	for (struct pool_member **pp = &p->list, *m; (m = *pp); pp = &m->next)
		if (m->pid == pid) {
			*pp = m->next;
			m->next = NULL;
			p->count--;
			return m;
		}
	return NULL;
}

static int active_count(const struct pool *p)
{
	int n = 0;

	for (const struct pool_member *m = p->list; m; m = m->next)
		n += active(m);
	return n;
}

int pool_wanted(struct pool *p, int64_t now)
{
	int n;

	if (!pool_enabled(p))
		return 0;
	if (p->target > p->min && now - p->last_change >= POOL_SHRINK_MS) {
		p->target--;
		p->last_change = now;
	}
	n = p->target - active_count(p);
	return n > 0 ? n : 0;
}

struct pool_member *pool_excess(struct pool *p, int nat)
{
	int extra = active_count(p) - p->target;

	for (struct pool_member *m = p->list; m; m = m->next)
		if (active(m) && (m->link >= 0) != !!nat)
			return m;
	if (extra <= 0)
		return NULL;
	/* a member still being built first: a parked one is worth more */
	for (struct pool_member *m = p->list; m; m = m->next)
		if (active(m) && !m->ready)
			return m;
	for (struct pool_member *m = p->list; m; m = m->next)
		if (active(m))
			return m;
	return NULL;
}

int pool_count(const struct pool *p)
{
	return p->count;
}
