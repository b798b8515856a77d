/*
 * The forward proxy: absolute-form requests ("GET http://host/path HTTP/1.1")
 * on a mode connect listener with forward_proxy on. proxy.c hands a client
 * connection over at its first such request; from then on it lives here, one
 * request at a time: read the head, check auth and the ACLs exactly as for
 * CONNECT (proxy_int.h), reuse the target connection if the request names
 * the same host:port as the last one (else close it, resolve, check every
 * address, race the connections), send the head in origin-form without
 * hop-by-hop fields, then move the request body up and the response down at
 * the same time (a target may answer before the upload ends). Bodies are
 * re-framed where needed: chunked is decoded and encoded again, a
 * close-delimited response reaches an HTTP/1.1 client chunked. When both
 * messages are complete the next request is read; pipelined bytes wait in the
 * client buffer. A CONNECT goes back to proxy.c (proxy_connect_adopt) with
 * the bytes read so far. One access-log record per request.
 */
#include "auth.h"
#include "dns.h"
#include "happy.h"
#include "http_xlate.h"
#include "jsonw.h"
#include "log.h"
#include "proxy_body.h"
#include "proxy_int.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FWD_BUF    (64 * 1024) /* body bytes buffered per direction */
#define FWD_BUDGET 32          /* pump rounds per callback before yielding to other flows */

enum fwd_state {
	FW_HEAD,    /* reading the next request head (request_timeout_ms) */
	FW_RESOLVE, /* the target's name is being resolved */
	FW_CONNECT, /* connections to its addresses are racing */
	FW_XFER,    /* request up, response down */
};

/* Progress of a pump step. */
enum { P_IDLE = 0, P_MORE = 1, P_GONE = -1 };

/* What the access log says about the current request. */
struct fwd_rec {
	uint64_t id;
	uint64_t start_ms;
	char method[32];
	char target[HTTP1_AUTHORITY_MAX + 2];
	char user[AUTH_USER_MAX + 1];
	unsigned status;
	uint64_t up, down; /* bytes written to the target / to the client */
	bool reused;       /* sent on a kept target connection */
};

struct fwd {
	struct worker *w;
	struct wlsn *wl;
	struct conf_listener *lc;
	enum fwd_state state;
	struct loop_io cio, uio;     /* client; target (fd -1: none) */
	struct fastpath_sock cslot;  /* the client socket's fast-path slot (proxy_client) */
	uint64_t c_read, c_sent;     /* bytes read from and written to the client in all */
	bool c_rd, c_wr, u_rd, u_wr; /* edge-triggered readiness as far as we know */
	bool c_eof, u_eof;
	struct loop_timer timer;
	struct loop_pending pend;
	uint64_t last_active;
	struct pxq cin, uout, uin, cout;
	struct http1_msg msg; /* the request head, then each response head */
	char host[256];
	uint16_t port;
	char key[HTTP1_AUTHORITY_MAX + 8];  /* "host:port" lowercased: the current target */
	char ukey[HTTP1_AUTHORITY_MAX + 8]; /* the one uio is connected to */
	bool name_allowed;
	struct http_client_ctx cctx;
	struct pxbody req, resp;
	bool resp_head; /* the final response head has been parsed */
	bool resp_sent; /* response bytes were written to the client: no error status can follow */
	bool up_keep;   /* the target connection may carry another request */
	bool client_keep; /* the client connection may carry another request */
	bool up_dead;     /* writing to the target failed: the request is abandoned */
	struct dns_query *q;
	struct happy *h;
	struct fwd_rec r;
	char client[ADDR_STRLEN]; /* empty unless log_client_address */
	struct fwd *prev, *next;
};

static void fwd_pump(struct fwd *f);

/* ---- the request's target ---- */

const char *proxy_http_target(const struct http1_msg *m, char *host, size_t hostsz, uint16_t *port,
                              unsigned *status)
{
	*status = 400;
	if (m->form != HTTP1_TARGET_ABSOLUTE)
		return "not a proxy request: the target must be absolute-form "
		       "(http://host[:port]/path), or use CONNECT";
	if (!http1_str_ieq(m->scheme, "http")) {
		*status = 501;
		return "only http:// targets are forwarded; use CONNECT for https";
	}
	if (!m->host.len || m->host.len >= hostsz)
		return "invalid host in the request-target";
	memcpy(host, m->host.p, m->host.len);
	host[m->host.len] = 0;
	*port = m->port ? (uint16_t)m->port : 80;
	return NULL;
}

/* ---- lifetime ---- */

static void fwd_log(struct fwd *f, const char *result, const char *close_reason)
{
	struct fwd_rec *r = &f->r;
	proxy_access_log(&(struct proxy_access){
	    .id = r->id,
	    .listener = f->wl->l->name,
	    .target = r->target,
	    .method = r->method,
	    .status = r->status,
	    .result = result,
	    .close = close_reason,
	    .reused = r->reused,
	    .up = r->up,
	    .down = r->down,
	    .duration_ms = loop_now(f->w->loop) - r->start_ms,
	    .user = r->user,
	    .client = f->client,
	});
}

static void fwd_free_cb(void *arg)
{
	struct fwd *f = arg;
	free(f->cin.p);
	free(f->uout.p);
	free(f->uin.p);
	free(f->cout.p);
	free(f);
}

static void fwd_close_upstream(struct fwd *f)
{
	if (f->uio.fd < 0)
		return;
	loop_del(f->w->loop, &f->uio);
	close(f->uio.fd);
	f->uio.fd = -1;
	f->ukey[0] = 0;
	f->u_rd = f->u_wr = f->u_eof = false;
	f->uin.len = f->uin.off = 0; /* bytes of that connection mean nothing to the next */
}

/* Unlink f and close the target connection; unless handed_over (the client
 * socket and the flow went to another owner), close the client and end the
 * flow. */
static void fwd_release(struct fwd *f, bool handed_over)
{
	struct worker *w = f->w;
	struct loop *l = w->loop;
	if (f->prev)
		f->prev->next = f->next;
	else
		w->fconns = f->next;
	if (f->next)
		f->next->prev = f->prev;
	loop_timer_cancel(l, &f->timer);
	loop_pending_cancel(l, &f->pend);
	if (f->q)
		dns_cancel(f->q);
	if (f->h)
		happy_cancel(f->h);
	fwd_close_upstream(f);
	loop_del(l, &f->cio);
	conf_listener_unref(f->lc);
	if (!handed_over) {
		close(f->cio.fd);
		if (w->fp)
			fastpath_release(w->fp, &f->cslot);
		wlsn_flow_end(f->wl);
	}
	if (loop_defer(l, fwd_free_cb, f))
		log_err("proxy: cannot defer a free; leaking one forward-proxy connection");
}

static void fwd_free(struct fwd *f)
{
	fwd_release(f, false);
}

/* A CONNECT after forwarded requests: the tunnel is proxy.c's business. The
 * head is at the start of cin (the HEAD state compacts it). */
static int fwd_to_connect(struct fwd *f)
{
	int fd = f->cio.fd;
	struct wlsn *wl = f->wl;
	struct pxq in = f->cin;
	struct proxy_client pc = {.slot = f->cslot, .read = f->c_read, .sent = f->c_sent};
	f->cin.p = NULL;
	fwd_release(f, true);
	proxy_connect_adopt(wl, fd, &pc, in.p, in.len, in.cap);
	return P_GONE;
}

/* End the connection in the middle of a request: reason is an enum stats_err. */
static int fwd_abort(struct fwd *f, int reason)
{
	ctr_add(&f->wl->ctr->err[reason], 1);
	fwd_log(f, f->r.status ? "forward" : "aborted", stats_err_name(reason));
	fwd_free(f);
	return P_GONE;
}

/* Refuse the current request with status (nothing of a response was sent yet). */
static int fwd_refuse(struct fwd *f, unsigned status, const char *why, const char *extra)
{
	int err = stats_status_err(status);
	ctr_add(&f->wl->ctr->err[err], 1);
	log_debug("listener %s: %s: %u %s", f->wl->l->name,
	          f->r.target[0] ? f->r.target : "(no target)", status, why);
	proxy_answer_close(f->cio.fd, status, why, extra);
	f->r.status = status;
	fwd_log(f, "refused", stats_err_name(err));
	fwd_free(f);
	return P_GONE;
}

/* ---- per request ---- */

static void fwd_connected(void *arg, int fd, int err, const struct sockaddr_storage *peer)
{
	struct fwd *f = arg;
	(void)peer;
	f->h = NULL; /* happy frees itself after this call */
	if (fd < 0) {
		char why[128];
		if (err == -ECONNREFUSED)
			fwd_refuse(f, 502, "connection refused by the target", NULL);
		else if (err == -ETIMEDOUT)
			fwd_refuse(f, 504, "connect to the target timed out", NULL);
		else {
			snprintf(why, sizeof(why), "cannot connect to the target: %s",
			         strerror(-err));
			fwd_refuse(f, 502, why, NULL);
		}
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	f->uio = (struct loop_io){.fd = fd, .fn = f->uio.fn};
	if (loop_add(f->w->loop, &f->uio, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
		close(fd);
		f->uio.fd = -1;
		fwd_abort(f, ERR_RESOURCE);
		return;
	}
	snprintf(f->ukey, sizeof(f->ukey), "%s", f->key);
	f->u_rd = f->u_wr = true;
	f->state = FW_XFER;
	f->last_active = loop_now(f->w->loop);
	fwd_pump(f);
}

static int fwd_resolved(struct fwd *f, int err, const struct dns_addrs *addrs)
{
	char why[512];
	if (err) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", f->host, dns_strerror(err));
		return fwd_refuse(f, 502, why, NULL);
	}
	/* Every address, so a permitted name cannot lead to a refused address. */
	for (size_t i = 0; i < addrs->n; i++) {
		const char *no = proxy_addr_refusal(f->lc, f->name_allowed,
		                                    (const struct sockaddr *)&addrs->a[i]);
		if (no) {
			char text[ADDR_STRLEN];
			addr_format_sa((const struct sockaddr *)&addrs->a[i], text);
			snprintf(why, sizeof(why), "target address %s %s", text, no);
			return fwd_refuse(f, 403, why, NULL);
		}
	}
	struct happy_opts o = {.attempt_delay_ms = f->lc->dns.happy_delay_ms,
	                       .timeout_ms = f->lc->connect_timeout_ms};
	f->state = FW_CONNECT;
	err = happy_start(f->w->loop, addrs, &o, fwd_connected, f, &f->h);
	if (err) {
		snprintf(why, sizeof(why), "cannot connect: %s", strerror(-err));
		return fwd_refuse(f, 502, why, NULL);
	}
	return P_IDLE;
}

static void fwd_dns_cb(void *arg, int err, const struct dns_addrs *addrs)
{
	struct fwd *f = arg;
	f->q = NULL;
	fwd_resolved(f, err, addrs);
}

/* Whether the kept target connection can take the next request: no EOF, no
 * error and no unexpected bytes waiting (a target closes idle connections). */
static bool upstream_idle_ok(struct fwd *f)
{
	char c;
	if (f->u_eof)
		return false;
	ssize_t n = recv(f->uio.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && errno == EAGAIN;
}

/* Begin the exchange once the target is known: reuse, or resolve and connect. */
static int fwd_route(struct fwd *f)
{
	if (f->uio.fd >= 0) {
		if (!strcmp(f->ukey, f->key) && upstream_idle_ok(f)) {
			f->r.reused = true;
			f->state = FW_XFER;
			f->u_rd = f->u_wr = true;
			return P_MORE;
		}
		/* Another target (or a dead one): at most one per client connection. */
		fwd_close_upstream(f);
	}
	if (proxy_dns(f->w, f->lc))
		return fwd_refuse(f, 502, "resolver unavailable", NULL);
	struct dns_addrs now;
	f->state = FW_RESOLVE;
	int err = dns_resolve(f->w->dns, f->host, f->port, fwd_dns_cb, f, &now, &f->q);
	if (err == 1)
		return fwd_resolved(f, 0, &now);
	if (err < 0)
		return fwd_resolved(f, err, NULL);
	return P_IDLE;
}

/* A new access-log record; method NULL: the head did not parse. */
static void fwd_rec_begin(struct fwd *f, const struct http1_str *method)
{
	struct fwd_rec *r = &f->r;
	memset(r, 0, sizeof(*r));
	r->id = ((uint64_t)f->w->id << 48) | ++f->w->next_tunnel_id;
	r->start_ms = loop_now(f->w->loop);
	if (method)
		snprintf(r->method, sizeof(r->method), "%.*s", (int)method->len, method->p);
	else
		snprintf(r->method, sizeof(r->method), "-");
}

/* A complete request head is in f->msg (slices into cin). */
static int fwd_request(struct fwd *f)
{
	const struct http1_msg *m = &f->msg;
	struct fwd_rec *r = &f->r;
	fwd_rec_begin(f, &m->method);
	if (m->form == HTTP1_TARGET_AUTHORITY)
		return fwd_to_connect(f);
	unsigned status;
	const char *no = proxy_http_target(m, f->host, sizeof(f->host), &f->port, &status);
	if (no)
		return fwd_refuse(f, status, no, NULL);
	snprintf(r->target, sizeof(r->target), strchr(f->host, ':') ? "[%s]:%u" : "%s:%u", f->host,
	         f->port);
	snprintf(f->key, sizeof(f->key), "%s", r->target);
	for (char *c = f->key; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	int err = proxy_auth(f->w, f->lc, m, r->user, sizeof(r->user));
	if (err)
		return fwd_refuse(f, 407,
		                  err == -ENOENT ? "proxy credentials required"
		                                 : "proxy credentials refused",
		                  "Proxy-Authenticate: Basic realm=\"kfwd\"");
	if ((no = proxy_check_name(f->lc, f->host, f->port, &f->name_allowed)))
		return fwd_refuse(f, 403, no, NULL);

	/* The head in origin-form, before the bytes it points into move. */
	struct buf b;
	struct http_xlate_res res;
	buf_init(&b);
	err = http_xlate_req_1to1(m, HTTP_HOP_PROXY_AUTH, &b, &res);
	if (!err) { /* Via goes before the blank line that ends the head */
		b.len -= 2;
		buf_put(&b, HTTP_XLATE_VIA "\r\n\r\n", sizeof(HTTP_XLATE_VIA) + 3);
		err = b.oom ? -ENOMEM : 0;
	}
	if (err || b.len > pxq_space(&f->uout)) {
		buf_free(&b);
		return fwd_refuse(f, err == -ENOMEM || !err ? 431 : 400,
		                  "cannot rewrite the request head", NULL);
	}
	pxq_put(&f->uout, b.data, b.len);
	buf_free(&b);
	f->cctx = (struct http_client_ctx){
	    .req = http1_str_ieq(m->method, "HEAD") ? HTTP1_REQ_HEAD : 0,
	    .version_minor = m->version_minor,
	    .keep_alive = (m->flags & HTTP1_F_KEEP_ALIVE) != 0,
	};
	pxbody_init(&f->req, m->framing, m->framing, m->content_length);
	f->resp_head = f->resp_sent = f->up_dead = false;
	f->up_keep = f->client_keep = false;
	http1_msg_init(&f->msg);
	return fwd_route(f);
}

static int fwd_head(struct fwd *f)
{
	struct http1_limits lim = {.max_head = (size_t)f->lc->header_limit};
	for (;;) {
		int r = http1_parse_request(f->cin.p, f->cin.len, &lim, &f->msg);
		if (r == 0) {
			size_t head = f->msg.head_len;
			loop_timer_cancel(f->w->loop, &f->timer);
			f->last_active = loop_now(f->w->loop);
			int idle = conf_idle_ms(f->lc);
			if (loop_timer_set(f->w->loop, &f->timer, (uint64_t)idle))
				return fwd_abort(f, ERR_RESOURCE);
			int p = fwd_request(f);
			if (p != P_GONE)
				pxq_take(&f->cin, head);
			return p == P_GONE ? P_GONE : P_MORE;
		}
		if (r == -EPROTO) {
			fwd_rec_begin(f, NULL);
			return fwd_refuse(f, f->msg.err_status, f->msg.err_reason, NULL);
		}
		ssize_t n = pxq_read(f->cio.fd, &f->cin, &f->c_rd, &f->c_eof);
		if (n > 0)
			f->c_read += (uint64_t)n;
		if (n < 0 || (f->c_eof && f->cin.len)) {
			ctr_add(&f->wl->ctr->err[ERR_CLIENT_GONE], 1);
			fwd_free(f);
			return P_GONE;
		}
		if (f->c_eof) { /* between requests: a normal end */
			fwd_free(f);
			return P_GONE;
		}
		if (n == 0)
			return P_IDLE;
	}
}

/* The response is complete and delivered: log it, then the next request or the end. */
static int fwd_done(struct fwd *f)
{
	bool whole = f->req.done && !f->uout.len && !f->up_dead;
	fwd_log(f, "forward", whole ? "done" : "request body not sent");
	/* Bytes behind the response would be taken for the next one's. */
	if (!whole || !f->up_keep || f->uin.len)
		fwd_close_upstream(f);
	/* A stopping worker lets the exchange finish but takes no next request. */
	if (!whole || !f->client_keep || f->w->draining) {
		shutdown(f->cio.fd, SHUT_WR);
		fwd_free(f);
		return P_GONE;
	}
	f->state = FW_HEAD;
	pxq_compact(&f->cin);
	loop_timer_cancel(f->w->loop, &f->timer);
	if (loop_timer_set(f->w->loop, &f->timer, (uint64_t)f->lc->request_timeout_ms))
		return fwd_abort(f, ERR_RESOURCE);
	return P_MORE;
}

/* Parse response heads in uin and pass them on, 1xx included. */
static int fwd_resp_head(struct fwd *f)
{
	struct http1_limits lim = {.max_head = (size_t)FWD_BUF - 1};
	int did = P_IDLE;
	while (!f->resp_head && !f->cout.len) {
		pxq_compact(&f->uin);
		int r = http1_parse_response(f->uin.p, f->uin.len, &lim, f->cctx.req, &f->msg);
		if (r == -EAGAIN) {
			if (!f->u_eof)
				return did;
			if (f->resp_sent)
				return fwd_abort(f, ERR_BACKEND_RESET);
			return fwd_refuse(f, 502,
			                  f->uin.len ? "the target's response head is incomplete"
			                             : "the target closed the connection without "
			                               "answering",
			                  NULL);
		}
		struct buf b;
		struct http_xlate_res res;
		buf_init(&b);
		if (!r)
			r = http_xlate_resp_1to1(&f->msg, &f->cctx, &b, &res);
		if (r || b.len > pxq_space(&f->cout)) {
			const char *why =
			    r == -EPROTO ? (f->msg.err_reason ? f->msg.err_reason : res.err_reason)
			                 : "cannot rewrite the response head";
			buf_free(&b);
			if (f->resp_sent)
				return fwd_abort(f, ERR_BACKEND_RESET);
			char text[160];
			snprintf(text, sizeof(text), "bad response from the target: %s", why);
			return fwd_refuse(f, 502, text, NULL);
		}
		pxq_put(&f->cout, b.data, b.len);
		buf_free(&b);
		pxq_take(&f->uin, f->msg.head_len);
		if (!(res.flags & HTTP1_F_INFORMATIONAL)) {
			f->resp_head = true;
			f->r.status = f->msg.status;
			f->up_keep = (f->msg.flags & HTTP1_F_KEEP_ALIVE) != 0;
			f->client_keep = res.keep_alive;
			pxbody_init(&f->resp, f->msg.framing, res.framing, f->msg.content_length);
		}
		http1_msg_init(&f->msg);
		did = P_MORE;
	}
	return did;
}

static int fwd_xfer(struct fwd *f)
{
	int moved = 0;
	const char *why = NULL;
	ssize_t n = 0;
	/* Upload: the request body, re-framed, behind the head. */
	if (!f->req.done && !f->up_dead) {
		if (!f->c_eof && (n = pxq_read(f->cio.fd, &f->cin, &f->c_rd, &f->c_eof)) != 0)
			moved = 1;
		if (n > 0)
			f->c_read += (uint64_t)n;
		if (n < 0)
			return fwd_abort(f, ERR_CLIENT_GONE);
		int r = pxbody_step(&f->req, &f->cin, &f->uout, false, &why);
		if (r < 0) {
			log_debug("listener %s: %s: request body: %s", f->wl->l->name, f->r.target,
			          why);
			return fwd_abort(f, ERR_HTTP_400);
		}
		moved |= r;
		if (!f->req.done && f->c_eof && !f->cin.len)
			return fwd_abort(f, ERR_CLIENT_GONE);
	}
	if (f->uout.len && !f->up_dead) {
		n = pxq_write(f->uio.fd, &f->uout, &f->u_wr);
		if (n < 0) {
			/* The target may still have answered (say 413): read on. */
			f->up_dead = true;
			f->uout.len = f->uout.off = 0;
		} else if (n) {
			f->r.up += (uint64_t)n;
			ctr_add(&f->wl->ctr->bytes_in, (uint64_t)n);
			moved = 1;
		}
	}
	/* Download: response heads, then the body. */
	if (!f->u_eof && (n = pxq_read(f->uio.fd, &f->uin, &f->u_rd, &f->u_eof)) != 0) {
		if (n < 0)
			f->u_eof = true; /* a reset: what arrived is all there is */
		moved = 1;
	}
	if (!f->resp_head) {
		int r = fwd_resp_head(f);
		if (r == P_GONE)
			return P_GONE;
		moved |= r;
	}
	if (f->resp_head && !f->resp.done) {
		int r = pxbody_step(&f->resp, &f->uin, &f->cout, f->u_eof, &why);
		if (r < 0) {
			char text[160];
			snprintf(text, sizeof(text), "bad response body from the target: %s", why);
			if (!f->resp_sent) /* what is buffered can still be replaced */
				return fwd_refuse(f, 502, text, NULL);
			log_debug("listener %s: %s: %s", f->wl->l->name, f->r.target, text);
			return fwd_abort(f, ERR_BACKEND_RESET);
		}
		moved |= r;
	}
	if (f->cout.len) {
		n = pxq_write(f->cio.fd, &f->cout, &f->c_wr);
		if (n < 0)
			return fwd_abort(f, ERR_CLIENT_GONE);
		if (n) {
			f->c_sent += (uint64_t)n;
			f->resp_sent = true;
			f->r.down += (uint64_t)n;
			ctr_add(&f->wl->ctr->bytes_out, (uint64_t)n);
			moved = 1;
		}
	}
	if (moved)
		f->last_active = loop_now(f->w->loop);
	if (f->resp_head && f->resp.done && !f->cout.len)
		return fwd_done(f);
	if (f->up_dead && f->u_eof && !f->resp_head)
		return fwd_refuse(f, 502, "the target closed the connection during the request",
		                  NULL);
	return moved ? P_MORE : P_IDLE;
}

static void fwd_pump(struct fwd *f)
{
	for (int round = 0; round < FWD_BUDGET; round++) {
		int p;
		switch (f->state) {
		case FW_HEAD:
			p = fwd_head(f);
			break;
		case FW_XFER:
			p = fwd_xfer(f);
			break;
		default:
			return; /* a callback resumes it */
		}
		if (p != P_MORE)
			return;
	}
	loop_pending_add(f->w->loop, &f->pend);
}

/* ---- callbacks ---- */

static void fwd_cio_cb(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct fwd *f = container_of(io, struct fwd, cio);
	(void)l;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		f->c_rd = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		f->c_wr = true;
	if ((ev & EPOLLERR) && f->state != FW_XFER && f->state != FW_HEAD) {
		fwd_abort(f, ERR_CLIENT_GONE);
		return;
	}
	fwd_pump(f);
}

static void fwd_uio_cb(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct fwd *f = container_of(io, struct fwd, uio);
	(void)l;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		f->u_rd = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		f->u_wr = true;
	if (f->state == FW_XFER)
		fwd_pump(f);
}

static void fwd_pending_cb(struct loop *l, struct loop_pending *p)
{
	(void)l;
	fwd_pump(container_of(p, struct fwd, pend));
}

static void fwd_timer_cb(struct loop *l, struct loop_timer *t)
{
	struct fwd *f = container_of(t, struct fwd, timer);
	if (f->state == FW_HEAD) {
		if (!f->cin.len) { /* an idle kept connection: just close it */
			fwd_free(f);
			return;
		}
		fwd_rec_begin(f, NULL);
		fwd_refuse(f, 408, "request head not received in time", NULL);
		return;
	}
	uint64_t idle = (uint64_t)conf_idle_ms(f->lc), quiet = loop_now(l) - f->last_active;
	/* Resolving and connecting have their own limits (dns, connect_timeout_ms). */
	if (f->state != FW_XFER)
		quiet = 0;
	if (quiet < idle) {
		if (loop_timer_set(l, t, idle - quiet))
			fwd_abort(f, ERR_RESOURCE);
		return;
	}
	if (f->state == FW_XFER && !f->resp_sent)
		fwd_refuse(f, 504, "the target did not answer in time", NULL);
	else
		fwd_abort(f, ERR_IDLE_TIMEOUT);
}

void proxy_http_adopt(struct wlsn *wl, int fd, const struct proxy_client *pc, char *buf, size_t len,
                      size_t cap)
{
	struct worker *w = wl->w;
	struct fwd *f = calloc(1, sizeof(*f));
	size_t head = (size_t)wl->lc->header_limit + 1;
	size_t ccap = head > FWD_BUF ? head : FWD_BUF;
	char *cin = len <= ccap ? realloc(buf, ccap) : NULL;
	(void)cap;
	if (!f || !cin || pxq_alloc(&f->uout, ccap + 4096) || pxq_alloc(&f->uin, FWD_BUF) ||
	    pxq_alloc(&f->cout, FWD_BUF + 4096)) {
		ctr_add(&wl->ctr->err[ERR_RESOURCE], 1);
		if (f) {
			free(f->uout.p);
			free(f->uin.p);
		}
		free(f);
		free(cin ? cin : buf);
		close(fd);
		struct fastpath_sock s = pc->slot;
		if (w->fp)
			fastpath_release(w->fp, &s);
		wlsn_flow_end(wl);
		return;
	}
	f->cin = (struct pxq){.p = cin, .len = len, .cap = ccap};
	f->w = w;
	f->wl = wl;
	f->lc = conf_listener_ref(wl->lc);
	f->state = FW_HEAD;
	f->cio = (struct loop_io){.fd = fd, .fn = fwd_cio_cb};
	f->cslot = pc->slot;
	f->c_read = pc->read;
	f->c_sent = pc->sent;
	f->uio = (struct loop_io){.fd = -1, .fn = fwd_uio_cb};
	f->c_rd = f->c_wr = true;
	f->timer.fn = fwd_timer_cb;
	f->pend.fn = fwd_pending_cb;
	http1_msg_init(&f->msg);
	if (f->lc->log_client_address) {
		struct addr a = {.len = sizeof(a.u.ss)};
		if (!getpeername(fd, &a.u.sa, &a.len))
			addr_format(&a, f->client);
	}
	f->next = w->fconns;
	if (w->fconns)
		w->fconns->prev = f;
	w->fconns = f;
	if (loop_add(w->loop, &f->cio, EPOLLIN | EPOLLOUT | EPOLLRDHUP) ||
	    loop_timer_set(w->loop, &f->timer, (uint64_t)f->lc->request_timeout_ms)) {
		fwd_abort(f, ERR_RESOURCE);
		return;
	}
	fwd_pump(f);
}

void proxy_http_cut_all(struct worker *w)
{
	while (w->fconns) {
		ctr_add(&w->fconns->wl->ctr->err[ERR_SHUTDOWN_CUT], 1);
		fwd_free(w->fconns);
	}
}
