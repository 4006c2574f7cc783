/*
 * api_validate.c - POST /mags-jobs body checks (see api_validate.h).
 */
#include "magsd/api_validate.h"
#include "magsd/dns.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/netcfg.h"
#include "common/util.h"
#include "common/banned.h"

void job_request_release(struct job_request *req)
{
	if (!req)
		return;
	free(req->script);
	free(req->name);
	for (size_t i = 0; i < req->n_env; i++)
		free(req->env[i]);
	free(req->env);
	free(req->env_json);
	free(req->workspace);
	free(req->base);
	for (size_t i = 0; i < req->n_file_ids; i++)
		free(req->file_ids[i]);
	free(req->file_ids);
	free(req->startup_command);
	free(req->network);
	memset(req, 0, sizeof(*req));
}

/* A 400 naming the field (a macro so the format is checked). */
#define bad(err, fmt, field) err_set(err, MAGS_E_BAD_REQUEST, EINVAL, fmt, field)

/* A field that asks for something: present and not null/false/""/[]/{}. */
static int is_set(json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_string(v) && json_string_length(v) == 0)
		return 0;
	if (json_is_array(v) && json_array_size(v) == 0)
		return 0;
	if (json_is_object(v) && json_object_size(v) == 0)
		return 0;
	return 1;
}

/* Job names end up in paths and URLs: letters, digits, '.', '_', '-',
 * starting with a letter or digit (so never "." or ".."), no "..". */
static int name_valid(const char *s, size_t n)
{
	if (n == 0 || n > JOBREQ_NAME_MAX || strnlen(s, n) != n)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int api_validate_workspace_name(const char *s, size_t n)
{
	if (n == 0 || n > JOBREQ_WS_NAME_MAX || strlen(s) != n)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	if (strstr(s, ".."))
		return 0;
	return name_valid(s, n);
}

static int file_id_valid(const char *s, size_t n)
{
	if (n == 0 || n > JOBREQ_FILE_ID_MAX || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A boolean field: 0/1, or -1 (err filled) if it is not a boolean. */
static int take_bool(json_t *o, const char *key, int *out, struct mags_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad(err, "'%s' must be a boolean", key);
	*out = *out || json_is_true(v);
	return 0;
}

/* A workspace name field (NULL/"" = absent). */
static int take_ws_name(json_t *o, const char *key, char **out, struct mags_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!is_set(v))
		return 0;
	if (!json_is_string(v) ||
	    !api_validate_workspace_name(json_string_value(v), json_string_length(v)))
		return bad(err, "'%s' must be a workspace name: 1 to 63 characters of "
			   "[A-Za-z0-9._-], starting with a letter or digit, without '..'", key);
	if (*out && strcmp(*out, json_string_value(v)))
		return bad(err, "'%s' disagrees with 'workspace_id'", key);
	if (!*out)
		*out = xstrdup(json_string_value(v));
	return 0;
}

int api_validate_idle_timeout(json_t *v, int *out, struct mags_err *err)
{
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > JOBREQ_IDLE_TIMEOUT_MAX)
		return bad(err, "'%s' must be a whole number of seconds from 1 to 2592000 "
			   "(for never, use 'no_sleep')", "idle_timeout");
	*out = (int)json_integer_value(v);
	return 0;
}

static int take_workspace(json_t *o, int max_disk_gb, struct job_request *out,
			  struct mags_err *err)
{
	json_t *v;
	int r;

	if ((r = take_ws_name(o, "workspace_id", &out->workspace, err)) < 0 ||
	    (r = take_ws_name(o, "workspace", &out->workspace, err)) < 0 ||
	    (r = take_ws_name(o, "base_workspace_id", &out->base, err)) < 0 ||
	    (r = take_bool(o, "persistent", &out->persistent, err)) < 0 ||
	    (r = take_bool(o, "persist", &out->persistent, err)) < 0 ||
	    (r = take_bool(o, "no_sync", &out->no_sync, err)) < 0 ||
	    (r = take_bool(o, "no_sleep", &out->no_sleep, err)) < 0)
		return r;
	if (out->ephemeral && (out->workspace || out->base || out->persistent))
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'ephemeral' cannot be combined with 'workspace_id', "
			       "'base_workspace_id' or 'persistent'");
	if (out->no_sleep && !out->persistent)
		return bad(err, "'%s' requires 'persistent'", "no_sleep");
	if (out->workspace && out->base && !strcmp(out->workspace, out->base))
		return bad(err, "'%s' must differ from 'workspace_id'", "base_workspace_id");

	v = json_object_get(o, "disk_gb");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > max_disk_gb)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'disk_gb' must be a whole number from 1 to %d", max_disk_gb);
		out->disk_gb = (int)json_integer_value(v);
	}

	v = json_object_get(o, "file_ids");
	if (v && !json_is_null(v)) {
		size_t i;
		json_t *id;

		if (!json_is_array(v) || json_array_size(v) > JOBREQ_FILE_IDS_MAX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'file_ids' must be an array of at most %d file ids",
				       JOBREQ_FILE_IDS_MAX);
		out->file_ids = xcalloc(json_array_size(v) + 1, sizeof(char *));
		json_array_foreach(v, i, id) {
			if (!json_is_string(id) ||
			    !file_id_valid(json_string_value(id), json_string_length(id)))
				return bad(err, "'%s' must hold file ids from POST /mags-files",
					   "file_ids");
			out->file_ids[out->n_file_ids++] = xstrdup(json_string_value(id));
		}
	}

	if ((r = api_validate_idle_timeout(json_object_get(o, "idle_timeout"), &out->idle_timeout,
					   err)) < 0)
		return r;
	if (out->idle_timeout && !out->persistent)
		return bad(err, "'%s' requires 'persistent'", "idle_timeout");

	v = json_object_get(o, "startup_command");
	if (is_set(v)) {
		if (!json_is_string(v) || json_string_length(v) > JOBREQ_STARTUP_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, "'%s' must be a string of at most 64 KiB", "startup_command");
		out->startup_command = xstrdup(json_string_value(v));
	}
	return 0;
}

/* network: "nat" | "none" | {"allow": [CIDR or domain, ...]}, kept as
 * "nat", "none" or "allow:a.b.c.d/n,name,..." (canonical CIDRs, what the
 * runtime's --net-allow takes, and lowercase names, one per comma). */
static int take_network(json_t *v, struct job_request *out, struct mags_err *err)
{
	const char *key;
	json_t *val, *allow, *c;
	size_t i, len = 0;
	char *text;

	if (!is_set(v))
		return 0;
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "nat") && strcmp(json_string_value(v), "none"))
			return bad(err, "'%s' must be \"nat\", \"none\" or {\"allow\": [CIDR, ...]}",
				   "network");
		out->network = xstrdup(json_string_value(v));
		return 0;
	}
	if (!json_is_object(v))
		return bad(err, "'%s' must be \"nat\", \"none\" or {\"allow\": [CIDR, ...]}",
			   "network");
	json_object_foreach(v, key, val)
		if (strcmp(key, "allow"))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'network': unknown key '%.32s' (only 'allow')", key);
	allow = json_object_get(v, "allow");
	if (!json_is_array(allow) || json_array_size(allow) < 1 ||
	    json_array_size(allow) > NETCFG_ALLOW_MAX)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'network.allow' must be an array of 1 to %d CIDRs", NETCFG_ALLOW_MAX);
	text = xmalloc(6 + json_array_size(allow) * 256 + 1);
	len = (size_t)snprintf(text, 7, "allow:");
	json_array_foreach(allow, i, c) {
		struct netcfg_cidr cidr;
		char a[16];
		const char *e = json_is_string(c) ? json_string_value(c) : NULL;

		/* a domain name (issue 5) is kept, lowercase, and resolved when
		 * the job starts (network_allow_resolve) */
		if (e && strlen(e) == json_string_length(c) && strlen(e) <= 253 &&
		    netcfg_parse_cidr(e, &cidr) < 0 && dns_name_valid(e)) {
			len += (size_t)snprintf(text + len, 256, "%s", i ? "," : "");
			for (; *e; e++)
				text[len++] = (char)(*e >= 'A' && *e <= 'Z' ? *e - 'A' + 'a' : *e);
			text[len] = '\0';
			continue;
		}
		if (!e || json_string_length(c) > 18 || netcfg_parse_cidr(e, &cidr) < 0) {
			free(text);
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'network.allow': entry %zu must be an IPv4 network or address "
				       "with zero host bits (198.51.100.0/24) or a domain name", i);
		}
		len += (size_t)snprintf(text + len, 20, "%s%s/%u", i ? "," : "",
					netcfg_format_ipv4(cidr.addr, a), cidr.prefix);
	}
	out->network = text;
	return 0;
}

static int env_key_valid(const char *s, size_t n)
{
	if (n == 0 || n > JOBREQ_ENV_KEY_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int take_env(json_t *env, struct job_request *out, struct mags_err *err)
{
	const char *key;
	json_t *val;
	size_t total = 0, i = 0;

	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env))
		return bad(err, "'%s' must be an object of strings", "environment");
	if (json_object_size(env) > JOBREQ_ENV_MAX_COUNT)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'environment' has more than %d entries", JOBREQ_ENV_MAX_COUNT);
	out->env = xcalloc(json_object_size(env) + 1, sizeof(char *));
	json_object_foreach(env, key, val) {
		size_t klen = strlen(key), vlen;

		if (!env_key_valid(key, klen))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'environment': bad variable name '%.64s'", key);
		if (!json_is_string(val))
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'environment': value of '%s' must be a string", key);
		vlen = json_string_length(val);
		if (vlen > JOBREQ_ENV_VALUE_MAX || strlen(json_string_value(val)) != vlen)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'environment': value of '%s' is too long or has NUL bytes", key);
		total += klen + vlen + 1;
		if (total > JOBREQ_ENV_TOTAL_MAX)
			return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
				       "'environment' is larger than %d bytes", JOBREQ_ENV_TOTAL_MAX);
		out->env[i++] = xasprintf("%s=%s", key, json_string_value(val));
		out->n_env = i;
	}
	out->env_json = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	if (!out->env_json)
		abort();
	return 0;
}

static int validate(json_t *o, int default_timeout, int max_disk_gb,
		    struct job_request *out, struct mags_err *err)
{
	json_t *v;

	if (!json_is_object(o))
		return bad(err, "request body must be a JSON %s", "object");

	v = json_object_get(o, "script");
	if (!v || json_is_null(v))
		return bad(err, "'%s' is required", "script");
	if (!json_is_string(v))
		return bad(err, "'%s' must be a string", "script");
	if (json_string_length(v) == 0)
		return bad(err, "'%s' must not be empty", "script");
	if (json_string_length(v) > JOBREQ_SCRIPT_MAX)
		return bad(err, "'%s' is larger than 1 MiB", "script");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(err, "'%s' must not contain NUL bytes", "script");

	v = json_object_get(o, "type");
	snprintf(out->type, sizeof(out->type), "inline");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || (strcmp(json_string_value(v), "inline") &&
					   strcmp(json_string_value(v), "file")))
			return bad(err, "'%s' must be \"inline\" or \"file\"", "type");
		snprintf(out->type, sizeof(out->type), "%s", json_string_value(v));
	}

	v = json_object_get(o, "name");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !name_valid(json_string_value(v), json_string_length(v)))
			return bad(err, "'%s' must be 1 to 64 characters of [A-Za-z0-9._-]", "name");
		out->name = xstrdup(json_string_value(v));
	}

	v = json_object_get(o, "timeout");
	out->timeout = default_timeout;
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > JOBREQ_TIMEOUT_MAX)
			return bad(err, "'%s' must be a whole number of seconds from 1 to 604800",
				   "timeout");
		out->timeout = (int)json_integer_value(v);
	}

	v = json_object_get(o, "ephemeral");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return bad(err, "'%s' must be a boolean", "ephemeral");
		out->ephemeral = json_is_true(v);
	}

	int r = take_workspace(o, max_disk_gb, out, err);
	if (r < 0)
		return r;
	r = take_env(json_object_get(o, "environment"), out, err);
	if (r < 0)
		return r;
	r = take_network(json_object_get(o, "network"), out, err);
	if (r < 0)
		return r;

	out->script = xstrdup(json_string_value(json_object_get(o, "script")));
	return 0;
}

int api_validate_job(const char *body, size_t len, int default_timeout,
		     int max_disk_gb, struct job_request *out, struct mags_err *err)
{
	json_error_t jerr;
	json_t *o;
	int r;

	memset(out, 0, sizeof(*out));
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "invalid JSON at line %d column %d (byte %d): %s",
			       jerr.line, jerr.column, jerr.position, jerr.text);
	r = validate(o, default_timeout, max_disk_gb, out, err);
	json_decref(o);
	if (r < 0)
		job_request_release(out);
	return r;
}
