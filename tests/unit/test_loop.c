/* Unit tests for the epoll loop (src/magsd/loop.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "magsd/loop.h"

struct ctx {
	struct loop *loop;
	struct loop_watch *self;
	struct loop_watch *other;
	int calls;
	int remove_self;
	int remove_other;
};

static void on_ready(int fd, uint32_t events, void *arg)
{
	struct ctx *c = arg;
	char b[16];

	c->calls++;
	(void)read(fd, b, sizeof(b));
	if (c->remove_self)
		loop_remove(c->loop, c->self);
	if (c->remove_other)
		loop_remove(c->loop, c->other);
}

static void ready_fds_run_their_callback(void **state)
{
	struct loop *l = loop_new();
	struct ctx c = { .loop = l };
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	c.self = loop_add(l, p[0], EPOLLIN, on_ready, &c);
	assert_non_null(c.self);
	assert_int_equal(loop_run_once(l, 0), 0);       /* nothing ready */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run_once(l, 100), 1);
	assert_int_equal(c.calls, 1);
	loop_free(l);                                   /* frees live watches */
	close(p[0]);
	close(p[1]);
}

static void a_watch_may_remove_itself_and_others(void **state)
{
	struct loop *l = loop_new();
	struct ctx a = { .loop = l, .remove_self = 1, .remove_other = 1 };
	struct ctx b = { .loop = l };
	int p[2], q[2];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0);
	a.self = loop_add(l, p[0], EPOLLIN, on_ready, &a);
	b.self = loop_add(l, q[0], EPOLLIN, on_ready, &b);
	a.other = b.self;
	b.other = a.self;
	b.remove_self = 1;
	b.remove_other = 1;
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(write(q[1], "x", 1), 1);
	/* both are ready; whichever runs first removes the other, which must
	 * then be skipped, not called on freed memory */
	assert_int_equal(loop_run_once(l, 100), 1);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run_once(l, 0), 0);
	loop_free(l);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ready_fds_run_their_callback),
		cmocka_unit_test(a_watch_may_remove_itself_and_others),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
