/*
 * The resolver's answer cache: host name -> addresses, kept for the records'
 * TTL clamped to configured bounds; failures are kept for a short negative
 * TTL so a flood of requests for a dead name does not become a flood of
 * queries. Pure data structure with an explicit clock, so it is testable
 * without a network; dns.c owns one per resolver (one per thread).
 */
#ifndef KFWD_DNS_CACHE_H
#define KFWD_DNS_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_MAX_ADDRS 16  /* addresses kept per name; more are dropped */
#define DNS_NAME_MAX  253 /* longest DNS name in text form, without the final dot */

/* Addresses of one name, in the order connections should try them:
 * families interleaved, IPv6 first (RFC 8305 section 4). Ports are 0. */
struct dns_addrs {
	size_t n;
	struct sockaddr_storage a[DNS_MAX_ADDRS];
};

struct dns_cache_limits {
	uint32_t min_ttl_s; /* a record's TTL is raised to at least this */
	uint32_t max_ttl_s; /* ... and cut to at most this */
	uint32_t neg_ttl_s; /* failures are remembered this long (0: not at all) */
	size_t max_entries; /* older entries are evicted beyond this */
};

struct dns_cache;

/* Create an empty cache. Return NULL on allocation failure. */
struct dns_cache *dns_cache_new(const struct dns_cache_limits *lim);
void dns_cache_free(struct dns_cache *c);

/*
 * Look name up at time now_ms. Return 1 and fill *out on a positive hit,
 * return -err (the negative errno that was stored) on a negative hit, and 0 on
 * a miss or an expired entry (which is removed).
 */
int dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms, struct dns_addrs *out);

/* Store a positive answer with the smallest TTL among its records (seconds,
 * clamped by the limits). Return 0 or -ENOMEM / -EINVAL (name too long). */
int dns_cache_put(struct dns_cache *c, const char *name, const struct dns_addrs *a, uint32_t ttl_s,
                  uint64_t now_ms);
/* Store a failure (-err, a negative errno) for neg_ttl_s. Same returns. */
int dns_cache_put_error(struct dns_cache *c, const char *name, int err, uint64_t now_ms);

/* Number of entries held (expired ones included until touched). */
size_t dns_cache_size(const struct dns_cache *c);

/* Order addrs in place for connection attempts: IPv6 and IPv4 interleaved,
 * IPv6 first, each family keeping its relative order. */
void dns_addrs_interleave(struct dns_addrs *addrs);

#endif
