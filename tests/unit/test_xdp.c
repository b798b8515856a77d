/*
 * bpf/xdp_fwd.bpf.c under BPF_PROG_TEST_RUN: crafted frames in, verdicts,
 * reasons and rewritten bytes out. Checksums of every rewritten frame are
 * verified here from scratch (tests/unit/pktbuild.h), not with the program's
 * own arithmetic.
 *
 * Each test runs in a network namespace of its own with two veth pairs
 * and permanent neighbours (xdp_netns.h), so that bpf_fib_lookup finds
 * real routes.
 *
 * What test_run cannot show: where an XDP_REDIRECT goes (the frame is not
 * sent; the egress MACs in the output name the interface), and native-mode
 * behaviour of a driver. The netns integration tests cover those.
 * Needs root; skipped otherwise.
 */
#include "kfwd_maps.h"
#include "pktbuild.h"
#include "xdp_fwd.skel.h"
#include "xdp_netns.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT4  "10.1.0.2"
#define GW_C4    "10.1.0.1"
#define GW_B4    "10.2.0.1"
#define BACKEND4 "10.2.0.2"
#define NONEIGH4 "10.2.0.3"
#define HAIRPIN4 "10.1.0.3"
#define CLIENT6  "fd01::2"
#define GW_C6    "fd01::1"
#define GW_B6    "fd02::1"
#define BACKEND6 "fd02::2"

static const uint8_t MAC_C0[6] = {2, 0, 0, 0, 1, 1};
static const uint8_t MAC_CLIENT[6] = {2, 0, 0, 0, 1, 2};
static const uint8_t MAC_HAIRPIN[6] = {2, 0, 0, 0, 1, 3};
static const uint8_t MAC_B0[6] = {2, 0, 0, 0, 2, 1};
static const uint8_t MAC_BACKEND[6] = {2, 0, 0, 0, 2, 2};

static struct xdp_fwd_bpf *skel;
static int if_c0, if_b0;

/* ---- fixture ---------------------------------------------------------------- */

static void net_setup(void)
{
	netns_setup();
	if_c0 = (int)if_nametoindex("c0");
	if_b0 = (int)if_nametoindex("b0");
	cr_assert(if_c0 > 0 && if_b0 > 0);
}

static void load(bool forward)
{
	skel = xdp_fwd_bpf__open();
	cr_assert_not_null(skel, "open skeleton: %s", strerror(errno));
	skel->rodata->forward_udp = forward;
	int err = xdp_fwd_bpf__load(skel);
	cr_assert_eq(err, 0, "load: %s", strerror(-err));
}

static void setup(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (BPF_PROG_TEST_RUN, a network namespace)");
	net_setup();
	load(true);
}

static void teardown(void)
{
	xdp_fwd_bpf__destroy(skel);
	skel = NULL;
}

TestSuite(xdp, .init = setup, .fini = teardown);

/* ---- helpers ----------------------------------------------------------------- */

static uint8_t out[PKT_MAX];
static uint32_t out_len;

/* Run one frame arriving on ifindex; return the XDP action. */
static int run_on(const uint8_t *pkt, size_t len, int ifindex)
{
	struct xdp_md ctx = {.data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)len,
	            .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
	            .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.kfwd_xdp), &o);
	cr_assert_eq(err, 0, "test_run: %s", strerror(-err));
	out_len = o.data_size_out;
	return (int)o.retval;
}

static int run(const uint8_t *pkt, size_t len)
{
	return run_on(pkt, len, if_c0);
}

static struct kfwd_xstats stats_sum(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct kfwd_xstats *v = calloc((size_t)ncpu, sizeof(*v)), s = {0};
	uint32_t zero = 0;
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdp_stats), &zero, v), 0);
	for (int c = 0; c < ncpu; c++) {
		for (int i = 0; i < KFWD_XV__MAX; i++)
			s.verdict[i] += v[c].verdict[i];
		for (int i = 0; i < KFWD_XR__MAX; i++)
			s.reason[i] += v[c].reason[i];
	}
	free(v);
	return s;
}

static struct kfwd_xlsn_stats lsn_stats(uint32_t slot)
{
	int ncpu = libbpf_num_possible_cpus();
	struct kfwd_xlsn_stats *v = calloc((size_t)ncpu, sizeof(*v)), s = {0};
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdp_lsn_stats), &slot, v), 0);
	for (int c = 0; c < ncpu; c++) {
		__u64 *dst = (__u64 *)&s, *src = (__u64 *)&v[c];
		for (size_t i = 0; i < sizeof(s) / 8; i++)
			dst[i] += src[i];
	}
	free(v);
	return s;
}

static const char *action_name(int a)
{
	static const char *const n[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};
	return a >= 0 && a < 5 ? n[a] : "?";
}

/* Run pkt; it must get verdict act for reason r (counted exactly once). */
static void expect_on(const uint8_t *pkt, size_t len, int ifindex, int act, int r)
{
	struct kfwd_xstats before = stats_sum();
	int got = run_on(pkt, len, ifindex);
	struct kfwd_xstats after = stats_sum();
	int why = -1;
	for (int i = 0; i < KFWD_XR__MAX; i++)
		if (after.reason[i] != before.reason[i])
			why = i;
	cr_assert_eq(got, act, "verdict %s, expected %s (reason %d, expected %d)", action_name(got),
	             action_name(act), why, r);
	cr_assert_eq(after.reason[r], before.reason[r] + 1, "reason %d not counted (got %d)", r,
	             why);
	cr_assert_eq(after.verdict[act], before.verdict[act] + 1, "verdict not counted");
}

static void expect(const uint8_t *pkt, size_t len, int act, int r)
{
	expect_on(pkt, len, if_c0, act, r);
}

static void ip_bytes(int family, const char *text, uint8_t out16[16])
{
	memset(out16, 0, 16);
	cr_assert_eq(inet_pton(family, text, out16), 1, "address %s", text);
}

/* A listener on addr (NULL: wildcard) for proto. */
static void add_listener(int family, int proto, const char *addr, uint16_t port,
                         const struct kfwd_xlsn *v)
{
	struct kfwd_xlsn_key k = {
	    .family = (uint8_t)family, .proto = (uint8_t)proto, .port = htons(port)};
	if (addr)
		ip_bytes(family, addr, k.addr);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_listeners), &k, v, BPF_ANY), 0);
}

struct flow_spec {
	int family;
	const char *src, *dst; /* the key: as the packet arrives */
	uint16_t sport, dport;
	const char *nsrc, *ndst; /* after the rewrite */
	uint16_t nsport, ndport;
	uint8_t dir, flags;
	uint16_t slot;
};

static struct kfwd_xkey add_flow(const struct flow_spec *f)
{
	struct kfwd_xkey k = {.family = (uint8_t)f->family,
	                      .proto = IPPROTO_UDP,
	                      .sport = htons(f->sport),
	                      .dport = htons(f->dport)};
	struct kfwd_xflow v = {.sport = htons(f->nsport),
	                       .dport = htons(f->ndport),
	                       .dir = f->dir,
	                       .flags = f->flags,
	                       .lsn_slot = f->slot,
	                       .listener = 7};
	ip_bytes(f->family, f->src, k.saddr);
	ip_bytes(f->family, f->dst, k.daddr);
	ip_bytes(f->family, f->nsrc, v.saddr);
	ip_bytes(f->family, f->ndst, v.daddr);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_flows), &k, &v, BPF_NOEXIST),
	             0);
	return k;
}

static struct kfwd_xflow get_flow(const struct kfwd_xkey *k)
{
	struct kfwd_xflow v;
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdp_flows), k, &v), 0);
	return v;
}

/* The usual flows: client -> listener becomes gw -> backend, and back. */
static const struct flow_spec IN4 = {AF_INET,  CLIENT4, GW_C4, 40000,        5353, GW_B4,
                                     BACKEND4, 50000,   5300,  KFWD_XDIR_IN, 0,    3};
static const struct flow_spec OUT4 = {AF_INET, BACKEND4, GW_B4, 5300,          50000, GW_C4,
                                      CLIENT4, 5353,     40000, KFWD_XDIR_OUT, 0,     3};
static const struct flow_spec IN6 = {AF_INET6, CLIENT6, GW_C6, 40000,        5353, GW_B6,
                                     BACKEND6, 50000,   5300,  KFWD_XDIR_IN, 0,    3};
static const struct flow_spec OUT6 = {AF_INET6, BACKEND6, GW_B6, 5300,          50000, GW_C6,
                                      CLIENT6,  5353,     40000, KFWD_XDIR_OUT, 0,     3};

static uint8_t pkt[PKT_MAX];
static uint8_t payload[PKT_MAX];

static size_t udp4(const char *src, uint16_t sport, const char *dst, uint16_t dport, size_t len)
{
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	struct pkt_spec s = {
	    .src = src, .dst = dst, .sport = sport, .dport = dport, .payload = payload, .len = len};
	memcpy(s.dmac, MAC_C0, 6);
	memcpy(s.smac, MAC_CLIENT, 6);
	size_t n = pkt_build(pkt, &s);
	cr_assert_gt(n, 0);
	return n;
}

static size_t build(struct pkt_spec s)
{
	if (!s.src)
		s.src = s.family == AF_INET6 ? CLIENT6 : CLIENT4;
	if (!s.dst)
		s.dst = s.family == AF_INET6 ? GW_C6 : GW_C4;
	if (!s.sport)
		s.sport = 40000;
	if (!s.dport)
		s.dport = 5353;
	size_t n = pkt_build(pkt, &s);
	cr_assert_gt(n, 0, "frame does not fit");
	return n;
}

/* Check a forwarded frame: addresses, ports, TTL, MACs, checksums, payload. */
static void check_rewrite(const uint8_t *in, size_t len, const struct flow_spec *f,
                          const uint8_t dmac[6], const uint8_t smac[6])
{
	cr_assert_eq(out_len, len, "length changed: %u -> %u", (unsigned)len, out_len);
	cr_assert_arr_eq(out, dmac, 6, "destination MAC");
	cr_assert_arr_eq(out + 6, smac, 6, "source MAC");
	size_t l3 = pk_l3(out), l4 = pk_l4(out);
	uint8_t a[16];
	if (f->family == AF_INET) {
		ip_bytes(AF_INET, f->nsrc, a);
		cr_assert_arr_eq(out + l3 + 12, a, 4, "source address");
		ip_bytes(AF_INET, f->ndst, a);
		cr_assert_arr_eq(out + l3 + 16, a, 4, "destination address");
		cr_assert_eq(out[l3 + 8], in[l3 + 8] - 1, "TTL not decremented");
		cr_assert(pk_ip_csum_ok(out), "IPv4 header checksum does not verify");
	} else {
		ip_bytes(AF_INET6, f->nsrc, a);
		cr_assert_arr_eq(out + l3 + 8, a, 16, "source address");
		ip_bytes(AF_INET6, f->ndst, a);
		cr_assert_arr_eq(out + l3 + 24, a, 16, "destination address");
		cr_assert_eq(out[l3 + 7], in[l3 + 7] - 1, "hop limit not decremented");
	}
	cr_assert_eq(pk_get16(out + l4), f->nsport, "source port %u", pk_get16(out + l4));
	cr_assert_eq(pk_get16(out + l4 + 2), f->ndport, "destination port");
	cr_assert(pk_l4_csum_ok(out, IPPROTO_UDP), "UDP checksum does not verify: %04x, want %04x",
	          pk_get16(out + l4 + 6), pk_l4_csum(out, IPPROTO_UDP));
	cr_assert_arr_eq(out + l4 + 8, in + l4 + 8, len - l4 - 8, "payload changed");
}

/* ---- parsing: what is not kfwd's passes; what is broken is dropped ------------ */

Test(xdp, not_ours_passes_untouched)
{
	size_t n = udp4(CLIENT4, 40000, GW_C4, 9999, 100);
	expect(pkt, n, XDP_PASS, KFWD_XR_NOT_OURS);
	cr_assert_eq(out_len, n);
	cr_assert_arr_eq(out, pkt, n);
}

Test(xdp, non_ip_passes)
{
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 30);
	pk_put16(pkt + 12, 0x0806); /* ARP */
	expect(pkt, n, XDP_PASS, KFWD_XR_NOT_IP);
}

Test(xdp, other_l4_passes)
{
	size_t n = build((struct pkt_spec){.proto = IPPROTO_ICMP, .len = 16, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_OTHER_L4);
	n = build(
	    (struct pkt_spec){.family = AF_INET6, .proto = 58, .len = 16, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_OTHER_L4);
}

Test(xdp, fragments_pass)
{
	add_flow(&IN4);
	size_t n = build((struct pkt_spec){.frag = 0x2000, .len = 64, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_FRAGMENT);
	n = build((struct pkt_spec){.frag = 0x0010, .len = 64, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_FRAGMENT);
	n = build(
	    (struct pkt_spec){.family = AF_INET6, .frag = 0x0001, .len = 64, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_FRAGMENT);
	/* Don't-fragment alone is not a fragment. */
	n = build((struct pkt_spec){.frag = 0x4000, .len = 64, .payload = payload});
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
}

/* Every cut of a valid frame is dropped as truncated or as a bad length. */
static void cut_everywhere(size_t n)
{
	uint8_t full[PKT_MAX];
	memcpy(full, pkt, n);
	for (size_t cut = 14; cut < n; cut++) {
		struct kfwd_xstats before = stats_sum();
		int act = run(full, cut);
		struct kfwd_xstats after = stats_sum();
		cr_assert_eq(act, XDP_DROP, "cut at %zu of %zu: %s", cut, n, action_name(act));
		cr_assert(after.reason[KFWD_XR_TRUNCATED] + after.reason[KFWD_XR_BAD_LENGTH] ==
		              before.reason[KFWD_XR_TRUNCATED] + before.reason[KFWD_XR_BAD_LENGTH] +
		                  1,
		          "cut at %zu: neither truncated nor bad length", cut);
	}
}

Test(xdp, truncated_at_every_byte)
{
	cut_everywhere(udp4(CLIENT4, 40000, GW_C4, 5353, 12));
	cut_everywhere(build((struct pkt_spec){.family = AF_INET6, .len = 12, .payload = payload}));
	cut_everywhere(build((struct pkt_spec){.proto = IPPROTO_TCP, .vlans = 2, .ip_opts = 8}));
	cut_everywhere(
	    build((struct pkt_spec){.family = AF_INET6, .proto = IPPROTO_TCP, .vlans = 1}));
}

Test(xdp, truncated_layer_boundaries)
{
	size_t n =
	    build((struct pkt_spec){.vlans = 1, .ip_opts = 8, .len = 20, .payload = payload});
	(void)n;
	expect(pkt, 14, XDP_DROP, KFWD_XR_TRUNCATED);       /* VLAN tag missing */
	expect(pkt, 18, XDP_DROP, KFWD_XR_TRUNCATED);       /* no IP header */
	expect(pkt, 18 + 19, XDP_DROP, KFWD_XR_TRUNCATED);  /* IP header short */
	expect(pkt, 18 + 20, XDP_DROP, KFWD_XR_TRUNCATED);  /* IP options missing */
	expect(pkt, 18 + 28, XDP_DROP, KFWD_XR_BAD_LENGTH); /* total length beyond frame */
	/* An IP packet whose payload is too short for a UDP or TCP header. */
	n = build((struct pkt_spec){.len = 0});
	pk_put16(pkt + 14 + 2, 20 + 7);
	expect(pkt, n, XDP_DROP, KFWD_XR_TRUNCATED);
	n = build((struct pkt_spec){.proto = IPPROTO_TCP});
	pk_put16(pkt + 14 + 2, 20 + 19);
	expect(pkt, n, XDP_DROP, KFWD_XR_TRUNCATED);
	n = build((struct pkt_spec){.family = AF_INET6, .len = 0});
	pk_put16(pkt + 14 + 4, 7);
	expect(pkt, n, XDP_DROP, KFWD_XR_TRUNCATED);
}

Test(xdp, bad_lengths_and_headers)
{
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 40);
	uint8_t *ip = pkt + 14, *udp = pkt + 34;
	pk_put16(ip + 2, 19); /* total length below the header */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
	pk_put16(ip + 2, (uint16_t)(n - 14 + 1)); /* beyond the frame */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
	n = udp4(CLIENT4, 40000, GW_C4, 5353, 40);
	pk_put16(udp + 4, 7); /* UDP length below its header */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
	pk_put16(udp + 4, 8 + 41); /* beyond the IP payload */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
	n = udp4(CLIENT4, 40000, GW_C4, 5353, 40);
	ip[0] = 0x44; /* IHL 4 */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_HEADER);
	ip[0] = 0x65; /* version 6 in an IPv4 frame */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_HEADER);
	n = build((struct pkt_spec){.family = AF_INET6, .len = 10, .payload = payload});
	pk_put16(pkt + 14 + 4, 8 + 11); /* payload length beyond the frame */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
	n = build((struct pkt_spec){.proto = IPPROTO_TCP});
	pkt[34 + 12] = 4 << 4; /* data offset 4 */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_HEADER);
	pkt[34 + 12] = 6 << 4; /* options beyond the segment */
	expect(pkt, n, XDP_DROP, KFWD_XR_BAD_LENGTH);
}

Test(xdp, ethernet_padding_is_fine)
{
	add_flow(&IN4);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 2); /* 44 bytes: padded to 60 on the wire */
	memset(pkt + n, 0, 60 - n);
	expect(pkt, 60, XDP_REDIRECT, KFWD_XR_FORWARD);
	cr_assert(pk_l4_csum_ok(out, IPPROTO_UDP));
	cr_assert(pk_ip_csum_ok(out));
}

/* ---- the UDP fast path ---------------------------------------------------------- */

Test(xdp, forward_v4_client_to_backend)
{
	struct kfwd_xkey k = add_flow(&IN4);
	for (size_t len = 0; len < 1400; len += 333) {
		size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, len);
		uint8_t in[PKT_MAX];
		memcpy(in, pkt, n);
		expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
		check_rewrite(in, n, &IN4, MAC_BACKEND, MAC_B0);
	}
	struct kfwd_xflow f = get_flow(&k);
	cr_assert_eq(f.packets, 5);
	cr_assert_eq(f.bytes, 5 * 28 + (0 + 333 + 666 + 999 + 1332));
	cr_assert_gt(f.last_ns, 0);
	struct kfwd_xlsn_stats ls = lsn_stats(3);
	cr_assert_eq(ls.fwd_packets[KFWD_XDIR_IN], 5);
	cr_assert_eq(ls.fwd_packets[KFWD_XDIR_OUT], 0);
	cr_assert_eq(ls.reason[KFWD_XR_FORWARD], 5);
}

Test(xdp, forward_v4_backend_to_client)
{
	add_flow(&OUT4);
	size_t n = udp4(BACKEND4, 5300, GW_B4, 50000, 200);
	uint8_t in[PKT_MAX];
	memcpy(in, pkt, n);
	expect_on(pkt, n, if_b0, XDP_REDIRECT, KFWD_XR_FORWARD);
	check_rewrite(in, n, &OUT4, MAC_CLIENT, MAC_C0);
	cr_assert_eq(lsn_stats(3).fwd_bytes[KFWD_XDIR_OUT], n - 14);
}

Test(xdp, forward_v6_both_ways)
{
	add_flow(&IN6);
	add_flow(&OUT6);
	uint8_t in[PKT_MAX];
	size_t n = build((struct pkt_spec){.family = AF_INET6, .len = 777, .payload = payload});
	memcpy(in, pkt, n);
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
	check_rewrite(in, n, &IN6, MAC_BACKEND, MAC_B0);
	n = build((struct pkt_spec){.family = AF_INET6,
	                            .src = BACKEND6,
	                            .dst = GW_B6,
	                            .sport = 5300,
	                            .dport = 50000,
	                            .len = 3,
	                            .payload = payload});
	memcpy(in, pkt, n);
	expect_on(pkt, n, if_b0, XDP_REDIRECT, KFWD_XR_FORWARD);
	check_rewrite(in, n, &OUT6, MAC_CLIENT, MAC_C0);
}

Test(xdp, forward_with_ip_options)
{
	add_flow(&IN4);
	for (int opts = 4; opts <= 40; opts += 12) {
		size_t n = build((struct pkt_spec){.ip_opts = opts, .len = 99, .payload = payload});
		uint8_t in[PKT_MAX];
		memcpy(in, pkt, n);
		expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
		check_rewrite(in, n, &IN4, MAC_BACKEND, MAC_B0);
		cr_assert_arr_eq(out + 34, in + 34, (size_t)opts, "options changed");
	}
}

Test(xdp, zero_udp_checksum_v4_stays_zero)
{
	add_flow(&IN4);
	size_t n = build((struct pkt_spec){.no_csum = true, .len = 50, .payload = payload});
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
	cr_assert_eq(pk_get16(out + 34 + 6), 0, "a missing checksum must stay missing");
	cr_assert(pk_ip_csum_ok(out));
}

Test(xdp, zero_udp_checksum_v6_dropped)
{
	add_flow(&IN6);
	size_t n = build(
	    (struct pkt_spec){.family = AF_INET6, .no_csum = true, .len = 50, .payload = payload});
	expect(pkt, n, XDP_DROP, KFWD_XR_UDP6_NO_CSUM);
	/* To a listener just the same. */
	struct kfwd_xlsn l = {.slot = 1};
	add_listener(AF_INET6, IPPROTO_UDP, GW_C6, 6000, &l);
	n = build((struct pkt_spec){
	    .family = AF_INET6, .dport = 6000, .no_csum = true, .len = 5, .payload = payload});
	expect(pkt, n, XDP_DROP, KFWD_XR_UDP6_NO_CSUM);
}

/* An incremental update keeps a wrong checksum exactly as wrong (the receiver drops it). */
Test(xdp, bad_checksum_stays_bad)
{
	add_flow(&IN4);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 64);
	uint16_t good = pk_get16(pkt + 40);
	pk_put16(pkt + 40, (uint16_t)(good ^ 0x0100));
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
	cr_assert_not(pk_l4_csum_ok(out, IPPROTO_UDP), "a corrupted datagram became valid");
}

/* A rewrite whose checksum comes out 0 must send 0xffff (0 means "none" in UDP). */
Test(xdp, computed_zero_checksum_sent_as_ffff)
{
	add_flow(&IN4);
	/* Find the payload word that makes the rewritten datagram's checksum 0: build
	 * the rewritten frame here, and pick w so that the whole sum is 0xffff. */
	struct pkt_spec after = {.src = GW_B4,
	                         .dst = BACKEND4,
	                         .sport = 50000,
	                         .dport = 5300,
	                         .payload = payload,
	                         .len = 2};
	payload[0] = payload[1] = 0;
	pkt_build(pkt, &after);
	uint16_t c0 = pk_l4_csum(pkt, IPPROTO_UDP); /* = ~S, with w = 0 */
	uint16_t w = c0;                            /* S + w = 0xffff */
	payload[0] = (uint8_t)(w >> 8);
	payload[1] = (uint8_t)w;
	size_t n = build((struct pkt_spec){.payload = payload, .len = 2});
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
	cr_assert_eq(pk_get16(out + 34 + 6), 0xffff, "checksum %04x", pk_get16(out + 34 + 6));
	cr_assert(pk_l4_csum_ok(out, IPPROTO_UDP));
}

/* A frame whose checksum is left to offload (only the pseudo header summed, as
 * a veth peer on this host sends it) must not be rewritten: it goes up unchanged. */
Test(xdp, offloaded_checksum_passes_unchanged)
{
	add_flow(&IN4);
	add_flow(&IN6);
	for (int v6 = 0; v6 < 2; v6++) {
		size_t n = build((struct pkt_spec){
		    .family = v6 ? AF_INET6 : AF_INET, .len = 321, .payload = payload});
		size_t l3 = pk_l3(pkt), l4 = pk_l4(pkt);
		uint32_t s = v6 ? pk_sum(pkt + l3 + 8, 32, 0) : pk_sum(pkt + l3 + 12, 8, 0);
		s += IPPROTO_UDP + (uint32_t)pk_l4_len(pkt);
		pk_put16(pkt + l4 + 6, pk_fold(s));
		expect(pkt, n, XDP_PASS, KFWD_XR_CSUM_PARTIAL);
		cr_assert_arr_eq(out, pkt, n);
	}
}

Test(xdp, hairpin_is_xdp_tx)
{
	struct flow_spec f = IN4;
	f.nsrc = GW_C4;
	f.ndst = HAIRPIN4;
	add_flow(&f);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	uint8_t in[PKT_MAX];
	memcpy(in, pkt, n);
	expect(pkt, n, XDP_TX, KFWD_XR_HAIRPIN);
	check_rewrite(in, n, &f, MAC_HAIRPIN, MAC_C0);
}

Test(xdp, unknown_neighbour_passes_unchanged)
{
	struct flow_spec f = IN4;
	f.ndst = NONEIGH4;
	struct kfwd_xkey k = add_flow(&f);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	expect(pkt, n, XDP_PASS, KFWD_XR_FIB_NO_NEIGH);
	cr_assert_arr_eq(out, pkt, n, "a passed frame must be unchanged");
	struct kfwd_xflow v = get_flow(&k);
	cr_assert_eq(v.packets, 0);
	cr_assert_gt(v.last_ns, 0, "the flow was seen: it is not idle");
}

Test(xdp, forwarding_off_passes)
{
	add_flow(&IN4);
	netns_write("/proc/sys/net/ipv4/conf/c0/forwarding", "0");
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	expect(pkt, n, XDP_PASS, KFWD_XR_FIB_FWD_OFF);
	cr_assert_arr_eq(out, pkt, n);
}

Test(xdp, too_big_for_egress_mtu_passes)
{
	add_flow(&IN4);
	cr_assert_eq(system("ip link set b0 mtu 1280"), 0);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 1300);
	expect(pkt, n, XDP_PASS, KFWD_XR_FIB_MTU);
	n = udp4(CLIENT4, 40000, GW_C4, 5353, 1200);
	expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
}

Test(xdp, ttl_one_passes)
{
	add_flow(&IN4);
	size_t n = build((struct pkt_spec){.ttl = 1, .len = 10, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_TTL);
	add_flow(&IN6);
	n = build((struct pkt_spec){.family = AF_INET6, .ttl = 1, .len = 10, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_TTL);
}

Test(xdp, vlan_tagged_flow_passes)
{
	add_flow(&IN4);
	size_t n = build((struct pkt_spec){.vlans = 1, .len = 10, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_VLAN);
	n = build((struct pkt_spec){.vlans = 2, .len = 10, .payload = payload});
	expect(pkt, n, XDP_PASS, KFWD_XR_VLAN);
}

Test(xdp, userspace_flow_passes)
{
	struct flow_spec f = IN4;
	f.flags = KFWD_XF_USERSPACE;
	add_flow(&f);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	expect(pkt, n, XDP_PASS, KFWD_XR_USERSPACE);
	cr_assert_arr_eq(out, pkt, n);
}

Test(xdp, forward_off_keeps_flows_on_the_socket)
{
	xdp_fwd_bpf__destroy(skel);
	load(false);
	add_flow(&IN4);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	expect(pkt, n, XDP_PASS, KFWD_XR_NO_FORWARD);
}

/* ---- front door: classification and sanitizing ------------------------------------ */

/* A UDP datagram to the listener at GW_C4:6000 carrying b[0..len). */
static size_t dgram(const uint8_t *b, size_t len)
{
	return build((struct pkt_spec){.dport = 6000, .payload = b, .len = len});
}

static size_t quic_long(uint8_t first, uint32_t version, uint8_t dcid_len, size_t len)
{
	memset(payload, 0xab, len);
	payload[0] = first;
	payload[1] = (uint8_t)(version >> 24);
	payload[2] = (uint8_t)(version >> 16);
	payload[3] = (uint8_t)(version >> 8);
	payload[4] = (uint8_t)version;
	payload[5] = dcid_len;
	return dgram(payload, len);
}

static size_t wireguard(uint8_t type, size_t len)
{
	memset(payload, 0x5a, len);
	payload[0] = type;
	payload[1] = payload[2] = payload[3] = 0;
	return dgram(payload, len);
}

static void classify_as(size_t n, int cls)
{
	struct kfwd_xlsn_stats before = lsn_stats(2);
	expect(pkt, n, XDP_PASS, KFWD_XR_NEW_FLOW);
	struct kfwd_xlsn_stats after = lsn_stats(2);
	for (int c = 0; c < KFWD_XCLS__MAX; c++)
		cr_assert_eq(after.cls[c], before.cls[c] + (c == cls),
		             "class %d counted %llu times", c,
		             (unsigned long long)(after.cls[c] - before.cls[c]));
}

Test(xdp, classify_first_packets)
{
	struct kfwd_xlsn l = {.listener = 9, .slot = 2};
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 6000, &l);
	classify_as(quic_long(0xc3, KFWD_QUIC_V1, 8, 1200), KFWD_XCLS_QUIC1);
	classify_as(quic_long(0xc0, KFWD_QUIC_V1, 20, 1350), KFWD_XCLS_QUIC1);
	classify_as(quic_long(0xd3, KFWD_QUIC_V2, 8, 1200), KFWD_XCLS_QUIC2); /* v2: Initial 0b01 */
	classify_as(quic_long(0x83, KFWD_QUIC_V1, 8, 1200),
	            KFWD_XCLS_QUIC1); /* fixed bit greased */
	classify_as(quic_long(0xc3, KFWD_QUIC_V2, 8, 1200), KFWD_XCLS_OTHER);  /* v2 0b00: Retry */
	classify_as(quic_long(0xd3, KFWD_QUIC_V1, 8, 1200), KFWD_XCLS_OTHER);  /* v1 0b01: 0-RTT */
	classify_as(quic_long(0xe3, KFWD_QUIC_V1, 8, 1200), KFWD_XCLS_OTHER);  /* v1 Handshake */
	classify_as(quic_long(0xc3, KFWD_QUIC_V1, 8, 1199), KFWD_XCLS_OTHER);  /* under 1200 */
	classify_as(quic_long(0xc3, KFWD_QUIC_V1, 21, 1200), KFWD_XCLS_OTHER); /* DCID > 20 */
	classify_as(quic_long(0xc3, 0, 8, 1200), KFWD_XCLS_OTHER); /* version negotiation */
	classify_as(quic_long(0xc3, 0xff00001d, 8, 1200), KFWD_XCLS_OTHER);   /* a draft */
	classify_as(quic_long(0x43, KFWD_QUIC_V1, 8, 1200), KFWD_XCLS_OTHER); /* short header */
	classify_as(wireguard(1, 148), KFWD_XCLS_WIREGUARD);
	classify_as(wireguard(2, 148), KFWD_XCLS_OTHER); /* a response, not an initiation */
	classify_as(wireguard(1, 147), KFWD_XCLS_OTHER);
	classify_as(wireguard(1, 149), KFWD_XCLS_OTHER);
	memset(payload, 1, 148);
	classify_as(dgram(payload, 148), KFWD_XCLS_OTHER); /* reserved bytes not zero */
	classify_as(dgram(payload, 0), KFWD_XCLS_OTHER);
	classify_as(dgram(payload, 5), KFWD_XCLS_OTHER);
	for (size_t i = 0; i < 1300; i++)
		payload[i] = (uint8_t)(i * 131 + 17);
	classify_as(dgram(payload, 1300), KFWD_XCLS_OTHER);
	/* Over IPv6, and through VLAN tags, the same. */
	add_listener(AF_INET6, IPPROTO_UDP, NULL, 6000, &l);
	quic_long(0xc3, KFWD_QUIC_V1, 8, 1200);
	classify_as(build((struct pkt_spec){
	                .family = AF_INET6, .dport = 6000, .payload = payload, .len = 1200}),
	            KFWD_XCLS_QUIC1);
	wireguard(1, 148);
	classify_as(
	    build((struct pkt_spec){.vlans = 2, .dport = 6000, .payload = payload, .len = 148}),
	    KFWD_XCLS_WIREGUARD);
}

Test(xdp, sanitize_accepts_only_named_protocols)
{
	struct kfwd_xlsn l = {
	    .listener = 9, .slot = 2, .flags = KFWD_XLSN_SANITIZE, .accept = KFWD_XACCEPT_QUIC};
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 6000, &l);
	expect(pkt, quic_long(0xc3, KFWD_QUIC_V1, 8, 1200), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, quic_long(0xd3, KFWD_QUIC_V2, 8, 1252), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, wireguard(1, 148), XDP_DROP, KFWD_XR_SANITIZE);
	expect(pkt, quic_long(0x43, KFWD_QUIC_V1, 8, 1200), XDP_DROP, KFWD_XR_SANITIZE);
	memset(payload, 0, 64);
	expect(pkt, dgram(payload, 64), XDP_DROP, KFWD_XR_SANITIZE);
	cr_assert_eq(lsn_stats(2).reason[KFWD_XR_SANITIZE], 3);

	l.accept = KFWD_XACCEPT_WIREGUARD | KFWD_XACCEPT_OTHER;
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 6000, &l);
	expect(pkt, wireguard(1, 148), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, dgram(payload, 64), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, quic_long(0xc3, KFWD_QUIC_V1, 8, 1200), XDP_DROP, KFWD_XR_SANITIZE);
}

/* Packets of a known flow are not classified or sanitized again. */
Test(xdp, established_flow_skips_the_front_door)
{
	struct kfwd_xlsn l = {.listener = 9,
	                      .slot = 3,
	                      .flags = KFWD_XLSN_SANITIZE,
	                      .accept = KFWD_XACCEPT_QUIC,
	                      .rate_ns = 1000000000000ull};
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 5353, &l);
	add_flow(&IN4);
	for (int i = 0; i < 20; i++) {
		size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 100);
		expect(pkt, n, XDP_REDIRECT, KFWD_XR_FORWARD);
	}
	struct kfwd_xlsn_stats s = lsn_stats(3);
	cr_assert_eq(s.cls[KFWD_XCLS_OTHER], 0);
}

/* ---- front door: sources and the new-flow token bucket ---------------------------- */

static void add_prefix(uint16_t slot, int family, const char *addr, int len, uint32_t action)
{
	struct kfwd_xsrc_key k = {.prefixlen = (uint32_t)(KFWD_XSRC_PREFIX_BASE + len),
	                          .slot_be = htonl(slot),
	                          .family = (uint8_t)family};
	ip_bytes(family, addr, k.addr);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.xdp_sources), &k, &action, BPF_ANY),
	             0);
}

static size_t from(const char *src, int proto, uint16_t dport)
{
	bool v6 = strchr(src, ':') != NULL;
	return build((struct pkt_spec){.family = v6 ? AF_INET6 : AF_INET,
	                               .proto = proto,
	                               .src = src,
	                               .dport = dport,
	                               .payload = payload,
	                               .len = 8});
}

Test(xdp, deny_sources)
{
	struct kfwd_xlsn l = {.listener = 9, .slot = 4, .flags = KFWD_XLSN_SOURCES};
	add_listener(AF_INET, IPPROTO_UDP, NULL, 7000, &l);
	add_listener(AF_INET6, IPPROTO_UDP, NULL, 7000, &l);
	add_listener(AF_INET, IPPROTO_TCP, NULL, 7000, &l);
	add_prefix(4, AF_INET, "10.1.0.0", 24, KFWD_XSRC_DENY);
	add_prefix(4, AF_INET6, "fd01::", 64, KFWD_XSRC_DENY);
	add_prefix(5, AF_INET, "10.9.0.0", 16, KFWD_XSRC_DENY); /* another listener's */
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_DENIED);
	expect(pkt, from("10.1.0.2", IPPROTO_TCP, 7000), XDP_DROP, KFWD_XR_DENIED);
	expect(pkt, from("fd01::2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_DENIED);
	expect(pkt, from("10.1.1.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.9.0.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("fd02::2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	/* Not kfwd's port: the lists do not apply. */
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7001), XDP_PASS, KFWD_XR_NOT_OURS);
	cr_assert_eq(lsn_stats(4).reason[KFWD_XR_DENIED], 3);
}

Test(xdp, allow_sources_longest_prefix_wins)
{
	struct kfwd_xlsn l = {
	    .listener = 9, .slot = 4, .flags = KFWD_XLSN_SOURCES | KFWD_XLSN_ALLOWLIST};
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 7000, &l);
	add_listener(AF_INET6, IPPROTO_UDP, GW_C6, 7000, &l);
	add_prefix(4, AF_INET, "10.1.0.0", 16, KFWD_XSRC_ALLOW);
	add_prefix(4, AF_INET, "10.1.0.128", 25, KFWD_XSRC_DENY);
	add_prefix(4, AF_INET, "10.1.0.130", 32, KFWD_XSRC_ALLOW);
	add_prefix(4, AF_INET6, "fd01::", 16, KFWD_XSRC_ALLOW);
	add_prefix(5, AF_INET, "10.2.0.0", 16, KFWD_XSRC_ALLOW); /* another listener's */
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.1.200.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.1.0.129", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_DENIED);
	expect(pkt, from("10.1.0.130", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.2.0.2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_NOT_ALLOWED);
	expect(pkt, from("fd01::2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("fd02::2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_NOT_ALLOWED);
}

Test(xdp, token_bucket_limits_new_flows_per_source)
{
	/* One new flow per 10 s, bursts of 3. */
	struct kfwd_xlsn l = {
	    .listener = 9, .slot = 6, .rate_ns = 10000000000ull, .burst_ns = 2 * 10000000000ull};
	add_listener(AF_INET, IPPROTO_UDP, NULL, 7000, &l);
	add_listener(AF_INET, IPPROTO_TCP, NULL, 7000, &l);
	for (int i = 0; i < 3; i++)
		expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_RATE);
	expect(pkt, from("10.1.0.2", IPPROTO_TCP, 7000), XDP_DROP, KFWD_XR_RATE); /* a SYN */
	/* Another source has its own bucket. */
	expect(pkt, from("10.1.0.3", IPPROTO_TCP, 7000), XDP_PASS, KFWD_XR_TCP);
	/* Segments of established connections never take a token. */
	for (int i = 0; i < 10; i++) {
		size_t n = build(
		    (struct pkt_spec){.proto = IPPROTO_TCP, .dport = 7000, .tcp_flags = 0x10});
		expect(pkt, n, XDP_PASS, KFWD_XR_TCP);
	}
	size_t n = build((struct pkt_spec){.proto = IPPROTO_TCP, .dport = 7000, .tcp_flags = 0x12});
	expect(pkt, n, XDP_PASS, KFWD_XR_TCP); /* SYN-ACK: not a new connection */
	/* An established UDP flow of the throttled source keeps going. */
	struct flow_spec f = IN4;
	f.dport = 7000;
	add_flow(&f);
	for (int i = 0; i < 10; i++)
		expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_REDIRECT, KFWD_XR_FORWARD);
	struct kfwd_xbucket_key bk = {.slot = 6, .family = AF_INET};
	ip_bytes(AF_INET, "10.1.0.2", bk.addr);
	struct kfwd_xbucket b;
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdp_buckets), &bk, &b), 0);
	cr_assert_eq(b.dropped, 2);
	cr_assert_eq(lsn_stats(6).reason[KFWD_XR_RATE], 2);
}

Test(xdp, token_bucket_refills)
{
	/* One new flow per ms, no burst. */
	struct kfwd_xlsn l = {.listener = 9, .slot = 6, .rate_ns = 1000000, .burst_ns = 0};
	add_listener(AF_INET, IPPROTO_UDP, NULL, 7000, &l);
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_DROP, KFWD_XR_RATE);
	usleep(2000);
	expect(pkt, from("10.1.0.2", IPPROTO_UDP, 7000), XDP_PASS, KFWD_XR_NEW_FLOW);
}

Test(xdp, wildcard_and_exact_listeners)
{
	struct kfwd_xlsn exact = {.listener = 1, .slot = 1};
	struct kfwd_xlsn any = {.listener = 2, .slot = 2};
	add_listener(AF_INET, IPPROTO_UDP, GW_C4, 7000, &exact);
	add_listener(AF_INET, IPPROTO_UDP, NULL, 7000, &any);
	expect(pkt, build((struct pkt_spec){.dport = 7000, .payload = payload, .len = 1}), XDP_PASS,
	       KFWD_XR_NEW_FLOW);
	expect(pkt,
	       build((struct pkt_spec){
	           .dst = "10.1.0.99", .dport = 7000, .payload = payload, .len = 1}),
	       XDP_PASS, KFWD_XR_NEW_FLOW);
	cr_assert_eq(lsn_stats(1).reason[KFWD_XR_NEW_FLOW], 1);
	cr_assert_eq(lsn_stats(2).reason[KFWD_XR_NEW_FLOW], 1);
	/* TCP to a UDP listener's port is someone else's. */
	expect(pkt, build((struct pkt_spec){.proto = IPPROTO_TCP, .dport = 7000}), XDP_PASS,
	       KFWD_XR_NOT_OURS);
}

Test(xdp, verdict_counters_add_up)
{
	add_flow(&IN4);
	size_t n = udp4(CLIENT4, 40000, GW_C4, 5353, 10);
	for (int i = 0; i < 4; i++)
		run(pkt, n);
	n = udp4(CLIENT4, 40000, GW_C4, 9, 10);
	run(pkt, n);
	run(pkt, 20);
	struct kfwd_xstats s = stats_sum();
	uint64_t verdicts = 0, reasons = 0;
	for (int i = 0; i < KFWD_XV__MAX; i++)
		verdicts += s.verdict[i];
	for (int i = 0; i < KFWD_XR__MAX; i++)
		reasons += s.reason[i];
	cr_assert_eq(verdicts, 6);
	cr_assert_eq(reasons, 6);
	cr_assert_eq(s.verdict[XDP_REDIRECT], 4);
	cr_assert_eq(s.verdict[XDP_PASS], 1);
	cr_assert_eq(s.verdict[XDP_DROP], 1);
}
