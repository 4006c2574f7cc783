/*
 * pool.h - the warm pool: sandboxes built ahead of demand up to the point
 * where they need a job (`mags-runtime run --pool`, sandbox.c "park"),
 * taken by the next job that fits them (docs/ARCHITECTURE.md "Warm
 * pool").
 *
 * This module keeps the members and decides how many there should be;
 * supervisor.c spawns them (uid slot, network link), reads their status
 * pipes and hands one to a job. Pure bookkeeping: no I/O, no clock of its
 * own (callers pass monotonic ms), so the unit tests drive it directly.
 *
 * Sizing: the target starts at min. A job that found no fitting ready
 * member (a miss) raises it by one, up to max; POOL_SHRINK_MS without a
 * miss lowers it by one, down to min. Members above the target are let
 * go (pool_excess). min = max = 0 disables the pool.
 *
 * Kinds: a "prepared" member (rootfs set) parks with its root filesystem
 * built from one image and takes only plain jobs on that image (no
 * workspace, no snapshot layers); an unprepared one takes any job. A
 * plain job prefers a prepared member. Each take or miss owes the pool
 * a member of the job's kind; refills pay the debts (pool_next_prepared).
 */
#ifndef MAGS_MAGSD_POOL_H
#define MAGS_MAGSD_POOL_H

#include <stdint.h>
#include <sys/types.h>

#define POOL_SHRINK_MS 30000
#define POOL_LIMIT 256           /* largest pool_max */

struct loop_watch;
struct supervisor;

struct pool_member {
	struct pool_member *next;
	struct supervisor *sv;       /* its owner (supervisor.c) */
	pid_t pid;                   /* its mags-runtime */
	int status_fd;               /* its fd 3 (read end), -1 once closed */
	int spec_fd;                 /* its stdin (our end of a socketpair), -1 = retired */
	struct loop_watch *watch;    /* on status_fd */
	int slot;                    /* uid-base slot it holds */
	int link;                    /* network link it holds, -1 = no network */
	char *rootfs;                /* prepared: the image its root is built from, as a key
				      * (supervisor.c: path and inode; owned), NULL = not prepared */
	int ready;                   /* said "pooled": parked, may be taken */
	char owner[32];              /* its kept network namespace last ran a
	                              * sandbox of this user ("" = none): only
	                              * that user's jobs may take it */
	int failed;                  /* said "error ...": waiting to be reaped */
	char line[128];              /* partial status line */
	unsigned line_len;
};

struct pool {
	int min, max;
	int target;
	int count;                   /* members listed (retired ones included) */
	int64_t last_change;         /* last miss or shrink, monotonic ms */
	unsigned long hits, misses;
	int owed_prepared, owed_bare; /* members of each kind taken or missed, not yet respawned */
	struct pool_member *list;
};

/* min/max as configured (clamped: 0 <= min <= max <= POOL_LIMIT). */
void pool_init(struct pool *p, int min, int max, int64_t now);
int pool_enabled(const struct pool *p);

/* Add a member just spawned (not ready yet). */
void pool_add(struct pool *p, struct pool_member *m);

/* Take a ready member whose network matches (link >= 0 iff nat) off the
 * list, counting a hit; NULL (a miss, the target grows) if none. rootfs:
 * a plain job's image (the same kind of key as the members'), which a
 * prepared member of that image may take (preferred); NULL for a job
 * with layers, which only an unprepared member may take. user: the job's;
 * a member whose kept network namespace another user's sandbox ran in
 * is never taken (network.h). */
struct pool_member *pool_take(struct pool *p, int nat, const char *rootfs,
			      const char *user, int64_t now);

/* Which kind the next member spawned should be: 1 prepared, 0 not
 * (pays one debt; prepared when nothing is owed). */
int pool_next_prepared(struct pool *p);

/* Off the list by pid (it was reaped); NULL if not a member. */
struct pool_member *pool_remove_pid(struct pool *p, pid_t pid);

/* How many members to spawn now to reach the target (also applies the
 * shrink rule). Retired and failed members do not count. */
int pool_wanted(struct pool *p, int64_t now);

/* A listed member to let go of (beyond the target, or whose network no
 * longer matches nat), or NULL. The caller retires it (spec_fd closed,
 * so it is not returned again) and reaps it later. */
struct pool_member *pool_excess(struct pool *p, int nat);

/* Members not yet reaped (retired ones included). */
int pool_count(const struct pool *p);

#endif
