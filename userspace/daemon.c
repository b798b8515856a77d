#include "daemon.h"
#include "ctl.h"
#include "fastpath.h"
#include "log.h"
#include "probe.h"
#include "proxy.h"
#include "sdnotify.h"
#include "tunnel.h"
#include "version.h"
#include "xdp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_BUF_BYTES (32u * 65536u) /* one batch of maximal datagrams, see udp.c */
#define FP_TICK_MS    1000           /* released fast-path slots cool down this long */
#define SD_TICK_MS    5000           /* systemd STATUS refresh (sooner for the watchdog) */
#define UDP_LISTEN_RCVBUF (8 << 20)   /* bytes of datagrams the kernel may queue per socket */

enum dstate { D_RUNNING, D_DRAINING };

struct daemon {
	const char *path;
	struct conf *conf;
	struct lsn *lsns;
	struct worker *workers;
	int nworkers;
	struct loop *loop;
	struct loop_io sigio;
	struct loop_timer reap;
	struct ctl_server *ctl;
	enum dstate state;
	uint64_t started_ms;
	struct probe_result bpf;
	struct fastpath *fp;        /* NULL: every listener on the userspace path */
	char fp_detail[256];        /* why not, or where it lives */
	struct loop_timer fp_tick;
	struct xdp_ctl *xdp;        /* the XDP program, NULL: not attached */
	char xdp_detail[256];       /* where it runs, or why not */
	uint32_t next_lsn_id;
	uint64_t reloads, reload_failures;
	struct tunnel *tun;         /* the QUIC tunnel, NULL without a tunnel section */
	struct conf *tun_conf;      /* the config it was started with (kept across reloads) */
	struct loop_timer sd_tick;  /* systemd watchdog pings and STATUS */
};

/* ---- listeners ---------------------------------------------------------- */

void lsn_ref(struct lsn *l)
{
	__atomic_add_fetch(&l->refcnt, 1, __ATOMIC_RELAXED);
}

void lsn_unref(struct lsn *l)
{
	if (__atomic_sub_fetch(&l->refcnt, 1, __ATOMIC_ACQ_REL))
		return;
	conf_listener_unref(l->lc);
	free(l->ctr);
	free(l->name);
	free(l);
}

uint64_t lsn_active(const struct lsn *l)
{
	uint64_t n = 0;
	for (int i = 0; i < l->nworkers; i++)
		n += ctr_get(&l->ctr[i].active);
	return n;
}

int lsn_socket(const struct conf_listener *lc)
{
	const struct addr *a = &lc->bind.a;
	int type = lc->proto == PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(addr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, err = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	/* "[::]" means IPv6 only, like nginx: v4 gets its own listener, no surprises. */
	if (addr_family(a) == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto fail;
	if (lc->proto == PROTO_UDP) {
		/* Bursts beyond the default buffer are lost before kfwd sees them: ask
		 * for a large one (FORCE ignores rmem_max when privileged), and have the
		 * kernel report what it still drops (SO_RXQ_OVFL), so it is counted. */
		int rcvbuf = UDP_LISTEN_RCVBUF;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	}
	if (lc->proto == PROTO_UDP && addr_is_any(a)) {
		/* Replies must leave from the address the client wrote to. */
		if (addr_family(a) == AF_INET
			    ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
			    : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)))
			goto fail;
	}
	if (bind(fd, &a->u.sa, a->len))
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 4096))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static struct lsn *lsn_new(struct conf_listener *lc, int nworkers)
{
	struct lsn *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->ctr = aligned_alloc(64, sizeof(*l->ctr) * (size_t)nworkers);
	l->name = strdup(lc->name);
	if (!l->ctr || !l->name) {
		free(l->ctr);
		free(l->name);
		free(l);
		return NULL;
	}
	memset(l->ctr, 0, sizeof(*l->ctr) * (size_t)nworkers);
	l->refcnt = 1;
	l->lc = conf_listener_ref(lc);
	l->nworkers = nworkers;
	l->xdp_slot = -1;
	return l;
}

/* Open one socket per worker for lc; on failure close what was opened. */
static int lsn_open_all(const struct conf_listener *lc, int n, int *fds)
{
	for (int i = 0; i < n; i++) {
		fds[i] = lsn_socket(lc);
		if (fds[i] < 0) {
			int err = fds[i];
			while (i-- > 0)
				close(fds[i]);
			return err;
		}
	}
	return 0;
}

/* ---- worker side -------------------------------------------------------- */

/* A worker-side flow takes and drops its listener handle. */
static void wlsn_hold(struct wlsn *wl)
{
	wl->flows++;
}

static void wlsn_free(struct wlsn *wl)
{
	struct wlsn **pp = &wl->w->lsns;
	while (*pp && *pp != wl)
		pp = &(*pp)->next;
	if (*pp)
		*pp = wl->next;
	udp_table_free(wl);
	conf_listener_unref(wl->lc);
	lsn_unref(wl->l);
	free(wl);
}

static void wlsn_release(struct wlsn *wl)
{
	if (--wl->flows == 0 && wl->closed)
		wlsn_free(wl);
}

/* Close the listening socket; the handle lives on while flows use it. */
static void wlsn_close(struct wlsn *wl)
{
	if (wl->closed)
		return;
	wl->closed = true;
	loop_timer_cancel(wl->w->loop, &wl->accept_retry);
	loop_del(wl->w->loop, &wl->io);
	close(wl->io.fd);
	wl->io.fd = -1;
	if (wl->flows == 0)
		wlsn_free(wl);
}

static struct wlsn *worker_find(struct worker *w, const struct lsn *l)
{
	for (struct wlsn *wl = w->lsns; wl; wl = wl->next)
		if (wl->l == l && !wl->closed)
			return wl;
	return NULL;
}

static void worker_add(struct worker *w, struct lsn *l, int fd)
{
	struct wlsn *wl = calloc(1, sizeof(*wl));
	if (!wl || (l->lc->proto == PROTO_UDP && udp_table_new(wl))) {
		log_err("listener %s: worker %d: out of memory", l->name, w->id);
		free(wl);
		close(fd);
		lsn_unref(l);
		return;
	}
	wl->io = (struct loop_io){.fd = fd,
				  .fn = l->lc->proto == PROTO_UDP ? udp_recv_cb : tcp_accept_cb};
	wl->l = l; /* the command's reference becomes ours */
	wl->lc = conf_listener_ref(l->lc);
	wl->ctr = &l->ctr[w->id];
	wl->w = w;
	wl->accept_retry.fn = tcp_accept_retry_cb;
	wl->next = w->lsns;
	w->lsns = wl;
	int err = loop_add(w->loop, &wl->io, EPOLLIN);
	if (err) {
		log_err("listener %s: worker %d: epoll: %s", l->name, w->id, strerror(-err));
		wlsn_close(wl);
	}
}

/* A flow ended: a draining worker stops with its last one. */
static void worker_flow_done(struct worker *w)
{
	w->nflows--;
	if (w->draining && w->nflows == 0)
		loop_stop(w->loop);
}

void wlsn_flow_begin(struct wlsn *wl)
{
	wl->w->nflows++;
	wlsn_hold(wl);
	ctr_add(&wl->ctr->active, 1);
	ctr_add(&wl->ctr->total, 1);
}

void wlsn_flow_end(struct wlsn *wl)
{
	struct worker *w = wl->w;

	ctr_add(&wl->ctr->active, (uint64_t)-1);
	wlsn_release(wl);
	worker_flow_done(w);
}

static void drain_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct worker *w = container_of(t, struct worker, drain_timer);
	proxy_cut_all(w);
	tcp_cut_all(w);
	udp_cut_all(w);
	loop_stop(l);
}

static void worker_drain(struct worker *w, uint64_t grace_ms)
{
	/* UDP flows answer through the listening socket: without it they are dead,
	 * so they end now instead of holding up the exit. TCP flows drain. */
	udp_cut_all_quiet(w);
	for (struct wlsn *wl = w->lsns, *next; wl; wl = next) {
		next = wl->next;
		wlsn_close(wl);
	}
	w->draining = true;
	if (w->nflows == 0) {
		loop_stop(w->loop);
		return;
	}
	loop_timer_set(w->loop, &w->drain_timer, grace_ms);
}

static void worker_cmd(struct worker *w, struct wcmd *c)
{
	struct wlsn *wl;
	switch (c->type) {
	case CMD_ADD:
		worker_add(w, c->l, c->fd);
		break;
	case CMD_DEL:
		if ((wl = worker_find(w, c->l))) {
			if (wl->udp)
				udp_cut_listener(w, wl);
			wlsn_close(wl);
		}
		break;
	case CMD_SETCONF:
		if ((wl = worker_find(w, c->l))) {
			conf_listener_unref(wl->lc);
			wl->lc = c->lc;
			c->lc = NULL;
		}
		conf_listener_unref(c->lc);
		break;
	case CMD_DRAIN:
		worker_drain(w, c->grace_ms);
		break;
	}
}

static void worker_cmds_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct worker *w = container_of(io, struct worker, evio);
	uint64_t v;
	while (read(io->fd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	struct wcmd *c = w->cmds;
	w->cmds = NULL;
	w->cmds_tail = &w->cmds;
	pthread_mutex_unlock(&w->mu);
	while (c) {
		struct wcmd *next = c->next;
		worker_cmd(w, c);
		free(c);
		c = next;
	}
}

/* Queue a command; the worker takes over any references it carries. */
static int worker_post(struct worker *w, struct wcmd tmpl)
{
	struct wcmd *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = tmpl;
	c->next = NULL;
	pthread_mutex_lock(&w->mu);
	*w->cmds_tail = c;
	w->cmds_tail = &c->next;
	pthread_mutex_unlock(&w->mu);
	uint64_t one = 1;
	if (write(w->evio.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int err = loop_run(w->loop);
	if (err)
		log_err("worker %d: event loop: %s", w->id, strerror(-err));
	/* Flows are gone (drained or cut); drop what is left of the listeners. */
	proxy_cut_all(w);
	tcp_cut_all(w);
	udp_cut_all(w);
	loop_run_once(w->loop, 0);
	proxy_worker_free(w);
	while (w->lsns)
		wlsn_close(w->lsns);
	__atomic_store_n(&w->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int worker_init(struct worker *w, int id)
{
	w->id = id;
	w->cmds_tail = &w->cmds;
	pthread_mutex_init(&w->mu, NULL);
	w->loop = loop_new();
	w->udp_buf = malloc(UDP_BUF_BYTES);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!w->loop || !w->udp_buf || efd < 0)
		return -ENOMEM;
	w->evio = (struct loop_io){.fd = efd, .fn = worker_cmds_cb};
	w->drain_timer.fn = drain_timer_cb;
	return loop_add(w->loop, &w->evio, EPOLLIN);
}

static void worker_deinit(struct worker *w)
{
	struct wcmd *c = w->cmds;
	while (c) {
		struct wcmd *next = c->next;
		if (c->type == CMD_ADD) {
			close(c->fd);
			lsn_unref(c->l);
		}
		if (c->lc)
			conf_listener_unref(c->lc);
		free(c);
		c = next;
	}
	if (w->evio.fd > 0)
		close(w->evio.fd);
	loop_free(w->loop);
	free(w->udp_buf);
	pthread_mutex_destroy(&w->mu);
}

/* ---- main thread -------------------------------------------------------- */

/* Tell the sockops program about a TCP listener and whether it is fast. */
static void daemon_fast_port(struct daemon *d, struct lsn *l)
{
	/* CONNECT listeners too: the proxy claims the accepted socket's slot, reads
	 * the request head through the verdict (which passes everything while the
	 * socket has no peer) and splices after the 200 (proxy.c). */
	bool want = l->lc->fastpath && (l->lc->mode == MODE_FORWARD || l->lc->mode == MODE_CONNECT);

	l->fast = false;
	if (!d->fp || l->lc->proto != PROTO_TCP)
		return;
	int err = fastpath_port_set(d->fp, &l->lc->bind.a, l->id, want);
	if (err)
		log_warn("listener %s: fastpath: cannot register its address: %s; userspace path",
			 l->name, strerror(-err));
	else
		l->fast = want;
}

static void daemon_fast_port_del(struct daemon *d, struct lsn *l)
{
	if (d->fp && l->lc->proto == PROTO_TCP)
		fastpath_port_del(d->fp, &l->lc->bind.a);
}

/* Enter a listener into the XDP program's tables (front door, UDP flows). */
static void daemon_xdp_lsn(struct daemon *d, struct lsn *l)
{
	if (!d->xdp)
		return;
	int err = xdp_ctl_lsn_set(d->xdp, l);
	if (err)
		log_err("listener %s: xdp: cannot enter it into the listener table: %s; its "
			"packets pass XDP unchecked",
			l->name, strerror(-err));
}

/* Create the listener object and hand one socket to each worker. */
static int daemon_add_listener(struct daemon *d, struct conf_listener *lc, int *fds)
{
	struct lsn *l = lsn_new(lc, d->nworkers);
	if (!l) {
		for (int i = 0; i < d->nworkers; i++)
			close(fds[i]);
		return -ENOMEM;
	}
	l->id = ++d->next_lsn_id;
	daemon_fast_port(d, l);
	daemon_xdp_lsn(d, l);
	for (int i = 0; i < d->nworkers; i++) {
		lsn_ref(l);
		worker_post(&d->workers[i], (struct wcmd){.type = CMD_ADD, .l = l, .fd = fds[i]});
	}
	struct lsn **tail = &d->lsns; /* keep config order for stats */
	while (*tail)
		tail = &(*tail)->next;
	*tail = l;
	char a[ADDR_STRLEN];
	log_info("listener %s: %s %s on %s, %zu backend(s), %d worker(s), path %s", l->name,
		 conf_proto_name(lc->proto), conf_mode_name(lc->mode), addr_format(&lc->bind.a, a),
		 lc->backends.n, d->nworkers, l->fast ? "fastpath" : "userspace");
	return 0;
}

static void daemon_remove_listener(struct daemon *d, struct lsn *l)
{
	struct lsn **pp = &d->lsns;
	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	l->removed = true;
	daemon_fast_port_del(d, l);
	if (d->xdp)
		xdp_ctl_lsn_del(d->xdp, l);
	for (int i = 0; i < d->nworkers; i++)
		worker_post(&d->workers[i], (struct wcmd){.type = CMD_DEL, .l = l});
	log_info("listener %s: removed; its live flows run to their end", l->name);
	lsn_unref(l);
}

static struct lsn *daemon_find(struct daemon *d, const char *name)
{
	for (struct lsn *l = d->lsns; l; l = l->next)
		if (!strcmp(l->name, name))
			return l;
	return NULL;
}

static void log_conf_errors(const char *prefix, struct conf_errs *e)
{
	for (size_t i = 0; i < e->n; i++)
		log_err("%s%s", prefix, e->msg[i]);
}

/*
 * SIGHUP: load the file again; a bad config is rejected whole and the running
 * one stays. Listeners with the same name and socket keep their sockets and
 * flows and only take the new settings; new sockets are all opened before
 * anything changes, so a bind failure also rejects the reload.
 */
static void daemon_reload(struct daemon *d)
{
	struct conf_errs errs = {0};
	struct conf *nc = NULL;
	log_info("reload: reading %s", d->path);
	if (conf_load(d->path, &nc, &errs)) {
		log_conf_errors("reload rejected: ", &errs);
		conf_errs_free(&errs);
		d->reload_failures++;
		return;
	}
	conf_errs_free(&errs);
	if (conf_workers(nc) != d->nworkers)
		log_warn("reload: 'workers' changes only at restart; keeping %d", d->nworkers);
	if (!conf_tunnel_same(d->conf, nc)) {
		log_err("reload rejected: the tunnel section changed; it is read at start "
			"only (restart kfwd to apply it)");
		conf_free(nc);
		d->reload_failures++;
		return;
	}
	if (xdp_ctl_reload_check(d->xdp, d->conf, nc)) {
		conf_free(nc);
		d->reload_failures++;
		return;
	}

	size_t n = nc->nlisteners;
	int **fds = calloc(n ? n : 1, sizeof(*fds));
	if (!fds)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		struct conf_listener *lc = nc->listeners[i];
		if (tunnel_owns(lc))
			continue; /* the tunnel's listeners are read at start only */
		struct lsn *old = daemon_find(d, lc->name);
		if (old && conf_listener_same_socket(old->lc, lc))
			continue;
		fds[i] = malloc(sizeof(int) * (size_t)d->nworkers);
		int err = fds[i] ? lsn_open_all(lc, d->nworkers, fds[i]) : -ENOMEM;
		if (err) {
			char a[ADDR_STRLEN];
			log_err("reload rejected: listener %s: bind %s: %s", lc->name,
				addr_format(&lc->bind.a, a), strerror(-err));
			free(fds[i]);
			fds[i] = NULL;
			for (size_t j = 0; j < i; j++) {
				if (!fds[j])
					continue;
				for (int k = 0; k < d->nworkers; k++)
					close(fds[j][k]);
				free(fds[j]);
			}
			free(fds);
			conf_free(nc);
			d->reload_failures++;
			return;
		}
	}

	int kept = 0, added = 0, removed = 0;
	/* Old listeners no longer present (by name), or whose socket changed. */
	for (struct lsn *l = d->lsns, *next; l; l = next) {
		next = l->next;
		bool keep = false;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(nc->listeners[i]->name, l->name) && !fds[i])
				keep = true;
		if (!keep) {
			daemon_remove_listener(d, l);
			removed++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct conf_listener *lc = nc->listeners[i];
		if (tunnel_owns(lc))
			continue;
		if (fds[i]) {
			if (!daemon_add_listener(d, lc, fds[i]))
				added++;
			free(fds[i]);
			if (lc->fastpath && lc->proto == PROTO_TCP && !d->fp)
				log_warn("listener %s: fastpath = true, but the fast path is off: %s",
					 lc->name, d->fp_detail);
			continue;
		}
		struct lsn *l = daemon_find(d, lc->name);
		/* fastpath is on by default: warn only when this reload turns it on. */
		bool was_wanted = l->lc->fastpath;
		conf_listener_unref(l->lc);
		l->lc = conf_listener_ref(lc);
		bool was_fast = l->fast;
		daemon_fast_port(d, l);
		daemon_xdp_lsn(d, l);
		if (was_fast != l->fast)
			log_info("listener %s: new connections now take the %s path", l->name,
				 l->fast ? "fast" : "userspace");
		else if (lc->fastpath && !was_wanted && !d->fp)
			log_warn("listener %s: fastpath = true, but the fast path is off: %s",
				 l->name, d->fp_detail);
		for (int w = 0; w < d->nworkers; w++)
			worker_post(&d->workers[w], (struct wcmd){.type = CMD_SETCONF, .l = l,
								  .lc = conf_listener_ref(lc)});
		kept++;
	}
	free(fds);
	if (d->conf != d->tun_conf)
		conf_free(d->conf);
	d->conf = nc;
	d->reloads++;
	log_info("reload: done: %d listener(s) kept, %d added, %d removed", kept, added, removed);
	return;
nomem:
	log_err("reload rejected: out of memory");
	conf_free(nc);
	d->reload_failures++;
}

static void daemon_drain(struct daemon *d, uint64_t grace)
{
	if (d->tun)
		tunnel_drain(d->tun, grace);
	for (int i = 0; i < d->nworkers; i++)
		worker_post(&d->workers[i], (struct wcmd){.type = CMD_DRAIN, .grace_ms = grace});
}

static void reap_cb(struct loop *l, struct loop_timer *t)
{
	struct daemon *d = container_of(t, struct daemon, reap);
	for (int i = 0; i < d->nworkers; i++)
		if (!__atomic_load_n(&d->workers[i].exited, __ATOMIC_ACQUIRE)) {
			loop_timer_set(l, t, 20);
			return;
		}
	if (d->tun && !tunnel_exited(d->tun)) {
		loop_timer_set(l, t, 20);
		return;
	}
	loop_stop(l);
}

static void signal_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct daemon *d = container_of(io, struct daemon, sigio);
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			if (d->state == D_RUNNING)
				daemon_reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			if (d->state == D_DRAINING) {
				log_warn("second stop signal: cutting live flows now");
				daemon_drain(d, 0);
				break;
			}
			d->state = D_DRAINING;
			sdn_stopping();
			log_info("stopping: listeners closed, live flows may drain for %d ms",
				 d->conf->global.shutdown_grace_ms);
			daemon_drain(d, (uint64_t)d->conf->global.shutdown_grace_ms);
			loop_timer_set(l, &d->reap, 20);
			break;
		default:
			break;
		}
	}
}

/* From the main loop, so that a stuck main thread stops the watchdog pings. */
static void sd_tick_cb(struct loop *l, struct loop_timer *t)
{
	struct daemon *d = container_of(t, struct daemon, sd_tick);
	uint64_t flows = 0, wd = sdn_watchdog_ms(), next = SD_TICK_MS;
	size_t n = 0;
	for (struct lsn *x = d->lsns; x; x = x->next, n++)
		flows += lsn_active(x);
	sdn_watchdog_ping();
	if (d->state == D_RUNNING)
		sdn_status("%zu listener(s), %llu flow(s)", n, (unsigned long long)flows);
	else
		sdn_status("draining: %llu flow(s) left", (unsigned long long)flows);
	if (wd && wd / 2 < next)
		next = wd / 2 ? wd / 2 : 1;
	loop_timer_set(l, t, next);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Render the instance's state for the control socket. */
static void daemon_render(void *arg, const char *cmd, struct buf *out)
{
	struct daemon *d = arg;
	if (!strcmp(cmd, "tunnel key-update")) {
		int err = d->tun ? tunnel_key_update(d->tun) : -ENOENT;
		if (err)
			buf_printf(out, "error: tunnel key-update: %s\n",
				   err == -ENOENT ? "no tunnel configured" : "tunnel not up");
		else
			buf_printf(out, "ok: key update requested\n");
		return;
	}
	struct tunnel_view tv;
	if (d->tun)
		tunnel_view_get(d->tun, &tv);
	struct ctl_view v = {
		.tunnel = d->tun ? &tv : NULL,
		.tun = d->tun,
		.instance = d->conf->global.instance,
		.config = d->path,
		.pid = (long)getpid(),
		.uptime_ms = loop_now(d->loop) - d->started_ms,
		.workers = d->nworkers,
		.state = d->state == D_RUNNING ? "running" : "draining",
		.bpf = &d->bpf,
		.fp = d->fp,
		.fp_detail = d->fp_detail,
		.xdp = d->xdp,
		.xdp_forward = d->conf->global.xdp_forward,
		.xdp_detail = d->xdp_detail,
		.reloads = d->reloads,
		.reload_failures = d->reload_failures,
		.lsns = d->lsns,
	};
	ctl_render(&v, cmd, out);
}

static void fp_tick_cb(struct loop *l, struct loop_timer *t)
{
	struct daemon *d = container_of(t, struct daemon, fp_tick);
	fastpath_tick(d->fp);
	loop_timer_set(l, t, FP_TICK_MS);
}

/* Set the fast path up if a TCP listener asks for it; otherwise, or if that
 * fails, say so once: every listener then runs on the userspace path. */
static void daemon_fastpath_start(struct daemon *d)
{
	const struct conf *c = d->conf;
	bool wanted = false;
	for (size_t i = 0; i < c->nlisteners; i++)
		wanted |= c->listeners[i]->proto == PROTO_TCP && c->listeners[i]->fastpath;
	if (!wanted) {
		snprintf(d->fp_detail, sizeof(d->fp_detail),
			 "no TCP listener had fastpath = true at start");
		return;
	}
	struct fastpath_opts o = {.instance = c->global.instance,
				  .pin_root = c->global.bpf_pin_path,
				  .backlog = (uint64_t)c->global.fastpath_backlog,
				  .sndbuf = c->global.fastpath_sndbuf,
				  .sndbuf_total = c->global.fastpath_sndbuf_total};
	char why[200];
	int err = fastpath_new(&o, &d->fp, why, sizeof(why));
	if (err) {
		snprintf(d->fp_detail, sizeof(d->fp_detail), "%s", why);
		log_warn("fastpath: off, every listener uses the userspace path: %s", why);
		return;
	}
	snprintf(d->fp_detail, sizeof(d->fp_detail), "cgroup %s, maps pinned in %s",
		 fastpath_cgroup(d->fp), fastpath_pin_dir(d->fp));
	log_info("fastpath: on: %s", d->fp_detail);
	d->fp_tick.fn = fp_tick_cb;
	loop_timer_set(d->loop, &d->fp_tick, FP_TICK_MS);
}

static int daemon_start(struct daemon *d)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before any thread starts, so only the signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	d->loop = loop_new();
	if (!d->loop)
		return -errno;
	d->started_ms = loop_now(d->loop);
	d->sigio = (struct loop_io){.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC),
				    .fn = signal_cb};
	if (d->sigio.fd < 0 || loop_add(d->loop, &d->sigio, EPOLLIN))
		return -errno;
	d->reap.fn = reap_cb;

	probe_bpf(&d->bpf);
	if (d->bpf.ok)
		log_info("bpf: available (%s)", d->bpf.detail);
	else
		log_info("bpf: not available, every listener uses the userspace path: %s",
			 d->bpf.detail);

	int err = ctl_server_new(d->loop, d->conf->global.control_socket, daemon_render, d,
				 &d->ctl);
	if (err)
		return err;
	/* After the control socket (a live instance of the same name has failed
	 * us by now: its pins and cgroup are not stale) and before any listener. */
	daemon_fastpath_start(d);
	if ((err = xdp_ctl_start(d->conf, &d->xdp, d->xdp_detail, sizeof(d->xdp_detail))))
		return err;

	d->nworkers = conf_workers(d->conf);
	d->workers = calloc((size_t)d->nworkers, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	for (int i = 0; i < d->nworkers; i++) {
		if ((err = worker_init(&d->workers[i], i)))
			return err;
		d->workers[i].fp = d->fp;
		d->workers[i].xdp = d->xdp;
	}

	if (d->conf->tunnel.role != TUNNEL_NONE) {
		if ((err = tunnel_new(d->conf, &d->tun)))
			return err;
		d->tun_conf = d->conf;
	}
	int *fds = malloc(sizeof(int) * (size_t)d->nworkers);
	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; i < d->conf->nlisteners; i++) {
		struct conf_listener *lc = d->conf->listeners[i];
		if (tunnel_owns(lc))
			continue; /* opened and served by the tunnel thread */
		err = lsn_open_all(lc, d->nworkers, fds);
		if (err) {
			char a[ADDR_STRLEN];
			log_err("listener %s: bind %s: %s", lc->name, addr_format(&lc->bind.a, a),
				strerror(-err));
			free(fds);
			return err;
		}
		if ((err = daemon_add_listener(d, lc, fds))) {
			free(fds);
			return err;
		}
	}
	free(fds);
	for (int i = 0; i < d->nworkers; i++) {
		err = pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]);
		if (err)
			return -err;
		d->workers[i].started = true;
	}
	if (d->tun && (err = tunnel_start(d->tun)))
		return err;
	return 0;
}

int daemon_run(const char *path)
{
	struct daemon d = {.path = path};
	struct conf_errs errs = {0};
	sdn_init();
	if (conf_load(path, &d.conf, &errs)) {
		log_conf_errors("", &errs);
		conf_errs_free(&errs);
		return 1;
	}
	log_info("kfwd %s starting: instance %s, config %s", KFWD_VERSION, d.conf->global.instance,
		 path);
	int rc = 0, err = daemon_start(&d);
	if (err) {
		log_err("startup failed: %s", strerror(-err));
		rc = 1;
		/* Workers that never started still hold queued commands: stop them all. */
		for (int i = 0; i < d.nworkers; i++)
			if (d.workers && d.workers[i].started)
				worker_post(&d.workers[i], (struct wcmd){.type = CMD_DRAIN});
		if (d.tun)
			tunnel_drain(d.tun, 0);
	} else {
		log_info("ready: %zu listener(s), control socket %s", d.conf->nlisteners,
			 d.conf->global.control_socket);
		sdn_started();
		if (sdn_enabled()) {
			d.sd_tick.fn = sd_tick_cb;
			sd_tick_cb(d.loop, &d.sd_tick);
		}
		err = loop_run(d.loop);
		if (err) {
			log_err("main loop: %s", strerror(-err));
			rc = 1;
			daemon_drain(&d, 0);
		}
	}
	for (int i = 0; i < d.nworkers && d.workers; i++)
		if (d.workers[i].started)
			pthread_join(d.workers[i].thread, NULL);
	for (int i = 0; i < d.nworkers && d.workers; i++)
		worker_deinit(&d.workers[i]);
	free(d.workers);
	tunnel_free(d.tun);
	if (d.tun_conf && d.tun_conf != d.conf)
		conf_free(d.tun_conf);
	while (d.lsns) {
		struct lsn *l = d.lsns;
		d.lsns = l->next;
		lsn_unref(l);
	}
	fastpath_free(d.fp);
	xdp_ctl_free(d.xdp);
	ctl_server_free(d.ctl);
	if (d.sigio.fd > 0)
		close(d.sigio.fd);
	loop_free(d.loop);
	conf_free(d.conf);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
