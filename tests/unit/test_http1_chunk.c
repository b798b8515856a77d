/* http1_chunk: the chunked decoder (incremental, malformed input, limits) and encoder. */
#include "http1.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode all of in[0..len) in one go; return rc, output in out, consumed in *used. */
static int decode_all(const char *in, size_t len, char *out, size_t cap, size_t *outlen,
                      size_t *used)
{
	struct http1_chunk_dec d;
	http1_chunk_dec_init(&d, 0, 0);
	int rc = http1_chunk_decode(&d, in, len, used, out, cap, outlen);
	if (rc == 0 && !http1_chunk_dec_done(&d))
		return -EAGAIN;
	return rc;
}

Test(http1_chunk, basic_and_stops_at_message_end)
{
	const char *s = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	char out[64];
	size_t n, used;
	cr_assert_eq(decode_all(s, strlen(s), out, sizeof(out), &n, &used), 0);
	cr_expect_eq(n, 11);
	cr_expect_eq(memcmp(out, "hello world", 11), 0);
	cr_expect_eq(used, strlen(s) - strlen("GET / HTTP/1.1\r\n"));
}

Test(http1_chunk, slices_point_into_input)
{
	const char *s = "3\r\nabc\r\n0\r\n\r\n";
	struct http1_chunk_dec d;
	const char *data;
	size_t used, dn;
	http1_chunk_dec_init(&d, 0, 0);
	cr_assert_eq(http1_chunk_dec_feed(&d, s, strlen(s), &used, &data, &dn), 0);
	cr_expect_eq(data, s + 3);
	cr_expect_eq(dn, 3);
	cr_expect_eq(used, 6);
	cr_expect_not(http1_chunk_dec_done(&d));
	cr_assert_eq(http1_chunk_dec_feed(&d, s + used, strlen(s) - used, &used, &data, &dn), 0);
	cr_expect_eq(dn, 0);
	cr_expect(http1_chunk_dec_done(&d));
}

struct ccase {
	const char *in;
	int rc; /* 0: complete, -EAGAIN: needs more, -EPROTO */
	const char *body;
};

static const struct ccase cases[] = {
    {"0\r\n\r\n", 0, ""},
    {"A\r\n0123456789\r\n0\r\n\r\n", 0, "0123456789"},
    {"a\r\n0123456789\r\n0000\r\n\r\n", 0, "0123456789"},
    {"0000000000000003\r\nabc\r\n0\r\n\r\n", 0, "abc"},
    {"3;ext=1;b=\"q\"\r\nabc\r\n0;last\r\n\r\n", 0, "abc"},
    {"3 ;x\r\nabc\r\n0\r\n\r\n", 0, "abc"},
    {"3\t; x\r\nabc\r\n0\r\n\r\n", 0, "abc"},
    {"3\r\nabc\r\n0\r\nX-T: 1\r\nX-U:\r\n\r\n", 0, "abc"},
    {"3\r\nabc\r\n0\r\nX-T: 1\r\n", -EAGAIN, "abc"},
    {"ffffffffffffffff\r\nab", -EAGAIN, "ab"},
    {"3\r\nab", -EAGAIN, "ab"},
    {"", -EAGAIN, ""},
    /* malformed */
    {"00000000000000003\r\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"10000000000000000\r\n", -EPROTO, ""},
    {"x\r\n", -EPROTO, ""},
    {"\r\n", -EPROTO, ""},
    {";x\r\n", -EPROTO, ""},
    {"-3\r\nabc\r\n", -EPROTO, ""},
    {"0x3\r\nabc\r\n", -EPROTO, ""},
    {"+3\r\nabc\r\n", -EPROTO, ""},
    {"3 \r\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3 4\r\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3\rabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3;a\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3;a\x01\r\nabc\r\n0\r\n\r\n", -EPROTO, ""},
    {"3\r\nabcd\r\n0\r\n\r\n", -EPROTO, "abc"},
    {"3\r\nabc\n0\r\n\r\n", -EPROTO, "abc"},
    {"3\r\nabc\r0\r\n\r\n", -EPROTO, "abc"},
    {"0\r\n\n", -EPROTO, ""},
    {"0\r\n\r\r", -EPROTO, ""},
    {"0\r\nX: a\n\r\n", -EPROTO, ""},
    {"0\r\nX: a\r\n b\r\n\r\n", -EPROTO, ""},
    {"0\r\nno-colon\r\n\r\n", -EPROTO, ""},
    {"0\r\nX : a\r\n\r\n", -EPROTO, ""},
    {"0\r\nX: a\x7f\r\n\r\n", -EPROTO, ""},
};

static void run_case(const struct ccase *c, size_t split)
{
	struct http1_chunk_dec d;
	char out[64];
	size_t len = strlen(c->in), used1 = 0, used2 = 0, n1 = 0, n2 = 0;
	http1_chunk_dec_init(&d, 0, 0);
	/* two feeds from separate heap copies, so reads past either end are caught */
	char *a = malloc(split + 1), *b = malloc(len - split + 1);
	memcpy(a, c->in, split);
	memcpy(b, c->in + split, len - split);
	int rc = http1_chunk_decode(&d, a, split, &used1, out, sizeof(out), &n1);
	if (rc == 0 && !http1_chunk_dec_done(&d))
		rc =
		    http1_chunk_decode(&d, b, len - split, &used2, out + n1, sizeof(out) - n1, &n2);
	if (rc == 0 && !http1_chunk_dec_done(&d))
		rc = -EAGAIN;
	cr_expect_eq(rc, c->rc, "\"%s\" split %zu: rc %d want %d (%s)", c->in, split, rc, c->rc,
	             d.err ? d.err : "-");
	if (rc == -EPROTO)
		cr_expect_not_null(d.err);
	cr_expect_eq(n1 + n2, strlen(c->body), "\"%s\" split %zu: %zu body bytes", c->in, split,
	             n1 + n2);
	cr_expect_eq(memcmp(out, c->body, strlen(c->body)), 0);
	free(a);
	free(b);
}

Test(http1_chunk, table_split_at_every_boundary)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t split = 0; split <= strlen(cases[i].in); split++)
			run_case(&cases[i], split);
}

Test(http1_chunk, byte_by_byte)
{
	const char *s =
	    "4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
	const char *want = "Wikipedia in\r\n\r\nchunks.";
	struct http1_chunk_dec d;
	char out[64];
	size_t total = 0;
	http1_chunk_dec_init(&d, 0, 0);
	for (size_t i = 0; i < strlen(s); i++) {
		size_t used, n;
		cr_assert_not(http1_chunk_dec_done(&d), "done early at %zu", i);
		cr_assert_eq(http1_chunk_decode(&d, s + i, 1, &used, out + total, 64 - total, &n),
		             0);
		cr_assert_eq(used, 1);
		total += n;
	}
	cr_expect(http1_chunk_dec_done(&d));
	cr_expect_eq(total, strlen(want));
	cr_expect_eq(memcmp(out, want, total), 0);
}

Test(http1_chunk, limits)
{
	char s[4096];
	struct http1_chunk_dec d;
	char out[8];
	size_t used, n;
	/* extension of exactly the limit passes, one more byte fails */
	sprintf(s, "1;%s\r\na\r\n0\r\n\r\n", "0123456789abcdefghij"); /* ext ";" + 20 = 21 */
	http1_chunk_dec_init(&d, 21, 0);
	cr_expect_eq(http1_chunk_decode(&d, s, strlen(s), &used, out, sizeof(out), &n), 0);
	cr_expect(http1_chunk_dec_done(&d));
	http1_chunk_dec_init(&d, 20, 0);
	cr_expect_eq(http1_chunk_decode(&d, s, strlen(s), &used, out, sizeof(out), &n), -EPROTO);
	cr_expect_str_eq(d.err, "chunk extension too long");
	/* trailer section over its limit */
	size_t k = (size_t)sprintf(s, "0\r\n");
	for (int i = 0; i < 100; i++)
		k += (size_t)sprintf(s + k, "X-%02d: 0123456789\r\n", i);
	strcpy(s + k, "\r\n");
	http1_chunk_dec_init(&d, 0, 0);
	cr_expect_eq(http1_chunk_decode(&d, s, strlen(s), &used, out, sizeof(out), &n), 0);
	cr_expect(http1_chunk_dec_done(&d));
	http1_chunk_dec_init(&d, 0, 1000);
	cr_expect_eq(http1_chunk_decode(&d, s, strlen(s), &used, out, sizeof(out), &n), -EPROTO);
	cr_expect_str_eq(d.err, "trailer section too large");
	/* an error is sticky */
	cr_expect_eq(http1_chunk_decode(&d, "0\r\n\r\n", 5, &used, out, sizeof(out), &n), -EPROTO);
	cr_expect_eq(used, 0);
}

Test(http1_chunk, small_output_buffer)
{
	const char *s = "5\r\nhello\r\n0\r\n\r\n";
	struct http1_chunk_dec d;
	char out[5], *o = out;
	size_t off = 0, used, n;
	http1_chunk_dec_init(&d, 0, 0);
	for (int guard = 0; guard < 50 && !http1_chunk_dec_done(&d); guard++) {
		cr_assert_eq(http1_chunk_decode(&d, s + off, strlen(s) - off, &used, o, 1, &n), 0);
		off += used;
		o += n;
	}
	cr_expect(http1_chunk_dec_done(&d));
	cr_expect_eq(o - out, 5);
	cr_expect_eq(memcmp(out, "hello", 5), 0);
	cr_expect_eq(off, strlen(s));
}

Test(http1_chunk, encoder)
{
	char h[HTTP1_CHUNK_HEAD_MAX];
	cr_expect_eq(http1_chunk_head(h, 1), 3);
	cr_expect_str_eq(h, "1\r\n");
	cr_expect_eq(http1_chunk_head(h, 0x1a2b), 6);
	cr_expect_str_eq(h, "1a2b\r\n");
	cr_expect_eq(http1_chunk_head(h, UINT64_MAX), 18);
	cr_expect_str_eq(h, "ffffffffffffffff\r\n");
	cr_expect_eq(http1_chunk_head(h, 0), 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Encode a random body in random chunk sizes, decode it in random pieces. */
Test(http1_chunk, encode_decode_round_trip)
{
	enum { BODY = 200000 };
	char *body = malloc(BODY), *enc = malloc(2 * BODY), *dec = malloc(BODY);
	for (int round = 0; round < 20; round++) {
		size_t blen = next() % BODY, elen = 0, off = 0, dlen = 0;
		for (size_t i = 0; i < blen; i++)
			body[i] = (char)next();
		while (off < blen) {
			size_t c = 1 + next() % 5000;
			if (c > blen - off)
				c = blen - off;
			elen += http1_chunk_head(enc + elen, c);
			memcpy(enc + elen, body + off, c);
			elen += c;
			memcpy(enc + elen, HTTP1_CHUNK_CRLF, 2);
			elen += 2;
			off += c;
		}
		memcpy(enc + elen, HTTP1_CHUNK_LAST, 5);
		elen += 5;
		struct http1_chunk_dec d;
		http1_chunk_dec_init(&d, 0, 0);
		off = 0;
		for (int guard = 0; guard < 1000000 && off < elen; guard++) {
			size_t piece = 1 + next() % 3000, used, n;
			if (piece > elen - off)
				piece = elen - off;
			cr_assert_eq(http1_chunk_decode(&d, enc + off, piece, &used, dec + dlen,
			                                BODY - dlen, &n),
			             0);
			off += used;
			dlen += n;
		}
		cr_assert(http1_chunk_dec_done(&d));
		cr_assert_eq(off, elen);
		cr_assert_eq(dlen, blen);
		cr_assert_eq(memcmp(dec, body, blen), 0);
	}
	free(body);
	free(enc);
	free(dec);
}
