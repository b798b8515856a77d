/*
 * The tunnel server's way to its targets: upstreams.allow (which CONNECT
 * targets it may dial, in the CONNECT proxy's ACL syntax, acl.h; compiled
 * once per tunnel start) and the resolver its dials use (dns.h, the one the
 * CONNECT proxy uses, made on first use with global.dns).
 */
#include "acl.h"
#include "dns.h"
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>

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
	acl_free(t->allow);
	t->allow = NULL;
	dns_free(t->dns);
	t->dns = NULL;
}

#define TUN_DNS_CACHE_ENTRIES 1024

int tun_dns(struct tunnel *t)
{
	if (t->dns)
		return 0;
	const struct conf_dns *c = &t->conf->global.dns;
	struct dns_opts o = {.min_ttl_s = (uint32_t)c->min_ttl_s,
	                     .max_ttl_s = (uint32_t)c->max_ttl_s,
	                     .neg_ttl_s = (uint32_t)c->neg_ttl_s,
	                     .cache_entries = TUN_DNS_CACHE_ENTRIES,
	                     .timeout_ms = c->timeout_ms,
	                     .tries = c->tries,
	                     .servers = c->servers};
	return dns_new(t->loop, &o, &t->dns);
}

/* A name matches name patterns, numeric text address patterns (acl.h). */
bool tallow_check(struct tunnel *t, const char *host, uint16_t port)
{
	return acl_match_host(t->allow, host, port);
}
