/*
 * objstore_s3.c - the object store on any S3-compatible server (AWS S3,
 * MinIO, Ceph RGW, ...), over libcurl easy handles.
 *
 * Every call blocks: magsd runs them in forked children (objstore.h), so a
 * transfer is one curl_easy_perform on a handle kept for the store's life
 * (its connection is reused). Requests are signed with our own SigV4 code
 * (sigv4.c) rather than CURLOPT_AWS_SIGV4: that is the signer the unit tests
 * check against AWS's published vectors, and it signs the real payload hash.
 *
 * Uploads stream from the fd: a first pass over the file computes the sha256
 * and the length (both signed), a second pass feeds curl through a read
 * callback with a Content-Length, so nothing is buffered whole. Downloads are
 * written to the fd as they arrive, only once the status says 2xx.
 *
 * Transient failures (connection errors, timeouts, 5xx, 429) are retried with
 * exponential back-off; an upload re-reads its file and a download truncates
 * its output back to where it started. Every failure names the operation, the
 * key, the HTTP status and S3's error code:
 *   s3 PUT 'blobs/ab/ab12..': 403 SignatureDoesNotMatch: The request signature ...
 */
#include "magsd/objstore.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "magsd/sigv4.h"
#include "common/banned.h"

#define S3_ATTEMPTS        5        /* tries of one request */
#define S3_BACKOFF_MS      200      /* first wait, doubled each retry */
#define S3_CONNECT_TIMEOUT 10L      /* seconds */
#define S3_SMALL_TIMEOUT   120L     /* whole request, for everything but streams */
#define S3_LOW_SPEED_TIME  60L      /* streams: abort below 1 KiB/s for this long */
#define S3_ERRBODY_MAX     (16 * 1024)
#define S3_LIST_MAX        (32 * 1024 * 1024) /* one ListObjectsV2 page */
#define S3_LIST_PAGES_MAX  1000000  /* a loop guard against a server that never ends */

struct s3 {
	struct objstore base;
	char *url_base;   /* "http://127.0.0.1:9000" or "https://b.s3.amazonaws.com" */
	char *host;       /* Host header, signed: "127.0.0.1:9000" */
	char *bucket_path;/* "/bucket" (path style) or "" (virtual host) */
	char *prefix;
	char *region;
	char *access_key;
	char *secret_key;
	CURL *curl;
};

/* A growable buffer with a limit. */
struct membuf {
	char *p;
	size_t len, cap, max;
	int overflow;
};

static void membuf_add(struct membuf *b, const void *data, size_t n)
{
	if (b->len + n > b->max) {
		b->overflow = 1;
		n = b->max - b->len;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One request. The body comes from buf or from fd (pread from in_off for
 * in_len bytes); the response body goes to out_fd or into out. */
struct s3_req {
	const char *method;        /* the HTTP method */
	const char *op;            /* for messages: "PUT", "LIST", ... */
	const char *name;          /* for messages: the key or the listed prefix */
	const char *key;           /* object key without the store prefix; NULL: bucket */
	const struct sigv4_param *query;
	size_t n_query;
	int head;                  /* HEAD: no body expected */

	const void *in_buf;
	int in_fd;
	off_t in_off;
	uint64_t in_len;
	char payload_hash[65];

	int out_fd;                /* >= 0: write a 2xx body here */
	off_t out_start;           /* where out_fd was, to rewind on retry; -1 if a pipe */
	struct membuf *out;        /* else collect a 2xx body here (may be NULL) */

	/* state of one attempt */
	CURL *curl;
	uint64_t sent;
	uint64_t written;
	int write_err;             /* errno of a failed write to out_fd */
	struct membuf errbody;     /* a non-2xx body: S3's XML error */
	long status;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t want = size * nmemb;
	uint64_t left = r->in_len - r->sent;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (r->in_buf) {
		memcpy(dst, (const char *)r->in_buf + r->sent, want);
		n = (ssize_t)want;
	} else {
		do
			n = pread(r->in_fd, dst, want, r->in_off + (off_t)r->sent);
		while (n < 0 && errno == EINTR);
		if (n <= 0) /* shorter than the first pass saw: the file changed */
			return CURL_READFUNC_ABORT;
	}
	r->sent += (uint64_t)n;
	return (size_t)n;
}

/* curl rewinds the body when it must resend it (a reused connection that
 * turned out dead, a redirect, an auth retry). */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct s3_req *r = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->in_len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nmemb;
	long status = 0;
	int e;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		membuf_add(&r->errbody, data, n);
		return n;
	}
	if (r->out_fd >= 0) {
		e = write_full(r->out_fd, data, n);
		if (e < 0) {
			r->write_err = -e;
			return 0; /* curl stops with CURLE_WRITE_ERROR */
		}
		r->written += n;
	} else if (r->out) {
		membuf_add(r->out, data, n);
		if (r->out->overflow)
			return 0;
	}
	return n;
}

/* "/bucket/prefix/key", not encoded: what is signed and (encoded) sent. */
static char *object_path(struct s3 *s, const char *key)
{
	if (!key)
		return xasprintf("%s%s", s->bucket_path, *s->bucket_path ? "" : "/");
	return xasprintf("%s/%s%s", s->bucket_path, s->prefix, key);
}

/* The unescaped text of the first <tag> in xml into out ("" if absent). */
static void xml_text(const char *xml, const char *tag, char *out, size_t outlen);

static int is_transient(CURLcode rc, long status)
{
	if (rc == CURLE_OK) /* InternalError, BadGateway, SlowDown, timeouts */
		return status == 500 || status == 502 || status == 503 || status == 504 ||
		       status == 429;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Rewind the output of a download for another attempt. 0, or -1 if the
 * bytes already written cannot be taken back (a pipe). */
static int rewind_out(struct s3_req *r)
{
	if (r->out_fd < 0 || r->written == 0)
		return 0;
	if (r->out_start < 0)
		return -1;
	if (ftruncate(r->out_fd, r->out_start) < 0 ||
	    lseek(r->out_fd, r->out_start, SEEK_SET) < 0)
		return -1;
	r->written = 0;
	return 0;
}

/* One try of r: sign it now (the date is part of the signature), send it. */
static CURLcode s3_attempt(struct s3 *s, struct s3_req *r, const char *url, const char *path,
			   char *curl_err)
{
	struct sigv4_key k = { s->access_key, s->secret_key, s->region, "s3" };
	struct curl_slist *hl = NULL;
	char amz_date[17], *auth, *line;
	time_t now = time(NULL);
	CURL *c = s->curl;
	CURLcode rc;

	sigv4_amz_date(now, amz_date);
	struct sigv4_header h[] = {
		{ "host", s->host },
		{ "x-amz-content-sha256", r->payload_hash },
		{ "x-amz-date", amz_date },
	};
	struct sigv4_request sr = {
		r->method, path, r->query, r->n_query, h, sizeof(h) / sizeof(h[0]), r->payload_hash,
	};
	auth = sigv4_authorization(&sr, now, &k);

	line = xasprintf("Host: %s", s->host);
	hl = curl_slist_append(hl, line);
	free(line);
	line = xasprintf("x-amz-content-sha256: %s", r->payload_hash);
	hl = curl_slist_append(hl, line);
	free(line);
	line = xasprintf("x-amz-date: %s", amz_date);
	hl = curl_slist_append(hl, line);
	free(line);
	line = xasprintf("Authorization: %s", auth);
	hl = curl_slist_append(hl, line);
	free(line);
	free(auth);
	hl = curl_slist_append(hl, "Accept:");           /* curl's default says nothing here */
	if (!hl)
		abort();

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (r->in_buf || r->in_fd >= 0) {
		/* Streams have no total timeout (a 10 GB blob may take long), a
		 * stall is caught by the low-speed limit instead. */
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_len);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, S3_LOW_SPEED_TIME);
	} else if (r->out_fd >= 0) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, S3_LOW_SPEED_TIME);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT, S3_SMALL_TIMEOUT);
	}
	if (r->head)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "PUT") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);

	r->curl = c;
	r->sent = 0;
	r->status = 0;
	r->errbody.len = 0;
	r->errbody.overflow = 0;
	curl_err[0] = '\0';
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	return rc;
}

/* Run r with retries. Returns the final HTTP status (> 0), or a negative
 * errno with err filled for a failure that has no status. Non-2xx statuses
 * are left to the caller, with S3's error XML in r->errbody. */
static int s3_perform(struct s3 *s, struct s3_req *r, struct mags_err *err)
{
	char *path = object_path(s, r->key), *epath, *query, *url;
	char curl_err[CURL_ERROR_SIZE];
	CURLcode rc = CURLE_OK;
	long wait = S3_BACKOFF_MS;
	int ret;

	epath = sigv4_uri_encode(path, 1);
	query = sigv4_canonical_query(r->query, r->n_query);
	url = xasprintf("%s%s%s%s", s->url_base, epath, *query ? "?" : "", query);
	r->errbody.max = S3_ERRBODY_MAX;

	for (int i = 0;; i++) {
		rc = s3_attempt(s, r, url, path, curl_err);
		if (!is_transient(rc, r->status) || i + 1 >= S3_ATTEMPTS)
			break;
		if (rewind_out(r) < 0)
			break;
		if (r->out)
			r->out->len = 0;
		sleep_ms(wait);
		wait *= 2;
	}

	if (rc == CURLE_OK) {
		ret = (int)r->status;
	} else if (rc == CURLE_WRITE_ERROR && r->write_err) {
		ret = err_sys(err, r->write_err, "s3 %s '%s': writing the object", r->op, r->name);
	} else if (rc == CURLE_WRITE_ERROR && r->out && r->out->overflow) {
		ret = err_set(err, MAGS_E_INTERNAL, EFBIG, "s3 %s '%s': larger than %zu bytes",
			      r->op, r->name, r->out->max);
	} else if (rc == CURLE_ABORTED_BY_CALLBACK) {
		ret = err_set(err, MAGS_E_INTERNAL, EIO,
			      "s3 %s '%s': the file changed while it was uploaded", r->op, r->name);
	} else {
		ret = err_set(err, MAGS_E_UNAVAILABLE, EIO, "s3 %s '%s': %s (%s)", r->op, r->name,
			      curl_err[0] ? curl_err : curl_easy_strerror(rc), s->url_base);
	}
	free(path);
	free(epath);
	free(query);
	free(url);
	return ret;
}

/* Fill err for a non-2xx status and return the matching -errno. */
static int status_error(struct s3_req *r, struct mags_err *err)
{
	char code[128] = "", msg[256] = "";
	int e = r->status == 404 ? ENOENT : (r->status == 403 || r->status == 401) ? EACCES : EIO;
	int kind = r->status == 404 ? MAGS_E_NOT_FOUND :
		   r->status >= 500 ? MAGS_E_UNAVAILABLE : MAGS_E_INTERNAL;

	if (r->errbody.p) {
		xml_text(r->errbody.p, "Code", code, sizeof(code));
		xml_text(r->errbody.p, "Message", msg, sizeof(msg));
	}
	if (!code[0] && r->status == 404)
		snprintf(code, sizeof(code), "NoSuchKey");
	return err_set(err, kind, e, "s3 %s '%s': %ld%s%s%s%s", r->op, r->name, r->status,
		       code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

static struct s3 *to_s3(struct objstore *os)
{
	return (struct s3 *)os;
}

static int check_key(const char *op, const char *key, struct mags_err *err)
{
	if (!objstore_key_valid(key))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "s3 %s '%s': invalid object key",
			       op, key);
	return 0;
}

static void req_init(struct s3_req *r, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->op = method;
	r->name = key ? key : "";
	r->key = key;
	r->in_fd = -1;
	r->out_fd = -1;
	r->out_start = -1;
	memcpy(r->payload_hash, SIGV4_EMPTY_SHA256, sizeof(r->payload_hash));
}

static int finish(struct s3_req *r, int st, struct mags_err *err)
{
	int ret = st;

	if (st >= 0)
		ret = (st >= 200 && st <= 299) ? 0 : status_error(r, err);
	free(r->errbody.p);
	return ret;
}

/* The sha256 and length of fd from off to EOF, read with pread. */
static int hash_fd(int fd, off_t off, char hex[65], uint64_t *len)
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = xmalloc(1 << 20);
	uint64_t total = 0;
	ssize_t n;
	int ret = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		abort();
	for (;;) {
		n = pread(fd, buf, 1 << 20, off + (off_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (ret == 0) {
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		for (unsigned int i = 0; i < mdlen; i++) {
			hex[2 * i] = hexdig[md[i] >> 4];
			hex[2 * i + 1] = hexdig[md[i] & 15];
		}
		hex[2 * mdlen] = '\0';
		*len = total;
	}
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

static int s3_put_fd(struct objstore *os, const char *key, int fd, struct mags_err *err)
{
	struct s3 *s = to_s3(os);
	struct s3_req r;
	off_t off;
	int e;

	if ((e = check_key("PUT", key, err)) < 0)
		return e;
	req_init(&r, "PUT", key);
	/* pread needs a seekable fd: a regular file, which is what callers
	 * hand us (blobs are compressed to a temp file first). */
	off = lseek(fd, 0, SEEK_CUR);
	if (off < 0)
		return err_sys(err, errno, "s3 PUT '%s': the source is not a seekable file", key);
	e = hash_fd(fd, off, r.payload_hash, &r.in_len);
	if (e < 0)
		return err_sys(err, -e, "s3 PUT '%s': reading the source", key);
	r.in_fd = fd;
	r.in_off = off;
	e = finish(&r, s3_perform(s, &r, err), err);
	if (e == 0)
		lseek(fd, off + (off_t)r.in_len, SEEK_SET); /* "read to EOF" */
	return e;
}

static int s3_put_buf(struct objstore *os, const char *key, const void *buf, size_t len,
		      struct mags_err *err)
{
	struct s3_req r;
	int e;

	if ((e = check_key("PUT", key, err)) < 0)
		return e;
	req_init(&r, "PUT", key);
	r.in_buf = len ? buf : "";
	r.in_len = len;
	sigv4_sha256_hex(len ? buf : "", len, r.payload_hash);
	return finish(&r, s3_perform(to_s3(os), &r, err), err);
}

static int s3_get_fd(struct objstore *os, const char *key, int fd, struct mags_err *err)
{
	struct s3_req r;
	struct stat st;
	int e;

	if ((e = check_key("GET", key, err)) < 0)
		return e;
	req_init(&r, "GET", key);
	r.out_fd = fd;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		r.out_start = lseek(fd, 0, SEEK_CUR);
	return finish(&r, s3_perform(to_s3(os), &r, err), err);
}

static int s3_get_buf(struct objstore *os, const char *key, size_t max, char **out,
		      size_t *len, struct mags_err *err)
{
	struct membuf b = { .max = max };
	struct s3_req r;
	int e;

	if ((e = check_key("GET", key, err)) < 0)
		return e;
	req_init(&r, "GET", key);
	r.out = &b;
	e = finish(&r, s3_perform(to_s3(os), &r, err), err);
	if (e < 0) {
		free(b.p);
		return e;
	}
	if (!b.p)
		b.p = xstrdup("");
	*out = b.p;
	if (len)
		*len = b.len;
	return 0;
}

static int s3_exists(struct objstore *os, const char *key, struct mags_err *err)
{
	struct s3_req r;
	int e, st;

	if ((e = check_key("HEAD", key, err)) < 0)
		return e;
	req_init(&r, "HEAD", key);
	r.head = 1;
	st = s3_perform(to_s3(os), &r, err);
	if (st == 404) {
		free(r.errbody.p);
		return 0;
	}
	e = finish(&r, st, err);
	return e < 0 ? e : 1;
}

static int s3_del(struct objstore *os, const char *key, struct mags_err *err)
{
	struct s3_req r;
	int e, st;

	if ((e = check_key("DELETE", key, err)) < 0)
		return e;
	req_init(&r, "DELETE", key);
	st = s3_perform(to_s3(os), &r, err);
	if (st == 404) { /* S3 says 204 for a missing key; some servers 404 */
		free(r.errbody.p);
		return 0;
	}
	return finish(&r, st, err);
}

/* ---- the small XML of S3 answers ------------------------------------- */

/* Decode the five XML entities and numeric references in s[0..n) into out
 * (at most outlen-1 bytes). Returns 0, or -1 on a malformed reference. */
static int xml_unescape(const char *s, size_t n, char *out, size_t outlen)
{
	static const struct { const char *name; char c; } ent[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' },
	};
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		unsigned long cp = 0;
		char tmp[4];
		size_t tn = 0;

		if (s[i] != '&') {
			tmp[tn++] = s[i++];
		} else if (i + 1 < n && s[i + 1] == '#') {
			size_t j = i + 2;
			int hex = j < n && (s[j] == 'x' || s[j] == 'X');
			char *end;

			j += (size_t)hex;
			cp = strtoul(s + j, &end, hex ? 16 : 10);
			if (end == s + j || (size_t)(end - s) >= n || *end != ';' || cp == 0 ||
			    cp > 0x10ffff)
				return -1;
			i = (size_t)(end - s) + 1;
			if (cp < 0x80) {
				tmp[tn++] = (char)cp;
			} else if (cp < 0x800) {
				tmp[tn++] = (char)(0xc0 | (cp >> 6));
				tmp[tn++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				tmp[tn++] = (char)(0xe0 | (cp >> 12));
				tmp[tn++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				tmp[tn++] = (char)(0x80 | (cp & 0x3f));
			} else {
				tmp[tn++] = (char)(0xf0 | (cp >> 18));
				tmp[tn++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				tmp[tn++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				tmp[tn++] = (char)(0x80 | (cp & 0x3f));
			}
		} else {
			size_t k;

			for (k = 0; k < sizeof(ent) / sizeof(ent[0]); k++) {
				size_t l = strlen(ent[k].name);

				if (n - i - 1 >= l && memcmp(s + i + 1, ent[k].name, l) == 0) {
					tmp[tn++] = ent[k].c;
					i += 1 + l;
					break;
				}
			}
			if (k == sizeof(ent) / sizeof(ent[0]))
				return -1;
		}
		if (o + tn >= outlen)
			return -1;
		memcpy(out + o, tmp, tn);
		o += tn;
	}
	out[o] = '\0';
	return 0;
}

/* Find <tag>text</tag> in [p, end): the text span, and where the element
 * ends. Returns 0 or -1 if absent. A self-closing <tag/> is empty text. */
static int xml_find(const char *p, const char *end, const char *tag, const char **text,
		    size_t *len, const char **after)
{
	size_t tl = strlen(tag);

	for (const char *q = p; q < end; q++) {
		const char *t, *c;

		q = memchr(q, '<', (size_t)(end - q));
		if (!q)
			return -1;
		t = q + 1;
		if ((size_t)(end - t) < tl + 1 || memcmp(t, tag, tl) != 0)
			continue;
		if (t[tl] == '/' && t + tl + 1 < end && t[tl + 1] == '>') {
			*text = t + tl + 2;
			*len = 0;
			if (after)
				*after = t + tl + 2;
			return 0;
		}
		if (t[tl] != '>')
			continue;
		t += tl + 1;
		for (c = t; c < end; c++) {
			c = memchr(c, '<', (size_t)(end - c));
			if (!c)
				return -1;
			if ((size_t)(end - c) >= tl + 3 && c[1] == '/' &&
			    memcmp(c + 2, tag, tl) == 0 && c[2 + tl] == '>')
				break;
		}
		if (c >= end)
			return -1;
		*text = t;
		*len = (size_t)(c - t);
		if (after)
			*after = c + tl + 3;
		return 0;
	}
	return -1;
}

static void xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
	const char *t;
	size_t n;

	out[0] = '\0';
	if (xml_find(xml, xml + strlen(xml), tag, &t, &n, NULL) == 0 &&
	    xml_unescape(t, n, out, outlen) < 0)
		out[0] = '\0';
}

/* One ListObjectsV2 page: call fn per key. Returns 0 with *next set to a
 * malloc'd continuation token (NULL on the last page), 1 if fn stopped, or
 * a negative errno. */
static int list_page(struct s3 *s, const char *body, size_t blen, objstore_list_fn fn,
		     void *arg, char **next, struct mags_err *err)
{
	const char *end = body + blen, *p = body, *t, *after;
	size_t n, plen = strlen(s->prefix);
	char key[2048], tok[4096], num[32];

	*next = NULL;
	if (!memmem(body, blen, "<ListBucketResult", 17))
		return err_set(err, MAGS_E_INTERNAL, EPROTO, "s3 LIST: the answer is not a ListBucketResult");
	while (xml_find(p, end, "Contents", &t, &n, &after) == 0) {
		const char *ce = t + n, *kt, *st;
		size_t kn, sn;
		uint64_t size = 0;
		char *e;

		p = after;
		if (xml_find(t, ce, "Key", &kt, &kn, NULL) < 0 ||
		    xml_unescape(kt, kn, key, sizeof(key)) < 0)
			return err_set(err, MAGS_E_INTERNAL, EPROTO, "s3 LIST: a bad <Key>");
		if (xml_find(t, ce, "Size", &st, &sn, NULL) == 0) {
			if (sn == 0 || sn >= sizeof(num))
				return err_set(err, MAGS_E_INTERNAL, EPROTO, "s3 LIST: a bad <Size>");
			memcpy(num, st, sn);
			num[sn] = '\0';
			size = strtoull(num, &e, 10);
			if (*e)
				return err_set(err, MAGS_E_INTERNAL, EPROTO, "s3 LIST: a bad <Size>");
		}
		if (strncmp(key, s->prefix, plen) != 0)
			continue; /* not ours: the server ignored the prefix */
		if (fn(key + plen, size, arg))
			return 1;
	}
	if (xml_find(body, end, "IsTruncated", &t, &n, NULL) == 0 && n == 4 &&
	    memcmp(t, "true", 4) == 0) {
		if (xml_find(body, end, "NextContinuationToken", &t, &n, NULL) < 0 || n == 0 ||
		    xml_unescape(t, n, tok, sizeof(tok)) < 0)
			return err_set(err, MAGS_E_INTERNAL, EPROTO,
				       "s3 LIST: truncated without a NextContinuationToken");
		*next = xstrdup(tok);
	}
	return 0;
}

static int s3_list(struct objstore *os, const char *prefix, objstore_list_fn fn, void *arg,
		   struct mags_err *err)
{
	struct s3 *s = to_s3(os);
	char *full = xasprintf("%s%s", s->prefix, prefix ? prefix : ""), *token = NULL;
	int ret = 0;

	for (long page = 0; page < S3_LIST_PAGES_MAX; page++) {
		struct membuf b = { .max = S3_LIST_MAX };
		struct sigv4_param q[3] = {
			{ "list-type", "2" }, { "prefix", full }, { "continuation-token", token },
		};
		struct s3_req r;
		char *next = NULL;

		req_init(&r, "GET", NULL);
		r.op = "LIST";
		r.name = prefix ? prefix : "";
		r.query = q;
		r.n_query = token ? 3 : 2;
		r.out = &b;
		ret = finish(&r, s3_perform(s, &r, err), err);
		if (ret == 0)
			ret = list_page(s, b.p ? b.p : "", b.len, fn, arg, &next, err);
		free(b.p);
		free(token);
		token = next;
		if (ret != 0 || !token)
			break;
	}
	free(token);
	free(full);
	return ret < 0 ? ret : 0;
}

static void s3_free(struct objstore *os)
{
	struct s3 *s = to_s3(os);

	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->url_base);
	free(s->host);
	free(s->bucket_path);
	free(s->prefix);
	free(s->region);
	free(s->access_key);
	if (s->secret_key) {
		explicit_bzero(s->secret_key, strlen(s->secret_key));
		free(s->secret_key);
	}
	free(s);
}

static const struct objstore_ops s3_ops = {
	.put_fd = s3_put_fd,
	.put_buf = s3_put_buf,
	.get_fd = s3_get_fd,
	.get_buf = s3_get_buf,
	.exists = s3_exists,
	.del = s3_del,
	.list = s3_list,
	.free = s3_free,
};

static int bucket_name_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return 0;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.' || *p == '_' || (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

struct objstore *objstore_open_s3(const struct s3_config *cfg, struct mags_err *err)
{
	static int curl_ready;
	const char *ep = cfg->endpoint, *hostp, *slash;
	struct s3 *s;
	size_t schemelen;

	if (!ep || !*ep) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "s3: s3_endpoint is not set");
		return NULL;
	}
	if (strncmp(ep, "http://", 7) == 0) {
		schemelen = 7;
	} else if (strncmp(ep, "https://", 8) == 0) {
		schemelen = 8;
	} else {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			"s3: s3_endpoint '%s': not an http:// or https:// URL", ep);
		return NULL;
	}
	hostp = ep + schemelen;
	slash = strchr(hostp, '/');
	if (slash && slash[1] != '\0') {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			"s3: s3_endpoint '%s': a path is not supported, give scheme://host[:port]", ep);
		return NULL;
	}
	if ((slash ? (size_t)(slash - hostp) : strlen(hostp)) == 0 ||
	    strpbrk(hostp, "?#@ ")) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "s3: s3_endpoint '%s': no host", ep);
		return NULL;
	}
	if (!cfg->bucket || !bucket_name_ok(cfg->bucket)) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "s3: s3_bucket '%s': not a bucket name",
			cfg->bucket ? cfg->bucket : "");
		return NULL;
	}
	if (!cfg->access_key || !*cfg->access_key || !cfg->secret_key || !*cfg->secret_key) {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			"s3: s3_access_key and s3_secret_key must both be set");
		return NULL;
	}
	if (cfg->prefix && *cfg->prefix == '/') {
		err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "s3: s3_prefix '%s' starts with '/'",
			cfg->prefix);
		return NULL;
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			err_set(err, MAGS_E_INTERNAL, EIO, "s3: curl_global_init failed");
			return NULL;
		}
		curl_ready = 1;
	}

	s = xcalloc(1, sizeof(*s));
	s->base.ops = &s3_ops;
	{
		char *host = slash ? xstrndup(hostp, (size_t)(slash - hostp)) : xstrdup(hostp);

		if (cfg->path_style) {
			s->host = host;
			s->bucket_path = xasprintf("/%s", cfg->bucket);
		} else {
			s->host = xasprintf("%s.%s", cfg->bucket, host);
			s->bucket_path = xstrdup("");
			free(host);
		}
		s->url_base = xasprintf("%.*s%s", (int)schemelen, ep, s->host);
	}
	s->prefix = xstrdup(cfg->prefix ? cfg->prefix : "");
	s->region = xstrdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
	s->access_key = xstrdup(cfg->access_key);
	s->secret_key = xstrdup(cfg->secret_key);
	s->curl = curl_easy_init();
	if (!s->curl) {
		s3_free(&s->base);
		err_set(err, MAGS_E_INTERNAL, ENOMEM, "s3: curl_easy_init failed");
		return NULL;
	}
	return &s->base;
}
