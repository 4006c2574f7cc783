/*
 * route.h - URL path patterns like "/api/v1/mags-jobs/{id}/logs".
 *
 * A pattern is literal segments and "{name}" segments; a {name} segment
 * matches one non-empty path segment of at most ROUTE_PARAM_MAX bytes. One
 * trailing '/' on the path is ignored. Parameters are captured in order.
 */
#ifndef MAGS_MAGSD_ROUTE_H
#define MAGS_MAGSD_ROUTE_H

#include <stddef.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_MAX 128

struct route_params {
	int n;
	char v[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX + 1];
};

/* 1 if path matches pattern (params filled), else 0. */
int route_match(const char *pattern, const char *path, struct route_params *params);

#endif
