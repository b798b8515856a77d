/*
 * dns: c-ares on the kfwd loop against a tiny authoritative server on
 * 127.0.0.1 run by the test itself (so answers, TTLs and failures are known):
 * both families interleaved, TTL caching (no second query), NXDOMAIN cached
 * as a negative answer, timeouts, cancellation, numeric hosts.
 */
#include "dns.h"
#include "loop.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* ---- the test's name server ---- */

static int srv_fd = -1;
static uint16_t srv_port;
static pthread_t srv_thread;
static atomic_bool srv_stop;
static atomic_int srv_queries;

static size_t put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
	return 4;
}

/* Answer record pointing at the question name (offset 12). */
static size_t answer(uint8_t *p, uint16_t type, uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	size_t n = 0;

	n += put16(p + n, 0xc00c);
	n += put16(p + n, type);
	n += put16(p + n, 1);
	n += put32(p + n, ttl);
	n += put16(p + n, rdlen);
	memcpy(p + n, rdata, rdlen);
	return n + rdlen;
}

static void qname_text(const uint8_t *q, size_t len, size_t *end, char *out, size_t outlen)
{
	size_t i = 12, o = 0;

	while (i < len && q[i] && o + q[i] + 2 < outlen) {
		if (o)
			out[o++] = '.';
		memcpy(out + o, q + i + 1, q[i]);
		o += q[i];
		i += q[i] + 1;
	}
	out[o] = '\0';
	*end = i + 1;
}

static void serve_one(void)
{
	uint8_t q[512], r[1024];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t len = recvfrom(srv_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	char name[256];
	size_t qend, n;
	uint16_t qtype, rcode = 0, ancount = 0;
	uint8_t a4[4], a6[16];

	if (len < 17)
		return;
	atomic_fetch_add(&srv_queries, 1);
	qname_text(q, (size_t)len, &qend, name, sizeof(name));
	if (qend + 4 > (size_t)len)
		return;
	qtype = (uint16_t)(q[qend] << 8 | q[qend + 1]);
	if (strcmp(name, "silent.test") == 0)
		return;
	memcpy(r, q, qend + 4);
	n = qend + 4;
	if (strcmp(name, "dual.test") == 0 && qtype == 1) {
		inet_pton(AF_INET, "192.0.2.10", a4);
		n += answer(r + n, 1, 30, a4, 4);
		inet_pton(AF_INET, "192.0.2.11", a4);
		n += answer(r + n, 1, 30, a4, 4);
		ancount = 2;
	} else if (strcmp(name, "dual.test") == 0 && qtype == 28) {
		inet_pton(AF_INET6, "2001:db8::10", a6);
		n += answer(r + n, 28, 20, a6, 16);
		ancount = 1;
	} else if (strcmp(name, "v4.test") == 0 && qtype == 1) {
		inet_pton(AF_INET, "198.51.100.4", a4);
		n += answer(r + n, 1, 60, a4, 4);
		ancount = 1;
	} else if (strcmp(name, "v4.test") != 0) {
		rcode = 3; /* NXDOMAIN */
	}
	r[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD copied */
	r[3] = 0x80 | rcode;         /* RA */
	put16(r + 4, 1);
	put16(r + 6, ancount);
	put16(r + 8, 0);
	put16(r + 10, 0);
	sendto(srv_fd, r, n, 0, (struct sockaddr *)&from, flen);
}

static void *srv_main(void *arg)
{
	struct pollfd p = {.fd = srv_fd, .events = POLLIN};

	while (!atomic_load(&srv_stop))
		if (poll(&p, 1, 50) == 1)
			serve_one();
	return NULL;
}

/* ---- fixtures ---- */

static struct loop *L;
static struct dns *D;

static void setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sin);
	char servers[64];

	srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(srv_fd, 0);
	cr_assert_eq(bind(srv_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(srv_fd, (struct sockaddr *)&sin, &slen);
	srv_port = ntohs(sin.sin_port);
	atomic_store(&srv_stop, false);
	atomic_store(&srv_queries, 0);
	cr_assert_eq(pthread_create(&srv_thread, NULL, srv_main, NULL), 0);

	L = loop_new();
	cr_assert_not_null(L);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", srv_port);
	struct dns_opts o = {.min_ttl_s = 1,
	                     .max_ttl_s = 3600,
	                     .neg_ttl_s = 5,
	                     .cache_entries = 64,
	                     .timeout_ms = 300,
	                     .tries = 1,
	                     .servers = servers};
	cr_assert_eq(dns_new(L, &o, &D), 0);
}

static void teardown(void)
{
	dns_free(D);
	loop_free(L);
	atomic_store(&srv_stop, true);
	pthread_join(srv_thread, NULL);
	close(srv_fd);
}

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 30);

struct result {
	bool called;
	int calls;
	int err;
	struct dns_addrs addrs;
};

static void on_result(void *arg, int err, const struct dns_addrs *addrs)
{
	struct result *r = arg;

	r->called = true;
	r->calls++;
	r->err = err;
	if (addrs)
		r->addrs = *addrs;
}

/* Resolve and wait (bounded) for the answer, whichever way it comes. */
static int resolve_wait(const char *host, uint16_t port, struct result *r)
{
	struct dns_query *q;
	int rc = dns_resolve(D, host, port, on_result, r, &r->addrs, &q);

	if (rc != 0)
		return rc;
	uint64_t until = loop_update_time(L) + 10000;
	while (!r->called && loop_update_time(L) < until)
		loop_run_once(L, 50);
	cr_assert(r->called, "no answer for %s", host);
	return r->err ? r->err : 2; /* 2: answered through the callback */
}

static void text_of(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)len);
		*port = ntohs(s4->sin_port);
	}
}

Test(dns, both_families_interleaved_with_port_then_served_from_cache)
{
	struct result r = {0}, again = {0};
	const char *want[] = {"2001:db8::10", "192.0.2.10", "192.0.2.11"};
	char buf[64];
	uint16_t port;

	cr_assert_eq(resolve_wait("dual.test", 443, &r), 2);
	cr_assert_eq(r.addrs.n, 3);
	for (size_t i = 0; i < 3; i++) {
		text_of(&r.addrs.a[i], buf, sizeof(buf), &port);
		cr_assert_str_eq(buf, want[i], "address %zu", i);
		cr_assert_eq(port, 443);
	}
	int queries = atomic_load(&srv_queries);
	cr_assert_geq(queries, 2, "one A and one AAAA query");

	/* Within the TTL (20 s, the smaller one) the answer comes from the
	 * cache, at once, with the new port, and nothing is asked again. */
	cr_assert_eq(resolve_wait("DUAL.test.", 8080, &again), 1);
	cr_assert_not(again.called);
	cr_assert_eq(again.addrs.n, 3);
	text_of(&again.addrs.a[0], buf, sizeof(buf), &port);
	cr_assert_eq(port, 8080);
	cr_assert_eq(atomic_load(&srv_queries), queries);
	struct dns_stats st;
	dns_get_stats(D, &st);
	cr_assert_eq(st.cache_hits, 1);
}

Test(dns, name_with_only_ipv4)
{
	struct result r = {0};
	char buf[64];
	uint16_t port;

	cr_assert_eq(resolve_wait("v4.test", 22, &r), 2);
	cr_assert_eq(r.addrs.n, 1);
	text_of(&r.addrs.a[0], buf, sizeof(buf), &port);
	cr_assert_str_eq(buf, "198.51.100.4");
}

Test(dns, nxdomain_is_enoent_and_cached_as_negative)
{
	struct result r = {0}, again = {0};

	cr_assert_eq(resolve_wait("nx.test", 80, &r), -ENOENT);
	cr_assert_str_eq(dns_strerror(r.err), "no such host");
	int queries = atomic_load(&srv_queries);
	cr_assert_eq(resolve_wait("nx.test", 80, &again), -ENOENT,
	             "negative answer from the cache");
	cr_assert_not(again.called);
	cr_assert_eq(atomic_load(&srv_queries), queries);
}

Test(dns, silent_server_times_out)
{
	struct result r = {0}, again = {0};

	cr_assert_eq(resolve_wait("silent.test", 80, &r), -ETIMEDOUT);
	/* Timeouts are not cached: the next request asks again. */
	int queries = atomic_load(&srv_queries);
	cr_assert_eq(resolve_wait("silent.test", 80, &again), -ETIMEDOUT);
	cr_assert_gt(atomic_load(&srv_queries), queries);
}

Test(dns, cancelled_query_never_calls_back)
{
	struct result r = {0};
	struct dns_query *q;

	cr_assert_eq(dns_resolve(D, "dual.test", 1, on_result, &r, &r.addrs, &q), 0);
	cr_assert_not_null(q);
	dns_cancel(q);
	for (int i = 0; i < 20; i++)
		loop_run_once(L, 20);
	cr_assert_not(r.called);
	/* The answer still reached the cache. */
	struct result hit = {0};
	cr_assert_eq(resolve_wait("dual.test", 1, &hit), 1);
}

Test(dns, pending_queries_are_cancelled_when_the_resolver_is_freed)
{
	struct result r = {0};
	struct dns_query *q;

	cr_assert_eq(dns_resolve(D, "silent.test", 1, on_result, &r, &r.addrs, &q), 0);
	dns_free(D);
	D = NULL;
	cr_assert(r.called);
	cr_assert_eq(r.err, -ECANCELED);
}

Test(dns, numeric_hosts_and_bad_names)
{
	struct result r = {0};
	char buf[64];
	uint16_t port;

	cr_assert_eq(resolve_wait("2001:db8::5", 9, &r), 1);
	text_of(&r.addrs.a[0], buf, sizeof(buf), &port);
	cr_assert_str_eq(buf, "2001:db8::5");
	cr_assert_eq(port, 9);
	cr_assert_eq(resolve_wait("10.1.2.3", 10, &r), 1);
	cr_assert_eq(r.addrs.a[0].ss_family, AF_INET);
	cr_assert_eq(resolve_wait("", 10, &r), -EINVAL);
	cr_assert_eq(atomic_load(&srv_queries), 0);
}
