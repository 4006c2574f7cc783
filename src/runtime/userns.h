/*
 * userns.h - the sandbox's user namespace: its ids map to an unprivileged
 * range of host ids, so root inside is host uid/gid <base> outside.
 */
#ifndef MAGS_RUNTIME_USERNS_H
#define MAGS_RUNTIME_USERNS_H

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* The uid_map/gid_map line "0 <base> <count>\n" (unit tested). */
size_t userns_format_map(char *buf, size_t len, uint32_t base, uint32_t count);

/* Supervisor (host root): write uid_map and gid_map of pid, which has
 * just entered a new user namespace. setgroups stays allowed: host root
 * may write gid_map without denying it, and then root in the sandbox can
 * use setgroups(2) like anywhere else (su, login tools). */
int userns_write_maps(pid_t pid, uint32_t base, uint32_t count,
		      struct mags_err *err);

/* Sandbox side, once the maps exist: become uid/gid 0 of the namespace
 * (host <base>) with no supplementary groups. */
int userns_become_root(struct mags_err *err);

#endif
