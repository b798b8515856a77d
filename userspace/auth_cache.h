/*
 * A small per-worker cache of Proxy-Authorization values that passed
 * auth_check_basic. A check derives a PBKDF2 key (tens of milliseconds at the
 * default iterations) on the worker's event loop; a browser sends the same
 * header on every connection, so without a cache each new tunnel would stall
 * every flow of the worker that long.
 *
 * Entries hold a keyed hash (HMAC-SHA256 under a random per-cache key) of the
 * value, never the credentials; they expire after a TTL and the oldest is
 * replaced when the cache is full. gen names the users file the value was
 * checked against (conf_listener.auth_gen): a reload with a new file, or
 * another listener's file, never hits an old entry.
 * Not thread-safe: one cache per worker.
 */
#ifndef KFWD_AUTH_CACHE_H
#define KFWD_AUTH_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_CACHE_ENTRIES 64
#define AUTH_CACHE_TTL_MS  60000

struct auth_cache;

/* entries: capacity (0: AUTH_CACHE_ENTRIES); ttl_ms: lifetime of an entry
 * (0: AUTH_CACHE_TTL_MS). Return 0 and *out, -ENOMEM or -EIO (no random key). */
int auth_cache_new(size_t entries, uint64_t ttl_ms, struct auth_cache **out);
void auth_cache_free(struct auth_cache *c);

/* Whether value[0..len) was verified for gen less than the TTL before now_ms. */
bool auth_cache_hit(struct auth_cache *c, uint64_t gen, const char *value, size_t len,
                    uint64_t now_ms);

/* Remember that value[0..len) passed the check for gen at now_ms. */
void auth_cache_put(struct auth_cache *c, uint64_t gen, const char *value, size_t len,
                    uint64_t now_ms);

#endif
