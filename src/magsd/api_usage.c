/*
 * api_usage.c - GET /mags-usage?window_days=N: what a user's jobs used,
 * for the SDKs' usage() and the dashboard.
 *
 * The window is N whole UTC days ending today (today included), so the
 * totals are exactly the sum of the per-day entries. A job counts on the
 * day it was created. vm_seconds is sandbox wall time, started_at to
 * finished_at (to now for a running job); cpu_seconds and
 * peak_memory_bytes come from the job's cgroup as its runtime reported
 * them (0 for jobs whose runtime did not).
 */
#include "magsd/api_usage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "common/banned.h"

#define DAY_MS 86400000LL

int api_usage_parse_status(const char *line, int64_t *cpu_us, int64_t *mem_peak)
{
	const char *p;

	if (strncmp(line, "usage", 5) || (line[5] && line[5] != ' '))
		return -EINVAL;
	*cpu_us = 0;
	*mem_peak = 0;
	p = line + 5;
	while (*p) {
		const char *key, *eq;
		char *end;
		long long v;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		key = p;
		eq = strchr(key, '=');
		if (!eq || eq == key || memchr(key, ' ', (size_t)(eq - key)))
			return -EINVAL;
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (errno || end == eq + 1 || (*end && *end != ' ') || v < 0)
			return -EINVAL;
		if ((size_t)(eq - key) == 6 && !strncmp(key, "cpu_us", 6))
			*cpu_us = v;
		else if ((size_t)(eq - key) == 8 && !strncmp(key, "mem_peak", 8))
			*mem_peak = v;
		p = end;
	}
	return 0;
}

static json_t *seconds(int64_t ms)
{
	return json_real((double)ms / 1000.0);
}

void api_usage(struct http_req *req)
{
	struct server *srv = req->srv;
	const char *q = http_query(req, "window_days");
	struct store_usage_day *days;
	struct mags_err err;
	int64_t now = time_now_ms(), from, jobs = 0, vm_ms = 0, cpu_us = 0, peak = 0;
	long n = API_USAGE_WINDOW_DEFAULT;
	json_t *arr;

	if (q && *q) {
		char *end;
		errno = 0;
		n = strtol(q, &end, 10);
		if (errno || *end || n < 1 || n > API_USAGE_WINDOW_MAX) {
			http_reply_errorf(req, MAGS_E_BAD_REQUEST,
					  "'window_days' must be an integer from 1 to %d",
					  API_USAGE_WINDOW_MAX);
			return;
		}
	}
	from = now - now % DAY_MS - (int64_t)(n - 1) * DAY_MS;
	days = xcalloc((size_t)n, sizeof(*days));
	if (store_usage(srv->store, req->ident.user_id, from, now, days, (int)n, &err) < 0) {
		free(days);
		http_reply_error(req, &err);
		return;
	}
	arr = json_array();
	for (long i = 0; i < n; i++) {
		char date[32];
		time_format_iso(from + i * DAY_MS, date, sizeof(date));
		date[10] = '\0';   /* 2026-11-27T00:00:00.000Z -> 2026-11-27 */
		json_array_append_new(arr, json_pack("{s:s, s:I, s:o, s:o, s:I}",
			"date", date, "jobs", (json_int_t)days[i].jobs,
			"vm_seconds", seconds(days[i].vm_ms),
			"cpu_seconds", json_real((double)days[i].cpu_us / 1e6),
			"peak_memory_bytes", (json_int_t)days[i].mem_peak_bytes));
		jobs += days[i].jobs;
		vm_ms += days[i].vm_ms;
		cpu_us += days[i].cpu_us;
		if (days[i].mem_peak_bytes > peak)
			peak = days[i].mem_peak_bytes;
	}
	free(days);
	http_reply_json(req, 200, json_pack("{s:i, s:o, s:I, s:o, s:o, s:I, s:o}",
		"window_days", (int)n, "since", job_json_time(from),
		"total_jobs", (json_int_t)jobs, "vm_seconds", seconds(vm_ms),
		"cpu_seconds", json_real((double)cpu_us / 1e6),
		"peak_memory_bytes", (json_int_t)peak, "days", arr));
}
