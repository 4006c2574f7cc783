/*
 * api_usage.h - GET /mags-usage (api_usage.c) and the runtime's usage
 * report it is built from.
 */
#ifndef MAGS_MAGSD_API_USAGE_H
#define MAGS_MAGSD_API_USAGE_H

#include <stdint.h>

#define API_USAGE_WINDOW_DEFAULT 30
#define API_USAGE_WINDOW_MAX 365

/*
 * Parse the runtime's status line with a job's resource usage, read from
 * its cgroup just before teardown (cpuacct.usage / memory.max_usage_in_bytes
 * on v1, cpu.stat usage_usec / memory.peak on v2):
 *     usage cpu_us=<N> mem_peak=<N>
 * Keys may come in any order, unknown keys are ignored, a missing one is 0.
 * 0 and both filled, or -EINVAL if line is not such a line.
 */
int api_usage_parse_status(const char *line, int64_t *cpu_us, int64_t *mem_peak);

#endif
