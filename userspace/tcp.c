/*
 * TCP forward: accept, connect to the backends in order, then relay. On the
 * userspace path each direction goes through a pipe with splice(2) so no
 * byte is copied to userspace. The pipe is the only buffer: when the reader
 * stalls the pipe fills, kfwd stops reading, and TCP flow control stalls the
 * writer. Connections the kernel splices relay in tcp_fast.c instead.
 */
#include "tcp.h"
#include "log.h"
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BUDGET   64  /* accepts per wakeup before yielding to other work */
#define LINGER_READS    64  /* of 16 KiB per look at a lingering socket */
#define PUMP_BUDGET     32  /* splice rounds per wakeup before yielding */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE/ENFILE/ENOBUFS/ENOMEM at accept */

static void conn_timer_cb(struct loop *l, struct loop_timer *t);
static void conn_pending_cb(struct loop *l, struct loop_pending *p);
static void conn_try_backend(struct tcp_conn *c);
static void conn_pump(struct tcp_conn *c);

static void conn_free(void *arg)
{
	free(arg);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Make close() send RST instead of FIN: that is how a reset is passed on. */
static void set_reset_on_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void tcp_conn_close(struct tcp_conn *c, int reason, bool reset_cli, bool reset_be)
{
	struct loop *l = c->w->loop;
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	if (reason >= 0)
		ctr_add(&c->wl->ctr->err[reason], 1);
	loop_del(l, &c->cli.io);
	loop_del(l, &c->be.io);
	loop_timer_cancel(l, &c->timer);
	loop_timer_cancel(l, &c->rate_timer);
	loop_pending_cancel(l, &c->pend);
	if (c->fast)
		tcp_fast_close(c);
	if (c->px)
		proxy_tunnel_end(c, reason);
	if (reset_cli)
		set_reset_on_close(c->cli.io.fd);
	if (reset_be)
		set_reset_on_close(c->be.io.fd);
	close_fd(&c->cli.io.fd);
	close_fd(&c->be.io.fd);
	close_fd(&c->up.pipe[0]);
	close_fd(&c->up.pipe[1]);
	close_fd(&c->down.pipe[0]);
	close_fd(&c->down.pipe[1]);

	if (c->prev)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;

	conf_listener_unref(c->lc);
	wlsn_flow_end(c->wl);
	if (loop_defer(l, conn_free, c))
		log_err("tcp: cannot defer a free; leaking one connection object");
}

/* Bytes fd's peer has not acknowledged yet (the FIN counts one); 0 when it
 * cannot tell. */
static int unacked(int fd)
{
	int outq = 0;
	return ioctl(fd, SIOCOUTQ, &outq) ? 0 : outq;
}

/*
 * max_bytes: every byte relayed up to the limit reaches its peer. Closing
 * at once would reset the connection wherever unread bytes wait (the limit
 * left them there), and a peer can lose to that reset the bytes it had
 * received but not read yet. So kfwd lingers, as a web server does before
 * closing on a client that still sends: the writes are shut (a FIN after
 * the last byte), whatever the peers still send is read and dropped, and
 * the connection is closed once both peers have acknowledged everything and
 * ended their own streams, or after TCP_LINGER_MS.
 */
static void conn_linger(struct tcp_conn *c)
{
	struct loop *l = c->w->loop;
	if (c->fast)
		tcp_fast_stop(c);
	loop_timer_cancel(l, &c->rate_timer);
	loop_pending_cancel(l, &c->pend);
	shutdown(c->cli.io.fd, SHUT_WR);
	shutdown(c->be.io.fd, SHUT_WR);
	c->state = C_LINGER;
	c->linger_end = loop_now(l) + TCP_LINGER_MS;
	c->linger_ms = 1;
	loop_timer_set(l, &c->timer, c->linger_ms);
}

/* Read and drop what leg's peer sends, LINGER_READS reads at most (the timer
 * comes back for more); note when its stream has ended. */
static void linger_drain(struct leg *leg)
{
	char buf[16384];
	for (int i = 0; i < LINGER_READS && !leg->ended; i++) {
		ssize_t n = recv(leg->io.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			leg->ended = true;
	}
}

static void linger_check(struct tcp_conn *c)
{
	struct loop *l = c->w->loop;
	linger_drain(&c->cli);
	linger_drain(&c->be);
	bool done = c->cli.ended && c->be.ended && !unacked(c->cli.io.fd) && !unacked(c->be.io.fd);
	if (done || loop_now(l) >= c->linger_end) {
		tcp_conn_close(c, ERR_MAX_BYTES, false, false);
		return;
	}
	c->linger_ms = c->linger_ms >= 32 ? 64 : c->linger_ms * 2;
	loop_timer_set(l, &c->timer, c->linger_ms);
}

void tcp_conn_policy_close(struct tcp_conn *c, int why)
{
	char a[ADDR_STRLEN] = "?";
	struct addr peer = {.len = sizeof(peer.u.ss)};
	if (!getpeername(c->cli.io.fd, &peer.u.sa, &peer.len))
		addr_format(&peer, a);
	log_info("listener %s: connection from %s closed by policy: %s", c->wl->l->name,
	         c->lc->log_client_address || c->lc->mode != MODE_CONNECT ? a : "(client)",
	         stats_err_name(why));
	if (why == ERR_MAX_BYTES)
		conn_linger(c);
	else
		tcp_conn_close(c, why, false, false);
}

void tcp_conn_reset_by(struct tcp_conn *c, bool client)
{
	if (client)
		tcp_conn_close(c, ERR_CLIENT_RESET, false, true);
	else
		tcp_conn_close(c, ERR_BACKEND_RESET, true, false);
}

static int classify_connect_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return ERR_CONNECT_REFUSED;
	case ETIMEDOUT:
		return ERR_CONNECT_TIMEOUT;
	default:
		return ERR_CONNECT_OTHER;
	}
}

static int pipe_open(struct dir *d, int size)
{
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* Larger pipes mean fewer splice calls; may be refused (pipe-max-size,
	 * per-user limits): keep whatever size we get. */
	fcntl(d->pipe[1], F_SETPIPE_SZ, size);
	int got = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->cap = got > 0 ? (size_t)got : 65536;
	return 0;
}

/* Put early[0..n) into d's empty pipe, growing it if needed, so they leave
 * before anything spliced in later: the pipe is the relay's one buffer, and
 * the pump needs no second source. Return 0 or -errno. */
static int pipe_preload(struct dir *d, const char *early, size_t n)
{
	if (n > d->cap) {
		int got = fcntl(d->pipe[1], F_SETPIPE_SZ, (int)n);
		if (got < 0)
			return -errno;
		d->cap = (size_t)got;
	}
	ssize_t w = write(d->pipe[1], early, n);
	if (w != (ssize_t)n)
		return w < 0 ? -errno : -ENOSPC;
	d->inpipe = n;
	return 0;
}

static void rate_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct tcp_conn *c = container_of(t, struct tcp_conn, rate_timer);
	if (c->state == C_RELAY && c->fast)
		tcp_fast_pump(c);
	else if (c->state == C_RELAY)
		conn_pump(c);
}

/*
 * How many bytes d may read now, at most want: max_bytes counts what both
 * directions read (so no byte beyond it is relayed), max_rate_bps this
 * direction's bucket. An empty bucket arms the rate timer: the socket is
 * left unread meanwhile, so its sender's TCP window closes.
 */
static size_t read_allowance(struct tcp_conn *c, struct dir *d, size_t want)
{
	uint64_t wait_ms;
	size_t n = policy_allowance(c->lc, &d->bucket, loop_now(c->w->loop), c->up.in + c->down.in,
	                            d->in, want, &wait_ms);
	if (wait_ms && !loop_timer_armed(&c->rate_timer))
		loop_timer_set(c->w->loop, &c->rate_timer, wait_ms);
	return n;
}

/*
 * Move bytes src -> pipe -> dst until nothing moves or the budget is spent.
 * Return 1 if the budget ran out with work left, 0 when idle, or a negative
 * value naming who failed: TCP_FAIL_SRC or TCP_FAIL_DST.
 */
static int pump_dir(struct tcp_conn *c, struct leg *src, struct leg *dst, struct dir *d,
                    uint64_t *bytes)
{
	for (int round = 0; round < PUMP_BUDGET; round++) {
		bool progress = false;
		size_t room = read_allowance(c, d, d->cap - d->inpipe);
		if (!d->eof && src->rd && room > 0) {
			ssize_t n = splice(src->io.fd, NULL, d->pipe[1], NULL, room,
			                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe += (size_t)n;
				d->in += (uint64_t)n;
				progress = true;
			} else if (n == 0) {
				d->eof = true;
				progress = true;
			} else if (errno == EAGAIN) {
				/* EAGAIN also means "pipe out of slots" while it holds data: only
				 * an empty pipe proves the socket is drained. */
				if (d->inpipe == 0)
					src->rd = false;
			} else if (errno != EINTR) {
				return TCP_FAIL_SRC;
			}
		}
		if (d->inpipe > 0 && dst->wr) {
			ssize_t n = splice(d->pipe[0], NULL, dst->io.fd, NULL, d->inpipe,
			                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe -= (size_t)n;
				d->bytes += (uint64_t)n;
				ctr_add(bytes, (uint64_t)n);
				progress = true;
			} else if (n < 0 && errno == EAGAIN) {
				dst->wr = false;
			} else if (n < 0 && errno != EINTR) {
				return TCP_FAIL_DST;
			}
		}
		if (d->eof && d->inpipe == 0 && !d->shut) {
			shutdown(dst->io.fd, SHUT_WR);
			d->shut = true;
		}
		if (!progress)
			return 0;
		c->last_active = loop_now(c->w->loop);
	}
	return 1;
}

static void conn_pump(struct tcp_conn *c)
{
	int up = pump_dir(c, &c->cli, &c->be, &c->up, &c->wl->ctr->bytes_in);
	if (up < 0) {
		tcp_conn_reset_by(c, up == TCP_FAIL_SRC);
		return;
	}
	int down = pump_dir(c, &c->be, &c->cli, &c->down, &c->wl->ctr->bytes_out);
	if (down < 0) {
		tcp_conn_reset_by(c, down == TCP_FAIL_DST);
		return;
	}
	if (c->up.shut && c->down.shut) {
		tcp_conn_close(c, -1, false, false);
		return;
	}
	if (c->lc->max_bytes > 0 && !policy_bytes_left(c->lc, c->up.in + c->down.in) &&
	    !c->up.inpipe && !c->down.inpipe) {
		tcp_conn_policy_close(c, ERR_MAX_BYTES);
		return;
	}
	if (up > 0 || down > 0)
		loop_pending_add(c->w->loop, &c->pend);
}

/* Start relaying; early[0..n) are client bytes read before (a proxy's
 * pipelined bytes), delivered to the backend first. A fast connection's
 * early bytes are in its relay's buffer already (tcp_fast_adopt). */
static void conn_start_relay(struct tcp_conn *c, const char *early, size_t n)
{
	if (c->fast) {
		tcp_fast_start(c);
		return;
	}
	int size = c->lc->buffer_size, err = 0;
	if ((err = pipe_open(&c->up, size)) || (err = pipe_open(&c->down, size)) ||
	    (n && (err = pipe_preload(&c->up, early, n)))) {
		log_warn("listener %s: pipe: %s", c->wl->l->name, strerror(-err));
		tcp_conn_close(c, ERR_RESOURCE, true, true);
		return;
	}
	if (c->lc->max_rate_bps > 0) {
		uint64_t now = loop_now(c->w->loop), rate = (uint64_t)c->lc->max_rate_bps;
		policy_bucket_init(&c->up.bucket, rate, now, 0);
		policy_bucket_init(&c->down.bucket, rate, now, 0);
	}
	c->state = C_RELAY;
	/* Edges seen while connecting were not acted on (the client's early bytes,
	 * a banner arriving with the SYN-ACK): start from "ready" and let EAGAIN
	 * clear what is not. */
	c->cli.rd = c->cli.wr = c->be.rd = c->be.wr = true;
	c->last_active = loop_now(c->w->loop);
	tcp_relay_timers(c);
	conn_pump(c);
}

static void conn_backend_failed(struct tcp_conn *c, int reason)
{
	struct loop *l = c->w->loop;
	ctr_add(&c->wl->ctr->err[reason], 1);
	char a[ADDR_STRLEN];
	log_debug("listener %s: backend %s: %s", c->wl->l->name,
	          addr_format(&c->lc->backends.v[c->backend].a, a), stats_err_name(reason));
	loop_del(l, &c->be.io);
	if (c->fast)
		tcp_fast_backend_drop(c);
	close_fd(&c->be.io.fd);
	loop_timer_cancel(l, &c->timer);
	c->backend++;
	if (c->backend >= c->lc->backends.n) {
		tcp_conn_close(c, ERR_NO_BACKEND, false, false);
		return;
	}
	conn_try_backend(c);
}

static void conn_try_backend(struct tcp_conn *c)
{
	const struct addr *a = &c->lc->backends.v[c->backend].a;
	int fd = socket(addr_family(a), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_backend_failed(c, ERR_RESOURCE);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->be.io.fd = fd;
	c->be.rd = c->be.wr = false;
	if (c->fast)
		tcp_fast_backend(c, fd);
	if (connect(fd, &a->u.sa, a->len) && errno != EINPROGRESS) {
		conn_backend_failed(c, classify_connect_error(errno));
		return;
	}
	if (loop_add(c->w->loop, &c->be.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		conn_backend_failed(c, ERR_RESOURCE);
		return;
	}
	loop_timer_set(c->w->loop, &c->timer, (uint64_t)c->lc->connect_timeout_ms);
}

static void conn_connecting_event(struct tcp_conn *c, struct leg *leg, uint32_t ev)
{
	if (leg == &c->cli) {
		/* The client's bytes (and FIN) wait in its socket until the backend is up;
		 * only a reset or error ends the attempt early. */
		if (ev & EPOLLERR)
			tcp_conn_reset_by(c, true);
		return;
	}
	if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return;
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(c->be.io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		conn_backend_failed(c, classify_connect_error(err));
		return;
	}
	loop_timer_cancel(c->w->loop, &c->timer);
	conn_start_relay(c, NULL, 0);
}

static void conn_event(struct tcp_conn *c, struct leg *leg, uint32_t ev)
{
	if (c->state == C_CLOSED)
		return;
	if (c->state == C_LINGER) {
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			linger_drain(leg);
		return;
	}
	if (c->state == C_CONNECTING) {
		conn_connecting_event(c, leg, ev);
		return;
	}
	if (ev & EPOLLERR) {
		/* A reset can arrive on a leg we would not touch again (it already sent
		 * FIN and the other side is idle): collect it here and pass it on now. */
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(leg->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			log_debug("listener %s: %s socket: %s", c->wl->l->name,
			          leg == &c->cli ? "client" : "backend", strerror(err));
			tcp_conn_reset_by(c, leg == &c->cli);
			return;
		}
	}
	if (c->fast) {
		tcp_fast_event(c, leg, ev);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		leg->rd = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		leg->wr = true;
	conn_pump(c);
}

static void cli_io_cb(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct tcp_conn *c = container_of(io, struct tcp_conn, cli.io);
	conn_event(c, &c->cli, ev);
}

static void be_io_cb(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct tcp_conn *c = container_of(io, struct tcp_conn, be.io);
	conn_event(c, &c->be, ev);
}

static void conn_pending_cb(struct loop *l, struct loop_pending *p)
{
	struct tcp_conn *c = container_of(p, struct tcp_conn, pend);
	if (c->state == C_RELAY && c->fast)
		tcp_fast_pump(c);
	else if (c->state == C_RELAY)
		conn_pump(c);
}

static void conn_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct tcp_conn *c = container_of(t, struct tcp_conn, timer);
	if (c->state == C_CONNECTING) {
		conn_backend_failed(c, ERR_CONNECT_TIMEOUT);
		return;
	}
	if (c->state == C_LINGER) {
		linger_check(c);
		return;
	}
	if (c->state != C_RELAY)
		return;
	/* Lazy idle check: activity only stamps last_active, the timer re-arms here.
	 * The kernel moves a fast connection's bytes: its counters tell. */
	if (c->fast)
		tcp_fast_fold(c);
	uint64_t idle = (uint64_t)conf_idle_ms(c->lc), now = loop_now(l);
	uint64_t since = now - c->last_active;
	if (since >= idle) {
		tcp_conn_policy_close(c, ERR_IDLE_TIMEOUT);
		return;
	}
	uint64_t total = c->fast ? tcp_fast_total(c) : c->up.bytes + c->down.bytes;
	int why = policy_check(&c->pol, c->lc, now, total);
	if (why == ERR_MAX_BYTES && c->fast) {
		/* The pump closes it, once the kernel's last redirects have reached
		 * their peer (tcp_fast.c, limit_reached). */
		loop_pending_add(l, &c->pend);
		why = -1;
	}
	if (why >= 0) {
		tcp_conn_policy_close(c, why);
		return;
	}
	tcp_relay_timers(c);
}

void tcp_relay_timers(struct tcp_conn *c)
{
	struct loop *l = c->w->loop;
	uint64_t now = loop_now(l);
	uint64_t next = (uint64_t)conf_idle_ms(c->lc) - (now - c->last_active);
	uint64_t pol = policy_next_ms(&c->pol, c->lc, now);
	if (pol < next)
		next = pol;
	/* The kernel moves a spliced connection's bytes unseen: look at its counts. */
	if (c->fast && c->lc->max_bytes > 0 && next > TCP_FAST_POLICY_MS)
		next = TCP_FAST_POLICY_MS;
	loop_timer_set(l, &c->timer, next);
}

/* The fields every connection starts with; the caller counts the flow. */
static void conn_init(struct tcp_conn *c, struct wlsn *wl, int cli_fd)
{
	struct worker *w = wl->w;
	c->w = w;
	c->wl = wl;
	c->lc = conf_listener_ref(wl->lc);
	c->state = C_CONNECTING;
	c->cli.io = (struct loop_io){.fd = cli_fd, .fn = cli_io_cb};
	c->be.io = (struct loop_io){.fd = -1, .fn = be_io_cb};
	c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
	c->timer.fn = conn_timer_cb;
	c->rate_timer.fn = rate_timer_cb;
	c->pend.fn = conn_pending_cb;
	policy_start(&c->pol, c->lc, loop_now(w->loop));
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
}

int tcp_relay_adopt(struct wlsn *wl, int cli_fd, int be_fd, const char *early, size_t n,
                    struct proxy_tunnel *px)
{
	struct tcp_handover h = {.early = early, .n = n, .cli = {.slot = -1}, .be = {.slot = -1}};
	return tcp_relay_handover(wl, cli_fd, be_fd, &h, px);
}

int tcp_relay_handover(struct wlsn *wl, int cli_fd, int be_fd, struct tcp_handover *h,
                       struct proxy_tunnel *px)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Nobody else holds the flow's counts now: hand them back. */
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		close(cli_fd);
		close(be_fd);
		if (wl->w->fp) {
			fastpath_release(wl->w->fp, &h->cli);
			fastpath_release(wl->w->fp, &h->be);
		}
		struct tcp_conn tmp = {.px = px, .w = wl->w, .wl = wl};
		if (px)
			proxy_tunnel_end(&tmp, ERR_RESOURCE);
		wlsn_flow_end(wl);
		return -ENOMEM;
	}
	conn_init(c, wl, cli_fd);
	c->px = px;
	c->be.io.fd = be_fd;
	if (h->cli.slot >= 0 && tcp_fast_adopt(c, h)) {
		tcp_conn_close(c, ERR_RESOURCE, true, true);
		return -ENOMEM;
	}
	if (loop_add(c->w->loop, &c->cli.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) ||
	    loop_add(c->w->loop, &c->be.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		tcp_conn_close(c, ERR_RESOURCE, true, true);
		return -ENOMEM;
	}
	conn_start_relay(c, h->early, h->n);
	return 0;
}

static void conn_new(struct wlsn *wl, int fd)
{
	struct worker *w = wl->w;
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		close(fd);
		return;
	}
	/* Also orders us after the sockops program: it runs on the new socket
	 * under the socket lock, which this setsockopt takes. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_init(c, wl, fd);
	wlsn_flow_begin(wl);
	if (w->fp && tcp_fast_accept(c)) {
		tcp_conn_close(c, ERR_RESOURCE, true, false);
		return;
	}
	if (loop_add(w->loop, &c->cli.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		tcp_conn_close(c, ERR_RESOURCE, false, false);
		return;
	}
	conn_try_backend(c);
}

void tcp_accept_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct wlsn *wl = container_of(io, struct wlsn, io);
	for (int i = 0; i < ACCEPT_BUDGET && !wl->closed; i++) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Retrying at once only spins: the connection stays queued
				 * until a descriptor frees up. Pause accepting for a while. */
				ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
				if (!wl->accept_retry.slot)
					log_warn(
					    "listener %s: accept: %s; pausing accepts for %d ms",
					    wl->l->name, strerror(errno), ACCEPT_PAUSE_MS);
				loop_timer_set(l, &wl->accept_retry, ACCEPT_PAUSE_MS);
				return;
			}
			/* ECONNABORTED and friends: the next one may be fine. */
			continue;
		}
		if (lsn_active(wl->l) >= (uint64_t)wl->lc->max_flows) {
			ctr_add(&wl->ctr->err[ERR_FLOW_LIMIT], 1);
			close(fd);
			continue;
		}
		if (wl->lc->mode == MODE_CONNECT)
			proxy_accept(wl, fd);
		else
			conn_new(wl, fd);
	}
	/* Budget spent with connections maybe still queued: edge-triggered epoll will
	 * not tell again, so look once more on the next turn. */
	if (!wl->closed)
		loop_mod(l, io, EPOLLIN);
}

void tcp_accept_retry_cb(struct loop *l, struct loop_timer *t)
{
	struct wlsn *wl = container_of(t, struct wlsn, accept_retry);
	if (!wl->closed)
		tcp_accept_cb(l, &wl->io, EPOLLIN);
}

void tcp_cut_all(struct worker *w)
{
	while (w->conns)
		tcp_conn_close(w->conns, ERR_SHUTDOWN_CUT, true, true);
}
