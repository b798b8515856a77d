/*
 * upstreams.allow: which CONNECT targets the tunnel server may dial, in the
 * CONNECT proxy's ACL syntax (acl.h). Compiled once per tunnel start.
 */
#include "acl.h"
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
}

/* A name matches name patterns, numeric text address patterns (acl.h). */
bool tallow_check(struct tunnel *t, const char *host, uint16_t port)
{
	return acl_match_host(t->allow, host, port);
}
