/*
 * The CONNECT proxy's negotiation, from accept to the hand-over to the TCP
 * relay. One proxy_conn per client connection, in one of three states: the
 * request head is being read (under request_timeout_ms), the target is being
 * resolved, or connections to its addresses are racing. Every refusal is
 * answered, counted and logged here; after "200 Connection established" the
 * tunnel belongs to tcp.c and comes back only as proxy_tunnel_end.
 */
#include "proxy.h"
#include "acl.h"
#include "auth.h"
#include "auth_cache.h"
#include "dns.h"
#include "happy.h"
#include "http1.h"
#include "jsonw.h"
#include "log.h"
#include "proxy_int.h"
#include "tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_CACHE_ENTRIES 4096
#define DRAIN_MAX         (64 * 1024) /* unread request bytes discarded before a refusal's close */

enum px_state { PX_HEAD, PX_RESOLVE, PX_CONNECT };

/* What the access log says about one request; lives on in the relay. */
struct proxy_tunnel {
	uint64_t id;
	uint64_t start_ms;
	struct loop *loop;
	char listener[64];
	char target[300]; /* host:port as requested; empty before the head is parsed */
	char user[AUTH_USER_MAX + 1];
	char client[ADDR_STRLEN]; /* empty unless log_client_address */
};

struct proxy_conn {
	struct worker *w;
	struct wlsn *wl;
	struct conf_listener *lc;
	enum px_state state;
	struct loop_io io; /* the client */
	struct loop_timer timer;
	char *buf;
	size_t len, cap;
	struct http1_msg msg;
	struct dns_query *q;
	struct happy *h;
	char host[256];
	uint16_t port;
	bool name_allowed; /* the name matched `allow` (or there is none) */
	/* The fast path: the client socket's slot (claimed at accept) and one per
	 * connection attempt to the target; slot -1: none. */
	struct fastpath_sock cli;
	struct fastpath_sock att[DNS_MAX_ADDRS];
	size_t natt;
	uint64_t pre_read, pre_sent; /* client bytes read/written before buf (forward proxy) */
	struct proxy_tunnel *t;
	struct proxy_conn *prev, *next;
};

void proxy_access_log(const struct proxy_access *a)
{
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "{\"id\":%llu,\"listener\":", (unsigned long long)a->id);
	buf_json_str(&b, a->listener);
	buf_printf(&b, ",\"target\":");
	buf_json_str(&b, a->target);
	if (a->method) {
		buf_printf(&b, ",\"method\":");
		buf_json_str(&b, a->method);
	}
	buf_printf(&b, ",\"status\":%u,\"result\":\"%s\",\"close\":\"%s\"", a->status, a->result,
	           a->close);
	if (a->method)
		buf_printf(&b, ",\"reused\":%s", a->reused ? "true" : "false");
	buf_printf(&b, ",\"bytes_up\":%llu,\"bytes_down\":%llu,\"duration_ms\":%llu",
	           (unsigned long long)a->up, (unsigned long long)a->down,
	           (unsigned long long)a->duration_ms);
	buf_printf(&b, ",\"path\":\"%s\"", a->spliced ? "fastpath" : "userspace");
	if (a->user[0]) {
		buf_printf(&b, ",\"user\":");
		buf_json_str(&b, a->user);
	}
	if (a->client[0]) {
		buf_printf(&b, ",\"client\":");
		buf_json_str(&b, a->client);
	}
	buf_printf(&b, "}");
	if (b.data)
		log_access(b.data);
	buf_free(&b);
}

static void tunnel_log(const struct proxy_tunnel *t, unsigned status, const char *close_reason,
                       uint64_t up, uint64_t down, bool spliced)
{
	proxy_access_log(&(struct proxy_access){
	    .id = t->id,
	    .listener = t->listener,
	    .target = t->target,
	    .status = status,
	    .result = status == 200 ? "tunnel" : "refused",
	    .close = close_reason,
	    .up = up,
	    .down = down,
	    .duration_ms = loop_now(t->loop) - t->start_ms,
	    .spliced = spliced,
	    .user = t->user,
	    .client = t->client,
	});
}

void proxy_tunnel_end(struct tcp_conn *c, int reason)
{
	tunnel_log(c->px, 200, reason >= 0 ? stats_err_name(reason) : "eof", c->up.bytes,
	           c->down.bytes, c->spliced);
	free(c->px);
	c->px = NULL;
}

static void px_free_cb(void *arg)
{
	struct proxy_conn *p = arg;
	free(p->buf);
	free(p);
}

/* Give back every fast-path slot p still holds (after their sockets closed). */
static void px_slots_release(struct proxy_conn *p)
{
	struct fastpath *fp = p->w->fp;
	if (!fp)
		return;
	fastpath_release(fp, &p->cli);
	for (size_t i = 0; i < p->natt; i++)
		fastpath_release(fp, &p->att[i]);
	p->natt = 0;
}

/* happy's prepare hook: a target socket about to connect gets a slot, so the
 * sockops program puts it into the sockhash when it is established; only
 * when the client socket has one (a target socket in the sockhash can only
 * be read with recv(), i.e. by the fast relay). */
static void px_prepare(void *arg, int fd)
{
	struct proxy_conn *p = arg;
	if (p->cli.slot < 0 || p->natt >= DNS_MAX_ADDRS)
		return;
	int err = fastpath_want(p->w->fp, fd, &p->att[p->natt]);
	if (err)
		log_debug("listener %s: no fast-path slot for a target socket: %s", p->wl->l->name,
		          strerror(-err));
	else
		p->natt++;
}

/* Unlink and free p. handed_over: the relay took the fd and the flow's counts. */
static void px_free(struct proxy_conn *p, bool handed_over)
{
	struct loop *l = p->w->loop;
	struct worker *w = p->w;
	if (p->prev)
		p->prev->next = p->next;
	else
		w->pconns = p->next;
	if (p->next)
		p->next->prev = p->prev;
	loop_timer_cancel(l, &p->timer);
	if (p->q)
		dns_cancel(p->q);
	if (p->h)
		happy_cancel(p->h);
	free(p->t);
	conf_listener_unref(p->lc);
	if (!handed_over) {
		loop_del(l, &p->io);
		if (p->io.fd >= 0)
			close(p->io.fd);
		wlsn_flow_end(p->wl);
	}
	/* Target sockets were closed by happy; the client's just now (or is the relay's). */
	px_slots_release(p);
	if (loop_defer(l, px_free_cb, p))
		log_err("proxy: cannot defer a free; leaking one connection object");
}

void proxy_answer_close(int fd, unsigned status, const char *why, const char *extra)
{
	char out[1024];
	size_t n = 0;
	if (!http1_error_response(out, sizeof(out), status, why, extra, &n))
		(void)!send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Unread request bytes would turn our close into a RST that can destroy the
	 * response before the client reads it: discard what has arrived. */
	char scratch[4096];
	for (size_t got = 0; got < DRAIN_MAX;) {
		ssize_t r = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	shutdown(fd, SHUT_WR);
}

/* Answer status with a body naming why, count and log it, close. */
static void px_refuse(struct proxy_conn *p, unsigned status, const char *why, const char *extra)
{
	int err = stats_status_err(status);
	ctr_add(&p->wl->ctr->err[err], 1);
	log_debug("listener %s: %s: %u %s", p->wl->l->name,
	          p->t->target[0] ? p->t->target : "(no target)", status, why);
	proxy_answer_close(p->io.fd, status, why, extra);
	tunnel_log(p->t, status, stats_err_name(err), 0, 0, false);
	px_free(p, false);
}

static void px_connected(void *arg, int fd, int err, const struct sockaddr_storage *peer)
{
	struct proxy_conn *p = arg;
	(void)peer;
	p->h = NULL; /* happy frees itself after this call */
	if (fd < 0) {
		if (err == -ECONNREFUSED)
			px_refuse(p, 502, "connection refused by the target", NULL);
		else if (err == -ETIMEDOUT)
			px_refuse(p, 504, "connect to the target timed out", NULL);
		else {
			char why[128];
			snprintf(why, sizeof(why), "cannot connect to the target: %s",
			         strerror(-err));
			px_refuse(p, 502, why, NULL);
		}
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A fresh socket's send buffer takes these few bytes whole. */
	ssize_t n = send(p->io.fd, HTTP1_CONNECT_ESTABLISHED, sizeof(HTTP1_CONNECT_ESTABLISHED) - 1,
	                 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(HTTP1_CONNECT_ESTABLISHED) - 1) {
		close(fd);
		ctr_add(&p->wl->ctr->err[ERR_CLIENT_GONE], 1);
		tunnel_log(p->t, 200, stats_err_name(ERR_CLIENT_GONE), 0, 0, false);
		px_free(p, false);
		return;
	}
	struct wlsn *wl = p->wl;
	struct proxy_tunnel *t = p->t;
	int cfd = p->io.fd;
	size_t head = p->msg.head_len;
	struct tcp_handover h = {.early = p->buf + head,
	                         .n = p->len - head,
	                         .cli = p->cli,
	                         .be = {.slot = -1},
	                         .consumed = p->pre_read + head,
	                         .replied = p->pre_sent + sizeof(HTTP1_CONNECT_ESTABLISHED) - 1};
	/* The winner's slot goes with it; the losers' (closed by happy) go back. */
	uint64_t cookie = p->natt ? fastpath_cookie(fd) : 0;
	for (size_t i = 0; cookie && i < p->natt; i++) {
		if (p->att[i].slot >= 0 && p->att[i].cookie == cookie) {
			h.be = p->att[i];
			p->att[i].slot = -1;
		}
	}
	p->cli.slot = -1;
	loop_del(p->w->loop, &p->io);
	p->t = NULL;
	/* The relay copies the early bytes before p (and its buffer) is freed. */
	tcp_relay_handover(wl, cfd, fd, &h, t);
	px_free(p, true);
}

const char *proxy_addr_refusal(const struct conf_listener *lc, bool name_allowed,
                               const struct sockaddr *sa)
{
	bool allowed = acl_match_addr(lc->acl_allow, sa);
	if (acl_match_addr(lc->acl_deny, sa))
		return "denied by the listener's deny list";
	if (acl_match_addr(lc->acl_default, sa) && !allowed)
		return "denied by the default deny list (loopback, link-local, unspecified, "
		       "this proxy)";
	if (!name_allowed && !allowed)
		return "not in the listener's allow list";
	return NULL;
}

static void px_resolved(void *arg, int err, const struct dns_addrs *addrs)
{
	struct proxy_conn *p = arg;
	char why[512];
	p->q = NULL;
	if (err) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", p->host, dns_strerror(err));
		px_refuse(p, 502, why, NULL);
		return;
	}
	/* Every address, so a permitted name cannot lead to a refused address. */
	for (size_t i = 0; i < addrs->n; i++) {
		const char *no = proxy_addr_refusal(p->lc, p->name_allowed,
		                                    (const struct sockaddr *)&addrs->a[i]);
		if (no) {
			struct addr a = {.len = sizeof(addrs->a[i])};
			char text[ADDR_STRLEN];
			memcpy(&a.u.ss, &addrs->a[i], sizeof(addrs->a[i]));
			snprintf(why, sizeof(why), "target address %s %s", addr_format(&a, text),
			         no);
			px_refuse(p, 403, why, NULL);
			return;
		}
	}
	struct happy_opts o = {.attempt_delay_ms = p->lc->dns.happy_delay_ms,
	                       .timeout_ms = p->lc->connect_timeout_ms,
	                       .prepare = px_prepare};
	p->state = PX_CONNECT;
	err = happy_start(p->w->loop, addrs, &o, px_connected, p, &p->h);
	if (err) {
		snprintf(why, sizeof(why), "cannot connect: %s", strerror(-err));
		px_refuse(p, 502, why, NULL);
	}
}

int proxy_dns(struct worker *w, const struct conf_listener *lc)
{
	if (w->dns)
		return 0;
	const struct conf_dns *c = &lc->dns;
	struct dns_opts o = {.min_ttl_s = (uint32_t)c->min_ttl_s,
	                     .max_ttl_s = (uint32_t)c->max_ttl_s,
	                     .neg_ttl_s = (uint32_t)c->neg_ttl_s,
	                     .cache_entries = DNS_CACHE_ENTRIES,
	                     .timeout_ms = c->timeout_ms,
	                     .tries = c->tries,
	                     .servers = c->servers};
	return dns_new(w->loop, &o, &w->dns);
}

const char *proxy_check_name(const struct conf_listener *lc, const char *host, uint16_t port,
                             bool *name_allowed)
{
	/* A numeric target only matches address patterns, which the
	 * resolved-address check covers. */
	unsigned char bin[16];
	bool numeric = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
	bool allowed = acl_match_host(lc->acl_allow, host, port);
	*name_allowed = acl_count(lc->acl_allow) == 0 || (!numeric && allowed);
	if (!numeric && acl_match_host(lc->acl_deny, host, port))
		return "target denied by the listener's deny list";
	if (!numeric && acl_match_host(lc->acl_default, host, port) && !allowed)
		return "target denied by the default deny list";
	return NULL;
}

int proxy_auth(struct worker *w, const struct conf_listener *lc, const struct http1_msg *m,
               char *user, size_t usersz)
{
	if (!lc->auth_db)
		return 0;
	const struct http1_header *h = http1_find(m, "Proxy-Authorization");
	if (!h)
		return -ENOENT;
	uint64_t now = loop_now(w->loop);
	if (!w->acache && auth_cache_new(0, 0, &w->acache))
		w->acache = NULL; /* no cache: every request pays the key derivation */
	if (w->acache && auth_cache_hit(w->acache, lc->auth_gen, h->value.p, h->value.len, now)) {
		/* The cache keeps no names: recover it without the slow check. */
		snprintf(user, usersz, "(cached)");
		return 0;
	}
	int err = auth_check_basic(lc->auth_db, h->value.p, h->value.len, user, usersz);
	/* The check took tens of ms of this loop's time. */
	now = loop_update_time(w->loop);
	if (err)
		return err;
	if (w->acache)
		auth_cache_put(w->acache, lc->auth_gen, h->value.p, h->value.len, now);
	return 0;
}

/* An absolute-form request: the connection becomes a forward-proxy client
 * (proxy_http.c), which parses the head again from the same bytes. */
static void px_forward(struct proxy_conn *p)
{
	int fd = p->io.fd;
	struct proxy_client pc = {
	    .slot = p->cli, .read = p->pre_read + p->len, .sent = p->pre_sent};
	p->cli.slot = -1; /* it goes with the socket */
	loop_del(p->w->loop, &p->io);
	proxy_http_adopt(p->wl, fd, &pc, p->buf, p->len, p->cap);
	p->buf = NULL;
	px_free(p, true);
}

static void px_request(struct proxy_conn *p)
{
	const struct http1_msg *m = &p->msg;
	const struct conf_listener *lc = p->lc;
	loop_timer_cancel(p->w->loop, &p->timer);
	/* Methods are case-sensitive (RFC 9110 9.1). */
	if (m->method.len != 7 || memcmp(m->method.p, "CONNECT", 7)) {
		if (lc->forward_proxy) {
			px_forward(p);
			return;
		}
		px_refuse(p, 405, "only CONNECT is supported (forward_proxy = false)",
		          "Allow: CONNECT");
		return;
	}
	if (m->form != HTTP1_TARGET_AUTHORITY || !m->host.len || m->host.len >= sizeof(p->host) ||
	    !m->port) {
		px_refuse(p, 400, "CONNECT needs host:port", NULL);
		return;
	}
	memcpy(p->host, m->host.p, m->host.len);
	p->host[m->host.len] = 0;
	p->port = (uint16_t)m->port;
	snprintf(p->t->target, sizeof(p->t->target), strchr(p->host, ':') ? "[%s]:%u" : "%s:%u",
	         p->host, m->port);
	int err = proxy_auth(p->w, lc, &p->msg, p->t->user, sizeof(p->t->user));
	if (err) {
		px_refuse(p, 407,
		          err == -ENOENT ? "proxy credentials required"
		                         : "proxy credentials refused",
		          "Proxy-Authenticate: Basic realm=\"kfwd\"");
		return;
	}
	const char *no = proxy_check_name(lc, p->host, p->port, &p->name_allowed);
	if (no) {
		px_refuse(p, 403, no, NULL);
		return;
	}
	if ((err = proxy_dns(p->w, lc))) {
		px_refuse(p, 502, "resolver unavailable", NULL);
		return;
	}
	struct dns_addrs now;
	p->state = PX_RESOLVE;
	err = dns_resolve(p->w->dns, p->host, p->port, px_resolved, p, &now, &p->q);
	if (err == 1)
		px_resolved(p, 0, &now);
	else if (err < 0)
		px_resolved(p, err, NULL);
}

/* Read what arrived and parse; act once the head is complete. */
static void px_read(struct proxy_conn *p)
{
	bool eof = false;
	while (p->len < p->cap) {
		ssize_t n = recv(p->io.fd, p->buf + p->len, p->cap - p->len, 0);
		if (n > 0) {
			p->len += (size_t)n;
		} else if (n == 0) {
			eof = true;
			break;
		} else if (errno == EAGAIN) {
			break;
		} else if (errno != EINTR) {
			eof = true;
			break;
		}
	}
	struct http1_limits lim = {.max_head = (size_t)p->lc->header_limit};
	int r = http1_parse_request(p->buf, p->len, &lim, &p->msg);
	if (r == 0) {
		px_request(p);
	} else if (r == -EPROTO) {
		px_refuse(p, p->msg.err_status, p->msg.err_reason, NULL);
	} else if (eof) {
		ctr_add(&p->wl->ctr->err[ERR_CLIENT_GONE], 1);
		px_free(p, false);
	}
}

static void px_io_cb(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct proxy_conn *p = container_of(io, struct proxy_conn, io);
	(void)l;
	if (p->state == PX_HEAD) {
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			px_read(p);
		return;
	}
	/* Resolving or connecting: the client's next bytes (and FIN) wait in its
	 * socket for the relay; only a reset ends the attempt early. */
	if (ev & EPOLLERR) {
		ctr_add(&p->wl->ctr->err[ERR_CLIENT_GONE], 1);
		px_free(p, false);
	}
}

static void px_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct proxy_conn *p = container_of(t, struct proxy_conn, timer);
	(void)l;
	if (p->state == PX_HEAD)
		px_refuse(p, 408, "request head not received in time", NULL);
}

/* Negotiate on fd; buf (cap bytes, taken, may be NULL after a failed
 * allocation) holds len bytes already read. pc: the connection comes from
 * the forward proxy (its flow is counted, its slot and byte counts come
 * along), NULL for a new one. */
static void px_start(struct wlsn *wl, int fd, const struct proxy_client *pc, char *buf, size_t len,
                     size_t cap)
{
	struct worker *w = wl->w;
	struct proxy_conn *p = calloc(1, sizeof(*p));
	struct proxy_tunnel *t = calloc(1, sizeof(*t));
	if (!p || !buf || !t) {
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		free(p);
		free(buf);
		free(t);
		close(fd);
		if (pc) {
			struct fastpath_sock s = pc->slot;
			if (w->fp)
				fastpath_release(w->fp, &s);
			wlsn_flow_end(wl);
		}
		return;
	}
	p->w = w;
	p->wl = wl;
	p->lc = conf_listener_ref(wl->lc);
	p->state = PX_HEAD;
	p->cli.slot = -1;
	/* Also orders us after the sockops program: it runs on the new socket
	 * under the socket lock, which this setsockopt takes. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pc) {
		p->cli = pc->slot;
		p->pre_read = pc->read - len; /* buf's bytes are read now, again */
		p->pre_sent = pc->sent;
	} else if (w->fp && fastpath_claim(w->fp, fd, &p->cli) == 0) {
		tcp_fast_kick(fd); /* the request may have come before accept() */
	}
	p->io = (struct loop_io){.fd = fd, .fn = px_io_cb};
	p->timer.fn = px_timer_cb;
	p->buf = buf;
	p->len = len;
	p->cap = cap;
	http1_msg_init(&p->msg);
	p->t = t;
	t->id = ((uint64_t)w->id << 48) | ++w->next_tunnel_id;
	t->loop = w->loop;
	t->start_ms = loop_now(w->loop);
	snprintf(t->listener, sizeof(t->listener), "%s", wl->l->name);
	if (p->lc->log_client_address) {
		struct addr a = {.len = sizeof(a.u.ss)};
		if (!getpeername(fd, &a.u.sa, &a.len))
			addr_format(&a, t->client);
	}
	p->next = w->pconns;
	if (w->pconns)
		w->pconns->prev = p;
	w->pconns = p;
	if (!pc)
		wlsn_flow_begin(wl);
	if (loop_add(w->loop, &p->io, EPOLLIN | EPOLLRDHUP) ||
	    loop_timer_set(w->loop, &p->timer, (uint64_t)p->lc->request_timeout_ms)) {
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		px_free(p, false);
		return;
	}
	/* The request often arrives with the handshake: read it now. */
	px_read(p);
}

void proxy_accept(struct wlsn *wl, int fd)
{
	size_t cap = (size_t)wl->lc->header_limit + 1;
	px_start(wl, fd, NULL, malloc(cap), 0, cap);
}

void proxy_connect_adopt(struct wlsn *wl, int fd, const struct proxy_client *pc, char *buf,
                         size_t len, size_t cap)
{
	px_start(wl, fd, pc, buf, len, cap);
}

void proxy_cut_all(struct worker *w)
{
	proxy_http_cut_all(w);
	while (w->pconns) {
		ctr_add(&w->pconns->wl->ctr->err[ERR_SHUTDOWN_CUT], 1);
		px_free(w->pconns, false);
	}
}

void proxy_worker_free(struct worker *w)
{
	if (w->dns)
		dns_free(w->dns);
	w->dns = NULL;
	auth_cache_free(w->acache);
	w->acache = NULL;
}
