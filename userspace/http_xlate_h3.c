/*
 * From HTTP/3 lists to HTTP/1.1 heads. The list comes from the tunnel peer,
 * another trust domain: every rule of RFC 9114 §4.1.2-§4.3 is checked again
 * and a malformed list is refused rather than repaired, because a repaired
 * list is exactly what a smuggling attempt hopes for.
 */
#include "http_xlate.h"
#include "http1_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

/* The pseudo-headers and framing fields of one list. */
struct h3_head {
	struct http1_str method, scheme, authority, path, protocol, status;
	struct http1_str host; /* the regular "host" field, if any */
	unsigned ncl;          /* content-length fields */
	uint64_t content_length;
	bool has_cookie;
};

static struct http1_str nv_name(const nghttp3_nv *nv)
{
	return (struct http1_str){(const char *)nv->name, nv->namelen};
}

static struct http1_str nv_value(const nghttp3_nv *nv)
{
	return (struct http1_str){(const char *)nv->value, nv->valuelen};
}

static int fail(struct http_xlate_res *res, unsigned status, const char *why)
{
	res->err_status = status;
	res->err_reason = why;
	return -EPROTO;
}

/* RFC 9114 §4.2: names are lowercase tokens. */
static const char *check_name(struct http1_str s)
{
	if (s.len == 0)
		return "empty field name";
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c >= 'A' && c <= 'Z')
			return "uppercase character in field name";
		if (!http1_is_tchar(c))
			return "invalid character in field name";
	}
	return NULL;
}

/* RFC 9114 §4.1.2 (and RFC 9110 §5.5): no NUL/CR/LF, no edge whitespace. */
static const char *check_value(struct http1_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "control character in field value";
	}
	if (s.len &&
	    (s.p[0] == ' ' || s.p[0] == '\t' || s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		return "whitespace around field value";
	return NULL;
}

/* RFC 9114 §4.2: these make a message malformed; TE may only say "trailers". */
static const char *check_connection_specific(struct http1_str name, struct http1_str value)
{
	static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
	                                    "transfer-encoding", "upgrade"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (http1_str_eq(name, names[i]))
			return "connection-specific field";
	if (http1_str_eq(name, "te") && !http1_str_eq(value, "trailers"))
		return "te other than trailers";
	return NULL;
}

static const char *set_pseudo(struct h3_head *h, struct http1_str name, struct http1_str value,
                              bool request)
{
	static const struct {
		const char *name;
		size_t off;
		bool request;
	} known[] = {
	    {":method", offsetof(struct h3_head, method), true},
	    {":scheme", offsetof(struct h3_head, scheme), true},
	    {":authority", offsetof(struct h3_head, authority), true},
	    {":path", offsetof(struct h3_head, path), true},
	    {":protocol", offsetof(struct h3_head, protocol), true},
	    {":status", offsetof(struct h3_head, status), false},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!http1_str_eq(name, known[i].name))
			continue;
		if (known[i].request != request)
			return request ? "response pseudo-header in a request"
			               : "request pseudo-header in a response";
		struct http1_str *slot = (struct http1_str *)((char *)h + known[i].off);
		if (slot->p)
			return "duplicate pseudo-header";
		if (value.len == 0)
			return "empty pseudo-header";
		*slot = value;
		return NULL;
	}
	return "unknown pseudo-header";
}

static const char *parse_cl(struct http1_str v, uint64_t *out)
{
	uint64_t n = 0;
	if (v.len == 0 || v.len > 18)
		return "invalid content-length";
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return "invalid content-length";
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return NULL;
}

static const char *check_regular(struct h3_head *h, struct http1_str name, struct http1_str value)
{
	const char *why = check_name(name);
	if (!why)
		why = check_connection_specific(name, value);
	if (why)
		return why;
	if (http1_str_eq(name, "content-length")) {
		if (++h->ncl > 1)
			return "duplicate content-length";
		return parse_cl(value, &h->content_length);
	}
	if (http1_str_eq(name, "host")) {
		if (h->host.p)
			return "duplicate host";
		h->host = value;
	}
	if (http1_str_eq(name, "cookie"))
		h->has_cookie = true;
	return NULL;
}

/* One pass over the list: sort pseudo-headers from fields and check each. */
static int scan_list(const nghttp3_nv *nv, size_t n, bool request, struct h3_head *h,
                     struct http_xlate_res *res, unsigned status)
{
	bool regular = false;
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		struct http1_str name = nv_name(&nv[i]), value = nv_value(&nv[i]);
		const char *why = check_value(value);
		if (!why && name.len && name.p[0] == ':')
			why = regular ? "pseudo-header after a regular field"
			              : set_pseudo(h, name, value, request);
		else if (!why) {
			regular = true;
			why = check_regular(h, name, value);
		}
		if (why)
			return fail(res, status, why);
	}
	return 0;
}

static void put(struct buf *b, struct http1_str s)
{
	buf_put(b, s.p, s.len);
}

static void put_field(struct buf *b, struct http1_str name, struct http1_str value)
{
	put(b, name);
	buf_put(b, ": ", 2);
	put(b, value);
	buf_put(b, "\r\n", 2);
}

/*
 * Copy the fields except those the head rebuilds: host, content-length, te,
 * and cookies, which are joined into one line (RFC 9114 §4.2.1).
 */
static void put_fields(struct buf *b, const nghttp3_nv *nv, size_t n, bool join_cookies)
{
	bool first_cookie = true;
	for (size_t i = 0; i < n; i++) {
		struct http1_str name = nv_name(&nv[i]);
		if (name.p[0] == ':' || http1_str_eq(name, "host") ||
		    http1_str_eq(name, "content-length") || http1_str_eq(name, "te") ||
		    (join_cookies && http1_str_eq(name, "cookie")))
			continue;
		put_field(b, name, nv_value(&nv[i]));
	}
	for (size_t i = 0; join_cookies && i < n; i++) {
		if (!http1_str_eq(nv_name(&nv[i]), "cookie"))
			continue;
		buf_put(b, first_cookie ? "cookie: " : "; ", first_cookie ? 8 : 2);
		put(b, nv_value(&nv[i]));
		first_cookie = false;
	}
	if (!first_cookie)
		buf_put(b, "\r\n", 2);
}

static bool valid_path(struct http1_str path, struct http1_str method)
{
	if (path.len == 1 && path.p[0] == '*')
		return http1_str_eq(method, "OPTIONS");
	if (path.p[0] != '/')
		return false;
	for (size_t i = 0; i < path.len; i++)
		if ((unsigned char)path.p[i] <= 0x20 || (unsigned char)path.p[i] >= 0x7f ||
		    path.p[i] == '#')
			return false;
	return true;
}

/* RFC 9114 §4.3.1 and §4.4: which pseudo-headers each request shape needs. */
static const char *check_request(struct h3_head *h)
{
	struct http1_str host;
	unsigned port;
	if (!h->method.p)
		return "missing :method";
	for (size_t i = 0; i < h->method.len; i++)
		if (!http1_is_tchar((unsigned char)h->method.p[i]))
			return "invalid :method";
	bool connect = http1_str_eq(h->method, "CONNECT");
	if (h->protocol.p && !connect)
		return ":protocol without CONNECT";
	if (connect && !h->protocol.p) {
		if (h->scheme.p || h->path.p)
			return ":scheme or :path in CONNECT";
		if (!h->authority.p)
			return "missing :authority in CONNECT";
		return http1_parse_authority(h->authority, true, &host, &port)
		           ? "invalid :authority"
		           : NULL;
	}
	if (!h->scheme.p || !h->path.p)
		return "missing :scheme or :path";
	if (!http1_str_eq(h->scheme, "http") && !http1_str_eq(h->scheme, "https"))
		return "unsupported :scheme";
	if (!valid_path(h->path, h->method))
		return "invalid :path";
	if (h->authority.p && h->host.p && !http1_slice_ieq(h->authority, h->host))
		return ":authority and host differ";
	if (!h->authority.p)
		h->authority = h->host;
	if (!h->authority.p)
		return "missing :authority and host";
	if (http1_parse_authority(h->authority, false, &host, &port))
		return "invalid :authority";
	return NULL;
}

static void put_request_framing(struct buf *b, const struct h3_head *h, bool body,
                                struct http_xlate_res *res)
{
	char line[48];
	if (h->ncl) {
		int n = snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
		                 (unsigned long long)h->content_length);
		buf_put(b, line, (size_t)n);
		res->framing = HTTP1_BODY_LENGTH;
		res->content_length = h->content_length;
	} else if (body) {
		buf_put(b, "Transfer-Encoding: chunked\r\n", 28);
		res->framing = HTTP1_BODY_CHUNKED;
	} else if (http1_str_eq(h->method, "POST") || http1_str_eq(h->method, "PUT") ||
	           http1_str_eq(h->method, "PATCH")) {
		/* RFC 9110 §8.6: a body-carrying method without a body says so */
		buf_put(b, "Content-Length: 0\r\n", 19);
		res->framing = HTTP1_BODY_LENGTH;
	}
}

int http_xlate_req_3to1(const nghttp3_nv *nv, size_t n, bool body, struct buf *out,
                        struct http_xlate_res *res)
{
	struct h3_head h;
	memset(res, 0, sizeof(*res));
	int err = scan_list(nv, n, true, &h, res, 400);
	if (err)
		return err;
	const char *why = check_request(&h);
	if (why)
		return fail(res, 400, why);
	bool ws = h.protocol.p != NULL;
	if (ws && !http1_str_eq(h.protocol, "websocket"))
		return fail(res, 501, "unsupported :protocol");
	if (ws && h.ncl)
		return fail(res, 400, "content-length in a WebSocket CONNECT");
	put(out, ws ? http1_cstr("GET") : h.method);
	buf_put(out, " ", 1);
	put(out, h.path.p ? h.path : h.authority);
	buf_put(out, " HTTP/1.1\r\n", 11);
	put_field(out, http1_cstr("Host"), h.authority);
	put_fields(out, nv, n, h.has_cookie);
	res->keep_alive = !ws;
	if (ws) {
		buf_put(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n", 41);
		res->flags |= HTTP1_F_WEBSOCKET;
	} else {
		put_request_framing(out, &h, body, res);
	}
	buf_put(out, "\r\n", 2);
	return out->oom ? -ENOMEM : 0;
}

static int parse_status(struct http1_str s, unsigned *status)
{
	unsigned v = 0;
	if (s.len != 3)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s.p[i] - '0');
	}
	if (v < 100 || v > 599)
		return -1;
	*status = v;
	return 0;
}

/* Body framing of a final response towards the client. */
static void put_response_framing(struct buf *b, unsigned status, const struct h3_head *h,
                                 const struct http_client_ctx *c, struct http_xlate_res *res)
{
	char line[48];
	bool head = c->req & HTTP1_REQ_HEAD;
	res->framing = HTTP1_BODY_NONE;
	if (status == 204 || ((c->req & HTTP1_REQ_CONNECT) && status < 300))
		return;
	if (h->ncl) {
		/* HEAD and 304 keep the representation's length as metadata */
		snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
		         (unsigned long long)h->content_length);
		buf_put(b, line, strlen(line));
	}
	if (head || status == 304)
		return;
	if (h->ncl) {
		res->framing = HTTP1_BODY_LENGTH;
		res->content_length = h->content_length;
	} else if (!c->body) {
		buf_put(b, "Content-Length: 0\r\n", 19);
		res->framing = HTTP1_BODY_LENGTH;
	} else if (c->version_minor >= 1) {
		buf_put(b, "Transfer-Encoding: chunked\r\n", 28);
		res->framing = HTTP1_BODY_CHUNKED;
	} else {
		res->framing = HTTP1_BODY_CLOSE;
	}
}

int http_xlate_resp_3to1(const nghttp3_nv *nv, size_t n, const struct http_client_ctx *c,
                         struct buf *out, struct http_xlate_res *res)
{
	struct h3_head h;
	unsigned status;
	char line[64];
	memset(res, 0, sizeof(*res));
	int err = scan_list(nv, n, false, &h, res, 502);
	if (err)
		return err;
	if (!h.status.p || parse_status(h.status, &status) < 0)
		return fail(res, 502, "missing or invalid :status");
	if (status == 101)
		return fail(res, 502, ":status 101 over HTTP/3");
	bool ws = c->websocket && status >= 200 && status < 300;
	res->keep_alive = c->keep_alive && !ws;
	if (status < 200) {
		res->flags |= HTTP1_F_INFORMATIONAL;
		if (c->version_minor == 0)
			return 0; /* RFC 9110 §15.2: no 1xx to an HTTP/1.0 client */
	}
	if (ws)
		status = 101;
	snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", status, http1_reason(status));
	buf_put(out, line, strlen(line));
	put_fields(out, nv, n, false);
	if (ws) {
		buf_put(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n", 41);
		res->flags |= HTTP1_F_WEBSOCKET;
	} else if (status >= 200) {
		put_response_framing(out, status, &h, c, res);
		if (res->framing == HTTP1_BODY_CLOSE)
			res->keep_alive = false;
		if (!res->keep_alive)
			buf_put(out, "Connection: close\r\n", 19);
		else if (c->version_minor == 0)
			buf_put(out, "Connection: keep-alive\r\n", 24);
	}
	buf_put(out, "\r\n", 2);
	return out->oom ? -ENOMEM : 0;
}
