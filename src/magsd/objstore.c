/*
 * objstore.c - what every object store shares: key validation (so no store
 * can be asked for a path outside its space) and the NULL-safe free.
 */
#include "magsd/objstore.h"

#include <string.h>

#include "common/banned.h"

#define OBJSTORE_KEY_MAX 1024

int objstore_key_valid(const char *key)
{
	size_t len, start = 0;

	if (!key)
		return 0;
	len = strlen(key);
	if (len == 0 || len > OBJSTORE_KEY_MAX || strstr(key, ".."))
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = key[i];
		if (i < len && c != '/') {
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
				return 0;
			continue;
		}
		/* A component: not empty (no leading, trailing or double '/'),
		 * not starting with '.' (".", and the dir store's temp files). */
		if (i == start || key[start] == '.')
			return 0;
		start = i + 1;
	}
	return 1;
}

void objstore_free(struct objstore *os)
{
	if (os)
		os->ops->free(os);
}
