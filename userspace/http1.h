/*
 * HTTP/1.1 messages (RFC 9110, RFC 9112) as pure functions over buffers: a strict
 * head parser for requests and responses, request-target and authority parsing,
 * the chunked transfer coding (decoder and encoder), reason phrases and small
 * error responses. No I/O and no allocation: results are slices into the
 * caller's buffer. Used by the CONNECT / forward proxy and the QUIC tunnel's
 * "http" mode; http_xlate.h builds on it for HTTP/3.
 *
 * Strictness choices (each rejected shape is a request-smuggling or desync risk):
 * - Every line ends in CRLF; a bare LF or a CR not followed by LF -> 400.
 * - Up to HTTP1_MAX_LEADING_CRLF empty lines before a request line are
 *   skipped (RFC 9112 §2.2); more -> 400. They count towards the head limit.
 *   None are accepted before a status line.
 * - obs-fold (a field line starting with SP/HTAB), whitespace between a field
 *   name and its colon, non-token name characters, control characters other
 *   than HTAB in a value -> 400.
 * - Content-Length: only 1*DIGIT (no lists, no sign), at most 18 digits; any
 *   second Content-Length field line is rejected, even with an equal value.
 * - Transfer-Encoding together with Content-Length -> 400. Transfer-Encoding
 *   must be exactly "chunked" (case-insensitive, possibly spread over field
 *   lines as a one-element list); other codings -> 501 in a request. A
 *   Transfer-Encoding in an HTTP/1.0 request -> 400.
 * - Host: exactly one in HTTP/1.1 requests, at most one in HTTP/1.0, and its
 *   value must be a valid authority (host[:port]) -> 400 otherwise.
 * - Request line: single SPs, method is a case-sensitive token, version
 *   HTTP/1.0 or HTTP/1.1 (other HTTP/x.y -> 505). Fragments ('#') and userinfo
 *   ('@' in an authority) -> 400.
 * - Head longer than the limit (default 16 KiB) or more field lines than the
 *   limit (default 100) -> 431.
 * - Expect other than "100-continue" in an HTTP/1.1 request -> 417.
 * Errors in a response head carry status 502 (what a proxy answers its client).
 */
#ifndef KFWD_HTTP1_H
#define KFWD_HTTP1_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_MAX_HEAD_DEFAULT      (16 * 1024) /* bytes, request/status line to final CRLF */
#define HTTP1_MAX_HEADERS           100         /* capacity of http1_msg.headers */
#define HTTP1_MAX_LEADING_CRLF      2           /* empty lines tolerated before a request line */
#define HTTP1_CHUNK_EXT_DEFAULT     1024        /* bytes of chunk extensions per size line */
#define HTTP1_CHUNK_TRAILER_DEFAULT 8192        /* bytes of trailer section */
#define HTTP1_AUTHORITY_MAX         264 /* "host:port" text with its NUL: 253-byte name or [IPv6] */

/* The answer to a CONNECT once the target is reached (both proxies). */
#define HTTP1_CONNECT_ESTABLISHED "HTTP/1.1 200 Connection established\r\n\r\n"

/* A slice of the caller's buffer (or of a static string); not NUL-terminated. */
struct http1_str {
	const char *p;
	size_t len;
};

struct http1_header {
	struct http1_str name;  /* as received (case preserved) */
	struct http1_str value; /* leading and trailing OWS removed */
};

enum http1_target_form {
	HTTP1_TARGET_ORIGIN,    /* "/path?q" */
	HTTP1_TARGET_ABSOLUTE,  /* "http://host[:port]/path?q" */
	HTTP1_TARGET_AUTHORITY, /* "host:port", CONNECT only */
	HTTP1_TARGET_ASTERISK,  /* "*", OPTIONS only */
};

/* How the message body is delimited (RFC 9112 §6.3). */
enum http1_framing {
	HTTP1_BODY_NONE,    /* no body at all */
	HTTP1_BODY_LENGTH,  /* exactly content_length bytes (may be 0) */
	HTTP1_BODY_CHUNKED, /* chunked transfer coding; see http1_chunk_dec */
	HTTP1_BODY_CLOSE,   /* response body runs until the connection closes */
};

/* http1_msg.flags */
#define HTTP1_F_KEEP_ALIVE    0x0001u /* another message may follow on this connection */
#define HTTP1_F_CONN_UPGRADE  0x0002u /* "upgrade" is listed in Connection */
#define HTTP1_F_UPGRADE       0x0004u /* Connection: upgrade and an Upgrade field */
#define HTTP1_F_WEBSOCKET     0x0008u /* HTTP1_F_UPGRADE and Upgrade lists "websocket" */
#define HTTP1_F_EXPECT_100    0x0010u /* HTTP/1.1 request with Expect: 100-continue */
#define HTTP1_F_INFORMATIONAL 0x0020u /* status 1xx: the final response follows (not 101) */
#define HTTP1_F_CONTINUE      0x0040u /* status 100 */
#define HTTP1_F_SWITCHING     0x0080u /* status 101: bytes after the head are another protocol */
#define HTTP1_F_TE_TRAILERS   0x0100u /* request TE lists "trailers" */
#define HTTP1_F_HAS_HOST      0x0200u /* a Host field was present */

/* Context for http1_parse_response: the request this response answers. */
#define HTTP1_REQ_HEAD    0x1u /* the request was HEAD: the response has no body */
#define HTTP1_REQ_CONNECT 0x2u /* the request was CONNECT: a 2xx response has no body */

struct http1_limits {
	size_t max_head;      /* 0: HTTP1_MAX_HEAD_DEFAULT */
	unsigned max_headers; /* 0 or above HTTP1_MAX_HEADERS: HTTP1_MAX_HEADERS */
};

/*
 * A parsed request or response head. Zero it (or http1_msg_init) before the
 * first parse call and keep passing the same object while more bytes arrive;
 * init it again for the next message on the connection. The fields are only
 * meaningful after a call returned 0; slices then point into the buffer given
 * to that call (or to static strings such as "/").
 */
struct http1_msg {
	/* request line */
	struct http1_str method;
	enum http1_target_form form;
	struct http1_str target; /* the request-target as received */
	struct http1_str scheme; /* absolute-form only, as received (compare case-insensitively) */
	struct http1_str authority; /* from the target if it has one, else the Host value */
	struct http1_str host;      /* authority's host without IPv6 brackets; empty if unknown */
	unsigned port;              /* authority's port, 0 when absent */
	struct http1_str path;      /* origin/absolute-form: path and query ("/" if empty); "*" */
	/* status line */
	unsigned status;
	struct http1_str reason;
	/* both */
	unsigned version_minor; /* HTTP/1.<minor>: 0 or 1 */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	unsigned nheaders;
	enum http1_framing framing;
	uint64_t content_length; /* HTTP1_BODY_LENGTH */
	unsigned flags;          /* HTTP1_F_* */
	size_t head_len;         /* bytes of the head, final CRLF included */
	/* error (the parse call returned -EPROTO) */
	unsigned err_status; /* 400, 417, 431, 501, 505 (request), 502 (response), 500 (misuse) */
	const char *err_reason; /* static text naming the cause, e.g. "bare LF" */
	/* incremental scan state: private */
	size_t scan_;
	unsigned lines_;
};

void http1_msg_init(struct http1_msg *m);

/*
 * Parse a request head at the start of buf[0..len). Call again with the same
 * m whenever more bytes arrived; the first bytes must be unchanged (the
 * buffer may have moved). Scanning resumes where it stopped, so a head that
 * arrives one byte at a time costs linear time, and the result is the same as
 * parsing the whole buffer at once.
 * lim: NULL for the defaults.
 * Return 0 when the head is complete (m filled, m->head_len bytes used; the
 * body or the next request starts there), -EAGAIN when more bytes are needed,
 * -EPROTO for a malformed or refused head (m->err_status, m->err_reason).
 */
int http1_parse_request(const char *buf, size_t len, const struct http1_limits *lim,
                        struct http1_msg *m);

/*
 * Parse a response head; as http1_parse_request. req: HTTP1_REQ_* flags of
 * the request being answered, which decide whether a body follows.
 * A 1xx other than 101 is a complete head of its own: parse again (with a
 * fresh m) after m->head_len bytes for the final response.
 */
int http1_parse_response(const char *buf, size_t len, const struct http1_limits *lim, unsigned req,
                         struct http1_msg *m);

/* First header named name (case-insensitive), or NULL. */
const struct http1_header *http1_find(const struct http1_msg *m, const char *name);

/* Whether a comma-separated list value contains token (case-insensitive, OWS ignored). */
bool http1_list_has(struct http1_str value, const char *token);

/* Whether s equals the NUL-terminated lit ignoring ASCII case. */
bool http1_str_ieq(struct http1_str s, const char *lit);

/* Whether c may appear in a token (RFC 9110 §5.6.2). */
bool http1_is_tchar(unsigned char c);

/*
 * Parse an authority "host[:port]" / "[v6]:port" (reg-name, IPv4 or IPv6; no
 * userinfo, no IPv6 zone). need_port: the port is mandatory (CONNECT).
 * On success host is a slice of s without brackets and *port is 1..65535 or 0
 * when absent. Return 0, -EINVAL (syntax) or -ERANGE (port 0 or above 65535).
 */
int http1_parse_authority(struct http1_str s, bool need_port, struct http1_str *host,
                          unsigned *port);

/* Standard reason phrase for status ("" when unknown; never NULL). */
const char *http1_reason(unsigned status);

/*
 * Write a complete small error response to out[0..cap):
 * "HTTP/1.1 <status> <reason>\r\nContent-Type: text/plain\r\nContent-Length: N\r\n
 *  [extra\r\n]Connection: close\r\n\r\n<text>\n".
 * text: body line naming the cause (NULL: the reason phrase); extra: NULL or
 * one header line without CRLF, e.g. "Proxy-Authenticate: Basic realm=\"kfwd\"".
 * Neither may contain control characters. *outlen gets the length (the text is
 * also NUL-terminated). Return 0, -EINVAL (bad status, text or extra) or
 * -ENOSPC (cap too small).
 */
int http1_error_response(char *out, size_t cap, unsigned status, const char *text,
                         const char *extra, size_t *outlen);

/* ---- chunked transfer coding (RFC 9112 §7.1) ---- */

/* Incremental chunked decoder; all fields private. */
struct http1_chunk_dec {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	unsigned digits;    /* hex digits of the current size line */
	size_t ext;         /* extension bytes of the current size line */
	size_t trailer;     /* trailer-section bytes so far */
	size_t line;        /* bytes of the current trailer line */
	size_t max_ext;
	size_t max_trailer;
	const char *err; /* static cause after -EPROTO */
};

/* max_ext / max_trailer: 0 for HTTP1_CHUNK_EXT_DEFAULT / HTTP1_CHUNK_TRAILER_DEFAULT. */
void http1_chunk_dec_init(struct http1_chunk_dec *d, size_t max_ext, size_t max_trailer);

/*
 * Feed in[0..len). Stops after the first run of body bytes, which is returned
 * as *data / *datalen (a slice of in; *datalen 0 when none), or at the end of
 * the message (last chunk and trailer section consumed; bytes after it belong
 * to the next message and are not consumed). *used gets the bytes consumed.
 * Call again with the rest until *used == len or the decoder is done.
 * Trailer fields are checked and discarded; chunk extensions are skipped.
 * Return 0 or -EPROTO (malformed: non-hex or overlong size, bare LF, missing
 * CRLF after data, extension or trailer over its limit); the cause is in d->err.
 */
int http1_chunk_dec_feed(struct http1_chunk_dec *d, const char *in, size_t len, size_t *used,
                         const char **data, size_t *datalen);

/*
 * Decode as much of in[0..len) as fits into out[0..cap): loops
 * http1_chunk_dec_feed, copying body bytes. *used / *outlen get bytes consumed
 * and produced. Stops early when out is full. Return 0 or -EPROTO.
 */
int http1_chunk_decode(struct http1_chunk_dec *d, const char *in, size_t len, size_t *used,
                       char *out, size_t cap, size_t *outlen);

/* Whether the last chunk and the trailer section have been consumed. */
bool http1_chunk_dec_done(const struct http1_chunk_dec *d);

/* Longest chunk header http1_chunk_head writes: 16 hex digits + CRLF + NUL. */
#define HTTP1_CHUNK_HEAD_MAX 19
/* Written after each chunk's data. */
#define HTTP1_CHUNK_CRLF "\r\n"
/* The last chunk with an empty trailer section: ends a chunked body. */
#define HTTP1_CHUNK_LAST "0\r\n\r\n"

/*
 * Write the size line for a chunk of n > 0 data bytes ("1a2b\r\n") to
 * out[HTTP1_CHUNK_HEAD_MAX]. Return its length (n == 0 gives 0: use
 * HTTP1_CHUNK_LAST to end the body).
 */
size_t http1_chunk_head(char *out, uint64_t n);

#endif
