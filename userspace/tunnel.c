/*
 * The tunnel object for both roles: its thread and event loop, the listening
 * sockets of via-tunnel listeners and the server's UDP socket, the state it
 * publishes (kfwd stats, systemd STATUS), drain, and the commands other
 * threads send (drain, key update). A connection's own lifecycle is in
 * tunnel_conn.c.
 */
#include "daemon.h"
#include "log.h"
#include "sdnotify.h"
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

#define STATS_MS 250 /* how often the published view is refreshed */

static void tun_publish(struct tunnel *t);

void tun_set_error(struct tunnel *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
	va_end(ap);
	sdn_status("tunnel %s: %s", t->state, t->last_error);
}

void tun_set_state(struct tunnel *t, const char *state)
{
	t->state = state;
	if (t->last_error[0] && strcmp(state, "up"))
		sdn_status("tunnel %s: %s", state, t->last_error);
	else
		sdn_status("tunnel %s", state);
	tun_publish(t);
}

struct tconn *tun_client_up(struct tunnel *t)
{
	struct tconn *c = t->client;
	return c && c->state == TC_UP && c->h3 ? c : NULL;
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
		tconn_fail(c, "tunnel stopping");
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
	for (size_t i = 0; i < t->nlsns; i++) {
		struct tlsn *tl = &t->lsns[i];
		if (tl->io.fd >= 0) {
			loop_del(t->loop, &tl->io);
			close(tl->io.fd);
			tl->io.fd = -1;
		}
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
	if (!t || i >= t->nlsns)
		return false;
	*lc = t->lsns[i].lc;
	stats_sum(&t->lsns[i].ctr, 1, sum);
	return true;
}

static int open_listeners(struct tunnel *t)
{
	const struct conf *c = t->conf;
	size_t n = 0;
	for (size_t i = 0; i < c->nlisteners; i++)
		n += tunnel_owns(c->listeners[i]);
	if (n && !(t->lsns = aligned_alloc(_Alignof(struct tlsn), n * sizeof(*t->lsns))))
		return -ENOMEM;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *lc = c->listeners[i];
		if (!tunnel_owns(lc))
			continue;
		struct tlsn *tl = &t->lsns[t->nlsns++];
		memset(tl, 0, sizeof(*tl));
		tl->io.fd = -1;
		tl->t = t;
		tl->lc = conf_listener_ref(lc);
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
			log_err("listener %s: bind %s: %s", lc->name, a, strerror(-fd));
			return fd;
		}
		tl->io = (struct loop_io){
		    .fd = fd, .fn = lc->mode == MODE_HTTP ? thcli_accept_cb : tstream_accept_cb};
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
	t->reconnect.fn = tun_reconnect_cb;
	t->drain_timer.fn = drain_timer_cb;
	t->stats_timer.fn = stats_cb;
	t->rx_more.fn = rx_more_cb;
	t->flush.fn = flush_cb;
	t->loop = loop_new();
	for (t->up_cap = TS_UP_START; t->up_cap < (size_t)c->tunnel.transport.stream_buffer;)
		t->up_cap <<= 1;
	size_t max_udp = (size_t)c->tunnel.transport.max_udp_payload;
	t->nprobes = tun_pmtud_probes(max_udp, t->probes, TUN_PMTUD_PROBES);
	/* a GSO batch plus the packet that did not fit in it */
	t->txbuf = malloc(TUN_GSO_MAX + max_udp);
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
	if (!t->server)
		sdn_ready_hold(); /* released when the first attempt ends */
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
	for (size_t i = 0; i < t->nlsns; i++) {
		if (t->lsns[i].io.fd >= 0)
			close(t->lsns[i].io.fd);
		conf_listener_unref(t->lsns[i].lc);
	}
	free(t->lsns);
	if (t->udp.fd >= 0)
		close(t->udp.fd);
	if (t->cmdio.fd >= 0)
		close(t->cmdio.fd);
	if (t->ssl_ctx)
		wolfSSL_CTX_free(t->ssl_ctx);
	tallow_free(t);
	loop_free(t->loop);
	free(t->txbuf);
	free(t->rxbuf);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
