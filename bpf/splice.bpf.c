// SPDX-License-Identifier: GPL-2.0
/*
 * TCP fast path: a sockops program that puts kfwd's fast-path sockets into
 * the SOCKHASH when they are established, and the stream verdict that hands
 * each socket's bytes over from kfwd to the kernel. How the handover keeps
 * bytes in order is described in include/kfwd_maps.h and userspace/tcp_fast.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "splice_sock.h"

/*
 * At most this many bytes redirected to the peer and not yet in the peer's
 * send queue, on top of the send-buffer rule of peer_has_room (which alone
 * bounds kernel memory). 0: only that rule. Set by kfwd before load.
 */
const volatile __u64 backlog_limit = KFWD_BACKLOG_DEFAULT;

/* Bytes of the peer's send buffer kept free beyond the payload (skb heads). */
#define ROOM_SLACK 4096

/* Context fields are read once, into locals: clang may otherwise compute a
 * "ctx + offset" pointer the verifier refuses ("dereference of modified ctx ptr"). */
struct ops_ctx {
	__u64 cookie;
	__u32 family;
	__u32 local_port; /* host byte order */
	__u32 local_ip4;  /* network byte order */
	__u32 local_ip6[4];
	__u32 snd_nxt;
	__u32 rcv_nxt;
};

static __always_inline const struct kfwd_port *port_lookup(const struct ops_ctx *o)
{
	struct kfwd_port_key k = {};
	const struct kfwd_port *p;

	k.port = (__u16)o->local_port;
	if (o->family == AF_INET) {
		k.family = AF_INET;
		__builtin_memcpy(k.addr, &o->local_ip4, 4);
	} else {
		k.family = AF_INET6;
		__builtin_memcpy(k.addr, o->local_ip6, 16);
	}
	p = bpf_map_lookup_elem(&ports, &k);
	if (p)
		return p;
	__builtin_memset(k.addr, 0, sizeof(k.addr));
	return bpf_map_lookup_elem(&ports, &k);
}

/* Record where the send queue starts and insert the socket into the sockhash. */
static __always_inline void sock_insert(struct bpf_sock_ops *skops, struct ops_ctx *o,
					struct kfwd_sock *st)
{
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	/* Two stores, not a select: one load through two kinds of pointer is refused. */
	st->seq_base = o->snd_nxt;
	if (tp)
		st->seq_base = tp->write_seq;
	st->rcv_seq = o->rcv_nxt; /* the verdict only ever sees sockets inserted here */
	if (bpf_sock_hash_update(skops, &socks, &o->cookie, BPF_NOEXIST))
		count(insert_err);
	else
		count(insert_ok);
}

/* An accepted socket of a fastpath listener: give it a slot and insert it. */
static __always_inline int on_passive(struct bpf_sock_ops *skops, struct ops_ctx *o)
{
	const struct kfwd_port *p = port_lookup(o);
	struct kfwd_sock *st;
	__u32 slot;

	if (!p || !(p->flags & KFWD_PORT_FAST))
		return 1;
	count(passive_est);
	if (bpf_map_pop_elem(&free_slots, &slot)) {
		count(no_slot);
		return 1;
	}
	st = sock_state(slot);
	if (!st) {
		slot_free(slot);
		return 1;
	}
	sock_init(st, o->cookie, KFWD_DIR_IN);
	if (bpf_map_update_elem(&slot_of, &o->cookie, &slot, BPF_NOEXIST)) {
		slot_free(slot);
		return 1;
	}
	/* If it closes before kfwd accepts it, on_state gives the slot back. */
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	sock_insert(skops, o, st);
	return 1;
}

/* A backend socket kfwd asked for (its cookie is in slot_of before connect()). */
static __always_inline int on_active(struct bpf_sock_ops *skops, struct ops_ctx *o)
{
	struct kfwd_sock *st = sock_of(o->cookie);

	if (!st)
		return 1;
	count(active_est);
	sock_insert(skops, o, st);
	return 1;
}

/* An accepted socket closed: free its slot unless kfwd has claimed it. */
static __always_inline int on_state(struct ops_ctx *o, __u32 new_state)
{
	struct kfwd_sock *st;
	__u32 *sp, slot;

	if (new_state != BPF_TCP_CLOSE)
		return 1;
	sp = bpf_map_lookup_elem(&slot_of, &o->cookie);
	if (!sp)
		return 1;
	slot = *sp;
	st = sock_state(slot);
	if (!st || __sync_val_compare_and_swap(&st->owner, o->cookie, 0) != o->cookie)
		return 1;
	bpf_map_delete_elem(&slot_of, &o->cookie);
	slot_free(slot);
	count(released);
	return 1;
}

SEC("sockops")
int kfwd_sockops(struct bpf_sock_ops *skops)
{
	struct ops_ctx o = {};
	__u32 op = skops->op, new_state;

	barrier_var(op);
	if (op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	o.family = skops->family;
	barrier_var(o.family);
	if (o.family != AF_INET && o.family != AF_INET6)
		return 1;
	o.local_port = skops->local_port;
	o.local_ip4 = skops->local_ip4;
	o.local_ip6[0] = skops->local_ip6[0];
	o.local_ip6[1] = skops->local_ip6[1];
	o.local_ip6[2] = skops->local_ip6[2];
	o.local_ip6[3] = skops->local_ip6[3];
	o.snd_nxt = skops->snd_nxt;
	o.rcv_nxt = skops->rcv_nxt;
	new_state = skops->args[1];
	barrier_var(o.snd_nxt);
	barrier_var(o.rcv_nxt);
	barrier_var(new_state);
	o.cookie = bpf_get_socket_cookie(skops);

	if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return on_passive(skops, &o);
	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return on_active(skops, &o);
	return on_state(&o, new_state);
}

/*
 * Whether the peer can take this skb now. A redirected skb waits in the
 * peer's psock queue (`ingress_skb`) until the peer's backlog worker moves it
 * into the peer's send queue; while it waits it is charged to no socket, and
 * so is every skb the peer's own verdict passes meanwhile (they queue behind
 * it). So the verdict redirects only what fits in the peer's free send-buffer
 * space, together with what it redirected before that is still waiting: the
 * worker then empties the queue at once and nothing waits uncharged for long.
 * Otherwise the skb is passed: charged to this socket, whose TCP window then
 * closes, so a reader that stops stalls the writer (both ways at once too).
 * The slack covers the skb heads tcp_sendmsg adds to sk_wmem_queued.
 */
static __always_inline bool peer_has_room(struct kfwd_sock *st, __u64 peer, __u32 len)
{
	struct bpf_sock *psk = bpf_map_lookup_elem(&socks, &peer);
	struct kfwd_sock *pst = sock_state(st->peer_slot);
	struct tcp_sock *tp;
	__s64 waiting, want, room;
	bool ok = false;

	if (!psk)
		return true; /* gone: the redirect fails and the flow ends */
	tp = bpf_skc_to_tcp_sock(psk);
	if (tp && pst) {
		/* Signed: once shut down, write_seq counts the FIN too. */
		waiting = (__s32)((__u32)(st->redirected + st->written) -
				  (tp->write_seq - pst->seq_base));
		if (waiting < 0)
			waiting = 0;
		want = waiting + len;
		room = (__s64)tp->inet_conn.icsk_inet.sk.sk_sndbuf -
		       tp->inet_conn.icsk_inet.sk.sk_wmem_queued;
		ok = want + (want >> 5) + ROOM_SLACK <= room &&
		     (!backlog_limit || (__u64)want <= backlog_limit);
	}
	bpf_sk_release(psk);
	return ok;
}

/* bpf_skb_adjust_room removes at most this many bytes per call from an sk_skb. */
#define TRIM_STEP  4095
#define TRIM_CALLS 64 /* up to 256 KiB of old bytes in one skb */

/*
 * Cut off the bytes of skb this socket's verdict has already seen. TCP queues
 * a segment that overlaps what it received (seq < rcv_nxt < end_seq, a
 * retransmission whose head arrived before) untrimmed: its own readers skip
 * the old head through copied_seq, but tcp_read_skb() hands the verdict the
 * whole skb, so without this the old bytes would reach the peer twice
 * (test_fast_overlap). Return the skb's new length, or -1 to drop it: wholly
 * old, or the head could not be cut off (counted; the stream is broken then,
 * and kfwd's close-time check says so).
 */
static __always_inline long cut_old(struct __sk_buff *skb, struct kfwd_sock *st, __u32 len)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)k->cb;
	__u32 seq = 0, old, n;
	int i;

	if (bpf_probe_read_kernel(&seq, sizeof(seq), &cb->seq))
		return len; /* cannot tell: deliver as before */
	old = st->rcv_seq - seq;
	if ((__s32)old <= 0) {
		st->rcv_seq = seq + len;
		return len;
	}
	count(overlap_skbs);
	if (old >= len) {
		count_add(overlap_bytes, len);
		return -1;
	}
	st->rcv_seq = seq + len;
	count_add(overlap_bytes, old);
	for (i = 0; i < TRIM_CALLS && old; i++) {
		n = old < TRIM_STEP ? old : TRIM_STEP;
		if (bpf_skb_adjust_room(skb, -(__s32)n, 0, 0))
			break;
		old -= n;
	}
	if (old) {
		count(overlap_fail);
		return -1;
	}
	return skb->len;
}

/* Compare-and-swap attempts before giving up on a contended budget (the skb
 * is then passed: kfwd takes from the budget when it reads it). */
#define BUDGET_TRIES 4

/*
 * A capped flow (max_bytes): take len bytes from the budget both directions
 * and kfwd's reads share, or nothing if it holds fewer. Nothing is ever
 * taken beyond it, so the flow moves exactly max_bytes at most.
 */
static __always_inline bool budget_take(struct kfwd_sock *st, __u32 len)
{
	__u32 cap = READ_ONCE_U32(st->cap_slot);
	struct kfwd_sock *b;
	__u64 have;
	int i;

	if (!cap)
		return true;
	b = sock_state(cap - 1);
	if (!b)
		return false;
	for (i = 0; i < BUDGET_TRIES; i++) {
		have = READ_ONCE_U64(b->budget);
		if (have < len)
			return false;
		if (__sync_val_compare_and_swap(&b->budget, have, have - len) == have)
			return true;
	}
	return false;
}

static __always_inline int pass(struct kfwd_sock *st, __u32 len)
{
	__sync_fetch_and_add(&st->passed, len);
	st->pass_segs++;
	flow_touch(st);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int kfwd_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u32 len = skb->len;
	struct kfwd_sock *st;
	__u64 peer;

	barrier_var(len);
	st = sock_of(cookie);
	if (!st)
		return SK_PASS;
	/* A bare FIN is a zero-length skb. Redirected, or passed behind a
	 * backlog, it makes the kernel report EPIPE and stop sending on the
	 * socket; dropped, the FIN is still seen (recv() returns 0). */
	if (len == 0)
		return SK_DROP;
	{
		long n = cut_old(skb, st, len);

		if (n <= 0)
			return SK_DROP;
		len = (__u32)n;
	}
	peer = READ_ONCE_U64(st->peer);
	/* Redirect only once kfwd has written every byte it was passed: what it
	 * still holds must reach the peer before anything the kernel sends. */
	if (!peer || READ_ONCE_U64(st->written) != st->passed)
		return pass(st, len);
	/* A throttled flow (max_rate_bps): kfwd grants an allowance at the
	 * rate; past it the bytes go to kfwd, which relays them no faster. */
	if (READ_ONCE_U32(st->limited) && st->redirected + len > READ_ONCE_U64(st->allow)) {
		count(rate_pass);
		return pass(st, len);
	}
	if (!peer_has_room(st, peer, len)) {
		st->bp_segs++;
		count(bp_pass);
		return pass(st, len);
	}
	/* Past max_bytes kfwd reads exactly what is left and closes the flow. */
	if (!budget_take(st, len)) {
		count(cap_pass);
		return pass(st, len);
	}
	__sync_fetch_and_add(&st->redirected, len);
	st->redir_segs++;
	flow_touch(st);
	if (bpf_sk_redirect_hash(skb, &socks, &peer, 0) != SK_PASS) {
		st->redir_fail++;
		count(redir_fail);
		return SK_DROP;
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
