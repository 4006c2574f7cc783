/*
 * https.c - https:// through libcurl, loaded with dlopen() on first use.
 *
 * Linking libcurl would cost every start of the CLI ~14 ms even for plain
 * http:// servers, so only the handful of entry points used here are looked
 * up, and only when an https:// URL is actually requested. The option and
 * info numbers are libcurl's stable ABI values (curl/curl.h), spelled out
 * so that building libmags needs no libcurl headers.
 */
#include "libmags/http.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "libmags/url.h"
#include "mags/mags.h"
#include "common/banned.h"

/* From curl/curl.h (CURLOPTTYPE_* base + number). */
enum {
	C_OPT_WRITEDATA = 10001,
	C_OPT_READDATA = 10009,
	C_OPT_URL = 10002,
	C_OPT_ERRORBUFFER = 10010,
	C_OPT_POSTFIELDS = 10015,
	C_OPT_USERAGENT = 10018,
	C_OPT_HTTPHEADER = 10023,
	C_OPT_CUSTOMREQUEST = 10036,
	C_OPT_CAINFO = 10065,
	C_OPT_XFERINFODATA = 10057,
	C_OPT_WRITEFUNCTION = 20011,
	C_OPT_READFUNCTION = 20012,
	C_OPT_POST = 47,
	C_OPT_POSTFIELDSIZE_LARGE = 30120,
	C_OPT_XFERINFOFUNCTION = 20219,
	C_OPT_NOPROGRESS = 43,
	C_OPT_POSTFIELDSIZE = 60,
	C_OPT_CONNECTTIMEOUT_MS = 156,
	C_OPT_LOW_SPEED_LIMIT = 19,
	C_OPT_LOW_SPEED_TIME = 20,
	C_OPT_NOSIGNAL = 99,
	C_INFO_RESPONSE_CODE = 0x200002,
	C_GLOBAL_DEFAULT = 3,
	C_ERROR_SIZE = 256,
	C_E_WRITE_ERROR = 23,
	C_E_ABORTED_BY_CALLBACK = 42,
};

struct curl_slist;

static struct {
	void *lib;
	int (*global_init)(long flags);
	void *(*easy_init)(void);
	int (*easy_setopt)(void *h, int opt, ...);
	int (*easy_perform)(void *h);
	int (*easy_getinfo)(void *h, int info, ...);
	void (*easy_cleanup)(void *h);
	const char *(*easy_strerror)(int code);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} curl;

static int curl_load(struct mags_err *err)
{
	if (curl.lib)
		return 0;
	curl.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!curl.lib)
		return err_set(err, MAGS_E_UNAVAILABLE, ENOSYS,
			       "https needs libcurl (libcurl.so.4), which could not be loaded: %s",
			       dlerror());
#define SYM(field, name)                                                    \
	do {                                                                \
		*(void **)&curl.field = dlsym(curl.lib, name);              \
		if (!curl.field)                                            \
			goto missing;                                       \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
	if (curl.global_init(C_GLOBAL_DEFAULT) != 0) {
		dlclose(curl.lib);
		curl.lib = NULL;
		return err_set(err, MAGS_E_UNAVAILABLE, ENOSYS,
			       "libcurl failed to initialise");
	}
	return 0;
missing:
	dlclose(curl.lib);
	curl.lib = NULL;
	return err_set(err, MAGS_E_UNAVAILABLE, ENOSYS,
		       "libcurl.so.4 lacks a needed function");
}

struct xfer {
	void *h;
	const struct http_req *req;
	struct http_resp *resp;
	const struct http_opts *opts;
	struct mags_err *err;
	int ret;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb;

	if (!x->resp->headers_done) {
		long code = 0;

		curl.easy_getinfo(x->h, C_INFO_RESPONSE_CODE, &code);
		http_resp_set_status(x->resp, (int)code);
	}
	x->ret = http_resp_body(x->resp, data, len, x->err);
	return x->ret ? 0 : len;
}

/* CURLOPT_READFUNCTION: the produced body (a file upload). */
static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	ssize_t n = x->req->body_read(x->req->body_arg, buf, size * nitems);

	if (n < 0) {
		x->ret = -EIO;
		err_set(x->err, MAGS_E_INTERNAL, (int)-n, "reading the request body: %s",
			strerror((int)-n));
		return 0x10000000; /* CURL_READFUNC_ABORT */
	}
	return (size_t)n;
}

static int on_progress(void *arg, long long dlt, long long dln, long long ult,
		       long long uln)
{
	struct xfer *x = arg;

	if (x->opts->cancel && *x->opts->cancel) {
		x->ret = -ECANCELED;
		return 1;
	}
	return 0;
}

int https_do(const struct url *u, const struct http_req *req,
	     const struct http_opts *opts, struct http_resp *resp,
	     struct mags_err *err)
{
	char errbuf[C_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = { .req = req, .resp = resp, .opts = opts, .err = err };
	_cleanup_free_ char *ctype = NULL;
	_cleanup_free_ char *full = NULL;
	_cleanup_free_ char *auth = NULL;
	_cleanup_free_ char *accept = NULL;
	int rc, r = 0;
	long code = 0;

	r = curl_load(err);
	if (r < 0)
		return r;
	x.h = curl.easy_init();
	if (!x.h)
		return err_set(err, MAGS_E_INTERNAL, ENOMEM, "curl_easy_init failed");
	full = xasprintf("%s%s", u->text, req->target);
	accept = xasprintf("Accept: %s", req->accept ? req->accept : "application/json");
	hdrs = curl.slist_append(hdrs, accept);
	if (req->token) {
		auth = xasprintf("Authorization: Bearer %s", req->token);
		hdrs = curl.slist_append(hdrs, auth);
	}
	if (req->body || req->body_read) {
		ctype = xasprintf("Content-Type: %s", req->content_type ?
				  req->content_type : "application/json");
		hdrs = curl.slist_append(hdrs, ctype);
	}
	hdrs = curl.slist_append(hdrs, "Expect:");
	curl.easy_setopt(x.h, C_OPT_URL, full);
	curl.easy_setopt(x.h, C_OPT_CUSTOMREQUEST, req->method);
	curl.easy_setopt(x.h, C_OPT_HTTPHEADER, hdrs);
	curl.easy_setopt(x.h, C_OPT_USERAGENT, "mags/" MAGS_VERSION);
	curl.easy_setopt(x.h, C_OPT_NOSIGNAL, 1L);
	curl.easy_setopt(x.h, C_OPT_ERRORBUFFER, errbuf);
	curl.easy_setopt(x.h, C_OPT_WRITEFUNCTION, on_write);
	curl.easy_setopt(x.h, C_OPT_WRITEDATA, &x);
	curl.easy_setopt(x.h, C_OPT_NOPROGRESS, 0L);
	curl.easy_setopt(x.h, C_OPT_XFERINFOFUNCTION, on_progress);
	curl.easy_setopt(x.h, C_OPT_XFERINFODATA, &x);
	/* A self-hosted server often has a private CA. */
	if (getenv("MAGS_CA_BUNDLE") && *getenv("MAGS_CA_BUNDLE"))
		curl.easy_setopt(x.h, C_OPT_CAINFO, getenv("MAGS_CA_BUNDLE"));
	if (opts->connect_ms > 0)
		curl.easy_setopt(x.h, C_OPT_CONNECTTIMEOUT_MS, (long)opts->connect_ms);
	if (opts->read_ms > 0) {
		/* Idle limit: less than 1 byte/s for read_ms. */
		curl.easy_setopt(x.h, C_OPT_LOW_SPEED_LIMIT, 1L);
		curl.easy_setopt(x.h, C_OPT_LOW_SPEED_TIME,
				 (long)((opts->read_ms + 999) / 1000));
	}
	if (req->body_read) {
		curl.easy_setopt(x.h, C_OPT_POST, 1L);
		curl.easy_setopt(x.h, C_OPT_READFUNCTION, on_read);
		curl.easy_setopt(x.h, C_OPT_READDATA, &x);
		curl.easy_setopt(x.h, C_OPT_POSTFIELDSIZE_LARGE, (long long)req->body_len);
	} else if (req->body) {
		curl.easy_setopt(x.h, C_OPT_POSTFIELDS, req->body);
		curl.easy_setopt(x.h, C_OPT_POSTFIELDSIZE, (long)req->body_len);
	} else if (strcmp(req->method, "POST") == 0) {
		curl.easy_setopt(x.h, C_OPT_POSTFIELDS, "");
		curl.easy_setopt(x.h, C_OPT_POSTFIELDSIZE, 0L);
	}
	rc = curl.easy_perform(x.h);
	curl.easy_getinfo(x.h, C_INFO_RESPONSE_CODE, &code);
	if (rc == 0) {
		http_resp_set_status(resp, (int)code);
		resp->done = true;
	} else if (x.ret) {
		r = x.ret;
		if (r == -ECANCELED)
			err_set(err, MAGS_E_INTERNAL, ECANCELED, "interrupted");
	} else if (rc == C_E_ABORTED_BY_CALLBACK || rc == C_E_WRITE_ERROR) {
		r = err_set(err, MAGS_E_INTERNAL, ECANCELED, "interrupted");
	} else {
		r = err_set(err, MAGS_E_UNAVAILABLE, ECONNRESET, "%s: %s", u->text,
			    errbuf[0] ? errbuf : curl.easy_strerror(rc));
	}
	curl.slist_free_all(hdrs);
	curl.easy_cleanup(x.h);
	return r;
}
