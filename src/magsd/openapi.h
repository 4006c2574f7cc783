/*
 * openapi.h - the REST API's OpenAPI 3.0 description, served at
 * GET /api/v1/openapi.json without authentication, and `magsd routes`.
 *
 * The document's one source is src/magsd/openapi.json, embedded in the
 * binary as it is (openapi.c, .incbin). Paths in it are relative to its
 * server URL "/api/v1", path parameters may have any name ({id},
 * {workspace_id}, ...). tests/unit/test_openapi.c checks it parses and
 * that it and api.c's route table describe the same METHOD PATH pairs;
 * tests/e2e/test_openapi.py checks the same against a running magsd.
 * Operations with "x-mags-alias-of" are the [003] spellings of another.
 */
#ifndef MAGS_MAGSD_OPENAPI_H
#define MAGS_MAGSD_OPENAPI_H

#include <stddef.h>

#include "magsd/http.h"

/* The document: NUL-terminated, *len (if not NULL) its length. */
const char *openapi_json(size_t *len);

/* 1 if method + url is a request that needs no authentication (the
 * document itself). */
int openapi_is_public(const char *method, const char *url);

/* GET /api/v1/openapi.json */
void api_openapi(struct http_req *req);

/* `magsd routes`: print "METHOD PATH" for every route of the table. */
int cmd_routes(int argc, char **argv, const char *data_dir);

#endif
