/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The front door: what happens to a packet for one of kfwd's listeners that
 * belongs to no known flow. In order: the source prefix lists, the
 * classification of a UDP payload (and, with sanitize, dropping what the
 * listener does not accept), and the per-source token bucket on new flows.
 * Junk is dropped before it costs the source a token.
 */
#ifndef KFWD_XDP_DOOR_H
#define KFWD_XDP_DOOR_H
#include "xdp_maps.h"
#include "xdp_parse.h"

#define TCP_FLAG_SYN_ACK_MASK 0x12 /* SYN and ACK bits of the flags byte */
#define TCP_FLAG_SYN          0x02

/* The listener this packet is addressed to: exact address first, then the wildcard. */
static __always_inline struct kfwd_xlsn *listener_of(const struct pkt *p)
{
	struct kfwd_xlsn_key k = {};
	struct kfwd_xlsn *l;

	k.family = p->family;
	k.proto = p->proto;
	k.port = p->dport;
	__builtin_memcpy(k.addr, p->daddr, 16);
	l = bpf_map_lookup_elem(&xdp_listeners, &k);
	if (l)
		return l;
	__builtin_memset(k.addr, 0, sizeof(k.addr));
	return bpf_map_lookup_elem(&xdp_listeners, &k);
}

/* allow_sources / deny_sources: the longest matching prefix decides. */
static __always_inline int check_source(const struct pkt *p, const struct kfwd_xlsn *l)
{
	struct kfwd_xsrc_key k = {};
	__u32 *action;

	if (!(l->flags & KFWD_XLSN_SOURCES))
		return 0;
	k.prefixlen = KFWD_XSRC_PREFIX_BASE + (p->family == AF_INET ? 32 : 128);
	k.slot_be = bpf_htonl(l->slot);
	k.family = p->family;
	__builtin_memcpy(k.addr, p->saddr, 16);
	action = bpf_map_lookup_elem(&xdp_sources, &k);
	if (action && *action == KFWD_XSRC_DENY)
		return -KFWD_XR_DENIED;
	if (!action && (l->flags & KFWD_XLSN_ALLOWLIST))
		return -KFWD_XR_NOT_ALLOWED;
	return 0;
}

/*
 * What the first datagram of a flow carries. QUIC (RFC 8999, 9000, 9369): a
 * long header (first bit set) with version 1 and packet type 0b00, or
 * version 2 and type 0b01, is an Initial; a client's Initial fills a
 * datagram of at least quic_min bytes and its destination connection ID
 * (length in byte 5) has at most 20 bytes. WireGuard: a handshake
 * initiation is message type 1, three zero bytes, 148 bytes in all.
 */
static __always_inline int classify(const struct pkt *p, __u32 quic_min)
{
	__u8 *b = p->payload;
	__u32 len = p->l4_len - sizeof(struct udphdr);
	__u32 version;
	__u8 type;

	if ((void *)(b + 6) > p->end || len < 6)
		return KFWD_XCLS_OTHER;
	if (len == KFWD_WG_INITIATION_LEN && b[0] == 1 && !b[1] && !b[2] && !b[3])
		return KFWD_XCLS_WIREGUARD;
	if (!(b[0] & 0x80) || b[5] > 20 || len < quic_min)
		return KFWD_XCLS_OTHER;
	version = (__u32)b[1] << 24 | (__u32)b[2] << 16 | (__u32)b[3] << 8 | b[4];
	type = (b[0] >> 4) & 0x3;
	if (version == KFWD_QUIC_V1 && type == 0)
		return KFWD_XCLS_QUIC1;
	if (version == KFWD_QUIC_V2 && type == 1)
		return KFWD_XCLS_QUIC2;
	return KFWD_XCLS_OTHER;
}

/*
 * Token bucket as GCRA: a source may open a new flow every rate_ns, and run
 * up to burst_ns ahead of that schedule. Concurrent CPUs may each admit one
 * flow on the same stale state: a bound that is off by a CPU count at most.
 */
static __always_inline int take_token(const struct pkt *p, const struct kfwd_xlsn *l)
{
	struct kfwd_xbucket_key k = {};
	struct kfwd_xbucket *b;
	__u64 now, tat;

	if (!l->rate_ns)
		return 0;
	k.slot = l->slot;
	k.family = p->family;
	__builtin_memcpy(k.addr, p->saddr, 16);
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&xdp_buckets, &k);
	if (!b) {
		struct kfwd_xbucket fresh = {.tat_ns = now + l->rate_ns};

		bpf_map_update_elem(&xdp_buckets, &k, &fresh, BPF_ANY);
		return 0;
	}
	tat = b->tat_ns > now ? b->tat_ns : now;
	if (tat - now > l->burst_ns) {
		__sync_fetch_and_add(&b->dropped, 1);
		return -KFWD_XR_RATE;
	}
	b->tat_ns = tat + l->rate_ns;
	return 0;
}

/* A TCP segment that opens a connection: SYN without ACK. */
static __always_inline bool tcp_is_syn(const struct tcphdr *t)
{
	return (((const __u8 *)t)[13] & TCP_FLAG_SYN_ACK_MASK) == TCP_FLAG_SYN;
}

/*
 * Packet to no known flow: NOT_OURS unless it is for a listener, whose
 * slot is then stored in *slot. Returns the negated reason.
 */
static __always_inline int front_door(const struct pkt *p, int *slot, __u32 quic_min)
{
	struct kfwd_xlsn *l = listener_of(p);
	struct kfwd_xlsn_stats *ls;
	__u32 key;
	int rc, cls;

	if (!l)
		return -KFWD_XR_NOT_OURS;
	key = l->slot;
	*slot = key;
	if (p->udp && p->ip6 && !p->udp->check)
		return -KFWD_XR_UDP6_NO_CSUM;
	rc = check_source(p, l);
	if (rc)
		return rc;
	if (p->udp) {
		cls = classify(p, quic_min);
		ls = bpf_map_lookup_elem(&xdp_lsn_stats, &key);
		if (ls && cls < KFWD_XCLS__MAX)
			ls->cls[cls]++;
		if ((l->flags & KFWD_XLSN_SANITIZE) && !(l->accept & (1u << cls)))
			return -KFWD_XR_SANITIZE;
	} else if (!tcp_is_syn(p->tcp)) {
		return -KFWD_XR_TCP; /* an established connection: never throttled */
	}
	rc = take_token(p, l);
	if (rc)
		return rc;
	return p->udp ? -KFWD_XR_NEW_FLOW : -KFWD_XR_TCP;
}

#endif
