/* http1: request/response head parsing, strictness, limits, incremental parsing, error responses.
 */
#include "http1.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct http1_msg m;

static int parse_req(const char *s)
{
	http1_msg_init(&m);
	return http1_parse_request(s, strlen(s), NULL, &m);
}

static int parse_resp(const char *s, unsigned req)
{
	http1_msg_init(&m);
	return http1_parse_response(s, strlen(s), NULL, req, &m);
}

static bool eq(struct http1_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

#define expect_str(s, lit)                                                                         \
	cr_expect(eq((s), (lit)), "%s is \"%.*s\", want \"%s\"", #s, (int)(s).len, (s).p, (lit))

static void req_ok(const char *s)
{
	int rc = parse_req(s);
	cr_assert_eq(rc, 0, "parse(%s) = %d (%u %s), want 0", s, rc, m.err_status,
	             m.err_reason ? m.err_reason : "");
	cr_assert_eq(m.head_len, strlen(s));
}

Test(http1, origin_form_get)
{
	req_ok("GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n");
	expect_str(m.method, "GET");
	cr_expect_eq(m.form, HTTP1_TARGET_ORIGIN);
	expect_str(m.path, "/a/b?c=d");
	expect_str(m.authority, "example.com");
	expect_str(m.host, "example.com");
	cr_expect_eq(m.port, 0);
	cr_expect_eq(m.version_minor, 1);
	cr_expect_eq(m.nheaders, 2);
	expect_str(m.headers[1].name, "User-Agent");
	expect_str(m.headers[1].value, "t");
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
	cr_expect_eq(m.flags, HTTP1_F_KEEP_ALIVE | HTTP1_F_HAS_HOST);
}

Test(http1, body_after_head_not_consumed)
{
	const char *s = "POST /u HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 5\r\n\r\nhelloGET";
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_request(s, strlen(s), NULL, &m), 0);
	cr_expect_eq(m.head_len, strlen(s) - 8);
	cr_expect_eq(m.framing, HTTP1_BODY_LENGTH);
	cr_expect_eq(m.content_length, 5);
	expect_str(m.host, "h");
	cr_expect_eq(m.port, 8080);
}

Test(http1, absolute_form)
{
	req_ok("GET HTTP://Example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
	cr_expect_eq(m.form, HTTP1_TARGET_ABSOLUTE);
	expect_str(m.scheme, "HTTP");
	expect_str(m.authority, "Example.com:8080");
	expect_str(m.host, "Example.com");
	cr_expect_eq(m.port, 8080);
	expect_str(m.path, "/p?q");
	req_ok("GET http://[2001:db8::1] HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_str(m.host, "2001:db8::1");
	expect_str(m.path, "/");
	req_ok("GET https://h/ HTTP/1.0\r\n\r\n");
	cr_expect_eq(m.version_minor, 0);
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
}

Test(http1, authority_form_connect)
{
	req_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	cr_expect_eq(m.form, HTTP1_TARGET_AUTHORITY);
	expect_str(m.host, "example.com");
	cr_expect_eq(m.port, 443);
	req_ok("CONNECT [2001:db8::7]:8443 HTTP/1.1\r\nHost: [2001:db8::7]:8443\r\n\r\n");
	expect_str(m.host, "2001:db8::7");
	expect_str(m.authority, "[2001:db8::7]:8443");
	cr_expect_eq(m.port, 8443);
	req_ok("CONNECT 192.0.2.1:65535 HTTP/1.0\r\n\r\n");
	expect_str(m.host, "192.0.2.1");
	cr_expect_eq(m.port, 65535);
}

Test(http1, asterisk_form)
{
	req_ok("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_expect_eq(m.form, HTTP1_TARGET_ASTERISK);
	expect_str(m.path, "*");
	expect_str(m.authority, "h");
}

Test(http1, connection_semantics)
{
	req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
	req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	cr_expect(m.flags & HTTP1_F_KEEP_ALIVE);
	req_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
	req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo,  ,CLOSE\r\n\r\n");
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
}

Test(http1, websocket_upgrade_and_expect)
{
	req_ok("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
	       "Upgrade: WebSocket\r\nSec-WebSocket-Key: k\r\n\r\n");
	cr_expect_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET | HTTP1_F_CONN_UPGRADE),
	             HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET | HTTP1_F_CONN_UPGRADE);
	req_ok("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
	cr_expect_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
	req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n");
	cr_expect_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), HTTP1_F_UPGRADE);
	req_ok("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
	cr_expect(m.flags & HTTP1_F_EXPECT_100);
	req_ok("PUT / HTTP/1.0\r\nExpect: something\r\n\r\n"); /* ignored in 1.0 */
	cr_expect_eq(m.flags & HTTP1_F_EXPECT_100, 0);
}

Test(http1, chunked_and_tolerated_shapes)
{
	req_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
	cr_expect_eq(m.framing, HTTP1_BODY_CHUNKED);
	/* value OWS trimmed, empty value allowed, two leading CRLFs skipped */
	req_ok("\r\n\r\nGET / HTTP/1.1\r\nHost:h\r\nX-E:\r\nX-T: \t a b \t\r\n\r\n");
	expect_str(m.headers[0].value, "h");
	expect_str(m.headers[1].value, "");
	expect_str(m.headers[2].value, "a b");
	/* methods are case-sensitive tokens: "get" is just another method */
	req_ok("get / HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_str(m.method, "get");
	req_ok("GET / HTTP/1.1\r\nHost: h\r\nX-O: caf\xc3\xa9\r\nContent-Length: 000\r\n\r\n");
	cr_expect_eq(m.content_length, 0);
	cr_expect_eq(m.framing, HTTP1_BODY_LENGTH);
	cr_expect_not_null(http1_find(&m, "x-o"));
	cr_expect_null(http1_find(&m, "x-none"));
}

struct bad_case {
	const char *text;
	unsigned status;
};

#define H "Host: h\r\n"
static const struct bad_case bad_requests[] = {
    /* line endings, folding, whitespace */
    {"GET / HTTP/1.1\n" H "\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "\n", 400},
    {"GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "X: a\r\n\tb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "X(y): a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H ": a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "No colon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n" H "X: a\x01"
     "b\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", 400},
    {"\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 400},
    /* request line */
    {"GET  / HTTP/1.1\r\n" H "\r\n", 400},
    {"GET / HTTP/1.1 \r\n" H "\r\n", 400},
    {" GET / HTTP/1.1\r\n" H "\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\n" H "\r\n", 400},
    {"GET /a b HTTP/1.1\r\n" H "\r\n", 400},
    {"GET /\x01 HTTP/1.1\r\n" H "\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n", 400},
    {"GET /a#frag HTTP/1.1\r\n" H "\r\n", 400},
    {"GET / http/1.1\r\n" H "\r\n", 400},
    {"GET / HTTP/1.10\r\n" H "\r\n", 400},
    {"GET / HTTP/1\r\n" H "\r\n", 400},
    {"GET / HTTP/2.0\r\n" H "\r\n", 505},
    {"GET / HTTP/1.2\r\n" H "\r\n", 505},
    {"GET / HTTP/0.9\r\n" H "\r\n", 505},
    /* target forms */
    {"GET * HTTP/1.1\r\n" H "\r\n", 400},
    {"GET h:80 HTTP/1.1\r\n" H "\r\n", 400},
    {"connect h:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h: HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h:0 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h:65536 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h:123456 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h:8x HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT /x HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT [::1] HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT ::1:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT [zz::1]:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT [1.2.3.4]:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT user@h:443 HTTP/1.1\r\n" H "\r\n", 400},
    {"CONNECT h:443/x HTTP/1.1\r\n" H "\r\n", 400},
    {"GET http://user@h/ HTTP/1.1\r\n" H "\r\n", 400},
    {"GET http://h:99999/ HTTP/1.1\r\n" H "\r\n", 400},
    {"GET http:///p HTTP/1.1\r\n" H "\r\n", 400},
    {"GET http:/h/p HTTP/1.1\r\n" H "\r\n", 400},
    {"GET ftp://h/p HTTP/1.1\r\n" H "\r\n", 400},
    {"GET http://h?q HTTP/1.1\r\n" H "\r\n", 400},
    /* framing: smuggling shapes */
    {"POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 18446744073709551616\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;q=1\r\n\r\n", 501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET http://h/ HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a:0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    /* expectations */
    {"PUT / HTTP/1.1\r\n" H "Expect: 200-ok\r\n\r\n", 417},
};

Test(http1, malformed_requests_table)
{
	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
		const struct bad_case *c = &bad_requests[i];
		int rc = parse_req(c->text);
		cr_expect_eq(rc, -EPROTO, "case %zu \"%s\": rc %d, want -EPROTO", i, c->text, rc);
		cr_expect_eq(m.err_status, c->status, "case %zu \"%s\": status %u (%s), want %u", i,
		             c->text, m.err_status, m.err_reason ? m.err_reason : "-", c->status);
		cr_expect(rc != -EPROTO || (m.err_reason && m.err_reason[0]), "case %zu: no reason",
		          i);
	}
}

/* A head of about n bytes with one large field. */
static char *big_head(size_t n)
{
	char *s = malloc(n + 64);
	size_t k = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(s + k, 'a', n - k - 4);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

Test(http1, head_size_limit)
{
	struct http1_limits lim = {.max_head = 1024};
	char *s = big_head(1024); /* exactly the limit: accepted */
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, 1024, &lim, &m), 0);
	free(s);
	s = big_head(1025);
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, 1025, &lim, &m), -EPROTO);
	cr_expect_eq(m.err_status, 431);
	/* unfinished and already over the limit: 431 without waiting for more */
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, 1024, &lim, &m), -EPROTO);
	cr_expect_eq(m.err_status, 431);
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, 1023, &lim, &m), -EAGAIN);
	free(s);
	/* the default is 16 KiB */
	s = big_head(16 * 1024 + 1);
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, strlen(s), NULL, &m), -EPROTO);
	cr_expect_eq(m.err_status, 431);
	free(s);
}

Test(http1, too_many_fields)
{
	char s[4096];
	size_t k = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 1; i < 100; i++)
		k += (size_t)sprintf(s + k, "X-%d: v\r\n", i);
	strcpy(s + k, "\r\n");
	req_ok(s); /* 100 fields: the maximum */
	cr_expect_eq(m.nheaders, 100);
	strcpy(s + k, "X-100: v\r\n\r\n");
	cr_expect_eq(parse_req(s), -EPROTO);
	cr_expect_eq(m.err_status, 431);
	struct http1_limits lim = {.max_headers = 3};
	http1_msg_init(&m);
	cr_expect_eq(http1_parse_request(s, strlen(s), &lim, &m), -EPROTO);
	cr_expect_eq(m.err_status, 431);
}

/*
 * Feed s one byte more at a time, each time from a fresh copy (so the buffer
 * moves and ASan sees reads past the end), and check that every call before
 * the answer says -EAGAIN and the answer equals the whole-buffer one.
 */
static void check_incremental(const char *s, size_t len, bool request)
{
	struct http1_msg whole, inc;
	int want, rc = -EAGAIN;
	size_t n;
	http1_msg_init(&whole);
	want = request ? http1_parse_request(s, len, NULL, &whole)
	               : http1_parse_response(s, len, NULL, 0, &whole);
	http1_msg_init(&inc);
	for (n = 1; n <= len && rc == -EAGAIN; n++) {
		char *copy = malloc(n);
		memcpy(copy, s, n);
		rc = request ? http1_parse_request(copy, n, NULL, &inc)
		             : http1_parse_response(copy, n, NULL, 0, &inc);
		if (rc == 0) {
			cr_expect_eq(inc.head_len, whole.head_len);
			cr_expect_eq(inc.nheaders, whole.nheaders);
			cr_expect_eq(inc.framing, whole.framing);
			cr_expect_eq(inc.flags, whole.flags);
			cr_expect_eq(inc.content_length, whole.content_length);
			cr_expect_eq(inc.method.len, whole.method.len);
			cr_expect_eq(inc.path.len, whole.path.len);
			cr_expect_eq(inc.status, whole.status);
		}
		free(copy);
	}
	cr_expect_eq(rc, want, "\"%.*s\": incremental %d, whole %d", (int)len, s, rc, want);
	cr_expect_eq(inc.err_status, whole.err_status, "\"%.*s\": incremental %u, whole %u",
	             (int)len, s, inc.err_status, whole.err_status);
	cr_expect_eq(inc.err_reason, whole.err_reason);
	if (want == 0)
		cr_expect_eq(n - 1, whole.head_len, "answer after %zu bytes, head is %zu", n - 1,
		             whole.head_len);
}

static const char *const good_requests[] = {
    "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
    "\r\nPOST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    "GET http://h:81/x HTTP/1.1\r\nHost: h\r\nConnection: x-a, close\r\nX-A: 1\r\n\r\n",
    "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
    "PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    "OPTIONS * HTTP/1.0\r\n\r\n",
};

Test(http1, incremental_equals_whole)
{
	for (size_t i = 0; i < sizeof(good_requests) / sizeof(good_requests[0]); i++)
		check_incremental(good_requests[i], strlen(good_requests[i]), true);
	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++)
		check_incremental(bad_requests[i].text, strlen(bad_requests[i].text), true);
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	check_incremental(r, strlen(r), false);
}

Test(http1, rejected_head_stays_rejected)
{
	const char *s = "GET / HTTP/1.1\nHost: h\r\n\r\n";
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_request(s, 15, NULL, &m), -EPROTO);
	cr_expect_eq(http1_parse_request(s, strlen(s), NULL, &m), -EPROTO);
	cr_expect_eq(m.err_status, 400);
}

Test(http1, responses)
{
	cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0), 0);
	cr_expect_eq(m.status, 200);
	expect_str(m.reason, "OK");
	cr_expect_eq(m.framing, HTTP1_BODY_LENGTH);
	cr_expect(m.flags & HTTP1_F_KEEP_ALIVE);
	cr_assert_eq(
	    parse_resp("HTTP/1.1 404 Not  Found \r\nTransfer-Encoding: chunked\r\n\r\n", 0), 0);
	expect_str(m.reason, "Not  Found ");
	cr_expect_eq(m.framing, HTTP1_BODY_CHUNKED);
	cr_assert_eq(parse_resp("HTTP/1.1 200\r\n\r\n", 0), 0);
	cr_expect_eq(m.framing, HTTP1_BODY_CLOSE);
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
	cr_assert_eq(
	    parse_resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0),
	    0);
	cr_expect(m.flags & HTTP1_F_KEEP_ALIVE);
	cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", HTTP1_REQ_HEAD),
	             0);
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
	cr_assert_eq(parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0), 0);
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
	cr_assert_eq(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", 0), 0);
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
	cr_expect(m.flags & HTTP1_F_KEEP_ALIVE);
	cr_assert_eq(parse_resp("HTTP/1.1 200 Connection established\r\n\r\n", HTTP1_REQ_CONNECT),
	             0);
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
}

Test(http1, informational_responses)
{
	const char *s =
	    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(parse_resp(s, 0), 0);
	cr_expect_eq(m.status, 100);
	cr_expect_eq(m.flags & (HTTP1_F_INFORMATIONAL | HTTP1_F_CONTINUE),
	             HTTP1_F_INFORMATIONAL | HTTP1_F_CONTINUE);
	cr_expect_eq(m.framing, HTTP1_BODY_NONE);
	size_t off = m.head_len;
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_response(s + off, strlen(s + off), NULL, 0, &m), 0);
	cr_expect_eq(m.status, 201);
	cr_assert_eq(parse_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	                        "Upgrade: websocket\r\n\r\n",
	                        0),
	             0);
	cr_expect(m.flags & HTTP1_F_SWITCHING);
	cr_expect(m.flags & HTTP1_F_WEBSOCKET);
	cr_expect(!(m.flags & HTTP1_F_INFORMATIONAL), "a 101 is the final head");
}

static const struct bad_case bad_responses[] = {
    {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 502},
    {"HTTP/1.1 20 OK\r\n\r\n", 502},
    {"HTTP/1.1 2000 OK\r\n\r\n", 502},
    {"HTTP/1.1 099 X\r\n\r\n", 502},
    {"HTTP/1.1 600 X\r\n\r\n", 502},
    {"HTTP/2 200 OK\r\n\r\n", 502},
    {"HTTP/2.0 200 OK\r\n\r\n", 502},
    {"HTTP/1.1 200 O\x01K\r\n\r\n", 502},
    {"HTTP/1.1  200 OK\r\n\r\n", 502},
    {"\r\nHTTP/1.1 200 OK\r\n\r\n", 502},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 502},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502},
    {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
};

Test(http1, malformed_responses_table)
{
	for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
		const struct bad_case *c = &bad_responses[i];
		int rc = parse_resp(c->text, 0);
		cr_expect_eq(rc, -EPROTO, "case %zu \"%s\": rc %d", i, c->text, rc);
		cr_expect_eq(m.err_status, c->status, "case %zu: status %u", i, m.err_status);
		check_incremental(c->text, strlen(c->text), false);
	}
}

Test(http1, authority_parser)
{
	struct http1_str h;
	unsigned port;
	struct {
		const char *s;
		bool need_port;
		int rc;
		const char *host;
		unsigned port;
	} t[] = {
	    {"a.example:1", true, 0, "a.example", 1},
	    {"a.example", false, 0, "a.example", 0},
	    {"a.example", true, -EINVAL, NULL, 0},
	    {"[::1]:65535", true, 0, "::1", 65535},
	    {"[::ffff:1.2.3.4]", false, 0, "::ffff:1.2.3.4", 0},
	    {"1.2.3.4:080", true, 0, "1.2.3.4", 80},
	    {"h:65536", false, -ERANGE, NULL, 0},
	    {"h:0", false, -ERANGE, NULL, 0},
	    {"h:", false, -EINVAL, NULL, 0},
	    {"", false, -EINVAL, NULL, 0},
	    {":80", false, -EINVAL, NULL, 0},
	    {"[::1", false, -EINVAL, NULL, 0},
	    {"[::1]x", false, -EINVAL, NULL, 0},
	    {"[]:80", false, -EINVAL, NULL, 0},
	    {"a b", false, -EINVAL, NULL, 0},
	    {"a%2e", false, -EINVAL, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct http1_str s = {t[i].s, strlen(t[i].s)};
		int rc = http1_parse_authority(s, t[i].need_port, &h, &port);
		cr_expect_eq(rc, t[i].rc, "\"%s\": %d want %d", t[i].s, rc, t[i].rc);
		if (rc == 0 && t[i].rc == 0) {
			expect_str(h, t[i].host);
			cr_expect_eq(port, t[i].port);
		}
	}
}

Test(http1, list_helpers)
{
	struct http1_str v = {" a ,, B\t, c", 11};
	cr_expect(http1_list_has(v, "b"));
	cr_expect(http1_list_has(v, "C"));
	cr_expect_not(http1_list_has(v, "d"));
	cr_expect_not(http1_list_has((struct http1_str){"", 0}, "a"));
}

Test(http1, error_responses)
{
	char out[512];
	size_t n;
	cr_assert_eq(http1_error_response(out, sizeof(out), 403, "target denied by ACL", NULL, &n),
	             0);
	const char *want = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
	                   "Content-Length: 21\r\nConnection: close\r\n\r\ntarget denied by ACL\n";
	cr_expect_str_eq(out, want);
	cr_expect_eq(n, strlen(want));
	cr_assert_eq(http1_error_response(out, sizeof(out), 407, NULL,
	                                  "Proxy-Authenticate: Basic realm=\"kfwd\"", &n),
	             0);
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_response(out, n, NULL, 0, &m), 0);
	cr_expect_eq(m.status, 407);
	expect_str(m.reason, "Proxy Authentication Required");
	expect_str(http1_find(&m, "proxy-authenticate")->value, "Basic realm=\"kfwd\"");
	cr_expect_eq(m.content_length, n - m.head_len);
	cr_expect_eq(m.flags & HTTP1_F_KEEP_ALIVE, 0);
	static const unsigned codes[] = {400, 403, 405, 407, 408, 411, 413,
	                                 417, 431, 501, 502, 503, 504, 505};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cr_assert_eq(http1_error_response(out, sizeof(out), codes[i], "x", NULL, &n), 0);
		cr_expect_neq(http1_reason(codes[i])[0], 0, "no reason for %u", codes[i]);
		http1_msg_init(&m);
		cr_expect_eq(http1_parse_response(out, n, NULL, 0, &m), 0);
		cr_expect_eq(m.status, codes[i]);
	}
	cr_expect_eq(http1_error_response(out, 40, 400, NULL, NULL, &n), -ENOSPC);
	cr_expect_eq(http1_error_response(out, sizeof(out), 400, "a\r\nX: y", NULL, &n), -EINVAL);
	cr_expect_eq(http1_error_response(out, sizeof(out), 400, NULL, "X: y\r\nZ: w", &n),
	             -EINVAL);
	cr_expect_eq(http1_error_response(out, sizeof(out), 99, NULL, NULL, &n), -EINVAL);
	cr_expect_str_eq(http1_reason(299), "");
}

Test(http1, called_again_and_misuse)
{
	const char *s = "GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\n";
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_request(s, strlen(s), NULL, &m), 0);
	size_t head = m.head_len;
	/* again with more bytes after the head: the same head */
	cr_assert_eq(http1_parse_request(s, strlen(s), NULL, &m), 0);
	cr_expect_eq(m.head_len, head);
	expect_str(m.path, "/x");
	/* fewer bytes than already scanned is the caller's bug */
	cr_expect_eq(http1_parse_request(s, 5, NULL, &m), -EPROTO);
	cr_expect_eq(m.err_status, 500);
}
