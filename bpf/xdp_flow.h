/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The UDP fast path: a packet of a flow kfwd installed gets the addresses and
 * ports of the entry, checksums updated incrementally, TTL / hop limit
 * decremented like a router would, and leaves through the interface and next
 * hop that the kernel's FIB names. The FIB is asked before anything is
 * written, so a packet that cannot be forwarded here goes up unchanged and
 * kfwd's socket forwards it (which also makes the kernel resolve a missing
 * neighbour for the packets after it).
 */
#ifndef KFWD_XDP_FLOW_H
#define KFWD_XDP_FLOW_H
#include "xdp_csum.h"
#include "xdp_maps.h"
#include "xdp_parse.h"

#define IPV6_FLOWINFO_MASK bpf_htonl(0x0FFFFFFF)

static __always_inline void flow_key(struct kfwd_xkey *k, const struct pkt *p)
{
	k->family = p->family;
	k->proto = IPPROTO_UDP;
	k->sport = p->sport;
	k->dport = p->dport;
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
}

static __always_inline int fib_reason(long rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return 0;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return -KFWD_XR_FIB_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return -KFWD_XR_FIB_FWD_OFF;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return -KFWD_XR_FIB_MTU;
	default:
		return -KFWD_XR_FIB_OTHER;
	}
}

/* Where the rewritten packet goes: egress interface and both MACs in *fib. */
static __always_inline int flow_route(struct xdp_md *ctx, const struct pkt *p,
				      const struct kfwd_xflow *f, struct bpf_fib_lookup *fib)
{
	fib->l4_protocol = IPPROTO_UDP;
	fib->sport = f->sport;
	fib->dport = f->dport;
	fib->ifindex = ctx->ingress_ifindex;
	if (p->ip4) {
		fib->family = AF_INET;
		fib->tos = p->ip4->tos;
		fib->tot_len = p->ip_len;
		__builtin_memcpy(&fib->ipv4_src, f->saddr, 4);
		__builtin_memcpy(&fib->ipv4_dst, f->daddr, 4);
	} else if (p->ip6) {
		fib->family = AF_INET6;
		fib->flowinfo = *(__be32 *)p->ip6 & IPV6_FLOWINFO_MASK;
		fib->tot_len = p->ip_len;
		__builtin_memcpy(fib->ipv6_src, f->saddr, 16);
		__builtin_memcpy(fib->ipv6_dst, f->daddr, 16);
	} else {
		return -KFWD_XR_ERROR;
	}
	return fib_reason(bpf_fib_lookup(ctx, fib, sizeof(*fib), 0));
}

/*
 * Whether the UDP checksum field holds only the pseudo-header sum: a sender
 * on this host that leaves the checksum to offload (CHECKSUM_PARTIAL, as on
 * a veth) hands XDP such a frame, and the sum over the payload is only added
 * on the way out. XDP sees no skb to tell, and a frame it redirects loses
 * the offload request, so such a datagram must go up the stack instead. A
 * complete checksum equals this value once in 65536 datagrams; those go up
 * the stack too, which costs nothing but speed.
 */
static __always_inline bool udp_csum_partial(const struct pkt *p)
{
	__u32 len_proto[2] = {bpf_htonl(p->l4_len), bpf_htonl(IPPROTO_UDP)};
	__s64 sum;

	if (p->ip4)
		sum = bpf_csum_diff(0, 0, (__be32 *)&p->ip4->saddr, 8, 0);
	else if (p->ip6)
		sum = bpf_csum_diff(0, 0, (__be32 *)&p->ip6->saddr, 32, 0);
	else
		return false;
	if (sum < 0)
		return false;
	sum = bpf_csum_diff(0, 0, len_proto, 8, (__wsum)sum);
	return sum >= 0 && csum_fold64((__u64)sum) == p->udp->check;
}

/* Rewrite an IPv4 packet; checksums follow each changed word. */
static __always_inline int rewrite4(struct pkt *p, const struct kfwd_xflow *f)
{
	struct iphdr *ip = p->ip4;
	struct udphdr *udp = p->udp;
	__u32 old_addr[2], new_addr[2], old_ports, new_ports;
	__u16 old_ttl, new_ttl;
	__s64 d_addr, d_ports;

	/* Known to be set; the checks keep the verifier from seeing a merged branch. */
	if (!ip || !udp)
		return -KFWD_XR_ERROR;
	__builtin_memcpy(old_addr, &ip->saddr, 8);
	__builtin_memcpy(&new_addr[0], f->saddr, 4);
	__builtin_memcpy(&new_addr[1], f->daddr, 4);
	__builtin_memcpy(&old_ports, &udp->source, 4);
	__builtin_memcpy(&new_ports, &f->sport, 4); /* sport, dport: adjacent, as on the wire */
	d_addr = bpf_csum_diff(old_addr, 8, new_addr, 8, 0);
	d_ports = bpf_csum_diff(&old_ports, 4, &new_ports, 4, 0);
	if (d_addr < 0 || d_ports < 0)
		return -KFWD_XR_ERROR;
	/* TTL shares its 16-bit word with the protocol. */
	__builtin_memcpy(&old_ttl, &ip->ttl, 2);
	ip->ttl--;
	__builtin_memcpy(&new_ttl, &ip->ttl, 2);
	ip->check = csum_apply(ip->check, (__u64)d_addr + csum_word_diff(old_ttl, new_ttl));
	/* 0: the sender computed no checksum (allowed over IPv4); keep it so. */
	if (udp->check) {
		__u16 c = csum_apply(udp->check, (__u64)d_addr + (__u64)d_ports);

		udp->check = c ? c : 0xffff;
	}
	__builtin_memcpy(&ip->saddr, new_addr, 8);
	__builtin_memcpy(&udp->source, &new_ports, 4);
	return 0;
}

static __always_inline int rewrite6(struct pkt *p, const struct kfwd_xflow *f)
{
	struct ipv6hdr *ip = p->ip6;
	struct udphdr *udp = p->udp;
	__u32 old_addr[8], new_addr[8], old_ports, new_ports;
	__s64 d_addr, d_ports;
	__u16 c;

	if (!ip || !udp)
		return -KFWD_XR_ERROR;
	__builtin_memcpy(old_addr, &ip->saddr, 32);
	__builtin_memcpy(&new_addr[0], f->saddr, 16);
	__builtin_memcpy(&new_addr[4], f->daddr, 16);
	__builtin_memcpy(&old_ports, &udp->source, 4);
	__builtin_memcpy(&new_ports, &f->sport, 4);
	d_addr = bpf_csum_diff(old_addr, 32, new_addr, 32, 0);
	d_ports = bpf_csum_diff(&old_ports, 4, &new_ports, 4, 0);
	if (d_addr < 0 || d_ports < 0)
		return -KFWD_XR_ERROR;
	ip->hop_limit--;
	c = csum_apply(udp->check, (__u64)d_addr + (__u64)d_ports);
	udp->check = c ? c : 0xffff;
	__builtin_memcpy(&ip->saddr, new_addr, 32);
	__builtin_memcpy(&udp->source, &new_ports, 4);
	return 0;
}

static __always_inline void count_forward(struct kfwd_xflow *f, __u32 bytes)
{
	__u32 key = f->lsn_slot;
	struct kfwd_xlsn_stats *ls = bpf_map_lookup_elem(&xdp_lsn_stats, &key);
	__u32 dir = f->dir & 1;

	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, bytes);
	if (ls) {
		ls->fwd_packets[dir]++;
		ls->fwd_bytes[dir] += bytes;
	}
}

/*
 * A UDP packet: forward it if its flow is known. Returns 1 for "no flow"
 * (the front door's turn), otherwise the negated reason; *slot is set to the
 * flow's listener slot.
 */
static __always_inline int flow_path(struct xdp_md *ctx, struct pkt *p, int *slot, bool forward)
{
	struct bpf_fib_lookup fib = {};
	struct kfwd_xkey k = {};
	struct kfwd_xflow *f;
	int rc;

	flow_key(&k, p);
	f = bpf_map_lookup_elem(&xdp_flows, &k);
	if (!f)
		return 1;
	*slot = f->lsn_slot;
	f->last_ns = bpf_ktime_get_ns();
	if (p->ip6 && !p->udp->check)
		return -KFWD_XR_UDP6_NO_CSUM;
	if (f->flags & KFWD_XF_USERSPACE)
		return -KFWD_XR_USERSPACE;
	if (!forward)
		return -KFWD_XR_NO_FORWARD;
	if (p->vlans)
		return -KFWD_XR_VLAN;
	if (p->ip4 && p->ip4->ttl <= 1)
		return -KFWD_XR_TTL;
	if (p->ip6 && p->ip6->hop_limit <= 1)
		return -KFWD_XR_TTL;
	if (p->udp->check && udp_csum_partial(p))
		return -KFWD_XR_CSUM_PARTIAL;
	rc = flow_route(ctx, p, f, &fib);
	if (rc)
		return rc;
	if (p->ip4)
		rc = rewrite4(p, f);
	else
		rc = rewrite6(p, f);
	if (rc)
		return rc;
	__builtin_memcpy(p->eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, fib.smac, ETH_ALEN);
	count_forward(f, p->ip_len);
	if (fib.ifindex == ctx->ingress_ifindex)
		return -KFWD_XR_HAIRPIN;
	if (bpf_redirect(fib.ifindex, 0) != XDP_REDIRECT)
		return -KFWD_XR_ERROR;
	return -KFWD_XR_FORWARD;
}

#endif
