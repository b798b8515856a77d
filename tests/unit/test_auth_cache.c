/*
 * auth_cache: a verified value hits until its TTL passes, only for the same
 * users-file generation; a full cache replaces the oldest entry.
 */
#include "auth_cache.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define V "Basic YWxpY2U6c2VjcmV0"

Test(auth_cache, hit_until_ttl_and_only_same_gen)
{
	struct auth_cache *c;
	cr_assert_eq(auth_cache_new(4, 1000, &c), 0);
	cr_assert_not(auth_cache_hit(c, 1, V, strlen(V), 0));
	auth_cache_put(c, 1, V, strlen(V), 0);
	cr_assert(auth_cache_hit(c, 1, V, strlen(V), 999));
	cr_assert_not(auth_cache_hit(c, 2, V, strlen(V), 1), "another users file must not hit");
	cr_assert_not(auth_cache_hit(c, 1, V, strlen(V) - 1, 1), "another value must not hit");
	cr_assert_not(auth_cache_hit(c, 1, V, strlen(V), 1000), "expired");
	auth_cache_free(c);
}

Test(auth_cache, bounded_replaces_oldest)
{
	struct auth_cache *c;
	char v[32];
	cr_assert_eq(auth_cache_new(4, 100000, &c), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(v, sizeof(v), "Basic %d", i);
		auth_cache_put(c, 1, v, strlen(v), (uint64_t)i);
	}
	snprintf(v, sizeof(v), "Basic %d", 0);
	cr_assert_not(auth_cache_hit(c, 1, v, strlen(v), 10), "the oldest was replaced");
	for (int i = 1; i < 5; i++) {
		snprintf(v, sizeof(v), "Basic %d", i);
		cr_assert(auth_cache_hit(c, 1, v, strlen(v), 10), "entry %d", i);
	}
	auth_cache_free(c);
}
