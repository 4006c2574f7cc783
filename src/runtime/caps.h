/*
 * caps.h - the capabilities a sandbox keeps.
 *
 * Docker's default set, which is what most software expects from "root in
 * a container": CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID,
 * SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP (Docker
 * also keeps NET_RAW; we do not). They are capabilities in the sandbox's
 * own user namespace: they act only on what that namespace owns (its
 * files through the idmapped image, its processes), never on the host.
 * Everything else, CAP_SYS_ADMIN first, is gone from the bounding,
 * permitted, effective, inheritable and ambient sets.
 */
#ifndef MAGS_RUNTIME_CAPS_H
#define MAGS_RUNTIME_CAPS_H

#include <stdbool.h>

#include "common/err.h"

/* Is cap (CAP_*) in the kept set? (unit tested) */
bool caps_kept(int cap);

/* Drop every other capability from all sets of the calling process, so
 * it and everything it execs (as uid 0) holds the kept set at most. Needs
 * CAP_SETPCAP, so it runs before anything else is dropped. */
int caps_drop(struct mags_err *err);

#endif
