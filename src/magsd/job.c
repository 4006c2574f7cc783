/*
 * job.c - the job record and its JSON form (see job.h). The one place that
 * decides what a client sees of a job, so list, status, stop and the end of
 * a follow stream always agree.
 */
#include "magsd/job.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "magsd/utf8.h"
#include "common/banned.h"

void job_release(struct job *job)
{
	if (!job)
		return;
	free(job->name);
	free(job->workspace_id);
	free(job->error_message);
	free(job->script);
	free(job->environment);
	free(job->base_workspace_id);
	free(job->startup_command);
	free(job->file_ids);
	free(job->network);
	job->network = NULL;
	job->name = job->workspace_id = job->error_message = NULL;
	job->script = job->environment = NULL;
	job->base_workspace_id = job->startup_command = job->file_ids = NULL;
}

int job_status_terminal(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "error") ||
	       !strcmp(status, "stopped");
}

json_t *job_json_string(const char *s, size_t len)
{
	_cleanup_free_ char *clean = NULL;
	size_t n;
	json_t *j;

	if (utf8_valid(s, len))
		j = json_stringn_nocheck(s, len);
	else {
		clean = utf8_sanitize(s, len, &n);
		j = json_stringn_nocheck(clean, n);
	}
	if (!j)
		abort(); /* only on out of memory */
	return j;
}

static json_t *opt_string(const char *s)
{
	return s ? job_json_string(s, strlen(s)) : json_null();
}

json_t *job_json_time(int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		return json_null();
	time_format_iso(ms, buf, sizeof(buf));
	return json_string(buf);
}

json_t *job_to_json(const struct job *job, size_t script_max)
{
	json_t *o = json_object();
	size_t slen = job->script ? strlen(job->script) : 0;
	int cut = script_max > 0 && slen > script_max;

	json_object_set_new(o, "request_id", json_string(job->id));
	json_object_set_new(o, "name", opt_string(job->name));
	json_object_set_new(o, "workspace_id", opt_string(job->workspace_id));
	json_object_set_new(o, "status", json_string(job->status));
	json_object_set_new(o, "exit_code",
			    job->has_exit_code ? json_integer(job->exit_code) : json_null());
	json_object_set_new(o, "error_message", opt_string(job->error_message));
	json_object_set_new(o, "created_at", job_json_time(job->created_at));
	json_object_set_new(o, "started_at", job_json_time(job->started_at));
	json_object_set_new(o, "finished_at", job_json_time(job->finished_at));
	if (job->started_at > 0 && job->finished_at >= job->started_at)
		json_object_set_new(o, "duration_ms",
				    json_integer(job->finished_at - job->started_at));
	else
		json_object_set_new(o, "duration_ms", json_null());
	json_object_set_new(o, "persistent", json_boolean(job->persistent));
	json_object_set_new(o, "ephemeral", json_boolean(job->ephemeral));
	json_object_set_new(o, "timeout", json_integer(job->timeout));
	json_object_set_new(o, "type", json_string(job->type));
	json_object_set_new(o, "base_workspace_id", opt_string(job->base_workspace_id));
	json_object_set_new(o, "no_sync", json_boolean(job->no_sync));
	json_object_set_new(o, "no_sleep", json_boolean(job->no_sleep));
	if (job->disk_gb > 0)
		json_object_set_new(o, "disk_gb", json_integer(job->disk_gb));
	else
		json_object_set_new(o, "disk_gb", json_null());
	json_object_set_new(o, "startup_command", opt_string(job->startup_command));
	json_object_set_new(o, "idle_timeout",
			    job->idle_timeout > 0 ? json_integer(job->idle_timeout) : json_null());
	if (!job->script) {
		json_object_set_new(o, "script", json_null());
	} else if (cut) {
		size_t n = script_max;
		/* back up over UTF-8 continuation bytes so the cut is clean */
		while (n > 0 && ((unsigned char)job->script[n] & 0xC0) == 0x80)
			n--;
		json_object_set_new(o, "script", job_json_string(job->script, n));
		json_object_set_new(o, "script_truncated", json_true());
	} else {
		json_object_set_new(o, "script", job_json_string(job->script, slen));
	}
	return o;
}
