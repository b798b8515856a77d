/*
 * Target ACLs (see acl.h): patterns are parsed once into rules; a match is a
 * linear scan, which is fine for the tens of patterns a config holds.
 */
#include "acl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACL_NAME_MAX 253 /* a DNS name without its trailing dot */

enum acl_kind {
	ACL_NAME, /* exactly name */
	ACL_ZONE, /* anything strictly under name */
	ACL_ADDR  /* an address prefix */
};

struct acl_rule {
	enum acl_kind kind;
	uint16_t lo, hi;             /* port range, inclusive */
	int family;                  /* ACL_ADDR: AF_INET or AF_INET6 */
	int len;                     /* ACL_ADDR: prefix length in bits */
	unsigned char addr[16];      /* ACL_ADDR: network byte order; IPv4 in the first 4 */
	char name[ACL_NAME_MAX + 1]; /* ACL_NAME, ACL_ZONE: lower case, no trailing dot */
};

struct acl {
	size_t n;
	struct acl_rule r[];
};

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int fail(char *err, size_t errlen, const char *pattern, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *pattern, const char *fmt, ...)
{
	if (err && errlen) {
		char why[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(err, errlen, "pattern \"%s\": %s", pattern, why);
	}
	return -EINVAL;
}

/* "80" or "8000-8999" into r->lo..r->hi; *why on failure. */
static int parse_ports(const char *s, struct acl_rule *r, char *why, size_t whylen)
{
	unsigned long v[2] = {0, 0};
	int n = 0;
	const char *p = s;
	if (!*s) {
		snprintf(why, whylen, "empty port after ':'");
		return -EINVAL;
	}
	for (;;) {
		if (!isdigit((unsigned char)*p)) {
			snprintf(why, whylen, "bad port \"%s\" (expected PORT or LOW-HIGH)", s);
			return -EINVAL;
		}
		while (isdigit((unsigned char)*p)) {
			v[n] = v[n] * 10 + (unsigned long)(*p++ - '0');
			if (v[n] > 65535)
				break;
		}
		if (v[n] < 1 || v[n] > 65535) {
			snprintf(why, whylen, "bad port in \"%s\" (1-65535)", s);
			return -EINVAL;
		}
		if (*p == 0)
			break;
		if (*p != '-' || n == 1) {
			snprintf(why, whylen, "bad port \"%s\" (expected PORT or LOW-HIGH)", s);
			return -EINVAL;
		}
		p++;
		n++;
	}
	if (n == 1 && v[0] > v[1]) {
		snprintf(why, whylen, "port range %lu-%lu: the low end is above the high end", v[0],
		         v[1]);
		return -EINVAL;
	}
	r->lo = (uint16_t)v[0];
	r->hi = (uint16_t)(n == 1 ? v[1] : v[0]);
	return 0;
}

/* An IPv4-mapped IPv6 address or prefix (at least /96) becomes IPv4. */
static void unmap(struct acl_rule *r)
{
	if (r->family != AF_INET6 || r->len < 96 || memcmp(r->addr, v4mapped, 12))
		return;
	memmove(r->addr, r->addr + 12, 4);
	memset(r->addr + 4, 0, 12);
	r->family = AF_INET;
	r->len -= 96;
}

/* "ADDR" or "ADDR/LEN"; v6only: brackets were used. */
static int parse_prefix(const char *s, bool v6only, struct acl_rule *r, char *why, size_t whylen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(why, whylen, "bad address");
		return -EINVAL;
	}
	memcpy(host, s, hl);
	host[hl] = 0;
	if (!v6only && inet_pton(AF_INET, host, r->addr) == 1) {
		r->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, r->addr) == 1) {
		r->family = AF_INET6;
	} else {
		snprintf(why, whylen, "bad %s address \"%s\"",
		         v6only || strchr(host, ':') ? "IPv6" : "IPv4", host);
		return -EINVAL;
	}
	int max = r->family == AF_INET ? 32 : 128;
	r->len = max;
	if (slash) {
		const char *l = slash + 1;
		char *end;
		long v = strtol(l, &end, 10);
		if (!isdigit((unsigned char)*l) || *end || v < 0 || v > max || end - l > 3) {
			snprintf(why, whylen, "bad prefix length \"/%s\" (0 to %d)", l, max);
			return -EINVAL;
		}
		r->len = (int)v;
	}
	for (int b = r->len; b < max; b++) {
		if (r->addr[b / 8] & (0x80 >> (b % 8))) {
			snprintf(why, whylen, "address bits beyond the prefix length /%d are set",
			         r->len);
			return -EINVAL;
		}
	}
	r->kind = ACL_ADDR;
	unmap(r);
	return 0;
}

/* "name", "name." or "*.zone": labels of [A-Za-z0-9_-], 1 to 63 characters. */
static int parse_name(const char *s, struct acl_rule *r, char *why, size_t whylen)
{
	r->kind = ACL_NAME;
	if (s[0] == '*') {
		if (s[1] != '.') {
			snprintf(why, whylen,
			         "'*' must be followed by a dot and a zone (\"*.zone\")");
			return -EINVAL;
		}
		r->kind = ACL_ZONE;
		s += 2;
		if (!*s || !strcmp(s, ".")) {
			snprintf(why, whylen, "empty zone after \"*.\"");
			return -EINVAL;
		}
	}
	size_t n = strlen(s);
	if (n && s[n - 1] == '.')
		n--; /* the root: "a.example." is "a.example" */
	if (n > ACL_NAME_MAX) {
		snprintf(why, whylen, "name longer than %d characters", ACL_NAME_MAX);
		return -EINVAL;
	}
	size_t label = 0;
	bool numeric = true;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';
		if (c == '.') {
			if (label == 0) {
				snprintf(why, whylen, "empty label in \"%.*s\"", (int)n, s);
				return -EINVAL;
			}
			label = 0;
			continue;
		}
		if (c == '*') {
			snprintf(why, whylen, "'*' may only be the whole first label (\"*.zone\")");
			return -EINVAL;
		}
		if (!isalnum((unsigned char)c) && c != '-' && c != '_') {
			snprintf(why, whylen, "character '%c' is not allowed in a name", c);
			return -EINVAL;
		}
		if (++label > 63) {
			snprintf(why, whylen, "label longer than 63 characters");
			return -EINVAL;
		}
		numeric &= isdigit((unsigned char)c) != 0;
	}
	/* "10.1.2" or "300.1.1.1": meant as an address, not a name. */
	if (numeric) {
		snprintf(why, whylen, "bad IPv4 address \"%.*s\"", (int)n, s);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		r->name[i] = (char)tolower((unsigned char)s[i]);
	r->name[n] = 0;
	return 0;
}

static int parse_pattern(const char *pat, struct acl_rule *r, char *why, size_t whylen)
{
	char host[ACL_NAME_MAX + 8];
	const char *ports = NULL;
	memset(r, 0, sizeof(*r));
	r->lo = 1;
	r->hi = 65535;
	if (!*pat) {
		snprintf(why, whylen, "empty pattern");
		return -EINVAL;
	}
	if (pat[0] == '[') {
		const char *close = strchr(pat, ']');
		if (!close) {
			snprintf(why, whylen, "'[' without ']'");
			return -EINVAL;
		}
		if (close[1] && close[1] != ':') {
			snprintf(why, whylen, "expected ':PORT' after ']'");
			return -EINVAL;
		}
		size_t hl = (size_t)(close - pat - 1);
		if (hl >= sizeof(host)) {
			snprintf(why, whylen, "bad IPv6 address");
			return -EINVAL;
		}
		memcpy(host, pat + 1, hl);
		host[hl] = 0;
		if (!strchr(host, ':')) {
			snprintf(why, whylen, "brackets are for IPv6 addresses only");
			return -EINVAL;
		}
		if (close[1] && parse_ports(close + 2, r, why, whylen))
			return -EINVAL;
		return parse_prefix(host, true, r, why, whylen);
	}
	const char *colon = strchr(pat, ':');
	if (colon && strchr(colon + 1, ':')) {
		/* Two colons or more: all of it is an IPv6 address (or prefix). */
		if (parse_prefix(pat, true, r, why, whylen)) {
			size_t n = strlen(why);
			snprintf(why + n, whylen - n, " (with a port, write [ADDRESS]:PORT)");
			return -EINVAL;
		}
		return 0;
	}
	size_t hl = colon ? (size_t)(colon - pat) : strlen(pat);
	if (hl == 0) {
		snprintf(why, whylen, "empty host before ':'");
		return -EINVAL;
	}
	if (hl >= sizeof(host)) {
		snprintf(why, whylen, "name longer than %d characters", ACL_NAME_MAX);
		return -EINVAL;
	}
	memcpy(host, pat, hl);
	host[hl] = 0;
	if (colon) {
		ports = colon + 1;
		if (parse_ports(ports, r, why, whylen))
			return -EINVAL;
	}
	struct in_addr a4;
	if (strchr(host, '/') || inet_pton(AF_INET, host, &a4) == 1)
		return parse_prefix(host, false, r, why, whylen);
	return parse_name(host, r, why, whylen);
}

int acl_compile(const char *const *patterns, size_t n, struct acl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct acl *a = calloc(1, sizeof(*a) + n * sizeof(a->r[0]));
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char why[200];
		if (!patterns[i]) {
			free(a);
			return fail(err, errlen, "(null)", "no pattern");
		}
		if (parse_pattern(patterns[i], &a->r[i], why, sizeof(why))) {
			int rc = fail(err, errlen, patterns[i], "%s", why);
			free(a);
			return rc;
		}
	}
	a->n = n;
	*out = a;
	return 0;
}

void acl_free(struct acl *a)
{
	free(a);
}

size_t acl_count(const struct acl *a)
{
	return a ? a->n : 0;
}

static bool prefix_match(const struct acl_rule *r, int family, const unsigned char *addr)
{
	if (r->family != family)
		return false;
	int full = r->len / 8, rest = r->len % 8;
	if (memcmp(r->addr, addr, (size_t)full))
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((r->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

/* family AF_INET: addr holds 4 bytes; AF_INET6: 16, IPv4-mapped ones taken as IPv4. */
static bool match_addr(const struct acl *a, int family, const unsigned char *addr, uint16_t port)
{
	if (family == AF_INET6 && !memcmp(addr, v4mapped, 12)) {
		family = AF_INET;
		addr += 12;
	}
	for (size_t i = 0; a && i < a->n; i++) {
		const struct acl_rule *r = &a->r[i];
		if (r->kind == ACL_ADDR && port >= r->lo && port <= r->hi &&
		    prefix_match(r, family, addr))
			return true;
	}
	return false;
}

bool acl_match_addr(const struct acl *a, const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return match_addr(a, AF_INET, (const unsigned char *)&in->sin_addr,
		                  ntohs(in->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return match_addr(a, AF_INET6, in6->sin6_addr.s6_addr, ntohs(in6->sin6_port));
	}
	return false;
}

bool acl_match_host(const struct acl *a, const char *host, uint16_t port)
{
	unsigned char addr[16];
	if (!a || !host)
		return false;
	if (inet_pton(AF_INET, host, addr) == 1)
		return match_addr(a, AF_INET, addr, port);
	if (inet_pton(AF_INET6, host, addr) == 1)
		return match_addr(a, AF_INET6, addr, port);
	size_t n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	if (n == 0 || n > ACL_NAME_MAX)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct acl_rule *r = &a->r[i];
		if (port < r->lo || port > r->hi)
			continue;
		size_t rn = strlen(r->name);
		if (r->kind == ACL_NAME && rn == n && !strncasecmp(host, r->name, n))
			return true;
		/* Strictly under the zone: at least one label and a dot before it. */
		if (r->kind == ACL_ZONE && n > rn + 1 && host[n - rn - 1] == '.' &&
		    !strncasecmp(host + n - rn, r->name, rn))
			return true;
	}
	return false;
}
