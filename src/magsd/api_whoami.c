/*
 * api_whoami.c - GET /whoami: who the presented token belongs to. `mags
 * login` uses it to check a token before saving it.
 */
#include "magsd/api.h"

#include "common/banned.h"

void api_whoami(struct http_req *req)
{
	http_reply_json(req, 200, json_pack("{s:s, s:s, s:s}",
					    "user", req->ident.user_name,
					    "user_id", req->ident.user_id,
					    "token_id", req->ident.token_id));
}
