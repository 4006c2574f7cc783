/*
 * crashpoint.h - named points where a test can kill magsd with SIGKILL, to
 * prove a crash at any step of job start, restore, sync or cron firing
 * loses no acknowledged data and leaves nothing stuck (issue 9).
 *
 * Disarmed (the normal case) a crash point costs one getenv at the first
 * call. Armed with env MAGS_CRASH_AT=NAME, the process dies by SIGKILL the
 * first time it reaches NAME; MAGS_CRASH_AT=NAME@N dies at the N-th time
 * (counted per process; a forked worker starts from its parent's count).
 * A point reached in a forked worker (task.c) kills the daemon first, then
 * the worker: the daemon's death is what is being tested.
 */
#ifndef MAGS_MAGSD_CRASHPOINT_H
#define MAGS_MAGSD_CRASHPOINT_H

/* Die here if MAGS_CRASH_AT names this point. name must be listed in
 * crashpoint.c's table (tests/security/test_crash_points.py checks that
 * every call in src/magsd is). */
void crashpoint(const char *name);

/* `magsd crash-points`: every point, one "NAME  DESCRIPTION" a line. */
int cmd_crash_points(int argc, char **argv, const char *data_dir);

#endif
