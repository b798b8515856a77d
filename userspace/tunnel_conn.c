/*
 * One QUIC connection of the tunnel, from creation to close: the ngtcp2
 * callbacks of its lifecycle (handshake, peer verification, key update),
 * settings and transport parameters from tunnel.transport, the client's
 * connection attempts (reconnect every connect_interval_ms, the peer
 * re-resolved each time), the server's accept of an Initial, and closing
 * with the reason in words. tunnel.c owns the thread and the API.
 */
#include "log.h"
#include "sdnotify.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

static void client_attempt_done(struct tunnel *t);

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
	s->max_tx_udp_payload_size = (size_t)tr->max_udp_payload;
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

/* What ngtcp2_conn_client_new / _server_new take besides the CIDs. */
struct tconn_params {
	ngtcp2_path path;
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
};

static void tconn_params(struct tconn *c, bool server, struct tconn_params *o)
{
	o->path = (ngtcp2_path){.local = {.addr = &c->local.u.sa, .addrlen = c->local.len},
	                        .remote = {.addr = &c->remote.u.sa, .addrlen = c->remote.len}};
	callbacks(&o->cb, server);
	transport(c->t, &o->s, &o->p);
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

void tconn_free(struct tconn *c)
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
	sdn_ready_release();
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
	struct tconn_params o;
	tconn_params(c, false, &o);
	int rv = ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &o.path, NGTCP2_PROTO_VER_V1, &o.cb,
	                                &o.s, &o.p, NULL, c);
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

void tun_reconnect_cb(struct loop *l, struct loop_timer *tm)
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
	struct tconn_params o;
	tconn_params(c, true, &o);
	o.p.original_dcid = hd.dcid;
	o.p.original_dcid_present = 1;
	int rv = ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &o.path, hd.version, &o.cb, &o.s,
	                                &o.p, NULL, c);
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
