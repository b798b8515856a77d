/*
 * The relay of a TCP connection the kernel splices (the fast path). Both
 * sockets sit in the sockhash; the verdict (bpf/splice.bpf.c) passes a
 * socket's bytes to kfwd until kfwd has written every one of them to the
 * peer, then redirects them in the kernel. kfwd's part, per direction:
 *
 *  - read the passed bytes (recv() through the psock) and write them to the
 *    peer, adding each write to `written`;
 *  - order: passed bytes that come after redirected ones are written only
 *    once the peer's send queue holds every earlier byte, i.e. queued >=
 *    written + redirected, where queued is tcpi_bytes_acked + SIOCOUTQ less
 *    its value when the relay started;
 *  - EOF: recv() returns 0 AND every passed byte has been read (passed bytes
 *    may still wait in the psock's backlog when the FIN is seen);
 *  - FIN: after EOF, shutdown(SHUT_WR) the peer only once its send queue
 *    holds written + redirected bytes (a FIN does not travel with a redirect);
 *  - an RST or error on either socket closes both with RST.
 * No event ends the three waits (order, EOF, drain): a timer per connection
 * polls, from 1 ms up to 4 ms (order) or 64 ms (EOF, drain) while it lasts.
 */
#include "fastpath.h"
#include "log.h"
#include "policy.h"
#include "tcp.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define FAST_BUDGET   32 /* recv/send rounds per direction and wakeup */
#define POLL_MIN_MS   1
#define POLL_MAX_MS   64   /* EOF and drain waits: a reader may stall for long */
#define POLL_ORDER_MS 4    /* order waits: bytes are held and every new one is passed */
#define FOLD_MS       1000 /* how often live connections' bytes reach the stats */

enum fast_wait {
	W_NONE,
	W_ORDER, /* passed bytes in hand, redirected ones not yet in the peer's queue */
	W_EOF,   /* recv() said 0 while passed bytes are still on their way */
	W_DRAIN, /* EOF; redirected bytes not yet in the peer's queue, FIN held back */
};

/* One direction: bytes read from src, written to dst. */
struct fast_dir {
	char *buf; /* passed bytes read, not yet written */
	size_t len, off, cap;
	uint64_t rbytes;   /* bytes recv()'d from src */
	uint64_t ubytes;   /* bytes kfwd wrote to dst */
	uint64_t ok_redir; /* `redirected` when the order check last passed */
	uint64_t skip;     /* of rbytes, the request head a proxy consumed (not relayed) */
	struct policy_bucket bucket; /* max_rate_bps, over redirected + rbytes - skip */
	uint64_t acct, acct_k;       /* bytes (all, kernel-moved) already in the stats */
	bool fin;                    /* src reported RDHUP/HUP: recv() even if nothing was passed */
	bool more; /* the last recv() returned bytes: there may be more (or a FIN) */
	bool eof;  /* src's stream has ended */
	bool shut; /* FIN passed on to dst */
	enum fast_wait wait;
};

struct tcp_fast {
	struct tcp_conn *c;
	struct fastpath_sock cli, be;
	int64_t qbase_cli, qbase_be; /* queued() of each socket when the relay started */
	struct fast_dir up, down;    /* client -> backend, backend -> client */
	uint64_t flow_id;            /* in the flow table; 0: not spliced */
	uint64_t replied;            /* bytes kfwd wrote to the client before the relay (the 200) */
	unsigned poll_ms;
	struct loop_timer poll;
	bool limit_wait; /* max_bytes reached, redirected bytes not yet in their peer's queue */
	int sndbuf;      /* forced on both sockets (fastpath_sndbuf_get), 0: autotuned */
};

/* What one direction works with. */
struct fast_way {
	struct tcp_conn *c;
	struct leg *src, *dst;
	struct fast_dir *d;
	struct kfwd_sock *st; /* src's state; NULL when src has no slot */
	int64_t qbase;        /* dst's */
};

static struct fast_way way_up(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	return (struct fast_way){c, &c->cli, &c->be, &f->up, f->cli.st, f->qbase_be};
}

static struct fast_way way_down(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	return (struct fast_way){c, &c->be, &c->cli, &f->down, f->be.st, f->qbase_cli};
}

static uint64_t load(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Bytes ever put into fd's send queue: acked + still queued. Acked is read
 * first: an ACK between the two reads can only make the sum smaller. */
static int64_t queued(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return -1;
	return (int64_t)ti.tcpi_bytes_acked + outq;
}

/* Whether dst's send queue holds every byte this direction sent so far:
 * 1 yes, 0 not yet, -1 cannot tell (dst is gone). */
static int way_caught_up(const struct fast_way *x)
{
	int64_t q = queued(x->dst->io.fd);
	if (q < 0)
		return -1;
	return fastpath_caught_up(x->st, x->d->ubytes, q, x->qbase);
}

/* Write held bytes to dst. Return 1 on progress, 0 if blocked, TCP_FAIL_DST on a dst error. */
static int way_flush(const struct fast_way *x)
{
	struct fast_dir *d = x->d;
	if (x->st && load(&x->st->redirected) != d->ok_redir) {
		int r = way_caught_up(x);
		if (r < 0)
			return TCP_FAIL_DST;
		if (!r) {
			d->wait = W_ORDER;
			return 0;
		}
		d->ok_redir = load(&x->st->redirected);
	}
	if (d->wait == W_ORDER)
		d->wait = W_NONE;
	int progress = 0;
	while (d->off < d->len && x->dst->wr) {
		ssize_t n = send(x->dst->io.fd, d->buf + d->off, d->len - d->off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			d->off += (size_t)n;
			d->ubytes += (uint64_t)n;
			if (x->st)
				__atomic_fetch_add(&x->st->written, (uint64_t)n, __ATOMIC_SEQ_CST);
			progress = 1;
		} else if (n < 0 && errno == EAGAIN) {
			x->dst->wr = false;
		} else if (n < 0 && errno != EINTR) {
			log_debug("listener %s: send: %s", x->c->wl->l->name, strerror(errno));
			return TCP_FAIL_DST;
		}
	}
	if (d->off == d->len)
		d->off = d->len = 0;
	return progress;
}

/* Bytes this direction moved so far, by the kernel and by kfwd (the head a
 * proxy consumed is not relayed, so not counted). */
static uint64_t way_moved(const struct fast_way *x)
{
	return (x->st ? load(&x->st->redirected) : 0) + x->d->rbytes - x->d->skip;
}

/*
 * How many bytes the relay may read now (at most its buffer): max_bytes
 * bounds both directions together, max_rate_bps this direction's bucket,
 * which the kernel's redirects drain too. An empty bucket arms the rate
 * timer and leaves the bytes in the socket, so the sender's window closes.
 */
static size_t way_allowance(const struct fast_way *x)
{
	struct tcp_conn *c = x->c;
	uint64_t wait_ms;
	size_t n = policy_allowance(c->lc, &x->d->bucket, loop_now(c->w->loop), tcp_fast_total(c),
	                            way_moved(x), x->d->cap, &wait_ms);
	if (wait_ms && !loop_timer_armed(&c->rate_timer))
		loop_timer_set(c->w->loop, &c->rate_timer, wait_ms);
	return n;
}

/* Read the next passed bytes. Return 1 on progress, 0 if nothing, TCP_FAIL_SRC on a src error. */
static int way_read(const struct fast_way *x)
{
	struct fast_dir *d = x->d;
	/* While everything is redirected, wakeups carry nothing to read: skip the
	 * syscall unless bytes were passed, the last read was not the end of what
	 * was there, or the stream may have ended. */
	if (x->st && !d->fin && !d->more && load(&x->st->passed) <= d->rbytes)
		return 0;
	/* A capped flow: what kfwd reads comes out of the budget the verdicts
	 * share, taken before the read, the unread rest given back after it. */
	struct kfwd_sock *cli = x->c->fast->cli.st;
	size_t want = (size_t)fastpath_budget_take(cli, way_allowance(x));
	if (want == 0)
		return 0;
	ssize_t n = recv(x->src->io.fd, d->buf, want, MSG_DONTWAIT);
	fastpath_budget_give(cli, n > 0 ? want - (size_t)n : want);
	d->more = n > 0;
	if (n > 0) {
		d->len = (size_t)n;
		d->off = 0;
		d->rbytes += (uint64_t)n;
		if (d->wait == W_EOF)
			d->wait = W_NONE;
		return 1;
	}
	if (n == 0 && !fastpath_eof(x->st, d->rbytes)) {
		d->wait = W_EOF;
		x->src->rd = false;
		return 0;
	}
	if (n == 0) {
		d->eof = true;
		if (d->wait == W_EOF)
			d->wait = W_NONE;
		return 1;
	}
	if (errno == EAGAIN) {
		x->src->rd = false;
		return 0;
	}
	if (errno == EINTR)
		return 0;
	log_debug("listener %s: recv: %s", x->c->wl->l->name, strerror(errno));
	return TCP_FAIL_SRC;
}

/* After EOF: pass the FIN on once dst holds everything. */
static int way_finish(const struct fast_way *x)
{
	int r = way_caught_up(x);
	if (r < 0)
		return TCP_FAIL_DST;
	if (!r) {
		x->d->wait = W_DRAIN;
		return 0;
	}
	shutdown(x->dst->io.fd, SHUT_WR);
	x->d->shut = true;
	x->d->wait = W_NONE;
	return 1;
}

/* max_rate_bps on a spliced direction: what the bucket holds now is what the
 * kernel may redirect until kfwd looks again (it passes the rest to kfwd,
 * which reads no faster than the rate). */
static void way_limit(const struct fast_way *x)
{
	const struct conf_listener *lc = x->c->lc;
	if (lc->max_rate_bps <= 0 || !x->st || !x->c->spliced)
		return;
	uint64_t tokens = policy_bucket_take(&x->d->bucket, (uint64_t)lc->max_rate_bps,
	                                     loop_now(x->c->w->loop), way_moved(x));
	fastpath_limit(x->st, load(&x->st->redirected) + tokens);
}

/* Move one direction until it blocks or the budget is spent. Return 1 when
 * the budget ran out, 0 when idle, TCP_FAIL_SRC or TCP_FAIL_DST. */
static int way_pump(struct tcp_conn *c, const struct fast_way *x)
{
	struct fast_dir *d = x->d;
	for (int round = 0; round < FAST_BUDGET; round++) {
		int r = 0;
		if (d->off < d->len)
			r = way_flush(x);
		else if (!d->eof && x->src->rd)
			r = way_read(x);
		else if (d->eof && !d->shut)
			r = way_finish(x);
		if (r < 0)
			return r;
		if (r == 0)
			return 0;
		c->last_active = loop_now(c->w->loop);
	}
	return 1;
}

static void poll_update(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	struct loop *l = c->w->loop;
	if (f->up.wait == W_NONE && f->down.wait == W_NONE && !f->limit_wait) {
		loop_timer_cancel(l, &f->poll);
		f->poll_ms = POLL_MIN_MS;
		return;
	}
	if (!loop_timer_armed(&f->poll))
		loop_timer_set(l, &f->poll, f->poll_ms);
}

static void poll_cb(struct loop *l, struct loop_timer *t)
{
	struct tcp_fast *f = container_of(t, struct tcp_fast, poll);
	struct tcp_conn *c = f->c;
	if (f->up.wait == W_EOF)
		c->cli.rd = true;
	if (f->down.wait == W_EOF)
		c->be.rd = true;
	unsigned cap =
	    f->up.wait == W_ORDER || f->down.wait == W_ORDER ? POLL_ORDER_MS : POLL_MAX_MS;
	f->poll_ms = f->poll_ms * 2 > cap ? cap : f->poll_ms * 2;
	tcp_fast_pump(c);
}

/*
 * max_bytes: whether the connection has moved all it may and every byte of it
 * is in its peer's send queue, so closing it now cuts nothing. A capped flow
 * is there once its budget is spent: nothing moves any more, so both
 * directions hold still for the queue check; until the kernel's last
 * redirects have reached their peer, the poll timer looks again.
 */
static bool limit_reached(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	if (f->up.off != f->up.len || f->down.off != f->down.len)
		return false;
	uint64_t left = fastpath_budget_left(f->cli.st);
	if (left == UINT64_MAX) /* not spliced: kfwd alone moved the bytes */
		return !policy_bytes_left(c->lc, tcp_fast_total(c));
	if (left)
		return false;
	struct fast_way up = way_up(c), down = way_down(c);
	f->limit_wait = !way_caught_up(&up) || !way_caught_up(&down);
	return !f->limit_wait; /* a socket that is gone (-1) has nothing to wait for */
}

void tcp_fast_pump(struct tcp_conn *c)
{
	struct fast_way up = way_up(c), down = way_down(c);
	int u = way_pump(c, &up);
	if (u < 0) {
		tcp_conn_reset_by(c, u == TCP_FAIL_SRC);
		return;
	}
	int dn = way_pump(c, &down);
	if (dn < 0) {
		tcp_conn_reset_by(c, dn == TCP_FAIL_DST);
		return;
	}
	if (c->fast->up.shut && c->fast->down.shut) {
		tcp_conn_close(c, -1, false, false);
		return;
	}
	if (c->lc->max_bytes > 0 && limit_reached(c)) {
		tcp_conn_policy_close(c, ERR_MAX_BYTES);
		return;
	}
	way_limit(&up);
	way_limit(&down);
	if (u > 0 || dn > 0)
		loop_pending_add(c->w->loop, &c->pend);
	poll_update(c);
}

void tcp_fast_event(struct tcp_conn *c, struct leg *leg, uint32_t ev)
{
	struct fast_dir *d = leg == &c->cli ? &c->fast->up : &c->fast->down;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		d->fin = true;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		leg->rd = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		leg->wr = true;
	tcp_fast_pump(c);
}

void tcp_fast_stop(struct tcp_conn *c)
{
	tcp_fast_fold(c);
	loop_timer_cancel(c->w->loop, &c->fast->poll);
}

/* ---- counters ------------------------------------------------------------ */

static void dir_fold(struct tcp_conn *c, struct fast_dir *d, const struct kfwd_sock *st,
                     uint64_t *bytes, uint64_t *kbytes)
{
	uint64_t k = st ? load(&st->redirected) : 0, all = k + d->ubytes;
	if (all > d->acct) {
		ctr_add(bytes, all - d->acct);
		d->acct = all;
		c->last_active = loop_now(c->w->loop);
	}
	if (k > d->acct_k) {
		ctr_add(kbytes, k - d->acct_k);
		d->acct_k = k;
	}
}

void tcp_fast_fold(struct tcp_conn *c)
{
	struct lsn_ctr *ctr = c->wl->ctr;
	dir_fold(c, &c->fast->up, c->fast->cli.st, &ctr->bytes_in, &ctr->kbytes_in);
	dir_fold(c, &c->fast->down, c->fast->be.st, &ctr->bytes_out, &ctr->kbytes_out);
}

static void fold_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct worker *w = container_of(t, struct worker, fold_timer);
	for (struct tcp_conn *c = w->conns; c; c = c->next)
		if (c->fast && c->state == C_RELAY)
			tcp_fast_fold(c);
	if (w->nfast > 0)
		loop_timer_set(l, t, FOLD_MS);
}

/* ---- life cycle ---------------------------------------------------------- */

/* The relay's state for a client socket whose slot is claimed; NULL when out of memory. */
static struct tcp_fast *fast_new(struct tcp_conn *c, const struct fastpath_sock *cli, size_t upcap)
{
	struct tcp_fast *f = calloc(1, sizeof(*f));
	size_t cap = (size_t)c->lc->buffer_size;
	char *b1 = malloc(upcap > cap ? upcap : cap), *b2 = malloc(cap);
	if (!f || !b1 || !b2) {
		free(f);
		free(b1);
		free(b2);
		return NULL;
	}
	*f = (struct tcp_fast){.c = c, .cli = *cli, .be = {.slot = -1}, .poll_ms = POLL_MIN_MS};
	f->up = (struct fast_dir){.buf = b1, .cap = upcap > cap ? upcap : cap};
	f->down = (struct fast_dir){.buf = b2, .cap = cap};
	f->poll.fn = poll_cb;
	return f;
}

/* Count c as a fast connection of its worker; the fold timer runs while there are any. */
static void fast_attach(struct tcp_conn *c, struct tcp_fast *f)
{
	struct worker *w = c->w;
	c->fast = f;
	w->nfast++;
	w->fold_timer.fn = fold_timer_cb;
	if (!loop_timer_armed(&w->fold_timer))
		loop_timer_set(w->loop, &w->fold_timer, FOLD_MS);
}

void tcp_fast_kick(int fd)
{
	/* Bytes that arrived before accept() wait in the receive queue, unseen by
	 * the verdict (it skips sockets without a file); this makes the kernel
	 * run it on them now. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
}

int tcp_fast_accept(struct tcp_conn *c)
{
	struct worker *w = c->w;
	struct fastpath_sock s;
	if (fastpath_claim(w->fp, c->cli.io.fd, &s))
		return 0;
	struct tcp_fast *f = fast_new(c, &s, 0);
	if (!f) {
		/* The socket is in the sockhash: only recv() can read it, so the
		 * splice(2) relay is no fallback. */
		fastpath_release(w->fp, &s);
		return -ENOMEM;
	}
	fast_attach(c, f);
	tcp_fast_kick(c->cli.io.fd);
	return 0;
}

int tcp_fast_adopt(struct tcp_conn *c, struct tcp_handover *h)
{
	struct tcp_fast *f = fast_new(c, &h->cli, h->n);
	if (!f) {
		fastpath_release(c->w->fp, &h->cli);
		fastpath_release(c->w->fp, &h->be);
		return -ENOMEM;
	}
	f->be = h->be;
	/* The proxy recv()'d the head and the early bytes: both count against
	 * `passed` (EOF rule); the early bytes leave first, the head never. */
	memcpy(f->up.buf, h->early, h->n);
	f->up.len = h->n;
	f->up.rbytes = h->consumed + h->n;
	f->up.skip = h->consumed;
	f->replied = h->replied;
	h->cli.slot = h->be.slot = -1;
	fast_attach(c, f);
	return 0;
}

uint64_t tcp_fast_total(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	uint64_t up = (f->cli.st ? load(&f->cli.st->redirected) : 0) + f->up.ubytes;
	uint64_t down = (f->be.st ? load(&f->be.st->redirected) : 0) + f->down.ubytes;
	return up + down;
}

void tcp_fast_backend(struct tcp_conn *c, int fd)
{
	int err = fastpath_want(c->w->fp, fd, &c->fast->be);
	if (err)
		log_debug("listener %s: no fast-path slot for a backend socket: %s", c->wl->l->name,
		          strerror(-err));
}

void tcp_fast_backend_drop(struct tcp_conn *c)
{
	fastpath_release(c->w->fp, &c->fast->be);
}

/* Both sockets in the sockhash: let the verdicts redirect, list the flow. */
static void fast_splice(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	struct fastpath *fp = c->w->fp;
	bool cli_in = fastpath_in_map(fp, &f->cli), be_in = fastpath_in_map(fp, &f->be);
	if (!cli_in || !be_in) {
		/* A socket that was reset or closed has left the sockhash already. */
		log_debug("listener %s: not spliced: %s socket not in the sockhash", c->wl->l->name,
		          cli_in ? "backend" : "client");
		return;
	}
	/* Bytes kfwd consumed or wrote itself in a proxy's negotiation are not
	 * the peers' (see fastpath_skip); and a throttled flow is limited before
	 * the verdicts may redirect at all. */
	fastpath_skip(f->cli.st, f->be.st, f->up.skip);
	f->qbase_be -= (int64_t)f->up.skip; /* same for kfwd's own queue check */
	fastpath_injected(f->cli.st, f->replied);
	if (c->lc->max_rate_bps > 0) {
		uint64_t burst = (uint64_t)policy_burst((uint64_t)c->lc->max_rate_bps);
		fastpath_limit(f->cli.st, burst);
		fastpath_limit(f->be.st, burst);
	}
	if (c->lc->max_bytes > 0) {
		struct fast_way up = way_up(c), down = way_down(c);
		fastpath_cap(&f->cli, &f->be,
		             policy_bytes_left(c->lc, way_moved(&up) + way_moved(&down)));
	}
	struct kfwd_flow rec = {.listener = c->wl->l->id};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(c->cli.io.fd, (struct sockaddr *)&ss, &len) == 0)
		fastpath_endpoint(&rec.client, (struct sockaddr *)&ss);
	len = sizeof(ss);
	if (getpeername(c->be.io.fd, (struct sockaddr *)&ss, &len) == 0)
		fastpath_endpoint(&rec.backend, (struct sockaddr *)&ss);
	uint64_t id = fastpath_flow_id(fp);
	int err = fastpath_flow_add(fp, id, &rec, f->cli.st, f->be.st);
	if (err)
		log_debug("listener %s: flow %llu not listed: %s", c->wl->l->name,
		          (unsigned long long)id, strerror(-err));
	else
		f->flow_id = id;
	fastpath_pair(&f->cli, &f->be);
	c->spliced = true;
	ctr_add(&c->wl->ctr->spliced, 1);
}

/* A larger send buffer lets the kernel's redirect worker run ahead instead of
 * waiting for its delayed retry when the buffer is full (0: autotuning). */
static void set_sndbuf(int fd, int bytes)
{
	if (bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

void tcp_fast_start(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	f->sndbuf = fastpath_sndbuf_get(c->w->fp);
	set_sndbuf(c->cli.io.fd, f->sndbuf);
	set_sndbuf(c->be.io.fd, f->sndbuf);
	/* Nothing was written to either socket yet: what they count now is the
	 * handshake, the base of every later comparison. */
	f->qbase_cli = queued(c->cli.io.fd);
	f->qbase_be = queued(c->be.io.fd);
	if (f->qbase_cli < 0 || f->qbase_be < 0) {
		tcp_conn_close(c, ERR_RESOURCE, true, true);
		return;
	}
	if (c->lc->max_rate_bps > 0) {
		uint64_t rate = (uint64_t)c->lc->max_rate_bps, now = loop_now(c->w->loop);
		struct fast_way up = way_up(c), down = way_down(c);
		policy_bucket_init(&f->up.bucket, rate, now, way_moved(&up));
		policy_bucket_init(&f->down.bucket, rate, now, way_moved(&down));
	}
	if (f->be.slot >= 0)
		fast_splice(c);
	c->state = C_RELAY;
	c->cli.rd = c->cli.wr = c->be.rd = c->be.wr = true;
	/* Read what came while connecting: early bytes, a FIN whose event is gone. */
	f->up.more = f->down.more = true;
	c->last_active = loop_now(c->w->loop);
	tcp_relay_timers(c);
	tcp_fast_pump(c);
}

/*
 * A finished direction must have read exactly what its verdict passed and
 * written exactly what it read, and the verdict must have seen exactly what
 * TCP received (tcpi_bytes_received, which also counts the FIN). Anything
 * else means bytes were delivered twice or lost between the kernel and
 * kfwd: say so, with the counts, so that a rare data mismatch can be traced
 * to its connection and its cause.
 */
static void dir_check(struct tcp_conn *c, const char *name, const struct fast_dir *d,
                      const struct kfwd_sock *st, int src_fd)
{
	if (!st || !d->shut)
		return;
	uint64_t passed = load(&st->passed), redirected = load(&st->redirected);
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	uint64_t tcp_rx =
	    getsockopt(src_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? 0 : ti.tcpi_bytes_received;
	bool seen_ok =
	    !tcp_rx || passed + redirected == tcp_rx || passed + redirected + 1 == tcp_rx;
	/* A proxy's request head was read, not relayed (skip). */
	if (d->rbytes == passed && d->ubytes + d->skip == d->rbytes && seen_ok)
		return;
	char peer[ADDR_STRLEN] = "?";
	struct addr a = {.len = sizeof(a.u.ss)};
	if (!getpeername(c->cli.io.fd, &a.u.sa, &a.len))
		addr_format(&a, peer);
	log_warn(
	    "listener %s: client %s: %s: TCP received %llu bytes (FIN included), the verdict "
	    "passed %llu and redirected %llu, kfwd read %llu (%llu of them a request head) and "
	    "wrote %llu: the stream is not what was sent",
	    c->wl->l->name, peer, name, (unsigned long long)tcp_rx, (unsigned long long)passed,
	    (unsigned long long)redirected, (unsigned long long)d->rbytes,
	    (unsigned long long)d->skip, (unsigned long long)d->ubytes);
}

void tcp_fast_close(struct tcp_conn *c)
{
	struct tcp_fast *f = c->fast;
	struct worker *w = c->w;
	dir_check(c, "client to backend", &f->up, f->cli.st, c->cli.io.fd);
	dir_check(c, "backend to client", &f->down, f->be.st, c->be.io.fd);
	tcp_fast_fold(c);
	/* For the access log: what each side's peer received. */
	c->up.bytes = f->up.acct;
	c->down.bytes = f->down.acct;
	if (f->flow_id)
		fastpath_flow_del(w->fp, f->flow_id);
	fastpath_release(w->fp, &f->cli);
	fastpath_release(w->fp, &f->be);
	fastpath_sndbuf_put(w->fp, f->sndbuf);
	loop_timer_cancel(w->loop, &f->poll);
	free(f->up.buf);
	free(f->down.buf);
	free(f);
	c->fast = NULL;
	if (--w->nfast == 0)
		loop_timer_cancel(w->loop, &w->fold_timer);
}
