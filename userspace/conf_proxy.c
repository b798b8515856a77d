/*
 * The CONNECT proxy's keys: where they apply, the compiled ACLs (allow, deny
 * and the default deny list) and the users file, all built at load so that
 * a typo or an unreadable file rejects the config (or the reload) instead of
 * failing requests later.
 */
#include "acl.h"
#include "auth.h"
#include "conf.h"
#include "conf_schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Refused unless `allow` names them: what a proxy must not be turned against. */
static const char *const default_deny[] = {
    "localhost",       "*.localhost", "127.0.0.0/8", "::1", "169.254.0.0/16",
    "169.254.169.254", "fe80::/10",   "0.0.0.0/8",   "::",
};
#define NDEFAULT (sizeof(default_deny) / sizeof(default_deny[0]))

static uint64_t auth_generation; /* atomic; see conf_listener.auth_gen */

struct patlist {
	char **v;
	size_t n, cap;
};

static int pat_add(struct patlist *p, const char *text)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		char **v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	if (!(p->v[p->n] = strdup(text)))
		return -ENOMEM;
	p->n++;
	return 0;
}

static void pat_free(struct patlist *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
}

/* "ADDR:PORT" or "[ADDR]:PORT" as an ACL pattern for sa. */
static int pat_add_sockaddr(struct patlist *p, int family, const void *addr, unsigned port)
{
	char host[INET6_ADDRSTRLEN], pat[INET6_ADDRSTRLEN + 16];
	if (!inet_ntop(family, addr, host, sizeof(host)))
		return 0;
	snprintf(pat, sizeof(pat), family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	return pat_add(p, pat);
}

/* Every address of this host's interfaces of family, with port: what a
 * wildcard bind listens on. */
static int pat_add_local(struct patlist *p, int family, unsigned port)
{
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs))
		return 0; /* loopback and unspecified are denied anyway */
	int rc = 0;
	for (i = ifs; i && !rc; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family)
			continue;
		const void *a =
		    family == AF_INET
		        ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
		        : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		rc = pat_add_sockaddr(p, family, a, port);
	}
	freeifaddrs(ifs);
	return rc;
}

/* The default deny list plus every TCP listener's bind address. */
static int build_default(const struct conf *c, struct acl **out)
{
	struct patlist p = {0};
	int rc = 0;
	for (size_t i = 0; i < NDEFAULT && !rc; i++)
		rc = pat_add(&p, default_deny[i]);
	for (size_t i = 0; i < c->nlisteners && !rc; i++) {
		const struct conf_listener *l = c->listeners[i];
		if (!l->bind.text || l->proto != PROTO_TCP)
			continue;
		const struct addr *a = &l->bind.a;
		if (a->u.sa.sa_family == AF_INET) {
			const struct in_addr *ia = &a->u.in4.sin_addr;
			unsigned port = ntohs(a->u.in4.sin_port);
			rc = ia->s_addr == INADDR_ANY ? pat_add_local(&p, AF_INET, port)
			                              : pat_add_sockaddr(&p, AF_INET, ia, port);
		} else if (a->u.sa.sa_family == AF_INET6) {
			const struct in6_addr *ia = &a->u.in6.sin6_addr;
			unsigned port = ntohs(a->u.in6.sin6_port);
			rc = IN6_IS_ADDR_UNSPECIFIED(ia) ? pat_add_local(&p, AF_INET6, port)
			                                 : pat_add_sockaddr(&p, AF_INET6, ia, port);
		}
	}
	if (!rc)
		rc = acl_compile((const char *const *)p.v, p.n, out, NULL, 0);
	pat_free(&p);
	return rc;
}

static int compile_list(struct conf_ctx *x, const struct conf_listener *l, const char *key,
                        const struct conf_strlist *s, struct acl **out)
{
	char why[256];
	int rc = acl_compile((const char *const *)s->v, s->n, out, why, sizeof(why));
	if (rc == -EINVAL)
		conf_err(x, l->line, "listener \"%s\": '%s': %s", l->name, key, why);
	return rc;
}

/* Keys that only mean something to a direct CONNECT proxy. */
static int check_misplaced(struct conf_ctx *x, const struct conf_listener *l)
{
	const char *key = l->allow.n ? "allow" : l->deny.n ? "deny" : l->auth.type ? "auth" : NULL;
	if (!key)
		return 0;
	if (l->mode != MODE_CONNECT)
		conf_err(x, l->line, "listener \"%s\": '%s' applies to mode \"connect\"", l->name,
		         key);
	else
		conf_err(x, l->line,
		         "listener \"%s\": '%s' is implemented for via = \"direct\" only (the "
		         "tunnel's server checks its upstreams.allow)",
		         l->name, key);
	return -EINVAL;
}

static int check_one(struct conf_ctx *x, const struct conf *c, struct conf_listener *l)
{
	if (l->mode != MODE_CONNECT || l->via != VIA_DIRECT)
		return check_misplaced(x, l);
	int rc = 0;
	if (l->proto != PROTO_TCP) {
		conf_err(x, l->line, "listener \"%s\": mode \"connect\" needs proto \"tcp\"",
		         l->name);
		rc = -EINVAL;
	}
	if (l->backends.n) {
		conf_err(x, l->backends.v[0].line,
		         "listener \"%s\": 'backends' does not apply to mode \"connect\" (the "
		         "client names the target)",
		         l->name);
		rc = -EINVAL;
	}
	if (compile_list(x, l, "allow", &l->allow, &l->acl_allow) ||
	    compile_list(x, l, "deny", &l->deny, &l->acl_deny))
		rc = -EINVAL;
	if (build_default(c, &l->acl_default)) {
		conf_err(x, l->line, "listener \"%s\": default deny list: out of memory", l->name);
		rc = -EINVAL;
	}
	l->dns = c->global.dns;
	l->dns.servers = NULL;
	if (c->global.dns.servers && !(l->dns.servers = strdup(c->global.dns.servers)))
		rc = -ENOMEM;
	if (l->auth.type == AUTH_BASIC && l->auth.users_file) {
		char why[512];
		if (auth_db_load(l->auth.users_file, &l->auth_db, why, sizeof(why))) {
			conf_err(x, l->line, "listener \"%s\": auth: %s", l->name, why);
			rc = -EINVAL;
		} else {
			l->auth_gen = __atomic_add_fetch(&auth_generation, 1, __ATOMIC_RELAXED);
		}
	}
	return rc;
}

int conf_check_proxy(struct conf_ctx *x, struct conf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = c->listeners[i];
		/* A listener whose own keys failed gets no follow-up messages. */
		if (l->name && !l->invalid && check_one(x, c, l))
			rc = -EINVAL;
	}
	return rc;
}
