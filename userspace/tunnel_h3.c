/*
 * HTTP/3 glue: the nghttp3 session on top of an ngtcp2 connection (control
 * and QPACK streams), and the callbacks that pass stream events between the
 * two libraries and on to tunnel_stream.c.
 */
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct tconn *h3c(void *ud)
{
	return ud;
}

void th3_consumed(struct tconn *c, int64_t sid, size_t n)
{
	if (!c || !n)
		return;
	ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
	ngtcp2_conn_extend_max_offset(c->conn, n);
}

/* ---- header fields kept past the callback -------------------------------- */

void th3_head_add(struct th3_head *h, const uint8_t *name, size_t nl, const uint8_t *val, size_t vl)
{
	if (h->too_big || h->len + nl + vl > TH3_HEAD_MAX) {
		h->too_big = true;
		return;
	}
	if (h->n == h->fcap) {
		size_t cap = h->fcap ? 2 * h->fcap : 16;
		struct th3_field *f = realloc(h->f, cap * sizeof(*f));
		if (!f) {
			h->too_big = true; /* the head is refused as if too large */
			return;
		}
		h->f = f;
		h->fcap = cap;
	}
	if (h->len + nl + vl > h->cap) {
		size_t cap = h->cap ? h->cap : 1024;
		while (cap < h->len + nl + vl)
			cap *= 2;
		char *p = realloc(h->text, cap);
		if (!p) {
			h->too_big = true;
			return;
		}
		h->text = p;
		h->cap = cap;
	}
	h->f[h->n++] = (struct th3_field){.off = h->len, .nl = nl, .vl = vl};
	memcpy(h->text + h->len, name, nl);
	memcpy(h->text + h->len + nl, val, vl);
	h->len += nl + vl;
}

const nghttp3_nv *th3_head_nv(struct th3_head *h)
{
	free(h->nv);
	h->nv = calloc(h->n ? h->n : 1, sizeof(*h->nv));
	if (!h->nv)
		return NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct th3_field *f = &h->f[i];
		h->nv[i] = (nghttp3_nv){.name = (uint8_t *)h->text + f->off,
		                        .value = (uint8_t *)h->text + f->off + f->nl,
		                        .namelen = f->nl,
		                        .valuelen = f->vl};
	}
	return h->nv;
}

void th3_head_clear(struct th3_head *h)
{
	free(h->text);
	free(h->f);
	free(h->nv);
	memset(h, 0, sizeof(*h));
}

/* ---- nghttp3 -> us ------------------------------------------------------ */

static int h3_acked(nghttp3_conn *h3, int64_t sid, uint64_t n, void *ud, void *sud)
{
	if (sud)
		tstream_acked(sud, n);
	return 0;
}

static int h3_stream_close(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct tconn *c = h3c(ud);
	if (sud)
		tstream_closed(sud, code);
	/* Request streams are the client's: give it room for one more. */
	if (c->t->server && ngtcp2_is_bidi_stream(sid))
		ngtcp2_conn_extend_max_streams_bidi(c->conn, 1);
	return 0;
}

static int h3_recv_data(nghttp3_conn *h3, int64_t sid, const uint8_t *data, size_t len, void *ud,
                        void *sud)
{
	if (!sud) {
		th3_consumed(h3c(ud), sid, len); /* a stream we dropped: just give credit */
		return 0;
	}
	return tstream_recv_data(sud, data, len) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int h3_deferred_consume(nghttp3_conn *h3, int64_t sid, size_t n, void *ud, void *sud)
{
	th3_consumed(h3c(ud), sid, n);
	return 0;
}

static int h3_begin_headers(nghttp3_conn *h3, int64_t sid, void *ud, void *sud)
{
	struct tconn *c = h3c(ud);
	if (!c->t->server || sud)
		return 0;
	return tstream_server_begin(c, sid) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int h3_recv_header(nghttp3_conn *h3, int64_t sid, int32_t token, nghttp3_rcbuf *name,
                          nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
	if (!sud)
		return 0;
	nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
	tstream_header(sud, n.base, n.len, v.base, v.len);
	return 0;
}

static int h3_end_headers(nghttp3_conn *h3, int64_t sid, int fin, void *ud, void *sud)
{
	if (!sud)
		return 0;
	return tstream_end_headers(sud, fin) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t sid, void *ud, void *sud)
{
	if (sud)
		tstream_end_stream(sud);
	return 0;
}

/* nghttp3 asks us to send STOP_SENDING / RESET_STREAM. */
static int h3_stop_sending(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
	ngtcp2_conn_shutdown_stream_read(h3c(ud)->conn, 0, sid, code);
	return 0;
}

static int h3_reset_stream(nghttp3_conn *h3, int64_t sid, uint64_t code, void *ud, void *sud)
{
	ngtcp2_conn_shutdown_stream_write(h3c(ud)->conn, 0, sid, code);
	return 0;
}

int th3_setup(struct tconn *c)
{
	nghttp3_callbacks cb = {
	    .acked_stream_data = h3_acked,
	    .stream_close = h3_stream_close,
	    .recv_data = h3_recv_data,
	    .deferred_consume = h3_deferred_consume,
	    .begin_headers = h3_begin_headers,
	    .recv_header = h3_recv_header,
	    .end_headers = h3_end_headers,
	    .end_stream = h3_end_stream,
	    .stop_sending = h3_stop_sending,
	    .reset_stream = h3_reset_stream,
	};
	nghttp3_settings s;
	nghttp3_settings_default(&s);
	s.qpack_max_dtable_capacity = 4096;
	s.qpack_blocked_streams = 100;
	s.enable_connect_protocol = 1; /* WebSocket requests travel as extended CONNECT */
	int rv = c->t->server ? nghttp3_conn_server_new(&c->h3, &cb, &s, NULL, c)
	                      : nghttp3_conn_client_new(&c->h3, &cb, &s, NULL, c);
	if (rv)
		return -ENOMEM;
	if (c->t->server) {
		const ngtcp2_transport_params *p = ngtcp2_conn_get_local_transport_params(c->conn);
		nghttp3_conn_set_max_client_streams_bidi(c->h3, p->initial_max_streams_bidi);
	}
	int64_t ctrl, enc, dec;
	if (ngtcp2_conn_open_uni_stream(c->conn, &ctrl, NULL) ||
	    ngtcp2_conn_open_uni_stream(c->conn, &enc, NULL) ||
	    ngtcp2_conn_open_uni_stream(c->conn, &dec, NULL))
		return -EPROTO;
	if (nghttp3_conn_bind_control_stream(c->h3, ctrl) ||
	    nghttp3_conn_bind_qpack_streams(c->h3, enc, dec))
		return -EPROTO;
	return 0;
}

/* ---- ngtcp2 -> nghttp3 -------------------------------------------------- */

int th3_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t offset,
                         const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct tconn *c = ud;
	if (!c->h3)
		return 0;
	nghttp3_ssize n =
	    nghttp3_conn_read_stream(c->h3, sid, data, len, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		log_warn("tunnel: HTTP/3 stream %lld: %s", (long long)sid,
		         nghttp3_strerror((int)n));
		ngtcp2_ccerr_set_application_error(
		    &c->ccerr, nghttp3_err_infer_quic_app_error_code((int)n), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	/* Framing bytes are consumed now; body bytes when they reach TCP. */
	th3_consumed(c, sid, (size_t)n);
	return 0;
}

int th3_acked_stream_data_offset(ngtcp2_conn *conn, int64_t sid, uint64_t offset, uint64_t len,
                                 void *ud, void *sud)
{
	struct tconn *c = ud;
	if (c->h3 && nghttp3_conn_add_ack_offset(c->h3, sid, len))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

int th3_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t code, void *ud,
                     void *sud)
{
	struct tconn *c = ud;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		code = NGHTTP3_H3_NO_ERROR;
	if (!c->h3)
		return 0;
	int rv = nghttp3_conn_close_stream(c->h3, sid, code);
	if (rv && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
		ngtcp2_ccerr_set_application_error(
		    &c->ccerr, nghttp3_err_infer_quic_app_error_code(rv), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

int th3_stream_stop_sending(ngtcp2_conn *conn, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct tconn *c = ud;
	if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, sid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (sud)
		tstream_peer_reset(sud, code);
	return 0;
}

/* A reset and a STOP_SENDING end the stream alike: its TCP side is reset. */
int th3_stream_reset(ngtcp2_conn *conn, int64_t sid, uint64_t final_size, uint64_t code, void *ud,
                     void *sud)
{
	return th3_stream_stop_sending(conn, sid, code, ud, sud);
}

int th3_extend_max_stream_data(ngtcp2_conn *conn, int64_t sid, uint64_t max_data, void *ud,
                               void *sud)
{
	struct tconn *c = ud;
	if (c->h3 && nghttp3_conn_unblock_stream(c->h3, sid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

int th3_extend_max_remote_streams_bidi(ngtcp2_conn *conn, uint64_t max, void *ud)
{
	struct tconn *c = ud;
	if (c->h3)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, max);
	return 0;
}
