#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, unsigned *port)
{
	if (!*s)
		return -EINVAL;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -ERANGE;
	}
	if (v == 0)
		return -ERANGE;
	*port = (unsigned)v;
	return 0;
}

int addr_split(const char *text, char *host, size_t hostlen, unsigned *port)
{
	const char *colon;
	size_t hl;
	if (!text || !*text)
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
		text++;
		hl = (size_t)(close - text);
		if (!memchr(text, ':', hl))
			return -EINVAL; /* brackets are for IPv6 only */
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
		if (memchr(text, ':', hl))
			return -EINVAL; /* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	memcpy(host, text, hl);
	host[hl] = 0;
	return parse_port(colon + 1, port);
}

static int parse_numeric(const char *host, unsigned port, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!strcmp(host, "*"))
		host = "0.0.0.0";
	if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons((uint16_t)port);
		out->len = sizeof(out->u.in4);
		return 0;
	}
	char tmp[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", host) >= sizeof(tmp))
		return -EINVAL;
	char *pct = strchr(tmp, '%');
	unsigned scope = 0;
	if (pct) {
		*pct++ = 0;
		scope = if_nametoindex(pct);
		if (!scope) {
			char *end;
			unsigned long v = strtoul(pct, &end, 10);
			if (*end || *pct < '0' || *pct > '9' || v > 0xffffffffUL)
				return -EINVAL;
			scope = (unsigned)v;
		}
	}
	if (inet_pton(AF_INET6, tmp, &out->u.in6.sin6_addr) == 1) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons((uint16_t)port);
		out->u.in6.sin6_scope_id = scope;
		out->len = sizeof(out->u.in6);
		return 0;
	}
	return -EINVAL;
}

int addr_parse(const char *text, struct addr *out)
{
	char host[256];
	unsigned port;
	int err = addr_split(text, host, sizeof(host), &port);
	if (err)
		return err;
	return parse_numeric(host, port, out);
}

int addr_resolve(const char *text, struct addr *out, const char **errtxt)
{
	char host[256];
	unsigned port;
	int err = addr_split(text, host, sizeof(host), &port);
	if (err)
		return err;
	if (!parse_numeric(host, port, out))
		return 0;
	if (strchr(host, '%'))
		return -EINVAL;

	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc || !res) {
		if (errtxt)
			*errtxt = rc ? gai_strerror(rc) : "no address";
		return -EHOSTUNREACH;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->u.ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	if (out->u.sa.sa_family == AF_INET)
		out->u.in4.sin_port = htons((uint16_t)port);
	else
		out->u.in6.sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

char *addr_format_sa(const struct sockaddr *sa, char *dst)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(dst, ADDR_STRLEN, "%s:%u", ip, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		if (s->sin6_scope_id)
			snprintf(dst, ADDR_STRLEN, "[%s%%%u]:%u", ip, s->sin6_scope_id,
				 ntohs(s->sin6_port));
		else
			snprintf(dst, ADDR_STRLEN, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else {
		snprintf(dst, ADDR_STRLEN, "(family %d)", sa->sa_family);
	}
	return dst;
}

char *addr_format(const struct addr *a, char *dst)
{
	return addr_format_sa(&a->u.sa, dst);
}

int addr_family(const struct addr *a)
{
	return a->u.sa.sa_family;
}

unsigned addr_port(const struct addr *a)
{
	return ntohs(a->u.sa.sa_family == AF_INET ? a->u.in4.sin_port : a->u.in6.sin6_port);
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in4.sin_port == b->u.in4.sin_port &&
		       a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
	if (a->u.sa.sa_family == AF_INET6)
		return a->u.in6.sin6_port == b->u.in6.sin6_port &&
		       a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
		       !memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
	return false;
}

bool addr_is_any(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->u.sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
	return false;
}
