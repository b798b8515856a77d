/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing for the XDP program: one cursor over the frame. Every step
 * checks bounds before it reads and returns 0 or a negated enum kfwd_xreason
 * when the frame ends early or its headers contradict each other; the entry
 * program turns that into a verdict at its one exit point.
 *
 * Parsed: Ethernet with up to two VLAN tags (802.1Q, 802.1ad), IPv4 with
 * options, IPv6 without extension headers, UDP, TCP. Fragments, IPv6
 * extension headers and other protocols are reported, not parsed further.
 */
#ifndef KFWD_XDP_PARSE_H
#define KFWD_XDP_PARSE_H
#include "kfwd_maps.h"

#ifndef AF_INET
#define AF_INET  2
#define AF_INET6 10
#endif

#define ETH_P_IP      0x0800
#define ETH_P_IPV6    0x86DD
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88A8
#define VLAN_MAX      2      /* tags parsed; a third is "not IP" */
#define IP_MF         0x2000 /* more fragments */
#define IP_OFFSET     0x1fff /* fragment offset */
#define NEXTHDR_FRAG  44
#define ETH_ALEN      6

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

/* The frame still to be parsed: [pos, end). */
struct cursor {
	void *pos;
	void *end;
};

/* What parsing found. Pointers are into the frame; exactly one of ip4/ip6
 * and at most one of udp/tcp is set. */
struct pkt {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	struct tcphdr *tcp;
	void *payload;  /* UDP payload */
	void *end;      /* data_end */
	__u8 saddr[16]; /* copies of the addresses and ports, so that keys are */
	__u8 daddr[16]; /* built without branching on the family again */
	__u16 sport;    /* network byte order */
	__u16 dport;
	__u32 ip_len;   /* IP header + payload, from the IP length field */
	__u32 l4_len;   /* UDP: its length field; TCP: IP payload length */
	__u8 family;    /* AF_INET, AF_INET6 */
	__u8 proto;     /* IPPROTO_UDP, IPPROTO_TCP */
	__u8 vlans;     /* VLAN tags in front of the IP header */
};

/* Take len bytes at the cursor; NULL if the frame is shorter. */
static __always_inline void *cur_pull(struct cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

/* Ethernet and VLAN tags; returns the inner EtherType (host order) or -reason. */
static __always_inline int parse_eth(struct cursor *c, struct pkt *p)
{
	struct ethhdr *eth = cur_pull(c, sizeof(*eth));
	__u16 proto;
	int i;

	if (!eth)
		return -KFWD_XR_TRUNCATED;
	p->eth = eth;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (i = 0; i < VLAN_MAX; i++) {
		struct vlan_tag *v;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		v = cur_pull(c, sizeof(*v));
		if (!v)
			return -KFWD_XR_TRUNCATED;
		proto = bpf_ntohs(v->proto);
		p->vlans++;
	}
	return proto;
}

/* IPv4 header with options. The cursor ends at the L4 header. */
static __always_inline int parse_ip4(struct cursor *c, struct pkt *p)
{
	struct iphdr *ip = cur_pull(c, sizeof(*ip));
	__u32 hlen, tot;

	if (!ip)
		return -KFWD_XR_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return -KFWD_XR_BAD_HEADER;
	hlen = ip->ihl * 4;
	/* Options: the rest of the header after the fixed 20 bytes. */
	if ((void *)ip + hlen > c->end)
		return -KFWD_XR_TRUNCATED;
	c->pos = (void *)ip + hlen;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || (void *)ip + tot > c->end)
		return -KFWD_XR_BAD_LENGTH;
	p->ip4 = ip;
	p->family = AF_INET;
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	p->ip_len = tot;
	p->proto = ip->protocol;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return -KFWD_XR_FRAGMENT;
	return 0;
}

static __always_inline int parse_ip6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ip = cur_pull(c, sizeof(*ip));
	__u32 plen;

	if (!ip)
		return -KFWD_XR_TRUNCATED;
	if (ip->version != 6)
		return -KFWD_XR_BAD_HEADER;
	plen = bpf_ntohs(ip->payload_len);
	if ((void *)(ip + 1) + plen > c->end)
		return -KFWD_XR_BAD_LENGTH;
	p->ip6 = ip;
	p->family = AF_INET6;
	__builtin_memcpy(p->saddr, &ip->saddr, 16);
	__builtin_memcpy(p->daddr, &ip->daddr, 16);
	p->ip_len = sizeof(*ip) + plen;
	p->proto = ip->nexthdr;
	if (ip->nexthdr == NEXTHDR_FRAG)
		return -KFWD_XR_FRAGMENT;
	return 0;
}

/* Bytes of L4 header and payload the IP header announces. */
static __always_inline __u32 ip_payload_len(const struct pkt *p)
{
	if (p->ip4)
		return p->ip_len - p->ip4->ihl * 4;
	return p->ip_len - sizeof(struct ipv6hdr);
}

static __always_inline int parse_udp(struct cursor *c, struct pkt *p)
{
	__u32 avail = ip_payload_len(p);
	struct udphdr *udp;
	__u32 len;

	if (avail < sizeof(*udp))
		return -KFWD_XR_TRUNCATED;
	udp = cur_pull(c, sizeof(*udp));
	if (!udp)
		return -KFWD_XR_TRUNCATED;
	len = bpf_ntohs(udp->len);
	/* Shorter than the IP payload is fine (the stack trims); longer is not. */
	if (len < sizeof(*udp) || len > avail)
		return -KFWD_XR_BAD_LENGTH;
	p->udp = udp;
	p->l4_len = len;
	p->sport = udp->source;
	p->dport = udp->dest;
	p->payload = c->pos;
	return 0;
}

static __always_inline int parse_tcp(struct cursor *c, struct pkt *p)
{
	__u32 avail = ip_payload_len(p);
	struct tcphdr *tcp;

	if (avail < sizeof(*tcp))
		return -KFWD_XR_TRUNCATED;
	tcp = cur_pull(c, sizeof(*tcp));
	if (!tcp)
		return -KFWD_XR_TRUNCATED;
	if (tcp->doff < 5)
		return -KFWD_XR_BAD_HEADER;
	if (tcp->doff * 4 > avail)
		return -KFWD_XR_BAD_LENGTH;
	p->tcp = tcp;
	p->l4_len = avail;
	p->sport = tcp->source;
	p->dport = tcp->dest;
	return 0;
}

/* The whole frame down to the L4 header; 0 when it is UDP or TCP over IP. */
static __always_inline int parse_packet(struct cursor *c, struct pkt *p)
{
	int proto = parse_eth(c, p);
	int rc;

	if (proto < 0)
		return proto;
	if (proto == ETH_P_IP)
		rc = parse_ip4(c, p);
	else if (proto == ETH_P_IPV6)
		rc = parse_ip6(c, p);
	else
		return -KFWD_XR_NOT_IP;
	if (rc)
		return rc;
	if (p->proto == IPPROTO_UDP)
		return parse_udp(c, p);
	if (p->proto == IPPROTO_TCP)
		return parse_tcp(c, p);
	return -KFWD_XR_OTHER_L4;
}

#endif
