/*
 * UDP forward on the userspace path: a pseudo-connection per client address
 * (and local address, for wildcard binds), each with its own connected socket
 * towards the backend. Replies go back through the listening socket with the
 * address the client sent to as source, so the client sees one peer.
 */
#include "daemon.h"
#include "log.h"
#include "udp_fast.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_BATCH   32    /* datagrams per recvmmsg */
#define UDP_ROUNDS  4     /* recvmmsg calls per wakeup before yielding */
#define UDP_MAXDGRAM 65536

struct udp_flow {
	struct loop_io io;          /* connected socket towards the backend */
	struct wlsn *wl;
	struct conf_listener *lc;
	struct addr client;
	struct addr local;          /* where the client sent to (wildcard binds) */
	bool has_local;
	uint32_t hash;
	uint64_t last_active;
	struct loop_timer timer;
	struct udp_fast fast;       /* its entries in the XDP flow table */
	bool fast_on;               /* installed there */
	struct udp_flow *hnext;     /* hash chain */
	struct udp_flow *prev, *next; /* worker list */
};

struct udp_table {
	struct udp_flow **b;
	size_t nb;                  /* power of two */
	size_t n;
};

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

static uint32_t addr_hash(uint32_t h, const struct addr *a)
{
	if (addr_family(a) == AF_INET) {
		h = fnv(h, &a->u.in4.sin_addr, 4);
		return fnv(h, &a->u.in4.sin_port, 2);
	}
	h = fnv(h, &a->u.in6.sin6_addr, 16);
	return fnv(h, &a->u.in6.sin6_port, 2);
}

static uint32_t key_hash(const struct addr *client, const struct addr *local, bool has_local)
{
	uint32_t h = addr_hash(2166136261u, client);
	return has_local ? addr_hash(h, local) : h;
}

/* Local addresses compare without the port: pktinfo carries only the address. */
static bool local_equal(const struct addr *a, const struct addr *b)
{
	if (addr_family(a) != addr_family(b))
		return false;
	if (addr_family(a) == AF_INET)
		return a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
	return !memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
}

int udp_table_new(struct wlsn *wl)
{
	wl->udp = calloc(1, sizeof(*wl->udp));
	if (!wl->udp)
		return -ENOMEM;
	wl->udp->nb = 256;
	wl->udp->b = calloc(wl->udp->nb, sizeof(*wl->udp->b));
	if (!wl->udp->b) {
		free(wl->udp);
		wl->udp = NULL;
		return -ENOMEM;
	}
	return 0;
}

void udp_table_free(struct wlsn *wl)
{
	if (!wl->udp)
		return;
	free(wl->udp->b);
	free(wl->udp);
	wl->udp = NULL;
}

static void table_grow(struct udp_table *t)
{
	size_t nb = t->nb * 2;
	struct udp_flow **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* chains just get longer */
	for (size_t i = 0; i < t->nb; i++) {
		struct udp_flow *f = t->b[i];
		while (f) {
			struct udp_flow *next = f->hnext;
			f->hnext = b[f->hash & (nb - 1)];
			b[f->hash & (nb - 1)] = f;
			f = next;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static struct udp_flow *table_find(struct udp_table *t, uint32_t h, const struct addr *client,
				   const struct addr *local, bool has_local)
{
	for (struct udp_flow *f = t->b[h & (t->nb - 1)]; f; f = f->hnext)
		if (f->hash == h && addr_equal(&f->client, client) &&
		    (!has_local || local_equal(&f->local, local)))
			return f;
	return NULL;
}

static void table_remove(struct udp_table *t, struct udp_flow *f)
{
	struct udp_flow **pp = &t->b[f->hash & (t->nb - 1)];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = f->hnext;
		t->n--;
	}
}

static void flow_free(void *arg)
{
	free(arg);
}

static void flow_close(struct udp_flow *f, int reason)
{
	struct worker *w = f->wl->w;
	if (reason >= 0)
		ctr_add(&f->wl->ctr->err[reason], 1);
	loop_del(w->loop, &f->io);
	loop_timer_cancel(w->loop, &f->timer);
	if (f->fast_on)
		udp_fast_remove(w->xdp, &f->fast);
	close(f->io.fd);
	f->io.fd = -1;
	if (f->wl->udp)
		table_remove(f->wl->udp, f);
	if (f->prev)
		f->prev->next = f->next;
	else
		w->uflows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	conf_listener_unref(f->lc);
	wlsn_flow_end(f->wl);
	loop_defer(w->loop, flow_free, f);
}

/* Send one reply to the client from the address it wrote to. */
static void send_to_client(struct udp_flow *f, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct msghdr mh = {.msg_name = &f->client.u.sa, .msg_namelen = f->client.len,
			    .msg_iov = &iov, .msg_iovlen = 1};
	if (f->has_local) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		struct cmsghdr *cm = (struct cmsghdr *)cbuf;
		if (addr_family(&f->local) == AF_INET) {
			struct in_pktinfo pi = {.ipi_spec_dst = f->local.u.in4.sin_addr};
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in6_pktinfo pi = {.ipi6_addr = f->local.u.in6.sin6_addr};
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		}
	}
	if (sendmsg(f->wl->io.fd, &mh, MSG_DONTWAIT) < 0) {
		ctr_add(&f->wl->ctr->err[ERR_SEND], 1);
		return;
	}
	ctr_add(&f->wl->ctr->bytes_out, len);
	ctr_add(&f->wl->ctr->pkts_out, 1);
}

static void flow_io_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct udp_flow *f = container_of(io, struct udp_flow, io);
	char *buf = f->wl->w->udp_buf;
	if (f->wl->closed) {
		/* Listener gone (reload removed it): replies have no way back. */
		flow_close(f, -1);
		return;
	}
	for (int i = 0; i < UDP_BATCH * UDP_ROUNDS; i++) {
		ssize_t n = recv(io->fd, buf, UDP_MAXDGRAM, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
			    errno == ENETUNREACH) {
				ctr_add(&f->wl->ctr->err[ERR_BACKEND_UNREACH], 1);
				continue;
			}
			return;
		}
		f->last_active = loop_now(l);
		send_to_client(f, buf, (size_t)n);
	}
	loop_mod(l, io, EPOLLIN);
}

static void flow_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct udp_flow *f = container_of(t, struct udp_flow, timer);
	uint64_t idle = (uint64_t)conf_idle_ms(f->lc);
	uint64_t since = loop_now(l) - f->last_active;
	if (since >= idle && f->fast_on) {
		/* The kernel forwards this flow: its last packet may be newer. */
		uint64_t last = udp_fast_last_ns(f->wl->w->xdp, &f->fast) / 1000000;
		if (last > f->last_active) {
			f->last_active = last;
			since = loop_now(l) > last ? loop_now(l) - last : 0;
		}
	}
	if (since >= idle) {
		flow_close(f, -1);
		return;
	}
	loop_timer_set(l, t, idle - since);
}

/* Hand the flow's later datagrams (both ways) to the XDP program. If that
 * fails, the flow simply stays on this path. */
static void flow_go_fast(struct udp_flow *f, const struct addr *backend)
{
	struct worker *w = f->wl->w;
	struct udp_fast_spec s = {.client = f->client, .backend = *backend,
				  .listener_id = f->wl->l->id, .slot = f->wl->l->xdp_slot};
	if (!w->xdp || s.slot < 0)
		return;
	s.listener = f->wl->lc->bind.a;
	if (f->has_local) {
		/* pktinfo gave the address only; the port is the listener's. */
		unsigned port = addr_port(&s.listener);
		s.listener = f->local;
		if (addr_family(&s.listener) == AF_INET)
			s.listener.u.in4.sin_port = htons((uint16_t)port);
		else
			s.listener.u.in6.sin6_port = htons((uint16_t)port);
	}
	s.gateway.len = sizeof(s.gateway.u.ss);
	if (getsockname(f->io.fd, &s.gateway.u.sa, &s.gateway.len))
		return;
	int err = udp_fast_install(w->xdp, &s, &f->fast);
	if (err) {
		char a[ADDR_STRLEN];
		log_debug("listener %s: flow from %s: XDP install: %s", f->wl->l->name,
			  addr_format(&f->client, a), strerror(-err));
		return;
	}
	f->fast_on = true;
}

static struct udp_flow *flow_new(struct wlsn *wl, const struct addr *client,
				 const struct addr *local, bool has_local, uint32_t h)
{
	struct worker *w = wl->w;
	if (lsn_active(wl->l) >= (uint64_t)wl->lc->max_flows) {
		ctr_add(&wl->ctr->err[ERR_FLOW_LIMIT], 1);
		return NULL;
	}
	const struct addr *be = &wl->lc->backends.v[0].a;
	int fd = socket(addr_family(be), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, &be->u.sa, be->len)) {
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct udp_flow *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		return NULL;
	}
	f->io = (struct loop_io){.fd = fd, .fn = flow_io_cb};
	f->wl = wl;
	f->lc = conf_listener_ref(wl->lc);
	f->client = *client;
	f->has_local = has_local;
	if (has_local)
		f->local = *local;
	f->hash = h;
	f->timer.fn = flow_timer_cb;
	f->last_active = loop_now(w->loop);
	if (loop_add(w->loop, &f->io, EPOLLIN)) {
		conf_listener_unref(f->lc);
		close(fd);
		free(f);
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		return NULL;
	}
	struct udp_table *t = wl->udp;
	f->hnext = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = f;
	if (++t->n > t->nb)
		table_grow(t);
	f->next = w->uflows;
	if (w->uflows)
		w->uflows->prev = f;
	w->uflows = f;
	wlsn_flow_begin(wl);
	loop_timer_set(w->loop, &f->timer, (uint64_t)conf_idle_ms(f->lc));
	flow_go_fast(f, be);
	return f;
}

/* Extract the destination address of a received datagram from its pktinfo. */
static bool local_from_cmsg(struct msghdr *mh, struct addr *local)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(local, 0, sizeof(*local));
			local->u.in4.sin_family = AF_INET;
			local->u.in4.sin_addr = pi.ipi_addr;
			local->len = sizeof(local->u.in4);
			return true;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(local, 0, sizeof(*local));
			local->u.in6.sin6_family = AF_INET6;
			local->u.in6.sin6_addr = pi.ipi6_addr;
			local->len = sizeof(local->u.in6);
			return true;
		}
	}
	return false;
}

/* SO_RXQ_OVFL carries the socket's cumulative drop count: add what is new. */
static void count_rx_drops(struct wlsn *wl, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL)
			continue;
		uint32_t drops;
		memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
		if (drops != wl->rxq_drops) {
			ctr_add(&wl->ctr->err[ERR_RX_OVERFLOW], (uint32_t)(drops - wl->rxq_drops));
			wl->rxq_drops = drops;
		}
		return;
	}
}

static void forward_one(struct wlsn *wl, struct msghdr *mh, size_t len)
{
	count_rx_drops(wl, mh);
	struct addr client = {.len = mh->msg_namelen};
	memcpy(&client.u.ss, mh->msg_name, mh->msg_namelen);
	struct addr local;
	bool has_local = addr_is_any(&wl->lc->bind.a) && local_from_cmsg(mh, &local);
	uint32_t h = key_hash(&client, &local, has_local);
	struct udp_flow *f = table_find(wl->udp, h, &client, &local, has_local);
	if (!f && !(f = flow_new(wl, &client, &local, has_local, h)))
		return;
	f->last_active = loop_now(wl->w->loop);
	if (send(f->io.fd, mh->msg_iov->iov_base, len, MSG_DONTWAIT) < 0) {
		ctr_add(&wl->ctr->err[errno == ECONNREFUSED ? ERR_BACKEND_UNREACH : ERR_SEND], 1);
		return;
	}
	ctr_add(&wl->ctr->bytes_in, len);
	ctr_add(&wl->ctr->pkts_in, 1);
}

void udp_recv_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct wlsn *wl = container_of(io, struct wlsn, io);
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage names[UDP_BATCH];
	char cbufs[UDP_BATCH][CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint32_t)) + 32];
	/* Each datagram of a batch needs its own buffer; the worker's area holds
	 * UDP_BATCH of them. */
	for (int round = 0; round < UDP_ROUNDS && !wl->closed; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i] = (struct iovec){wl->w->udp_buf + (size_t)i * UDP_MAXDGRAM,
						UDP_MAXDGRAM};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &names[i],
							  .msg_namelen = sizeof(names[i]),
							  .msg_iov = &iov[i],
							  .msg_iovlen = 1,
							  .msg_control = cbufs[i],
							  .msg_controllen = sizeof(cbufs[i])};
		}
		int n = recvmmsg(io->fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN: drained */
		for (int i = 0; i < n; i++)
			forward_one(wl, &msgs[i].msg_hdr, msgs[i].msg_len);
		if (n < UDP_BATCH)
			return;
	}
	if (!wl->closed)
		loop_mod(l, io, EPOLLIN);
}

void udp_cut_all(struct worker *w)
{
	while (w->uflows)
		flow_close(w->uflows, ERR_SHUTDOWN_CUT);
}

void udp_cut_all_quiet(struct worker *w)
{
	while (w->uflows)
		flow_close(w->uflows, -1);
}

void udp_cut_listener(struct worker *w, struct wlsn *wl)
{
	struct udp_flow *f = w->uflows;
	while (f) {
		struct udp_flow *next = f->next;
		if (f->wl == wl)
			flow_close(f, -1);
		f = next;
	}
}
