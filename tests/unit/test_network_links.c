/* Unit tests for magsd's network links and kept namespaces
 * (src/magsd/network.c: take, release, spare, adopt). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "magsd/network.h"

static struct network_links nl;

/* A kept namespace for a link, as adopt_netns would store it: any open fd
 * serves for the bookkeeping. */
static int fake_ns(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void a_released_link_with_a_namespace_is_taken_first(void **state)
{
	int a, b, c;

	(void)state;
	network_links_init(&nl, 2);
	a = network_link_take(&nl, NULL);
	b = network_link_take(&nl, NULL);
	assert_true(a > 0 && b > 0 && a != b);
	assert_int_equal(network_link_netns(&nl, a), -1);
	nl.netns[a] = fake_ns();
	network_link_release(&nl, b, NULL);           /* no namespace: just free */
	network_link_release(&nl, a, NULL);           /* kept: spare */
	assert_int_equal(nl.used[a], NETWORK_LINK_SPARE);
	assert_int_equal(nl.used[b], NETWORK_LINK_FREE);
	c = network_link_take(&nl, NULL);
	assert_int_equal(c, a);
	assert_true(network_link_netns(&nl, c) >= 0);
	assert_int_equal(network_netns_kept(&nl), 1);
	network_link_release(&nl, c, NULL);
}

static void no_more_than_keep_wait_unused(void **state)
{
	int l[4];

	(void)state;
	network_links_init(&nl, 2);
	for (int i = 0; i < 4; i++) {
		l[i] = network_link_take(&nl, NULL);
		nl.netns[l[i]] = fake_ns();
	}
	assert_int_equal(network_netns_kept(&nl), 4);
	for (int i = 0; i < 4; i++)
		network_link_release(&nl, l[i], NULL);
	/* the first two wait, the other two were let go */
	assert_int_equal(network_netns_kept(&nl), 2);
	assert_int_equal(nl.n_spare, 2);
	assert_int_equal(nl.used[l[2]], NETWORK_LINK_FREE);
	assert_int_equal(network_link_netns(&nl, l[3]), -1);
	/* most recently freed first */
	assert_int_equal(network_link_take(&nl, NULL), l[1]);
	assert_int_equal(network_link_take(&nl, NULL), l[0]);
	/* a double release changes nothing */
	network_link_release(&nl, l[0], NULL);
	network_link_release(&nl, l[0], NULL);
	assert_int_equal(nl.n_spare, 1);
}

static void keep_zero_never_keeps(void **state)
{
	int a;

	(void)state;
	network_links_init(&nl, 0);
	a = network_link_take(&nl, NULL);
	/* adopting refuses without reading anything */
	network_link_adopt_netns(&nl, a, getpid(), "3 1 1");
	assert_int_equal(network_link_netns(&nl, a), -1);
	nl.netns[a] = fake_ns();
	network_link_release(&nl, a, NULL);
	assert_int_equal(network_link_netns(&nl, a), -1);
	assert_int_equal(nl.used[a], NETWORK_LINK_FREE);
}

static void adopt_checks_what_it_opens(void **state)
{
	char rest[96];
	struct stat st;
	int a, ns;

	(void)state;
	network_links_init(&nl, 4);
	a = network_link_take(&nl, NULL);
	ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(ns >= 0);
	assert_int_equal(fstat(ns, &st), 0);
	/* wrong inode, junk, a file that is not a namespace: nothing kept */
	snprintf(rest, sizeof(rest), "%d %llu %llu", ns, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	network_link_adopt_netns(&nl, a, getpid(), rest);
	assert_int_equal(network_link_netns(&nl, a), -1);
	network_link_adopt_netns(&nl, a, getpid(), "x y z");
	network_link_adopt_netns(&nl, a, getpid(), "3 1 1 trailing");
	assert_int_equal(network_link_netns(&nl, a), -1);
	{
		int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		struct stat fs;
		assert_int_equal(fstat(f, &fs), 0);
		snprintf(rest, sizeof(rest), "%d %llu %llu", f, (unsigned long long)fs.st_dev,
			 (unsigned long long)fs.st_ino);
		network_link_adopt_netns(&nl, a, getpid(), rest);
		assert_int_equal(network_link_netns(&nl, a), -1);
		close(f);
	}
	/* the right one is kept; a second report does not replace it */
	snprintf(rest, sizeof(rest), "%d %llu %llu", ns, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	network_link_adopt_netns(&nl, a, getpid(), rest);
	int kept = network_link_netns(&nl, a);
	assert_true(kept >= 0 && kept != ns);
	network_link_adopt_netns(&nl, a, getpid(), rest);
	assert_int_equal(network_link_netns(&nl, a), kept);
	close(ns);
	network_link_release(&nl, a, NULL);
	assert_int_equal(nl.used[a], NETWORK_LINK_SPARE);
}

/* A kept namespace goes back only to the user whose sandbox ran in it. */
static void a_namespace_is_lent_to_its_own_tenant_only(void **state)
{
	int a, b, fresh, any;

	(void)state;
	network_links_init(&nl, 8);
	a = network_link_take(&nl, "alice");
	b = network_link_take(&nl, "bob");
	nl.netns[a] = fake_ns();
	nl.netns[b] = fake_ns();
	network_link_release(&nl, a, "alice");
	network_link_release(&nl, b, "bob");          /* bob's is on top */
	assert_string_equal(network_link_owner(&nl, a), "alice");
	/* alice gets hers, not bob's newer one */
	assert_int_equal(network_link_take(&nl, "alice"), a);
	/* carol gets neither: a fresh link */
	fresh = network_link_take(&nl, "carol");
	assert_true(fresh != a && fresh != b);
	assert_int_equal(network_link_netns(&nl, fresh), -1);
	/* a pool member (no user yet) may take bob's, and carries the owner */
	any = network_link_take(&nl, NULL);
	assert_int_equal(any, b);
	assert_string_equal(network_link_owner(&nl, any), "bob");
	/* released without a job: still bob's */
	network_link_release(&nl, any, NULL);
	assert_string_equal(network_link_owner(&nl, b), "bob");
	/* a namespace no tenant ran in is anyone's; after carol it is hers */
	nl.netns[fresh] = fake_ns();
	network_link_release(&nl, fresh, NULL);
	assert_null(network_link_owner(&nl, fresh));
	assert_int_equal(network_link_take(&nl, "dave"), fresh);
	network_link_release(&nl, fresh, "dave");
	assert_string_equal(network_link_owner(&nl, fresh), "dave");
	/* let go beyond keep: no owner left behind */
	network_links_init(&nl, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_released_link_with_a_namespace_is_taken_first),
		cmocka_unit_test(no_more_than_keep_wait_unused),
		cmocka_unit_test(keep_zero_never_keeps),
		cmocka_unit_test(adopt_checks_what_it_opens),
		cmocka_unit_test(a_namespace_is_lent_to_its_own_tenant_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
