/* HTTP/1.1 request-target forms and authorities (RFC 9112 §3.2, RFC 3986 §3.2). */
#include "http1.h"
#include "http1_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/*
 * Characters of a host name we accept: RFC 3986 unreserved. Sub-delims and
 * percent-encoding are legal in a reg-name but no DNS name needs them, and each
 * one is a way to make two parsers disagree about the host.
 */
static bool is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool valid_ipv6(const char *p, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;
	if (len == 0 || len >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		bool hex =
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (!hex && c != ':' && c != '.')
			return false; /* no zone ids ("%25eth0"), no IPvFuture */
	}
	memcpy(tmp, p, len);
	tmp[len] = 0;
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

static int parse_port(const char *p, size_t len, unsigned *port)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return len == 0 ? -EINVAL : -ERANGE;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -ERANGE;
	*port = v;
	return 0;
}

int http1_parse_authority(struct http1_str s, bool need_port, struct http1_str *host,
                          unsigned *port)
{
	const char *rest;
	size_t restlen;
	if (s.len == 0)
		return -EINVAL;
	if (s.p[0] == '[') {
		const char *close = memchr(s.p, ']', s.len);
		if (!close || !valid_ipv6(s.p + 1, (size_t)(close - s.p - 1)))
			return -EINVAL;
		host->p = s.p + 1;
		host->len = (size_t)(close - s.p - 1);
		rest = close + 1;
	} else {
		size_t i = 0;
		while (i < s.len && is_host_char((unsigned char)s.p[i]))
			i++;
		if (i == 0)
			return -EINVAL;
		host->p = s.p;
		host->len = i;
		rest = s.p + i;
	}
	restlen = s.len - (size_t)(rest - s.p);
	*port = 0;
	if (restlen == 0)
		return need_port ? -EINVAL : 0;
	if (rest[0] != ':')
		return -EINVAL; /* '@' (userinfo), '%', '/', ... */
	return parse_port(rest + 1, restlen - 1, port);
}

/* The scheme of an absolute-form target; only http and https can be proxied. */
static bool scheme_ok(struct http1_str s)
{
	return http1_str_ieq(s, "http") || http1_str_ieq(s, "https");
}

/* "scheme://authority[/path][?query]" */
static const char *parse_absolute(struct http1_msg *m)
{
	const char *t = m->target.p, *end = t + m->target.len;
	const char *sep = memchr(t, ':', m->target.len);
	if (!sep || end - sep < 3 || sep[1] != '/' || sep[2] != '/')
		return "invalid request-target";
	m->scheme = (struct http1_str){t, (size_t)(sep - t)};
	if (!scheme_ok(m->scheme))
		return "unsupported scheme in request-target";
	const char *a = sep + 3, *p = a;
	while (p < end && *p != '/' && *p != '?')
		p++;
	m->authority = (struct http1_str){a, (size_t)(p - a)};
	if (http1_parse_authority(m->authority, false, &m->host, &m->port) < 0)
		return "invalid authority in request-target";
	if (p == end)
		m->path = (struct http1_str){"/", 1};
	else if (*p == '?')
		return "request-target query without a path";
	else
		m->path = (struct http1_str){p, (size_t)(end - p)};
	m->form = HTTP1_TARGET_ABSOLUTE;
	return NULL;
}

const char *http1_parse_target(struct http1_msg *m)
{
	struct http1_str t = m->target;
	if (memchr(t.p, '#', t.len))
		return "fragment in request-target";
	if (http1_str_eq(m->method, "CONNECT")) {
		m->form = HTTP1_TARGET_AUTHORITY;
		m->authority = t;
		if (http1_parse_authority(t, true, &m->host, &m->port) < 0)
			return "CONNECT target is not host:port";
		return NULL;
	}
	if (t.len == 1 && t.p[0] == '*') {
		if (!http1_str_eq(m->method, "OPTIONS"))
			return "asterisk-form target outside OPTIONS";
		m->form = HTTP1_TARGET_ASTERISK;
		m->path = t;
		return NULL;
	}
	if (t.p[0] == '/') {
		m->form = HTTP1_TARGET_ORIGIN;
		m->path = t;
		return NULL;
	}
	return parse_absolute(m);
}
