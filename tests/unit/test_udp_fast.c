/* udp_fast: the XDP flow entries of a UDP flow, as built for install and read for views. */
#include "udp_fast.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

static struct addr A(const char *text) {
	struct addr a;
	cr_assert_eq(addr_parse(text, &a), 0, "address %s", text);
	return a;
}

static void
bytes(int family, const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	cr_assert_eq(inet_pton(family, text, out), 1);
}

static const struct udp_fast_spec SPEC4 = {0};

static struct udp_fast_spec spec(const char *c, const char *l, const char *g, const char *b)
{
	struct udp_fast_spec s = SPEC4;
	s.client = A(c);
	s.listener = A(l);
	s.gateway = A(g);
	s.backend = A(b);
	s.listener_id = 42;
	s.slot = 7;
	return s;
}

Test(udp_fast, entries_v4)
{
	struct udp_fast_spec s =
	    spec("10.1.0.2:40000", "10.1.0.1:5353", "10.2.0.1:50000", "10.2.0.2:5300");
	struct udp_fast h;
	struct kfwd_xflow in, out;
	uint8_t a[16];
	udp_fast_entries(&s, 1234, &h, &in, &out);
	cr_assert(h.has_in && h.has_out);
	/* In: client -> listener, becomes gateway -> backend. */
	cr_assert_eq(h.in.family, AF_INET);
	cr_assert_eq(h.in.proto, IPPROTO_UDP);
	cr_assert_eq(h.in.sport, htons(40000));
	cr_assert_eq(h.in.dport, htons(5353));
	bytes(AF_INET, "10.1.0.2", a);
	cr_assert_arr_eq(h.in.saddr, a, 16);
	bytes(AF_INET, "10.1.0.1", a);
	cr_assert_arr_eq(h.in.daddr, a, 16);
	bytes(AF_INET, "10.2.0.1", a);
	cr_assert_arr_eq(in.saddr, a, 16);
	bytes(AF_INET, "10.2.0.2", a);
	cr_assert_arr_eq(in.daddr, a, 16);
	cr_assert_eq(in.sport, htons(50000));
	cr_assert_eq(in.dport, htons(5300));
	cr_assert_eq(in.dir, KFWD_XDIR_IN);
	cr_assert_eq(in.flags, 0);
	/* Out: backend -> gateway, becomes listener -> client. */
	cr_assert_eq(h.out.sport, htons(5300));
	cr_assert_eq(h.out.dport, htons(50000));
	bytes(AF_INET, "10.2.0.2", a);
	cr_assert_arr_eq(h.out.saddr, a, 16);
	bytes(AF_INET, "10.1.0.1", a);
	cr_assert_arr_eq(out.saddr, a, 16);
	bytes(AF_INET, "10.1.0.2", a);
	cr_assert_arr_eq(out.daddr, a, 16);
	cr_assert_eq(out.sport, htons(5353));
	cr_assert_eq(out.dport, htons(40000));
	cr_assert_eq(out.dir, KFWD_XDIR_OUT);
	for (int i = 0; i < 2; i++) {
		const struct kfwd_xflow *v = i ? &out : &in;
		cr_assert_eq(v->listener, 42);
		cr_assert_eq(v->lsn_slot, 7);
		cr_assert_eq(v->created_ns, 1234);
		cr_assert_eq(v->last_ns, 1234);
		cr_assert_eq(v->packets, 0);
	}
	/* The Out key is what the reverse of In names. */
	struct kfwd_xkey rk;
	udp_fast_reverse_key(&h.in, &in, &rk);
	cr_assert_arr_eq(&rk, &h.out, sizeof(rk));
}

Test(udp_fast, entries_v6)
{
	struct udp_fast_spec s =
	    spec("[fd01::2]:40000", "[fd01::1]:443", "[fd02::1]:50000", "[fd02::2]:8443");
	struct udp_fast h;
	struct kfwd_xflow in, out;
	uint8_t a[16];
	udp_fast_entries(&s, 1, &h, &in, &out);
	cr_assert_eq(h.in.family, AF_INET6);
	cr_assert_eq(h.out.family, AF_INET6);
	bytes(AF_INET6, "fd01::2", a);
	cr_assert_arr_eq(h.in.saddr, a, 16);
	cr_assert_arr_eq(out.daddr, a, 16);
	bytes(AF_INET6, "fd02::2", a);
	cr_assert_arr_eq(in.daddr, a, 16);
	cr_assert_arr_eq(h.out.saddr, a, 16);
	cr_assert_eq(in.dport, htons(8443));
	struct kfwd_xkey rk;
	udp_fast_reverse_key(&h.in, &in, &rk);
	cr_assert_arr_eq(&rk, &h.out, sizeof(rk));
}

/* Keys are compared bytewise by the kernel: padding must be zero. */
Test(udp_fast, keys_have_no_stray_bytes)
{
	struct udp_fast_spec s = spec("10.1.0.2:1", "10.1.0.1:2", "10.2.0.1:3", "10.2.0.2:4");
	struct udp_fast h;
	struct kfwd_xflow in, out;
	memset(&h, 0xa5, sizeof(h));
	udp_fast_entries(&s, 1, &h, &in, &out);
	cr_assert_eq(h.in._pad, 0);
	for (int i = 4; i < 16; i++)
		cr_assert(!h.in.saddr[i] && !h.in.daddr[i] && !h.out.saddr[i] && !h.out.daddr[i]);
	cr_assert_eq(sizeof(struct kfwd_xkey), 40);
	cr_assert_eq(sizeof(struct kfwd_xflow), 80);
}

Test(udp_fast, mixed_families_stay_in_userspace)
{
	struct udp_fast_spec s =
	    spec("10.1.0.2:40000", "10.1.0.1:5353", "[fd02::1]:50000", "[fd02::2]:5300");
	struct udp_fast h;
	struct kfwd_xflow in, out;
	udp_fast_entries(&s, 1, &h, &in, &out);
	cr_assert(h.has_in);
	cr_assert_not(h.has_out);
	cr_assert_eq(in.flags, KFWD_XF_USERSPACE);
	cr_assert_eq(h.in.family, AF_INET);
}

Test(udp_fast, view)
{
	struct udp_fast_spec s =
	    spec("10.1.0.2:40000", "10.1.0.1:5353", "10.2.0.1:50000", "10.2.0.2:5300");
	struct udp_fast h;
	struct kfwd_xflow in, out;
	struct udp_fast_view v;
	char buf[ADDR_STRLEN];
	udp_fast_entries(&s, 1000000000ull, &h, &in, &out);
	in.packets = 3;
	in.bytes = 300;
	in.last_ns = 2000000000ull;
	out.packets = 4;
	out.bytes = 400;
	out.last_ns = 2500000000ull;
	udp_fast_view_of(&h.in, &in, &out, 4000000000ull, &v);
	cr_assert_str_eq(addr_format(&v.client, buf), "10.1.0.2:40000");
	cr_assert_str_eq(addr_format(&v.listener_addr, buf), "10.1.0.1:5353");
	cr_assert_str_eq(addr_format(&v.gateway, buf), "10.2.0.1:50000");
	cr_assert_str_eq(addr_format(&v.backend, buf), "10.2.0.2:5300");
	cr_assert_eq(v.listener, 42);
	cr_assert_eq(v.packets_in, 3);
	cr_assert_eq(v.bytes_out, 400);
	cr_assert_eq(v.age_ms, 3000);
	cr_assert_eq(v.idle_ms, 1500, "idle counts from the later direction");
	cr_assert_not(v.userspace);
	/* A clock a little behind the program's: no wrap-around. */
	udp_fast_view_of(&h.in, &in, NULL, 1500000000ull, &v);
	cr_assert_eq(v.idle_ms, 0);
	cr_assert_eq(v.packets_out, 0);
}
