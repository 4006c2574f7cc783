/*
 * api_access.c - POST /mags-jobs/{id}/access {"port": N} (contract §3.9,
 * DECISIONS D10, D13): reaching a live sandbox from outside.
 *
 * Port 22 issues a fresh SSH key pair for the job (sshgw.h) and answers
 * {"ssh_host", "ssh_port", "ssh_user", "ssh_private_key"}; any other port
 * answers {"url", "port", "subdomain"}, the job port's public URL through
 * the proxy (proxy.h). The sub is an unguessable 24-hex-digit id made once
 * per (job, port), so asking again returns the same URL. The job must be
 * the caller's (else 404) and its sandbox alive, running or asleep (else
 * 409). No "port": 8080 (D13).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/proxy.h"
#include "magsd/serve.h"
#include "magsd/sshgw.h"
#include "common/banned.h"

static int parse_port(struct http_req *req, int *port)
{
	json_error_t jerr;
	json_t *o, *v;

	*port = PROXY_DEFAULT_PORT;
	if (!req->body_len)
		return 0;
	o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		http_reply_errorf(req, MAGS_E_BAD_REQUEST, "the body must be a JSON object");
		return -EINVAL;
	}
	v = json_object_get(o, "port");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535) {
			json_decref(o);
			http_reply_errorf(req, MAGS_E_BAD_REQUEST,
					  "'port' must be an integer from 1 to 65535");
			return -EINVAL;
		}
		*port = (int)json_integer_value(v);
	}
	json_decref(o);
	return 0;
}

/* The host name clients should use for SSH: the setting, else the listen
 * address, else (a wildcard listen) the host this request came to. */
static void ssh_host(struct http_req *req, char *out, size_t n)
{
	const struct config *cfg = req->srv->cfg;
	const char *colon, *h;

	if (cfg->ssh_host[0]) {
		snprintf(out, n, "%s", cfg->ssh_host);
		return;
	}
	colon = strrchr(cfg->ssh_listen, ':');
	snprintf(out, n, "%.*s", (int)(colon - cfg->ssh_listen), cfg->ssh_listen);
	if (strcmp(out, "0.0.0.0") && strcmp(out, "[::]") && strcmp(out, "::"))
		goto strip;
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Host");
	snprintf(out, n, "%s", h && *h && strlen(h) < 256 ? h : "127.0.0.1");
	/* drop a port, keep an IPv6 literal's brackets off */
	colon = strrchr(out, ':');
	if (colon && (out[0] != '[' || colon > strchr(out, ']')))
		out[colon - out] = '\0';
strip:
	if (out[0] == '[') {
		size_t len = strlen(out);
		if (len >= 2 && out[len - 1] == ']') {
			memmove(out, out + 1, len - 2);
			out[len - 2] = '\0';
		}
	}
}

static void access_ssh(struct http_req *req, const struct job *job)
{
	struct server *srv = req->srv;
	struct mags_err err;
	char host[300];
	char *key = NULL;

	if (!srv->sshgw) {
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "the SSH gateway is not running");
		return;
	}
	err_clear(&err);
	if (sshgw_key_issue(srv->sshgw, job->id, job->user_id, &key, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	ssh_host(req, host, sizeof(host));
	http_reply_json(req, 200, json_pack("{s:s, s:s, s:i, s:s, s:s, s:i}",
					    "request_id", job->id, "ssh_host", host,
					    "ssh_port", sshgw_port(srv->sshgw),
					    "ssh_user", "root", "ssh_private_key", key,
					    "port", 22));
	free(key);
}

static void access_url(struct http_req *req, const struct job *job, int port)
{
	struct server *srv = req->srv;
	struct store_alias a;
	struct mags_err err;
	char sub[STORE_SUB_MAX + 1], url[400];
	int r = -EEXIST;

	if (!srv->proxy) {
		http_reply_errorf(req, MAGS_E_UNAVAILABLE, "the URL proxy is not running");
		return;
	}
	err_clear(&err);
	if (store_access_url_get(srv->store, job->id, port, sub) < 0) {
		for (int i = 0; i < 8 && r == -EEXIST; i++) {
			/* 96 random bits; never a name an alias already has */
			random_hex(sub, 12);
			if (store_alias_get(srv->store, sub, &a) == 0)
				continue;
			r = store_access_url_add(srv->store, sub, job->id, job->user_id, port,
						 time_now_ms(), &err);
		}
		if (r < 0) {
			http_reply_errorf(req, MAGS_E_INTERNAL, "could not record the URL");
			return;
		}
	}
	proxy_url(srv->proxy, sub, url, sizeof(url));
	http_reply_json(req, 200, json_pack("{s:s, s:s, s:i, s:s}", "request_id", job->id,
					    "url", url, "port", port, "subdomain", sub));
}

void api_access(struct http_req *req)
{
	struct server *srv = req->srv;
	struct job job;
	int port, r;

	if (parse_port(req, &port) < 0)
		return;
	memset(&job, 0, sizeof(job));
	r = store_job_get(srv->store, req->params.v[0], req->ident.user_id, &job);
	if (r == -ENOENT) {
		http_reply_errorf(req, MAGS_E_NOT_FOUND, "job not found");
		return;
	}
	if (r < 0) {
		http_reply_errorf(req, MAGS_E_INTERNAL, "database error reading job");
		return;
	}
	if ((strcmp(job.status, "running") && strcmp(job.status, "sleeping")) ||
	    (!strcmp(job.status, "running") && !supervisor_is_live(srv->sv, job.id))) {
		http_reply_errorf(req, MAGS_E_CONFLICT,
				  "job '%s' is %s: access needs a running sandbox", job.id,
				  job.status);
		job_release(&job);
		return;
	}
	if (port == 22)
		access_ssh(req, &job);
	else
		access_url(req, &job, port);
	job_release(&job);
}
