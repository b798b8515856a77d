#include "tunnel_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

int tparse_authority(const char *auth, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *hs = auth, *he;
	if (auth[0] == '[') {
		he = strchr(auth, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = auth + 1;
		colon = he + 1;
	} else {
		colon = strrchr(auth, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= hostlen || hl > 253)
		return -EINVAL;
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	unsigned long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = 0;
	if (auth[0] == '[') {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -EINVAL;
	} else {
		for (size_t i = 0; i < hl; i++)
			if (!is_name_char((unsigned char)host[i]))
				return -EINVAL;
		if (host[0] == '.' || host[0] == '-')
			return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Find the end of the head (CRLFCRLF); return its length or 0. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* Check one header line [p, e) (CRLF excluded). */
static bool header_ok(const char *p, const char *e)
{
	const char *c = p;
	while (c < e && is_tchar((unsigned char)*c))
		c++;
	if (c == p || c == e || *c != ':')
		return false;
	for (c++; c < e; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return false;
	return true;
}

int tparse_connect(const char *buf, size_t len, size_t limit, struct tparse_connect *out)
{
	size_t scan = len < limit ? len : limit;
	size_t hl = head_end(buf, scan);
	if (!hl) {
		/* A bare LF or NUL anywhere makes it malformed before the limit hits. */
		for (size_t i = 0; i < scan; i++)
			if (buf[i] == 0 || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
				return -EINVAL;
		return len >= limit ? -E2BIG : 0;
	}
	const char *eol = memchr(buf, '\r', hl);
	const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1)
		return -EINVAL;
	for (const char *c = buf; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return -EINVAL;
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return -EINVAL;
	size_t vl = (size_t)(eol - sp2 - 1);
	if (vl != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	size_t al = (size_t)(sp2 - sp1 - 1);
	if (memchr(sp1 + 1, ' ', al))
		return -EINVAL;
	/* Header lines: strict, so a smuggled second request cannot hide in them. */
	const char *p = eol + 2;
	while (p < buf + hl - 2) {
		const char *e = memchr(p, '\r', (size_t)(buf + hl - p));
		if (!e || e[1] != '\n' || !header_ok(p, e))
			return -EINVAL;
		p = e + 2;
	}
	for (const char *c = buf; c < buf + hl; c++)
		if (*c == '\n' && c[-1] != '\r')
			return -EINVAL;
	if ((size_t)(sp1 - buf) != 7 || memcmp(buf, "CONNECT", 7))
		return -EPROTO;
	if (al >= sizeof(out->authority))
		return -EINVAL;
	memcpy(out->authority, sp1 + 1, al);
	out->authority[al] = 0;
	if (tparse_authority(out->authority, out->host, sizeof(out->host), &out->port))
		return -EINVAL;
	out->head_len = hl;
	return 1;
}

const char *tparse_reason(int status)
{
	switch (status) {
	case 200:
		return "Connection established";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}
