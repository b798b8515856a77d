/* proxy_body: the forward proxy's body re-framing between byte queues. */
#include "proxy_body.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct pxq src, dst;
static char out[1 << 16];
static size_t outlen;

static void setup(void)
{
	cr_assert_eq(pxq_alloc(&src, 4096), 0);
	cr_assert_eq(pxq_alloc(&dst, 64), 0); /* small: every body takes many steps */
	outlen = 0;
}

static void teardown(void)
{
	free(src.p);
	free(dst.p);
}

TestSuite(proxy_body, .init = setup, .fini = teardown);

/* Feed in[] step bytes at a time, draining dst into out[]; return the last step result. */
static int run(struct pxbody *b, const char *in, size_t len, size_t step, bool eof)
{
	size_t fed = 0;
	int r = 0;
	const char *why = NULL;
	for (int guard = 0; guard < 100000 && !b->done; guard++) {
		if (fed < len && pxq_space(&src)) {
			size_t n = len - fed < step ? len - fed : step;
			pxq_put(&src, in + fed, n);
			fed += n;
		}
		r = pxbody_step(b, &src, &dst, eof && fed == len, &why);
		cr_assert_lt(outlen + dst.len, sizeof(out));
		memcpy(out + outlen, dst.p + dst.off, dst.len);
		outlen += dst.len;
		pxq_take(&dst, dst.len);
		if (r < 0)
			return r;
		if (fed == len && r == 0 && !b->done && !eof)
			break;
	}
	/* What the sender had sent behind the body: it must stay for the next message. */
	if (fed < len && pxq_space(&src) >= len - fed)
		pxq_put(&src, in + fed, len - fed);
	out[outlen] = 0;
	return r;
}

Test(proxy_body, content_length_stops_at_the_end)
{
	struct pxbody b;
	pxbody_init(&b, HTTP1_BODY_LENGTH, HTTP1_BODY_LENGTH, 10);
	const char in[] = "0123456789GET next";
	run(&b, in, sizeof(in) - 1, 3, false);
	cr_expect(b.done);
	cr_expect_str_eq(out, "0123456789");
	cr_expect_eq(src.len, 8, "the next request stays in the source");
	cr_expect_eq(memcmp(src.p + src.off, "GET next", 8), 0);
}

Test(proxy_body, chunked_is_decoded_and_encoded_again)
{
	struct pxbody b;
	const char in[] =
	    "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
	for (size_t step = 1; step < sizeof(in); step += 7) {
		pxq_take(&src, src.len);
		outlen = 0;
		pxbody_init(&b, HTTP1_BODY_CHUNKED, HTTP1_BODY_CHUNKED, 0);
		run(&b, in, sizeof(in) - 1, step, false);
		cr_expect(b.done, "step %zu", step);
		/* The chunks may be split differently; decode what came out. */
		struct http1_chunk_dec d;
		char plain[64];
		size_t used, plen;
		http1_chunk_dec_init(&d, 0, 0);
		cr_assert_eq(
		    http1_chunk_decode(&d, out, outlen, &used, plain, sizeof(plain), &plen), 0);
		cr_expect(http1_chunk_dec_done(&d), "step %zu: %s", step, out);
		cr_expect_eq(used, outlen, "step %zu: bytes after the last chunk", step);
		cr_expect_eq(plen, 19);
		cr_expect_eq(memcmp(plain, "abc0123456789abcdef", 19), 0);
		cr_expect_null(strstr(out, "ext"), "extensions dropped");
		cr_expect_null(strstr(out, "Trailer"), "trailers dropped");
		cr_expect_eq(src.len, 4, "step %zu: the next request stays", step);
	}
}

Test(proxy_body, close_delimited_to_chunked)
{
	struct pxbody b;
	pxbody_init(&b, HTTP1_BODY_CLOSE, HTTP1_BODY_CHUNKED, 0);
	cr_expect_eq(run(&b, "hello", 5, 5, false), 0);
	cr_expect(!b.done, "not done before EOF");
	run(&b, "", 0, 1, true);
	cr_expect(b.done);
	cr_expect_str_eq(out, "5\r\nhello\r\n0\r\n\r\n");
}

Test(proxy_body, errors)
{
	struct pxbody b;
	pxbody_init(&b, HTTP1_BODY_CHUNKED, HTTP1_BODY_CHUNKED, 0);
	cr_expect_eq(run(&b, "5\r\nhello\r\nzz\r\n", 14, 14, false), -EPROTO);
	pxq_take(&src, src.len);
	pxbody_init(&b, HTTP1_BODY_LENGTH, HTTP1_BODY_LENGTH, 10);
	cr_expect_eq(run(&b, "short", 5, 5, true), -EPIPE);
	pxq_take(&src, src.len);
	pxbody_init(&b, HTTP1_BODY_CHUNKED, HTTP1_BODY_CHUNKED, 0);
	cr_expect_eq(run(&b, "5\r\nhel", 6, 6, true), -EPIPE);
	pxbody_init(&b, HTTP1_BODY_NONE, HTTP1_BODY_NONE, 0);
	cr_expect(b.done);
	pxbody_init(&b, HTTP1_BODY_LENGTH, HTTP1_BODY_LENGTH, 0);
	cr_expect(b.done);
}
