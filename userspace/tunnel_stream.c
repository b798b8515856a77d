/*
 * TCP <-> HTTP/3 CONNECT relay, both sides. Client: a TCP connection on a
 * via-tunnel listener (forward: to listener.target; connect: to the
 * authority of the HTTP/1.1 CONNECT it sends first) becomes a CONNECT
 * stream. Server: a CONNECT stream is checked against upstreams.allow,
 * dialled, answered, then relayed.
 *
 * Flow control end to end: TCP bytes sit in a fixed ring until QUIC acks
 * them (reading stops when it is full); QUIC bytes are credited back to the
 * peer only once written to the TCP socket, so what waits for a slow TCP
 * reader is bounded by the stream window. FIN maps to FIN, RST to reset.
 *
 * An HTTP request stream (mode http) is the same object without a TCP
 * socket of its own: kind TS_HTTP (client, tunnel_http.c) or TS_HTTP_SERVER
 * (server, tunnel_upstream.c). Its owner fills the up ring (the request or
 * response body, decoded from HTTP/1.1), and the events of the QUIC stream
 * (head, data, end, room in the ring, close) are handed to the owner.
 */
#include "log.h"
#include "tunnel_int.h"
#include "dns.h"
#include "happy.h"
#include "http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void ts_io_cb(struct loop *l, struct loop_io *io, uint32_t events);
static void ts_flush_cb(struct loop *l, struct loop_pending *p);

/* ---- lifetime ----------------------------------------------------------- */

void tstream_link(struct tstream *s, struct tconn *c)
{
	s->c = c;
	s->next = c->streams;
	s->prev = NULL;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nstreams++;
}

static void ts_unlink(struct tstream *s)
{
	struct tconn *c = s->c;
	if (!c)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->nstreams--;
	/* Bytes still waiting for the TCP socket are written after this; their
	 * connection credit must not go with the stream. */
	thq_release(&s->down, c, s->sid);
	s->c = NULL;
	if (c->h3 && s->sid >= 0)
		nghttp3_conn_set_stream_user_data(c->h3, s->sid, NULL);
	if (s->sid >= 0)
		ngtcp2_conn_set_stream_user_data(c->conn, s->sid, NULL);
}

static void ts_close_tcp(struct tstream *s, bool rst)
{
	if (s->io.fd < 0)
		return;
	if (rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del(s->t->loop, &s->io);
	close(s->io.fd);
	s->io.fd = -1;
}

static void ts_free_mem(void *arg)
{
	struct tstream *s = arg;
	free(s->up);
	thq_free(&s->down);
	free(s->head);
	th3_head_clear(&s->hd);
	free(s);
}

/* Tell an HTTP stream's owner that s goes away (once). */
static void ts_owner_gone(struct tstream *s, int why)
{
	if (!s->http)
		return;
	if (s->kind == TS_HTTP)
		thcli_stream_gone(s, why);
	else if (s->kind == TS_HTTP_SERVER)
		tup_stream_gone(s, why);
	s->http = NULL;
}

/* Drop everything; the memory goes after the batch (events may still name it). */
void tstream_free(struct tstream *s, bool rst)
{
	if (s->freed)
		return;
	s->freed = true;
	struct tunnel *t = s->t;
	ts_owner_gone(s, rst ? TSG_RESET : TSG_CLEAN);
	ts_close_tcp(s, rst);
	loop_timer_cancel(t->loop, &s->timer);
	loop_pending_cancel(t->loop, &s->flush);
	dns_cancel(s->q);
	happy_cancel(s->h);
	ts_unlink(s);
	if (s->ctr)
		ctr_add(&s->ctr->active, (uint64_t)-1);
	if (s->lc)
		conf_listener_unref(s->lc);
	if (loop_defer(t->loop, ts_free_mem, s))
		log_err("tunnel: out of memory: a stream's buffers leak");
	tun_stream_gone(t);
}

struct tstream *tstream_new(struct tunnel *t, int kind)
{
	struct tstream *s = calloc(1, sizeof(*s));
	if (!s || !(s->up = malloc(TS_UP_START))) {
		free(s);
		return NULL;
	}
	s->t = t;
	s->upcap = TS_UP_START; /* t->up_cap is at least this (stream_buffer's minimum) */
	s->kind = kind;
	s->sid = -1;
	s->io.fd = -1;
	s->io.fn = ts_io_cb;
	s->flush.fn = ts_flush_cb;
	return s;
}

/* Reset the QUIC stream both ways (the TCP side failed or was reset). */
void tstream_reset(struct tstream *s)
{
	struct tconn *c = s->c;
	if (!c || s->sid < 0)
		return;
	nghttp3_conn_shutdown_stream_write(c->h3, s->sid);
	ngtcp2_conn_shutdown_stream(c->conn, 0, s->sid, NGHTTP3_H3_CONNECT_ERROR);
	tun_kick(c);
}

/* Count a client stream's failure on its listener. */
static void ts_count(struct tstream *s, int err)
{
	if (s->ctr)
		ctr_add(&s->ctr->err[err], 1);
}

/* Write out[0..n) to a connect-mode client's socket (a fresh one: the few
 * bytes fit its send buffer). */
static void ts_write_reply(struct tstream *s, const char *out, size_t n)
{
	ssize_t w = s->io.fd >= 0 ? write(s->io.fd, out, n) : -1;
	if (w > 0 && s->ctr)
		ctr_add(&s->ctr->bytes_out, (uint64_t)w);
	if (w != (ssize_t)n)
		log_debug("tunnel: stream: reply not fully written");
}

/* Refuse a connect-mode client: status with a short body naming why (NULL:
 * the reason phrase) and extra header lines ("Name: value", may be NULL);
 * the caller closes. */
static void ts_refuse(struct tstream *s, unsigned status, const char *why, const char *extra)
{
	char out[1024];
	size_t n;
	ts_count(s, stats_status_err(status));
	if (http1_error_response(out, sizeof(out), status, why, extra, &n) &&
	    http1_error_response(out, sizeof(out), status, NULL, NULL, &n))
		return;
	ts_write_reply(s, out, n);
}

/* A refusal carrying a Proxy-Status (the peer's, or our own). */
static void ts_refuse_status(struct tstream *s, unsigned status, const char *proxy_status)
{
	char extra[sizeof(s->proxy_status) + 64];
	if (proxy_status)
		snprintf(extra, sizeof(extra), "Proxy-Status: %s", proxy_status);
	ts_refuse(s, status, NULL, proxy_status ? extra : NULL);
}

/* 503 while the tunnel cannot carry the request. */
static void ts_refuse_503(struct tstream *s, const char *details)
{
	char ps[160];
	snprintf(ps, sizeof(ps), "kfwd; error=destination_unavailable; details=\"%s\"", details);
	ts_refuse_status(s, 503, ps);
}

/* ---- TCP -> QUIC -------------------------------------------------------- */

nghttp3_ssize tstream_read_data(nghttp3_conn *h3, int64_t sid, nghttp3_vec *vec, size_t veccnt,
                                uint32_t *pflags, void *ud, void *sud)
{
	struct tstream *s = sud;
	if (!s)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	uint64_t avail = s->up_tail - s->up_sent;
	if (!avail) {
		if (s->tcp_eof) {
			*pflags |= NGHTTP3_DATA_FLAG_EOF;
			s->fin_given = true;
			return 0;
		}
		s->blocked = true;
		return NGHTTP3_ERR_WOULDBLOCK;
	}
	size_t pos = (size_t)(s->up_sent & (s->upcap - 1));
	size_t first = s->upcap - pos < avail ? s->upcap - pos : (size_t)avail;
	size_t n = 0;
	vec[n++] = (nghttp3_vec){.base = s->up + pos, .len = first};
	if (first < avail && veccnt > 1)
		vec[n++] = (nghttp3_vec){.base = s->up, .len = (size_t)avail - first};
	for (size_t i = 0; i < n; i++)
		s->up_sent += vec[i].len;
	if (s->tcp_eof && s->up_sent == s->up_tail) {
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		s->fin_given = true;
	}
	return (nghttp3_ssize)n;
}

/* Tell nghttp3 there is data (or EOF) again. */
static void ts_resume(struct tstream *s)
{
	if (s->blocked && s->c && s->sid >= 0) {
		s->blocked = false;
		nghttp3_conn_resume_stream(s->c->h3, s->sid);
		tun_kick(s->c);
	}
}

size_t tstream_up_room(const struct tstream *s)
{
	return s->upcap - (size_t)(s->up_tail - s->up_head);
}

void tstream_up_put(struct tstream *s, const void *data, size_t n)
{
	const uint8_t *d = data;
	while (n) {
		size_t pos = (size_t)(s->up_tail & (s->upcap - 1));
		size_t k = s->upcap - pos < n ? s->upcap - pos : n;
		memcpy(s->up + pos, d, k);
		s->up_tail += k;
		d += k;
		n -= k;
	}
	ts_resume(s);
}

void tstream_up_end(struct tstream *s)
{
	s->tcp_eof = true;
	ts_resume(s);
}

/* Read the TCP socket into the ring until EAGAIN, EOF or a full ring. A full
 * ring is read again once a quarter of it is free (tstream_acked): acks free
 * a few KiB at a time, and a read per ack would cost a syscall each. */
static int ts_read_up(struct tstream *s)
{
	while (!s->tcp_eof && s->io.fd >= 0 && !s->up_stalled) {
		uint64_t used = s->up_tail - s->up_head;
		if (used == s->upcap) {
			/* A ring the tunnel fills and empties is too small for the
			 * path: double it once it is empty (no byte of it is then
			 * referenced by ngtcp2 or nghttp3). */
			s->grow = s->upcap < s->t->up_cap;
			s->up_stalled = true;
			return 0;
		}
		size_t pos = (size_t)(s->up_tail & (s->upcap - 1));
		size_t freeb = s->upcap - (size_t)used;
		struct iovec iov[2] = {
		    {s->up + pos, s->upcap - pos < freeb ? s->upcap - pos : freeb}, {s->up, 0}};
		iov[1].iov_len = freeb - iov[0].iov_len;
		ssize_t n = readv(s->io.fd, iov, iov[1].iov_len ? 2 : 1);
		if (n > 0) {
			s->up_tail += (uint64_t)n;
			s->t->st.stream_bytes_up += (uint64_t)n;
			if (s->ctr)
				ctr_add(&s->ctr->bytes_in, (uint64_t)n);
			ts_resume(s);
			continue;
		}
		if (n == 0) {
			s->tcp_eof = true;
			ts_resume(s);
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	return 0;
}

/* The ring is empty and was found too small: double it. */
static void ts_grow(struct tstream *s)
{
	uint8_t *p = malloc(s->upcap * 2);
	if (p) {
		free(s->up);
		s->up = p;
		s->upcap *= 2;
		log_debug("tunnel: stream %lld: send buffer now %zu KiB", (long long)s->sid,
		          s->upcap >> 10);
	}
	s->grow = false;
}

void tstream_acked(struct tstream *s, uint64_t n)
{
	s->up_head += n;
	if (s->kind == TS_HTTP && s->http)
		thcli_room(s);
	else if (s->kind == TS_HTTP_SERVER && s->http)
		tup_room(s);
	if (!s->up_stalled)
		return;
	if (s->grow) {
		if (s->up_head != s->up_tail)
			return; /* reading waits until the ring is empty */
		ts_grow(s);
	} else if (tstream_up_room(s) < s->upcap / 4) {
		return;
	}
	s->up_stalled = false;
	if (s->phase == TP_RELAY && ts_read_up(s))
		tstream_reset(s);
}

/* ---- QUIC -> TCP -------------------------------------------------------- */

/* Write what waits for the TCP socket; credit QUIC for what went. */
static int ts_flush_down(struct tstream *s)
{
	if (s->io.fd >= 0) {
		int err = thq_flush(&s->down, s->io.fd, s, s->ctr);
		if (err)
			return err;
	}
	if (!s->down.len && s->peer_fin && !s->tcp_shut && s->io.fd >= 0) {
		shutdown(s->io.fd, SHUT_WR);
		s->tcp_shut = true;
	}
	/* Detached (the QUIC stream closed first): done once everything is out. */
	if (!s->c && !s->down.len && s->tcp_shut)
		tstream_free(s, false);
	return 0;
}

int tstream_recv_data(struct tstream *s, const uint8_t *data, size_t len)
{
	if (s->kind == TS_HTTP || s->kind == TS_HTTP_SERVER) {
		if (!s->http) {
			th3_consumed(s->c, s->sid, len); /* its owner is gone: discard */
			return 0;
		}
		return s->kind == TS_HTTP ? thcli_recv_data(s, data, len)
		                          : tup_recv_data(s, data, len);
	}
	/* While the target is resolved and dialled (server), bytes wait in down,
	 * bounded by the stream window: credit comes back once they are written. */
	if (s->io.fd < 0 && !s->q && !s->h) {
		th3_consumed(s->c, s->sid, len); /* TCP side gone: discard, keep credit flowing */
		return 0;
	}
	if (thq_put_body(&s->down, false, data, len))
		return -ENOMEM;
	if (s->phase == TP_RELAY)
		loop_pending_add(s->t->loop, &s->flush);
	return 0;
}

/* The bytes of every packet this loop turn read, in one write. */
static void ts_flush_cb(struct loop *l, struct loop_pending *p)
{
	struct tstream *s = container_of(p, struct tstream, flush);
	if (!s->freed && s->phase == TP_RELAY && ts_flush_down(s)) {
		ts_close_tcp(s, true);
		tstream_reset(s);
	}
}

void tstream_end_stream(struct tstream *s)
{
	s->peer_fin = true;
	if (s->kind == TS_HTTP && s->http)
		thcli_end_stream(s);
	else if (s->kind == TS_HTTP_SERVER && s->http)
		tup_end_stream(s);
	if (s->phase == TP_RELAY)
		ts_flush_down(s);
}

void tstream_peer_reset(struct tstream *s, uint64_t code)
{
	/* The peer's TCP side was reset (or it gave up): reset ours, both ways. */
	log_debug("tunnel: stream %lld reset by the peer (0x%llx)", (long long)s->sid,
	          (unsigned long long)code);
	if (s->phase == TP_RELAY) /* not a refusal, already counted by its status */
		ts_count(s, ERR_BACKEND_RESET);
	ts_close_tcp(s, true);
	if (s->c && s->sid >= 0) {
		ngtcp2_conn_shutdown_stream(s->c->conn, 0, s->sid, NGHTTP3_H3_CONNECT_ERROR);
		tun_kick(s->c);
	}
}

void tstream_closed(struct tstream *s, uint64_t code)
{
	bool clean = code == NGHTTP3_H3_NO_ERROR;
	ts_owner_gone(s, clean ? TSG_CLEAN : TSG_RESET);
	ts_unlink(s);
	if (clean && s->io.fd >= 0 && (s->down.len || !s->tcp_shut) && s->phase == TP_RELAY) {
		ts_flush_down(s); /* finishes (and frees) once the bytes are out */
		return;
	}
	tstream_free(s, !clean);
}

void tstream_cut_all(struct tconn *c)
{
	while (c->streams) {
		struct tstream *s = c->streams;
		if (s->kind == TS_CONNECT && s->phase == TP_WAIT)
			ts_refuse_503(s, "tunnel down");
		ts_owner_gone(s, TSG_DOWN);
		tstream_free(s, s->kind != TS_CONNECT || s->phase != TP_WAIT);
	}
}

/* ---- the TCP socket's events -------------------------------------------- */

static void ts_resolved(void *arg, int err, const struct dns_addrs *addrs);
static void ts_dialled(void *arg, int fd, int err, const struct sockaddr_storage *peer);
static void ts_client_request(struct tstream *s);
static void ts_respond_error(struct tstream *s, int status, const char *proxy_status);

static void ts_io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tstream *s = container_of(io, struct tstream, io);
	if (s->phase == TP_REQUEST) {
		ts_client_request(s);
		return;
	}
	if (s->phase == TP_RELAY && ts_flush_down(s) < 0)
		goto reset;
	if (s->freed || s->io.fd < 0)
		return;
	if (ts_read_up(s) < 0)
		goto reset;
	return;
reset:
	log_debug("tunnel: stream %lld: TCP side reset", (long long)s->sid);
	ts_count(s, ERR_CLIENT_RESET);
	ts_close_tcp(s, true);
	tstream_reset(s);
	if (!s->c)
		tstream_free(s, true);
}

static void ts_timer_cb(struct loop *l, struct loop_timer *tm)
{
	struct tstream *s = container_of(tm, struct tstream, timer);
	if (s->phase == TP_REQUEST) {
		ts_refuse(s, 408, "request head not complete in time", NULL);
		tstream_free(s, false);
	}
}

/* ---- headers ------------------------------------------------------------ */

static void copy_field(char *dst, size_t n, const uint8_t *v, size_t vl)
{
	if (vl >= n)
		vl = n - 1;
	memcpy(dst, v, vl);
	dst[vl] = 0;
}

void tstream_header(struct tstream *s, const uint8_t *name, size_t nl, const uint8_t *val,
                    size_t vl)
{
#define IS(lit) (nl == sizeof(lit) - 1 && !memcmp(name, lit, nl))
	if (s->kind == TS_SERVER || s->kind == TS_HTTP)
		th3_head_add(&s->hd, name, nl, val, vl);
	if (s->kind == TS_HTTP || s->kind == TS_HTTP_SERVER)
		return;
	if (s->kind == TS_SERVER) {
		if (IS(":method"))
			copy_field(s->method, sizeof(s->method), val, vl);
		else if (IS(":authority"))
			copy_field(s->authority, sizeof(s->authority), val, vl);
		else if (IS(":scheme") || IS(":path") || IS(":protocol"))
			s->bad_header = true; /* plain CONNECT has neither (RFC 9114 4.4) */
		return;
	}
	if (IS(":status")) {
		char v[8];
		copy_field(v, sizeof(v), val, vl);
		s->status = atoi(v);
	} else if (IS("proxy-status")) {
		copy_field(s->proxy_status, sizeof(s->proxy_status), val, vl);
	}
#undef IS
}

/* ---- server side -------------------------------------------------------- */

int tstream_server_begin(struct tconn *c, int64_t sid)
{
	struct tstream *s = tstream_new(c->t, TS_SERVER);
	if (!s)
		return -ENOMEM;
	s->sid = sid;
	s->phase = TP_WAIT;
	s->timer.fn = ts_timer_cb;
	tstream_link(s, c);
	nghttp3_conn_set_stream_user_data(c->h3, sid, s);
	ngtcp2_conn_set_stream_user_data(c->conn, sid, s);
	c->t->st.streams_total++;
	return 0;
}

static int ts_respond(struct tstream *s, const char *status, const char *proxy_status, bool body)
{
	nghttp3_nv nv[2] = {
	    {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP3_NV_FLAG_NONE},
	    {(uint8_t *)"proxy-status", (uint8_t *)proxy_status, 12,
	     proxy_status ? strlen(proxy_status) : 0, NGHTTP3_NV_FLAG_NONE},
	};
	nghttp3_data_reader dr = {.read_data = tstream_read_data};
	int rv = nghttp3_conn_submit_response(s->c->h3, s->sid, nv, proxy_status ? 2 : 1,
	                                      body ? &dr : NULL);
	tun_kick(s->c);
	return rv ? -EPROTO : 0;
}

static void ts_respond_error(struct tstream *s, int status, const char *proxy_status)
{
	char st[8];
	snprintf(st, sizeof(st), "%d", status);
	loop_timer_cancel(s->t->loop, &s->timer);
	ts_close_tcp(s, false);
	s->phase = TP_WAIT;
	if (!s->c)
		return;
	/* The response ends our side; the client resets its side when it reads
	 * a non-2xx answer, and what it sent meanwhile is credited and dropped. */
	if (ts_respond(s, st, proxy_status, false))
		tstream_reset(s);
}

static void ts_server_request(struct tstream *s)
{
	struct tunnel *t = s->t;
	char host[HTTP1_AUTHORITY_MAX];
	struct http1_str auth = {s->authority, strlen(s->authority)}, h;
	unsigned port;
	if (http1_parse_authority(auth, true, &h, &port) || h.len >= sizeof(host)) {
		log_info("tunnel: CONNECT \"%s\": malformed authority", s->authority);
		t->st.streams_refused++;
		ts_respond_error(s, 400, "kfwd; error=http_request_error");
		return;
	}
	memcpy(host, h.p, h.len);
	host[h.len] = '\0';
	if (!tallow_check(t, host, (uint16_t)port)) {
		log_info("tunnel: CONNECT %s refused by upstreams.allow", s->authority);
		t->st.streams_refused++;
		ts_respond_error(s, 403, "kfwd; error=destination_ip_prohibited");
		return;
	}
	struct dns_addrs now;
	int err = tun_dns(t);
	if (!err) {
		s->phase = TP_DIAL;
		err = dns_resolve(t->dns, host, (uint16_t)port, ts_resolved, s, &now, &s->q);
	}
	if (err == 1)
		ts_resolved(s, 0, &now);
	else if (err < 0)
		ts_resolved(s, err, NULL);
}

/* Refuse a server stream that could not be dialled (502 or 504). */
static void ts_dial_failed(struct tstream *s, int status, const char *error, const char *details)
{
	char ps[300];
	log_info("tunnel: CONNECT %s: %s", s->authority, details);
	snprintf(ps, sizeof(ps), "kfwd; error=%s; details=\"%s\"", error, details);
	s->t->st.streams_refused++;
	ts_respond_error(s, status, ps);
}

static void ts_resolved(void *arg, int err, const struct dns_addrs *addrs)
{
	struct tstream *s = arg;
	struct tunnel *t = s->t;
	s->q = NULL;
	if (err) {
		ts_dial_failed(s, 502, "dns_error", dns_strerror(err));
		return;
	}
	struct happy_opts o = {.attempt_delay_ms = t->conf->global.dns.happy_delay_ms,
	                       .timeout_ms = t->conf->upstreams.connect_timeout_ms};
	err = happy_start(t->loop, addrs, &o, ts_dialled, s, &s->h);
	if (err)
		ts_dial_failed(s, 502, "destination_unavailable", strerror(-err));
}

static void ts_dialled(void *arg, int fd, int err, const struct sockaddr_storage *peer)
{
	struct tstream *s = arg;
	(void)peer;
	s->h = NULL; /* happy frees itself after this call */
	if (fd < 0) {
		if (err == -ETIMEDOUT)
			ts_dial_failed(s, 504, "connection_timeout", "connect timed out");
		else
			ts_dial_failed(s, 502,
			               err == -ECONNREFUSED ? "connection_refused"
			                                    : "destination_unavailable",
			               strerror(-err));
		return;
	}
	s->io.fd = fd;
	if (loop_add(s->t->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) || !s->c ||
	    ts_respond(s, "200", NULL, true)) {
		tstream_free(s, true);
		return;
	}
	log_debug("tunnel: CONNECT %s: connected", s->authority);
	s->phase = TP_RELAY;
	ts_io_cb(s->t->loop, &s->io, EPOLLIN | EPOLLOUT);
}

int tstream_end_headers(struct tstream *s, bool fin)
{
	if (s->kind == TS_HTTP)
		return thcli_end_headers(s, fin);
	if (s->kind == TS_HTTP_SERVER)
		return 0; /* trailers: dropped (the upstream request is already framed) */
	if (s->kind == TS_SERVER) {
		if (s->phase != TP_WAIT || s->io.fd >= 0)
			return 0;
		/* Anything but a plain CONNECT is an HTTP request for upstreams.http. */
		if (strcmp(s->method, "CONNECT") || s->bad_header) {
			s->kind = TS_HTTP_SERVER;
			return tup_begin(s, fin);
		}
		ts_server_request(s);
		return 0;
	}
	if (s->phase != TP_WAIT)
		return 0; /* trailers or a second head: ignored */
	if (s->status >= 200 && s->status < 300) {
		if (s->kind == TS_CONNECT)
			ts_write_reply(s, HTTP1_CONNECT_ESTABLISHED,
			               sizeof(HTTP1_CONNECT_ESTABLISHED) - 1);
		s->phase = TP_RELAY;
		ts_io_cb(s->t->loop, &s->io, EPOLLIN | EPOLLOUT);
		return 0;
	}
	log_info("tunnel: %s %s: the peer answered %d%s%s", s->lc->name, s->authority, s->status,
	         s->proxy_status[0] ? ": " : "", s->proxy_status);
	s->t->st.streams_refused++;
	if (s->kind == TS_CONNECT) {
		int st = s->status == 403 || s->status == 504 || s->status == 400 ? s->status : 502;
		ts_refuse_status(s, (unsigned)st, s->proxy_status[0] ? s->proxy_status : NULL);
	}
	ts_close_tcp(s, s->kind == TS_FORWARD);
	tstream_reset(s);
	return 0;
}

/* ---- client side -------------------------------------------------------- */

/* Open the CONNECT stream for authority. Return 0, -ENOTCONN (tunnel down) or
 * -EAGAIN (the peer's stream limit is reached). */
static int ts_client_open(struct tstream *s, const char *authority)
{
	struct tconn *c = tun_client_up(s->t);
	if (!c)
		return -ENOTCONN;
	int64_t sid;
	if (ngtcp2_conn_open_bidi_stream(c->conn, &sid, s))
		return -EAGAIN;
	snprintf(s->authority, sizeof(s->authority), "%s", authority);
	nghttp3_nv nv[2] = {
	    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP3_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)s->authority, 10, strlen(s->authority),
	     NGHTTP3_NV_FLAG_NONE},
	};
	nghttp3_data_reader dr = {.read_data = tstream_read_data};
	if (nghttp3_conn_submit_request(c->h3, sid, nv, 2, &dr, s)) {
		ngtcp2_conn_shutdown_stream(c->conn, 0, sid, NGHTTP3_H3_INTERNAL_ERROR);
		return -EPROTO;
	}
	s->sid = sid;
	s->phase = TP_WAIT;
	tstream_link(s, c);
	s->t->st.streams_total++;
	tun_kick(c);
	return 0;
}

static void ts_client_request(struct tstream *s)
{
	/* One byte over the limit tells a too-large head (431) from a complete
	 * one. Bytes read behind the head go into the up ring: never read more
	 * than it holds, whatever header_limit allows. */
	size_t cap = (size_t)s->lc->header_limit + 1;
	if (cap > s->upcap)
		cap = s->upcap;
	if (!s->head && !(s->head = malloc(cap))) {
		tstream_free(s, true);
		return;
	}
	while (s->head_len < cap) {
		ssize_t n = read(s->io.fd, s->head + s->head_len, cap - s->head_len);
		if (n > 0) {
			ctr_add(&s->ctr->bytes_in, (uint64_t)n);
			s->head_len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			tstream_free(s, false); /* gone before asking anything */
			return;
		}
		if (errno == EAGAIN)
			break;
	}
	struct http1_limits lim = {.max_head = cap - 1};
	struct http1_msg m;
	http1_msg_init(&m);
	int rc = http1_parse_request(s->head, s->head_len, &lim, &m);
	if (rc == -EAGAIN)
		return;
	unsigned st = rc ? m.err_status : 0;
	const char *why = rc ? m.err_reason : NULL, *extra = NULL;
	if (!st && (m.method.len != 7 || memcmp(m.method.p, "CONNECT", 7))) {
		st = 405;
		why = "only CONNECT is served on this listener";
		extra = "Allow: CONNECT";
	} else if (!st &&
	           (m.form != HTTP1_TARGET_AUTHORITY || m.target.len >= sizeof(s->authority))) {
		st = 400;
		why = "CONNECT needs host:port";
	}
	if (st) {
		log_info("listener %s: bad CONNECT request: answered %u (%s)", s->lc->name, st,
		         why);
		ts_refuse(s, st, why, extra);
		tstream_free(s, false);
		return;
	}
	loop_timer_cancel(s->t->loop, &s->timer);
	/* Bytes pipelined behind the head go first, in order. */
	size_t early = s->head_len - m.head_len;
	memcpy(s->up, s->head + m.head_len, early);
	s->up_tail = early;
	s->t->st.stream_bytes_up += early;
	char authority[sizeof(s->authority)];
	memcpy(authority, m.target.p, m.target.len);
	authority[m.target.len] = '\0';
	free(s->head);
	s->head = NULL;
	int err = ts_client_open(s, authority);
	if (err) {
		s->t->st.streams_refused++;
		ts_refuse_503(s, err == -ENOTCONN ? "tunnel down" : "tunnel stream limit");
		tstream_free(s, false);
		return;
	}
	ts_io_cb(s->t->loop, &s->io, EPOLLIN);
}

static void ts_client_new(struct tlsn *tl, int fd)
{
	struct tunnel *t = tl->t;
	int err;
	struct tstream *s = tstream_new(t, tl->lc->mode == MODE_CONNECT ? TS_CONNECT : TS_FORWARD);
	if (!s) {
		close(fd);
		return;
	}
	s->lc = conf_listener_ref(tl->lc);
	s->ctr = &tl->ctr;
	ctr_add(&s->ctr->total, 1);
	ctr_add(&s->ctr->active, 1);
	s->io.fd = fd;
	s->timer.fn = ts_timer_cb;
	if (s->kind == TS_CONNECT) {
		s->phase = TP_REQUEST;
		loop_timer_set(t->loop, &s->timer, (uint64_t)s->lc->request_timeout_ms);
	} else if ((err = ts_client_open(s, tl->lc->target))) {
		/* A forward has no way to say why: the reset is the answer. */
		t->st.streams_refused++;
		ts_count(s, err == -EPROTO ? ERR_RESOURCE : ERR_TUNNEL_DOWN);
		tstream_free(s, true);
		return;
	}
	if (loop_add(t->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		tstream_reset(s);
		tstream_free(s, true);
	}
}

void tstream_accept_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tlsn *tl = container_of(io, struct tlsn, io);
	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("listener %s: accept: %s", tl->lc->name, strerror(errno));
			return;
		}
		ts_client_new(tl, fd);
	}
}
