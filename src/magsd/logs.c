/*
 * logs.c - reading and following job logs (see logs.h).
 *
 * A follower keeps the log's offset, the unparsed tail of what it read,
 * and the NDJSON not yet handed to MHD. MHD calls follow_read whenever it
 * can send; when there is nothing new the connection is suspended (the one
 * place MHD allows it, inside the content reader) and resumed from the loop.
 * The end check is done before the last read, so output written just
 * before the runtime exited is never lost to a race.
 *
 * New output wakes a suspended follower through inotify (IN_MODIFY on the
 * log, one watch per file shared by its followers), so records reach the
 * client as they are written; a follower without a watch (no log file yet,
 * inotify unavailable or out of watches) is checked every FOLLOW_TICK_MS.
 */
#include "magsd/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "magsd/job.h"
#include "common/banned.h"

#define FOLLOW_IN_CAP (LOGFMT_MAX_LINE + 64 * 1024)
#define FOLLOW_READ_CHUNK (64 * 1024)
#define FOLLOW_TICK_MS 10
#define FOLLOW_RECHECK_MS 1000

json_t *logs_rec_json(const struct logfmt_rec *rec)
{
	json_t *o = json_object();

	json_object_set_new(o, "message", job_json_string(rec->msg, rec->msg_len));
	json_object_set_new(o, "source", json_string(logfmt_src_name(rec->src)));
	json_object_set_new(o, "timestamp", job_json_time(rec->ts_ms > 0 ? rec->ts_ms : 1));
	return o;
}

size_t logs_parse(const char *buf, size_t len, int final, logs_rec_fn fn, void *arg)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct logfmt_rec rec;

		if (!nl && !final)
			break;
		if (logfmt_parse(buf + pos, end - pos, &rec) == 0)
			fn(&rec, arg);
		pos = nl ? end + 1 : len;
	}
	return pos;
}

static void append_rec(const struct logfmt_rec *rec, void *arg)
{
	json_array_append_new(arg, logs_rec_json(rec));
}

int logs_read(const char *path, size_t max, int final, json_t **out,
	      struct mags_err *err)
{
	_cleanup_free_ char *text = NULL;
	ssize_t n = read_file(path, max, &text);
	json_t *arr = json_array();

	if (n == -ENOENT)
		n = 0;
	else if (n < 0) {
		json_decref(arr);
		return err_sys(err, (int)-n, "read job log");
	}
	if (n > 0)
		(void)logs_parse(text, (size_t)n, final, append_rec, arr);
	*out = json_pack("{s:o}", "logs", arr);
	return 0;
}

/* ---- followers ---- */

struct follower {
	struct follower *next, *prev;
	struct logs *lg;
	struct MHD_Connection *conn;
	char id[JOB_ID_MAX];
	char *path;
	int fd;
	off_t offset;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_pos, out_cap;
	int wd;          /* inotify watch on path, -1 = none */
	int suspended;
	int ended;
	int abort;
	int64_t last_check;
};

struct logs {
	char *data_dir;
	struct store *store;
	struct supervisor *sv;
	struct follower *list;
	int count;
	int ino;         /* inotify fd, -1 = none */
	logs_live_fn live;
	void *live_arg;
};

void logs_set_live(struct logs *lg, logs_live_fn fn, void *arg)
{
	lg->live = fn;
	lg->live_arg = arg;
}

struct logs *logs_new(const char *data_dir, struct store *st, struct supervisor *sv)
{
	struct logs *lg = xcalloc(1, sizeof(*lg));

	lg->data_dir = xstrdup(data_dir);
	lg->store = st;
	lg->sv = sv;
	lg->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return lg;
}

int logs_watch_fd(struct logs *lg)
{
	return lg->ino;
}

void logs_free(struct logs *lg)
{
	if (!lg)
		return;
	/* followers left here belong to connections MHD already freed: the
	 * response free callback unlinks them, so the list is empty */
	if (lg->ino >= 0)
		close(lg->ino);
	free(lg->data_dir);
	free(lg);
}

int logs_count(struct logs *lg)
{
	return lg->count;
}

static void out_add(struct follower *f, const char *s, size_t n)
{
	if (f->out_len + n > f->out_cap) {
		f->out_cap = (f->out_len + n) * 2;
		f->out = xrealloc(f->out, f->out_cap);
	}
	memcpy(f->out + f->out_len, s, n);
	f->out_len += n;
}

static void out_json(struct follower *f, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (!s)
		abort();
	out_add(f, s, strlen(s));
	out_add(f, "\n", 1);
	free(s);
	json_decref(o);
}

static void follow_rec(const struct logfmt_rec *rec, void *arg)
{
	out_json(arg, logs_rec_json(rec));
}

/* Read what is new and turn complete records into NDJSON. With final,
 * also an unterminated last line. Returns 1 if output was produced. */
static int follow_fill(struct follower *f, int final)
{
	size_t before = f->out_len;

	if (f->fd < 0) {
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0)
			return 0;
	}
	for (;;) {
		size_t room = FOLLOW_IN_CAP - f->in_len;
		ssize_t n;

		if (room > FOLLOW_READ_CHUNK)
			room = FOLLOW_READ_CHUNK;
		n = room ? pread(f->fd, f->in + f->in_len, room, f->offset) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			f->offset += n;
			f->in_len += (size_t)n;
		}
		/* a line longer than the buffer can hold is cut, as the writer
		 * would have done */
		int force = final && n <= 0;
		size_t used = logs_parse(f->in, f->in_len, force || f->in_len == FOLLOW_IN_CAP,
					 follow_rec, f);
		memmove(f->in, f->in + used, f->in_len - used);
		f->in_len -= used;
		if (n <= 0 || f->out_len > before)
			break;
	}
	return f->out_len > before;
}

static void follow_end(struct follower *f)
{
	struct job job;
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string("end"));
	if (store_job_get(f->lg->store, f->id, NULL, &job) == 0) {
		json_t *j = job_to_json(&job, 1);
		json_object_set(o, "status", json_object_get(j, "status"));
		json_object_set(o, "exit_code", json_object_get(j, "exit_code"));
		json_object_set(o, "error_message", json_object_get(j, "error_message"));
		json_decref(j);
		job_release(&job);
	} else {
		json_object_set_new(o, "status", json_null());
		json_object_set_new(o, "exit_code", json_null());
		json_object_set_new(o, "error_message", json_null());
	}
	out_json(f, o);
	f->ended = 1;
	trace_mark('D', "log end event queued %s", f->id);
}

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;

	(void)pos;
	for (;;) {
		if (f->abort)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (f->out_pos < f->out_len) {
			size_t n = f->out_len - f->out_pos;
			if (n > max)
				n = max;
			memcpy(buf, f->out + f->out_pos, n);
			f->out_pos += n;
			if (f->out_pos == f->out_len)
				f->out_pos = f->out_len = 0;
			return (ssize_t)n;
		}
		if (f->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		int done = f->lg->live ? !f->lg->live(f->id, f->lg->live_arg) :
			   !supervisor_is_live(f->lg->sv, f->id);
		if (follow_fill(f, done))
			continue;
		if (done) {
			follow_end(f);
			continue;
		}
		if (f->wd < 0 && f->fd >= 0 && f->lg->ino >= 0) {
			struct stat st;

			f->wd = inotify_add_watch(f->lg->ino, f->path, IN_MODIFY);
			/* written between the read and the watch: read it now */
			if (f->wd >= 0 && fstat(f->fd, &st) == 0 && st.st_size > f->offset)
				continue;
		}
		f->suspended = 1;
		f->last_check = time_mono_ms();
		MHD_suspend_connection(f->conn);
		return 0;
	}
}

static void follow_free(void *cls)
{
	struct follower *f = cls;
	struct logs *lg = f->lg;

	if (f->prev)
		f->prev->next = f->next;
	else
		lg->list = f->next;
	if (f->next)
		f->next->prev = f->prev;
	lg->count--;
	if (f->wd >= 0) {
		struct follower *o = lg->list;

		while (o && o->wd != f->wd)
			o = o->next;
		if (!o)
			inotify_rm_watch(lg->ino, f->wd);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->in);
	free(f->out);
	free(f);
}

struct MHD_Response *logs_follow(struct logs *lg, struct MHD_Connection *conn,
				 const char *job_id)
{
	struct follower *f = xcalloc(1, sizeof(*f));
	struct MHD_Response *resp;

	f->lg = lg;
	f->conn = conn;
	snprintf(f->id, sizeof(f->id), "%s", job_id);
	f->path = xasprintf("%s/jobs/%s/log", lg->data_dir, job_id);
	f->fd = -1;
	f->wd = -1;
	f->in = xmalloc(FOLLOW_IN_CAP);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
						 follow_read, f, follow_free);
	if (!resp) {
		free(f->path);
		free(f->in);
		free(f);
		return NULL;
	}
	f->next = lg->list;
	if (lg->list)
		lg->list->prev = f;
	lg->list = f;
	lg->count++;
	return resp;
}

static void resume(struct follower *f, int64_t now)
{
	f->suspended = 0;
	f->last_check = now;
	MHD_resume_connection(f->conn);
}

void logs_wake(struct logs *lg, const char *job_id)
{
	int64_t now = time_mono_ms();

	for (struct follower *f = lg->list; f; f = f->next)
		if (f->suspended && !strcmp(f->id, job_id))
			resume(f, now);
}

int logs_next_timeout(struct logs *lg, int64_t now)
{
	int64_t t = -1;

	for (struct follower *f = lg->list; f; f = f->next) {
		int64_t d;

		if (!f->suspended)
			continue;
		if (f->wd < 0)
			return FOLLOW_TICK_MS;
		d = f->last_check + FOLLOW_RECHECK_MS - now;
		if (d < 0)
			d = 0;
		if (t < 0 || d < t)
			t = d;
	}
	return (int)t;
}

void logs_on_watch(struct logs *lg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int64_t now = time_mono_ms();
	ssize_t n;

	while ((n = read(lg->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			for (struct follower *f = lg->list; f; f = f->next) {
				if (f->wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED)
					f->wd = -1;    /* file gone: back to the tick */
				if (f->suspended)
					resume(f, now);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* MHD reads nothing from a connection while it sends a response, so a
 * client that hung up on a quiet stream would only be noticed at the next
 * write. Peek at the socket instead: EOF or an error means it is gone. */
static int peer_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	ssize_t n;

	if (!ci)
		return 0;
	n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void logs_tick(struct logs *lg, int64_t now)
{
	for (struct follower *f = lg->list; f; f = f->next) {
		struct stat st;
		int grew;

		if (!f->suspended)
			continue;
		if (f->fd >= 0)
			grew = fstat(f->fd, &st) == 0 && st.st_size > f->offset;
		else
			grew = stat(f->path, &st) == 0;
		if (!grew && now - f->last_check >= FOLLOW_RECHECK_MS && peer_gone(f->conn))
			f->abort = 1;
		if (grew || f->abort || now - f->last_check >= FOLLOW_RECHECK_MS)
			resume(f, now);
	}
}

void logs_resume_all(struct logs *lg, int abort)
{
	int64_t now = time_mono_ms();

	for (struct follower *f = lg->list; f; f = f->next) {
		if (abort)
			f->abort = 1;
		if (f->suspended)
			resume(f, now);
	}
}
