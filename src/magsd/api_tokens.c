/*
 * api_tokens.c - a user's own API tokens (see api_tokens.h). The admin
 * command `magsd token create` makes a user's first token; with it, the
 * user makes and revokes the rest here (the dashboard's Tokens page).
 */
#include "magsd/api_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/api.h"
#include "magsd/auth.h"
#include "magsd/job.h"
#include "magsd/log.h"
#include "magsd/serve.h"
#include "magsd/store.h"
#include "common/banned.h"

int api_tokens_parse_create(const char *body, size_t n, char *out,
			    struct mags_err *err)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *s;
	size_t len;
	int r = 0;

	out[0] = '\0';
	if (n == 0)
		return 0;
	o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "invalid JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "the body must be a JSON object");
	}
	v = json_object_get(o, "name");
	if (!v || json_is_null(v))
		goto out;
	if (!json_is_string(v)) {
		r = err_set(err, MAGS_E_BAD_REQUEST, EINVAL, "'name' must be a string");
		goto out;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len > API_TOKENS_NAME_MAX) {
		r = err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			    "'name' is longer than %d bytes", API_TOKENS_NAME_MAX);
		goto out;
	}
	/* jansson checked the UTF-8; NUL and control characters are refused
	 * so the name prints safely everywhere */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			r = err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				    "'name' must not contain control characters");
			goto out;
		}
	}
	memcpy(out, s, len);
	out[len] = '\0';
out:
	json_decref(o);
	return r;
}

static json_t *token_json(const struct store_token_meta *t, const char *current)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:b, s:o, s:b}",
			 "id", t->id,
			 "name", job_json_string(t->name, strlen(t->name)),
			 "created_at", job_json_time(t->created_at),
			 "last_used_at", job_json_time(t->last_used_at),
			 "revoked", t->revoked_at != 0,
			 "revoked_at", job_json_time(t->revoked_at),
			 "current", current && !strcmp(current, t->id));
}

struct list_ctx {
	json_t *arr;
	const char *current;
};

static void list_one(const struct store_token_meta *t, void *arg)
{
	struct list_ctx *c = arg;

	json_array_append_new(c->arr, token_json(t, c->current));
}

void api_tokens_list(struct http_req *req)
{
	struct list_ctx c = { json_array(), req->ident.token_id };
	struct mags_err err;

	if (store_token_list_meta(req->srv->store, req->ident.user_id, API_TOKENS_LIST_MAX,
				  list_one, &c, &err) < 0) {
		json_decref(c.arr);
		http_reply_error(req, &err);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "tokens", c.arr));
}

void api_tokens_create(struct http_req *req)
{
	char name[API_TOKENS_NAME_MAX + 1], token[AUTH_TOKEN_LEN + 1], tid[17];
	char hash[AUTH_HASH_HEX_LEN + 1];
	struct mags_err err;
	json_t *o;

	if (api_tokens_parse_create(req->body ? req->body : "", req->body_len, name,
				    &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	auth_token_new(token, tid);
	auth_token_hash(token, hash);
	if (store_token_create(req->srv->store, tid, req->ident.user_id, hash,
			       name[0] ? name : NULL, API_TOKENS_LIVE_MAX, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	log_info("token %s created by user '%s'", tid, req->ident.user_name);
	o = json_pack("{s:s, s:s, s:o, s:o}", "id", tid, "token", token,
		      "name", job_json_string(name, strlen(name)),
		      "created_at", job_json_time(time_now_ms()));
	explicit_bzero(token, sizeof(token));
	http_reply_json(req, 200, o);
}

void api_tokens_revoke(struct http_req *req)
{
	struct store_token_meta t;
	struct mags_err err;

	if (store_token_revoke_own(req->srv->store, req->params.v[0], req->ident.user_id,
				   &t, &err) < 0) {
		http_reply_error(req, &err);
		return;
	}
	log_info("token %s revoked by user '%s'", t.id, req->ident.user_name);
	http_reply_json(req, 200, token_json(&t, req->ident.token_id));
}
