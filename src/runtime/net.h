/*
 * net.h - the sandbox's network namespace. For now only loopback: the
 * namespace starts with `lo` down and nothing else, so the sandbox has no
 * network at all besides 127.0.0.1. (veth + egress policy come later.)
 */
#ifndef MAGS_RUNTIME_NET_H
#define MAGS_RUNTIME_NET_H

#include "common/err.h"

/* Bring `lo` up in the calling process's network namespace. */
int net_loopback_up(struct mags_err *err);

/* Let every group of the sandbox open ICMP echo sockets (ping without
 * CAP_NET_RAW): net.ipv4.ping_group_range of the namespace, written
 * through the host's /proc before pivot_root (net sysctls act on the
 * writer's network namespace). */
int net_allow_ping(struct mags_err *err);

#endif
