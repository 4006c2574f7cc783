/* Unit tests for the warm pool's bookkeeping and sizing (src/magsd/pool.c)
 * and the runtime's side of a pooled job: `run --pool` arguments and the
 * job's argument block (src/runtime/args.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/pool.h"
#include "runtime/args.h"

static struct pool_member *member(pid_t pid, int link)
{
	struct pool_member *m = calloc(1, sizeof(*m));

	m->pid = pid;
	m->status_fd = 100 + pid;
	m->spec_fd = 200 + pid;
	m->link = link;
	m->slot = pid;
	return m;
}

static void free_all(struct pool *p)
{
	while (p->list) {
		struct pool_member *m = p->list;
		p->list = m->next;
		free(m);
	}
}

static void disabled_pool_takes_and_wants_nothing(void **state)
{
	struct pool p;

	pool_init(&p, 0, 0, 0);
	assert_false(pool_enabled(&p));
	assert_int_equal(pool_wanted(&p, 0), 0);
	assert_null(pool_take(&p, 1, NULL, "u", 0));
	assert_int_equal(p.target, 0); /* a miss does not grow a disabled pool */
	assert_null(pool_excess(&p, 1));
}

static void settings_are_clamped(void **state)
{
	struct pool p;

	pool_init(&p, 5, 2, 0);          /* min above max */
	assert_int_equal(p.min, 2);
	assert_int_equal(p.max, 2);
	pool_init(&p, -3, 100000, 0);
	assert_int_equal(p.min, 0);
	assert_int_equal(p.max, POOL_LIMIT);
}

static void only_ready_members_with_the_right_network_are_taken(void **state)
{
	struct pool p;
	struct pool_member *a = member(1, 7), *b = member(2, -1), *got;

	pool_init(&p, 2, 4, 0);
	assert_int_equal(pool_wanted(&p, 0), 2);
	pool_add(&p, a);
	pool_add(&p, b);
	assert_int_equal(pool_wanted(&p, 0), 0);   /* being built counts */
	assert_null(pool_take(&p, 1, NULL, "u", 0));          /* none ready: a miss */
	assert_int_equal(p.target, 3);
	a->ready = b->ready = 1;
	got = pool_take(&p, 1, NULL, "u", 0);                 /* nat job: the one with a link */
	assert_ptr_equal(got, a);
	assert_null(got->next);
	assert_int_equal(pool_count(&p), 1);
	assert_null(pool_take(&p, 1, NULL, "u", 0));          /* b has no network */
	got = pool_take(&p, 0, NULL, "u", 0);
	assert_ptr_equal(got, b);
	assert_int_equal(pool_count(&p), 0);
	assert_int_equal(p.hits, 2);
	assert_int_equal(p.misses, 2);
	free(a);
	free(b);
}

/* A member whose kept network namespace ran another user's sandbox is
 * not that user's to take. */
static void a_member_with_a_tenant_s_namespace_serves_that_tenant_only(void **state)
{
	struct pool p;
	struct pool_member *a = member(1, 7), *b = member(2, 8), *got;

	pool_init(&p, 2, 4, 0);
	pool_add(&p, a);
	pool_add(&p, b);
	a->ready = b->ready = 1;
	strcpy(a->owner, "alice");
	strcpy(b->owner, "bob");
	assert_null(pool_take(&p, 1, NULL, "carol", 0));
	got = pool_take(&p, 1, NULL, "bob", 0);
	assert_ptr_equal(got, b);
	b->owner[0] = '\0';                         /* no tenant ran in it yet */
	pool_add(&p, b);
	got = pool_take(&p, 1, NULL, "carol", 0);
	assert_ptr_equal(got, b);
	assert_ptr_equal(pool_take(&p, 1, NULL, "alice", 0), a);
	free(a);
	free(b);
}

static void prepared_members_take_only_plain_jobs_of_their_image(void **state)
{
	struct pool p;
	struct pool_member *bare = member(1, 3), *prep = member(2, 4), *got;

	pool_init(&p, 2, 4, 0);
	prep->rootfs = "/d/images/busybox/rootfs";
	pool_add(&p, bare);
	pool_add(&p, prep);
	bare->ready = prep->ready = 1;
	/* a plain job of another image: only the unprepared member fits */
	got = pool_take(&p, 1, "/d/images/other/rootfs", "u", 0);
	assert_ptr_equal(got, bare);
	/* a job with layers never gets a prepared member: a miss */
	assert_null(pool_take(&p, 1, NULL, "u", 0));
	assert_int_equal(p.target, 3);
	/* a plain job of its image does */
	got = pool_take(&p, 1, "/d/images/busybox/rootfs", "u", 0);
	assert_ptr_equal(got, prep);
	assert_int_equal(pool_count(&p), 0);
	free(bare);
	free(prep);
}

static void a_plain_job_prefers_a_prepared_member(void **state)
{
	struct pool p;
	struct pool_member *bare = member(1, 3), *prep = member(2, 4);

	pool_init(&p, 2, 2, 0);
	prep->rootfs = "/r";
	pool_add(&p, prep);
	pool_add(&p, bare);                        /* listed first */
	bare->ready = prep->ready = 1;
	assert_ptr_equal(pool_take(&p, 1, "/r", "u", 0), prep);
	assert_ptr_equal(pool_take(&p, 1, "/r", "u", 0), bare);
	free(bare);
	free(prep);
}

static void refills_replace_the_kind_that_was_taken_or_missed(void **state)
{
	struct pool p;

	pool_init(&p, 1, 2, 0);
	assert_true(pool_next_prepared(&p));       /* nothing owed: prepared */
	assert_null(pool_take(&p, 1, NULL, "u", 0));    /* a layered job missed */
	assert_null(pool_take(&p, 1, "/r", "u", 0));    /* and a plain one */
	assert_false(pool_next_prepared(&p));      /* the layered kind first */
	assert_true(pool_next_prepared(&p));
	assert_true(pool_next_prepared(&p));
	for (int i = 0; i < 10; i++)
		assert_null(pool_take(&p, 1, NULL, "u", 0));
	assert_int_equal(p.owed_bare, 2);          /* bounded by max */
}

static void failed_and_retired_members_are_never_taken(void **state)
{
	struct pool p;
	struct pool_member *a = member(1, 3), *b = member(2, 4);

	pool_init(&p, 2, 2, 0);
	pool_add(&p, a);
	pool_add(&p, b);
	a->ready = b->ready = 1;
	a->failed = 1;
	b->spec_fd = -1;                           /* retired */
	assert_null(pool_take(&p, 1, NULL, "u", 0));
	/* neither counts toward the target: two more wanted */
	assert_int_equal(pool_wanted(&p, 0), 2);
	/* but both stay listed until reaped */
	assert_int_equal(pool_count(&p), 2);
	assert_ptr_equal(pool_remove_pid(&p, 2), b);
	assert_null(pool_remove_pid(&p, 2));
	assert_int_equal(pool_count(&p), 1);
	free(b);
	free_all(&p);
}

static void target_grows_on_misses_and_shrinks_when_idle(void **state)
{
	struct pool p;

	pool_init(&p, 1, 3, 0);
	for (int i = 0; i < 5; i++)
		assert_null(pool_take(&p, 0, NULL, "u", 1000));
	assert_int_equal(p.target, 3);             /* capped at max */
	assert_int_equal(pool_wanted(&p, 1000 + POOL_SHRINK_MS - 1), 3);
	assert_int_equal(pool_wanted(&p, 1000 + POOL_SHRINK_MS), 2);
	assert_int_equal(pool_wanted(&p, 1000 + 2 * POOL_SHRINK_MS), 1);
	assert_int_equal(pool_wanted(&p, 1000 + 10 * POOL_SHRINK_MS), 1); /* floor */
}

static void excess_members_are_let_go_unready_first(void **state)
{
	struct pool p;
	struct pool_member *a = member(1, 5), *b = member(2, 6), *c = member(3, 7), *x;

	pool_init(&p, 1, 1, 0);
	pool_add(&p, a);
	pool_add(&p, b);
	pool_add(&p, c);
	a->ready = c->ready = 1;
	x = pool_excess(&p, 1);
	assert_ptr_equal(x, b);                    /* still being built */
	x->spec_fd = -1;
	x = pool_excess(&p, 1);
	assert_non_null(x);
	x->spec_fd = -1;
	assert_null(pool_excess(&p, 1));           /* one left = target */
	/* the server lost its network: a nat member does not fit any more */
	x = pool_excess(&p, 0);
	assert_non_null(x);
	assert_true(x->link >= 0);
	free_all(&p);
}

static void pool_arguments(void **state)
{
	struct runtime_config c;
	struct mags_err err = { 0 };
	char *ok[] = { "rt", "run", "--pool", "--id", "pool-1-2", "--uid-base", "165536",
		       "--net", "nat", "--net-addr", "10.200.0.4/30", NULL };
	char *script[] = { "rt", "run", "--pool", "--id", "p", "--", "true", NULL };
	char *log[] = { "rt", "run", "--pool", "--id", "p", "--log", "/x", NULL };
	char *allow[] = { "rt", "run", "--pool", "--id", "p", "--net", "nat",
			  "--net-allow", "1.2.3.0/24", NULL };
	char *noid[] = { "rt", "run", "--pool", NULL };
	char *val[] = { "rt", "run", "--pool=1", "--id", "p", NULL };
	char *prep[] = { "rt", "run", "--pool", "--id", "p", "--rootfs", "/img",
			 "--run-dir", "/d/run/p", NULL };
	char *halfprep[] = { "rt", "run", "--pool", "--id", "p", "--rootfs", "/img", NULL };
	char *halfprep2[] = { "rt", "run", "--pool", "--id", "p", "--run-dir", "/x", NULL };

	assert_int_equal(args_parse(11, ok, &c, &err), 0);
	assert_true(c.pool);
	assert_string_equal(c.id, "pool-1-2");
	assert_int_equal(c.uid_base, 165536);
	assert_true(args_parse(7, script, &c, &err) < 0);   /* the job comes later */
	assert_true(args_parse(7, log, &c, &err) < 0);
	assert_true(args_parse(9, allow, &c, &err) < 0);    /* per job, at take time */
	assert_true(args_parse(3, noid, &c, &err) < 0);
	assert_true(args_parse(5, val, &c, &err) < 0);
	/* a prepared member: its image and its own scratch dir, both */
	assert_int_equal(args_parse(9, prep, &c, &err), 0);
	assert_true(c.pool);
	assert_string_equal(c.rootfs, "/img");
	assert_string_equal(c.run_dir, "/d/run/p");
	memset(&err, 0, sizeof(err));
	assert_true(args_parse(7, halfprep, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "--run-dir"));
	assert_true(args_parse(7, halfprep2, &c, &err) < 0);
}

static void job_argument_block(void **state)
{
	char ok[] = "rt\0run\0--id\0j\0--\0echo a b\0";
	char two[] = "rt\0run\0";
	char **argv = NULL;

	assert_int_equal(args_split(ok, sizeof(ok) - 1, &argv), 6);
	assert_string_equal(argv[0], "rt");
	assert_string_equal(argv[5], "echo a b");
	assert_null(argv[6]);
	free(argv);
	assert_int_equal(args_split(two, sizeof(two) - 1, &argv), 2);
	free(argv);
	assert_int_equal(args_split(ok, sizeof(ok) - 2, &argv), -EINVAL); /* unterminated */
	assert_int_equal(args_split(ok, 0, &argv), -EINVAL);
	assert_int_equal(args_split(two, 3, &argv), -EINVAL);               /* one string */
}

/* What magsd and the supervisor write into a job's memfd splits back into
 * the same arguments. */
static void a_joined_argument_block_splits_back(void **state)
{
	const char *v[] = { "rt", "run", "--id", "j", "--", "", "echo a b" };
	char **argv = NULL;
	size_t len;
	char *buf = strv_join0(v, 7, &len);

	(void)state;
	assert_int_equal(len, sizeof("rt\0run\0--id\0j\0--\0\0echo a b"));
	assert_int_equal(args_split(buf, len, &argv), 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(argv[i], v[i]);
	free(argv);
	free(buf);
	buf = strv_join0(v, 0, &len);
	assert_int_equal(len, 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(disabled_pool_takes_and_wants_nothing),
		cmocka_unit_test(settings_are_clamped),
		cmocka_unit_test(only_ready_members_with_the_right_network_are_taken),
		cmocka_unit_test(a_member_with_a_tenant_s_namespace_serves_that_tenant_only),
		cmocka_unit_test(prepared_members_take_only_plain_jobs_of_their_image),
		cmocka_unit_test(a_plain_job_prefers_a_prepared_member),
		cmocka_unit_test(refills_replace_the_kind_that_was_taken_or_missed),
		cmocka_unit_test(failed_and_retired_members_are_never_taken),
		cmocka_unit_test(target_grows_on_misses_and_shrinks_when_idle),
		cmocka_unit_test(excess_members_are_let_go_unready_first),
		cmocka_unit_test(pool_arguments),
		cmocka_unit_test(job_argument_block),
		cmocka_unit_test(a_joined_argument_block_splits_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
