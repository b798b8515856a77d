/*
 * upstreams.allow: which CONNECT targets the tunnel server may dial. The
 * patterns are the CONNECT proxy's ACL syntax (acl.h); until that module is
 * in the tree, only exact "host:port" patterns are understood.
 */
#include "log.h"
#include "tunnel_int.h"
#include "tunnel_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#if __has_include("acl.h")
#include "acl.h"

int tallow_new(struct tunnel *t)
{
	const struct conf_strlist *l = &t->conf->upstreams.allow;
	char err[256];
	if (acl_compile((const char *const *)l->v, l->n, &t->allow, err, sizeof(err))) {
		log_err("upstreams.allow: %s", err);
		return -EINVAL;
	}
	return 0;
}

void tallow_free(struct tunnel *t)
{
	if (t->allow)
		acl_free(t->allow);
	t->allow = NULL;
}

bool tallow_check(struct tunnel *t, const char *host, uint16_t port)
{
	if (!t->allow)
		return false;
	if (acl_match_host(t->allow, host, port))
		return true;
	/* A numeric target must also pass the address rules (CIDR patterns). */
	struct addr a = {0};
	if (inet_pton(AF_INET, host, &a.u.in4.sin_addr) == 1) {
		a.u.in4.sin_family = AF_INET;
		a.u.in4.sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &a.u.in6.sin6_addr) == 1) {
		a.u.in6.sin6_family = AF_INET6;
		a.u.in6.sin6_port = htons(port);
	} else {
		return false;
	}
	return acl_match_addr(t->allow, &a.u.sa);
}

#else

int tallow_new(struct tunnel *t)
{
	return 0;
}

void tallow_free(struct tunnel *t)
{
}

/* Exact "host:port" match (IPv6 in brackets), case-insensitive for names. */
bool tallow_check(struct tunnel *t, const char *host, uint16_t port)
{
	const struct conf_strlist *l = &t->conf->upstreams.allow;
	for (size_t i = 0; i < l->n; i++) {
		char h[TPARSE_HOST_MAX];
		uint16_t p;
		if (tparse_authority(l->v[i], h, sizeof(h), &p) == 0 && p == port &&
		    !strcasecmp(h, host))
			return true;
	}
	return false;
}

#endif
