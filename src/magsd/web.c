/*
 * web.c - the dashboard's static files and the HTTP side of browser
 * sessions (see web.h).
 *
 * The dashboard is a handful of static files (no build step) that talk to
 * the public REST API only, so it can show nothing the API would not. The
 * files are opened per request, relative to the web directory, with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) after the path was checked
 * against a whitelist of characters: no '..', no dot-files, no symlink
 * can lead outside. Files are small; reading them on the loop costs what
 * an SQLite call does.
 */
#include "magsd/web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/auth.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "common/banned.h"

#define WEB_FILE_MAX ((off_t)8 * 1024 * 1024)

/* Script, style, images, fetch: this origin only; no inline script, no
 * framing, no plugins, forms post here only. */
#define WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; " \
	"object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'"

/* Paths of the single-page app: all of them are index.html, the page's
 * script picks the view (/dashboard and /usage.html are the original
 * service's links to its usage page, contract §7 and Q36). */
static const char *const app_paths[] = {
	"/", "/index.html", "/dashboard", "/usage.html", "/usage", "/login",
	"/login.html", "/tokens", "/jobs", "/workspaces", "/cron",
};

int web_wants(const char *method, const char *url)
{
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return 0;
	return strcmp(url, "/api") && strncmp(url, "/api/", 5);
}

int web_path_ok(const char *path)
{
	size_t n = strlen(path);
	int seg_start = 1;

	if (n < 2 || n > WEB_PATH_MAX || path[0] != '/' || path[n - 1] == '/')
		return 0;
	for (const char *p = path + 1; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (seg_start)
				return 0;   /* empty segment */
			seg_start = 1;
			continue;
		}
		if (seg_start && c == '.')
			return 0;           /* ".", "..", dot-files */
		seg_start = 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

const char *web_path_file(const char *path)
{
	for (size_t i = 0; i < sizeof(app_paths) / sizeof(app_paths[0]); i++)
		if (!strcmp(path, app_paths[i]))
			return "index.html";
	if (!web_path_ok(path))
		return NULL;
	return path + 1;
}

const char *web_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
		{ ".webmanifest", "application/manifest+json" },
	};
	const char *dot = strrchr(name, '.');

	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* The web directory, found once; "" if there is none. */
static const char *web_root(const struct config *cfg)
{
	static char root[PATH_MAX];
	static int done;
	char exe[PATH_MAX], cand[PATH_MAX + 32];
	struct stat sb;
	ssize_t n;

	if (done)
		return root;
	done = 1;
	if (cfg->web_dir[0]) {
		snprintf(root, sizeof(root), "%s", cfg->web_dir);
		if (stat(root, &sb) < 0 || !S_ISDIR(sb.st_mode))
			log_warn("web_dir '%s' is not a directory: the dashboard is unavailable",
				 root);
		return root;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		static const char *const rel[] = { "/../share/mags/web", "/../../web" };
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
			if (stat(cand, &sb) == 0 && S_ISDIR(sb.st_mode) &&
			    realpath(cand, root)) {
				log_info("dashboard files from '%s'", root);
				return root;
			}
		}
	}
	root[0] = '\0';
	log_warn("no dashboard files found (set web_dir): '/' answers 404");
	return root;
}

static int open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		/* O_NONBLOCK: opening a fifo must not wait for a writer (it is
		 * refused after fstat); no effect on regular files */
		.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		/* before Linux 5.6: rel has no '..' and no dot segment, so only
		 * a symlink in the last component could lead out */
		fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	return (int)fd;
}

static void add_security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

static void reply_text(struct http_req *req, unsigned status, const char *text)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), (void *)text,
						MHD_RESPMEM_PERSISTENT);

	if (!resp)
		return;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_security_headers(resp);
	http_reply_response(req, status, resp);
}

void web_serve(struct http_req *req)
{
	const char *root = web_root(req->srv->cfg);
	const char *file = web_path_file(req->url);
	const char *inm;
	char etag[64];
	struct stat sb;
	struct MHD_Response *resp;
	int dirfd, fd;

	if (!file) {
		reply_text(req, 404, "not found\n");
		return;
	}
	if (!root[0]) {
		reply_text(req, 404, "the dashboard is not installed on this server\n");
		return;
	}
	dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		reply_text(req, 404, "the dashboard is not installed on this server\n");
		return;
	}
	fd = open_beneath(dirfd, file);
	close(dirfd);
	if (fd < 0) {
		reply_text(req, 404, "not found\n");
		return;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > WEB_FILE_MAX) {
		close(fd);
		reply_text(req, 404, "not found\n");
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
		 (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
			 (unsigned long long)sb.st_mtim.tv_nsec);
	inm = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					  MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && !strcmp(inm, etag)) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		add_security_headers(resp);
		http_reply_response(req, 304, resp);
		return;
	}
	/* takes the fd */
	resp = MHD_create_response_from_fd((size_t)sb.st_size, fd);
	if (!resp) {
		close(fd);
		reply_text(req, 500, "internal error\n");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, web_content_type(file));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	/* always revalidate: files change when magsd is upgraded, and the
	 * ETag makes revalidation a 304 */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	add_security_headers(resp);
	http_reply_response(req, 200, resp);
}

/* ---- sessions ---- */

static const char *header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int web_authenticate(struct http_req *req, struct mags_err *err)
{
	const char *cl = header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct auth_request ar = {
		.method = req->method,
		.authorization = header(req, MHD_HTTP_HEADER_AUTHORIZATION),
		.cookie = header(req, MHD_HTTP_HEADER_COOKIE),
		.csrf = header(req, AUTH_CSRF_HEADER),
		.content_type = header(req, MHD_HTTP_HEADER_CONTENT_TYPE),
		.has_body = header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
			    (cl && strcmp(cl, "0")),
	};
	int by_session;

	return auth_check_request(req->srv->store, &ar, &req->ident, &by_session, err);
}

int web_session_secret(struct http_req *req, char *out, size_t len)
{
	const char *cookie = header(req, MHD_HTTP_HEADER_COOKIE);

	if (!cookie || auth_cookie_get(cookie, AUTH_SESSION_COOKIE, out, len) < 0 ||
	    !auth_session_well_formed(out))
		return -ENOENT;
	return 0;
}

int web_request_https(struct http_req *req)
{
	const char *xfp = header(req, "X-Forwarded-Proto");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_PROTOCOL);

	/* a client that claims https only makes its own cookie Secure */
	return (xfp && !strcasecmp(xfp, "https")) || (ci && ci->protocol);
}

void web_session_cookie(char *buf, size_t len, const char *secret, int max_age_s,
			int secure)
{
	snprintf(buf, len, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
		 AUTH_SESSION_COOKIE, secret ? secret : "", secret ? max_age_s : 0,
		 secure ? "; Secure" : "");
}

void web_reply_json_cookie(struct http_req *req, unsigned status, json_t *obj,
			   const char *set_cookie)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	struct MHD_Response *resp;
	size_t n;

	json_decref(obj);
	if (!s)
		abort();
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	resp = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(s);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (set_cookie)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, set_cookie);
	http_reply_response(req, status, resp);
}
