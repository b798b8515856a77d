/*
 * From HTTP/1.1 heads: hop-by-hop filtering, the HTTP/3 lists handed to
 * nghttp3, and the forward proxy's origin-form rewrite.
 */
#include "http_xlate.h"
#include "http1_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const hop_names[] = {
    "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer",
};

bool http_is_hop_by_hop(const struct http1_msg *m, struct http1_str name, unsigned flags)
{
	for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++)
		if (http1_str_ieq(name, hop_names[i]))
			return true;
	if ((flags & HTTP_HOP_PROXY_AUTH) && (http1_str_ieq(name, "proxy-authorization") ||
	                                      http1_str_ieq(name, "proxy-authenticate")))
		return true;
	for (unsigned i = 0; i < m->nheaders; i++) {
		struct http1_str v = m->headers[i].value, tok;
		if (!http1_str_ieq(m->headers[i].name, "connection"))
			continue;
		while (http1_list_next(&v, &tok))
			if (http1_slice_ieq(tok, name))
				return true;
	}
	return false;
}

void http_nvlist_free(struct http_nvlist *l)
{
	free(l->nv);
	free(l->arena);
	memset(l, 0, sizeof(*l));
}

static int nvlist_alloc(struct http_nvlist *l, size_t nv_cap, size_t arena_cap)
{
	memset(l, 0, sizeof(*l));
	l->nv = calloc(nv_cap, sizeof(*l->nv));
	l->arena = malloc(arena_cap);
	if (!l->nv || !l->arena) {
		http_nvlist_free(l);
		return -ENOMEM;
	}
	l->nv_cap = nv_cap;
	l->arena_cap = arena_cap;
	return 0;
}

/* Copy s into the arena (lowercased when lc); NULL when the arena is full. */
static const char *arena_put(struct http_nvlist *l, const char *s, size_t len, bool lc)
{
	if (len > l->arena_cap - l->arena_len)
		return NULL;
	char *d = l->arena + l->arena_len;
	for (size_t i = 0; i < len; i++)
		d[i] = lc && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
	l->arena_len += len;
	return d;
}

static int nv_add(struct http_nvlist *l, const char *name, size_t nlen, const char *value,
                  size_t vlen)
{
	if (l->n == l->nv_cap)
		return -ENOMEM;
	l->nv[l->n++] = (nghttp3_nv){
	    .name = (const uint8_t *)name,
	    .value = (const uint8_t *)value,
	    .namelen = nlen,
	    .valuelen = vlen,
	    .flags = NGHTTP3_NV_FLAG_NONE,
	};
	return 0;
}

static int nv_lit(struct http_nvlist *l, const char *name, struct http1_str value)
{
	return nv_add(l, name, strlen(name), value.p, value.len);
}

/* Add a field with its name lowercased into the arena; the value stays where it is. */
static int nv_field(struct http_nvlist *l, const struct http1_header *h)
{
	const char *name = arena_put(l, h->name.p, h->name.len, true);
	return name ? nv_add(l, name, h->name.len, h->value.p, h->value.len) : -ENOMEM;
}

/* Fields the 1to3 translations never copy: hop-by-hop, and those rebuilt as pseudo-headers. */
static bool skip_field(const struct http1_msg *m, const struct http1_header *h, unsigned flags,
                       bool ws)
{
	if (http_is_hop_by_hop(m, h->name, flags) || http1_str_ieq(h->name, "host"))
		return true;
	/* an extended CONNECT stream has no content-length: the bytes are the WebSocket */
	return ws && http1_str_ieq(h->name, "content-length");
}

/* RFC 7239 §4: a value is a token or a quoted-string; IPv6 "for" nodes need quotes. */
static size_t fwd_value(char *dst, size_t cap, const char *s, size_t len)
{
	bool tok = len > 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		tok = tok && http1_is_tchar((unsigned char)s[i]);
	if (tok) {
		n = len < cap ? len : 0;
		memcpy(dst, s, n);
		return n;
	}
	if (cap < 2 * len + 3)
		return 0;
	dst[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			dst[n++] = '\\';
		dst[n++] = s[i];
	}
	dst[n++] = '"';
	return n;
}

/* Build "for=..;proto=..;host=.." into the arena. */
static int add_forwarded(struct http_nvlist *l, const struct sockaddr *sa, struct http1_str proto,
                         struct http1_str host)
{
	char ip[INET6_ADDRSTRLEN + 2];
	size_t iplen;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		ip[0] = '[';
		if (!inet_ntop(AF_INET6, &s6->sin6_addr, ip + 1, INET6_ADDRSTRLEN))
			return -EINVAL;
		iplen = strlen(ip);
		ip[iplen++] = ']';
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		if (!inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)))
			return -EINVAL;
		iplen = strlen(ip);
	} else {
		return -EINVAL;
	}
	char *start = l->arena + l->arena_len, *d = start;
	size_t cap = l->arena_cap - l->arena_len, k;
	struct {
		const char *key;
		const char *v;
		size_t len;
	} parts[] = {
	    {"for=", ip, iplen}, {";proto=", proto.p, proto.len}, {";host=", host.p, host.len}};
	for (size_t i = 0; i < 3; i++) {
		size_t kl = strlen(parts[i].key);
		if (!parts[i].len)
			continue;
		if (cap - (size_t)(d - start) < kl)
			return -ENOMEM;
		memcpy(d, parts[i].key, kl);
		d += kl;
		k = fwd_value(d, cap - (size_t)(d - start), parts[i].v, parts[i].len);
		if (!k)
			return -ENOMEM;
		d += k;
	}
	l->arena_len += (size_t)(d - start);
	return nv_add(l, "forwarded", 9, start, (size_t)(d - start));
}

/* Room for every name lowercased plus the built values. */
static size_t arena_need(const struct http1_msg *m)
{
	size_t n = 512 + 2 * m->authority.len;
	for (unsigned i = 0; i < m->nheaders; i++)
		n += m->headers[i].name.len;
	return n;
}

static int req_pseudo(const struct http1_msg *req, const struct http_xlate_opts *o, bool ws,
                      struct http_nvlist *l, struct http1_str *scheme)
{
	int err = 0;
	bool connect = req->form == HTTP1_TARGET_AUTHORITY;
	*scheme = req->form == HTTP1_TARGET_ABSOLUTE
	              ? req->scheme
	              : http1_cstr(o && o->scheme ? o->scheme : "http");
	if (req->form == HTTP1_TARGET_ABSOLUTE) {
		const char *lc = arena_put(l, scheme->p, scheme->len, true);
		if (!lc)
			return -ENOMEM;
		scheme->p = lc;
	}
	err |= nv_lit(l, ":method", ws ? http1_cstr("CONNECT") : req->method);
	if (ws)
		err |= nv_lit(l, ":protocol", http1_cstr("websocket"));
	if (!connect)
		err |= nv_lit(l, ":scheme", *scheme);
	err |= nv_lit(l, ":authority", req->authority);
	if (!connect)
		err |= nv_lit(l, ":path", req->path);
	return err ? -ENOMEM : 0;
}

int http_xlate_req_1to3(const struct http1_msg *req, const struct http_xlate_opts *o,
                        struct http_nvlist *out)
{
	unsigned flags = o ? o->hop_flags : 0;
	/* RFC 9220 needs GET; anything else asking for websocket is a plain request */
	bool ws = (req->flags & HTTP1_F_WEBSOCKET) && http1_str_eq(req->method, "GET");
	struct http1_str scheme;
	int err;
	if (req->authority.len == 0)
		return -EINVAL;
	err = nvlist_alloc(out, req->nheaders + 8, arena_need(req));
	if (err)
		return err;
	err = req_pseudo(req, o, ws, out, &scheme);
	for (unsigned i = 0; i < req->nheaders && !err; i++)
		if (!skip_field(req, &req->headers[i], flags, ws))
			err = nv_field(out, &req->headers[i]);
	if (!err && o && o->forwarded_for)
		err = add_forwarded(out, o->forwarded_for, scheme, req->authority);
	if (err)
		http_nvlist_free(out);
	return err;
}

int http_xlate_resp_1to3(const struct http1_msg *resp, bool ws, const struct http_xlate_opts *o,
                         struct http_nvlist *out)
{
	unsigned flags = o ? o->hop_flags : 0;
	unsigned status = resp->status;
	char st[4];
	int err;
	if (status == 101 && !(ws && (resp->flags & HTTP1_F_WEBSOCKET)))
		return -EPROTO;
	if (status == 101)
		status = 200; /* extended CONNECT accepted (RFC 9220 §3) */
	err = nvlist_alloc(out, resp->nheaders + 2, arena_need(resp));
	if (err)
		return err;
	snprintf(st, sizeof(st), "%03u", status);
	const char *sv = arena_put(out, st, 3, false);
	err = sv ? nv_add(out, ":status", 7, sv, 3) : -ENOMEM;
	for (unsigned i = 0; i < resp->nheaders && !err; i++)
		if (!skip_field(resp, &resp->headers[i], flags, ws && resp->status == 101))
			err = nv_field(out, &resp->headers[i]);
	if (err)
		http_nvlist_free(out);
	return err;
}

int http_xlate_req_1to1(const struct http1_msg *req, unsigned hop_flags, struct buf *out,
                        struct http_xlate_res *res)
{
	memset(res, 0, sizeof(*res));
	if (req->form == HTTP1_TARGET_AUTHORITY || req->authority.len == 0)
		return -EINVAL;
	buf_put(out, req->method.p, req->method.len);
	buf_put(out, " ", 1);
	buf_put(out, req->path.p, req->path.len);
	buf_put(out, " HTTP/1.1\r\nHost: ", 17);
	buf_put(out, req->authority.p, req->authority.len);
	buf_put(out, "\r\n", 2);
	for (unsigned i = 0; i < req->nheaders; i++) {
		const struct http1_header *h = &req->headers[i];
		if (http_is_hop_by_hop(req, h->name, hop_flags) || http1_str_ieq(h->name, "host"))
			continue;
		buf_put(out, h->name.p, h->name.len);
		buf_put(out, ": ", 2);
		buf_put(out, h->value.p, h->value.len);
		buf_put(out, "\r\n", 2);
	}
	if (req->framing == HTTP1_BODY_CHUNKED)
		buf_put(out, "Transfer-Encoding: chunked\r\n", 28);
	buf_put(out, "\r\n", 2);
	res->framing = req->framing;
	res->content_length = req->content_length;
	res->keep_alive = true;
	return out->oom ? -ENOMEM : 0;
}

int http_xlate_resp_1to1(const struct http1_msg *resp, const struct http_client_ctx *c,
                         struct buf *out, struct http_xlate_res *res)
{
	memset(res, 0, sizeof(*res));
	if (resp->flags & HTTP1_F_SWITCHING) {
		/* The request's Upgrade was dropped as hop-by-hop: no 101 can be right. */
		res->err_status = 502;
		res->err_reason = "the target switched protocols without being asked";
		return -EPROTO;
	}
	if (resp->status < 200) {
		res->flags = HTTP1_F_INFORMATIONAL;
		res->framing = HTTP1_BODY_NONE;
		res->keep_alive = true;
		/* An HTTP/1.0 client does not know interim responses (RFC 9110 §15.2). */
		if (c->version_minor)
			buf_printf(out, "HTTP/1.1 %u %.*s\r\n\r\n", resp->status,
			           (int)resp->reason.len, resp->reason.p);
		return out->oom ? -ENOMEM : 0;
	}
	enum http1_framing f = resp->framing;
	/* A body of unknown length reaches an HTTP/1.1 client chunked, so the
	 * client connection survives it; an HTTP/1.0 one reads it to our close. */
	if (f == HTTP1_BODY_CHUNKED || f == HTTP1_BODY_CLOSE)
		f = c->version_minor ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
	res->framing = f;
	res->content_length = resp->content_length;
	res->keep_alive = c->keep_alive && f != HTTP1_BODY_CLOSE;
	buf_printf(out, "HTTP/1.1 %u %.*s\r\n", resp->status, (int)resp->reason.len,
	           resp->reason.p);
	for (unsigned i = 0; i < resp->nheaders; i++) {
		const struct http1_header *h = &resp->headers[i];
		if (http_is_hop_by_hop(resp, h->name, HTTP_HOP_PROXY_AUTH) ||
		    (f == HTTP1_BODY_CHUNKED && http1_str_ieq(h->name, "content-length")))
			continue;
		buf_put(out, h->name.p, h->name.len);
		buf_put(out, ": ", 2);
		buf_put(out, h->value.p, h->value.len);
		buf_put(out, "\r\n", 2);
	}
	buf_put(out, HTTP_XLATE_VIA "\r\n", sizeof(HTTP_XLATE_VIA) + 1);
	if (f == HTTP1_BODY_CHUNKED)
		buf_put(out, "Transfer-Encoding: chunked\r\n", 28);
	if (!res->keep_alive)
		buf_put(out, "Connection: close\r\n", 19);
	else if (!c->version_minor)
		buf_put(out, "Connection: keep-alive\r\n", 24);
	buf_put(out, "\r\n", 2);
	return out->oom ? -ENOMEM : 0;
}
