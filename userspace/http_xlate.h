/*
 * HTTP/1.1 <-> HTTP/3 head translation for the QUIC tunnel's "http" mode, and
 * the HTTP/1.1 -> HTTP/1.1 rewrite of the forward proxy. Pure functions: the
 * bodies are moved by the caller, these only say how each side frames them.
 *
 * Flow through the tunnel:
 *   client --HTTP/1.1--> [req_1to3] ==HTTP/3==> [req_3to1] --HTTP/1.1--> upstream
 *   client <--HTTP/1.1-- [resp_3to1] <==HTTP/3== [resp_1to3] <--HTTP/1.1-- upstream
 *
 * Hop-by-hop fields (RFC 9110 §7.6.1) never cross: Connection and every field
 * it names, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade,
 * Trailer, and with HTTP_HOP_PROXY_AUTH Proxy-Authorization and
 * Proxy-Authenticate. TE is dropped entirely (even "trailers"): trailers are
 * discarded by the chunked decoder, so they would not arrive anyway.
 *
 * The HTTP/3 side is another trust domain: its lists are validated again
 * (RFC 9114 §4.1.2, §4.2, §4.3) and a malformed one is an error, never fixed up.
 *
 * WebSocket: an HTTP/1.1 Upgrade to websocket travels as an extended CONNECT
 * (RFC 9220 shape: :method CONNECT, :protocol websocket, :scheme, :path,
 * :authority) with the Sec-WebSocket-* fields kept, so the far side can
 * rebuild the HTTP/1.1 Upgrade request for its upstream; the upstream's 101
 * travels back as :status 200 and becomes a 101 again for the client. After
 * that both sides carry raw bytes.
 */
#ifndef KFWD_HTTP_XLATE_H
#define KFWD_HTTP_XLATE_H
#include "http1.h"
#include "jsonw.h"

#include <nghttp3/nghttp3.h>
#include <stdbool.h>
#include <sys/socket.h>

/* A header list for nghttp3 built by http_xlate_*_1to3. */
struct http_nvlist {
	nghttp3_nv *nv;
	size_t n;
	size_t nv_cap;
	char *arena; /* lowercased names and built values; nv[] points here */
	size_t arena_len;
	size_t arena_cap;
};

/* Release what a successful http_xlate_*_1to3 allocated; safe on a zeroed list. */
void http_nvlist_free(struct http_nvlist *l);

/* hop-by-hop flags */
#define HTTP_HOP_PROXY_AUTH 0x1u /* also drop Proxy-Authorization / Proxy-Authenticate */

/*
 * Whether field name is hop-by-hop for message m: one of the fixed names
 * above, or a token of one of m's Connection fields (case-insensitive).
 */
bool http_is_hop_by_hop(const struct http1_msg *m, struct http1_str name, unsigned flags);

struct http_xlate_opts {
	const char *scheme; /* :scheme for origin-form requests; NULL: "http" */
	unsigned hop_flags; /* HTTP_HOP_* */
	const struct sockaddr
	    *forwarded_for; /* non-NULL: append "Forwarded: for=..;proto=..;host=.."
	                       (AF_INET or AF_INET6; address only, no port) */
};

/* The outcome of a translation into HTTP/1.1 text. */
struct http_xlate_res {
	enum http1_framing framing; /* how the body written after the head is framed */
	uint64_t content_length;    /* HTTP1_BODY_LENGTH */
	bool keep_alive;            /* the HTTP/1.1 connection may carry another message */
	unsigned flags;             /* HTTP1_F_WEBSOCKET: raw bytes follow the head;
	                               HTTP1_F_INFORMATIONAL: a 1xx, the final response follows */
	unsigned err_status;        /* after -EPROTO: status to answer (400, 501, 502) */
	const char *err_reason;     /* after -EPROTO: static cause */
};

/*
 * (a) HTTP/1.1 request head -> HTTP/3 request list. Pseudo-headers first:
 * :method, :scheme and :path (not for plain CONNECT), :authority (from an
 * absolute/authority-form target, else Host), :protocol for WebSocket; then
 * the end-to-end fields with lowercased names (Host dropped; content-length
 * kept for Content-Length framing), then Forwarded if asked. A chunked
 * request body is sent as HTTP/3 DATA without a content-length.
 * req: a head parsed by http1_parse_request (its buffer must stay alive while
 * out is used: values point into it). o: NULL for defaults.
 * Return 0 (free out with http_nvlist_free), -ENOMEM, or -EINVAL when the
 * head names no authority at all (HTTP/1.0 without Host) or the
 * forwarded_for family is neither AF_INET nor AF_INET6. An Upgrade other than
 * WebSocket is dropped like any hop-by-hop field.
 */
int http_xlate_req_1to3(const struct http1_msg *req, const struct http_xlate_opts *o,
                        struct http_nvlist *out);

/*
 * (c) HTTP/1.1 response head -> HTTP/3 response list: :status, then the
 * end-to-end fields with lowercased names. A 101 to a WebSocket request
 * (ws = true) becomes :status 200 with its Sec-WebSocket-* fields. Other 101s
 * cannot be carried: -EPROTO. resp: parsed by http1_parse_response; its buffer
 * must stay alive while out is used. o: NULL for defaults (only hop_flags used).
 * Return 0, -ENOMEM or -EPROTO.
 */
int http_xlate_resp_1to3(const struct http1_msg *resp, bool ws, const struct http_xlate_opts *o,
                         struct http_nvlist *out);

/*
 * (b) HTTP/3 request list -> HTTP/1.1 request head for the upstream, appended
 * to out: "METHOD path HTTP/1.1", Host from :authority (or host), the fields
 * in order with cookies joined by "; " (RFC 9114 §4.2.1), framing: the given
 * content-length, else "Transfer-Encoding: chunked" when body is true (the
 * stream did not end with the headers), else none ("Content-Length: 0" for
 * POST, PUT and PATCH). A :protocol websocket CONNECT becomes a GET with
 * Connection: Upgrade / Upgrade: websocket (res->flags HTTP1_F_WEBSOCKET).
 * Errors (-EPROTO, res->err_status 400): missing/duplicate/unknown
 * pseudo-headers, pseudo after regular fields, response pseudo-headers,
 * uppercase or non-token names, NUL/CR/LF/CTL or edge whitespace in values,
 * connection-specific fields (connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade), te other than "trailers", :authority and host
 * that differ, invalid or duplicate content-length, bad :path or :scheme.
 * Return 0, -EPROTO or -ENOMEM (out ran out of memory).
 */
int http_xlate_req_3to1(const nghttp3_nv *nv, size_t n, bool body, struct buf *out,
                        struct http_xlate_res *res);

/* What the client connection asked for, to shape the response (d). */
struct http_client_ctx {
	unsigned req;           /* HTTP1_REQ_HEAD / HTTP1_REQ_CONNECT of the request */
	unsigned version_minor; /* the client's HTTP/1.<minor> */
	bool keep_alive;        /* HTTP1_F_KEEP_ALIVE of the client's request */
	bool websocket;         /* the request was a WebSocket upgrade */
	bool body;              /* the HTTP/3 response stream did not end with the headers */
};

/*
 * (d) HTTP/3 response list -> HTTP/1.1 response head for the client, appended
 * to out: "HTTP/1.1 <status> <reason>" (reason from http1_reason), fields in
 * order, framing: no body for 1xx/204/304/HEAD; content-length when given;
 * else "Content-Length: 0" when the stream ended; else chunked for HTTP/1.1
 * clients, close-delimited for HTTP/1.0 ones. Connection: close when the
 * connection cannot continue, Connection: keep-alive for HTTP/1.0 clients
 * that keep it. A 1xx for an HTTP/1.0 client writes nothing (RFC 9110 §15.2).
 * res->keep_alive, framing and flags say what to do next.
 * Errors (-EPROTO, res->err_status 502): as http_xlate_req_3to1 for fields,
 * and a missing/invalid :status, :status 101, request pseudo-headers.
 * Return 0, -EPROTO or -ENOMEM.
 */
int http_xlate_resp_3to1(const nghttp3_nv *nv, size_t n, const struct http_client_ctx *c,
                         struct buf *out, struct http_xlate_res *res);

/*
 * HTTP/1.1 request -> HTTP/1.1 request for the forward proxy's target,
 * appended to out: "METHOD path HTTP/1.1" in origin-form, Host from the
 * request's authority, end-to-end fields only (hop_flags: HTTP_HOP_*), the
 * body framing unchanged (Content-Length or Transfer-Encoding: chunked, the
 * body bytes pass through as they are). res->framing repeats it.
 * Return 0, -EINVAL (an authority-form CONNECT request, which is tunnelled
 * rather than rewritten, or no authority) or -ENOMEM.
 */
int http_xlate_req_1to1(const struct http1_msg *req, unsigned hop_flags, struct buf *out,
                        struct http_xlate_res *res);

/* The Via field line the forward proxy adds to what it forwards (RFC 9110 §7.6.3). */
#define HTTP_XLATE_VIA "Via: 1.1 kfwd"

/*
 * HTTP/1.1 response head from the forward proxy's target -> the response head
 * for its client, appended to out: "HTTP/1.1 <status> <reason as received>",
 * the end-to-end fields (hop-by-hop ones and Proxy-Authenticate dropped),
 * HTTP_XLATE_VIA (after any Via of the target's), then framing for the client: Content-Length
 * bodies and bodiless responses unchanged; a chunked or close-delimited body as "Transfer-Encoding:
 * chunked" for an HTTP/1.1 client (the caller re-encodes it) and
 * close-delimited for an HTTP/1.0 one; "Connection: close" when the client
 * connection ends after it, "Connection: keep-alive" for an HTTP/1.0 client
 * that keeps it. A 1xx (not 101) is written as a bare status line for
 * HTTP/1.1 clients and not at all for HTTP/1.0 ones (res->flags
 * HTTP1_F_INFORMATIONAL: the final response follows).
 * resp: parsed by http1_parse_response (its buffer alive during the call);
 * c: the client's request (only req, version_minor and keep_alive are used).
 * res->framing is the client-side framing, res->keep_alive whether the
 * client connection may carry another request.
 * Return 0, -ENOMEM, or -EPROTO for a 101 (res->err_status 502): Upgrade is
 * never forwarded, so a switch was not asked for.
 */
int http_xlate_resp_1to1(const struct http1_msg *resp, const struct http_client_ctx *c,
                         struct buf *out, struct http_xlate_res *res);

#endif
