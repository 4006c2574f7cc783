/* Unit tests for tokens and the Bearer check (src/magsd/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "magsd/auth.h"
#include "magsd/store.h"

static void new_tokens_are_well_formed_and_distinct(void **state)
{
	char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1], ida[17], idb[17];

	auth_token_new(a, ida);
	auth_token_new(b, idb);
	assert_int_equal(strlen(a), 45);
	assert_int_equal(strncmp(a, "mags_", 5), 0);
	assert_true(auth_token_well_formed(a));
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(ida), 16);
	assert_int_equal(strncmp(ida, "tok_", 4), 0);
	assert_string_not_equal(ida, idb);
}

static void malformed_tokens_are_recognised(void **state)
{
	assert_false(auth_token_well_formed(""));
	assert_false(auth_token_well_formed("mags_"));
	assert_false(auth_token_well_formed("mags_000000000000000000000000000000000000000"));   /* 39 */
	assert_false(auth_token_well_formed("mags_00000000000000000000000000000000000000000")); /* 41 */
	assert_false(auth_token_well_formed("mags_000000000000000000000000000000000000000G"));
	assert_false(auth_token_well_formed("mags_000000000000000000000000000000000000000A"));
	assert_false(auth_token_well_formed("magz_0000000000000000000000000000000000000000"));
	assert_true(auth_token_well_formed("mags_0123456789abcdef0123456789abcdef01234567"));
}

static void hash_is_sha256_hex(void **state)
{
	char h[AUTH_HASH_HEX_LEN + 1];

	auth_token_hash("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	auth_token_hash("", h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void bearer_header_is_parsed(void **state)
{
	char t[128];

	assert_int_equal(auth_parse_bearer("Bearer abc", t, sizeof(t)), 0);
	assert_string_equal(t, "abc");
	assert_int_equal(auth_parse_bearer("  bearer \t abc  ", t, sizeof(t)), 0);
	assert_string_equal(t, "abc");
	assert_int_equal(auth_parse_bearer("BEARER x", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer(NULL, t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Bearer", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Bearer   ", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Basic abc", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Bearerabc", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Bearer a b", t, sizeof(t)), 0);
	assert_int_not_equal(auth_parse_bearer("Bearer abcdef", t, 4), 0);  /* too long */
}

static void check_accepts_only_live_tokens(void **state)
{
	char dir[] = "/tmp/mags-test-auth-XXXXXX", path[128], uid[32];
	char tok[AUTH_TOKEN_LEN + 1], tid[17], hash[AUTH_HASH_HEX_LEN + 1], hdr[128];
	struct store *st;
	struct store_ident who;
	struct mags_err err;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mags.db", dir);
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_user_add(st, "alice", uid, &err), 0);
	auth_token_new(tok, tid);
	auth_token_hash(tok, hash);
	assert_int_equal(store_token_add(st, tid, uid, hash, &err), 0);

	snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
	assert_int_equal(auth_check(st, hdr, &who, &err), 0);
	assert_string_equal(who.user_name, "alice");
	assert_string_equal(who.token_id, tid);

	assert_int_not_equal(auth_check(st, NULL, &who, &err), 0);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);
	assert_string_equal(err.msg, "missing API token");
	assert_int_not_equal(auth_check(st, "Bearer nope", &who, &err), 0);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);
	assert_int_not_equal(auth_check(st, "Bearer mags_0123456789abcdef0123456789abcdef01234567",
					&who, &err), 0);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);

	assert_int_equal(store_token_revoke(st, tid, &err), 0);
	assert_int_not_equal(auth_check(st, hdr, &who, &err), 0);
	assert_int_equal(err.code, MAGS_E_UNAUTHORIZED);
	store_close(st);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_tokens_are_well_formed_and_distinct),
		cmocka_unit_test(malformed_tokens_are_recognised),
		cmocka_unit_test(hash_is_sha256_hex),
		cmocka_unit_test(bearer_header_is_parsed),
		cmocka_unit_test(check_accepts_only_live_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
