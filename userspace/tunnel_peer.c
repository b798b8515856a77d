/*
 * The tunnel client's peer address: `tunnel.peer` resolved again before each
 * connection attempt on the tunnel's own resolver (dns.h: c-ares on the
 * tunnel loop, answers cached for their TTL), so that a slow name server
 * never blocks the tunnel thread: while the peer is being resolved, requests
 * still get their 503 at once. A numeric peer never goes through DNS. When a
 * name has several addresses, successive attempts take them in turn, so one
 * dead address does not stop the client from reaching the others.
 */
#include "dns.h"
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Take the next address of the answer, in turn across attempts. */
static void tpeer_pick(struct tunnel *t, const struct dns_addrs *addrs, struct addr *out)
{
	const struct sockaddr_storage *ss = &addrs->a[t->peer_pick++ % addrs->n];
	*out = (struct addr){.len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                      : sizeof(struct sockaddr_in)};
	memcpy(&out->u.ss, ss, out->len);
}

static void tpeer_answer(void *arg, int err, const struct dns_addrs *addrs)
{
	struct tunnel *t = arg;
	tpeer_cb done = t->peer_done;
	t->peer_q = NULL;
	t->peer_done = NULL;
	if (err == -ECANCELED || !done)
		return; /* the tunnel is stopping */
	if (err || !addrs->n) {
		done(t, err ? err : -ENOENT, NULL, dns_strerror(err ? err : -ENOENT));
		return;
	}
	struct addr a;
	tpeer_pick(t, addrs, &a);
	char text[ADDR_STRLEN];
	if (addrs->n > 1)
		log_info("tunnel: peer %s is %s (address %u of %zu)", t->tc->peer,
		         addr_format(&a, text), (unsigned)((t->peer_pick - 1) % addrs->n) + 1,
		         addrs->n);
	done(t, 0, &a, NULL);
}

void tpeer_resolve(struct tunnel *t, tpeer_cb done)
{
	struct addr a;
	if (!addr_parse(t->tc->peer, &a)) {
		done(t, 0, &a, NULL); /* numeric: no DNS at all */
		return;
	}
	char host[256];
	unsigned port;
	int err = addr_split(t->tc->peer, host, sizeof(host), &port);
	if (err || !port || port > 65535) {
		done(t, err ? err : -ERANGE, NULL, "not HOST:PORT");
		return;
	}
	if ((err = tun_dns(t))) {
		done(t, err, NULL, strerror(-err));
		return;
	}
	struct dns_addrs now;
	t->peer_done = done;
	err = dns_resolve(t->dns, host, (uint16_t)port, tpeer_answer, t, &now, &t->peer_q);
	if (err == 1)
		tpeer_answer(t, 0, &now);
	else if (err < 0)
		tpeer_answer(t, err, NULL);
}

void tpeer_cancel(struct tunnel *t)
{
	if (t->peer_q)
		dns_cancel(t->peer_q);
	t->peer_q = NULL;
	t->peer_done = NULL;
}
