/*
 * fuzz_auth.c - libFuzzer target for the credential parsers every request
 * passes before anything else (src/magsd/auth.h): the Authorization header
 * (auth_parse_bearer), the Cookie header (auth_cookie_get), Content-Type
 * (auth_content_type_json) and the token and session shape checks. The
 * input is a header value. Checks that what is extracted is a bounded,
 * NUL-terminated part of the input without blanks, and that a value that
 * is accepted is accepted again when put back in its canonical form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magsd/auth.h"
#include "common/banned.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[128], out2[128], canon[160];

	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';

	if (auth_parse_bearer(s, out, sizeof(out)) == 0) {
		size_t n = strlen(out);
		CHECK(n > 0 && n < sizeof(out) && strstr(s, out));
		CHECK(!strchr(out, ' ') && !strchr(out, '\t'));
		memcpy(canon, "Bearer ", 7);
		memcpy(canon + 7, out, n + 1);
		CHECK(auth_parse_bearer(canon, out2, sizeof(out2)) == 0 && !strcmp(out, out2));
		/* a token that is well formed hashes to 64 hex */
		if (auth_token_well_formed(out)) {
			char hash[AUTH_HASH_HEX_LEN + 1];
			CHECK(n == AUTH_TOKEN_LEN);
			auth_token_hash(out, hash);
			CHECK(strlen(hash) == AUTH_HASH_HEX_LEN);
		}
	}
	CHECK(auth_parse_bearer(s, out, 1) < 0);   /* no room: never a write past out[0] */

	if (auth_cookie_get(s, AUTH_SESSION_COOKIE, out, sizeof(out)) == 0) {
		size_t n = strlen(out);
		CHECK(n < sizeof(out) && strstr(s, out));
		if (auth_session_well_formed(out)) {
			char csrf[AUTH_HASH_HEX_LEN + 1];
			CHECK(n == AUTH_SESSION_LEN);
			auth_csrf_for(out, csrf);
			CHECK(strlen(csrf) == AUTH_HASH_HEX_LEN);
		}
		if (!strchr(out, ';') && n + sizeof(AUTH_SESSION_COOKIE) + 1 < sizeof(canon) &&
		    (n == 0 || (out[0] != ' ' && out[0] != '\t' && out[n - 1] != ' ' &&
				out[n - 1] != '\t'))) {
			memcpy(canon, AUTH_SESSION_COOKIE "=", sizeof(AUTH_SESSION_COOKIE));
			memcpy(canon + sizeof(AUTH_SESSION_COOKIE), out, n + 1);
			CHECK(auth_cookie_get(canon, AUTH_SESSION_COOKIE, out2, sizeof(out2)) == 0 &&
			      !strcmp(out, out2));
		}
	}
	(void)auth_cookie_get(s, "", out, sizeof(out));
	(void)auth_content_type_json(s);
	/* the header value ends at a NUL, as MHD hands it over */
	if (auth_token_well_formed(s))
		CHECK(strlen(s) == AUTH_TOKEN_LEN && !strncmp(s, AUTH_TOKEN_PREFIX, 5));
	if (auth_session_well_formed(s))
		CHECK(strlen(s) == AUTH_SESSION_LEN);
	free(s);
	return 0;
}
