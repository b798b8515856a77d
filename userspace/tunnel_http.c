/*
 * mode = "http" listeners on the tunnel client. Each TCP connection carries
 * HTTP/1.1 requests (keep-alive, pipelining); they are served one at a time,
 * in order: a request becomes an HTTP/3 request stream (TS_HTTP), its body
 * is decoded (Content-Length or chunked) into the stream's up ring, and the
 * response head is translated back and its body written to the client,
 * chunked when the HTTP/3 response has no content-length. Requests pipelined
 * behind the current one wait in the input buffer until its response is out.
 *
 * Also the pieces both sides of the tunnel use to move HTTP/1.1 bodies: the
 * queue of bytes waiting for a TCP socket with the QUIC credit they carry
 * (thq), and the body decoder that fills an up ring (thbody).
 */
#include "http_xlate.h"
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HC_IN_MIN    (64u << 10) /* input buffer floor: body bytes pass through it */
#define HC_LINGER_MS 2000        /* after our FIN, how long the client's bytes are drained */
#define HC_STEPS     64          /* rounds of one run: each makes progress or stops it */

/* ---- bytes for a TCP socket --------------------------------------------- */

int thq_put(struct thq *q, const void *data, size_t n)
{
	if (q->off + q->len + n > q->cap) {
		if (q->off) {
			memmove(q->p, q->p + q->off, q->len);
			q->off = 0;
		}
		size_t cap = q->cap ? q->cap : 16384;
		while (cap < q->len + n)
			cap *= 2;
		if (cap > q->cap) {
			uint8_t *p = realloc(q->p, cap);
			if (!p)
				return -ENOMEM;
			q->p = p;
			q->cap = cap;
		}
	}
	memcpy(q->p + q->off + q->len, data, n);
	q->len += n;
	return 0;
}

int thq_put_body(struct thq *q, bool chunked, const void *data, size_t n)
{
	if (!n)
		return 0;
	if (chunked) {
		char hd[HTTP1_CHUNK_HEAD_MAX];
		size_t k = http1_chunk_head(hd, n);
		if (thq_put(q, hd, k) || thq_put(q, data, n) || thq_put(q, HTTP1_CHUNK_CRLF, 2))
			return -ENOMEM;
	} else if (thq_put(q, data, n)) {
		return -ENOMEM;
	}
	q->owed += n;
	return 0;
}

/* Give s's peer credit for n body bytes that left. */
static void thq_credit(struct thq *q, struct tstream *s, uint64_t n)
{
	if (n > q->owed)
		n = q->owed;
	q->owed -= n;
	if (n && s && s->c) {
		th3_consumed(s->c, s->sid, (size_t)n);
		tun_kick(s->c);
	}
}

int thq_flush(struct thq *q, int fd, struct tstream *s, struct lsn_ctr *ctr)
{
	while (q->len) {
		ssize_t n = write(fd, q->p + q->off, q->len);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		q->off += (size_t)n;
		q->len -= (size_t)n;
		if (s)
			s->t->st.stream_bytes_down += (uint64_t)n;
		if (ctr)
			ctr_add(&ctr->bytes_out, (uint64_t)n);
		/* Framing bytes count as body here: credit runs at most a chunk
		 * head ahead of the socket, and is exact once the queue is empty. */
		thq_credit(q, s, (uint64_t)n);
	}
	q->off = 0;
	thq_credit(q, s, q->owed);
	return 0;
}

void thq_release(struct thq *q, struct tconn *c, int64_t sid)
{
	if (q->owed && c)
		th3_consumed(c, sid, (size_t)q->owed);
	q->owed = 0;
}

void thq_free(struct thq *q)
{
	free(q->p);
	memset(q, 0, sizeof(*q));
}

/* ---- bodies into an up ring --------------------------------------------- */

void thbody_init(struct thbody *b, int mode, uint64_t len)
{
	memset(b, 0, sizeof(*b));
	b->mode = mode;
	b->remaining = len;
	b->done = mode == THB_NONE || (mode == THB_LENGTH && !len);
	if (mode == THB_CHUNKED)
		http1_chunk_dec_init(&b->dec, 0, 0);
}

/* Append to s (NULL: the stream is gone, the bytes are dropped). */
static void body_put(struct tstream *s, const char *p, size_t n)
{
	if (s && n)
		tstream_up_put(s, p, n);
}

int thbody_pump(struct thbody *b, const char *in, size_t len, size_t *used, struct tstream *s)
{
	*used = 0;
	while (!b->done && *used < len) {
		size_t room = s ? tstream_up_room(s) : SIZE_MAX;
		const char *p = in + *used;
		size_t avail = len - *used, k = avail < room ? avail : room;
		if (!room)
			break;
		if (b->mode == THB_LENGTH) {
			if (k > b->remaining)
				k = (size_t)b->remaining;
			body_put(s, p, k);
			b->remaining -= k;
			b->done = !b->remaining;
			*used += k;
		} else if (b->mode == THB_EOF) {
			body_put(s, p, k);
			*used += k;
		} else {
			/* Data never outgrows the input: feeding at most room bytes keeps
			 * what comes out within the ring. */
			const char *d;
			size_t u, dl;
			if (http1_chunk_dec_feed(&b->dec, p, k, &u, &d, &dl))
				return -EPROTO;
			body_put(s, d, dl);
			*used += u;
			b->done = http1_chunk_dec_done(&b->dec);
			if (!u)
				break;
		}
	}
	if (b->done && s && !s->tcp_eof)
		tstream_up_end(s);
	return 0;
}

/* ---- the client's connection -------------------------------------------- */

enum hc_req { HQ_HEAD, HQ_BODY, HQ_DONE };           /* the current request */
enum hc_resp { HR_NONE, HR_WAIT, HR_BODY, HR_DONE }; /* its response */

struct thcli {
	struct tunnel *t;
	struct conf_listener *lc;
	struct lsn_ctr *ctr; /* its listener's counters */
	struct loop_io io;
	struct loop_timer timer; /* idle between requests, then the lingering close */
	struct loop_pending run; /* a stream event asks for hc_run */
	struct sockaddr_storage peer;
	char *in; /* bytes read and not yet used: a head, body, pipelined requests */
	size_t in_len, in_cap;
	bool in_eof; /* the client's FIN was read */
	struct http1_msg m;
	int req, resp; /* enum hc_req, enum hc_resp */
	struct tstream *s;
	int gone; /* why s went away, when it did before the exchange ended */
	struct thbody body;
	unsigned req_flags, version_minor;
	bool keep_alive, websocket, expect_100;
	bool resp_chunked, resp_close;
	struct thq out;
	bool closing;   /* no more requests: FIN once out is written */
	bool lingering; /* FIN sent: draining the client until its FIN */
	bool freed;
	struct thcli *next, *prev;
};

static void hc_io_cb(struct loop *l, struct loop_io *io, uint32_t events);
static void hc_run(struct thcli *h);

static void hc_free_mem(void *arg)
{
	struct thcli *h = arg;
	free(h->in);
	thq_free(&h->out);
	free(h);
}

/* Close the connection (RST when rst: the exchange cannot be completed). */
static void hc_free(struct thcli *h, bool rst)
{
	if (h->freed)
		return;
	h->freed = true;
	struct tunnel *t = h->t;
	if (h->s) {
		struct tstream *s = h->s;
		h->s = NULL;
		s->http = NULL;
		if (h->req != HQ_DONE || h->resp != HR_DONE)
			tstream_reset(s);
	}
	if (rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(h->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del(t->loop, &h->io);
	close(h->io.fd);
	loop_timer_cancel(t->loop, &h->timer);
	loop_pending_cancel(t->loop, &h->run);
	if (h->prev)
		h->prev->next = h->next;
	else
		t->hclis = h->next;
	if (h->next)
		h->next->prev = h->prev;
	conf_listener_unref(h->lc);
	ctr_add(&h->ctr->active, (uint64_t)-1);
	if (loop_defer(t->loop, hc_free_mem, h))
		log_err("tunnel: out of memory: an http connection's buffers leak");
}

/* Answer with a complete small response and close after it. Only before the
 * response head went out; later the connection can only be cut. */
static void hc_error(struct thcli *h, unsigned status, const char *why)
{
	if (h->resp == HR_BODY || h->resp == HR_DONE) {
		hc_free(h, true);
		return;
	}
	log_info("listener %s: answered %u: %s", h->lc->name, status, why);
	ctr_add(&h->ctr->err[stats_status_err(status)], 1);
	char out[512];
	size_t n;
	if (http1_error_response(out, sizeof(out), status, why, NULL, &n) &&
	    http1_error_response(out, sizeof(out), status, NULL, NULL, &n))
		n = 0;
	if (h->s) {
		struct tstream *s = h->s;
		h->s = NULL;
		s->http = NULL;
		tstream_reset(s);
	}
	if (thq_put(&h->out, out, n)) {
		hc_free(h, true);
		return;
	}
	h->resp = HR_DONE;
	h->req = HQ_DONE;
	h->closing = true;
}

static int hc_read(struct thcli *h)
{
	while (!h->in_eof && h->in_len < h->in_cap) {
		ssize_t n = read(h->io.fd, h->in + h->in_len, h->in_cap - h->in_len);
		if (n > 0) {
			h->in_len += (size_t)n;
			h->t->st.stream_bytes_up += (uint64_t)n;
			ctr_add(&h->ctr->bytes_in, (uint64_t)n);
		} else if (n == 0) {
			h->in_eof = true;
		} else if (errno == EAGAIN) {
			return 0;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static void hc_consume(struct thcli *h, size_t n)
{
	memmove(h->in, h->in + n, h->in_len - n);
	h->in_len -= n;
}

/* Open the request stream for h->m; the caller consumes the head after. */
static int hc_open(struct thcli *h, const nghttp3_nv *nv, size_t n, bool body)
{
	struct tconn *c = tun_client_up(h->t);
	if (!c)
		return -ENOTCONN;
	struct tstream *s = tstream_new(h->t, TS_HTTP);
	if (!s)
		return -ENOMEM;
	int64_t sid;
	if (ngtcp2_conn_open_bidi_stream(c->conn, &sid, s)) {
		tstream_free(s, false);
		return -EAGAIN;
	}
	nghttp3_data_reader dr = {.read_data = tstream_read_data};
	if (nghttp3_conn_submit_request(c->h3, sid, nv, n, body ? &dr : NULL, s)) {
		ngtcp2_conn_shutdown_stream(c->conn, 0, sid, NGHTTP3_H3_INTERNAL_ERROR);
		tstream_free(s, false);
		return -EPROTO;
	}
	s->sid = sid;
	s->phase = TP_RELAY;
	s->http = h;
	tstream_link(s, c);
	h->t->st.streams_total++;
	h->s = s;
	tun_kick(c);
	return 0;
}

/* A complete request head in h->m: send it on a new stream. */
static void hc_start(struct thcli *h)
{
	struct http1_msg *m = &h->m;
	if (m->method.len == 7 && !memcmp(m->method.p, "CONNECT", 7)) {
		hc_error(h, 405, "CONNECT is not served on an http listener");
		return;
	}
	struct http_xlate_opts o = {.forwarded_for = h->lc->forwarded ? (void *)&h->peer : NULL};
	struct http_nvlist nvl = {0};
	int err = http_xlate_req_1to3(m, &o, &nvl);
	if (err) {
		hc_error(h, err == -EINVAL ? 400 : 500,
		         err == -EINVAL ? "the request names no host (Host required)"
		                        : "out of memory");
		return;
	}
	h->websocket = m->flags & HTTP1_F_WEBSOCKET;
	int mode = h->websocket                       ? THB_EOF
	           : m->framing == HTTP1_BODY_CHUNKED ? THB_CHUNKED
	           : m->framing == HTTP1_BODY_LENGTH  ? THB_LENGTH
	                                              : THB_NONE;
	thbody_init(&h->body, mode, m->content_length);
	err = hc_open(h, nvl.nv, nvl.n, !h->body.done);
	http_nvlist_free(&nvl);
	if (err) {
		h->t->st.streams_refused++;
		hc_error(h, 503,
		         err == -ENOTCONN ? "tunnel down"
		         : err == -EAGAIN ? "tunnel stream limit reached"
		                          : "cannot open a tunnel stream");
		return;
	}
	loop_timer_cancel(h->t->loop, &h->timer);
	h->req_flags = m->method.len == 4 && !memcmp(m->method.p, "HEAD", 4) ? HTTP1_REQ_HEAD : 0;
	h->version_minor = m->version_minor;
	h->keep_alive = m->flags & HTTP1_F_KEEP_ALIVE;
	h->expect_100 = (m->flags & HTTP1_F_EXPECT_100) && !h->body.done;
	h->req = h->body.done ? HQ_DONE : HQ_BODY;
	h->resp = HR_WAIT;
	hc_consume(h, m->head_len);
	/* The client waits for a 100 before the body; the tunnel takes it at once. */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	if (h->expect_100 && thq_put(&h->out, cont, sizeof(cont) - 1))
		hc_free(h, true);
}

/* Between requests: parse the next head. Return true on progress. */
static bool hc_head(struct thcli *h)
{
	if (!h->in_len) {
		if (h->in_eof)
			h->closing = true;
		return h->in_eof;
	}
	struct http1_limits lim = {.max_head = (size_t)h->lc->header_limit};
	int rc = http1_parse_request(h->in, h->in_len, &lim, &h->m);
	if (rc == -EAGAIN) {
		if (h->in_eof)
			h->closing = true; /* a partial request, then FIN: nothing to answer */
		return h->in_eof;
	}
	if (rc) {
		hc_error(h, h->m.err_status, h->m.err_reason);
		return true;
	}
	hc_start(h);
	return true;
}

/* The request body into the stream (or dropped once the stream is gone). */
static bool hc_body(struct thcli *h)
{
	size_t used;
	if (thbody_pump(&h->body, h->in, h->in_len, &used, h->s)) {
		hc_error(h, 400, h->body.dec.err ? h->body.dec.err : "malformed chunked body");
		return true;
	}
	hc_consume(h, used);
	if (h->body.done) {
		h->req = HQ_DONE;
		return true;
	}
	if (!h->in_len && h->in_eof) {
		if (h->body.mode == THB_EOF) { /* a WebSocket's client side ended */
			h->body.done = true;
			if (h->s)
				tstream_up_end(h->s);
			h->req = HQ_DONE;
			return true;
		}
		log_debug("listener %s: the client left in the middle of a request body",
		          h->lc->name);
		hc_free(h, true); /* resets the stream */
		return false;
	}
	return used > 0;
}

/* The stream went away before the exchange ended. */
static void hc_lost_stream(struct thcli *h)
{
	if (h->resp == HR_WAIT) {
		hc_error(h, h->gone == TSG_DOWN ? 503 : 502,
		         h->gone == TSG_DOWN ? "tunnel down" : "the tunnel peer reset the request");
	} else if (h->resp == HR_BODY) {
		hc_free(h, true); /* a response cut short: the client must see it cut */
	}
}

/* Both halves done and written: the next request, or the end. */
static bool hc_finish(struct thcli *h)
{
	if (h->s) {
		h->s->http = NULL;
		h->s = NULL;
	}
	if (h->closing || h->resp_close || !h->keep_alive || h->websocket) {
		h->closing = true;
		return false;
	}
	h->req = HQ_HEAD;
	h->resp = HR_NONE;
	h->resp_chunked = h->resp_close = false;
	http1_msg_init(&h->m);
	loop_timer_set(h->t->loop, &h->timer, (uint64_t)conf_idle_ms(h->lc));
	return true;
}

static bool hc_step(struct thcli *h)
{
	bool progress = false;
	size_t before = h->in_len;
	if (hc_read(h)) {
		hc_free(h, true);
		return false;
	}
	progress = h->in_len != before;
	if (h->closing || h->freed)
		return false;
	if (!h->s && h->resp != HR_NONE && h->resp != HR_DONE)
		hc_lost_stream(h);
	else if (h->req == HQ_HEAD)
		progress |= hc_head(h);
	else if (h->req == HQ_BODY)
		progress |= hc_body(h);
	if (h->freed || h->closing)
		return false;
	if (h->req == HQ_DONE && h->resp == HR_DONE && !h->out.len)
		progress |= hc_finish(h);
	return progress;
}

static void hc_run(struct thcli *h)
{
	if (h->freed)
		return;
	if (thq_flush(&h->out, h->io.fd, h->s, h->ctr)) {
		hc_free(h, true);
		return;
	}
	if (h->lingering) {
		char junk[4096];
		ssize_t n;
		while ((n = read(h->io.fd, junk, sizeof(junk))) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			hc_free(h, false);
		return;
	}
	int i = 0;
	while (i < HC_STEPS && !h->freed && hc_step(h))
		i++;
	if (i == HC_STEPS && !h->freed)
		loop_pending_add(h->t->loop, &h->run); /* more to do: after other work */
	if (h->freed)
		return;
	if (thq_flush(&h->out, h->io.fd, h->s, h->ctr)) {
		hc_free(h, true);
		return;
	}
	if (h->closing && h->resp == HR_DONE && !h->out.len) {
		if (h->req != HQ_DONE && h->s) {
			/* Answered before the request ended (an early error): stop it. */
			struct tstream *s = h->s;
			h->s = NULL;
			s->http = NULL;
			tstream_reset(s);
		}
		shutdown(h->io.fd, SHUT_WR);
		h->lingering = true;
		loop_timer_set(h->t->loop, &h->timer, HC_LINGER_MS);
		hc_run(h);
	} else if (h->closing && h->resp != HR_BODY && h->resp != HR_DONE && !h->s) {
		hc_free(h, false); /* nothing was asked, or the client left before an answer */
	}
}

static void hc_run_cb(struct loop *l, struct loop_pending *p)
{
	hc_run(container_of(p, struct thcli, run));
}

static void hc_io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	hc_run(container_of(io, struct thcli, io));
}

static void hc_timer_cb(struct loop *l, struct loop_timer *tm)
{
	struct thcli *h = container_of(tm, struct thcli, timer);
	if (h->lingering || (h->req == HQ_HEAD && h->resp == HR_NONE))
		hc_free(h, false); /* idle between requests, or the linger is over */
}

/* ---- events of the request stream ---------------------------------------- */

int thcli_end_headers(struct tstream *s, bool fin)
{
	struct thcli *h = s->http;
	if (!h || h->resp != HR_WAIT)
		return 0; /* trailers: dropped */
	const nghttp3_nv *nv = th3_head_nv(&s->hd);
	struct http_client_ctx cx = {.req = h->req_flags,
	                             .version_minor = h->version_minor,
	                             .keep_alive = h->keep_alive,
	                             .websocket = h->websocket,
	                             .body = !fin};
	struct buf b;
	struct http_xlate_res res;
	buf_init(&b);
	int rc = nv && !s->hd.too_big ? http_xlate_resp_3to1(nv, s->hd.n, &cx, &b, &res) : -ENOMEM;
	th3_head_clear(&s->hd); /* a 1xx: the final head follows */
	if (!rc && (b.oom || thq_put(&h->out, b.data, b.len)))
		rc = -ENOMEM;
	buf_free(&b);
	if (rc) {
		hc_error(h, 502, rc == -EPROTO ? res.err_reason : "response head too large");
		loop_pending_add(h->t->loop, &h->run);
		return 0;
	}
	if (!(res.flags & HTTP1_F_INFORMATIONAL)) {
		h->resp = HR_BODY;
		h->resp_chunked = res.framing == HTTP1_BODY_CHUNKED;
		h->resp_close = !res.keep_alive || res.framing == HTTP1_BODY_CLOSE;
		if (fin)
			h->resp = HR_DONE;
	}
	loop_pending_add(h->t->loop, &h->run);
	return 0;
}

int thcli_recv_data(struct tstream *s, const uint8_t *data, size_t len)
{
	struct thcli *h = s->http;
	if (h->resp != HR_BODY || h->req_flags & HTTP1_REQ_HEAD) {
		th3_consumed(s->c, s->sid, len); /* no body to carry: dropped */
		return 0;
	}
	if (thq_put_body(&h->out, h->resp_chunked, data, len))
		return -ENOMEM;
	loop_pending_add(h->t->loop, &h->run);
	return 0;
}

void thcli_end_stream(struct tstream *s)
{
	struct thcli *h = s->http;
	if (h->resp != HR_BODY)
		return;
	if (h->resp_chunked && thq_put(&h->out, HTTP1_CHUNK_LAST, sizeof(HTTP1_CHUNK_LAST) - 1))
		h->closing = true; /* cannot end the body: the close ends it */
	h->resp = HR_DONE;
	loop_pending_add(h->t->loop, &h->run);
}

void thcli_room(struct tstream *s)
{
	struct thcli *h = s->http;
	if (h->req == HQ_BODY)
		loop_pending_add(h->t->loop, &h->run);
}

void thcli_stream_gone(struct tstream *s, int why)
{
	struct thcli *h = s->http;
	thq_release(&h->out, s->c, s->sid);
	h->s = NULL;
	h->gone = why;
	if (why != TSG_CLEAN && h->resp == HR_DONE && h->req != HQ_DONE)
		h->closing = true; /* the rest of the request body has nowhere to go */
	loop_pending_add(h->t->loop, &h->run);
}

/* ---- accepting ----------------------------------------------------------- */

static void hc_new(struct tlsn *tl, int fd, const struct sockaddr_storage *peer)
{
	struct tunnel *t = tl->t;
	struct thcli *h = calloc(1, sizeof(*h));
	size_t cap = (size_t)tl->lc->header_limit + 1;
	if (cap < HC_IN_MIN)
		cap = HC_IN_MIN;
	if (!h || !(h->in = malloc(cap))) {
		free(h);
		close(fd);
		return;
	}
	h->t = t;
	h->lc = conf_listener_ref(tl->lc);
	h->ctr = &tl->ctr;
	ctr_add(&h->ctr->total, 1);
	ctr_add(&h->ctr->active, 1);
	h->io = (struct loop_io){.fd = fd, .fn = hc_io_cb};
	h->timer.fn = hc_timer_cb;
	h->run.fn = hc_run_cb;
	h->peer = *peer;
	h->in_cap = cap;
	http1_msg_init(&h->m);
	h->next = t->hclis;
	if (t->hclis)
		t->hclis->prev = h;
	t->hclis = h;
	if (loop_add(t->loop, &h->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		hc_free(h, true);
		return;
	}
	loop_timer_set(t->loop, &h->timer, (uint64_t)conf_idle_ms(h->lc));
	hc_run(h);
}

void thcli_accept_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tlsn *tl = container_of(io, struct tlsn, io);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd =
		    accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("listener %s: accept: %s", tl->lc->name, strerror(errno));
			return;
		}
		hc_new(tl, fd, &peer);
	}
}

void thcli_free_all(struct tunnel *t)
{
	while (t->hclis)
		hc_free(t->hclis, true);
}
