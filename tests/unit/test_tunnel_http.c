/* tunnel_http: the byte queue for a TCP socket and its credit bookkeeping,
 * the body decoder that fills a stream's up ring, and the HTTP/3 head copy. */
#include "tunnel_int.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tunnel tun;
static struct tstream *s;
static struct thq q;

static void setup(void)
{
	memset(&tun, 0, sizeof(tun));
	tun.up_cap =
	    4u << 20; /* transport.stream_buffer's default; HTTP streams keep TS_UP_START */
	s = tstream_new(&tun, TS_HTTP);
	cr_assert_not_null(s);
	cr_assert_eq(s->upcap, TS_UP_START, "a new stream starts with the small ring");
	memset(&q, 0, sizeof(q));
}

static void teardown(void)
{
	free(s->up);
	free(s);
	thq_free(&q);
}

TestSuite(tunnel_http, .init = setup, .fini = teardown);

/* The ring's bytes not yet acked, as a string (they never wrap in these tests). */
static void ring_is(const char *want)
{
	size_t n = (size_t)(s->up_tail - s->up_head);
	cr_assert_eq(n, strlen(want), "ring holds %zu bytes, want %zu", n, strlen(want));
	cr_assert(!memcmp(s->up + (s->up_head & (s->upcap - 1)), want, n));
}

Test(tunnel_http, chunked_body_framed_and_owed)
{
	cr_assert_eq(thq_put_body(&q, true, "hello", 5), 0);
	cr_assert_eq(thq_put_body(&q, true, "", 0), 0, "an empty DATA adds no last chunk");
	cr_assert_eq(thq_put(&q, HTTP1_CHUNK_LAST, 5), 0);
	const char want[] = "5\r\nhello\r\n0\r\n\r\n";
	cr_assert_eq(q.len, sizeof(want) - 1);
	cr_assert(!memcmp(q.p + q.off, want, q.len));
	cr_assert_eq(q.owed, 5, "only body bytes are owed credit");
}

Test(tunnel_http, credit_follows_the_socket)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	cr_assert_geq(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	long cap = fcntl(p[1], F_GETPIPE_SZ);
	static char body[3 * 65536];
	memset(body, 'x', sizeof(body));
	cr_assert_eq(thq_put_body(&q, false, body, sizeof(body)), 0);
	cr_assert_eq(thq_flush(&q, p[1], NULL, NULL), 0, "EAGAIN is not an error");
	cr_assert_eq(q.len, sizeof(body) - (size_t)cap);
	cr_assert_eq(q.owed, q.len, "credit only for what the socket took");
	char sink[4096];
	uint64_t got = (uint64_t)cap;
	for (int i = 0; i < 1000 && q.len; i++) {
		ssize_t n;
		while ((n = read(p[0], sink, sizeof(sink))) > 0)
			got += (uint64_t)n;
		cr_assert_eq(thq_flush(&q, p[1], NULL, NULL), 0);
		cr_assert_eq(q.owed, q.len);
	}
	cr_assert_eq(q.len, 0);
	cr_assert_eq(q.owed, 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN); /* as the daemon does */
	cr_assert_eq(thq_flush(&q, p[1], NULL, NULL), 0, "nothing to write");
	cr_assert_eq(thq_put_body(&q, false, "y", 1), 0);
	cr_assert_eq(thq_flush(&q, p[1], NULL, NULL), -EPIPE, "a dead socket is an error");
	close(p[1]);
}

Test(tunnel_http, length_body_stops_at_its_end)
{
	struct thbody b;
	size_t used;
	thbody_init(&b, THB_LENGTH, 5);
	cr_assert_eq(thbody_pump(&b, "abcGET /", 3, &used, s), 0);
	cr_assert(!b.done);
	cr_assert_eq(used, 3);
	cr_assert_eq(thbody_pump(&b, "deGET / HTTP/1.1", 16, &used, s), 0);
	cr_assert_eq(used, 2, "the next request is left alone");
	cr_assert(b.done);
	cr_assert(s->tcp_eof, "the stream ends after the body");
	ring_is("abcde");
}

Test(tunnel_http, empty_bodies_are_done_at_once)
{
	struct thbody b;
	thbody_init(&b, THB_LENGTH, 0);
	cr_assert(b.done);
	thbody_init(&b, THB_NONE, 0);
	cr_assert(b.done);
	thbody_init(&b, THB_EOF, 0);
	cr_assert(!b.done, "a close-delimited body ends with the connection only");
}

Test(tunnel_http, chunked_body_decoded)
{
	struct thbody b;
	size_t used;
	const char in[] = "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
	thbody_init(&b, THB_CHUNKED, 0);
	cr_assert_eq(thbody_pump(&b, in, sizeof(in) - 1, &used, s), 0);
	cr_assert(b.done);
	cr_assert_eq(used, sizeof(in) - 1 - 4, "stops before the next message");
	ring_is("abcde");
	cr_assert(s->tcp_eof);
}

Test(tunnel_http, chunked_body_waits_for_ring_room)
{
	struct thbody b;
	size_t used, total = 0;
	const char in[] = "a\r\n0123456789\r\n0\r\n\r\n";
	/* Only 4 bytes of room: a chunk larger than that goes in pieces. */
	s->up_tail = s->up_head = s->up_sent = s->upcap - 4;
	s->up_head -= s->upcap - 4;
	thbody_init(&b, THB_CHUNKED, 0);
	cr_assert_eq(thbody_pump(&b, in, sizeof(in) - 1, &used, s), 0);
	cr_assert_eq(tstream_up_room(s), 0);
	cr_assert(!b.done);
	total += used;
	for (int i = 0; i < 20 && !b.done; i++) {
		s->up_head = s->up_tail; /* everything acked */
		cr_assert_eq(thbody_pump(&b, in + total, sizeof(in) - 1 - total, &used, s), 0);
		total += used;
	}
	cr_assert(b.done);
	cr_assert_eq(total, sizeof(in) - 1);
	cr_assert_eq(s->up_tail, s->upcap - 4 + 10, "ten data bytes in all");
}

Test(tunnel_http, malformed_chunked_refused)
{
	struct thbody b;
	size_t used;
	thbody_init(&b, THB_CHUNKED, 0);
	cr_assert_eq(thbody_pump(&b, "zz\r\nabc", 7, &used, s), -EPROTO);
	cr_assert_not_null(b.dec.err);
	cr_assert(!s->tcp_eof);
}

Test(tunnel_http, no_stream_drops_the_body)
{
	struct thbody b;
	size_t used;
	thbody_init(&b, THB_LENGTH, 4);
	cr_assert_eq(thbody_pump(&b, "abcdef", 6, &used, NULL), 0);
	cr_assert_eq(used, 4);
	cr_assert(b.done);
}

Test(tunnel_http, head_copied_and_bounded)
{
	struct th3_head h = {0};
	th3_head_add(&h, (const uint8_t *)":status", 7, (const uint8_t *)"200", 3);
	th3_head_add(&h, (const uint8_t *)"x-a", 3, (const uint8_t *)"", 0);
	const nghttp3_nv *nv = th3_head_nv(&h);
	cr_assert_not_null(nv);
	cr_assert_eq(h.n, 2);
	cr_assert(nv[0].namelen == 7 && !memcmp(nv[0].name, ":status", 7));
	cr_assert(nv[0].valuelen == 3 && !memcmp(nv[0].value, "200", 3));
	cr_assert(nv[1].namelen == 3 && nv[1].valuelen == 0);
	static uint8_t big[TH3_HEAD_MAX];
	memset(big, 'v', sizeof(big));
	th3_head_add(&h, (const uint8_t *)"x-big", 5, big, sizeof(big));
	cr_assert(h.too_big);
	cr_assert_eq(h.n, 2, "the field over the bound is not kept");
	th3_head_clear(&h);
	cr_assert_eq(h.n, 0);
	cr_assert(!h.too_big);
}

/* A relay stream reading a TCP socket (a pipe here): its full ring is read
 * again only once a quarter of it is free, not after every ack; a ring that
 * fills and empties doubles, up to tunnel.up_cap. */
static struct tstream *relay_over_pipe(int p[2], size_t queued)
{
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	cr_assert_geq(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
	char *junk = calloc(1, queued);
	cr_assert_eq(write(p[1], junk, queued), (ssize_t)queued);
	free(junk);
	struct tstream *r = tstream_new(&tun, TS_CONNECT);
	cr_assert_not_null(r);
	r->phase = TP_RELAY;
	r->io.fd = p[0];
	r->io.fn(NULL, &r->io, 0); /* the socket is readable */
	return r;
}

static void relay_free(struct tstream *r, int p[2])
{
	close(p[0]);
	close(p[1]);
	free(r->up);
	free(r);
}

Test(tunnel_http, full_ring_waits_for_a_quarter)
{
	int p[2];
	tun.up_cap = TS_UP_START; /* no growth here */
	struct tstream *r = relay_over_pipe(p, TS_UP_START + 100000);
	cr_assert_eq(r->up_tail, TS_UP_START, "read until the ring is full");
	cr_assert(r->up_stalled);
	tstream_acked(r, TS_UP_START / 4 - 1);
	cr_assert_eq(r->up_tail, TS_UP_START, "a few acked bytes do not start a read");
	tstream_acked(r, 1);
	cr_assert_eq(r->up_tail, TS_UP_START + TS_UP_START / 4, "a quarter free is read at once");
	cr_assert(r->up_stalled, "and the ring is full again");
	tstream_acked(r, TS_UP_START);
	cr_assert_eq(r->up_tail, TS_UP_START + 100000, "everything the socket held arrives");
	cr_assert_not(r->up_stalled);
	relay_free(r, p);
}

Test(tunnel_http, full_ring_doubles_once_empty)
{
	int p[2];
	struct tstream *r = relay_over_pipe(p, 3 * TS_UP_START);
	cr_assert(r->grow, "full and below up_cap: grow");
	tstream_acked(r, TS_UP_START - 1);
	cr_assert_eq(r->upcap, TS_UP_START, "not while a byte is unacked");
	cr_assert_eq(r->up_tail, TS_UP_START);
	tstream_acked(r, 1);
	cr_assert_eq(r->upcap, 2 * TS_UP_START);
	cr_assert_eq(r->up_tail, 3 * TS_UP_START, "the doubled ring takes the rest");
	relay_free(r, p);
}
