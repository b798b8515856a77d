/* fastpath: the pure parts of the TCP fast path's bookkeeping (no kernel, no root):
 * shared struct layout, endpoint and listener-key conversion, slot ownership, the
 * handover rules, flow-table views. */
#include "fastpath.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

static struct addr parse(const char *text)
{
	struct addr a;
	cr_assert_eq(addr_parse(text, &a), 0, "parse %s", text);
	return a;
}

Test(fastpath, shared_layout_is_fixed)
{
	/* The BPF side sees the same bytes: sizes and offsets are part of the ABI. */
	cr_assert_eq(sizeof(struct kfwd_sock), 128);
	cr_assert_eq(offsetof(struct kfwd_sock, written), 32);
	cr_assert_eq(offsetof(struct kfwd_sock, flow_id), 72);
	cr_assert_eq(offsetof(struct kfwd_sock, seq_base), 80);
	cr_assert_eq(offsetof(struct kfwd_sock, limited), 92);
	cr_assert_eq(offsetof(struct kfwd_sock, allow), 96);
	cr_assert_eq(offsetof(struct kfwd_sock, skipped), 104);
	cr_assert_eq(offsetof(struct kfwd_sock, cap_slot), 116);
	cr_assert_eq(offsetof(struct kfwd_sock, budget), 120);
	cr_assert_eq(sizeof(struct kfwd_port_key), 20);
	cr_assert_eq(sizeof(struct kfwd_port), 8);
	cr_assert_eq(sizeof(struct kfwd_endpoint), 20);
	cr_assert_eq(sizeof(struct kfwd_flow), 96);
	cr_assert_eq(offsetof(struct kfwd_flow, listener), 40);
	cr_assert_eq(offsetof(struct kfwd_flow, start_ns), 48);
	cr_assert_eq(offsetof(struct kfwd_flow, in), 64);
	cr_assert_eq(offsetof(struct kfwd_flow, out), 80);
	cr_assert_eq(sizeof(struct kfwd_counters) % 8, 0);
	cr_assert_eq(KFWD_MAX_FLOWS * 2, KFWD_MAX_SOCKS);
}

Test(fastpath, endpoint_ipv4)
{
	struct addr a = parse("10.77.1.2:40000"), back;
	struct kfwd_endpoint e;
	fastpath_endpoint(&e, &a.u.sa);
	cr_assert_eq(e.family, AF_INET);
	cr_assert_eq(e.port, 40000);
	const uint8_t want[16] = {10, 77, 1, 2};
	cr_assert_arr_eq(e.addr, want, 16);
	fastpath_endpoint_addr(&e, &back);
	cr_assert(addr_equal(&a, &back));
}

Test(fastpath, endpoint_ipv6)
{
	struct addr a = parse("[fd77:2::2]:9000"), back;
	struct kfwd_endpoint e;
	fastpath_endpoint(&e, &a.u.sa);
	cr_assert_eq(e.family, AF_INET6);
	cr_assert_eq(e.port, 9000);
	cr_assert_eq(e.addr[0], 0xfd);
	cr_assert_eq(e.addr[15], 2);
	fastpath_endpoint_addr(&e, &back);
	cr_assert(addr_equal(&a, &back));
	char text[ADDR_STRLEN];
	cr_assert_str_eq(addr_format(&back, text), "[fd77:2::2]:9000");
}

Test(fastpath, endpoint_unknown_family_is_zero)
{
	struct sockaddr sa = {.sa_family = AF_UNIX};
	struct kfwd_endpoint e;
	memset(&e, 0xaa, sizeof(e));
	fastpath_endpoint(&e, &sa);
	const struct kfwd_endpoint zero = {0};
	cr_assert_eq(memcmp(&e, &zero, sizeof(e)), 0);
	struct addr back;
	fastpath_endpoint_addr(&e, &back);
	cr_assert_eq(back.len, 0);
}

Test(fastpath, port_keys_tell_addresses_apart)
{
	struct kfwd_port_key a, b, any, any6, v6;
	struct addr x = parse("10.77.1.1:8080"), y = parse("10.77.1.5:8080");
	struct addr w = parse("*:8080"), w6 = parse("[::]:8080"), s6 = parse("[fd77:1::1]:8080");
	fastpath_port_key(&a, &x);
	fastpath_port_key(&b, &y);
	fastpath_port_key(&any, &w);
	fastpath_port_key(&any6, &w6);
	fastpath_port_key(&v6, &s6);
	cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0, "same port, two addresses: two keys");
	/* The sockops program looks up the wildcard with an all-zero address. */
	struct kfwd_port_key want = {.family = AF_INET, .port = 8080};
	cr_assert_eq(memcmp(&any, &want, sizeof(want)), 0);
	want.family = AF_INET6;
	cr_assert_eq(memcmp(&any6, &want, sizeof(want)), 0);
	cr_assert_eq(v6.family, AF_INET6);
	cr_assert_eq(v6.addr[0], 0xfd);
	/* Exact IPv4 key: address in the first 4 bytes, the rest zero. */
	const uint8_t ip[16] = {10, 77, 1, 1};
	cr_assert_arr_eq(a.addr, ip, 16);
	cr_assert_eq(a.port, 8080);
	cr_assert_eq(a._pad, 0);
}

Test(fastpath, sock_init_for_a_backend_socket)
{
	struct kfwd_sock st;
	memset(&st, 0xff, sizeof(st));
	fastpath_sock_init(&st, 42, KFWD_DIR_OUT);
	cr_assert_eq(st.cookie, 42);
	cr_assert_eq(st.owner, 42 | KFWD_OWNER_USER);
	cr_assert_eq(st.dir, KFWD_DIR_OUT);
	cr_assert_eq(st.passed + st.written + st.redirected + st.peer + st.flow_id, 0);
	/* Already kfwd's: a claim (meant for accepted sockets) does not apply. */
	cr_assert_not(fastpath_sock_claim(&st, 42));
}

/* What the sockops program leaves in a slot for an accepted socket. */
static void kernel_holds(struct kfwd_sock *st, uint64_t cookie)
{
	memset(st, 0, sizeof(*st));
	st->cookie = cookie;
	st->owner = cookie;
	st->dir = KFWD_DIR_IN;
}

Test(fastpath, claim_once)
{
	struct kfwd_sock st;
	kernel_holds(&st, 7);
	cr_assert(fastpath_sock_claim(&st, 7));
	cr_assert_eq(st.owner, 7 | KFWD_OWNER_USER);
	cr_assert_not(fastpath_sock_claim(&st, 7), "a second claim must fail");
}

Test(fastpath, claim_after_kernel_release_fails)
{
	/* The socket closed before accept() returned: the kernel freed the slot. */
	struct kfwd_sock st;
	kernel_holds(&st, 7);
	st.owner = 0;
	cr_assert_not(fastpath_sock_claim(&st, 7));
}

Test(fastpath, claim_of_a_reused_slot_fails)
{
	/* Freed and handed to another socket meanwhile: not ours to take. */
	struct kfwd_sock st;
	kernel_holds(&st, 9);
	cr_assert_not(fastpath_sock_claim(&st, 7));
	cr_assert_eq(st.owner, 9, "the other socket's slot is untouched");
}

Test(fastpath, sent_counts_writes_and_redirects)
{
	struct kfwd_sock st = {.written = 100, .redirected = 900, .passed = 100};
	cr_assert_eq(fastpath_sent(&st, 100), 1000);
	cr_assert_eq(fastpath_sent(NULL, 123), 123, "no slot: only kfwd's writes");
}

Test(fastpath, caught_up_compares_with_the_queue_base)
{
	struct kfwd_sock st = {.written = 100, .redirected = 900};
	/* A connected socket counts its SYN: base 1. */
	cr_assert_not(fastpath_caught_up(&st, 100, 1000, 1), "999 of 1000 queued");
	cr_assert(fastpath_caught_up(&st, 100, 1001, 1));
	cr_assert(fastpath_caught_up(&st, 100, 5000, 1), "more is fine (the FIN, later bytes)");
	cr_assert(fastpath_caught_up(&st, 100, 1000, 0), "accepted socket: base 0");
	cr_assert_not(fastpath_caught_up(&st, 100, 0, 1), "queued below its base");
	cr_assert(fastpath_caught_up(NULL, 50, 51, 1));
	cr_assert_not(fastpath_caught_up(NULL, 50, 50, 1));
}

Test(fastpath, proxy_head_skipped_and_200_injected)
{
	/* The client passed a 120-byte head and 30 early bytes; kfwd wrote the 39-byte
	 * 200 to the client. Target socket connected (its queue base 1). */
	struct kfwd_sock cli = {.passed = 150, .seq_base = 5000};
	struct kfwd_sock be = {.seq_base = 0xfffffff0u};
	fastpath_skip(&cli, &be, 120);
	fastpath_injected(&cli, 39);
	cr_assert_eq(cli.written, 120, "the head counts as written: redirects wait for 30 more");
	cr_assert_eq(cli.skipped, 120);
	cr_assert_eq(be.seq_base, 0xfffffff0u - 120, "the target's queue holds the head");
	cr_assert_eq(cli.seq_base, 5039, "the 200 is not the target's bytes");
	struct kfwd_count c;
	fastpath_count(&c, &cli);
	cr_assert_eq(c.bytes, 30, "the flow counts relayed bytes only");
	/* kfwd writes the 30 early bytes: the target's queue holds 30 (+1 SYN). */
	cli.written += 30;
	cr_assert_not(fastpath_caught_up(&cli, 30, 30, 1 - 120));
	cr_assert(fastpath_caught_up(&cli, 30, 31, 1 - 120));
	fastpath_skip(&cli, NULL, 0);
	fastpath_injected(NULL, 5);
}

Test(fastpath, limit_sets_the_allowance)
{
	struct kfwd_sock st = {0};
	fastpath_limit(&st, 131072);
	cr_assert_eq(st.limited, 1);
	cr_assert_eq(st.allow, 131072);
}

Test(fastpath, cap_shares_one_budget_between_both_slots)
{
	struct kfwd_sock cst = {0}, bst = {0};
	struct fastpath_sock cli = {.cookie = 7, .slot = 41, .st = &cst};
	struct fastpath_sock be = {.cookie = 8, .slot = 42, .st = &bst};
	cr_assert_eq(fastpath_budget_left(&cst), UINT64_MAX, "not capped: no limit");
	cr_assert_eq(fastpath_budget_take(&cst, 5000), 5000, "not capped: take all");
	cr_assert_eq(fastpath_budget_take(NULL, 10), 10, "no slot: take all");
	fastpath_cap(&cli, &be, 1000);
	cr_assert_eq(cst.cap_slot, 42, "the budget is in the client's slot (41), plus one");
	cr_assert_eq(bst.cap_slot, 42, "the backend's verdict draws from the same slot");
	cr_assert_eq(bst.budget, 0, "only the client's slot holds the budget");
	cr_assert_eq(fastpath_budget_take(&cst, 600), 600);
	cr_assert_eq(fastpath_budget_take(&cst, 600), 400, "no more than is left");
	cr_assert_eq(fastpath_budget_take(&cst, 1), 0, "spent");
	fastpath_budget_give(&cst, 150);
	cr_assert_eq(fastpath_budget_left(&cst), 150, "an unread rest comes back");
	fastpath_budget_give(&cst, 0);
	cr_assert_eq(fastpath_budget_take(&cst, 150), 150);
	cr_assert_eq(fastpath_budget_left(&cst), 0);
}

Test(fastpath, eof_only_when_every_passed_byte_was_read)
{
	struct kfwd_sock st = {.passed = 4096};
	cr_assert_not(fastpath_eof(&st, 0));
	cr_assert_not(fastpath_eof(&st, 4095), "passed bytes still on their way");
	cr_assert(fastpath_eof(&st, 4096));
	cr_assert(fastpath_eof(&st, 5000), "read around the verdict: not a wait");
	cr_assert(fastpath_eof(NULL, 0), "no slot: recv() == 0 is the end");
}

Test(fastpath, count_from_socket_state)
{
	struct kfwd_sock st = {.passed = 10, .redirected = 90, .pass_segs = 1, .redir_segs = 3};
	struct kfwd_count c;
	fastpath_count(&c, &st);
	cr_assert_eq(c.bytes, 100);
	cr_assert_eq(c.segs, 4);
	fastpath_count(&c, NULL);
	cr_assert_eq(c.bytes + c.segs, 0);
}

Test(fastpath, flow_view)
{
	struct kfwd_flow f = {.listener = 3, .start_ns = 1000000000ull, .last_ns = 3500000000ull};
	struct addr cli = parse("10.77.1.2:5555"), be = parse("[fd77:2::2]:9000");
	fastpath_endpoint(&f.client, &cli.u.sa);
	fastpath_endpoint(&f.backend, &be.u.sa);
	f.in = (struct kfwd_count){.bytes = 11, .segs = 1};
	f.out = (struct kfwd_count){.bytes = 22, .segs = 2};
	struct fastpath_flow_view v;
	fastpath_flow_view(77, &f, 4000000000ull, &v);
	cr_assert_eq(v.id, 77);
	cr_assert_eq(v.listener, 3);
	cr_assert(addr_equal(&v.client, &cli));
	cr_assert(addr_equal(&v.backend, &be));
	cr_assert_eq(v.bytes_in, 11);
	cr_assert_eq(v.bytes_out, 22);
	cr_assert_eq(v.segs_in, 1);
	cr_assert_eq(v.segs_out, 2);
	cr_assert_eq(v.age_ms, 3000);
	cr_assert_eq(v.idle_ms, 500);
}

Test(fastpath, flow_view_clamps_clock_races)
{
	/* now read just before the verdict stamped last_ns, or before start. */
	struct kfwd_flow f = {.start_ns = 5000000000ull, .last_ns = 6000000000ull};
	struct fastpath_flow_view v;
	fastpath_flow_view(1, &f, 5500000000ull, &v);
	cr_assert_eq(v.age_ms, 500);
	cr_assert_eq(v.idle_ms, 0);
	fastpath_flow_view(1, &f, 4000000000ull, &v);
	cr_assert_eq(v.age_ms, 0);
	cr_assert_eq(v.idle_ms, 0);
	/* No skb yet: last_ns 0 means idle since the start. */
	f.last_ns = 0;
	fastpath_flow_view(1, &f, 7000000000ull, &v);
	cr_assert_eq(v.idle_ms, 2000);
}

Test(fastpath, now_is_monotonic)
{
	uint64_t a = fastpath_now_ns(), b = fastpath_now_ns();
	cr_assert_gt(a, 0);
	cr_assert_geq(b, a);
}
