/*
 * Hash table of names with an LRU list: lookups are O(1) and the least
 * recently used entry is the one evicted when the cache is full, so a scan of
 * many one-off names cannot push out the few names a gateway uses all day
 * for longer than those names stay idle.
 */
#include "dns_cache.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct dns_entry {
	struct dns_entry *hnext;         /* hash chain */
	struct dns_entry *lprev, *lnext; /* LRU list, most recent at head */
	uint64_t expires_ms;
	int err; /* 0: positive entry, else -errno */
	struct dns_addrs addrs;
	char name[DNS_NAME_MAX + 1]; /* lower case, no trailing dot */
};

struct dns_cache {
	struct dns_cache_limits lim;
	struct dns_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t n;
	struct dns_entry *head, *tail;
};

/* Names compare case-insensitively and without a trailing dot. Return -EINVAL
 * for an empty or over-long name. */
static int normalize(const char *name, char out[DNS_NAME_MAX + 1])
{
	size_t len = strlen(name);

	if (len && name[len - 1] == '.')
		len--;
	if (!len || len > DNS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
	return 0;
}

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

struct dns_cache *dns_cache_new(const struct dns_cache_limits *lim)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	size_t nb = 16;

	if (!c)
		return NULL;
	c->lim = *lim;
	if (c->lim.max_entries == 0)
		c->lim.max_entries = 1;
	if (c->lim.max_ttl_s < c->lim.min_ttl_s)
		c->lim.max_ttl_s = c->lim.min_ttl_s;
	while (nb < c->lim.max_entries && nb < (1u << 20))
		nb <<= 1;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->nbuckets = nb;
	return c;
}

static void lru_unlink(struct dns_cache *c, struct dns_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(struct dns_cache *c, struct dns_entry *e)
{
	e->lprev = NULL;
	e->lnext = c->head;
	if (c->head)
		c->head->lprev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static struct dns_entry **slot_of(struct dns_cache *c, const char *norm)
{
	struct dns_entry **pp = &c->buckets[hash(norm) & (c->nbuckets - 1)];

	while (*pp && strcmp((*pp)->name, norm) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void remove_entry(struct dns_cache *c, struct dns_entry *e)
{
	struct dns_entry **pp = slot_of(c, e->name);

	*pp = e->hnext;
	lru_unlink(c, e);
	c->n--;
	free(e);
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	while (c->head)
		remove_entry(c, c->head);
	free(c->buckets);
	free(c);
}

int dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms, struct dns_addrs *out)
{
	char norm[DNS_NAME_MAX + 1];
	struct dns_entry *e;

	if (normalize(name, norm) < 0)
		return 0;
	e = *slot_of(c, norm);
	if (!e)
		return 0;
	if (now_ms >= e->expires_ms) {
		remove_entry(c, e);
		return 0;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	if (e->err)
		return e->err;
	*out = e->addrs;
	return 1;
}

static uint32_t clamp_ttl(const struct dns_cache *c, uint32_t ttl)
{
	if (ttl < c->lim.min_ttl_s)
		return c->lim.min_ttl_s;
	if (ttl > c->lim.max_ttl_s)
		return c->lim.max_ttl_s;
	return ttl;
}

/* Insert or replace name's entry; the caller fills in the answer. */
static struct dns_entry *upsert(struct dns_cache *c, const char *name, uint32_t ttl_s,
                                uint64_t now_ms)
{
	char norm[DNS_NAME_MAX + 1];
	struct dns_entry **pp, *e;

	if (normalize(name, norm) < 0)
		return NULL;
	pp = slot_of(c, norm);
	if (*pp) {
		e = *pp;
		lru_unlink(c, e);
	} else {
		if (c->n >= c->lim.max_entries)
			remove_entry(c, c->tail);
		pp = slot_of(c, norm);
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		memcpy(e->name, norm, sizeof(norm));
		*pp = e;
		c->n++;
	}
	lru_push(c, e);
	e->expires_ms = now_ms + (uint64_t)ttl_s * 1000;
	return e;
}

int dns_cache_put(struct dns_cache *c, const char *name, const struct dns_addrs *a, uint32_t ttl_s,
                  uint64_t now_ms)
{
	struct dns_entry *e;
	char norm[DNS_NAME_MAX + 1];

	if (normalize(name, norm) < 0)
		return -EINVAL;
	e = upsert(c, norm, clamp_ttl(c, ttl_s), now_ms);
	if (!e)
		return -ENOMEM;
	e->err = 0;
	e->addrs = *a;
	return 0;
}

int dns_cache_put_error(struct dns_cache *c, const char *name, int err, uint64_t now_ms)
{
	struct dns_entry *e;
	char norm[DNS_NAME_MAX + 1];

	if (normalize(name, norm) < 0)
		return -EINVAL;
	if (!c->lim.neg_ttl_s)
		return 0;
	e = upsert(c, norm, c->lim.neg_ttl_s, now_ms);
	if (!e)
		return -ENOMEM;
	e->err = err < 0 ? err : -EIO;
	e->addrs.n = 0;
	return 0;
}

size_t dns_cache_size(const struct dns_cache *c)
{
	return c->n;
}

void dns_addrs_interleave(struct dns_addrs *addrs)
{
	struct sockaddr_storage v6[DNS_MAX_ADDRS], v4[DNS_MAX_ADDRS];
	size_t n6 = 0, n4 = 0, i6 = 0, i4 = 0, n = 0;
	bool six = true;

	for (size_t i = 0; i < addrs->n; i++) {
		if (addrs->a[i].ss_family == AF_INET6)
			v6[n6++] = addrs->a[i];
		else
			v4[n4++] = addrs->a[i];
	}
	while (i6 < n6 || i4 < n4) {
		if ((six && i6 < n6) || i4 >= n4)
			addrs->a[n++] = v6[i6++];
		else
			addrs->a[n++] = v4[i4++];
		six = !six;
	}
}
