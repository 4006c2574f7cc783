/*
 * workspace.c - workspaces on this host (see workspace.h).
 *
 * The database row (store.h) says what a workspace is: owner, name,
 * persistent, disk size, the snapshots it was forked from, its head. This
 * file keeps what only the running daemon knows, one struct wstate per
 * workspace touched since start: the job holding it, the task running on it
 * (prepare, sync, delete, resize: one at a time), whether its disk is
 * mounted, when it syncs next, and the HTTP requests waiting for a sync.
 *
 * Disk layout: DATA_DIR/workspaces/<user_id>/<name>/
 *   disk.img     sparse ext4 image of disk_gb GiB
 *   mnt/         its loop mount (nosuid,nodev); mnt/upper and mnt/work are
 *                the overlay's upper and work directories (--upper mnt)
 *   sync-state   the snapshot engine's per-workspace cache
 * A loop device is attached with autoclear (loopdev.h), so unmounting
 * detaches it: nothing leaks once the disk is unmounted.
 */
#include "magsd/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/loop.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/crashpoint.h"
#include "magsd/http.h"
#include "magsd/log.h"
#include "magsd/loopdev.h"
#include "magsd/serve.h"
#include "magsd/supervisor.h"
#include "magsd/syncer.h"
#include "magsd/task.h"
#include "common/banned.h"

#define GIB (1024LL * 1024 * 1024)
#define EXPIRY_CHECK_MS 1000
#define FILE_CHECK_MS 60000

enum { T_NONE, T_SYNC, T_DELETE, T_RESIZE, T_UNMOUNT, T_PREP };
enum { W_STOP, W_SYNC };

struct waiter {
	struct waiter *next;
	struct http_req *req;
	int kind;
	char job_id[JOB_ID_MAX];
};

struct wstate {
	struct wstate *next;
	struct workspaces *w;
	char user_id[32];
	char name[64];
	char job_id[JOB_ID_MAX];     /* the live job holding it, "" if none */
	int job_syncs;               /* that job is persistent and syncs */
	int task;                    /* T_SYNC, T_DELETE or T_RESIZE running on it */
	int preparing;               /* a job's prepare task runs (beside a sync) */
	int mounted;
	int sync_again;              /* a sync was asked for while a task ran */
	int64_t next_sync;           /* monotonic ms, 0 = none */
	struct waiter *waiters;      /* answered when the running sync ends */
	struct waiter *next_waiters; /* answered when the next sync ends */
	struct waiter *stop_waiters; /* answered after the job's final sync */
	int64_t idle_since;          /* monotonic ms it became idle, 0 = busy */
	struct targs *launch;        /* a job's prepare waiting for an unmount */
	struct http_req *pending;    /* a delete or resize waiting for the sync */
	int pending_kind;            /* T_DELETE or T_RESIZE */
	int pending_gb;
};

struct workspaces {
	struct server *srv;
	struct wstate *list;
	int stopping;
	int syncs;                   /* sync tasks alive (GC waits for 0) */
	int gc_running, gc_pending;
	int64_t next_expiry;
};

/* Arguments of a task child; the fork gives the child its own copy. */
struct targs {
	struct workspaces *w;
	struct wstate *st;           /* NULL for a job without a workspace */
	const struct config *cfg;
	int kind;
	char user_id[32];
	char name[64];
	char job_id[JOB_ID_MAX];
	char dir[PATH_MAX];          /* "" = no disk */
	int disk_gb;
	int persistent;              /* may talk to the object store */
	char lowers[WORKSPACE_MAX_LOWERS][SYNCER_HASH_MAX];
	int n_lowers;
	char head[SYNCER_HASH_MAX];  /* sync result */
	struct http_req *req;        /* delete/resize: the request to answer */
};

static struct wstate *state_find(struct workspaces *w, const char *user_id, const char *name)
{
	for (struct wstate *st = w->list; st; st = st->next)
		if (!strcmp(st->user_id, user_id) && !strcmp(st->name, name))
			return st;
	return NULL;
}

static struct wstate *state_get(struct workspaces *w, const char *user_id, const char *name)
{
	struct wstate *st = state_find(w, user_id, name);

	if (st)
		return st;
	st = xcalloc(1, sizeof(*st));
	st->w = w;
	snprintf(st->user_id, sizeof(st->user_id), "%s", user_id);
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->next = w->list;
	w->list = st;
	return st;
}

static char *ws_dir(const struct config *cfg, const char *user_id, const char *name)
{
	return xasprintf("%s/workspaces/%s/%s", cfg->data_dir, user_id, name);
}

static int is_mountpoint(const char *path)
{
	struct stat a, b;
	_cleanup_free_ char *parent = xasprintf("%s/..", path);

	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return 0;
	return a.st_dev != b.st_dev;
}

/* A system tool by absolute path when it is in an sbin (magsd's PATH may
 * lack them), else by name. */
static const char *tool(const char *name, char *buf, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	snprintf(buf, len, "%s", name);
	return buf;
}

static int64_t disk_used(const char *mnt)
{
	struct statvfs sv;

	if (statvfs(mnt, &sv) < 0)
		return -1;
	return (int64_t)(sv.f_blocks - sv.f_bfree) * (int64_t)sv.f_frsize;
}

static json_t *opt_str(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* ---- in task children ---- */

/*
 * DIR/restore-pending exists from the moment a persistent workspace's new
 * disk is created until the head is restored into it. A daemon killed in
 * between (tests/security/test_crash_points.py) leaves a mounted, empty
 * disk that would otherwise be taken as the workspace's content: the next
 * run restores it again and no sync uploads it. No sandbox runs on a disk
 * with the mark, so a non-empty upper there is a restore renamed into
 * place just before the crash.
 */
static int touch_pending(const char *dir)
{
	_cleanup_free_ char *p = xasprintf("%s/restore-pending", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int restore_done(const char *dir)
{
	_cleanup_free_ char *p = xasprintf("%s/restore-pending", dir);

	return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

/* 1 if dir's disk still needs its restore (the mark, an empty upper). */
static int restore_pending(const char *dir)
{
	_cleanup_free_ char *p = xasprintf("%s/restore-pending", dir);
	_cleanup_free_ char *upper = xasprintf("%s/mnt/upper", dir);
	struct dirent *e;
	DIR *d;
	int empty = 1;

	if (access(p, F_OK) < 0)
		return 0;
	d = opendir(upper);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	if (d)
		closedir(d);
	if (!empty)
		(void)restore_done(dir);
	return empty;
}

/* The disk exists (created and formatted if not) and is mounted with
 * upper/ and work/. *fresh = 1 if it was just created. */
static int disk_ready(const struct targs *a, int create, int *fresh, struct mags_err *err)
{
	_cleanup_free_ char *img = xasprintf("%s/disk.img", a->dir);
	_cleanup_free_ char *tmp = xasprintf("%s/disk.img.new", a->dir);
	_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
	_cleanup_free_ char *upper = xasprintf("%s/mnt/upper", a->dir);
	_cleanup_free_ char *work = xasprintf("%s/mnt/work", a->dir);
	char t1[64];
	int r;

	*fresh = 0;
	if ((r = mkdir_p(a->dir, 0700)) < 0)
		return err_sys(err, -r, "create '%s'", a->dir);
	if (access(img, F_OK) < 0) {
		if (!create)
			return err_set(err, MAGS_E_NOT_FOUND, ENOENT, "no disk");
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return err_sys(err, errno, "create '%s'", tmp);
		if (ftruncate(fd, (off_t)a->disk_gb * GIB) < 0) {
			r = err_sys(err, errno, "size '%s'", tmp);
			close(fd);
			return r;
		}
		close(fd);
		/* The file is new and sparse, so it already reads as zeros: no
		 * need to write the 64 MiB journal and 32 MiB of inode tables of
		 * a 2 GB disk (lazy_*_init here, noinit_itable at mount), which
		 * cost 66 MB of real disk per workspace (1.2 MB without). */
		char *const mkfs[] = { (char *)tool("mkfs.ext4", t1, sizeof(t1)), "-q", "-F",
				       "-m", "0", "-E",
				       "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
				       tmp, NULL };
		if ((r = task_exec(mkfs, err)) < 0) {
			unlink(tmp);
			return r;
		}
		/* mkfs wrote (and fsynced) its metadata through the page
		 * cache; the loop device reads the image with O_DIRECT
		 * (loopdev.c), so those cached pages would only sit there */
		fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
		/* until its restore is in place, a crash must not leave a disk
		 * that looks restored (restore_pending) */
		if (a->persistent && (r = touch_pending(a->dir)) < 0)
			return err_sys(err, -r, "create '%s/restore-pending'", a->dir);
		if (rename(tmp, img) < 0)
			return err_sys(err, errno, "rename '%s'", tmp);
		crashpoint("restore:disk-created");
		*fresh = 1;
	}
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return err_sys(err, errno, "create '%s'", mnt);
	if (!is_mountpoint(mnt)) {
		if ((r = loop_mount(img, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
				    "noinit_itable", err)) < 0)
			return r;
		crashpoint("restore:disk-mounted");
	}
	if ((mkdir(work, 0755) < 0 && errno != EEXIST))
		return err_sys(err, errno, "create '%s'", work);
	if (access(upper, F_OK) < 0) {
		if (mkdir(upper, 0755) < 0 && errno != EEXIST)
			return err_sys(err, errno, "create '%s'", upper);
		/* the upper's root becomes the sandbox's "/": root's, 0755 */
		if (chown(upper, 0, 0) < 0 || chmod(upper, 0755) < 0)
			return err_sys(err, errno, "set up '%s'", upper);
	}
	return 0;
}

static int disk_unmount(const char *dir, struct mags_err *err)
{
	_cleanup_free_ char *mnt = xasprintf("%s/mnt", dir);

	for (int i = 0; i < 50 && is_mountpoint(mnt); i++) {
		if (umount2(mnt, 0) == 0)
			continue;
		if (errno != EBUSY)
			return err_sys(err, errno, "unmount '%s'", mnt);
		usleep(100 * 1000);
	}
	if (is_mountpoint(mnt)) {
		/* still busy after 5 s: detach it; the loop device goes with the last user */
		if (umount2(mnt, MNT_DETACH) < 0)
			return err_sys(err, errno, "unmount '%s'", mnt);
	}
	return 0;
}

static int prep_child(void *arg, struct mags_err *err)
{
	struct targs *a = arg;
	int fresh = 0, r;

	crashpoint("restore:begin");
	if (a->dir[0]) {
		if ((r = disk_ready(a, 1, &fresh, err)) < 0)
			return r;
		if (!fresh && a->persistent)
			fresh = restore_pending(a->dir);
		if (fresh && a->persistent) {
			char head[SYNCER_HASH_MAX];
			_cleanup_free_ char *upper = xasprintf("%s/mnt/upper", a->dir);
			_cleanup_free_ char *tmp = xasprintf("%s/mnt/upper.restore", a->dir);

			r = syncer_head_get(a->cfg, a->user_id, a->name, head, err);
			crashpoint("restore:head-read");
			if (r == -ENOENT || r == -ENOSYS) {
				err_clear(err);
			} else if (r < 0) {
				return r;
			} else {
				(void)rm_rf(tmp);
				if ((r = syncer_restore(a->cfg, head, tmp, err)) < 0) {
					/* drop the fresh disk so the next run restores again */
					struct mags_err e2;
					_cleanup_free_ char *img = xasprintf("%s/disk.img", a->dir);
					if (disk_unmount(a->dir, &e2) == 0)
						(void)unlink(img);
					err_wrap(err, "restore snapshot %.12s", head);
					return r;
				}
				crashpoint("restore:restored");
				if (rmdir(upper) < 0 || rename(tmp, upper) < 0)
					return err_sys(err, errno, "put restored '%s' in place", upper);
				crashpoint("restore:in-place");
			}
			(void)restore_done(a->dir);
		}
	}
	for (int i = 0; i < a->n_lowers; i++) {
		_cleanup_free_ char *p = xasprintf("%s/snapshots/%s", a->cfg->data_dir, a->lowers[i]);
		struct stat sb;

		if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			continue;
		if ((r = syncer_materialise(a->cfg, a->lowers[i], err)) < 0) {
			err_wrap(err, "base snapshot %.12s", a->lowers[i]);
			return r;
		}
		crashpoint("restore:base-materialised");
	}
	return 0;
}

static int sync_child(void *arg, struct mags_err *err)
{
	struct targs *a = arg;
	_cleanup_free_ char *upper = xasprintf("%s/mnt/upper", a->dir);
	_cleanup_free_ char *state = xasprintf("%s/sync-state", a->dir);
	char hash[SYNCER_HASH_MAX];
	int fresh, r;

	r = disk_ready(a, 0, &fresh, err);
	if (r == -ENOENT || (r == 0 && restore_pending(a->dir))) {
		/* no local disk (deleted or expired), or one whose restore a
		 * crash cut short: its head is all there is */
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	if ((r = syncer_sync(a->cfg, a->user_id, a->name, upper, state, hash, err)) < 0)
		return r;
	/* the result travels in the message */
	snprintf(err->msg, sizeof(err->msg), "%s", hash);
	return 0;
}

static int delete_child(void *arg, struct mags_err *err)
{
	struct targs *a = arg;
	_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
	int r;

	if ((r = disk_unmount(a->dir, err)) < 0)
		return r;
	if (is_mountpoint(mnt))
		return err_set(err, MAGS_E_INTERNAL, EBUSY, "'%s' is still mounted", mnt);
	if ((r = rm_rf(a->dir)) < 0)
		return err_sys(err, -r, "remove '%s'", a->dir);
	if (a->persistent && (r = syncer_head_delete(a->cfg, a->user_id, a->name, err)) < 0 &&
	    r != -ENOSYS)
		return r;
	err_clear(err);
	return 0;
}

/* The block device mounted at mnt ("/dev/loop3"), from mountinfo. */
static int mount_source(const char *mnt, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *fields[5] = { 0 }, *dash, *tok;
		int n = 0;

		dash = strstr(line, " - ");
		if (!dash)
			continue;
		*dash = '\0';
		for (tok = strtok_r(line, " ", &save); tok && n < 5; tok = strtok_r(NULL, " ", &save))
			fields[n++] = tok;
		if (n < 5 || strcmp(fields[4], mnt))
			continue;
		/* after " - ": fstype source options */
		char *rest = dash + 3, *s2 = NULL;
		char *fstype = strtok_r(rest, " ", &s2);
		char *src = fstype ? strtok_r(NULL, " ", &s2) : NULL;
		if (src && !strncmp(src, "/dev/loop", 9)) {
			snprintf(out, len, "%s", src);
			r = 0;
		}
	}
	fclose(f);
	return r;
}

/*
 * Growing is done online where the host allows it: the image file grows,
 * the loop device is told (LOOP_SET_CAPACITY) and resize2fs grows the
 * mounted ext4. Otherwise (and to shrink) the disk is resized offline, but
 * only after a clean unmount: a disk whose unmount had to be deferred
 * (MNT_DETACH) may still be live somewhere, and fsck or resize2fs on its
 * image would corrupt it, so a busy disk is a 409 instead.
 */
static int resize_child(void *arg, struct mags_err *err)
{
	struct targs *a = arg;
	_cleanup_free_ char *img = xasprintf("%s/disk.img", a->dir);
	_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
	char t1[64], size[32];
	struct stat sb;
	int fresh, r;

	if ((r = disk_ready(a, 0, &fresh, err)) < 0)
		return r;
	if (stat(img, &sb) < 0)
		return err_sys(err, errno, "stat '%s'", img);
	int64_t used = disk_used(mnt);
	int64_t want = (int64_t)a->disk_gb * GIB;
	if (want == sb.st_size)
		return 0;
	/* ext4's own metadata needs room too: keep 5% + 64 MiB above the data */
	if (want < sb.st_size && (used < 0 || used + used / 20 + 64 * 1024 * 1024 > want))
		return err_set(err, MAGS_E_CONFLICT, ENOSPC,
			       "cannot shrink to %d GB: %.1f GB in use", a->disk_gb,
			       (double)used / (double)GIB);
	if (want > sb.st_size) {
		char dev[64];
		int fd;

		if ((r = mount_source(mnt, dev, sizeof(dev))) < 0)
			return err_sys(err, -r, "find the loop device of '%s'", mnt);
		if (truncate(img, (off_t)want) < 0)
			return err_sys(err, errno, "grow '%s'", img);
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, errno, "open '%s'", dev);
		r = ioctl(fd, LOOP_SET_CAPACITY, 0);
		close(fd);
		if (r < 0)
			return err_sys(err, errno, "resize loop device '%s'", dev);
		char *const grow[] = { (char *)tool("resize2fs", t1, sizeof(t1)), dev, NULL };
		struct mags_err online;
		if (task_exec(grow, &online) == 0)
			return 0;
		/* Online resizing needs CAP_SYS_RESOURCE, which some hosts
		 * (containers, VMs like these) do not grant even to root:
		 * fall back to the offline path below. */
	}
	char loopdev[64] = "";
	(void)mount_source(mnt, loopdev, sizeof(loopdev));
	for (int i = 0; i < 50 && is_mountpoint(mnt); i++) {
		if (umount2(mnt, 0) == 0)
			break;
		if (errno != EBUSY)
			return err_sys(err, errno, "unmount '%s'", mnt);
		usleep(100 * 1000);
	}
	if (is_mountpoint(mnt))
		return err_set(err, MAGS_E_CONFLICT, EBUSY,
			       "workspace disk is busy; try the resize again");
	/* Our mount is gone, but the filesystem lives on while any other mount
	 * namespace still holds it (a sandbox being torn down): its loop device
	 * (autoclear) detaches only then. Resizing the image before that would
	 * work on a live filesystem. */
	if (loopdev[0]) {
		_cleanup_free_ char *bf = xasprintf("/sys/block/%s/loop/backing_file",
						    loopdev + 5);
		int i;
		for (i = 0; i < 100 && access(bf, F_OK) == 0; i++)
			usleep(50 * 1000);
		if (access(bf, F_OK) == 0) {
			struct mags_err e2;
			(void)disk_ready(a, 0, &fresh, &e2);
			return err_set(err, MAGS_E_CONFLICT, EBUSY,
				       "workspace disk is still in use; try the resize again");
		}
	}
	char *const fsck[] = { (char *)tool("e2fsck", t1, sizeof(t1)), "-f", "-y", img, NULL };
	struct mags_err ignored;
	(void)task_exec(fsck, &ignored);  /* exit 1 = "fixed something": fine */
	snprintf(size, sizeof(size), "%dG", a->disk_gb);
	char *const rs[] = { (char *)tool("resize2fs", t1, sizeof(t1)), img, size, NULL };
	if ((r = task_exec(rs, err)) < 0)
		return r;
	if (want < sb.st_size && truncate(img, (off_t)want) < 0)
		return err_sys(err, errno, "shrink '%s'", img);
	return disk_ready(a, 0, &fresh, err);
}

/* ---- on the loop ---- */

static struct targs *targs_new(struct wstate *st, int kind)
{
	struct workspaces *w = st->w;
	struct targs *a = xcalloc(1, sizeof(*a));
	_cleanup_free_ char *dir = ws_dir(w->srv->cfg, st->user_id, st->name);

	a->w = w;
	a->st = st;
	a->cfg = w->srv->cfg;
	a->kind = kind;
	snprintf(a->user_id, sizeof(a->user_id), "%s", st->user_id);
	snprintf(a->name, sizeof(a->name), "%s", st->name);
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	return a;
}

static void gc_maybe(struct workspaces *w);
static void sync_start(struct wstate *st);
static void pending_start(struct wstate *st);
static void prep_start(struct targs *a);

static void answer_sync_waiters(struct wstate *st, struct waiter *list, int r,
				const struct mags_err *err)
{
	struct workspaces *w = st->w;
	struct store_workspace row;
	int have = store_ws_get(w->srv->store, st->user_id, st->name, &row) == 0;

	while (list) {
		struct waiter *wt = list;
		list = wt->next;
		if (wt->kind == W_STOP) {
			struct job job;
			if (store_job_get(w->srv->store, wt->job_id, NULL, &job) == 0) {
				http_resume_json(wt->req, 200, job_to_json(&job, 0));
				job_release(&job);
			} else {
				http_resume_error(wt->req, MAGS_E_INTERNAL, "database error reading job");
			}
		} else if (r < 0) {
			http_resume_error(wt->req, err->code ? err->code : MAGS_E_INTERNAL, err->msg);
		} else {
			http_resume_json(wt->req, 200, json_pack(
				"{s:s, s:s, s:o, s:o}", "request_id", wt->job_id,
				"status", "synced",
				"synced_at", job_json_time(have ? row.last_synced_at : 0),
				"snapshot", opt_str(have ? row.head : NULL)));
		}
		free(wt);
	}
}

/* A task on st ended: run what waited for it. */
static void after_task(struct wstate *st)
{
	st->task = T_NONE;
	st->idle_since = st->job_id[0] ? 0 : time_mono_ms();
	if (st->launch) {
		struct targs *a = st->launch;
		st->launch = NULL;
		prep_start(a);
		return;
	}
	if (st->pending) {
		pending_start(st);
		return;
	}
	if (st->sync_again) {
		st->sync_again = 0;
		st->waiters = st->next_waiters;
		st->next_waiters = NULL;
		sync_start(st);
	}
}

static void sync_done(int r, const struct mags_err *err, void *arg)
{
	struct targs *a = arg;
	struct wstate *st = a->st;
	struct workspaces *w = st->w;
	struct store_workspace row;
	struct waiter *waiters = st->waiters;

	w->syncs--;
	st->waiters = NULL;
	if (r == 0 && store_ws_get(w->srv->store, st->user_id, st->name, &row) == 0) {
		_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
		int64_t used = disk_used(mnt);
		if (err->msg[0])
			snprintf(row.head, sizeof(row.head), "%.64s", err->msg);
		row.last_synced_at = time_now_ms();
		if (used >= 0 && is_mountpoint(mnt)) {
			row.size_bytes = used;
			st->mounted = 1;
		}
		(void)store_ws_put(w->srv->store, &row, NULL);
		log_info("workspace %s/%s synced (snapshot %.12s)", st->user_id, st->name, row.head);
		crashpoint("sync:recorded");
	} else if (r < 0) {
		log_warn("workspace %s/%s: sync failed: %s", st->user_id, st->name, err->msg);
	}
	answer_sync_waiters(st, waiters, r, err);
	free(a);
	after_task(st);
	/* the job's final sync: its stop requests can be answered now */
	if (!st->job_id[0] && st->task != T_SYNC && st->stop_waiters && !st->sync_again) {
		answer_sync_waiters(st, st->stop_waiters, 0, err);
		st->stop_waiters = NULL;
	}
	gc_maybe(w);
}

static void sync_start(struct wstate *st)
{
	struct workspaces *w = st->w;
	struct targs *a;
	struct mags_err err;

	if (w->gc_running) {
		/* a sync may reuse a blob GC is deleting: wait for the GC */
		while (st->waiters) {
			struct waiter *wt = st->waiters;
			st->waiters = wt->next;
			wt->next = st->next_waiters;
			st->next_waiters = wt;
		}
		st->sync_again = 1;
		return;
	}
	a = targs_new(st, T_SYNC);

	st->task = T_SYNC;
	w->syncs++;
	if (task_start(sync_child, a, sync_done, a) < 0) {
		err_set(&err, MAGS_E_INTERNAL, EAGAIN, "could not start the sync");
		sync_done(-EAGAIN, &err, a);
	}
}

/* Ask for a sync of st; wt (may be NULL) is answered when it ends. */
static void sync_request(struct wstate *st, struct waiter *wt)
{
	if (st->task == T_NONE) {
		if (wt) {
			wt->next = st->waiters;
			st->waiters = wt;
		}
		sync_start(st);
		return;
	}
	st->sync_again = 1;
	if (wt) {
		wt->next = st->next_waiters;
		st->next_waiters = wt;
	}
}

/* ---- GC: after deletes, never beside a sync ---- */

struct gc_live {
	char **v;
	size_t n, cap;
};

static void gc_collect(const struct store_workspace *ws, void *arg)
{
	struct gc_live *l = arg;
	char buf[sizeof(ws->base_snapshot)];
	char *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", ws->base_snapshot);
	for (tok = buf; tok && *tok; tok = save) {
		save = strchr(tok, ',');
		if (save)
			*save++ = '\0';
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = xrealloc(l->v, l->cap * sizeof(char *));
		}
		l->v[l->n++] = xstrdup(tok);
	}
}

struct gc_args {
	struct workspaces *w;
	const struct config *cfg;
	struct gc_live live;
};

static int gc_child(void *arg, struct mags_err *err)
{
	struct gc_args *g = arg;

	return syncer_gc(g->cfg, (const char *const *)g->live.v, g->live.n, err);
}

static void gc_done(int r, const struct mags_err *err, void *arg)
{
	struct gc_args *g = arg;
	struct workspaces *w = g->w;

	if (r < 0 && r != -ENOSYS)
		log_warn("snapshot garbage collection: %s", err->msg);
	for (size_t i = 0; i < g->live.n; i++)
		free(g->live.v[i]);
	free(g->live.v);
	free(g);
	w->gc_running = 0;
	for (struct wstate *st = w->list; st; st = st->next)
		if (st->task == T_NONE && st->sync_again)
			after_task(st);
	gc_maybe(w);
}

static void gc_maybe(struct workspaces *w)
{
	if (!w->gc_pending || w->gc_running || w->syncs > 0)
		return;
	struct gc_args *g = xcalloc(1, sizeof(*g));
	g->w = w;
	g->cfg = w->srv->cfg;
	(void)store_ws_list(w->srv->store, NULL, gc_collect, &g->live, NULL);
	w->gc_pending = 0;
	w->gc_running = 1;
	if (task_start(gc_child, g, gc_done, g) < 0) {
		struct mags_err err;
		err_set(&err, MAGS_E_INTERNAL, EAGAIN, "could not start");
		gc_done(-EAGAIN, &err, g);
	}
}

/* ---- jobs ---- */

int workspace_job_wanted(const struct job_request *jr)
{
	return jr->workspace || jr->base || jr->persistent || jr->n_file_ids;
}

static void split_lowers(const char *list, char out[][SYNCER_HASH_MAX], int *n)
{
	char buf[sizeof(((struct store_workspace *)0)->base_snapshot)];
	char *tok, *next;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = buf; tok && *tok && *n < WORKSPACE_MAX_LOWERS; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		snprintf(out[(*n)++], SYNCER_HASH_MAX, "%.64s", tok);
	}
}

int workspace_job_prepare(struct workspaces *w, struct job *job,
			  const struct job_request *jr, struct mags_err *err)
{
	struct server *srv = w->srv;
	struct store_workspace base, row;
	const char *name = jr->workspace ? jr->workspace : (jr->persistent ? job->id : NULL);
	int have_base = 0, r;

	if (jr->base) {
		r = store_ws_get(srv->store, job->user_id, jr->base, &base);
		if (r == -ENOENT)
			return err_set(err, MAGS_E_NOT_FOUND, ENOENT,
				       "base workspace '%s' not found", jr->base);
		if (r < 0)
			return err_set(err, MAGS_E_INTERNAL, EIO, "database error reading workspace");
		if (!base.head[0])
			return err_set(err, MAGS_E_CONFLICT, ENODATA,
				       "base workspace '%s' has no snapshot yet: run it with -p "
				       "or 'mags sync %s' first", jr->base, jr->base);
		int depth = base.base_snapshot[0] ? 2 : 1;
		for (const char *p = base.base_snapshot; *p; p++)
			depth += *p == ',';
		if (depth > WORKSPACE_MAX_LOWERS)
			return err_set(err, MAGS_E_CONFLICT, ELOOP,
				       "base workspace '%s' is a fork %d levels deep (at most %d)",
				       jr->base, depth - 1, WORKSPACE_MAX_LOWERS - 1);
		have_base = 1;
	}
	for (size_t i = 0; i < jr->n_file_ids; i++) {
		struct store_file f;
		if (store_file_get(srv->store, jr->file_ids[i], job->user_id, &f) < 0)
			return err_set(err, MAGS_E_NOT_FOUND, ENOENT, "file '%s' not found",
				       jr->file_ids[i]);
	}
	if (name) {
		struct wstate *st = state_find(w, job->user_id, name);
		if (st && st->job_id[0])
			return err_set(err, MAGS_E_CONFLICT, EBUSY,
				       "workspace '%s' is in use by job %s", name, st->job_id);
		if (st && (st->task == T_DELETE || st->task == T_RESIZE))
			return err_set(err, MAGS_E_CONFLICT, EBUSY,
				       "workspace '%s' is being %s", name,
				       st->task == T_DELETE ? "deleted" : "resized");
		r = store_ws_get(srv->store, job->user_id, name, &row);
		if (r < 0 && r != -ENOENT)
			return err_set(err, MAGS_E_INTERNAL, EIO, "database error reading workspace");
		if (r == -ENOENT) {
			memset(&row, 0, sizeof(row));
			snprintf(row.user_id, sizeof(row.user_id), "%s", job->user_id);
			snprintf(row.name, sizeof(row.name), "%s", name);
			row.disk_gb = jr->disk_gb ? jr->disk_gb : srv->cfg->disk_gb;
			row.created_at = time_now_ms();
			if (have_base) {
				snprintf(row.base_name, sizeof(row.base_name), "%s", base.name);
				if (base.base_snapshot[0])
					snprintf(row.base_snapshot, sizeof(row.base_snapshot), "%.64s,%.530s",
						 base.head, base.base_snapshot);
				else
					snprintf(row.base_snapshot, sizeof(row.base_snapshot), "%s",
						 base.head);
			}
		}
		if (jr->persistent)
			row.persistent = 1;
		row.last_used_at = time_now_ms();
		if ((r = store_ws_put(srv->store, &row, err)) < 0)
			return r;
		job->workspace_id = xstrdup(name);
		job->disk_gb = row.disk_gb;
	}
	job->persistent = jr->persistent;
	job->no_sync = jr->no_sync;
	job->no_sleep = jr->no_sleep;
	if (jr->base)
		job->base_workspace_id = xstrdup(jr->base);
	if (jr->startup_command)
		job->startup_command = xstrdup(jr->startup_command);
	if (jr->n_file_ids) {
		json_t *a = json_array();
		for (size_t i = 0; i < jr->n_file_ids; i++)
			json_array_append_new(a, json_string(jr->file_ids[i]));
		job->file_ids = json_dumps(a, JSON_COMPACT);
		json_decref(a);
	}
	return 0;
}

/* The job's environment back from its JSON text: "KEY=VALUE" strings. */
static char **env_from_json(const char *text, size_t *n)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	const char *k;
	json_t *v;
	char **env;

	*n = 0;
	if (!o)
		return NULL;
	env = xcalloc(json_object_size(o) + 1, sizeof(char *));
	json_object_foreach(o, k, v)
		env[(*n)++] = xasprintf("%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
	json_decref(o);
	return env;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void job_fail(struct workspaces *w, const char *job_id, const char *msg)
{
	log_warn("job %s: %s", job_id, msg);
	(void)store_job_finish(w->srv->store, job_id, "error", -1, msg, time_now_ms());
}

/* Release st from job_id (a job that never ran or has ended). */
static void release(struct wstate *st, const char *job_id)
{
	struct store_workspace row;
	struct workspaces *w = st->w;

	if (strcmp(st->job_id, job_id))
		return;
	st->job_id[0] = '\0';
	st->job_syncs = 0;
	st->idle_since = time_mono_ms();
	st->next_sync = 0;
	if (store_ws_get(w->srv->store, st->user_id, st->name, &row) == 0) {
		_cleanup_free_ char *dir = ws_dir(w->srv->cfg, st->user_id, st->name);
		_cleanup_free_ char *mnt = xasprintf("%s/mnt", dir);
		int64_t used = st->mounted ? disk_used(mnt) : -1;
		row.last_used_at = time_now_ms();
		if (used >= 0)
			row.size_bytes = used;
		(void)store_ws_put(w->srv->store, &row, NULL);
	}
}

static void spawn(struct workspaces *w, struct targs *a)
{
	struct server *srv = w->srv;
	struct mags_err err;
	struct job job;
	char *lowers[WORKSPACE_MAX_LOWERS];
	char **copy = NULL, **env;
	size_t n_copy = 0, n_env;
	_cleanup_free_ char *mnt = a->dir[0] ? xasprintf("%s/mnt", a->dir) : NULL;
	struct supervisor_layers layers = { .upper = mnt };

	if (store_job_get(srv->store, a->job_id, NULL, &job) < 0) {
		if (a->st)
			release(a->st, a->job_id);
		return;
	}
	if (mnt && !is_mountpoint(mnt)) {
		/* never let the runtime build an upper on the host's own disk */
		job_fail(w, job.id, "workspace disk is not mounted");
		release(a->st, a->job_id);
		job_release(&job);
		return;
	}
	if (strcmp(job.status, "accepted") && strcmp(job.status, "sleeping")) {
		/* stopped while its disk was being prepared (a sleeping job is
		 * being woken: lifecycle.c) */
		if (a->st)
			release(a->st, a->job_id);
		job_release(&job);
		return;
	}
	for (int i = 0; i < a->n_lowers; i++)
		lowers[i] = xasprintf("%s/snapshots/%s", srv->cfg->data_dir, a->lowers[i]);
	layers.lowers = lowers;
	layers.n_lowers = (size_t)a->n_lowers;
	json_t *ids = job.file_ids ? json_loads(job.file_ids, 0, NULL) : NULL;
	if (ids && json_is_array(ids)) {
		size_t i;
		json_t *id;
		copy = xcalloc(2 * json_array_size(ids) + 1, sizeof(char *));
		json_array_foreach(ids, i, id) {
			struct store_file f;
			if (!json_is_string(id) ||
			    store_file_get(srv->store, json_string_value(id), job.user_id, &f) < 0)
				continue;
			(void)store_file_touch(srv->store, f.id, time_now_ms());
			copy[n_copy++] = xasprintf("%s/files/%s/%s/%s:/root/%s", srv->cfg->data_dir,
						   f.user_id, f.id, f.name, f.name);
			copy[n_copy++] = xasprintf("%s/files/%s/%s/%s:/uploads/%s", srv->cfg->data_dir,
						   f.user_id, f.id, f.name, f.name);
		}
	}
	json_decref(ids);
	layers.copy_in = copy;
	layers.n_copy_in = n_copy;
	env = env_from_json(job.environment, &n_env);
	if (supervisor_spawn(srv->sv, &job, env, n_env, &layers, &err) < 0) {
		job_fail(w, job.id, err.msg);
		if (a->st)
			release(a->st, job.id);
	} else if (a->st && job.persistent && !job.no_sync) {
		a->st->job_syncs = 1;
		a->st->next_sync = time_mono_ms() + (int64_t)srv->cfg->sync_interval * 1000;
	}
	strv_free(env, n_env);
	strv_free(copy, n_copy);
	for (int i = 0; i < a->n_lowers; i++)
		free(lowers[i]);
	job_release(&job);
}

static void prep_done(int r, const struct mags_err *err, void *arg)
{
	struct targs *a = arg;
	struct wstate *st = a->st;
	struct workspaces *w = a->w;

	if (st && r == 0)
		st->mounted = 1;
	if (r < 0) {
		char msg[MAGS_ERR_MSG_MAX + 80];
		if (st)
			snprintf(msg, sizeof(msg), "workspace '%s': %s", st->name, err->msg);
		else
			snprintf(msg, sizeof(msg), "%s", err->msg);
		job_fail(w, a->job_id, msg);
		if (st)
			release(st, a->job_id);
	} else {
		crashpoint("job-start:prepared");
		spawn(w, a);
	}
	if (st)
		st->preparing = 0;
	free(a);
}

void workspace_job_launch(struct workspaces *w, const struct job *job)
{
	struct server *srv = w->srv;
	struct wstate *st = NULL;
	struct targs *a;
	struct store_workspace row;
	int need_task = 0;

	if (job->workspace_id) {
		st = state_get(w, job->user_id, job->workspace_id);
		snprintf(st->job_id, sizeof(st->job_id), "%s", job->id);
		a = targs_new(st, T_PREP);
		if (store_ws_get(srv->store, job->user_id, job->workspace_id, &row) == 0) {
			a->disk_gb = row.disk_gb;
			/* no_sync (a local-disk sandbox): no object-store traffic */
			a->persistent = row.persistent && !job->no_sync;
			split_lowers(row.base_snapshot, a->lowers, &a->n_lowers);
		}
		_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
		st->idle_since = 0;
		if (!st->mounted || st->task == T_UNMOUNT || !is_mountpoint(mnt))
			need_task = 1;
	} else {
		a = xcalloc(1, sizeof(*a));
		a->w = w;
		a->cfg = srv->cfg;
		if (job->base_workspace_id &&
		    store_ws_get(srv->store, job->user_id, job->base_workspace_id, &row) == 0) {
			snprintf(a->lowers[a->n_lowers++], SYNCER_HASH_MAX, "%s", row.head);
			split_lowers(row.base_snapshot, a->lowers, &a->n_lowers);
		}
	}
	snprintf(a->job_id, sizeof(a->job_id), "%s", job->id);
	for (int i = 0; i < a->n_lowers && !need_task; i++) {
		_cleanup_free_ char *p = xasprintf("%s/snapshots/%s", srv->cfg->data_dir, a->lowers[i]);
		struct stat sb;
		if (stat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
			need_task = 1;
	}
	if (!need_task) {
		spawn(w, a);
		free(a);
		return;
	}
	if (st && st->task == T_UNMOUNT) {
		/* its idle disk is being unmounted: mount it again after that */
		st->launch = a;
		st->preparing = 1;
		return;
	}
	prep_start(a);
}

static void prep_start(struct targs *a)
{
	if (a->st)
		a->st->preparing = 1;
	if (task_start(prep_child, a, prep_done, a) < 0) {
		struct mags_err err;
		err_set(&err, MAGS_E_INTERNAL, EAGAIN, "could not start a worker process");
		prep_done(-EAGAIN, &err, a);
	}
}

void workspace_job_ended(struct workspaces *w, const char *job_id)
{
	for (struct wstate *st = w->list; st; st = st->next) {
		if (strcmp(st->job_id, job_id))
			continue;
		int syncs = st->job_syncs;
		release(st, job_id);
		if (syncs) {
			/* the final sync: stop requests wait for it */
			struct waiter *list = st->stop_waiters;
			st->stop_waiters = NULL;
			if (st->task == T_NONE) {
				st->waiters = list;
				sync_start(st);
			} else {
				st->sync_again = 1;
				while (list) {
					struct waiter *n = list->next;
					list->next = st->next_waiters;
					st->next_waiters = list;
					list = n;
				}
			}
		} else if (st->stop_waiters) {
			struct mags_err none;
			err_clear(&none);
			answer_sync_waiters(st, st->stop_waiters, 0, &none);
			st->stop_waiters = NULL;
		}
		return;
	}
}

int workspace_stop_wait(struct workspaces *w, struct http_req *req, const char *job_id)
{
	for (struct wstate *st = w->list; st; st = st->next) {
		/* also without a sync: answer once the workspace is free, so a
		 * resize or a new job right after the stop finds it free */
		if (strcmp(st->job_id, job_id))
			continue;
		struct waiter *wt = xcalloc(1, sizeof(*wt));
		wt->req = req;
		wt->kind = W_STOP;
		snprintf(wt->job_id, sizeof(wt->job_id), "%s", job_id);
		wt->next = st->stop_waiters;
		st->stop_waiters = wt;
		http_suspend(req);
		return 1;
	}
	return 0;
}

void workspace_sync_request(struct workspaces *w, struct http_req *req, const struct job *job)
{
	struct store_workspace row;

	if (!job->workspace_id) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "job %s has no workspace to sync", job->id);
		return;
	}
	if (store_ws_get(w->srv->store, job->user_id, job->workspace_id, &row) < 0) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "workspace '%s' no longer exists",
				  job->workspace_id);
		return;
	}
	if (!row.persistent || (job->no_sync && !job_status_terminal(job->status))) {
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "workspace '%s' is local (not persistent): it is never synced",
				  job->workspace_id);
		return;
	}
	if (w->stopping) {
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "server is shutting down");
		return;
	}
	struct wstate *st = state_get(w, job->user_id, job->workspace_id);
	if (st->task == T_DELETE) {
		http_reply_errorf(req, MAGS_E_CONFLICT, "workspace '%s' is being deleted", st->name);
		return;
	}
	struct waiter *wt = xcalloc(1, sizeof(*wt));
	wt->req = req;
	wt->kind = W_SYNC;
	snprintf(wt->job_id, sizeof(wt->job_id), "%s", job->id);
	http_suspend(req);
	sync_request(st, wt);
}

/* ---- list, delete, resize ---- */

static json_t *ws_json(const struct store_workspace *ws)
{
	return json_pack("{s:s, s:I, s:I, s:b, s:o, s:o, s:i, s:o, s:o, s:o}",
			 "workspace_id", ws->name,
			 "job_count", (json_int_t)ws->job_count,
			 "size_bytes", (json_int_t)ws->size_bytes,
			 "persistent", ws->persistent,
			 "last_synced_at", job_json_time(ws->last_synced_at),
			 "base", opt_str(ws->base_name),
			 "disk_gb", ws->disk_gb,
			 "created_at", job_json_time(ws->created_at),
			 "last_used_at", job_json_time(ws->last_used_at),
			 "snapshot", opt_str(ws->head));
}

static void list_one(const struct store_workspace *ws, void *arg)
{
	json_array_append_new(arg, ws_json(ws));
}

void workspace_list_request(struct workspaces *w, struct http_req *req)
{
	json_t *arr = json_array();
	struct mags_err err;

	if (store_ws_list(w->srv->store, req->ident.user_id, list_one, arr, &err) < 0) {
		json_decref(arr);
		http_reply_error(req, &err);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "workspaces", arr));
}

static void delete_done(int r, const struct mags_err *err, void *arg)
{
	struct targs *a = arg;
	struct wstate *st = a->st;
	struct workspaces *w = st->w;

	st->mounted = 0;
	if (r == 0) {
		(void)store_ws_delete(w->srv->store, a->user_id, a->name);
		log_info("workspace %s/%s deleted", a->user_id, a->name);
		if (a->req)
			http_resume_json(a->req, 200, json_pack("{s:s, s:b}", "workspace_id",
								a->name, "deleted", 1));
		if (a->persistent) {
			w->gc_pending = 1;
		}
	} else {
		log_warn("workspace %s/%s: delete failed: %s", a->user_id, a->name, err->msg);
		if (a->req)
			http_resume_error(a->req, MAGS_E_INTERNAL, err->msg);
	}
	free(a);
	after_task(st);
	gc_maybe(w);
}

static void delete_start(struct wstate *st, const struct store_workspace *row,
			 struct http_req *req, int suspend)
{
	struct targs *a = targs_new(st, T_DELETE);

	a->persistent = row->persistent;
	a->req = req;
	st->task = T_DELETE;
	if (req && suspend)
		http_suspend(req);
	if (task_start(delete_child, a, delete_done, a) < 0) {
		struct mags_err err;
		err_set(&err, MAGS_E_INTERNAL, EAGAIN, "could not start a worker process");
		delete_done(-EAGAIN, &err, a);
	}
}

/* The caller's workspace named in the path, or a 404/409 reply. */
static struct wstate *own_idle(struct workspaces *w, struct http_req *req, const char *name,
			       struct store_workspace *row, int *wait)
{
	int r = store_ws_get(w->srv->store, req->ident.user_id, name, row);
	struct wstate *st;

	if (r == -ENOENT) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "workspace '%.64s' not found", name);
		return NULL;
	}
	if (r < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading workspace");
		return NULL;
	}
	if (w->stopping) {
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "server is shutting down");
		return NULL;
	}
	st = state_get(w, req->ident.user_id, name);
	if (st->job_id[0]) {
		http_reply_errorf(req, MAGS_E_CONFLICT, "workspace '%s' is in use by job %s",
				  name, st->job_id);
		return NULL;
	}
	*wait = 0;
	if (st->task == T_SYNC && !st->pending && !st->preparing) {
		/* a sync (a job's last, say) is running: go right after it */
		*wait = 1;
		return st;
	}
	if (st->task != T_NONE || st->preparing || st->pending) {
		http_reply_errorf(req, MAGS_E_CONFLICT, "workspace '%s' is busy (%s); try again",
				  name, st->task == T_SYNC ? "syncing" : st->task == T_DELETE ?
				  "being deleted" : st->task == T_RESIZE ? "resizing" :
				  st->task == T_UNMOUNT ? "unmounting" : "starting");
		return NULL;
	}
	return st;
}

void workspace_delete_request(struct workspaces *w, struct http_req *req, const char *name)
{
	struct store_workspace row;
	int wait;
	struct wstate *st = own_idle(w, req, name, &row, &wait);

	if (!st)
		return;
	if (wait) {
		st->pending = req;
		st->pending_kind = T_DELETE;
		http_suspend(req);
		return;
	}
	delete_start(st, &row, req, 1);
}

static void resize_done(int r, const struct mags_err *err, void *arg)
{
	struct targs *a = arg;
	struct wstate *st = a->st;
	struct workspaces *w = st->w;
	struct store_workspace row;

	if (r == 0 || r == -ENOENT) {
		st->mounted = r == 0;
		if (store_ws_get(w->srv->store, a->user_id, a->name, &row) == 0) {
			_cleanup_free_ char *mnt = xasprintf("%s/mnt", a->dir);
			int64_t used = r == 0 ? disk_used(mnt) : -1;
			row.disk_gb = a->disk_gb;
			if (used >= 0)
				row.size_bytes = used;
			(void)store_ws_put(w->srv->store, &row, NULL);
			row.job_count = 0;
			http_resume_json(a->req, 200, ws_json(&row));
		} else {
			http_resume_error(a->req, MAGS_E_NOT_FOUND, "workspace not found");
		}
	} else {
		http_resume_error(a->req, err->code ? err->code : MAGS_E_INTERNAL, err->msg);
	}
	free(a);
	after_task(st);
}

/* The child reports "no disk" as a failure; a missing disk only needs the
 * row changed (it is created at the new size on the next run). */
static void resize_done_wrap(int r, const struct mags_err *err, void *arg)
{
	if (r < 0 && !strcmp(err->msg, "no disk"))
		r = -ENOENT;
	else if (r < 0 && strstr(err->msg, "cannot shrink")) {
		struct mags_err e = *err;
		e.code = MAGS_E_CONFLICT;
		resize_done(r, &e, arg);
		return;
	}
	resize_done(r, err, arg);
}

static void resize_start(struct wstate *st, struct http_req *req, int gb)
{
	struct targs *a = targs_new(st, T_RESIZE);

	a->disk_gb = gb;
	a->req = req;
	st->task = T_RESIZE;
	if (task_start(resize_child, a, resize_done_wrap, a) < 0) {
		struct mags_err err;
		err_set(&err, MAGS_E_INTERNAL, EAGAIN, "could not start a worker process");
		resize_done(-EAGAIN, &err, a);
	}
}

void workspace_resize_request(struct workspaces *w, struct http_req *req, const char *name)
{
	struct store_workspace row;
	json_error_t jerr;
	json_t *o = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	json_t *v = o ? json_object_get(o, "disk_gb") : NULL;
	int gb;

	if (!v || !json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > w->srv->cfg->max_disk_gb) {
		json_decref(o);
		http_reply_errorf(req, MAGS_E_BAD_REQUEST,
				  "'disk_gb' must be a whole number from 1 to %d",
				  w->srv->cfg->max_disk_gb);
		return;
	}
	gb = (int)json_integer_value(v);
	json_decref(o);
	int wait;
	struct wstate *st = own_idle(w, req, name, &row, &wait);
	if (!st)
		return;
	http_suspend(req);
	if (wait) {
		st->pending = req;
		st->pending_kind = T_RESIZE;
		st->pending_gb = gb;
		return;
	}
	resize_start(st, req, gb);
}

/* The delete or resize that waited for a sync (see own_idle). */
static void pending_start(struct wstate *st)
{
	struct http_req *req = st->pending;
	struct store_workspace row;

	st->pending = NULL;
	if (store_ws_get(st->w->srv->store, st->user_id, st->name, &row) < 0) {
		http_resume_error(req, MAGS_E_NOT_FOUND, "workspace not found");
	} else if (st->job_id[0]) {
		http_resume_error(req, MAGS_E_CONFLICT, "workspace is in use by a job");
	} else if (st->pending_kind == T_DELETE) {
		delete_start(st, &row, req, 0);
		return;
	} else {
		resize_start(st, req, st->pending_gb);
		return;
	}
	after_task(st);
}

/* ---- idle disks are unmounted (the image stays) ---- */

static int unmount_child(void *arg, struct mags_err *err)
{
	struct targs *a = arg;

	return disk_unmount(a->dir, err);
}

static void unmount_done(int r, const struct mags_err *err, void *arg)
{
	struct targs *a = arg;
	struct wstate *st = a->st;

	if (r < 0)
		log_warn("workspace %s/%s: unmount: %s", a->user_id, a->name, err->msg);
	else
		st->mounted = 0;
	free(a);
	after_task(st);
}

static void unmount_idle(struct workspaces *w, int64_t now)
{
	int64_t after = (int64_t)w->srv->cfg->unmount_idle * 1000;

	for (struct wstate *st = w->list; st; st = st->next) {
		if (!st->mounted || st->job_id[0] || st->task != T_NONE || st->preparing ||
		    st->pending || st->sync_again || !st->idle_since || now - st->idle_since < after)
			continue;
		struct targs *a = targs_new(st, T_UNMOUNT);
		st->task = T_UNMOUNT;
		if (task_start(unmount_child, a, unmount_done, a) < 0) {
			free(a);
			st->task = T_NONE;
		}
	}
}

/* ---- time ---- */

struct expiry {
	struct workspaces *w;
	int64_t now;
	struct store_workspace *due;
	size_t n, cap;
};

static void expiry_check(const struct store_workspace *ws, void *arg)
{
	struct expiry *e = arg;
	int64_t last = ws->last_used_at ? ws->last_used_at : ws->created_at;

	if (ws->persistent || last + (int64_t)e->w->srv->cfg->local_ttl * 1000 > e->now)
		return;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 8;
		e->due = xrealloc(e->due, e->cap * sizeof(*e->due));
	}
	e->due[e->n++] = *ws;
}

int workspace_next_timeout(struct workspaces *w, int64_t now)
{
	int64_t best = w->next_expiry - now;

	for (struct wstate *st = w->list; st; st = st->next)
		if (st->next_sync && st->next_sync - now < best)
			best = st->next_sync - now;
	if (best < 0)
		best = 0;
	return best > 1000 ? 1000 : (int)best;
}

void workspace_tick(struct workspaces *w, int64_t now)
{
	if (w->stopping)
		return;
	for (struct wstate *st = w->list; st; st = st->next) {
		if (!st->next_sync || now < st->next_sync || !st->job_id[0])
			continue;
		st->next_sync = now + (int64_t)w->srv->cfg->sync_interval * 1000;
		if (st->task == T_NONE)
			sync_start(st);
	}
	if (now < w->next_expiry)
		return;
	w->next_expiry = now + EXPIRY_CHECK_MS;
	unmount_idle(w, now);
	struct expiry e = { .w = w, .now = time_now_ms() };
	(void)store_ws_list(w->srv->store, NULL, expiry_check, &e, NULL);
	for (size_t i = 0; i < e.n; i++) {
		struct wstate *st = state_get(w, e.due[i].user_id, e.due[i].name);
		if (st->job_id[0] || st->task != T_NONE || st->preparing || st->pending)
			continue;
		log_info("workspace %s/%s: unused for %d s, deleting it", st->user_id, st->name,
			 w->srv->cfg->local_ttl);
		delete_start(st, &e.due[i], NULL, 0);
	}
	free(e.due);
}

/* ---- life cycle ---- */

/* Materialisations a killed daemon left half done (snapshot_materialise
 * builds DATA_DIR/snapshots/.tmp-HASH-RANDOM, then renames it): no task
 * runs yet, so none of them is in progress. */
static void sweep_snapshot_tmps(const char *data_dir)
{
	_cleanup_free_ char *dir = xasprintf("%s/snapshots", data_dir);
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
		(void)rm_rf(p);
	}
	if (d)
		closedir(d);
}

struct workspaces *workspaces_new(struct server *srv)
{
	struct workspaces *w = xcalloc(1, sizeof(*w));

	w->srv = srv;
	sweep_snapshot_tmps(srv->cfg->data_dir);
	return w;
}

int workspace_busy(struct workspaces *w)
{
	for (struct wstate *st = w->list; st; st = st->next)
		if (st->task != T_NONE || st->preparing)
			return 1;
	return w->gc_running;
}

static void answer_all(struct waiter **list)
{
	while (*list) {
		struct waiter *wt = *list;
		*list = wt->next;
		http_resume_error(wt->req, MAGS_E_UNAVAILABLE, "server is shutting down");
		free(wt);
	}
}

void workspace_shutdown(struct workspaces *w)
{
	w->stopping = 1;
}

void workspace_drop_waiters(struct workspaces *w)
{
	for (struct wstate *st = w->list; st; st = st->next) {
		if (st->pending) {
			http_resume_error(st->pending, MAGS_E_UNAVAILABLE, "server is shutting down");
			st->pending = NULL;
		}
		answer_all(&st->waiters);
		answer_all(&st->next_waiters);
		answer_all(&st->stop_waiters);
	}
}

/* Unmount every workspace disk under DATA_DIR/workspaces (ours, and any a
 * killed daemon left). Blocking: only at exit. */
static void unmount_all(const struct config *cfg, struct workspaces *w)
{
	_cleanup_free_ char *root = xasprintf("%s/workspaces", cfg->data_dir);
	DIR *users = opendir(root);
	struct dirent *u, *n;

	if (!users)
		return;
	while ((u = readdir(users))) {
		if (u->d_name[0] == '.')
			continue;
		_cleanup_free_ char *ud = xasprintf("%s/%s", root, u->d_name);
		DIR *names = opendir(ud);
		if (!names)
			continue;
		while ((n = readdir(names))) {
			if (n->d_name[0] == '.')
				continue;
			_cleanup_free_ char *dir = xasprintf("%s/%s", ud, n->d_name);
			struct mags_err err;
			/* a sandbox that outlives the daemon still uses its disk */
			struct wstate *st = state_find(w, u->d_name, n->d_name);
			if (st && st->job_id[0])
				continue;
			if (disk_unmount(dir, &err) < 0)
				log_warn("%s", err.msg);
		}
		closedir(names);
	}
	closedir(users);
}

void workspaces_free(struct workspaces *w)
{
	if (!w)
		return;
	unmount_all(w->srv->cfg, w);
	while (w->list) {
		struct wstate *st = w->list;
		w->list = st->next;
		free(st);
	}
	free(w);
}

void workspace_hold(struct workspaces *w, const char *user_id, const char *name,
		    const char *job_id, int running)
{
	struct wstate *st = state_get(w, user_id, name);
	struct job job;

	snprintf(st->job_id, sizeof(st->job_id), "%s", job_id);
	if (!running)
		return;
	_cleanup_free_ char *dir = ws_dir(w->srv->cfg, user_id, name);
	_cleanup_free_ char *mnt = xasprintf("%s/mnt", dir);
	st->mounted = is_mountpoint(mnt);
	if (store_job_get(w->srv->store, job_id, NULL, &job) == 0) {
		if (job.persistent && !job.no_sync) {
			st->job_syncs = 1;
			st->next_sync = time_mono_ms() + (int64_t)w->srv->cfg->sync_interval * 1000;
		}
		job_release(&job);
	}
}
