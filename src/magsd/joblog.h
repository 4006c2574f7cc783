/*
 * joblog.h - appending output that magsd itself receives to a job's log
 * (DATA_DIR/jobs/ID/log, common/logfmt.h): the output of a run executed
 * inside a live sandbox, and of an always-on job's restarted
 * startup_command. (A sandbox's own script is logged by its init.)
 *
 * Output arrives in arbitrary chunks; complete lines become records, a
 * partial line waits for its end (or joblog_close), a line longer than
 * LOGFMT_MAX_LINE is cut. At most limit bytes are written, then a last
 * system record says the log was truncated.
 */
#ifndef MAGS_MAGSD_JOBLOG_H
#define MAGS_MAGSD_JOBLOG_H

#include <stddef.h>
#include <stdint.h>

struct joblog;

/* Open (create) the job's log for appending. NULL if it cannot be. */
struct joblog *joblog_open(const char *data_dir, const char *job_id, int64_t limit);

/* src: LOGFMT_STDOUT or LOGFMT_STDERR. */
void joblog_write(struct joblog *jl, char src, const char *data, size_t n);

/* A system record (magsd speaking). */
void joblog_system(struct joblog *jl, const char *msg);

/* Flush partial lines, close, free. NULL-safe. */
void joblog_close(struct joblog *jl);

#endif
