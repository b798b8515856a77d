/* dns_cache: TTL clamping and expiry, negative entries, LRU eviction, name
 * normalisation, and the RFC 8305 family interleaving. */
#include "dns_cache.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct dns_addrs one(const char *text)
{
	struct dns_addrs a = {0};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.a[0];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.a[0];

	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", text);
	a.n = 1;
	return a;
}

static void text_of(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *p = ss->ss_family == AF_INET6
	                    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
	                    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	inet_ntop(ss->ss_family, p, buf, (socklen_t)len);
}

static const struct dns_cache_limits LIM = {
    .min_ttl_s = 5, .max_ttl_s = 300, .neg_ttl_s = 10, .max_entries = 3};

Test(dns_cache, ttl_is_honoured_within_bounds)
{
	struct dns_cache *c = dns_cache_new(&LIM);
	struct dns_addrs a = one("192.0.2.1"), got;

	cr_assert_eq(dns_cache_put(c, "ttl60.example", &a, 60, 1000), 0);
	cr_assert_eq(dns_cache_get(c, "ttl60.example", 1000 + 59999, &got), 1,
	             "still valid before its TTL");
	cr_assert_eq(got.n, 1);
	cr_assert_eq(dns_cache_get(c, "ttl60.example", 1000 + 60000, &got), 0,
	             "expired at its TTL");
	cr_assert_eq(dns_cache_size(c), 0, "an expired entry is removed when touched");

	/* TTL 0 is raised to min_ttl_s; a day is cut to max_ttl_s. */
	dns_cache_put(c, "ttl0.example", &a, 0, 0);
	cr_assert_eq(dns_cache_get(c, "ttl0.example", 4999, &got), 1);
	cr_assert_eq(dns_cache_get(c, "ttl0.example", 5000, &got), 0);
	dns_cache_put(c, "day.example", &a, 86400, 0);
	cr_assert_eq(dns_cache_get(c, "day.example", 299999, &got), 1);
	cr_assert_eq(dns_cache_get(c, "day.example", 300000, &got), 0);
	dns_cache_free(c);
}

Test(dns_cache, negative_entries_return_their_error_until_neg_ttl)
{
	struct dns_cache *c = dns_cache_new(&LIM);
	struct dns_addrs got;

	cr_assert_eq(dns_cache_put_error(c, "nx.example", -ENOENT, 0), 0);
	cr_assert_eq(dns_cache_get(c, "nx.example", 9999, &got), -ENOENT);
	cr_assert_eq(dns_cache_get(c, "nx.example", 10000, &got), 0);

	struct dns_cache_limits nocache = LIM;
	nocache.neg_ttl_s = 0;
	struct dns_cache *c2 = dns_cache_new(&nocache);
	dns_cache_put_error(c2, "nx.example", -ENOENT, 0);
	cr_assert_eq(dns_cache_get(c2, "nx.example", 0, &got), 0,
	             "neg_ttl_s = 0 keeps no failures");
	dns_cache_free(c2);
	dns_cache_free(c);
}

Test(dns_cache, names_compare_case_insensitively_without_trailing_dot)
{
	struct dns_cache *c = dns_cache_new(&LIM);
	struct dns_addrs a = one("2001:db8::1"), got;

	dns_cache_put(c, "Mixed.Example.", &a, 60, 0);
	cr_assert_eq(dns_cache_get(c, "mixed.example", 0, &got), 1);
	cr_assert_eq(dns_cache_get(c, "MIXED.EXAMPLE.", 0, &got), 1);
	cr_assert_eq(dns_cache_get(c, "mixed.example.org", 0, &got), 0);
	cr_assert_eq(dns_cache_put(c, "", &a, 60, 0), -EINVAL);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(dns_cache_put(c, longname, &a, 60, 0), -EINVAL);
	dns_cache_free(c);
}

Test(dns_cache, least_recently_used_entry_is_evicted)
{
	struct dns_cache *c = dns_cache_new(&LIM); /* 3 entries */
	struct dns_addrs a = one("192.0.2.7"), got;

	dns_cache_put(c, "a.example", &a, 60, 0);
	dns_cache_put(c, "b.example", &a, 60, 0);
	dns_cache_put(c, "c.example", &a, 60, 0);
	cr_assert_eq(dns_cache_get(c, "a.example", 1, &got), 1); /* a is now the most recent */
	dns_cache_put(c, "d.example", &a, 60, 2);
	cr_assert_eq(dns_cache_size(c), 3);
	cr_assert_eq(dns_cache_get(c, "b.example", 3, &got), 0, "b was the least recently used");
	cr_assert_eq(dns_cache_get(c, "a.example", 3, &got), 1);
	cr_assert_eq(dns_cache_get(c, "c.example", 3, &got), 1);
	cr_assert_eq(dns_cache_get(c, "d.example", 3, &got), 1);

	/* Replacing an entry does not grow the cache. */
	dns_cache_put(c, "d.example", &a, 60, 4);
	cr_assert_eq(dns_cache_size(c), 3);
	dns_cache_free(c);
}

Test(dns_cache, many_names_stay_bounded)
{
	struct dns_cache_limits lim = LIM;
	lim.max_entries = 100;
	struct dns_cache *c = dns_cache_new(&lim);
	struct dns_addrs a = one("192.0.2.9"), got;
	char name[64];

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		cr_assert_eq(dns_cache_put(c, name, &a, 60, 0), 0);
	}
	cr_assert_eq(dns_cache_size(c), 100);
	cr_assert_eq(dns_cache_get(c, "n4999.example", 0, &got), 1);
	cr_assert_eq(dns_cache_get(c, "n4900.example", 0, &got), 1);
	cr_assert_eq(dns_cache_get(c, "n4899.example", 0, &got), 0);
	dns_cache_free(c);
}

Test(dns_cache, interleave_puts_ipv6_first_and_alternates)
{
	const char *in[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"};
	const char *want[] = {"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3"};
	struct dns_addrs a = {0};
	char buf[64];

	for (size_t i = 0; i < 5; i++)
		a.a[a.n++] = one(in[i]).a[0];
	dns_addrs_interleave(&a);
	cr_assert_eq(a.n, 5);
	for (size_t i = 0; i < 5; i++) {
		text_of(&a.a[i], buf, sizeof(buf));
		cr_assert_str_eq(buf, want[i], "position %zu", i);
	}

	struct dns_addrs only4 = one("192.0.2.1");
	dns_addrs_interleave(&only4);
	cr_assert_eq(only4.n, 1);
	cr_assert_eq(only4.a[0].ss_family, AF_INET);
}
