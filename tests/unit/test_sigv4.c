/*
 * Unit tests for AWS Signature Version 4 (src/magsd/sigv4.c) against AWS's
 * published vectors.
 *
 * Sources of the expected values:
 *  - "AWS Signature Version 4 Test Suite" (aws-sig-v4-test-suite, formerly at
 *    docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html):
 *    key AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region
 *    us-east-1, service "service", 2015-08-30T12:36:00Z, host
 *    example.amazonaws.com. The .authz values below are the suite's, as
 *    carried by aws/aws-sdk-js-v3 packages/signature-v4/src/suite.fixture.ts.
 *  - Amazon S3 API Reference, "Signature Calculations for the Authorization
 *    Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)",
 *    section "Examples: Signature Calculations" (GET Object with Range, PUT
 *    Object, GET Bucket Lifecycle, Get Bucket (List Objects)): key
 *    AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
 *    us-east-1, s3, 2013-05-24T00:00:00Z, host examplebucket.s3.amazonaws.com
 *    (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "magsd/sigv4.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* 2015-08-30T12:36:00Z and 2013-05-24T00:00:00Z */
static const time_t SUITE_TIME = 1440938160;
static const time_t S3_TIME = 1369353600;

static const struct sigv4_key suite_key = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service",
};
static const struct sigv4_key s3_key = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3",
};

#define SUITE_HOST { "Host", "example.amazonaws.com" }
#define SUITE_DATE { "X-Amz-Date", "20150830T123600Z" }
#define S3_HOST { "Host", "examplebucket.s3.amazonaws.com" }
#define S3_DATE { "x-amz-date", "20130524T000000Z" }
#define SUITE_CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define S3_CRED "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "

static void check(const struct sigv4_request *req, time_t t, const struct sigv4_key *key,
		  const char *want)
{
	char *auth = sigv4_authorization(req, t, key);

	assert_string_equal(auth, want);
	free(auth);
}

/* get-vanilla: the smallest request. Also checks the intermediate strings
 * the suite publishes (.creq and .sts), which say which step is wrong. */
static void suite_get_vanilla(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_request req = { "GET", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };
	char *creq, *sh, *sts;

	sigv4_canonical_request(&req, SUITE_TIME, &creq, &sh);
	assert_string_equal(creq,
		"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		"host;x-amz-date\n" SIGV4_EMPTY_SHA256);
	assert_string_equal(sh, "host;x-amz-date");
	sts = sigv4_string_to_sign(creq, SUITE_TIME, &suite_key);
	assert_string_equal(sts,
		"AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	free(creq);
	free(sh);
	free(sts);
	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* x-amz-date is added from the time when the caller did not pass it. */
static void amz_date_is_added(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST };
	struct sigv4_request req = { "GET", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void suite_get_vanilla_query_order_key_case(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_param q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
	struct sigv4_request req = { "GET", "/", q, N(q), h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void suite_get_vanilla_query_unreserved(void **state)
{
	const char *u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_param q[] = { { u, u } };
	struct sigv4_request req = { "GET", "/", q, N(q), h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

static void suite_get_unreserved_path(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_request req = {
		"GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
		NULL, 0, h, N(h), SIGV4_EMPTY_SHA256,
	};

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

/* get-utf8: "/\u1234" is signed as "/%E1%88%B4". */
static void suite_get_utf8(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_request req = { "GET", "/\xe1\x88\xb4", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };
	char *creq;

	sigv4_canonical_request(&req, SUITE_TIME, &creq, NULL);
	assert_non_null(strstr(creq, "GET\n/%E1%88%B4\n"));
	free(creq);
	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;x-amz-date, "
	      "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

/* get-header-value-trim: "My-Header1: value1 " and "My-Header2: \"a   b   c\""
 * are signed as "value1" and "\"a b c\"". */
static void suite_get_header_value_trim(void **state)
{
	struct sigv4_header h[] = {
		SUITE_HOST, { "My-Header1", " value1 " }, { "My-Header2", "\"a   b   c\"" }, SUITE_DATE,
	};
	struct sigv4_request req = { "GET", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED
	      "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	      "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

/* get-header-key-duplicate: three My-Header1 lines become one, in order. */
static void suite_get_header_key_duplicate(void **state)
{
	struct sigv4_header h[] = {
		SUITE_HOST, { "My-Header1", "value2" }, { "My-Header1", "value2" },
		{ "My-Header1", "value1" }, SUITE_DATE,
	};
	struct sigv4_request req = { "GET", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
	      "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

static void suite_post_header_value_case(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, { "My-Header1", "VALUE1" }, SUITE_DATE };
	struct sigv4_request req = { "POST", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
	      "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

/* post-x-www-form-urlencoded: a signed body and a content-type header. */
static void suite_post_x_www_form_urlencoded(void **state)
{
	struct sigv4_header h[] = {
		{ "Content-Type", "application/x-www-form-urlencoded" }, SUITE_HOST, SUITE_DATE,
	};
	char body_hash[65];
	struct sigv4_request req = { "POST", "/", NULL, 0, h, N(h), body_hash };

	sigv4_sha256_hex("Param1=value1", 13, body_hash);
	assert_string_equal(body_hash,
		"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	check(&req, SUITE_TIME, &suite_key, SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, "
	      "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

/* S3: GET Object, first 10 bytes (Range header signed). */
static void s3_get_object_range(void **state)
{
	struct sigv4_header h[] = {
		S3_HOST, { "Range", "bytes=0-9" }, { "x-amz-content-sha256", SIGV4_EMPTY_SHA256 }, S3_DATE,
	};
	struct sigv4_request req = { "GET", "/test.txt", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };
	char *creq;

	/* The S3 document prints the canonical request too. */
	sigv4_canonical_request(&req, S3_TIME, &creq, NULL);
	assert_string_equal(creq,
		"GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
		"x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
		"host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
	free(creq);
	check(&req, S3_TIME, &s3_key, S3_CRED
	      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* S3: PUT Object "test$file.text" ('$' is encoded in the path), signed body. */
static void s3_put_object(void **state)
{
	char hash[65];
	struct sigv4_header h[] = {
		S3_HOST, { "Date", "Fri, 24 May 2013 00:00:00 GMT" }, S3_DATE,
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" }, { "x-amz-content-sha256", hash },
	};
	struct sigv4_request req = { "PUT", "/test$file.text", NULL, 0, h, N(h), hash };
	char *creq;

	sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
	assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	sigv4_canonical_request(&req, S3_TIME, &creq, NULL);
	assert_non_null(strstr(creq, "PUT\n/test%24file.text\n\n"));
	free(creq);
	check(&req, S3_TIME, &s3_key, S3_CRED
	      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
	      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

/* S3: GET Bucket Lifecycle, "?lifecycle" signed as "lifecycle=". */
static void s3_get_bucket_lifecycle(void **state)
{
	struct sigv4_header h[] = {
		S3_HOST, { "x-amz-content-sha256", SIGV4_EMPTY_SHA256 }, S3_DATE,
	};
	struct sigv4_param q[] = { { "lifecycle", NULL } };
	struct sigv4_request req = { "GET", "/", q, N(q), h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, S3_TIME, &s3_key, S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	      "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* S3: Get Bucket (List Objects), "?max-keys=2&prefix=J" given out of order. */
static void s3_list_objects(void **state)
{
	struct sigv4_header h[] = {
		S3_HOST, { "x-amz-content-sha256", SIGV4_EMPTY_SHA256 }, S3_DATE,
	};
	struct sigv4_param q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct sigv4_request req = { "GET", "/", q, N(q), h, N(h), SIGV4_EMPTY_SHA256 };

	check(&req, S3_TIME, &s3_key, S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	      "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void uri_encoding(void **state)
{
	char *s;

	s = sigv4_uri_encode("a b/c+d~e_f.g-h$%\xc3\xa9", 1);
	assert_string_equal(s, "a%20b/c%2Bd~e_f.g-h%24%25%C3%A9");
	free(s);
	s = sigv4_uri_encode("x/y=z&", 0);
	assert_string_equal(s, "x%2Fy%3Dz%26");
	free(s);
}

static void canonical_query_sorts_encoded(void **state)
{
	struct sigv4_param q[] = {
		{ "prefix", "mags/a b" }, { "list-type", "2" }, { "continuation-token", "1/x+=" },
	};
	char *s = sigv4_canonical_query(q, N(q));

	assert_string_equal(s, "continuation-token=1%2Fx%2B%3D&list-type=2&prefix=mags%2Fa%20b");
	free(s);
	s = sigv4_canonical_query(NULL, 0);
	assert_string_equal(s, "");
	free(s);
}

/* Any change of secret, region, path or payload changes the signature. */
static void signature_depends_on_every_input(void **state)
{
	struct sigv4_header h[] = { SUITE_HOST, SUITE_DATE };
	struct sigv4_request req = { "GET", "/", NULL, 0, h, N(h), SIGV4_EMPTY_SHA256 };
	struct sigv4_key k = suite_key;
	char *a = sigv4_authorization(&req, SUITE_TIME, &k), *b;

	k.secret_key = "other";
	b = sigv4_authorization(&req, SUITE_TIME, &k);
	assert_string_not_equal(a, b);
	free(b);
	k = suite_key;
	k.region = "eu-west-1";
	b = sigv4_authorization(&req, SUITE_TIME, &k);
	assert_string_not_equal(a, b);
	free(b);
	req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	b = sigv4_authorization(&req, SUITE_TIME, &suite_key);
	assert_string_not_equal(a, b);
	free(b);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suite_get_vanilla),
		cmocka_unit_test(amz_date_is_added),
		cmocka_unit_test(suite_get_vanilla_query_order_key_case),
		cmocka_unit_test(suite_get_vanilla_query_unreserved),
		cmocka_unit_test(suite_get_unreserved_path),
		cmocka_unit_test(suite_get_utf8),
		cmocka_unit_test(suite_get_header_value_trim),
		cmocka_unit_test(suite_get_header_key_duplicate),
		cmocka_unit_test(suite_post_header_value_case),
		cmocka_unit_test(suite_post_x_www_form_urlencoded),
		cmocka_unit_test(s3_get_object_range),
		cmocka_unit_test(s3_put_object),
		cmocka_unit_test(s3_get_bucket_lifecycle),
		cmocka_unit_test(s3_list_objects),
		cmocka_unit_test(uri_encoding),
		cmocka_unit_test(canonical_query_sorts_encoded),
		cmocka_unit_test(signature_depends_on_every_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
