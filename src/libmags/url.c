/*
 * url.c - parse the server URL a client is made with (see url.h).
 *
 * Only what libmags needs: a scheme, an authority with an optional port
 * (IPv6 literals in brackets) and a path prefix for a server mounted below
 * '/'. No user info, query or fragment: a base URL has no use for them and
 * refusing them early gives a clearer error than a 404 later.
 */
#include "libmags/url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "common/banned.h"

static int parse_port(const char *s, size_t n, int *port)
{
	int v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

static bool host_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

static int parse_authority(const char *s, size_t n, struct url *u,
			   struct mags_err *err)
{
	const char *colon = NULL;
	const char *host = s;
	size_t host_len;

	if (n == 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no host");
	if (memchr(s, '@', n))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "user info is not supported");
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "unterminated '['");
		host = s + 1;
		host_len = (size_t)(close - host);
		if (host_len == 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no host");
		for (size_t i = 0; i < host_len; i++)
			if (!(host[i] == ':' || host[i] == '.' ||
			      (host[i] >= '0' && host[i] <= '9') ||
			      (host[i] >= 'a' && host[i] <= 'f') ||
			      (host[i] >= 'A' && host[i] <= 'F')))
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "bad IPv6 address");
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "junk after ']'");
			colon = close + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		host_len = colon ? (size_t)(colon - s) : n;
		if (host_len == 0)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "no host");
		for (size_t i = 0; i < host_len; i++)
			if (!host_char_ok(s[i]))
				return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
					       "bad character in host");
	}
	if (colon && parse_port(colon + 1, (size_t)(s + n - colon - 1), &u->port) < 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "bad port '%.*s'",
			       (int)(s + n - colon - 1), colon + 1);
	u->host = xstrndup(host, host_len);
	return 0;
}

static int parse(const char *s, struct url *u, struct mags_err *err)
{
	const char *rest, *slash;
	size_t n = strlen(s);

	if (n == 0)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "empty URL");
	if (n > URL_MAX)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "URL too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "space or control character");
	if (strncmp(s, "unix://", 7) == 0) {
		u->scheme = URL_UNIX;
		if (s[7] != '/' || s[8] == '\0')
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "want unix:///absolute/path.sock");
		u->sock_path = xstrdup(s + 7);
		while (strlen(u->sock_path) > 1 &&
		       u->sock_path[strlen(u->sock_path) - 1] == '/')
			u->sock_path[strlen(u->sock_path) - 1] = '\0';
		u->host = xstrdup("localhost");
		u->prefix = xstrdup("");
		return 0;
	}
	if (strncmp(s, "http://", 7) == 0) {
		u->scheme = URL_HTTP;
		u->port = 80;
		rest = s + 7;
	} else if (strncmp(s, "https://", 8) == 0) {
		u->scheme = URL_HTTPS;
		u->port = 443;
		rest = s + 8;
	} else {
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "want http://, https:// or unix://");
	}
	if (strpbrk(rest, "?#"))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "a query or fragment is not allowed");
	slash = strchr(rest, '/');
	if (parse_authority(rest, slash ? (size_t)(slash - rest) : strlen(rest),
			    u, err) < 0)
		return -EINVAL;
	u->prefix = xstrdup(slash ? slash : "");
	for (size_t l = strlen(u->prefix); l > 0 && u->prefix[l - 1] == '/'; l--)
		u->prefix[l - 1] = '\0';
	size_t pl = strlen(u->prefix);
	if (pl >= 7 && strcmp(u->prefix + pl - 7, "/api/v1") == 0)
		u->prefix[pl - 7] = '\0';
	return 0;
}

int url_parse(const char *s, struct url *u, struct mags_err *err)
{
	memset(u, 0, sizeof(*u));
	if (!s)
		s = "";
	if (parse(s, u, err) < 0) {
		url_release(u);
		err_wrap(err, "invalid URL '%.200s'", s);
		return -EINVAL;
	}
	u->text = xstrdup(s);
	for (size_t l = strlen(u->text); l > 0 && u->text[l - 1] == '/'; l--)
		u->text[l - 1] = '\0';
	return 0;
}

void url_release(struct url *u)
{
	if (!u)
		return;
	free(u->text);
	free(u->host);
	free(u->sock_path);
	free(u->prefix);
	memset(u, 0, sizeof(*u));
}

char *url_host_header(const struct url *u)
{
	bool v6 = strchr(u->host, ':') != NULL;
	bool default_port = u->scheme == URL_UNIX ||
		(u->scheme == URL_HTTP && u->port == 80) ||
		(u->scheme == URL_HTTPS && u->port == 443);

	if (default_port)
		return v6 ? xasprintf("[%s]", u->host) : xstrdup(u->host);
	return v6 ? xasprintf("[%s]:%d", u->host, u->port)
		  : xasprintf("%s:%d", u->host, u->port);
}

char *url_escape_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}
