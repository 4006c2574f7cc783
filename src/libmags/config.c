/*
 * config.c - where the CLI and the library find the server and the token:
 * environment first, then ~/.mags/config.json (written by `mags login`),
 * then the built-in default (DECISIONS D6). The file holds a secret, so it
 * is created 0600 inside a 0700 directory and replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "mags/mags.h"
#include "common/banned.h"

#define CONFIG_MAX (64 * 1024)

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *home_dir(void)
{
	const char *h = env("HOME");
	struct passwd *pw;

	if (h)
		return xstrdup(h);
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? xstrdup(pw->pw_dir) : NULL;
}

char *mags_config_path(void)
{
	_cleanup_free_ char *home = home_dir();

	return home ? xasprintf("%s/.mags/config.json", home) : NULL;
}

/* The config file as a JSON object: *out is NULL when there is no file. */
static int config_read(const char *path, json_t **out, struct mags_err *err)
{
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	ssize_t n;

	*out = NULL;
	n = read_file(path, CONFIG_MAX, &text);
	if (n == -ENOENT || n == -ENOTDIR)
		return 0;
	if (n < 0)
		return err_sys(err, (int)-n, "read '%s'", path);
	*out = json_loadb(text, (size_t)n, 0, &jerr);
	if (!*out)
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s' line %d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return err_set(err, MAGS_E_BAD_REQUEST, EINVAL,
			       "'%s' is not a JSON object", path);
	}
	return 0;
}

int mags_config_load(struct mags_config *cfg, struct mags_err *err)
{
	_cleanup_free_ char *path = mags_config_path();
	json_t *file = NULL, *v;
	const char *e;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	/* Read the file only when the environment leaves something open. */
	if (path && (!env("MAGS_API_URL") ||
		     (!env("MAGS_API_TOKEN") && !env("MAGS_TOKEN"))))
		r = config_read(path, &file, err);
	if (r < 0)
		return r;
	if ((e = env("MAGS_API_TOKEN"))) {
		cfg->api_token = xstrdup(e);
		cfg->token_source = "MAGS_API_TOKEN";
	} else if ((e = env("MAGS_TOKEN"))) {
		cfg->api_token = xstrdup(e);
		cfg->token_source = "MAGS_TOKEN";
	} else if (json_is_string(v = json_object_get(file, "api_token")) &&
		   json_string_length(v) > 0) {
		cfg->api_token = xstrdup(json_string_value(v));
		cfg->token_source = "config";
	}
	if ((e = env("MAGS_API_URL"))) {
		cfg->api_url = xstrdup(e);
		cfg->url_source = "MAGS_API_URL";
	} else if (json_is_string(v = json_object_get(file, "api_url")) &&
		   json_string_length(v) > 0) {
		cfg->api_url = xstrdup(json_string_value(v));
		cfg->url_source = "config";
	} else {
		cfg->api_url = xstrdup(MAGS_DEFAULT_URL);
		cfg->url_source = "default";
	}
	json_decref(file);
	return 0;
}

void mags_config_release(struct mags_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->api_token) {
		explicit_bzero(cfg->api_token, strlen(cfg->api_token));
		free(cfg->api_token);
	}
	free(cfg->api_url);
	memset(cfg, 0, sizeof(*cfg));
}

/* Write obj to path through a 0600 temporary file and rename(). */
static int config_write(const char *path, json_t *obj, struct mags_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_free_ char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	_cleanup_close_ int fd = -1;
	int r;

	if (!text)
		return err_set(err, MAGS_E_INTERNAL, ENOMEM, "cannot encode config");
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(err, errno, "create '%s'", tmp);
	r = write_full(fd, text, strlen(text));
	if (r == 0)
		r = write_full(fd, "\n", 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return err_sys(err, -r, "write '%s'", tmp);
	}
	if (rename(tmp, path) < 0) {
		r = errno;
		unlink(tmp);
		return err_sys(err, r, "rename '%s'", tmp);
	}
	return 0;
}

static int config_dir(const char *path, struct mags_err *err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_sys(err, errno, "create '%s'", dir);
	return 0;
}

int mags_config_save(const char *url, const char *token, struct mags_err *err)
{
	_cleanup_free_ char *path = mags_config_path();
	json_t *obj = NULL;
	int r;

	if (!path)
		return err_set(err, MAGS_E_INTERNAL, ENOENT,
			       "cannot find the home directory (HOME is unset)");
	r = config_dir(path, err);
	if (r < 0)
		return r;
	/* A broken file is replaced: saving is how people repair it. */
	if (config_read(path, &obj, NULL) < 0 || !obj)
		obj = json_object();
	if (url)
		json_object_set_new(obj, "api_url", json_string(url));
	if (token)
		json_object_set_new(obj, "api_token", json_string(token));
	r = config_write(path, obj, err);
	json_decref(obj);
	return r;
}

int mags_config_forget_token(struct mags_err *err)
{
	_cleanup_free_ char *path = mags_config_path();
	json_t *obj = NULL;
	int r;

	if (!path)
		return 0;
	r = config_read(path, &obj, err);
	if (r < 0 || !obj)
		return r;
	if (!json_object_get(obj, "api_token")) {
		json_decref(obj);
		return 0;
	}
	json_object_del(obj, "api_token");
	r = config_write(path, obj, err);
	json_decref(obj);
	return r < 0 ? r : 1;
}
