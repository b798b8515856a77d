/*
 * Asynchronous name resolution on a kfwd event loop, with c-ares doing the
 * DNS work and dns_cache holding answers for their TTL. One resolver per
 * loop (thread); its callbacks run on that loop.
 *
 * Why c-ares rather than getaddrinfo(): getaddrinfo blocks the calling
 * thread for as long as the slowest name server takes, and every flow on a
 * worker shares that thread; getaddrinfo_a hides a thread per query and
 * reports no TTL, which the cache needs.
 */
#ifndef KFWD_DNS_H
#define KFWD_DNS_H
#include "dns_cache.h"

#include <stdint.h>

struct loop;
struct dns;
struct dns_query;

struct dns_opts {
	uint32_t min_ttl_s; /* cache bounds, see dns_cache_limits */
	uint32_t max_ttl_s;
	uint32_t neg_ttl_s;
	size_t cache_entries;
	int timeout_ms;      /* per query try; 0: c-ares default */
	int tries;           /* 0: c-ares default */
	const char *servers; /* "ip[:port],..." overriding resolv.conf; NULL: system */
};

/*
 * Called once per dns_resolve that returned 0, on the resolver's loop.
 * err is 0 with addrs (ports set to the requested port, families
 * interleaved IPv6 first) or a negative errno: -ENOENT no such name (or no
 * address of a wanted family), -ETIMEDOUT no answer, -EAGAIN temporary
 * server failure, -ECANCELED resolver freed. addrs is only valid during the
 * call.
 */
typedef void (*dns_cb)(void *arg, int err, const struct dns_addrs *addrs);

/* Create a resolver on l. Return 0 and *out, or -errno (-EIO if c-ares
 * refused the options, with a log line saying why). */
int dns_new(struct loop *l, const struct dns_opts *o, struct dns **out);
/* Free d; outstanding queries get their callback with -ECANCELED first. */
void dns_free(struct dns *d);

/*
 * Resolve host (a name; a numeric address is answered from itself) for port.
 * Return 1 when the answer was ready at once (numeric host, cache hit, or
 * c-ares answering before returning, e.g. from /etc/hosts):
 * *now is filled, cb is not called, *q is NULL. Return 0 when a query was
 * started: cb will be called later unless dns_cancel(*q) is called first.
 * Return a negative errno for an immediate failure (cached negative answer,
 * bad name, out of memory); cb is not called.
 */
int dns_resolve(struct dns *d, const char *host, uint16_t port, dns_cb cb, void *arg,
                struct dns_addrs *now, struct dns_query **q);
/* Forget a pending query: its callback will not be called. */
void dns_cancel(struct dns_query *q);

/* A short human reason for a dns_cb / dns_resolve error. */
const char *dns_strerror(int err);

/* Counters for stats and tests. */
struct dns_stats {
	uint64_t queries; /* sent to c-ares */
	uint64_t cache_hits;
	uint64_t failures;
};
void dns_get_stats(const struct dns *d, struct dns_stats *out);

#endif
