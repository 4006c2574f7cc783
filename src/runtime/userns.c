/*
 * userns.c - id maps of the sandbox's user namespace (see userns.h).
 *
 * Job-independent: a warm pool could map a slot's range ahead of time.
 */
#include "runtime/userns.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

size_t userns_format_map(char *buf, size_t len, uint32_t base, uint32_t count)
{
	int n = snprintf(buf, len, "0 %u %u\n", base, count);
	return n < 0 ? 0 : (size_t)n;
}

int userns_write_maps(pid_t pid, uint32_t base, uint32_t count,
		      struct mags_err *err)
{
	static const char *files[] = { "uid_map", "gid_map" };
	char map[64], path[64];
	int r;

	userns_format_map(map, sizeof(map), base, count);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		r = write_file(path, map);
		if (r < 0)
			return err_sys(err, -r, "write '%s'", path);
	}
	return 0;
}

int userns_become_root(struct mags_err *err)
{
	/* Our groups are still the host's (unmapped: nobody inside). */
	if (setgroups(0, NULL) < 0)
		return err_sys(err, errno, "setgroups");
	if (setresgid(0, 0, 0) < 0)
		return err_sys(err, errno, "setresgid 0");
	if (setresuid(0, 0, 0) < 0)
		return err_sys(err, errno, "setresuid 0");
	return 0;
}
