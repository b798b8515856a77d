#include "auth_cache.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TAG_LEN 32

struct entry {
	uint8_t tag[TAG_LEN];
	uint64_t gen;
	uint64_t expires; /* 0: free slot */
};

struct auth_cache {
	uint8_t key[32];
	uint64_t ttl_ms;
	size_t n;
	struct entry e[];
};

int auth_cache_new(size_t entries, uint64_t ttl_ms, struct auth_cache **out)
{
	size_t n = entries ? entries : AUTH_CACHE_ENTRIES;
	struct auth_cache *c = calloc(1, sizeof(*c) + n * sizeof(c->e[0]));
	*out = NULL;
	if (!c)
		return -ENOMEM;
	if (getrandom(c->key, sizeof(c->key), 0) != (ssize_t)sizeof(c->key)) {
		free(c);
		return -EIO;
	}
	c->n = n;
	c->ttl_ms = ttl_ms ? ttl_ms : AUTH_CACHE_TTL_MS;
	*out = c;
	return 0;
}

void auth_cache_free(struct auth_cache *c)
{
	if (c)
		memset(c->key, 0, sizeof(c->key));
	free(c);
}

/* HMAC-SHA256(key, gen || value). Return 0 or -EIO. */
static int tag_of(const struct auth_cache *c, uint64_t gen, const char *value, size_t len,
                  uint8_t *tag)
{
	Hmac h;
	int rc = -EIO;
	if (wc_HmacInit(&h, NULL, INVALID_DEVID))
		return -EIO;
	if (!wc_HmacSetKey(&h, WC_SHA256, c->key, sizeof(c->key)) &&
	    !wc_HmacUpdate(&h, (const byte *)&gen, sizeof(gen)) &&
	    !wc_HmacUpdate(&h, (const byte *)value, (word32)len) && !wc_HmacFinal(&h, tag))
		rc = 0;
	wc_HmacFree(&h);
	return rc;
}

static bool tag_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;
	for (size_t i = 0; i < TAG_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

bool auth_cache_hit(struct auth_cache *c, uint64_t gen, const char *value, size_t len,
                    uint64_t now_ms)
{
	uint8_t tag[TAG_LEN];
	if (tag_of(c, gen, value, len, tag))
		return false;
	for (size_t i = 0; i < c->n; i++) {
		struct entry *e = &c->e[i];
		if (e->expires && e->expires <= now_ms)
			e->expires = 0;
		if (e->expires && e->gen == gen && tag_equal(e->tag, tag))
			return true;
	}
	return false;
}

void auth_cache_put(struct auth_cache *c, uint64_t gen, const char *value, size_t len,
                    uint64_t now_ms)
{
	uint8_t tag[TAG_LEN];
	if (tag_of(c, gen, value, len, tag))
		return;
	/* A free or expired slot, else the one closest to expiry (the oldest). */
	struct entry *victim = &c->e[0];
	for (size_t i = 0; i < c->n; i++) {
		struct entry *e = &c->e[i];
		if (!e->expires || e->expires <= now_ms) {
			victim = e;
			break;
		}
		if (e->expires < victim->expires)
			victim = e;
	}
	memcpy(victim->tag, tag, TAG_LEN);
	victim->gen = gen;
	victim->expires = now_ms + c->ttl_ms;
}
