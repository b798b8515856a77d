/*
 * The tunnel's connection lifecycle for both roles: the tunnel thread, QUIC
 * connections (client: connect at start, reconnect every connect_interval_ms
 * with the peer re-resolved; server: accept Initials, one connection per
 * handshake), peer verification after the handshake, closing, and the
 * commands other threads send (drain, key update).
 */
#include "daemon.h"
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#if __has_include("sdnotify.h")
#include "sdnotify.h"
#define HAVE_SDNOTIFY 1
#endif

#define STATS_MS 250 /* how often the published view is refreshed */

static void tun_publish(struct tunnel *t);
static void client_attempt_done(struct tunnel *t);

void tun_set_error(struct tunnel *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
	va_end(ap);
#ifdef HAVE_SDNOTIFY
	sdn_status("tunnel %s: %s", t->state, t->last_error);
#endif
}

static void tun_set_state(struct tunnel *t, const char *state)
{
	t->state = state;
#ifdef HAVE_SDNOTIFY
	if (t->last_error[0] && strcmp(state, "up"))
		sdn_status("tunnel %s: %s", state, t->last_error);
	else
		sdn_status("tunnel %s", state);
#endif
	tun_publish(t);
}

struct tconn *tun_client_up(struct tunnel *t)
{
	struct tconn *c = t->client;
	return c && c->state == TC_UP && c->h3 ? c : NULL;
}

/* ---- ngtcp2 callbacks of the lifecycle ---------------------------------- */

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	if (getrandom(dest, len, 0) != (ssize_t)len)
		memset(dest, 0x5a, len); /* only for padding and probing: never fatal */
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t len, void *ud)
{
	struct tconn *c = ud;
	if (getrandom(cid->data, len, 0) != (ssize_t)len)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = len;
	if (ngtcp2_crypto_generate_stateless_reset_token(token, c->t->reset_secret,
	                                                 sizeof(c->t->reset_secret), cid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int update_key_cb(ngtcp2_conn *conn, uint8_t *rx_secret, uint8_t *tx_secret,
                         ngtcp2_crypto_aead_ctx *rx_aead_ctx, uint8_t *rx_iv,
                         ngtcp2_crypto_aead_ctx *tx_aead_ctx, uint8_t *tx_iv, const uint8_t *cur_rx,
                         const uint8_t *cur_tx, size_t secretlen, void *ud)
{
	struct tconn *c = ud;
	/* ngtcp2 derives the next keys once right after the handshake; every
	 * later call is a key update (ours or the peer's). */
	if (c->key_gens++ > 0) {
		c->t->st.key_updates++;
		log_info("tunnel: key update with %s", c->t->peer);
	}
	return ngtcp2_crypto_update_key_cb(conn, rx_secret, tx_secret, rx_aead_ctx, rx_iv,
	                                   tx_aead_ctx, tx_iv, cur_rx, cur_tx, secretlen, ud);
}

/* The connection carries streams from now on. */
static void tconn_up(struct tconn *c)
{
	struct tunnel *t = c->t;
	c->state = TC_UP;
	c->was_up = true;
	t->st.connects++;
	char a[ADDR_STRLEN];
	addr_format(&c->remote, a);
	snprintf(t->peer, sizeof(t->peer), "%s", a);
	log_info("tunnel: up with %s (%s, peer %s verified)", a, t->server ? "server" : "client",
	         t->tc->peer_name);
	t->last_error[0] = 0;
	tun_set_state(t, "up");
	if (!t->server)
		client_attempt_done(t); /* a first attempt that succeeds ends too: READY */
}

static int handshake_done_cb(ngtcp2_conn *conn, void *ud)
{
	struct tconn *c = ud;
	struct tunnel *t = c->t;
	char why[256];
	if (ttls_check_peer(c, why, sizeof(why))) {
		snprintf(c->tls_why, sizeof(c->tls_why), "%s", why);
		/* bad_certificate: the peer learns it was refused, not just dropped. */
		ngtcp2_ccerr_set_tls_alert(&c->ccerr, 42, NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	if (th3_setup(c)) {
		snprintf(c->why, sizeof(c->why), "cannot set HTTP/3 up");
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	/* In TLS 1.3 the client is done before the server has checked the
	 * client's certificate: the client is up only once the server confirms
	 * (HANDSHAKE_DONE), or a refused client would flap up and carry
	 * streams into a connection about to be closed. */
	if (t->server)
		tconn_up(c);
	return 0;
}

static int handshake_confirmed_cb(ngtcp2_conn *conn, void *ud)
{
	struct tconn *c = ud;
	if (!c->t->server)
		tconn_up(c);
	return 0;
}

static ngtcp2_conn *get_conn_cb(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct tconn *)ref->user_data)->conn;
}

static void callbacks(ngtcp2_callbacks *cb, bool server)
{
	*cb = (ngtcp2_callbacks){
	    .client_initial = server ? NULL : ngtcp2_crypto_client_initial_cb,
	    .recv_client_initial = server ? ngtcp2_crypto_recv_client_initial_cb : NULL,
	    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	    .handshake_completed = handshake_done_cb,
	    .handshake_confirmed = handshake_confirmed_cb,
	    .encrypt = ngtcp2_crypto_encrypt_cb,
	    .decrypt = ngtcp2_crypto_decrypt_cb,
	    .hp_mask = ngtcp2_crypto_hp_mask_cb,
	    .recv_stream_data = th3_recv_stream_data,
	    .acked_stream_data_offset = th3_acked_stream_data_offset,
	    .stream_close = th3_stream_close,
	    .recv_retry = server ? NULL : ngtcp2_crypto_recv_retry_cb,
	    .rand = rand_cb,
	    .get_new_connection_id = new_cid_cb,
	    .update_key = update_key_cb,
	    .stream_reset = th3_stream_reset,
	    .extend_max_remote_streams_bidi = th3_extend_max_remote_streams_bidi,
	    .extend_max_stream_data = th3_extend_max_stream_data,
	    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	    .stream_stop_sending = th3_stream_stop_sending,
	    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	};
}

/* Settings and transport parameters from tunnel.transport (the config loader
 * filled in every default; the schema's ranges keep the values positive). */
static void transport(struct tunnel *t, ngtcp2_settings *s, ngtcp2_transport_params *p)
{
	const struct conf_transport *tr = &t->tc->transport;
	ngtcp2_settings_default(s);
	s->max_tx_udp_payload_size = t->max_udp_payload;
	s->pmtud_probes = t->probes; /* copied by ngtcp2 */
	s->pmtud_probeslen = t->nprobes;
	s->initial_ts = tun_ts();
	s->initial_rtt = (uint64_t)tr->initial_rtt_ms * NGTCP2_MILLISECONDS;
	s->cc_algo = tr->cc == CC_RENO  ? NGTCP2_CC_ALGO_RENO
	             : tr->cc == CC_BBR ? NGTCP2_CC_ALGO_BBR
	                                : NGTCP2_CC_ALGO_CUBIC;
	s->max_window = (uint64_t)tr->max_window;
	s->max_stream_window = (uint64_t)tr->max_stream_window;
	s->handshake_timeout = (uint64_t)tr->handshake_timeout_ms * NGTCP2_MILLISECONDS;
	ngtcp2_transport_params_default(p);
	uint64_t sw = (uint64_t)tr->initial_max_stream_data;
	p->initial_max_stream_data_bidi_local = sw;
	p->initial_max_stream_data_bidi_remote = sw;
	p->initial_max_stream_data_uni = sw;
	p->initial_max_data = (uint64_t)tr->initial_max_data;
	/* Only the client opens request streams; both open 3 unidirectional ones. */
	p->initial_max_streams_bidi = t->server ? (uint64_t)tr->max_streams : 0;
	p->initial_max_streams_uni = 16;
	p->max_idle_timeout = (uint64_t)tr->max_idle_timeout_ms * NGTCP2_MILLISECONDS;
}

static struct tconn *tconn_alloc(struct tunnel *t)
{
	struct tconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->t = t;
	c->timer.fn = tconn_timer_cb;
	c->tx_more.fn = tconn_tx_more_cb;
	c->ref.get_conn = get_conn_cb;
	c->ref.user_data = c;
	c->ecn = -1;
	return c;
}

static int tconn_finish_setup(struct tconn *c)
{
	int err = ttls_session_new(c);
	if (err)
		return err;
	c->ref.get_conn = get_conn_cb;
	ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
	const struct conf_transport *tr = &c->t->tc->transport;
	if (tr->keep_alive_ms > 0)
		ngtcp2_conn_set_keep_alive_timeout(c->conn, (uint64_t)tr->keep_alive_ms *
		                                                NGTCP2_MILLISECONDS);
	c->next = c->t->conns;
	c->t->conns = c;
	return 0;
}

static void tconn_free(struct tconn *c)
{
	struct tunnel *t = c->t;
	tstream_cut_all(c);
	loop_timer_cancel(t->loop, &c->timer);
	loop_pending_cancel(t->loop, &c->tx_more);
	for (struct tconn **pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->h3)
		nghttp3_conn_del(c->h3);
	if (c->conn)
		ngtcp2_conn_del(c->conn);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	free(c);
}

/* ---- client ------------------------------------------------------------- */

static void client_close_socket(struct tunnel *t)
{
	if (t->udp.fd < 0)
		return;
	loop_pending_cancel(t->loop, &t->rx_more);
	loop_pending_cancel(t->loop, &t->flush);
	loop_del(t->loop, &t->udp);
	close(t->udp.fd);
	t->udp.fd = -1;
}

static void client_attempt_done(struct tunnel *t)
{
	if (t->first_attempt_done)
		return;
	t->first_attempt_done = true;
#ifdef HAVE_SDNOTIFY
	sdn_ready_release();
#endif
}

static int client_connect(struct tunnel *t, const struct addr *peer_addr)
{
	struct addr peer = *peer_addr;
	int err;
	int fd = tio_socket(t, addr_family(&peer));
	if (fd < 0) {
		tun_set_error(t, "udp socket: %s", strerror(-fd));
		return fd;
	}
	struct tconn *c = tconn_alloc(t);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->remote = peer;
	c->local.len = sizeof(c->local.u.ss);
	if (connect(fd, &peer.u.sa, peer.len) || getsockname(fd, &c->local.u.sa, &c->local.len)) {
		err = -errno;
		tun_set_error(t, "udp connect %s: %s", t->tc->peer, strerror(errno));
		close(fd);
		free(c);
		return err;
	}
	t->udp = (struct loop_io){.fd = fd, .fn = tio_recv_cb};
	loop_add(t->loop, &t->udp, EPOLLIN);
	ngtcp2_cid dcid = {.datalen = TUN_SCID_LEN}, scid = {.datalen = TUN_SCID_LEN};
	rand_cb(dcid.data, dcid.datalen, NULL);
	rand_cb(scid.data, scid.datalen, NULL);
	ngtcp2_path path = {.local = {.addr = &c->local.u.sa, .addrlen = c->local.len},
	                    .remote = {.addr = &c->remote.u.sa, .addrlen = c->remote.len}};
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	callbacks(&cb, false);
	transport(t, &s, &p);
	int rv = ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &s,
	                                &p, NULL, c);
	if (rv || (err = tconn_finish_setup(c))) {
		tun_set_error(t, "cannot create the QUIC connection: %s",
		              rv ? ngtcp2_strerror(rv) : strerror(-err));
		if (c->conn && !c->next && t->conns != c)
			ngtcp2_conn_del(c->conn);
		else if (c->conn)
			tconn_free(c);
		else
			free(c);
		client_close_socket(t);
		return -EPROTO;
	}
	t->client = c;
	snprintf(t->peer, sizeof(t->peer), "%s", t->tc->peer);
	tun_set_state(t, "connecting");
	tconn_write(c);
	return 0;
}

static void client_attempt_failed(struct tunnel *t)
{
	log_warn("tunnel: connect to %s failed: %s", t->tc->peer, t->last_error);
	tun_set_state(t, "down"); /* before READY: systemd shows why at once */
	client_attempt_done(t);
	loop_timer_set(t->loop, &t->reconnect, (uint64_t)t->tc->transport.connect_interval_ms);
}

static void client_resolved(struct tunnel *t, int err, const struct addr *peer, const char *why)
{
	if (t->draining || t->client)
		return;
	if (err) {
		tun_set_error(t, "cannot resolve %s: %s", t->tc->peer, why);
		client_attempt_failed(t);
	} else if (client_connect(t, peer)) {
		client_attempt_failed(t);
	}
}

static void reconnect_cb(struct loop *l, struct loop_timer *tm)
{
	struct tunnel *t = container_of(tm, struct tunnel, reconnect);
	if (t->draining || t->client || t->peer_q)
		return;
	if (t->st.connects || t->first_attempt_done)
		t->st.reconnects++;
	/* Resolved again at every attempt: the peer may have moved. */
	tpeer_resolve(t, client_resolved);
}

/* ---- closing ------------------------------------------------------------ */

/* Tear a connection down now: send CONNECTION_CLOSE unless told not to. */
static void tconn_close_now(struct tconn *c, bool send_close)
{
	struct tunnel *t = c->t;
	if (send_close && c->conn && !ngtcp2_conn_in_closing_period(c->conn) &&
	    !ngtcp2_conn_in_draining_period(c->conn)) {
		ngtcp2_path_storage ps;
		ngtcp2_path_storage_zero(&ps);
		ngtcp2_pkt_info pi;
		ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
		    c->conn, &ps.path, &pi, t->txbuf, NGTCP2_MAX_UDP_PAYLOAD_SIZE, &c->ccerr,
		    tun_ts());
		if (n > 0) {
			if (t->server)
				sendto(t->udp.fd, t->txbuf, (size_t)n, 0, &c->remote.u.sa,
				       c->remote.len);
			else
				send(t->udp.fd, t->txbuf, (size_t)n, 0);
		}
	}
	bool was_up = c->was_up;
	const char *why = c->tls_why[0] ? c->tls_why : c->why[0] ? c->why : "closed";
	char a[ADDR_STRLEN];
	if (was_up || !t->draining)
		log_warn("tunnel: connection with %s %s: %s", addr_format(&c->remote, a),
		         was_up ? "lost" : "failed", why);
	if (!t->draining)
		tun_set_error(t, "%s", why);
	c->state = TC_DEAD;
	bool was_client = c == t->client;
	tconn_free(c);
	if (!was_client) {
		tun_set_state(t, t->conns ? t->state : (t->server ? "down" : t->state));
		return;
	}
	t->client = NULL;
	client_close_socket(t);
	tun_set_state(t, "down"); /* before READY: systemd shows why at once */
	client_attempt_done(t);
	if (!t->draining)
		loop_timer_set(t->loop, &t->reconnect,
		               (uint64_t)t->tc->transport.connect_interval_ms);
}

static void tconn_close_deferred(void *arg)
{
	struct tconn *c = arg;
	tconn_close_now(c, c->state != TC_DEAD);
}

static void tconn_queue_close(struct tconn *c, const char *why, bool send_close)
{
	if (!c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", why);
	if (c->close_queued)
		return;
	c->close_queued = true;
	if (!send_close)
		c->state = TC_DEAD;
	else if (c->state < TC_CLOSING)
		c->state = TC_CLOSING;
	if (loop_defer(c->t->loop, tconn_close_deferred, c))
		log_err("tunnel: out of memory: connection with %s left to its idle timeout",
		        c->t->peer);
}

void tconn_fail(struct tconn *c, const char *why)
{
	tconn_queue_close(c, why, true);
}

void tconn_gone(struct tconn *c, const char *why)
{
	tconn_queue_close(c, why, false);
}

/* What a TLS alert the peer closed with says about our certificate. */
static const char *alert_meaning(uint8_t alert)
{
	switch (alert) {
	case 42:
		return " (bad_certificate: it does not accept our certificate, e.g. its name)";
	case 45:
		return " (certificate_expired: our certificate has expired)";
	case 48:
		return " (unknown_ca: our certificate is not signed by its CA)";
	case 116:
		return " (certificate_required: we sent no certificate)";
	default:
		return "";
	}
}

/* The peer's reason for closing, in words. */
static void peer_close_reason(struct tconn *c, char *dst, size_t n)
{
	const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(c->conn);
	const char *kind = e->type == NGTCP2_CCERR_TYPE_APPLICATION ? "application" : "transport";
	if (e->type == NGTCP2_CCERR_TYPE_TRANSPORT && (e->error_code & ~0xffull) == 0x100)
		snprintf(dst, n, "peer refused the handshake: TLS alert %llu%s",
		         (unsigned long long)(e->error_code & 0xff),
		         alert_meaning((uint8_t)(e->error_code & 0xff)));
	else
		snprintf(dst, n, "peer closed the connection (%s error 0x%llx%s%.*s)", kind,
		         (unsigned long long)e->error_code, e->reasonlen ? ": " : "",
		         (int)e->reasonlen, (const char *)e->reason);
}

void tconn_read_error(struct tconn *c, int rv)
{
	char why[256];
	switch (rv) {
	case NGTCP2_ERR_DRAINING:
	case NGTCP2_ERR_CLOSING:
		peer_close_reason(c, why, sizeof(why));
		tconn_gone(c, why);
		return;
	case NGTCP2_ERR_DROP_CONN:
		tconn_gone(c, "packet dropped the connection");
		return;
	case NGTCP2_ERR_CRYPTO:
	case NGTCP2_ERR_CALLBACK_FAILURE:
		if (!c->tls_why[0]) {
			int err = wolfSSL_get_error(c->ssl, 0);
			uint8_t alert = ngtcp2_conn_get_tls_alert(c->conn);
			if (err == NO_PEER_CERT || alert == 116)
				snprintf(c->tls_why, sizeof(c->tls_why),
				         "peer presented no certificate");
			else
				snprintf(c->tls_why, sizeof(c->tls_why),
				         "TLS handshake failed: %s (alert %u)",
				         wolfSSL_ERR_reason_error_string((unsigned long)err),
				         alert);
		}
		if (c->ccerr.type == NGTCP2_CCERR_TYPE_TRANSPORT && !c->ccerr.error_code)
			ngtcp2_ccerr_set_tls_alert(&c->ccerr, ngtcp2_conn_get_tls_alert(c->conn),
			                           NULL, 0);
		tconn_fail(c, c->tls_why);
		return;
	default:
		ngtcp2_ccerr_set_liberr(&c->ccerr, rv, NULL, 0);
		tconn_fail(c, ngtcp2_strerror(rv));
	}
}

/* ---- server ------------------------------------------------------------- */

struct tconn *tconn_accept(struct tunnel *t, const struct addr *from, const struct addr *to,
                           const uint8_t *pkt, size_t len)
{
	ngtcp2_pkt_hd hd;
	if (t->draining || ngtcp2_accept(&hd, pkt, len))
		return NULL; /* not an Initial we can take: ignored, like noise */
	int n = 0;
	for (struct tconn *c = t->conns; c; c = c->next)
		n++;
	if (n >= TUN_MAX_CONNS) {
		log_warn("tunnel: %d connections already; Initial ignored", n);
		return NULL;
	}
	struct tconn *c = tconn_alloc(t);
	if (!c)
		return NULL;
	c->remote = *from;
	c->local = *to;
	c->odcid = hd.dcid;
	ngtcp2_cid scid = {.datalen = TUN_SCID_LEN};
	rand_cb(scid.data, scid.datalen, NULL);
	ngtcp2_path path = {.local = {.addr = &c->local.u.sa, .addrlen = c->local.len},
	                    .remote = {.addr = &c->remote.u.sa, .addrlen = c->remote.len}};
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	callbacks(&cb, true);
	transport(t, &s, &p);
	p.original_dcid = hd.dcid;
	p.original_dcid_present = 1;
	int rv = ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &path, hd.version, &cb, &s, &p,
	                                NULL, c);
	if (rv) {
		log_err("tunnel: cannot accept a connection: %s", ngtcp2_strerror(rv));
		free(c);
		return NULL;
	}
	if (tconn_finish_setup(c)) {
		ngtcp2_conn_del(c->conn);
		free(c);
		return NULL;
	}
	if (!strcmp(t->state, "down"))
		tun_set_state(t, "connecting");
	return c;
}

/* ---- the thread --------------------------------------------------------- */

void tun_flush(struct tunnel *t)
{
	for (struct tconn *c = t->conns; c; c = c->next)
		if (c->dirty) {
			c->dirty = false;
			tconn_write(c);
		}
}

static void flush_cb(struct loop *l, struct loop_pending *p)
{
	tun_flush(container_of(p, struct tunnel, flush));
}

void tun_kick(struct tconn *c)
{
	c->dirty = true;
	loop_pending_add(c->t->loop, &c->t->flush);
}

static void rx_more_cb(struct loop *l, struct loop_pending *p)
{
	struct tunnel *t = container_of(p, struct tunnel, rx_more);
	if (t->udp.fd >= 0)
		tio_recv_cb(l, &t->udp, EPOLLIN);
}

void tconn_tx_more_cb(struct loop *l, struct loop_pending *p)
{
	tconn_write(container_of(p, struct tconn, tx_more));
}

/* Close every connection (after this batch, with H3_NO_ERROR) and stop. */
static void tun_finish(struct tunnel *t)
{
	for (struct tconn *c = t->conns; c; c = c->next) {
		if (!c->close_queued)
			ngtcp2_ccerr_set_application_error(&c->ccerr, NGHTTP3_H3_NO_ERROR, NULL, 0);
		tconn_queue_close(c, "tunnel stopping", true);
	}
	loop_stop(t->loop);
}

void tun_stream_gone(struct tunnel *t)
{
	if (!t->draining)
		return;
	for (struct tconn *c = t->conns; c; c = c->next)
		if (c->nstreams)
			return;
	tun_finish(t);
}

static void drain_timer_cb(struct loop *l, struct loop_timer *tm)
{
	tun_finish(container_of(tm, struct tunnel, drain_timer));
}

static void tun_start_drain(struct tunnel *t, uint64_t grace)
{
	if (t->draining) {
		if (!grace)
			tun_finish(t);
		return;
	}
	t->draining = true;
	loop_timer_cancel(t->loop, &t->reconnect);
	tpeer_cancel(t);
	while (t->lsns) {
		struct tlsn *tl = t->lsns;
		t->lsns = tl->next;
		loop_del(t->loop, &tl->io);
		close(tl->io.fd);
		conf_listener_unref(tl->lc);
		free(tl);
	}
	loop_timer_set(t->loop, &t->drain_timer, grace);
	tun_stream_gone(t);
}

static void cmd_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tunnel *t = container_of(io, struct tunnel, cmdio);
	uint64_t v;
	while (read(io->fd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&t->mu);
	bool drain = t->cmd_drain, ku = t->cmd_key_update;
	uint64_t grace = t->drain_grace_ms;
	t->cmd_key_update = false;
	t->cmd_drain = false;
	pthread_mutex_unlock(&t->mu);
	if (ku) {
		for (struct tconn *c = t->conns; c; c = c->next) {
			if (c->state != TC_UP)
				continue;
			int rv = ngtcp2_conn_initiate_key_update(c->conn, tun_ts());
			if (rv)
				log_warn("tunnel: key update refused: %s", ngtcp2_strerror(rv));
			else
				log_info("tunnel: key update initiated");
			tconn_write(c);
		}
	}
	if (drain)
		tun_start_drain(t, grace);
}

static void tun_publish(struct tunnel *t)
{
	struct tunnel_view v = t->st;
	v.role = t->server ? "server" : "client";
	v.state = t->state;
	snprintf(v.peer, sizeof(v.peer), "%s", t->peer);
	snprintf(v.last_error, sizeof(v.last_error), "%s", t->last_error);
	v.streams_open = 0;
	struct tconn *c = t->server ? NULL : t->client;
	for (struct tconn *x = t->conns; x; x = x->next) {
		v.streams_open += (uint64_t)x->nstreams;
		if (!c && x->state == TC_UP)
			c = x;
	}
	if (c && c->state == TC_UP) {
		ngtcp2_conn_info ci;
		ngtcp2_conn_get_conn_info(c->conn, &ci);
		v.rtt_smoothed_us = ci.smoothed_rtt / 1000;
		v.rtt_min_us = ci.min_rtt == UINT64_MAX ? 0 : ci.min_rtt / 1000;
		v.cwnd = ci.cwnd;
		v.bytes_in_flight = ci.bytes_in_flight;
		v.udp_payload = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
	}
	pthread_mutex_lock(&t->mu);
	t->view = v;
	pthread_mutex_unlock(&t->mu);
}

static void stats_cb(struct loop *l, struct loop_timer *tm)
{
	struct tunnel *t = container_of(tm, struct tunnel, stats_timer);
	tun_publish(t);
	loop_timer_set(l, tm, STATS_MS);
}

static void *tun_main(void *arg)
{
	struct tunnel *t = arg;
	if (!t->server)
		loop_timer_set(t->loop, &t->reconnect, 0);
	loop_timer_set(t->loop, &t->stats_timer, STATS_MS);
	int err = loop_run(t->loop);
	if (err)
		log_err("tunnel: event loop: %s", strerror(-err));
	t->draining = true;
	tpeer_cancel(t);
	tun_finish(t);
	loop_run_once(t->loop, 0); /* runs the deferred closes */
	tun_publish(t);
	__atomic_store_n(&t->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- the API other threads use ------------------------------------------ */

bool tunnel_listener(struct tunnel *t, size_t i, const struct conf_listener **lc,
                     struct lsn_ctr *sum)
{
	if (!t || i >= t->nlctr)
		return false;
	*lc = t->lctr[i].lc;
	stats_sum(&t->lctr[i].ctr, 1, sum);
	return true;
}

static int open_listeners(struct tunnel *t)
{
	const struct conf *c = t->conf;
	size_t n = 0;
	for (size_t i = 0; i < c->nlisteners; i++)
		n += tunnel_owns(c->listeners[i]);
	if (n && !(t->lctr = aligned_alloc(_Alignof(struct tlsn_ctr), n * sizeof(*t->lctr))))
		return -ENOMEM;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *lc = c->listeners[i];
		if (!tunnel_owns(lc))
			continue;
		struct tlsn_ctr *lctr = &t->lctr[t->nlctr++];
		memset(&lctr->ctr, 0, sizeof(lctr->ctr));
		lctr->lc = conf_listener_ref(lc);
		char a[ADDR_STRLEN];
		addr_format(&lc->bind.a, a);
		if (t->server || lc->proto != PROTO_TCP) {
			log_err(
			    "listener %s: via = \"tunnel\" needs the tunnel client role and tcp",
			    lc->name);
			return -EINVAL;
		}
		int fd = lsn_socket(lc);
		if (fd < 0) {
			log_err("listener %s: bind %s: %s", lc->name, addr_format(&lc->bind.a, a),
			        strerror(-fd));
			return fd;
		}
		struct tlsn *tl = calloc(1, sizeof(*tl));
		if (!tl) {
			close(fd);
			return -ENOMEM;
		}
		tl->io = (struct loop_io){
		    .fd = fd, .fn = lc->mode == MODE_HTTP ? thcli_accept_cb : tstream_accept_cb};
		tl->t = t;
		tl->lc = conf_listener_ref(lc);
		tl->ctr = &lctr->ctr;
		tl->next = t->lsns;
		t->lsns = tl;
		int err = loop_add(t->loop, &tl->io, EPOLLIN);
		if (err)
			return err;
		log_info("listener %s: tcp %s on %s via the tunnel%s%s", lc->name,
		         conf_mode_name(lc->mode), a, lc->target ? " to " : "",
		         lc->target ? lc->target : "");
	}
	return 0;
}

static int server_socket(struct tunnel *t)
{
	t->bind = t->tc->bind.a;
	int fd = tio_socket(t, addr_family(&t->bind));
	if (fd < 0)
		return fd;
	int one = 1;
	if (addr_family(&t->bind) == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	char a[ADDR_STRLEN];
	if (bind(fd, &t->bind.u.sa, t->bind.len)) {
		int err = -errno;
		log_err("tunnel: bind %s: %s", addr_format(&t->bind, a), strerror(errno));
		close(fd);
		return err;
	}
	t->bind.len = sizeof(t->bind.u.ss);
	getsockname(fd, &t->bind.u.sa, &t->bind.len);
	/* On a wildcard address the kernel would pick each reply's source by route,
	 * which on a host with several addresses need not be the one the client
	 * sent to; its connected socket would then drop every reply. */
	if (addr_is_any(&t->bind)) {
		int rv = addr_family(&t->bind) == AF_INET
		             ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
		             : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		if (rv) {
			int err = -errno;
			log_err("tunnel: udp %s: cannot learn packets' destination addresses: %s",
			        addr_format(&t->bind, a), strerror(errno));
			close(fd);
			return err;
		}
		t->pktinfo = true;
	}
	t->udp = (struct loop_io){.fd = fd, .fn = tio_recv_cb};
	log_info("tunnel: server on udp %s, peer must be %s", addr_format(&t->bind, a),
	         t->tc->peer_name);
	return loop_add(t->loop, &t->udp, EPOLLIN);
}

int tunnel_new(const struct conf *c, struct tunnel **out)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->conf = c;
	t->tc = &c->tunnel;
	t->server = c->tunnel.role == TUNNEL_SERVER;
	t->gso = c->tunnel.transport.gso;
	t->gro = c->tunnel.transport.gro;
	t->udp.fd = -1;
	t->cmdio.fd = -1;
	t->state = t->server ? "down" : "connecting";
	snprintf(t->peer, sizeof(t->peer), "%s", t->server ? "" : c->tunnel.peer);
	pthread_mutex_init(&t->mu, NULL);
	t->reconnect.fn = reconnect_cb;
	t->drain_timer.fn = drain_timer_cb;
	t->stats_timer.fn = stats_cb;
	t->rx_more.fn = rx_more_cb;
	t->flush.fn = flush_cb;
	t->loop = loop_new();
	t->max_udp_payload = (size_t)c->tunnel.transport.max_udp_payload;
	for (t->up_cap = TS_UP_START; t->up_cap < (size_t)c->tunnel.transport.stream_buffer;)
		t->up_cap <<= 1;
	t->nprobes = tun_pmtud_probes(t->max_udp_payload, t->probes, TUN_PMTUD_PROBES);
	/* a GSO batch plus the packet that did not fit in it */
	t->txbuf = malloc(TUN_GSO_MAX + t->max_udp_payload);
	t->rxbuf = malloc(TUN_RX_BUF);
	int err = -ENOMEM;
	if (!t->loop || !t->txbuf || !t->rxbuf)
		goto fail;
	if (getrandom(t->reset_secret, sizeof(t->reset_secret), 0) != sizeof(t->reset_secret))
		goto fail;
	t->cmdio = (struct loop_io){.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .fn = cmd_cb};
	if (t->cmdio.fd < 0 || (err = loop_add(t->loop, &t->cmdio, EPOLLIN)))
		goto fail;
	if ((err = ttls_ctx_new(t)))
		goto fail;
	if (t->server && ((err = tallow_new(t)) || (err = server_socket(t))))
		goto fail;
	if ((err = open_listeners(t)))
		goto fail;
#ifdef HAVE_SDNOTIFY
	if (!t->server)
		sdn_ready_hold(); /* released when the first attempt ends */
#endif
	tun_publish(t);
	*out = t;
	return 0;
fail:
	tunnel_free(t);
	return err;
}

int tunnel_start(struct tunnel *t)
{
	int err = pthread_create(&t->thread, NULL, tun_main, t);
	if (err)
		return -err;
	t->started = true;
	return 0;
}

static void post(struct tunnel *t)
{
	uint64_t one = 1;
	if (write(t->cmdio.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("tunnel: cannot wake the tunnel thread: %s", strerror(errno));
}

void tunnel_drain(struct tunnel *t, uint64_t grace_ms)
{
	pthread_mutex_lock(&t->mu);
	t->cmd_drain = true;
	t->drain_grace_ms = grace_ms;
	pthread_mutex_unlock(&t->mu);
	post(t);
}

bool tunnel_exited(struct tunnel *t)
{
	return !t->started || __atomic_load_n(&t->exited, __ATOMIC_ACQUIRE);
}

int tunnel_key_update(struct tunnel *t)
{
	pthread_mutex_lock(&t->mu);
	bool up = !strcmp(t->view.state, "up");
	if (up)
		t->cmd_key_update = true;
	pthread_mutex_unlock(&t->mu);
	if (!up)
		return -ENOTCONN;
	post(t);
	return 0;
}

void tunnel_view_get(struct tunnel *t, struct tunnel_view *v)
{
	pthread_mutex_lock(&t->mu);
	*v = t->view;
	pthread_mutex_unlock(&t->mu);
}

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	if (t->started)
		pthread_join(t->thread, NULL);
	while (t->conns)
		tconn_free(t->conns);
	thcli_free_all(t);
	tup_pool_free(t);
	while (t->lsns) {
		struct tlsn *tl = t->lsns;
		t->lsns = tl->next;
		close(tl->io.fd);
		conf_listener_unref(tl->lc);
		free(tl);
	}
	if (t->udp.fd >= 0)
		close(t->udp.fd);
	if (t->cmdio.fd >= 0)
		close(t->cmdio.fd);
	if (t->ssl_ctx)
		wolfSSL_CTX_free(t->ssl_ctx);
	tallow_free(t);
	for (size_t i = 0; i < t->nlctr; i++)
		conf_listener_unref(t->lctr[i].lc);
	free(t->lctr);
	loop_free(t->loop);
	free(t->txbuf);
	free(t->rxbuf);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
