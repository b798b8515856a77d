/*
 * http1 / http_xlate under seeded random mutations of valid messages: no
 * crash (ASan/UBSan in unit-asan), every answer is "complete", "need more" or
 * a 4xx/5xx error, complete heads stay inside the buffer, incremental parsing
 * agrees with whole-buffer parsing, and a head the parser accepts always
 * translates to an HTTP/3 list that the other side accepts.
 */
#include "http1.h"
#include "http_xlate.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 20000
#define MAXMSG 1024

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const requests[] = {
    "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    "POST /u HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    "PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    "5\r\nhello\r\n0\r\n\r\n",
    "GET http://h.example:81/x HTTP/1.1\r\nHost: h\r\nConnection: x-a\r\nX-A: 1\r\n\r\n",
    "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: k\r\n\r\n",
    "\r\nOPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\nCookie: a=1; b=2\r\n\r\n",
};

static const char *const responses[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 204 No Content\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
};

static const char interesting[] = "\r\n :;,\t0\x00\x7f\x80\"[]/?#@%-";

/* Apply 1..4 random mutations to buf[0..*len) (capacity MAXMSG). */
static void mutate(char *buf, size_t *len)
{
	int k = 1 + (int)(next() % 4);
	for (int i = 0; i < k; i++) {
		size_t pos = *len ? next() % *len : 0;
		char c =
		    next() % 2 ? (char)next() : interesting[next() % (sizeof(interesting) - 1)];
		switch (next() % 5) {
		case 0: /* overwrite */
			if (*len)
				buf[pos] = c;
			break;
		case 1: /* insert */
			if (*len < MAXMSG) {
				memmove(buf + pos + 1, buf + pos, *len - pos);
				buf[pos] = c;
				(*len)++;
			}
			break;
		case 2: /* delete */
			if (*len) {
				memmove(buf + pos, buf + pos + 1, *len - pos - 1);
				(*len)--;
			}
			break;
		case 3: /* truncate */
			*len = pos;
			break;
		default: { /* duplicate a span: repeated fields and lines */
			size_t span = 1 + next() % 24;
			if (pos + span <= *len && *len + span <= MAXMSG) {
				memmove(buf + pos + span, buf + pos, *len - pos);
				(*len) += span;
			}
			break;
		}
		}
	}
}

static void check_slice(struct http1_str s, const char *buf, size_t head_len)
{
	/* a slice is in the head, or empty, or a static string ("/", "") */
	if (!s.len || (s.len == 1 && s.p[0] == '/' && (s.p < buf || s.p >= buf + head_len)))
		return;
	cr_assert(s.p >= buf && s.p + s.len <= buf + head_len, "slice outside the head");
}

static void check_msg(const struct http1_msg *m, int rc, const char *buf, size_t len)
{
	cr_assert(rc == 0 || rc == -EAGAIN || rc == -EPROTO, "rc %d", rc);
	if (rc == -EPROTO) {
		cr_assert(m->err_status >= 400 && m->err_status <= 599, "status %u", m->err_status);
		cr_assert(m->err_reason && m->err_reason[0]);
		return;
	}
	if (rc)
		return;
	cr_assert(m->head_len > 0 && m->head_len <= len);
	cr_assert_leq(m->nheaders, HTTP1_MAX_HEADERS);
	cr_assert_leq(m->framing, HTTP1_BODY_CLOSE);
	cr_assert_leq(m->version_minor, 1);
	for (unsigned i = 0; i < m->nheaders; i++) {
		check_slice(m->headers[i].name, buf, m->head_len);
		check_slice(m->headers[i].value, buf, m->head_len);
	}
	check_slice(m->method, buf, m->head_len);
	check_slice(m->path, buf, m->head_len);
	check_slice(m->authority, buf, m->head_len);
	check_slice(m->host, buf, m->head_len);
}

/* Incremental parsing from fresh copies must reach the whole-buffer answer. */
static void check_incremental(const char *buf, size_t len, bool request, const struct http1_msg *w,
                              int want)
{
	struct http1_msg inc;
	int rc = -EAGAIN;
	http1_msg_init(&inc);
	for (size_t n = 1; n <= len && rc == -EAGAIN; n++) {
		char *copy = malloc(n);
		memcpy(copy, buf, n);
		rc = request ? http1_parse_request(copy, n, NULL, &inc)
		             : http1_parse_response(copy, n, NULL, 0, &inc);
		free(copy);
	}
	cr_assert_eq(rc, want, "incremental %d, whole %d: \"%.*s\"", rc, want, (int)len, buf);
	cr_assert_eq(inc.err_status, w->err_status);
	cr_assert_eq(inc.head_len, w->head_len);
}

/* An accepted request head crosses the tunnel: 1to3 then 3to1 must both succeed. */
static void check_request_xlate(const struct http1_msg *m)
{
	struct http_nvlist l;
	struct http_xlate_res res;
	struct buf out;
	int rc = http_xlate_req_1to3(m, NULL, &l);
	cr_assert(rc == 0 || (rc == -EINVAL && m->authority.len == 0), "1to3 %d", rc);
	if (rc)
		return;
	buf_init(&out);
	rc = http_xlate_req_3to1(l.nv, l.n, m->framing != HTTP1_BODY_NONE, &out, &res);
	cr_assert_eq(rc, 0, "3to1 refused what 1to3 built: %s", res.err_reason);
	struct http1_msg again;
	http1_msg_init(&again);
	rc = http1_parse_request(out.data, out.len, NULL, &again);
	cr_assert_eq(rc, 0, "the rebuilt head does not parse (%s): %s", again.err_reason, out.data);
	buf_free(&out);
	http_nvlist_free(&l);
}

static void check_response_xlate(const struct http1_msg *m)
{
	struct http_nvlist l;
	struct http_xlate_res res;
	struct buf out;
	int rc = http_xlate_resp_1to3(m, false, NULL, &l);
	cr_assert(rc == 0 || (rc == -EPROTO && m->status == 101), "1to3 %d", rc);
	if (rc)
		return;
	struct http_client_ctx c = {.version_minor = 1, .keep_alive = true, .body = true};
	buf_init(&out);
	rc = http_xlate_resp_3to1(l.nv, l.n, &c, &out, &res);
	cr_assert_eq(rc, 0, "3to1 refused what 1to3 built: %s", res.err_reason);
	buf_free(&out);
	http_nvlist_free(&l);
}

static void check_chunked(const char *buf, size_t len)
{
	struct http1_chunk_dec d;
	char out[MAXMSG];
	size_t used, n;
	http1_chunk_dec_init(&d, 0, 0);
	int rc = http1_chunk_decode(&d, buf, len, &used, out, sizeof(out), &n);
	cr_assert(rc == 0 || rc == -EPROTO);
	cr_assert_leq(used, len);
	cr_assert_leq(n, used);
}

Test(http1_fuzz, mutations, .timeout = 120)
{
	char *buf = malloc(MAXMSG);
	size_t nreq = sizeof(requests) / sizeof(requests[0]);
	size_t nresp = sizeof(responses) / sizeof(responses[0]);
	unsigned ok = 0, errs = 0, more = 0;
	rng = 0x2545f4914f6cdd1dull;
	for (int round = 0; round < ROUNDS; round++) {
		bool request = next() % 3 != 0;
		const char *seed = request ? requests[next() % nreq] : responses[next() % nresp];
		size_t len = strlen(seed);
		memcpy(buf, seed, len);
		mutate(buf, &len);
		/* an exact-size heap copy so ASan flags any read past the end */
		char *msg = malloc(len ? len : 1);
		memcpy(msg, buf, len);
		struct http1_msg m;
		http1_msg_init(&m);
		int rc = request ? http1_parse_request(msg, len, NULL, &m)
		                 : http1_parse_response(msg, len, NULL, 0, &m);
		check_msg(&m, rc, msg, len);
		ok += rc == 0;
		errs += rc == -EPROTO;
		more += rc == -EAGAIN;
		if (rc == 0 && request)
			check_request_xlate(&m);
		if (rc == 0 && !request)
			check_response_xlate(&m);
		if (rc == 0 && m.framing == HTTP1_BODY_CHUNKED)
			check_chunked(msg + m.head_len, len - m.head_len);
		if (round % 16 == 0)
			check_incremental(msg, len, request, &m, rc);
		free(msg);
	}
	cr_log_info("%d rounds: %u complete, %u errors, %u need more", ROUNDS, ok, errs, more);
	/* the mutations must exercise every outcome, or the test proves little */
	cr_expect_gt(ok, ROUNDS / 20, "%u complete", ok);
	cr_expect_gt(errs, ROUNDS / 4, "%u errors", errs);
	cr_expect_gt(more, ROUNDS / 50, "%u need-more", more);
	free(buf);
}
