/*
 * route.c - matching URL paths against route patterns (see route.h).
 */
#include "magsd/route.h"

#include <string.h>

#include "common/banned.h"

int route_match(const char *pattern, const char *path, struct route_params *params)
{
	const char *p = pattern, *s = path;
	size_t plen = strlen(path);

	params->n = 0;
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	const char *end = path + plen;

	while (*p) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			const char *seg_end = s;
			size_t n;

			if (!close || params->n >= ROUTE_MAX_PARAMS)
				return 0;
			while (seg_end < end && *seg_end != '/')
				seg_end++;
			n = (size_t)(seg_end - s);
			if (n == 0 || n > ROUTE_PARAM_MAX)
				return 0;
			memcpy(params->v[params->n], s, n);
			params->v[params->n][n] = '\0';
			params->n++;
			s = seg_end;
			p = close + 1;
			continue;
		}
		if (s >= end || *s != *p)
			return 0;
		s++;
		p++;
	}
	return s == end;
}
