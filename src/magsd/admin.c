/*
 * admin.c - `magsd user|token|image ...` (see admin.h).
 *
 * `token create` prints only the token, so scripts can capture it:
 *     TOKEN=$(magsd token create --user alice)
 * The token is shown once; only its hash is kept.
 */
#include "magsd/admin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "magsd/auth.h"
#include "magsd/image.h"
#include "magsd/store.h"
#include "common/banned.h"

int admin_user_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@'))
			return 0;
	}
	return 1;
}

static int fail(const struct mags_err *err)
{
	fprintf(stderr, "magsd: %s\n", err->msg);
	return 1;
}

static int open_store(const char *data_dir, struct store **st, struct mags_err *err)
{
	_cleanup_free_ char *db = xasprintf("%s/mags.db", data_dir);
	int r = mkdir_p(data_dir, 0755);

	if (r < 0)
		return err_sys(err, -r, "create data directory '%s'", data_dir);
	return store_open(db, st, err);
}

/* The value of "--user NAME" / "--user=NAME" in argv, or NULL. */
static const char *opt_user(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--user=", 7))
			return argv[i] + 7;
	}
	return NULL;
}

int cmd_user(int argc, char **argv, const char *data_dir)
{
	struct mags_err err;
	struct store *st = NULL;
	char id[32];
	int r;

	if (argc != 2 || strcmp(argv[0], "add")) {
		fprintf(stderr, "usage: magsd user add NAME\n");
		return 2;
	}
	if (!admin_user_name_valid(argv[1])) {
		fprintf(stderr, "magsd: bad user name '%s' (1-64 of A-Z a-z 0-9 . _ - @)\n",
			argv[1]);
		return 2;
	}
	if (open_store(data_dir, &st, &err) < 0)
		return fail(&err);
	r = store_user_add(st, argv[1], id, &err);
	store_close(st);
	if (r < 0)
		return fail(&err);
	printf("%s\n", id);
	return 0;
}

static void print_token(const struct store_token *t, void *arg)
{
	char created[40], revoked[40];

	(void)arg;
	time_format_iso(t->created_at, created, sizeof(created));
	if (t->revoked_at)
		time_format_iso(t->revoked_at, revoked, sizeof(revoked));
	printf("%s\t%s\t%s%s\n", t->id, created, t->revoked_at ? "revoked " : "active",
	       t->revoked_at ? revoked : "");
}

int cmd_token(int argc, char **argv, const char *data_dir)
{
	struct mags_err err;
	struct store *st = NULL;
	const char *user = opt_user(argc, argv);
	char uid[32];
	int r = 0;

	if (argc < 1 || (!strcmp(argv[0], "create") && !user) ||
	    (!strcmp(argv[0], "list") && !user) ||
	    (!strcmp(argv[0], "revoke") && argc != 2) ||
	    (strcmp(argv[0], "create") && strcmp(argv[0], "list") && strcmp(argv[0], "revoke"))) {
		fprintf(stderr, "usage: magsd token create --user NAME\n"
				"       magsd token revoke TOKEN_ID|TOKEN\n"
				"       magsd token list --user NAME\n");
		return 2;
	}
	if (open_store(data_dir, &st, &err) < 0)
		return fail(&err);

	if (!strcmp(argv[0], "revoke")) {
		char hash[AUTH_HASH_HEX_LEN + 1];
		const char *key = argv[1];

		if (!strncmp(key, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX))) {
			auth_token_hash(key, hash);
			key = hash;
		}
		r = store_token_revoke(st, key, &err);
		if (r == 0)
			fprintf(stderr, "magsd: token revoked\n");
	} else if ((r = store_user_find(st, user, uid, &err)) < 0) {
		if (r == -ENOENT)
			err_set(&err, MAGS_E_NOT_FOUND, ENOENT,
				"no user '%s' (create it with 'magsd user add %s')", user, user);
	} else if (!strcmp(argv[0], "create")) {
		char token[AUTH_TOKEN_LEN + 1], tid[17], hash[AUTH_HASH_HEX_LEN + 1];

		auth_token_new(token, tid);
		auth_token_hash(token, hash);
		r = store_token_add(st, tid, uid, hash, &err);
		if (r == 0)
			printf("%s\n", token);
	} else {
		r = store_token_list(st, uid, print_token, NULL, &err);
	}
	store_close(st);
	if (r < 0)
		return fail(&err);
	return 0;
}

int cmd_image(int argc, char **argv, const char *data_dir)
{
	struct mags_err err;
	int r;

	err_clear(&err);
	if (argc == 2 && !strcmp(argv[0], "build"))
		r = image_build(data_dir, argv[1], &err);
	else if (argc == 3 && !strcmp(argv[0], "import"))
		r = image_import(data_dir, argv[1], argv[2], &err);
	else if (argc == 1 && !strcmp(argv[0], "list"))
		r = image_list(data_dir, stdout, &err);
	else {
		fprintf(stderr, "usage: magsd image build busybox|default\n"
				"       magsd image import NAME TARBALL\n"
				"       magsd image list\n");
		return 2;
	}
	if (r < 0)
		return fail(&err);
	return 0;
}
