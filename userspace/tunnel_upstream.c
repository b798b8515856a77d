/*
 * The tunnel server's side of mode = "http": a request stream that is not a
 * plain CONNECT (TS_HTTP_SERVER) is sent as HTTP/1.1 to upstreams.http and
 * the response is streamed back as HTTP/3.
 *
 * Connections to the upstream form a keep-alive pool: a request takes an
 * idle one (checked for a FIN that arrived meanwhile) or opens a new one;
 * a connection carries one request at a time and goes back to the pool only
 * when both messages ended by their framing and the upstream kept it alive.
 * Idle ones are capped at upstreams.pool_idle and dropped when the upstream
 * closes them.
 *
 * Failures before the response head are answered by the tunnel: 502 (no
 * upstream configured, connection refused or reset, malformed response),
 * 504 (no response head within upstreams.response_timeout_ms of the
 * request's last byte, or no
 * connection within upstreams.connect_timeout_ms); after the head, the
 * stream is reset. Flow control as on the CONNECT streams: request body
 * bytes are credited once written to the upstream socket, response body
 * bytes wait in the stream's ring until QUIC acks them.
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

#define UP_IN_CAP (64u << 10) /* bytes read from the upstream ahead of the ring */

/* A TCP connection to upstreams.http. */
struct tup {
	struct loop_io io;
	struct tunnel *t;
	struct tup_req *r; /* the request it carries; NULL while idle */
	bool connected, reused;
	struct tup *next; /* in t->pool while idle */
};

enum up_phase { UP_CONNECT, UP_WAIT, UP_BODY, UP_DONE };

/* One request stream on its way to the upstream. */
struct tup_req {
	struct tunnel *t;
	struct tstream *s; /* NULL once the stream is gone */
	struct tup *u;     /* NULL before it has one and after it let go */
	struct loop_timer timer;
	struct loop_pending run;
	int phase;            /* enum up_phase */
	struct thq out;       /* request head and body for the upstream */
	bool chunked_up;      /* the request body is sent chunked */
	bool req_done;        /* the request stream ended (its body is all in out) */
	bool websocket, shut; /* shut: our FIN went to a WebSocket upstream */
	unsigned req_flags;   /* HTTP1_REQ_HEAD */
	char *in;             /* response bytes read and not yet in the ring */
	size_t in_len;
	bool in_eof;
	struct http1_msg m;
	struct thbody body;
	bool keep;      /* the upstream may carry another request after this one */
	bool responded; /* a response head went to the stream */
	bool waiting;   /* the request is written: the head's deadline runs */
	bool freed;
};

static void up_io_cb(struct loop *l, struct loop_io *io, uint32_t events);
static void up_run(struct tup_req *r);

/* ---- the pool ------------------------------------------------------------ */

static void up_conn_free_mem(void *arg)
{
	free(arg);
}

static void up_conn_close(struct tup *u, bool rst)
{
	struct tunnel *t = u->t;
	if (rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(u->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del(t->loop, &u->io);
	close(u->io.fd);
	if (loop_defer(t->loop, up_conn_free_mem, u))
		log_err("tunnel: out of memory: an upstream connection leaks");
}

static void pool_remove(struct tup *u)
{
	for (struct tup **pp = &u->t->pool; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			u->t->npool--;
			return;
		}
}

/* r is done with its connection: keep it for the next request or close it. */
static void up_release(struct tup_req *r, bool keep)
{
	struct tup *u = r->u;
	if (!u)
		return;
	r->u = NULL;
	u->r = NULL;
	struct tunnel *t = r->t;
	if (!keep || !u->connected || t->npool >= t->conf->upstreams.pool_idle) {
		up_conn_close(u, !keep);
		return;
	}
	u->reused = true;
	u->next = t->pool;
	t->pool = u;
	t->npool++;
}

/* Whether an idle connection still looks usable: no FIN, no stray bytes. */
static bool up_alive(struct tup *u)
{
	char c;
	ssize_t n = recv(u->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && errno == EAGAIN;
}

/* Take an idle connection or start a new one. Return 0 or -errno. */
static int up_take(struct tup_req *r)
{
	struct tunnel *t = r->t;
	while (t->pool) {
		struct tup *u = t->pool;
		t->pool = u->next;
		t->npool--;
		if (!up_alive(u)) {
			up_conn_close(u, false);
			continue;
		}
		u->r = r;
		r->u = u;
		return 0;
	}
	const struct addr *a = &t->conf->upstreams.http.a;
	struct tup *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->t = t;
	u->io.fd = socket(addr_family(a), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->io.fd < 0) {
		int err = -errno;
		free(u);
		return err;
	}
	u->io.fn = up_io_cb;
	if (connect(u->io.fd, &a->u.sa, a->len) && errno != EINPROGRESS) {
		int err = -errno;
		close(u->io.fd);
		free(u);
		return err;
	}
	int err = loop_add(t->loop, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	if (err) {
		close(u->io.fd);
		free(u);
		return err;
	}
	u->r = r;
	r->u = u;
	return 0;
}

void tup_pool_free(struct tunnel *t)
{
	while (t->pool) {
		struct tup *u = t->pool;
		t->pool = u->next;
		up_conn_close(u, false);
	}
	t->npool = 0;
}

/* ---- answers of our own --------------------------------------------------- */

static void up_free_mem(void *arg)
{
	struct tup_req *r = arg;
	thq_free(&r->out);
	free(r->in);
	free(r);
}

static void up_free(struct tup_req *r)
{
	if (r->freed)
		return;
	r->freed = true;
	up_release(r, false);
	loop_timer_cancel(r->t->loop, &r->timer);
	loop_pending_cancel(r->t->loop, &r->run);
	if (r->s) {
		r->s->http = NULL;
		r->s = NULL;
	}
	if (loop_defer(r->t->loop, up_free_mem, r))
		log_err("tunnel: out of memory: an http request's buffers leak");
}

/* Answer the request ourselves: status with a short text body naming why.
 * After a response head went out, the stream can only be reset. */
static void up_fail(struct tup_req *r, unsigned status, const char *why)
{
	struct tstream *s = r->s;
	up_release(r, false);
	loop_timer_cancel(r->t->loop, &r->timer);
	r->phase = UP_DONE;
	if (!s)
		return;
	if (r->responded) {
		log_info("tunnel: http stream %lld: %s", (long long)s->sid, why);
		tstream_reset(s);
		return;
	}
	r->responded = true;
	log_info("tunnel: http stream %lld: answered %u: %s", (long long)s->sid, status, why);
	r->t->st.streams_refused++;
	char body[300], st[8], len[24];
	int n = snprintf(body, sizeof(body), "kfwd tunnel: %s\n", why);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(strcpy(body, "kfwd tunnel: error\n"));
	snprintf(st, sizeof(st), "%u", status);
	snprintf(len, sizeof(len), "%d", n);
#define NV(a, b) {(uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), NGHTTP3_NV_FLAG_NONE}
	nghttp3_nv nv[] = {NV(":status", st), NV("content-type", "text/plain"),
	                   NV("content-length", len)};
#undef NV
	tstream_up_put(s, body, (size_t)n);
	tstream_up_end(s);
	nghttp3_data_reader dr = {.read_data = tstream_read_data};
	if (!s->c || nghttp3_conn_submit_response(s->c->h3, s->sid, nv, 3, &dr))
		tstream_reset(s);
	else
		tun_kick(s->c);
}

/* ---- the exchange --------------------------------------------------------- */

static void up_timer_cb(struct loop *l, struct loop_timer *tm)
{
	struct tup_req *r = container_of(tm, struct tup_req, timer);
	if (r->phase == UP_CONNECT)
		up_fail(r, 504, "no connection to upstreams.http in time");
	else if (r->phase == UP_WAIT)
		up_fail(r, 504, "upstreams.http sent no response head in time");
}

/* The connection is up: send, then wait for the head. */
static void up_connected(struct tup_req *r)
{
	r->phase = UP_WAIT;
	loop_timer_cancel(r->t->loop, &r->timer);
}

/* The head's deadline runs from the moment the whole request was written:
 * an upstream may read a long upload before it answers. */
static void up_sent(struct tup_req *r)
{
	if (r->phase != UP_WAIT || r->waiting || !r->req_done || r->out.len)
		return;
	r->waiting = true;
	loop_timer_set(r->t->loop, &r->timer, (uint64_t)r->t->conf->upstreams.response_timeout_ms);
}

/* The response head in r->m: pass it on as HTTP/3. */
static int up_respond(struct tup_req *r)
{
	struct tstream *s = r->s;
	bool ws = r->websocket && r->m.status == 101;
	if (r->m.status == 101 && !ws) {
		up_fail(r, 502, "upstreams.http switched protocols without being asked");
		return -EPROTO;
	}
	struct http_nvlist nvl = {0};
	if (http_xlate_resp_1to3(&r->m, ws, NULL, &nvl)) {
		up_fail(r, 502, "upstreams.http sent a response that cannot be carried");
		return -EPROTO;
	}
	int mode = ws                                   ? THB_EOF
	           : r->m.framing == HTTP1_BODY_CHUNKED ? THB_CHUNKED
	           : r->m.framing == HTTP1_BODY_LENGTH  ? THB_LENGTH
	           : r->m.framing == HTTP1_BODY_CLOSE   ? THB_EOF
	                                                : THB_NONE;
	thbody_init(&r->body, mode, r->m.content_length);
	nghttp3_data_reader dr = {.read_data = tstream_read_data};
	int rv = nghttp3_conn_submit_response(s->c->h3, s->sid, nvl.nv, nvl.n,
	                                      r->body.done ? NULL : &dr);
	http_nvlist_free(&nvl);
	if (rv) {
		up_fail(r, 502, "cannot send the response head");
		return -EPROTO;
	}
	tun_kick(s->c);
	r->responded = true;
	r->keep = (r->m.flags & HTTP1_F_KEEP_ALIVE) && mode != THB_EOF;
	loop_timer_cancel(r->t->loop, &r->timer);
	r->phase = UP_BODY;
	memmove(r->in, r->in + r->m.head_len, r->in_len - r->m.head_len);
	r->in_len -= r->m.head_len;
	return 0;
}

/* Parse what arrived of the head. Return true when the body may follow. */
static bool up_head(struct tup_req *r)
{
	for (;;) {
		int rc = http1_parse_response(r->in, r->in_len, NULL, r->req_flags, &r->m);
		if (rc == -EAGAIN) {
			if (r->in_eof)
				up_fail(
				    r, 502,
				    r->u && r->u->reused
				        ? "upstreams.http closed a kept-alive connection before "
				          "responding"
				        : "upstreams.http closed the connection before responding");
			else if (r->in_len == UP_IN_CAP)
				up_fail(r, 502, "upstreams.http sent a response head too large");
			return false;
		}
		if (rc) {
			up_fail(r, 502, r->m.err_reason);
			return false;
		}
		log_debug("tunnel: http stream %lld: upstream answered %u", (long long)r->s->sid,
		          r->m.status);
		if (!(r->m.flags & HTTP1_F_INFORMATIONAL))
			return !up_respond(r);
		/* 100 Continue and the like: the client side answered those itself. */
		memmove(r->in, r->in + r->m.head_len, r->in_len - r->m.head_len);
		r->in_len -= r->m.head_len;
		http1_msg_init(&r->m);
	}
}

/* Response body bytes into the ring; done: the connection is let go. */
static void up_body(struct tup_req *r)
{
	size_t used;
	if (thbody_pump(&r->body, r->in, r->in_len, &used, r->s)) {
		up_fail(r, 502, "upstreams.http sent a malformed chunked body");
		return;
	}
	memmove(r->in, r->in + used, r->in_len - used);
	r->in_len -= used;
	if (!r->body.done && r->in_eof && !r->in_len) {
		if (r->body.mode != THB_EOF) {
			up_fail(r, 502, "upstreams.http closed the connection in the body");
			return;
		}
		r->body.done = true;
		tstream_up_end(r->s);
	}
	if (!r->body.done)
		return;
	r->phase = UP_DONE;
	/* Reusable only if both messages ended by their framing, nothing extra came. */
	up_release(r, r->keep && r->req_done && !r->out.len && !r->in_len);
}

static int up_read(struct tup_req *r)
{
	while (!r->in_eof && r->in_len < UP_IN_CAP) {
		ssize_t n = read(r->u->io.fd, r->in + r->in_len, UP_IN_CAP - r->in_len);
		if (n > 0) {
			r->in_len += (size_t)n;
			r->t->st.stream_bytes_up += (uint64_t)n;
		} else if (n == 0) {
			r->in_eof = true;
		} else if (errno == EAGAIN) {
			return 0;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static void up_run(struct tup_req *r)
{
	if (r->freed)
		return;
	if (!r->s) {
		up_free(r);
		return;
	}
	struct tup *u = r->u;
	if (!u || r->phase == UP_CONNECT || r->phase == UP_DONE)
		return;
	int err = thq_flush(&r->out, u->io.fd, r->s, NULL);
	if (!err && r->websocket && r->req_done && !r->out.len && !r->shut) {
		shutdown(u->io.fd, SHUT_WR);
		r->shut = true;
	}
	if (!err) {
		up_sent(r);
		err = up_read(r);
	}
	if (err) {
		up_fail(r, 502,
		        err == -ECONNRESET ? "upstreams.http reset the connection"
		                           : strerror(-err));
		return;
	}
	if (r->phase == UP_WAIT && !up_head(r))
		return;
	if (r->phase == UP_BODY && !r->freed)
		up_body(r);
	/* Room left in the input buffer after the ring filled: read on when acked. */
}

static void up_run_cb(struct loop *l, struct loop_pending *p)
{
	up_run(container_of(p, struct tup_req, run));
}

static void up_io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tup *u = container_of(io, struct tup, io);
	struct tup_req *r = u->r;
	if (!r) { /* idle: a FIN, a reset or bytes nobody asked for end it */
		if (!up_alive(u)) {
			pool_remove(u);
			up_conn_close(u, false);
		}
		return;
	}
	if (!u->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			char why[160];
			snprintf(why, sizeof(why), "cannot connect to upstreams.http %s: %s",
			         r->t->conf->upstreams.http.text, strerror(err ? err : errno));
			up_fail(r, 502, why);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		u->connected = true;
		up_connected(r);
	}
	up_run(r);
}

/* ---- events of the request stream ---------------------------------------- */

int tup_begin(struct tstream *s, bool fin)
{
	struct tunnel *t = s->t;
	struct tup_req *r = calloc(1, sizeof(*r));
	if (!r || !(r->in = malloc(UP_IN_CAP))) {
		free(r);
		tstream_reset(s);
		return 0;
	}
	r->t = t;
	r->s = s;
	r->timer.fn = up_timer_cb;
	r->run.fn = up_run_cb;
	s->http = r;
	s->phase = TP_RELAY;
	http1_msg_init(&r->m);
	r->req_done = fin;
	r->req_flags = !strcmp(s->method, "HEAD") ? HTTP1_REQ_HEAD : 0;
	if (!t->conf->upstreams.http.text) {
		up_fail(r, 502, "no upstreams.http is configured");
		return 0;
	}
	const nghttp3_nv *nv = th3_head_nv(&s->hd);
	if (!nv || s->hd.too_big) {
		up_fail(r, 431, "request head too large");
		return 0;
	}
	struct buf b;
	struct http_xlate_res res;
	buf_init(&b);
	int rc = http_xlate_req_3to1(nv, s->hd.n, !fin, &b, &res);
	if (!rc && (b.oom || thq_put(&r->out, b.data, b.len)))
		rc = -ENOMEM;
	buf_free(&b);
	th3_head_clear(&s->hd);
	if (rc) {
		up_fail(r, rc == -EPROTO ? res.err_status : 500,
		        rc == -EPROTO ? res.err_reason : "out of memory");
		return 0;
	}
	log_debug("tunnel: http stream %lld: %.*s", (long long)s->sid,
	          (int)(strchr((char *)r->out.p, '\r') - (char *)r->out.p), (char *)r->out.p);
	r->chunked_up = res.framing == HTTP1_BODY_CHUNKED;
	r->websocket = res.flags & HTTP1_F_WEBSOCKET;
	int err = up_take(r);
	if (err) {
		char why[160];
		snprintf(why, sizeof(why), "cannot connect to upstreams.http %s: %s",
		         t->conf->upstreams.http.text, strerror(-err));
		up_fail(r, 502, why);
		return 0;
	}
	if (r->u->connected) {
		up_connected(r);
		up_run(r);
	} else {
		loop_timer_set(t->loop, &r->timer, (uint64_t)t->conf->upstreams.connect_timeout_ms);
	}
	return 0;
}

int tup_recv_data(struct tstream *s, const uint8_t *data, size_t len)
{
	struct tup_req *r = s->http;
	if (r->phase == UP_DONE || !r->u) {
		th3_consumed(s->c, s->sid, len); /* nobody takes it any more: dropped */
		return 0;
	}
	if (thq_put_body(&r->out, r->chunked_up, data, len)) {
		up_fail(r, 502, "out of memory");
		return 0;
	}
	loop_pending_add(r->t->loop, &r->run);
	return 0;
}

void tup_end_stream(struct tstream *s)
{
	struct tup_req *r = s->http;
	r->req_done = true;
	if (r->chunked_up && r->u &&
	    thq_put(&r->out, HTTP1_CHUNK_LAST, sizeof(HTTP1_CHUNK_LAST) - 1))
		up_fail(r, 502, "out of memory");
	loop_pending_add(r->t->loop, &r->run);
}

void tup_room(struct tstream *s)
{
	struct tup_req *r = s->http;
	if (r->phase == UP_BODY)
		loop_pending_add(r->t->loop, &r->run);
}

void tup_stream_gone(struct tstream *s, int why)
{
	struct tup_req *r = s->http;
	thq_release(&r->out, s->c, s->sid);
	r->s = NULL;
	(void)why; /* a connection still held did not finish its exchange: closed */
	up_free(r);
}
