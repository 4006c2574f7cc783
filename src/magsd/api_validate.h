/*
 * api_validate.h - checking a POST /mags-jobs body and turning it into a
 * job request. Pure: no I/O, so it is unit-tested directly.
 *
 * Limits (every one a 400 with the field named): script non-empty, at most
 * 1 MiB; name at most 64 of [A-Za-z0-9._-]; environment at most 128 entries,
 * keys [A-Za-z_][A-Za-z0-9_]* up to 128 bytes, string values up to 32 KiB,
 * 256 KiB in all; timeout an integer from 1 to 7 days. Workspace fields:
 * workspace_id (alias [003] workspace) and base_workspace_id are workspace
 * names (1-63 of [A-Za-z0-9._-], starting alphanumeric, no ".."),
 * persistent (alias persist), no_sync, no_sleep (needs persistent), disk_gb
 * (1 to the server's maximum), file_ids (at most 64 ids), startup_command
 * (at most 64 KiB), idle_timeout (issue 4: seconds a persistent job may
 * be idle before it sleeps, 1 s to 30 days, needs persistent; absent or null =
 * the server's idle_timeout; never sleeping is no_sleep). ephemeral with a workspace, a base or persistent is a
 * 400. network (issue 5): "nat" (the default), "none", or {"allow":
 * [CIDR, ...]} with 1 to 64 IPv4 networks or addresses, host bits zero
 * (no domain names). Null/false/""/[] count as absent. Unknown fields are
 * ignored.
 */
#ifndef MAGS_MAGSD_API_VALIDATE_H
#define MAGS_MAGSD_API_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

#define JOBREQ_SCRIPT_MAX (1024 * 1024)
#define JOBREQ_NAME_MAX 64
#define JOBREQ_ENV_MAX_COUNT 128
#define JOBREQ_ENV_KEY_MAX 128
#define JOBREQ_ENV_VALUE_MAX (32 * 1024)
#define JOBREQ_ENV_TOTAL_MAX (256 * 1024)
#define JOBREQ_TIMEOUT_MAX (7 * 86400)
#define JOBREQ_WS_NAME_MAX 63
#define JOBREQ_FILE_IDS_MAX 64
#define JOBREQ_FILE_ID_MAX 64
#define JOBREQ_STARTUP_MAX (64 * 1024)
#define JOBREQ_DISK_GB_DEFAULT 2
#define JOBREQ_IDLE_TIMEOUT_MAX (30 * 86400)

/* Check a job's idle_timeout (POST and PATCH): NULL/null = not given (0).
 * 0 and *out set (1..JOBREQ_IDLE_TIMEOUT_MAX, 0 if not given), or -EINVAL
 * with err (MAGS_E_BAD_REQUEST). Does not check persistent. */
int api_validate_idle_timeout(json_t *v, int *out, struct mags_err *err);

struct job_request {
	char *script;
	char type[8];           /* "inline" or "file" */
	char *name;             /* NULL if none */
	int timeout;            /* seconds */
	int ephemeral;
	char **env;             /* n_env "KEY=VALUE" strings */
	size_t n_env;
	char *env_json;         /* the environment object as JSON, NULL if none */
	char *workspace;        /* workspace_id / workspace, NULL if none */
	char *base;             /* base_workspace_id, NULL if none */
	int persistent;
	int no_sync;
	int no_sleep;
	int disk_gb;            /* 0 = not given */
	char **file_ids;        /* n_file_ids ids */
	size_t n_file_ids;
	char *startup_command;  /* NULL if none */
	int idle_timeout;       /* seconds, 0 = the server's default */
	char *network;          /* NULL (default: nat), "nat", "none", or
	                         * "allow:<cidr>,<cidr>..." in canonical form */
};

/* 1 if s (n bytes) is a valid workspace name. */
int api_validate_workspace_name(const char *s, size_t n);

/* Parse and check body. 0 and *out filled (release with
 * job_request_release), or -EINVAL with err (code MAGS_E_BAD_REQUEST). */
int api_validate_job(const char *body, size_t len, int default_timeout,
		     int max_disk_gb, struct job_request *out, struct mags_err *err);

void job_request_release(struct job_request *req);

#endif
