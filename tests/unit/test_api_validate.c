/* Unit tests for POST /mags-jobs body validation (src/magsd/api_validate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/api_validate.h"

static int check(const char *body, struct job_request *jr, struct mags_err *err)
{
	err_clear(err);
	return api_validate_job(body, strlen(body), 300, 64, jr, err);
}

static void expect_400(const char *body, const char *msg_part)
{
	struct job_request jr;
	struct mags_err err;

	if (check(body, &jr, &err) == 0) {
		job_request_release(&jr);
		fail_msg("accepted: %s", body);
	}
	assert_int_equal(err.code, MAGS_E_BAD_REQUEST);
	if (!strstr(err.msg, msg_part))
		fail_msg("'%s' does not mention '%s'", err.msg, msg_part);
}

static void minimal_request_gets_defaults(void **state)
{
	struct job_request jr;
	struct mags_err err;

	assert_int_equal(check("{\"script\": \"echo hi\"}", &jr, &err), 0);
	assert_string_equal(jr.script, "echo hi");
	assert_string_equal(jr.type, "inline");
	assert_null(jr.name);
	assert_int_equal(jr.timeout, 300);
	assert_int_equal(jr.ephemeral, 0);
	assert_int_equal(jr.n_env, 0);
	assert_null(jr.env_json);
	job_request_release(&jr);
}

static void full_request_is_taken(void **state)
{
	struct job_request jr;
	struct mags_err err;

	assert_int_equal(check("{\"script\": \"x\", \"type\": \"file\", \"name\": \"my-job.1\","
			       " \"timeout\": 12, \"ephemeral\": true, \"unknown\": [1],"
			       " \"environment\": {\"B\": \"2\", \"A_1\": \"one=1\"},"
			       " \"persistent\": false, \"no_sync\": true, \"workspace_id\": null}",
			       &jr, &err), 0);
	assert_string_equal(jr.type, "file");
	assert_string_equal(jr.name, "my-job.1");
	assert_int_equal(jr.timeout, 12);
	assert_int_equal(jr.ephemeral, 1);
	assert_int_equal(jr.n_env, 2);
	assert_string_equal(jr.env[0], "B=2");
	assert_string_equal(jr.env[1], "A_1=one=1");
	assert_string_equal(jr.env_json, "{\"A_1\":\"one=1\",\"B\":\"2\"}");
	job_request_release(&jr);
}

static void malformed_json_names_the_position(void **state)
{
	expect_400("{\"script\": ", "line 1 column");
	expect_400("", "invalid JSON");
	expect_400("{\"script\": \"a\"} trailing", "invalid JSON");
	expect_400("{\"script\": \"a\", \"script\": \"b\"}", "invalid JSON");
	expect_400("[1]", "JSON object");
	expect_400("\"str\"", "invalid JSON");
}

static void script_is_required_and_bounded(void **state)
{
	expect_400("{}", "'script' is required");
	expect_400("{\"script\": null}", "'script' is required");
	expect_400("{\"script\": 42}", "'script' must be a string");
	expect_400("{\"script\": \"\"}", "must not be empty");
	expect_400("{\"script\": \"a\\u0000b\"}", "invalid JSON"); /* jansson refuses NUL */

	size_t n = JOBREQ_SCRIPT_MAX + 1;
	char *big = xmalloc(n + 32);
	int off = snprintf(big, 32, "{\"script\": \"");
	memset(big + off, 'a', n);
	memcpy(big + off + n, "\"}", 3);
	expect_400(big, "larger than 1 MiB");
	/* exactly the limit is fine */
	memcpy(big + off + n - 1, "\"}", 3);
	struct job_request jr;
	struct mags_err err;
	assert_int_equal(check(big, &jr, &err), 0);
	assert_int_equal(strlen(jr.script), JOBREQ_SCRIPT_MAX);
	job_request_release(&jr);
	free(big);
}

static void workspace_fields_are_taken(void **state)
{
	struct job_request jr;
	struct mags_err err;

	assert_int_equal(check("{\"script\": \"x\", \"workspace_id\": \"fork-1\","
			       " \"base_workspace_id\": \"golden.v2\", \"persistent\": true,"
			       " \"no_sleep\": true, \"no_sync\": true, \"disk_gb\": 4,"
			       " \"file_ids\": [\"file_ab12\", \"file_cd34\"],"
			       " \"startup_command\": \"sleep infinity\"}", &jr, &err), 0);
	assert_string_equal(jr.workspace, "fork-1");
	assert_string_equal(jr.base, "golden.v2");
	assert_int_equal(jr.persistent, 1);
	assert_int_equal(jr.no_sleep, 1);
	assert_int_equal(jr.no_sync, 1);
	assert_int_equal(jr.disk_gb, 4);
	assert_int_equal(jr.n_file_ids, 2);
	assert_string_equal(jr.file_ids[1], "file_cd34");
	assert_string_equal(jr.startup_command, "sleep infinity");
	job_request_release(&jr);

	/* [003] aliases */
	assert_int_equal(check("{\"script\": \"x\", \"workspace\": \"my-app\", \"persist\": true}",
			       &jr, &err), 0);
	assert_string_equal(jr.workspace, "my-app");
	assert_int_equal(jr.persistent, 1);
	assert_int_equal(jr.disk_gb, 0);
	job_request_release(&jr);

	/* -p without a workspace is allowed (the server names one) */
	assert_int_equal(check("{\"script\": \"x\", \"persistent\": true}", &jr, &err), 0);
	assert_null(jr.workspace);
	assert_int_equal(jr.idle_timeout, 0);                  /* the server's default */
	job_request_release(&jr);

	/* a persistent job's own idle time (issue 4); null = the default */
	assert_int_equal(check("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": 90}",
			       &jr, &err), 0);
	assert_int_equal(jr.idle_timeout, 90);
	job_request_release(&jr);
	assert_int_equal(check("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": null}",
			       &jr, &err), 0);
	assert_int_equal(jr.idle_timeout, 0);
	job_request_release(&jr);
}

static void workspace_fields_are_checked(void **state)
{
	char name64[128];

	expect_400("{\"script\": \"x\", \"ephemeral\": true, \"workspace_id\": \"w\"}", "'ephemeral'");
	expect_400("{\"script\": \"x\", \"ephemeral\": true, \"base_workspace_id\": \"w\"}", "'ephemeral'");
	expect_400("{\"script\": \"x\", \"ephemeral\": true, \"persistent\": true}", "'ephemeral'");
	expect_400("{\"script\": \"x\", \"ephemeral\": true, \"persist\": true}", "'ephemeral'");
	expect_400("{\"script\": \"x\", \"no_sleep\": true}", "'no_sleep' requires");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"a/b\"}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"a..b\"}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"..\"}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \".hidden\"}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"-x\"}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"a\\u0000b\"}", "not allowed");  /* NUL: malformed */
	expect_400("{\"script\": \"x\", \"workspace_id\": 5}", "'workspace_id'");
	expect_400("{\"script\": \"x\", \"base_workspace_id\": \"a b\"}", "'base_workspace_id'");
	expect_400("{\"script\": \"x\", \"workspace\": \"x\\ny\"}", "'workspace'");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"a\", \"workspace\": \"b\"}", "disagrees");
	expect_400("{\"script\": \"x\", \"workspace_id\": \"a\", \"base_workspace_id\": \"a\"}",
		   "must differ");
	snprintf(name64, sizeof(name64), "{\"script\": \"x\", \"workspace_id\": \"%064d\"}", 0);
	expect_400(name64, "'workspace_id'");
	expect_400("{\"script\": \"x\", \"persistent\": \"yes\"}", "'persistent'");
	expect_400("{\"script\": \"x\", \"disk_gb\": 0}", "'disk_gb'");
	expect_400("{\"script\": \"x\", \"disk_gb\": 65}", "'disk_gb'");
	expect_400("{\"script\": \"x\", \"disk_gb\": 1.5}", "'disk_gb'");
	expect_400("{\"script\": \"x\", \"file_ids\": \"f\"}", "'file_ids'");
	expect_400("{\"script\": \"x\", \"file_ids\": [\"../etc\"]}", "'file_ids'");
	expect_400("{\"script\": \"x\", \"startup_command\": 3}", "'startup_command'");
	expect_400("{\"script\": \"x\", \"idle_timeout\": 60}", "'idle_timeout' requires");
	expect_400("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": 0}",
		   "'idle_timeout'");
	expect_400("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": -5}",
		   "'idle_timeout'");
	expect_400("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": 2592001}",
		   "'idle_timeout'");
	expect_400("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": \"60\"}",
		   "'idle_timeout'");
	expect_400("{\"script\": \"x\", \"persistent\": true, \"idle_timeout\": 1.5}",
		   "'idle_timeout'");

	struct job_request jr;
	struct mags_err err;
	snprintf(name64, sizeof(name64), "{\"script\": \"x\", \"workspace_id\": \"%063d\"}", 0);
	assert_int_equal(check(name64, &jr, &err), 0);
	job_request_release(&jr);
}

static void fields_are_type_and_range_checked(void **state)
{
	expect_400("{\"script\": \"x\", \"type\": \"binary\"}", "'type'");
	expect_400("{\"script\": \"x\", \"type\": 1}", "'type'");
	expect_400("{\"script\": \"x\", \"name\": \"has space\"}", "'name'");
	expect_400("{\"script\": \"x\", \"name\": \"\"}", "'name'");
	expect_400("{\"script\": \"x\", \"name\": "
		   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "'name'");
	expect_400("{\"script\": \"x\", \"timeout\": 0}", "'timeout'");
	expect_400("{\"script\": \"x\", \"timeout\": -5}", "'timeout'");
	expect_400("{\"script\": \"x\", \"timeout\": 1.5}", "'timeout'");
	expect_400("{\"script\": \"x\", \"timeout\": \"10\"}", "'timeout'");
	expect_400("{\"script\": \"x\", \"timeout\": 99999999999}", "'timeout'");
	expect_400("{\"script\": \"x\", \"ephemeral\": \"yes\"}", "'ephemeral'");
	expect_400("{\"script\": \"x\", \"no_sync\": 1}", "'no_sync'");
}

static void environment_is_bounded(void **state)
{
	expect_400("{\"script\": \"x\", \"environment\": [\"A=1\"]}", "'environment'");
	expect_400("{\"script\": \"x\", \"environment\": {\"A\": 1}}", "must be a string");
	expect_400("{\"script\": \"x\", \"environment\": {\"1A\": \"v\"}}", "bad variable name");
	expect_400("{\"script\": \"x\", \"environment\": {\"A=B\": \"v\"}}", "bad variable name");
	expect_400("{\"script\": \"x\", \"environment\": {\"\": \"v\"}}", "bad variable name");

	/* too many entries */
	char *body = xmalloc(64 * 1024);
	size_t o = (size_t)snprintf(body, 64, "{\"script\": \"x\", \"environment\": {");
	for (int i = 0; i <= JOBREQ_ENV_MAX_COUNT; i++)
		o += (size_t)snprintf(body + o, 64, "%s\"V%d\": \"x\"", i ? ", " : "", i);
	snprintf(body + o, 8, "}}");
	expect_400(body, "more than");
	free(body);

	/* a value over the per-value limit */
	size_t n = JOBREQ_ENV_VALUE_MAX + 1;
	body = xmalloc(n + 128);
	o = (size_t)snprintf(body, 128, "{\"script\": \"x\", \"environment\": {\"A\": \"");
	memset(body + o, 'v', n);
	memcpy(body + o + n, "\"}}", 4);
	expect_400(body, "too long");
	free(body);
}

static void network_is_taken_and_checked(void **state)
{
	struct job_request jr;
	struct mags_err err;

	assert_int_equal(check("{\"script\": \"x\"}", &jr, &err), 0);
	assert_null(jr.network);   /* the server's default: nat */
	job_request_release(&jr);
	assert_int_equal(check("{\"script\": \"x\", \"network\": \"none\"}", &jr, &err), 0);
	assert_string_equal(jr.network, "none");
	job_request_release(&jr);
	assert_int_equal(check("{\"script\": \"x\", \"network\": \"nat\"}", &jr, &err), 0);
	assert_string_equal(jr.network, "nat");
	job_request_release(&jr);
	assert_int_equal(check("{\"script\": \"x\", \"network\": null}", &jr, &err), 0);
	assert_null(jr.network);
	job_request_release(&jr);
	assert_int_equal(check("{\"script\": \"x\", \"network\": {\"allow\": "
			       "[\"198.51.100.0/25\", \"203.0.113.7\", \"0.0.0.0/0\"]}}", &jr, &err), 0);
	assert_string_equal(jr.network, "allow:198.51.100.0/25,203.0.113.7/32,0.0.0.0/0");
	job_request_release(&jr);

	expect_400("{\"script\": \"x\", \"network\": \"host\"}", "'network'");
	expect_400("{\"script\": \"x\", \"network\": 1}", "'network'");
	expect_400("{\"script\": \"x\", \"network\": true}", "'network'");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": []}}", "network.allow");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": \"10.0.0.0/8\"}}",
		   "network.allow");
	expect_400("{\"script\": \"x\", \"network\": {\"deny\": [\"10.0.0.0/8\"]}}",
		   "unknown key 'deny'");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"198.51.100.7/24\"]}}",
		   "entry 0");  /* host bits set */
	/* domain names are kept (lowercase) and resolved at job start */
	assert_int_equal(check("{\"script\": \"x\", \"network\": {\"allow\": "
			       "[\"10.0.0.0/8\", \"Example.COM\", \"localhost\"]}}", &jr, &err), 0);
	assert_string_equal(jr.network, "allow:10.0.0.0/8,example.com,localhost");
	job_request_release(&jr);
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"10.0.0.0/8\", "
		   "\"exa mple.com\"]}}", "entry 1");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"-a.com\"]}}", "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"a..com\"]}}", "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"a.com,b.com\"]}}",
		   "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"10.1.2.300\"]}}",
		   "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"10.0.0.0/33\"]}}",
		   "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [\"2001:db8::/32\"]}}",
		   "entry 0");
	expect_400("{\"script\": \"x\", \"network\": {\"allow\": [7]}}", "entry 0");

	/* at most 64 entries */
	char *body = xmalloc(8192);
	size_t o = (size_t)snprintf(body, 64, "{\"script\": \"x\", \"network\": {\"allow\": [");
	for (int i = 0; i <= 64; i++)
		o += (size_t)snprintf(body + o, 64, "%s\"10.0.%d.0/24\"", i ? ", " : "", i);
	snprintf(body + o, 8, "]}}");
	expect_400(body, "1 to 64");
	body[o - 16] = '\0';   /* drop the 65th: "..., \"10.0.64.0/24\"" */
	snprintf(body + o - 16, 8, "]}}");
	assert_int_equal(check(body, &jr, &err), 0);
	assert_int_equal(strlen(jr.network), 6 + 10 * 11 + 54 * 12 + 63);  /* + commas */
	job_request_release(&jr);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_request_gets_defaults),
		cmocka_unit_test(full_request_is_taken),
		cmocka_unit_test(malformed_json_names_the_position),
		cmocka_unit_test(script_is_required_and_bounded),
		cmocka_unit_test(workspace_fields_are_taken),
		cmocka_unit_test(workspace_fields_are_checked),
		cmocka_unit_test(fields_are_type_and_range_checked),
		cmocka_unit_test(environment_is_bounded),
		cmocka_unit_test(network_is_taken_and_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
