/*
 * fuzz_job_request.c - libFuzzer target for api_validate_job
 * (src/magsd/api_validate.h), the checks of every POST /mags-jobs body (and
 * of every cron job's firing). Input: a request body. Checks that an
 * accepted request stays within the documented limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/api_validate.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job_request jr;
	struct mags_err err;

	if (api_validate_job((const char *)data, size, 300, 64, &jr, &err) < 0) {
		CHECK(err.code == MAGS_E_BAD_REQUEST && err.msg[0]);
		return 0;
	}
	CHECK(jr.script && *jr.script && strlen(jr.script) <= JOBREQ_SCRIPT_MAX);
	CHECK(!jr.name || strlen(jr.name) <= JOBREQ_NAME_MAX);
	CHECK(jr.timeout >= 1 && jr.timeout <= JOBREQ_TIMEOUT_MAX);
	CHECK(jr.n_env <= JOBREQ_ENV_MAX_COUNT);
	for (size_t i = 0; i < jr.n_env; i++)
		CHECK(strchr(jr.env[i], '=') != NULL);
	CHECK(jr.n_file_ids <= JOBREQ_FILE_IDS_MAX);
	CHECK(!jr.workspace || api_validate_workspace_name(jr.workspace, strlen(jr.workspace)));
	CHECK(!jr.no_sleep || jr.persistent);
	CHECK(!jr.ephemeral || (!jr.workspace && !jr.base && !jr.persistent));
	job_request_release(&jr);
	return 0;
}
