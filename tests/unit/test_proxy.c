/* Unit tests for the proxy's pure parts and its routing table
 * (src/magsd/proxy.c): Host parsing, labels, targets, and
 * proxy_route_lookup over a real store (temp file) with fake hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/config.h"
#include "magsd/loop.h"
#include "magsd/proxy.h"
#include "magsd/store.h"

static int host(const char *h, const char *domain, char *sub)
{
	return proxy_host_sub(h, strlen(h), domain, sub);
}

static void host_parsing(void **state)
{
	char sub[STORE_SUB_MAX + 1];

	(void)state;
	assert_int_equal(host("abc.localhost", "localhost", sub), 0);
	assert_string_equal(sub, "abc");
	assert_int_equal(host("abc.localhost:8421", "localhost", sub), 0);
	assert_string_equal(sub, "abc");
	assert_int_equal(host("ABC.LocalHost:1", "localhost", sub), 0);
	assert_string_equal(sub, "abc");
	assert_int_equal(host("abc.localhost.", "localhost", sub), 0);
	assert_int_equal(host("my-app.apps.example.com", "apps.example.com", sub), 0);
	assert_string_equal(sub, "my-app");
	assert_int_equal(host("0a1b2c3d4e5f60718293a4b5.localhost", "localhost", sub), 0);

	/* not ours, or not one label */
	assert_int_equal(host("localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host(".localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("a.b.localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("abc.example.com", "localhost", sub), -EINVAL);
	assert_int_equal(host("abclocalhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("abc.notlocalhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("abc.localhost:", "localhost", sub), -EINVAL);
	assert_int_equal(host("abc.localhost:80x", "localhost", sub), -EINVAL);
	assert_int_equal(host("-abc.localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("abc-.localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("a_c.localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("a c.localhost", "localhost", sub), -EINVAL);
	assert_int_equal(host("", "localhost", sub), -EINVAL);
	char longsub[80];
	memset(longsub, 'a', 64);
	snprintf(longsub + 64, sizeof(longsub) - 64, ".localhost");
	assert_int_equal(host(longsub, "localhost", sub), -EINVAL);
	snprintf(longsub + 63, sizeof(longsub) - 63, ".localhost");
	assert_int_equal(host(longsub, "localhost", sub), 0);
	assert_int_equal(strlen(sub), 63);
	/* NUL inside the value (length given) is not a way around the suffix */
	assert_int_equal(proxy_host_sub("abc.localhost\0.evil", 19, "localhost", sub), -EINVAL);
}

static void labels(void **state)
{
	(void)state;
	assert_true(proxy_label_valid("a"));
	assert_true(proxy_label_valid("my-app2"));
	assert_false(proxy_label_valid(""));
	assert_false(proxy_label_valid("-a"));
	assert_false(proxy_label_valid("a-"));
	assert_false(proxy_label_valid("A"));
	assert_false(proxy_label_valid("a.b"));
	assert_false(proxy_label_valid("a_b"));
	assert_false(proxy_label_valid("\xc3\xbc"));
}

static void targets(void **state)
{
	struct sockaddr_storage sa;
	unsigned len;

	(void)state;
	assert_int_equal(proxy_target_parse("10.88.0.5:8080", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 8080);
	assert_int_equal(proxy_target_parse("[fd00::5]:80", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(proxy_target_parse("unix:/run/x.sock", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_UNIX);
	assert_string_equal(((struct sockaddr_un *)&sa)->sun_path, "/run/x.sock");
	assert_int_equal(proxy_target_parse("10.0.0.1", &sa, &len), -EINVAL);
	assert_int_equal(proxy_target_parse("10.0.0.1:0", &sa, &len), -EINVAL);
	assert_int_equal(proxy_target_parse("10.0.0.1:65536", &sa, &len), -EINVAL);
	assert_int_equal(proxy_target_parse("host.example:80", &sa, &len), -EINVAL);
	assert_int_equal(proxy_target_parse("unix:relative", &sa, &len), -EINVAL);
	assert_int_equal(proxy_target_parse(":80", &sa, &len), -EINVAL);
}

/* ---- routing over a store -------------------------------------------------- */

struct fixture {
	char dir[64];
	struct config cfg;
	struct store *st;
	struct loop *loop;
	struct proxy *px;
};

static const char *running_job = "job-run", *sleeping_job = "job-sleep";

static int fake_state(const char *job_id, void *arg)
{
	(void)arg;
	if (!strcmp(job_id, running_job))
		return PROXY_JOB_RUNNING;
	if (!strcmp(job_id, sleeping_job))
		return PROXY_JOB_SLEEPING;
	return PROXY_JOB_GONE;
}

static int fake_addr(const char *job_id, char *ip, size_t n, void *arg)
{
	(void)arg;
	if (strcmp(job_id, running_job))
		return -ENOENT;
	snprintf(ip, n, "10.88.0.7");
	return 0;
}

static void add_job(struct store *st, const char *id, const char *user, const char *ws,
		    const char *status, int64_t created)
{
	struct job j;
	struct mags_err err;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(j.user_id, sizeof(j.user_id), "%s", user);
	snprintf(j.status, sizeof(j.status), "%s", status);
	snprintf(j.type, sizeof(j.type), "inline");
	j.script = (char *)"sleep 1";
	j.workspace_id = (char *)ws;
	j.timeout = 300;
	j.created_at = created;
	assert_int_equal(store_job_insert(st, &j, &err), 0);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct mags_err err;
	char path[128], uid_a[32], uid_b[32];

	snprintf(f->dir, sizeof(f->dir), "/tmp/mags-test-proxy-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/mags.db", f->dir);
	assert_int_equal(store_open(path, &f->st, &err), 0);
	assert_int_equal(store_user_add(f->st, "alice", uid_a, &err), 0);
	assert_int_equal(store_user_add(f->st, "bob", uid_b, &err), 0);
	config_defaults(&f->cfg);
	snprintf(f->cfg.proxy_listen, sizeof(f->cfg.proxy_listen), "127.0.0.1:0");
	f->loop = loop_new();
	f->px = proxy_new(&f->cfg, f->st, f->loop, &err);
	assert_non_null(f->px);
	struct proxy_hooks h = { .state = fake_state, .addr = fake_addr };
	proxy_set_hooks(f->px, &h);

	add_job(f->st, running_job, uid_a, "web", "running", 1000);
	add_job(f->st, sleeping_job, uid_a, "sleepy", "sleeping", 1000);
	add_job(f->st, "job-old", uid_a, "web", "completed", 500);
	add_job(f->st, "job-bob", uid_b, "web", "running", 2000);
	assert_int_equal(store_access_url_add(f->st, "aaaaaaaaaaaaaaaaaaaaaaaa", running_job,
					      uid_a, 8080, 1, &err), 0);
	assert_int_equal(store_access_url_add(f->st, "bbbbbbbbbbbbbbbbbbbbbbbb", sleeping_job,
					      uid_a, 3000, 1, &err), 0);
	assert_int_equal(store_access_url_add(f->st, "cccccccccccccccccccccccc", "job-old",
					      uid_a, 8080, 1, &err), 0);
	/* a sub is unique */
	assert_int_equal(store_access_url_add(f->st, "aaaaaaaaaaaaaaaaaaaaaaaa", "job-old",
					      uid_a, 9, 1, &err), -EEXIST);
	assert_int_equal(err.code, MAGS_E_CONFLICT);

	struct store_alias a = { .created_at = 5 };
	snprintf(a.subdomain, sizeof(a.subdomain), "myapp");
	snprintf(a.user_id, sizeof(a.user_id), "%s", uid_a);
	snprintf(a.workspace_id, sizeof(a.workspace_id), "web");
	assert_int_equal(store_alias_add(f->st, &a, &err), 0);
	assert_int_equal(store_alias_add(f->st, &a, &err), -EEXIST);
	snprintf(a.subdomain, sizeof(a.subdomain), "nothing");
	snprintf(a.workspace_id, sizeof(a.workspace_id), "empty");
	assert_int_equal(store_alias_add(f->st, &a, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	proxy_free(f->px);
	loop_free(f->loop);
	store_close(f->st);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static int lookup(struct fixture *f, const char *h, struct proxy_route *r)
{
	return proxy_route_lookup(f->px, h, strlen(h), r);
}

static void routes(void **state)
{
	struct fixture *f = *state;
	struct proxy_route r;

	assert_int_equal(lookup(f, "aaaaaaaaaaaaaaaaaaaaaaaa.localhost:8421", &r), 0);
	assert_string_equal(r.job_id, running_job);
	assert_int_equal(r.port, 8080);
	assert_int_equal(r.state, PROXY_JOB_RUNNING);
	assert_string_equal(r.target, "10.88.0.7:8080");

	/* asleep: routed (the proxy wakes it), no address yet */
	assert_int_equal(lookup(f, "bbbbbbbbbbbbbbbbbbbbbbbb.localhost", &r), 0);
	assert_int_equal(r.state, PROXY_JOB_SLEEPING);
	assert_string_equal(r.target, "");

	/* a finished job's URL */
	assert_int_equal(lookup(f, "cccccccccccccccccccccccc.localhost", &r), -ESRCH);
	/* unknown */
	assert_int_equal(lookup(f, "dddddddddddddddddddddddd.localhost", &r), -ENOENT);
	assert_int_equal(lookup(f, "aaaaaaaaaaaaaaaaaaaaaaaa.example.com", &r), -ENOENT);

	/* an alias follows alice's live job of "web" (not bob's, not the old
	 * one) on that job's URL port */
	assert_int_equal(lookup(f, "MyApp.localhost", &r), 0);
	assert_string_equal(r.job_id, running_job);
	assert_int_equal(r.port, 8080);
	assert_string_equal(r.target, "10.88.0.7:8080");
	/* an alias whose workspace has no live job */
	assert_int_equal(lookup(f, "nothing.localhost", &r), -ESRCH);
}

static void test_addr_setting(void **state)
{
	struct fixture *f = *state;
	struct proxy_route r;

	snprintf(f->cfg.proxy_test_addr, sizeof(f->cfg.proxy_test_addr), "127.0.0.1");
	assert_int_equal(lookup(f, "bbbbbbbbbbbbbbbbbbbbbbbb.localhost", &r), 0);
	assert_string_equal(r.target, "127.0.0.1:3000");
	f->cfg.proxy_test_addr[0] = '\0';
}

static void aliases_own_only(void **state)
{
	struct fixture *f = *state;
	struct store_alias a;
	char bob[32], alice[32];
	struct mags_err err;

	assert_int_equal(store_user_find(f->st, "bob", bob, &err), 0);
	assert_int_equal(store_user_find(f->st, "alice", alice, &err), 0);
	assert_int_equal(store_alias_delete(f->st, "myapp", bob), -ENOENT);
	assert_int_equal(store_alias_get(f->st, "myapp", &a), 0);
	assert_int_equal(store_alias_count(f->st, alice), 2);
	assert_int_equal(store_alias_count(f->st, bob), 0);
	assert_int_equal(store_alias_delete(f->st, "myapp", alice), 0);
	assert_int_equal(store_alias_get(f->st, "myapp", &a), -ENOENT);
}

static void url_format(void **state)
{
	struct fixture *f = *state;
	char url[200], want[200];

	proxy_url(f->px, "abc", url, sizeof(url));
	snprintf(want, sizeof(want), "http://abc.localhost:%d/", proxy_port(f->px));
	assert_string_equal(url, want);
	assert_true(proxy_port(f->px) > 0);
}

static void settings(void **state)
{
	struct config cfg;
	struct mags_err err;

	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.proxy_listen, "127.0.0.1:8421");
	assert_string_equal(cfg.ssh_listen, "127.0.0.1:2222");
	assert_string_equal(cfg.url_domain, "localhost");
	assert_int_equal(config_set(&cfg, "url-domain", "Apps.Example.COM", &err), 0);
	assert_string_equal(cfg.url_domain, "apps.example.com");
	assert_int_equal(config_set(&cfg, "url_domain", "bad..name", &err), -EINVAL);
	assert_int_equal(config_set(&cfg, "url_domain", ".x", &err), -EINVAL);
	assert_int_equal(config_set(&cfg, "url_domain", "a_b.com", &err), -EINVAL);
	assert_int_equal(config_set(&cfg, "proxy_listen", "off", &err), 0);
	assert_int_equal(config_set(&cfg, "ssh_listen", "0.0.0.0:22", &err), 0);
	assert_string_equal(cfg.ssh_listen, "0.0.0.0:22");
	assert_int_equal(config_set(&cfg, "ssh_listen", "nocolon", &err), -EINVAL);
	assert_int_equal(config_set(&cfg, "proxy_max_conns", "0", &err), -EINVAL);
	assert_int_equal(config_set(&cfg, "proxy_connect_wait", "0", &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_parsing),
		cmocka_unit_test(labels),
		cmocka_unit_test(targets),
		cmocka_unit_test(settings),
		cmocka_unit_test_setup_teardown(routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(aliases_own_only, setup, teardown),
		cmocka_unit_test_setup_teardown(url_format, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
