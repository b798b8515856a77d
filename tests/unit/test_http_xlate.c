/* http_xlate: HTTP/1.1 <-> HTTP/3 heads, hop-by-hop removal, validation of HTTP/3 lists. */
#include "http_xlate.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct http1_msg req, resp;
static struct http_nvlist nvl;
static struct buf out;
static struct http_xlate_res res;

static void setup(void)
{
	buf_init(&out);
	memset(&nvl, 0, sizeof(nvl));
}

static void teardown(void)
{
	buf_free(&out);
	http_nvlist_free(&nvl);
}

TestSuite(http_xlate, .init = setup, .fini = teardown);

static void parse_req(const char *s)
{
	http1_msg_init(&req);
	int rc = http1_parse_request(s, strlen(s), NULL, &req);
	cr_assert_eq(rc, 0, "parse \"%s\": %d %s", s, rc, req.err_reason ? req.err_reason : "");
}

static void parse_resp(const char *s, unsigned rq)
{
	http1_msg_init(&resp);
	int rc = http1_parse_response(s, strlen(s), NULL, rq, &resp);
	cr_assert_eq(rc, 0, "parse \"%s\": %d %s", s, rc, resp.err_reason ? resp.err_reason : "");
}

/* The list as "name: value\n" lines, for whole-list comparisons. */
static char *dump(const struct http_nvlist *l)
{
	static char text[8192];
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += (size_t)snprintf(text + k, sizeof(text) - k, "%.*s: %.*s\n",
		                      (int)l->nv[i].namelen, (const char *)l->nv[i].name,
		                      (int)l->nv[i].valuelen, (const char *)l->nv[i].value);
	text[k] = 0;
	return text;
}

Test(http_xlate, req_1to3_origin_form)
{
	parse_req("POST /up?x=1 HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: t/1\r\n"
	          "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n"
	          "Proxy-Connection: keep-alive\r\nTE: trailers, deflate\r\nTrailer: X-Sum\r\n"
	          "Upgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nContent-Length: 3\r\n"
	          "X-End: 1\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: POST\n"
	                             ":scheme: http\n"
	                             ":authority: api.example:8080\n"
	                             ":path: /up?x=1\n"
	                             "user-agent: t/1\n"
	                             "proxy-authorization: Basic eA==\n"
	                             "content-length: 3\n"
	                             "x-end: 1\n");
	http_nvlist_free(&nvl);
	struct http_xlate_opts o = {.scheme = "https", .hop_flags = HTTP_HOP_PROXY_AUTH};
	cr_assert_eq(http_xlate_req_1to3(&req, &o, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: POST\n"
	                             ":scheme: https\n"
	                             ":authority: api.example:8080\n"
	                             ":path: /up?x=1\n"
	                             "user-agent: t/1\n"
	                             "content-length: 3\n"
	                             "x-end: 1\n");
}

Test(http_xlate, req_1to3_other_forms)
{
	parse_req("GET HTTP://h.example/a HTTP/1.1\r\nHost: ignored\r\nTransfer-Encoding: "
	          "chunked\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl),
	                 ":method: GET\n:scheme: http\n:authority: h.example\n:path: /a\n");
	http_nvlist_free(&nvl);
	parse_req("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: CONNECT\n:authority: [2001:db8::1]:443\n");
	http_nvlist_free(&nvl);
	parse_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: OPTIONS\n:scheme: http\n:authority: h\n:path: *\n");
	http_nvlist_free(&nvl);
	parse_req("GET / HTTP/1.0\r\n\r\n"); /* no authority anywhere */
	cr_expect_eq(http_xlate_req_1to3(&req, NULL, &nvl), -EINVAL);
}

Test(http_xlate, forwarded)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(5555)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET, "192.0.2.60", &s4.sin_addr);
	inet_pton(AF_INET6, "2001:db8:cafe::17", &s6.sin6_addr);
	parse_req("GET / HTTP/1.1\r\nHost: h.example:81\r\nForwarded: for=198.51.100.1\r\n\r\n");
	struct http_xlate_opts o = {.forwarded_for = (struct sockaddr *)&s4};
	cr_assert_eq(http_xlate_req_1to3(&req, &o, &nvl), 0);
	cr_expect_str_eq(dump(&nvl),
	                 ":method: GET\n:scheme: http\n:authority: h.example:81\n"
	                 ":path: /\nforwarded: for=198.51.100.1\n"
	                 "forwarded: for=192.0.2.60;proto=http;host=\"h.example:81\"\n");
	http_nvlist_free(&nvl);
	parse_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	o.forwarded_for = (struct sockaddr *)&s6;
	o.scheme = "https";
	cr_assert_eq(http_xlate_req_1to3(&req, &o, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: GET\n:scheme: https\n:authority: h\n:path: /\n"
	                             "forwarded: for=\"[2001:db8:cafe::17]\";proto=https;host=h\n");
}

Test(http_xlate, websocket_both_ways)
{
	parse_req(
	    "GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":method: CONNECT\n:protocol: websocket\n:scheme: http\n"
	                             ":authority: h\n:path: /chat\n"
	                             "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\n"
	                             "sec-websocket-version: 13\n");
	/* the far side rebuilds the Upgrade request */
	cr_assert_eq(http_xlate_req_3to1(nvl.nv, nvl.n, true, &out, &res), 0);
	cr_expect_str_eq(out.data, "GET /chat HTTP/1.1\r\nHost: h\r\n"
	                           "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                           "sec-websocket-version: 13\r\n"
	                           "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	cr_expect(res.flags & HTTP1_F_WEBSOCKET);
	http_nvlist_free(&nvl);
	/* its 101 goes back as 200 and becomes a 101 for the client again */
	parse_resp(
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	    0);
	cr_assert_eq(http_xlate_resp_1to3(&resp, true, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl),
	                 ":status: 200\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n");
	struct http_client_ctx c = {.version_minor = 1, .keep_alive = true, .websocket = true};
	buf_free(&out);
	buf_init(&out);
	cr_assert_eq(http_xlate_resp_3to1(nvl.nv, nvl.n, &c, &out, &res), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 101 Switching Protocols\r\n"
	                           "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	cr_expect(res.flags & HTTP1_F_WEBSOCKET);
	cr_expect_not(res.keep_alive);
	http_nvlist_free(&nvl);
	/* a 101 that is not an answer to a WebSocket request cannot cross */
	parse_resp(
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", 0);
	cr_expect_eq(http_xlate_resp_1to3(&resp, true, NULL, &nvl), -EPROTO);
	cr_expect_eq(http_xlate_resp_1to3(&resp, false, NULL, &nvl), -EPROTO);
}

/* Build a list from "name", "value" pairs ending in NULL. */
static size_t mklist(nghttp3_nv *nv, const char *const *kv)
{
	size_t n = 0;
	for (; kv[2 * n]; n++)
		nv[n] = (nghttp3_nv){(const uint8_t *)kv[2 * n], (const uint8_t *)kv[2 * n + 1],
		                     strlen(kv[2 * n]), strlen(kv[2 * n + 1]), 0};
	return n;
}

static int req_3to1(bool body, const char *const *kv)
{
	nghttp3_nv nv[32];
	size_t n = mklist(nv, kv);
	buf_free(&out);
	buf_init(&out);
	return http_xlate_req_3to1(nv, n, body, &out, &res);
}

Test(http_xlate, req_3to1_framing_and_cookies)
{
	const char *a[] = {":method", "POST",  ":scheme",  "https",  ":authority",
	                   "up:8081", ":path", "/p?q",     "cookie", "a=1",
	                   "x-b",     "2",     "cookie",   "c=3",    "content-length",
	                   "10",      "te",    "trailers", NULL};
	cr_assert_eq(req_3to1(true, a), 0);
	cr_expect_str_eq(out.data, "POST /p?q HTTP/1.1\r\nHost: up:8081\r\nx-b: 2\r\n"
	                           "cookie: a=1; c=3\r\nContent-Length: 10\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_LENGTH);
	cr_expect_eq(res.content_length, 10);
	const char *b[] = {":method", "PUT", ":scheme", "http", ":path", "/", "host", "h", NULL};
	cr_assert_eq(req_3to1(true, b), 0);
	cr_expect_str_eq(out.data,
	                 "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	cr_assert_eq(req_3to1(false, b), 0);
	cr_expect_str_eq(out.data, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	const char *c[] = {":method",    "GET", ":scheme", "http", ":path", "/",
	                   ":authority", "H",   "host",    "h",    NULL};
	cr_assert_eq(req_3to1(false, c), 0);
	cr_expect_str_eq(out.data, "GET / HTTP/1.1\r\nHost: H\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_NONE);
	cr_expect(res.keep_alive);
	const char *d[] = {":method", "CONNECT", ":authority", "db.internal:5432", NULL};
	cr_assert_eq(req_3to1(false, d), 0);
	cr_expect_str_eq(out.data,
	                 "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n");
}

#define P3 ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h"
static const char *const *const bad_req_lists[] = {
    (const char *const[]){P3, "X-Upper", "v", NULL},
    (const char *const[]){P3, "x y", "v", NULL},
    (const char *const[]){P3, "", "v", NULL},
    (const char *const[]){P3, "x", "a\r\nb", NULL},
    (const char *const[]){P3, "x", "a\nb", NULL},
    (const char *const[]){P3, "x", " a", NULL},
    (const char *const[]){P3, "x", "a\t", NULL},
    (const char *const[]){P3, "connection", "close", NULL},
    (const char *const[]){P3, "keep-alive", "1", NULL},
    (const char *const[]){P3, "proxy-connection", "x", NULL},
    (const char *const[]){P3, "transfer-encoding", "chunked", NULL},
    (const char *const[]){P3, "upgrade", "websocket", NULL},
    (const char *const[]){P3, "te", "gzip", NULL},
    (const char *const[]){P3, "content-length", "1", "content-length", "1", NULL},
    (const char *const[]){P3, "content-length", "x", NULL},
    (const char *const[]){P3, "host", "other", NULL},
    (const char *const[]){P3, ":status", "200", NULL},
    (const char *const[]){P3, ":foo", "1", NULL},
    (const char *const[]){P3, ":path", "/2", NULL},
    (const char *const[]){"x", "1", P3, NULL},
    (const char *const[]){":scheme", "http", ":path", "/", ":authority", "h", NULL},
    (const char *const[]){":method", "GET", ":path", "/", ":authority", "h", NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":authority", "h", NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "/", NULL},
    (const char *const[]){":method", "GET", ":scheme", "ftp", ":path", "/", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "x", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "*", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "/a b", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "G T", ":scheme", "http", ":path", "/", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "/", ":authority", "u@h",
                          NULL},
    (const char *const[]){":method", "GET", ":scheme", "http", ":path", "", ":authority", "h",
                          NULL},
    (const char *const[]){":method", "CONNECT", ":authority", "h", NULL},
    (const char *const[]){":method", "CONNECT", ":authority", "h:1", ":path", "/", NULL},
    (const char *const[]){":method", "GET", ":protocol", "websocket", ":scheme", "http", ":path",
                          "/", ":authority", "h", NULL},
};

Test(http_xlate, req_3to1_rejects_malformed_lists)
{
	for (size_t i = 0; i < sizeof(bad_req_lists) / sizeof(bad_req_lists[0]); i++) {
		int rc = req_3to1(true, bad_req_lists[i]);
		cr_expect_eq(rc, -EPROTO, "list %zu: rc %d, head \"%s\"", i, rc, out.data);
		cr_expect_eq(res.err_status, 400, "list %zu: status %u", i, res.err_status);
		cr_expect_not_null(res.err_reason, "list %zu", i);
	}
	const char *p[] = {":method", "CONNECT", ":protocol",  "h2c", ":scheme", "http",
	                   ":path",   "/",       ":authority", "h",   NULL};
	cr_expect_eq(req_3to1(true, p), -EPROTO);
	cr_expect_eq(res.err_status, 501);
	/* the same list without the flaw passes */
	const char *ok[] = {P3, "x", "a b", "te", "trailers", NULL};
	cr_expect_eq(req_3to1(true, ok), 0);
}

static int resp_3to1(const struct http_client_ctx *c, const char *const *kv)
{
	nghttp3_nv nv[32];
	size_t n = mklist(nv, kv);
	buf_free(&out);
	buf_init(&out);
	return http_xlate_resp_3to1(nv, n, c, &out, &res);
}

Test(http_xlate, resp_3to1_framing)
{
	struct http_client_ctx c11 = {.version_minor = 1, .keep_alive = true, .body = true};
	struct http_client_ctx c10 = {.version_minor = 0, .keep_alive = false, .body = true};
	struct http_client_ctx c10k = {.version_minor = 0, .keep_alive = true, .body = true};
	const char *cl[] = {":status", "200", "content-length", "5", "x-a", "1", NULL};
	const char *nocl[] = {":status", "200", "x-a", "1", NULL};
	cr_assert_eq(resp_3to1(&c11, cl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 5\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_LENGTH);
	cr_expect(res.keep_alive);
	cr_assert_eq(resp_3to1(&c11, nocl), 0);
	cr_expect_str_eq(out.data,
	                 "HTTP/1.1 200 OK\r\nx-a: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	cr_assert_eq(resp_3to1(&c10, nocl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\nConnection: close\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CLOSE);
	cr_expect_not(res.keep_alive);
	cr_assert_eq(resp_3to1(&c10k, nocl), 0);
	cr_expect_eq(res.framing, HTTP1_BODY_CLOSE);
	cr_expect_not(res.keep_alive);
	cr_assert_eq(resp_3to1(&c10k, cl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 5\r\n"
	                           "Connection: keep-alive\r\n\r\n");
	cr_expect(res.keep_alive);
	struct http_client_ctx ended = c11;
	ended.body = false;
	cr_assert_eq(resp_3to1(&ended, nocl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 0\r\n\r\n");
	struct http_client_ctx head = c11;
	head.req = HTTP1_REQ_HEAD;
	cr_assert_eq(resp_3to1(&head, cl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 5\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_NONE);
	cr_assert_eq(resp_3to1(&head, nocl), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\n");
	const char *s204[] = {":status", "204", NULL};
	cr_assert_eq(resp_3to1(&c11, s204), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 204 No Content\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_NONE);
	const char *s304[] = {":status", "304", "etag", "\"x\"", NULL};
	cr_assert_eq(resp_3to1(&c11, s304), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n");
	const char *s299[] = {":status", "299", "content-length", "0", NULL};
	cr_assert_eq(resp_3to1(&c11, s299), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
	const char *s100[] = {":status", "100", NULL};
	cr_assert_eq(resp_3to1(&c11, s100), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 100 Continue\r\n\r\n");
	cr_expect(res.flags & HTTP1_F_INFORMATIONAL);
	cr_assert_eq(resp_3to1(&c10, s100), 0);
	cr_expect_eq(out.len, 0);
	cr_expect(res.flags & HTTP1_F_INFORMATIONAL);
}

Test(http_xlate, resp_3to1_rejects_malformed_lists)
{
	struct http_client_ctx c = {.version_minor = 1, .keep_alive = true, .body = true};
	const char *const *bad[] = {
	    (const char *const[]){"x", "1", NULL},
	    (const char *const[]){":status", "20", NULL},
	    (const char *const[]){":status", "2000", NULL},
	    (const char *const[]){":status", "099", NULL},
	    (const char *const[]){":status", "600", NULL},
	    (const char *const[]){":status", "abc", NULL},
	    (const char *const[]){":status", "101", NULL},
	    (const char *const[]){":status", "200", ":status", "200", NULL},
	    (const char *const[]){":status", "200", ":path", "/", NULL},
	    (const char *const[]){"x", "1", ":status", "200", NULL},
	    (const char *const[]){":status", "200", "transfer-encoding", "chunked", NULL},
	    (const char *const[]){":status", "200", "connection", "close", NULL},
	    (const char *const[]){":status", "200", "Set-Cookie", "a", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = resp_3to1(&c, bad[i]);
		cr_expect_eq(rc, -EPROTO, "list %zu: %d", i, rc);
		cr_expect_eq(res.err_status, 502, "list %zu", i);
	}
	/* a NUL inside a value (strlen cannot build this one) */
	nghttp3_nv nv[2] = {{(const uint8_t *)":status", (const uint8_t *)"200", 7, 3, 0},
	                    {(const uint8_t *)"x", (const uint8_t *)"a\0b", 1, 3, 0}};
	cr_expect_eq(http_xlate_resp_3to1(nv, 2, &c, &out, &res), -EPROTO);
	cr_expect_eq(http_xlate_req_3to1(nv + 1, 1, false, &out, &res), -EPROTO);
}

Test(http_xlate, resp_1to3)
{
	parse_resp("HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=1\r\n"
	           "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\nSet-Cookie: a=1\r\n"
	           "Set-Cookie: b=2\r\nProxy-Authenticate: Basic\r\n\r\n",
	           0);
	struct http_xlate_opts o = {.hop_flags = HTTP_HOP_PROXY_AUTH};
	cr_assert_eq(http_xlate_resp_1to3(&resp, false, &o, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":status: 200\nset-cookie: a=1\nset-cookie: b=2\n");
	http_nvlist_free(&nvl);
	parse_resp("HTTP/1.1 100 Continue\r\n\r\n", 0);
	cr_assert_eq(http_xlate_resp_1to3(&resp, false, NULL, &nvl), 0);
	cr_expect_str_eq(dump(&nvl), ":status: 100\n");
}

/* h1 request -> h3 -> h1 request: the same method, target, authority and end-to-end fields. */
Test(http_xlate, request_round_trip)
{
	const char *in = "PATCH /r/1?k=v HTTP/1.1\r\nHost: svc.example:9000\r\nAccept: */*\r\n"
	                 "Connection: X-Gone\r\nX-Gone: 1\r\nCookie: a=1; b=2\r\n"
	                 "Transfer-Encoding: chunked\r\n\r\n";
	parse_req(in);
	cr_assert_eq(http_xlate_req_1to3(&req, NULL, &nvl), 0);
	cr_assert_eq(http_xlate_req_3to1(nvl.nv, nvl.n, true, &out, &res), 0);
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	struct http1_msg again;
	http1_msg_init(&again);
	cr_assert_eq(http1_parse_request(out.data, out.len, NULL, &again), 0, "%s", out.data);
	cr_expect_eq(again.head_len, out.len);
	cr_expect_eq(again.framing, HTTP1_BODY_CHUNKED);
	cr_expect_eq(again.method.len, 5);
	cr_expect_eq(memcmp(again.path.p, "/r/1?k=v", again.path.len), 0);
	cr_expect_eq(memcmp(again.authority.p, "svc.example:9000", again.authority.len), 0);
	cr_expect_not_null(http1_find(&again, "accept"));
	cr_expect_str_eq(out.data, "PATCH /r/1?k=v HTTP/1.1\r\nHost: svc.example:9000\r\n"
	                           "accept: */*\r\ncookie: a=1; b=2\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n");
}

/* h1 response -> h3 -> h1 response for an HTTP/1.1 and an HTTP/1.0 client. */
Test(http_xlate, response_round_trip)
{
	parse_resp("HTTP/1.1 404 Nope\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
	           "Connection: close\r\n\r\n",
	           0);
	cr_assert_eq(http_xlate_resp_1to3(&resp, false, NULL, &nvl), 0);
	struct http_client_ctx c = {.version_minor = 1, .keep_alive = true, .body = true};
	cr_assert_eq(http_xlate_resp_3to1(nvl.nv, nvl.n, &c, &out, &res), 0);
	cr_expect_str_eq(out.data, "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n"
	                           "Content-Length: 7\r\n\r\n");
	struct http1_msg again;
	http1_msg_init(&again);
	cr_assert_eq(http1_parse_response(out.data, out.len, NULL, 0, &again), 0);
	cr_expect_eq(again.status, 404);
	cr_expect_eq(again.content_length, 7);
	cr_expect(again.flags & HTTP1_F_KEEP_ALIVE);
}

Test(http_xlate, forward_proxy_rewrite)
{
	parse_req("GET http://t.example:8080/x?y HTTP/1.1\r\nHost: wrong\r\n"
	          "Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\n"
	          "Accept: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to1(&req, HTTP_HOP_PROXY_AUTH, &out, &res), 0);
	cr_expect_str_eq(out.data, "GET /x?y HTTP/1.1\r\nHost: t.example:8080\r\nAccept: a\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	parse_req("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n");
	cr_expect_eq(http_xlate_req_1to1(&req, 0, &out, &res), -EINVAL);
}

Test(http_xlate, forward_proxy_hop_by_hop_removed)
{
	parse_req("POST http://t.example/up HTTP/1.1\r\nHost: t.example\r\n"
	          "Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
	          "TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: close\r\n"
	          "Proxy-Authorization: Basic eA==\r\nX-Keep: yes\r\nContent-Length: 3\r\n\r\n");
	cr_assert_eq(http_xlate_req_1to1(&req, HTTP_HOP_PROXY_AUTH, &out, &res), 0);
	cr_expect_str_eq(out.data, "POST /up HTTP/1.1\r\nHost: t.example\r\nX-Keep: yes\r\n"
	                           "Content-Length: 3\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_LENGTH);
	cr_expect_eq(res.content_length, 3);
	/* Without the flag the credentials pass (a tunnel's far side may need them). */
	buf_free(&out);
	buf_init(&out);
	cr_assert_eq(http_xlate_req_1to1(&req, 0, &out, &res), 0);
	cr_expect(strstr(out.data, "Proxy-Authorization: Basic eA==\r\n") != NULL);
}

static void resp_1to1(const char *in, unsigned rq, unsigned minor, bool ka)
{
	struct http_client_ctx c = {.req = rq, .version_minor = minor, .keep_alive = ka};
	parse_resp(in, rq);
	buf_free(&out);
	buf_init(&out);
	cr_assert_eq(http_xlate_resp_1to1(&resp, &c, &out, &res), 0, "%s", in);
}

Test(http_xlate, forward_proxy_response)
{
	/* Content-Length passes as is; hop-by-hop and Proxy-Authenticate go. */
	resp_1to1("HTTP/1.1 200 Fine\r\nConnection: X-H\r\nX-H: 1\r\nKeep-Alive: t=1\r\n"
	          "Proxy-Authenticate: Basic\r\nContent-Length: 5\r\nETag: \"e\"\r\n\r\n",
	          0, 1, true);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nETag: \"e\"\r\n"
	                           "Via: 1.1 kfwd\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_LENGTH);
	cr_expect_eq(res.content_length, 5);
	cr_expect(res.keep_alive);
	/* Chunked to an HTTP/1.1 client stays chunked (re-encoded by the caller). */
	resp_1to1("HTTP/1.1 200 OK\r\nVia: 1.0 up\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1,
	          true);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nVia: 1.0 up\r\nVia: 1.1 kfwd\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	/* Close-delimited becomes chunked for HTTP/1.1: the client connection lives on. */
	resp_1to1("HTTP/1.0 200 OK\r\nX: y\r\n\r\n", 0, 1, true);
	cr_expect_str_eq(
	    out.data,
	    "HTTP/1.1 200 OK\r\nX: y\r\nVia: 1.1 kfwd\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CHUNKED);
	cr_expect(res.keep_alive);
	/* ... and stays close-delimited for an HTTP/1.0 client, which is then closed. */
	resp_1to1("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, true);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nVia: 1.1 kfwd\r\nConnection: close\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_CLOSE);
	cr_expect(!res.keep_alive);
	/* HTTP/1.0 keep-alive client with a delimited body: told so explicitly. */
	resp_1to1("HTTP/1.1 204 No Content\r\n\r\n", 0, 0, true);
	cr_expect_str_eq(
	    out.data, "HTTP/1.1 204 No Content\r\nVia: 1.1 kfwd\r\nConnection: keep-alive\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_NONE);
	/* HEAD: no body whatever the length says; the client asked to close. */
	resp_1to1("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", HTTP1_REQ_HEAD, 1, false);
	cr_expect_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nVia: 1.1 kfwd\r\n"
	                           "Connection: close\r\n\r\n");
	cr_expect_eq(res.framing, HTTP1_BODY_NONE);
	cr_expect(!res.keep_alive);
}

Test(http_xlate, forward_proxy_interim_and_switch)
{
	resp_1to1("HTTP/1.1 100 Continue\r\nX: y\r\n\r\n", 0, 1, true);
	cr_expect_str_eq(out.data, "HTTP/1.1 100 Continue\r\n\r\n");
	cr_expect(res.flags & HTTP1_F_INFORMATIONAL);
	resp_1to1("HTTP/1.1 100 Continue\r\n\r\n", 0, 0, true);
	cr_expect_eq(out.len, 0, "no interim response for an HTTP/1.0 client");
	struct http_client_ctx c = {.version_minor = 1, .keep_alive = true};
	parse_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
	           0);
	cr_expect_eq(http_xlate_resp_1to1(&resp, &c, &out, &res), -EPROTO);
	cr_expect_eq(res.err_status, 502);
}
