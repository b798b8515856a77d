/*
 * Strict HTTP/1.1 head parser (RFC 9112). Two passes over the head: an
 * incremental scan that checks each line as soon as its CRLF arrived and
 * finds the end of the head, then one pass that slices the complete head and
 * derives the message semantics (framing, connection, upgrade, expect).
 */
#include "http1.h"
#include "http1_int.h"

#include <errno.h>
#include <string.h>

/* Parser mode; errors in a response turn into 502 for the proxy's client. */
enum kind { REQUEST, RESPONSE };

static int fail(struct http1_msg *m, unsigned status, const char *reason)
{
	m->err_status = status;
	m->err_reason = reason;
	return -EPROTO;
}

/* A malformed request is a 400, a malformed response a 502. */
static int bad(struct http1_msg *m, enum kind k, const char *reason)
{
	return fail(m, k == REQUEST ? 400 : 502, reason);
}

void http1_msg_init(struct http1_msg *m)
{
	memset(m, 0, sizeof(*m));
}

bool http1_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool http1_slice_ieq(struct http1_str a, struct http1_str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool http1_str_ieq(struct http1_str s, const char *lit)
{
	return http1_slice_ieq(s, (struct http1_str){lit, strlen(lit)});
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static struct http1_str trim(const char *p, size_t len)
{
	while (len && is_ows(p[0]))
		p++, len--;
	while (len && is_ows(p[len - 1]))
		len--;
	return (struct http1_str){p, len};
}

bool http1_list_next(struct http1_str *rest, struct http1_str *elem)
{
	while (rest->len) {
		const char *comma = memchr(rest->p, ',', rest->len);
		size_t n = comma ? (size_t)(comma - rest->p) : rest->len;
		*elem = trim(rest->p, n);
		rest->p += comma ? n + 1 : n;
		rest->len -= comma ? n + 1 : n;
		if (elem->len)
			return true;
	}
	return false;
}

bool http1_list_has(struct http1_str value, const char *token)
{
	struct http1_str e;
	while (http1_list_next(&value, &e))
		if (http1_str_ieq(e, token))
			return true;
	return false;
}

const struct http1_header *http1_find(const struct http1_msg *m, const char *name)
{
	for (unsigned i = 0; i < m->nheaders; i++)
		if (http1_str_ieq(m->headers[i].name, name))
			return &m->headers[i];
	return NULL;
}

const char *http1_parse_field(const char *line, size_t len, struct http1_header *h)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return "field line without a colon";
	size_t nl = (size_t)(colon - line);
	if (nl == 0)
		return "empty field name";
	for (size_t i = 0; i < nl; i++) {
		if (http1_is_tchar((unsigned char)line[i]))
			continue;
		/* RFC 9112 §5.1: whitespace before the colon must be rejected */
		return is_ows(line[i]) ? "whitespace between field name and colon"
		                       : "invalid character in field name";
	}
	for (const char *p = colon + 1; p < line + len; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "control character in field value";
	}
	h->name = (struct http1_str){line, nl};
	h->value = trim(colon + 1, len - nl - 1);
	return NULL;
}

/* "HTTP/1.0" or "HTTP/1.1"; 1 for another well-formed HTTP/x.y, -1 if malformed. */
static int parse_version(const char *p, size_t len, unsigned *minor)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -1;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return 1;
	*minor = (unsigned)(p[7] - '0');
	return 0;
}

static int parse_request_line(const char *line, size_t len, struct http1_msg *m)
{
	const char *end = line + len;
	const char *sp1 = memchr(line, ' ', len);
	if (!sp1)
		return fail(m, 400, "malformed request line");
	m->method = (struct http1_str){line, (size_t)(sp1 - line)};
	if (m->method.len == 0)
		return fail(m, 400, "malformed request line");
	for (size_t i = 0; i < m->method.len; i++)
		if (!http1_is_tchar((unsigned char)line[i]))
			return fail(m, 400, "invalid character in method");
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(end - t));
	if (!sp2)
		return fail(m, 400, "malformed request line");
	m->target = (struct http1_str){t, (size_t)(sp2 - t)};
	if (m->target.len == 0)
		return fail(m, 400, "malformed request line");
	for (size_t i = 0; i < m->target.len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return fail(m, 400, "invalid character in request-target");
	int v = parse_version(sp2 + 1, (size_t)(end - sp2 - 1), &m->version_minor);
	if (v > 0)
		return fail(m, 505, "HTTP version not supported");
	if (v < 0)
		return fail(m, 400, "malformed HTTP version");
	const char *why = http1_parse_target(m);
	return why ? fail(m, 400, why) : 0;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]": a missing reason (and its SP) is tolerated. */
static int parse_status_line(const char *line, size_t len, struct http1_msg *m)
{
	if (len < 12 || line[8] != ' ' || parse_version(line, 8, &m->version_minor) != 0)
		return fail(m, 502, "malformed status line");
	unsigned st = 0;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return fail(m, 502, "malformed status code");
		st = st * 10 + (unsigned)(line[i] - '0');
	}
	if (st < 100 || st > 599)
		return fail(m, 502, "status code out of range");
	if (len > 12 && line[12] != ' ')
		return fail(m, 502, "malformed status line");
	m->status = st;
	m->reason = len > 13 ? (struct http1_str){line + 13, len - 13} : (struct http1_str){"", 0};
	for (size_t i = 0; i < m->reason.len; i++) {
		unsigned char c = (unsigned char)m->reason.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(m, 502, "control character in reason phrase");
	}
	return 0;
}

static int parse_start_line(const char *line, size_t len, enum kind k, struct http1_msg *m)
{
	return k == REQUEST ? parse_request_line(line, len, m) : parse_status_line(line, len, m);
}

/*
 * Find the end of the head, checking every complete line on the way, resuming
 * at m->scan_. Leading empty lines are counted in m->lines_ as well: the low
 * byte counts them, the rest counts start and field lines.
 */
static int scan_head(const char *buf, size_t len, size_t max_head, unsigned max_headers,
                     enum kind k, struct http1_msg *m)
{
	size_t limit = len < max_head ? len : max_head;
	for (;;) {
		size_t pos = m->scan_;
		const char *lf = pos < limit ? memchr(buf + pos, '\n', limit - pos) : NULL;
		if (!lf)
			return len >= max_head
			           ? fail(m, k == REQUEST ? 431 : 502, "header block too large")
			           : -EAGAIN;
		size_t e = (size_t)(lf - buf);
		if (e == pos || buf[e - 1] != '\r')
			return bad(m, k, "bare LF");
		size_t linelen = e - 1 - pos;
		m->scan_ = e + 1;
		unsigned lines = m->lines_ >> 8, empty = m->lines_ & 0xff;
		if (linelen == 0 && lines == 0) {
			if (++empty > HTTP1_MAX_LEADING_CRLF || k == RESPONSE)
				return bad(m, k, "empty lines before the start line");
			m->lines_ = empty;
			continue;
		}
		if (linelen == 0) {
			m->head_len = e + 1;
			return 0;
		}
		if (lines == 0) {
			int err = parse_start_line(buf + pos, linelen, k, m);
			if (err)
				return err;
		} else {
			struct http1_header h;
			const char *why;
			if (is_ows(buf[pos]))
				return bad(m, k, "obs-fold or whitespace before a field line");
			if (lines > max_headers)
				return fail(m, k == REQUEST ? 431 : 502, "too many header fields");
			why = http1_parse_field(buf + pos, linelen, &h);
			if (why)
				return bad(m, k, why);
		}
		m->lines_ = ((lines + 1) << 8) | empty;
	}
}

/* What the field lines say, collected before deciding framing and semantics. */
struct fields {
	unsigned ncl, nhost, nte;
	bool te_chunked, te_other, te_after_chunked;
	bool conn_close, conn_keep, conn_upgrade;
	bool upgrade, websocket, expect_100, expect_other, te_trailers;
	struct http1_str host;
};

static int parse_content_length(struct http1_str v, uint64_t *out)
{
	uint64_t n = 0;
	/* 18 digits cannot overflow 64 bits; nobody sends an exabyte */
	if (v.len == 0 || v.len > 18)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

static void note_transfer_encoding(struct http1_str v, struct fields *f)
{
	struct http1_str e;
	f->nte++;
	while (http1_list_next(&v, &e)) {
		if (f->te_chunked)
			f->te_after_chunked = true; /* chunked must be the final coding, once */
		if (http1_str_ieq(e, "chunked"))
			f->te_chunked = true;
		else
			f->te_other = true;
	}
}

static void note_connection(struct http1_str v, struct fields *f)
{
	struct http1_str e;
	while (http1_list_next(&v, &e)) {
		if (http1_str_ieq(e, "close"))
			f->conn_close = true;
		else if (http1_str_ieq(e, "keep-alive"))
			f->conn_keep = true;
		else if (http1_str_ieq(e, "upgrade"))
			f->conn_upgrade = true;
	}
}

static int collect_fields(struct http1_msg *m, enum kind k, struct fields *f)
{
	for (unsigned i = 0; i < m->nheaders; i++) {
		struct http1_str n = m->headers[i].name, v = m->headers[i].value;
		if (http1_str_ieq(n, "content-length")) {
			if (++f->ncl > 1)
				return bad(m, k, "duplicate Content-Length");
			if (parse_content_length(v, &m->content_length) < 0)
				return bad(m, k, "invalid Content-Length");
		} else if (http1_str_ieq(n, "transfer-encoding")) {
			note_transfer_encoding(v, f);
		} else if (http1_str_ieq(n, "host")) {
			if (++f->nhost > 1)
				return bad(m, k, "more than one Host");
			f->host = v;
		} else if (http1_str_ieq(n, "connection")) {
			note_connection(v, f);
		} else if (http1_str_ieq(n, "upgrade")) {
			f->upgrade = true;
			f->websocket |= http1_list_has(v, "websocket");
		} else if (http1_str_ieq(n, "expect")) {
			if (http1_str_ieq(v, "100-continue"))
				f->expect_100 = true;
			else
				f->expect_other = true;
		} else if (http1_str_ieq(n, "te")) {
			f->te_trailers |= http1_list_has(v, "trailers");
		}
	}
	return 0;
}

/* Transfer-Encoding / Content-Length rules shared by requests and responses. */
static int check_framing_fields(struct http1_msg *m, enum kind k, const struct fields *f)
{
	if (!f->nte)
		return 0;
	if (f->ncl)
		return bad(m, k, "Content-Length with Transfer-Encoding");
	if (m->version_minor == 0)
		return bad(m, k, "Transfer-Encoding in HTTP/1.0");
	if (f->te_after_chunked)
		return bad(m, k, "chunked is not the final transfer coding");
	if (f->te_other)
		return fail(m, k == REQUEST ? 501 : 502, "unsupported transfer coding");
	if (!f->te_chunked)
		return bad(m, k, "empty Transfer-Encoding");
	return 0;
}

static void set_upgrade_flags(struct http1_msg *m, const struct fields *f)
{
	if (f->conn_upgrade)
		m->flags |= HTTP1_F_CONN_UPGRADE;
	if (f->conn_upgrade && f->upgrade)
		m->flags |= HTTP1_F_UPGRADE;
	if (f->conn_upgrade && f->upgrade && f->websocket)
		m->flags |= HTTP1_F_WEBSOCKET;
	if (m->version_minor ? !f->conn_close : (f->conn_keep && !f->conn_close))
		m->flags |= HTTP1_F_KEEP_ALIVE;
}

static int request_semantics(struct http1_msg *m, const struct fields *f)
{
	int err = check_framing_fields(m, REQUEST, f);
	if (err)
		return err;
	if (f->nhost) {
		struct http1_str h;
		unsigned port;
		m->flags |= HTTP1_F_HAS_HOST;
		if (http1_parse_authority(f->host, false, &h, &port) < 0)
			return fail(m, 400, "invalid Host");
		/* a proxy ignores Host when the target names the authority (RFC 9112 §3.2.2) */
		if (m->form == HTTP1_TARGET_ORIGIN || m->form == HTTP1_TARGET_ASTERISK) {
			m->authority = f->host;
			m->host = h;
			m->port = port;
		}
	} else if (m->version_minor == 1) {
		return fail(m, 400, "missing Host");
	}
	if (m->version_minor == 1 && f->expect_other)
		return fail(m, 417, "unsupported expectation");
	if (m->version_minor == 1 && f->expect_100)
		m->flags |= HTTP1_F_EXPECT_100;
	if (f->te_trailers)
		m->flags |= HTTP1_F_TE_TRAILERS;
	m->framing = f->nte ? HTTP1_BODY_CHUNKED : f->ncl ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	set_upgrade_flags(m, f);
	return 0;
}

static int response_semantics(struct http1_msg *m, unsigned req, const struct fields *f)
{
	int err = check_framing_fields(m, RESPONSE, f);
	if (err)
		return err;
	set_upgrade_flags(m, f);
	if (m->status < 200) {
		/* A 101 is the final head: the connection speaks another protocol after it. */
		m->flags |= m->status == 101 ? HTTP1_F_SWITCHING : HTTP1_F_INFORMATIONAL;
		m->flags |= m->status == 100 ? HTTP1_F_CONTINUE : 0;
		m->framing = HTTP1_BODY_NONE;
	} else if (m->status == 204 || m->status == 304 || (req & HTTP1_REQ_HEAD) ||
	           ((req & HTTP1_REQ_CONNECT) && m->status < 300)) {
		m->framing = HTTP1_BODY_NONE;
	} else if (f->nte) {
		m->framing = HTTP1_BODY_CHUNKED;
	} else if (f->ncl) {
		m->framing = HTTP1_BODY_LENGTH;
	} else {
		m->framing = HTTP1_BODY_CLOSE;
		m->flags &= ~HTTP1_F_KEEP_ALIVE;
	}
	return 0;
}

/* Second pass over a complete, scanned head: slice lines, then derive semantics. */
static int fill(const char *buf, enum kind k, unsigned req, struct http1_msg *m)
{
	const char *p = buf, *end = buf + m->head_len;
	struct fields f = {0};
	int err;
	m->flags = 0;
	while (p[0] == '\r')
		p += 2;
	const char *eol = memchr(p, '\r', (size_t)(end - p));
	err = parse_start_line(p, (size_t)(eol - p), k, m);
	if (err)
		return err;
	m->nheaders = 0;
	for (p = eol + 2; p[0] != '\r'; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (http1_parse_field(p, (size_t)(eol - p), &m->headers[m->nheaders++]))
			return bad(m, k, "field line changed between calls");
	}
	err = collect_fields(m, k, &f);
	if (err)
		return err;
	return k == REQUEST ? request_semantics(m, &f) : response_semantics(m, req, &f);
}

static int parse(const char *buf, size_t len, const struct http1_limits *lim, enum kind k,
                 unsigned req, struct http1_msg *m)
{
	size_t max_head = lim && lim->max_head ? lim->max_head : HTTP1_MAX_HEAD_DEFAULT;
	unsigned max_headers = lim && lim->max_headers ? lim->max_headers : HTTP1_MAX_HEADERS;
	if (max_headers > HTTP1_MAX_HEADERS)
		max_headers = HTTP1_MAX_HEADERS;
	if (m->err_status)
		return -EPROTO; /* a rejected head stays rejected */
	/* the caller's own mistake, not the peer's: 500 */
	if (len < m->scan_ || len < m->head_len)
		return fail(m, 500, "buffer shrank between calls");
	if (m->head_len)
		return fill(buf, k, req, m); /* called again after success: same answer */
	int err = scan_head(buf, len, max_head, max_headers, k, m);
	if (err)
		return err;
	return fill(buf, k, req, m);
}

int http1_parse_request(const char *buf, size_t len, const struct http1_limits *lim,
                        struct http1_msg *m)
{
	return parse(buf, len, lim, REQUEST, 0, m);
}

int http1_parse_response(const char *buf, size_t len, const struct http1_limits *lim, unsigned req,
                         struct http1_msg *m)
{
	return parse(buf, len, lim, RESPONSE, req, m);
}
