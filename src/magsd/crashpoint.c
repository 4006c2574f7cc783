/*
 * crashpoint.c - the crash-point table and trigger (see crashpoint.h).
 *
 * The table is the enumeration a test walks: each name is armed in turn,
 * the step that reaches it is driven through the API, magsd must die by
 * SIGKILL there, and a restarted magsd must find every acknowledged write
 * and nothing stuck. The daemon's pid is taken when the program starts,
 * so a forked worker knows whom to kill.
 */
#include "magsd/crashpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

static const struct {
	const char *name;
	const char *what;
} points[] = {
	/* job start (api_jobs.c, workspace.c, supervisor.c) */
	{ "job-start:workspace-recorded", "the job's workspace row is stored, the job is not" },
	{ "job-start:accepted", "the job is stored 'accepted', nothing started yet" },
	{ "job-start:prepared", "its workspace disk is ready, the runtime not spawned" },
	{ "job-start:spawned", "mags-runtime forked, 'started' not seen yet" },
	{ "job-start:running", "'started' seen and the job stored 'running'" },
	{ "job-end:finished", "the runtime reaped and the job's outcome stored" },
	/* restore (workspace.c prep worker, snapshot.c) */
	{ "restore:begin", "prep worker started, nothing done" },
	{ "restore:disk-created", "the disk image formatted and renamed into place" },
	{ "restore:disk-mounted", "the disk image loop-mounted" },
	{ "restore:head-read", "the workspace's head read from the object store" },
	{ "restore:blobs-fetched", "every blob of the snapshot in the local cache" },
	{ "restore:tree-built", "the snapshot's tree built in the temporary directory" },
	{ "restore:restored", "snapshot restored beside the upper, not renamed yet" },
	{ "restore:in-place", "the restored tree renamed into the upper" },
	{ "restore:base-materialised", "a base snapshot materialised as a lower" },
	/* sync (snapshot.c, syncer.c, workspace.c) */
	{ "sync:write", "before an object-store write of a sync (use @N for the N-th)" },
	{ "sync:head-set", "the new head written to the object store" },
	{ "sync:recorded", "the new head stored in the database, waiters not answered" },
	/* cron firing (scheduler.c) */
	{ "cron:due-read", "the due cron entries read from the database" },
	{ "cron:job-inserted", "a firing's job stored 'accepted', not launched" },
	{ "cron:job-launched", "a firing's job launched, its firing not recorded" },
	{ "cron:recorded", "the firing (last run, next run) stored" },
};

static pid_t daemon_pid;

static void __attribute__((constructor)) take_pid(void)
{
	daemon_pid = getpid();
}

void crashpoint(const char *name)
{
	static const char *armed;
	static int looked;
	static long hits;
	const char *at;
	size_t n;
	long want = 1;

	if (!looked) {
		armed = getenv("MAGS_CRASH_AT");
		looked = 1;
	}
	if (!armed || !*armed)
		return;
	at = strchr(armed, '@');
	n = at ? (size_t)(at - armed) : strlen(armed);
	if (strlen(name) != n || strncmp(name, armed, n))
		return;
	if (at)
		want = strtol(at + 1, NULL, 10);
	if (++hits != want)
		return;
	fprintf(stderr, "magsd: crash point '%s' (hit %ld): SIGKILL\n", name, hits);
	fflush(stderr);
	if (getpid() != daemon_pid)
		kill(daemon_pid, SIGKILL);
	kill(getpid(), SIGKILL);
	_exit(137);
}

int cmd_crash_points(int argc, char **argv, const char *data_dir)
{
	(void)argc;
	(void)argv;
	(void)data_dir;
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		printf("%-30s %s\n", points[i].name, points[i].what);
	return 0;
}
