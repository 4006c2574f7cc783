/* Unit tests for magsd settings (src/magsd/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/config.h"

static void defaults_are_sane(void **state)
{
	struct config c;

	config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:8420");
	assert_string_equal(c.image, "default");
	assert_int_equal(c.job_timeout, 300);
	assert_int_equal(c.memory_mb, 512);
	assert_int_equal(c.max_jobs, 64);
	assert_true(c.max_body > 1024 * 1024);
}

static void set_checks_values(void **state)
{
	struct config c;
	struct mags_err err;

	config_defaults(&c);
	assert_int_equal(config_set(&c, "job-timeout", "10", &err), 0);
	assert_int_equal(c.job_timeout, 10);
	assert_int_equal(config_set(&c, "cpus", "0.5", &err), 0);
	assert_true(c.cpus == 0.5);
	assert_int_not_equal(config_set(&c, "job_timeout", "0", &err), 0);
	assert_int_not_equal(config_set(&c, "job_timeout", "10s", &err), 0);
	assert_int_not_equal(config_set(&c, "max_jobs", "", &err), 0);
	assert_int_not_equal(config_set(&c, "listen", "nocolon", &err), 0);
	assert_int_not_equal(config_set(&c, "bogus", "1", &err), 0);
	assert_non_null(strstr(err.msg, "unknown setting"));
	/* workspace settings */
	assert_int_equal(c.sync_interval, 30);
	assert_int_equal(c.local_ttl, 600);
	assert_int_equal(c.disk_gb, 2);
	assert_int_equal(c.upload_max, 100LL * 1024 * 1024);
	assert_string_equal(c.object_store, "dir");
	assert_int_equal(config_set(&c, "local-ttl", "2", &err), 0);
	assert_int_equal(c.local_ttl, 2);
	assert_int_equal(config_set(&c, "object_store", "s3", &err), 0);
	assert_int_not_equal(config_set(&c, "object_store", "ftp", &err), 0);
	assert_int_equal(config_set(&c, "s3_endpoint", "http://127.0.0.1:9000", &err), 0);
	assert_string_equal(c.s3_endpoint, "http://127.0.0.1:9000");
	assert_int_not_equal(config_set(&c, "s3_path_style", "2", &err), 0);
	assert_int_not_equal(config_set(&c, "upload_max", "12", &err), 0);
}

static void file_then_env_then_flags(void **state)
{
	char dir[] = "/tmp/mags-test-config-XXXXXX", path[128];
	struct config c;
	struct mags_err err;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/magsd.conf", dir);
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, &err), 0);  /* missing: fine */

	f = fopen(path, "w");
	fputs("# comment\n\n listen = 0.0.0.0:9000 \nimage=busybox\nmax_jobs = 3\n", f);
	fclose(f);
	assert_int_equal(config_load_file(&c, path, &err), 0);
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_string_equal(c.image, "busybox");
	assert_int_equal(c.max_jobs, 3);

	setenv("MAGS_MAX_JOBS", "5", 1);
	assert_int_equal(config_load_env(&c, &err), 0);
	assert_int_equal(c.max_jobs, 5);
	unsetenv("MAGS_MAX_JOBS");

	f = fopen(path, "w");
	fputs("listen = 1.2.3.4:1\nnonsense line\n", f);
	fclose(f);
	assert_int_not_equal(config_load_file(&c, path, &err), 0);
	assert_non_null(strstr(err.msg, ":2:"));
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_sane),
		cmocka_unit_test(set_checks_values),
		cmocka_unit_test(file_then_env_then_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
