/*
 * joblog.c - output magsd receives, appended to a job's log (see joblog.h).
 */
#include "magsd/joblog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/util.h"
#include "common/banned.h"

struct joblog {
	int fd;
	int64_t limit, written;
	int truncated;
	char *part[2];        /* stdout, stderr: a line without its end yet */
	size_t part_len[2];
};

struct joblog *joblog_open(const char *data_dir, const char *job_id, int64_t limit)
{
	_cleanup_free_ char *dir = xasprintf("%s/jobs/%s", data_dir, job_id);
	_cleanup_free_ char *path = xasprintf("%s/log", dir);
	struct joblog *jl;
	int fd;

	(void)mkdir_p(dir, 0700);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return NULL;
	jl = xcalloc(1, sizeof(*jl));
	jl->fd = fd;
	jl->limit = limit > 0 ? limit : INT64_MAX;
	jl->written = lseek(fd, 0, SEEK_END);
	if (jl->written < 0)
		jl->written = 0;
	jl->part[0] = xmalloc(LOGFMT_MAX_LINE);
	jl->part[1] = xmalloc(LOGFMT_MAX_LINE);
	return jl;
}

static void record(struct joblog *jl, char src, const char *msg, size_t n)
{
	char hdr[40];
	size_t h;

	if (jl->truncated)
		return;
	h = logfmt_header(hdr, sizeof(hdr), time_now_ms(), src);
	if (jl->written + (int64_t)(h + n + 1) > jl->limit) {
		char m[96];
		jl->truncated = 1;
		h = logfmt_header(hdr, sizeof(hdr), time_now_ms(), LOGFMT_SYSTEM);
		int k = snprintf(m, sizeof(m), "[log truncated: limit of %lld bytes reached]\n",
				 (long long)jl->limit);
		_cleanup_free_ char *rec = xmalloc(h + (size_t)k);
		memcpy(rec, hdr, h);
		memcpy(rec + h, m, (size_t)k);
		(void)write_full(jl->fd, rec, h + (size_t)k);
		return;
	}
	_cleanup_free_ char *rec = xmalloc(h + n + 1);
	memcpy(rec, hdr, h);
	memcpy(rec + h, msg, n);
	rec[h + n] = '\n';
	if (write_full(jl->fd, rec, h + n + 1) == 0)
		jl->written += (int64_t)(h + n + 1);
}

void joblog_write(struct joblog *jl, char src, const char *data, size_t n)
{
	int k = src == LOGFMT_STDERR;

	if (!jl)
		return;
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		size_t room = LOGFMT_MAX_LINE - jl->part_len[k];

		if (take > room)
			take = room;
		memcpy(jl->part[k] + jl->part_len[k], data, take);
		jl->part_len[k] += take;
		data += take;
		n -= take;
		if (n > 0 && *data == '\n') {
			data++;
			n--;
			record(jl, src, jl->part[k], jl->part_len[k]);
			jl->part_len[k] = 0;
		} else if (jl->part_len[k] == LOGFMT_MAX_LINE) {
			record(jl, src, jl->part[k], jl->part_len[k]);
			jl->part_len[k] = 0;
		}
	}
}

void joblog_system(struct joblog *jl, const char *msg)
{
	if (jl)
		record(jl, LOGFMT_SYSTEM, msg, strlen(msg));
}

void joblog_close(struct joblog *jl)
{
	if (!jl)
		return;
	for (int k = 0; k < 2; k++) {
		if (jl->part_len[k])
			record(jl, k ? LOGFMT_STDERR : LOGFMT_STDOUT, jl->part[k], jl->part_len[k]);
		free(jl->part[k]);
	}
	close(jl->fd);
	free(jl);
}
