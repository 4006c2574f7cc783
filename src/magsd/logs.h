/*
 * logs.h - job logs as the API shows them: the whole log as
 * {"logs": [{"message", "source", "timestamp"}]}, and the follow stream
 * (NDJSON, one such object per line, then an "end" event line).
 *
 * Records come from DATA_DIR/jobs/ID/log (common/logfmt.h). Messages are
 * made valid UTF-8 (invalid bytes become U+FFFD); a record that does not
 * parse is skipped. While the job runs, an unterminated last line is held
 * back: the writer may be in the middle of it.
 *
 * Followers are MHD connections suspended while nothing is new. They are
 * resumed by logs_wake (the supervisor saw the job change), or by
 * logs_tick when the log file grew (the caller ticks every
 * logs_next_timeout ms, 10 ms while anyone waits), so output reaches the
 * client within tens of milliseconds of being written.
 */
#ifndef MAGS_MAGSD_LOGS_H
#define MAGS_MAGSD_LOGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/logfmt.h"
#include "magsd/store.h"
#include "magsd/supervisor.h"

#define LOGS_READ_MAX ((size_t)64 * 1024 * 1024)

struct MHD_Connection;
struct MHD_Response;
struct logs;

/* {"message", "source", "timestamp"} for one record. New reference. */
json_t *logs_rec_json(const struct logfmt_rec *rec);

/* Callback per record; the record points into the buffer. */
typedef void (*logs_rec_fn)(const struct logfmt_rec *rec, void *arg);

/* Split buf into lines and call fn for every record that parses. With
 * final, an unterminated last line counts too. Returns the bytes consumed
 * (complete lines, or everything with final). */
size_t logs_parse(const char *buf, size_t len, int final, logs_rec_fn fn, void *arg);

/* The whole log of a job at path (missing = empty) as {"logs": [...]},
 * reading at most max bytes. final: the job has ended. */
int logs_read(const char *path, size_t max, int final, json_t **out,
	      struct mags_err *err);

/* The follower registry. */
struct logs *logs_new(const char *data_dir, struct store *st, struct supervisor *sv);
/* Call after the HTTP daemon is stopped (it frees the followers). */
void logs_free(struct logs *lg);

/* A streaming response following job_id's log on conn (the caller queues
 * it with status 200). NULL on out-of-memory only. */
struct MHD_Response *logs_follow(struct logs *lg, struct MHD_Connection *conn,
				 const char *job_id);

void logs_wake(struct logs *lg, const char *job_id);

/* Whether a job's log may still grow; the follow stream ends (with its
 * "end" event) once it says 0 and everything was sent. Default: the job
 * has a live sandbox. (lifecycle.c: a persistent job's stream ends when
 * its script does, while the job stays running.) */
typedef int (*logs_live_fn)(const char *job_id, void *arg);
void logs_set_live(struct logs *lg, logs_live_fn fn, void *arg);
int logs_next_timeout(struct logs *lg, int64_t now);
/* The inotify fd that signals log growth (-1 if none): when it is readable,
 * call logs_on_watch. */
int logs_watch_fd(struct logs *lg);
void logs_on_watch(struct logs *lg);
void logs_tick(struct logs *lg, int64_t now);

/* Followers still attached. */
int logs_count(struct logs *lg);

/* Resume every follower; with abort they end at once (connection closed
 * with an error) instead of draining. Needed before MHD_stop_daemon. */
void logs_resume_all(struct logs *lg, int abort);

#endif
