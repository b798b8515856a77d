/*
 * A small packet builder for the BPF tests: Ethernet (with VLAN tags), IPv4
 * (with options, fragment bits) or IPv6 (with a fragment header), UDP or TCP,
 * and checksums computed here from scratch (RFC 1071), independently of the
 * program under test. Header only; everything is static inline.
 */
#ifndef KFWD_TEST_PKTBUILD_H
#define KFWD_TEST_PKTBUILD_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PKT_MAX 4096

struct pkt_spec {
	int family;            /* AF_INET (default when 0) or AF_INET6 */
	int proto;             /* IPPROTO_UDP (default when 0) or IPPROTO_TCP, or any other */
	const char *src, *dst; /* numeric addresses */
	uint16_t sport, dport; /* host order */
	const void *payload;
	size_t len;        /* payload bytes */
	int vlans;         /* 0, 1 or 2 tags */
	int ip_opts;       /* IPv4 option bytes (multiple of 4, at most 40): NOPs + EOL */
	uint8_t ttl;       /* 0: 64 */
	uint8_t tcp_flags; /* TCP: flags byte (0: SYN) */
	uint16_t frag;     /* IPv4: frag_off field (host order, MF 0x2000); IPv6: any
	                    * non-zero value adds a fragment header with this offset word */
	bool no_csum;      /* UDP checksum 0 */
	uint8_t dmac[6], smac[6];
};

/* One's complement sum of len bytes, added to sum (RFC 1071). */
static inline uint32_t pk_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t pk_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Offset of the IP header: Ethernet plus VLAN tags. */
static inline size_t pk_l3(const uint8_t *f)
{
	size_t off = 12;
	uint16_t t = (uint16_t)(f[off] << 8 | f[off + 1]);
	while (t == 0x8100 || t == 0x88a8) {
		off += 4;
		t = (uint16_t)(f[off] << 8 | f[off + 1]);
	}
	return off + 2;
}

static inline bool pk_is_v6(const uint8_t *f)
{
	return (f[pk_l3(f)] >> 4) == 6;
}

/* Offset of the L4 header (IPv6: after a fragment header, if any). */
static inline size_t pk_l4(const uint8_t *f)
{
	size_t l3 = pk_l3(f);
	if (!pk_is_v6(f))
		return l3 + (size_t)(f[l3] & 0x0f) * 4;
	return l3 + 40 + (f[l3 + 6] == 44 ? 8 : 0);
}

/* Bytes of L4 header + payload, from the IP header. */
static inline size_t pk_l4_len(const uint8_t *f)
{
	size_t l3 = pk_l3(f);
	if (!pk_is_v6(f))
		return (size_t)(f[l3 + 2] << 8 | f[l3 + 3]) - (size_t)(f[l3] & 0x0f) * 4;
	return (size_t)(f[l3 + 4] << 8 | f[l3 + 5]) - (f[l3 + 6] == 44 ? 8 : 0);
}

/* The L4 checksum the segment should carry, computed over the pseudo header. */
static inline uint16_t pk_l4_csum(const uint8_t *f, int proto)
{
	size_t l3 = pk_l3(f), l4 = pk_l4(f), n = pk_l4_len(f);
	uint32_t s = 0;
	uint8_t copy[PKT_MAX];
	int coff = proto == IPPROTO_UDP ? 6 : 16;
	memcpy(copy, f + l4, n);
	copy[coff] = copy[coff + 1] = 0;
	if (pk_is_v6(f))
		s = pk_sum(f + l3 + 8, 32, s);
	else
		s = pk_sum(f + l3 + 12, 8, s);
	s += (uint32_t)proto + (uint32_t)n;
	s = pk_sum(copy, n, s);
	uint16_t c = (uint16_t)~pk_fold(s);
	return proto == IPPROTO_UDP && c == 0 ? 0xffff : c;
}

/* Whether the IPv4 header checksum verifies (IPv6: true). */
static inline bool pk_ip_csum_ok(const uint8_t *f)
{
	size_t l3 = pk_l3(f);
	if (pk_is_v6(f))
		return true;
	return pk_fold(pk_sum(f + l3, (size_t)(f[l3] & 0x0f) * 4, 0)) == 0xffff;
}

/* Whether the L4 checksum verifies (a UDP checksum of 0 over IPv4 means none). */
static inline bool pk_l4_csum_ok(const uint8_t *f, int proto)
{
	size_t l3 = pk_l3(f), l4 = pk_l4(f), n = pk_l4_len(f);
	if (proto == IPPROTO_UDP && !pk_is_v6(f) && !f[l4 + 6] && !f[l4 + 7])
		return true;
	uint32_t s = pk_is_v6(f) ? pk_sum(f + l3 + 8, 32, 0) : pk_sum(f + l3 + 12, 8, 0);
	s += (uint32_t)proto + (uint32_t)n;
	s = pk_sum(f + l4, n, s);
	return pk_fold(s) == 0xffff;
}

static inline uint16_t pk_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pk_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Build the frame into buf (PKT_MAX bytes); return its length, 0 if it does not fit. */
static inline size_t pkt_build(uint8_t *buf, const struct pkt_spec *s)
{
	int family = s->family ? s->family : AF_INET;
	int proto = s->proto ? s->proto : IPPROTO_UDP;
	size_t l4hdr = proto == IPPROTO_TCP ? 20 : proto == IPPROTO_UDP ? 8 : 0;
	size_t iphdr = family == AF_INET ? 20 + (size_t)s->ip_opts : 40 + (s->frag ? 8 : 0);
	size_t off = 0, total = 14 + (size_t)s->vlans * 4 + iphdr + l4hdr + s->len;
	if (total > PKT_MAX || s->ip_opts % 4 || s->ip_opts > 40)
		return 0;
	memset(buf, 0, total);
	memcpy(buf, s->dmac, 6);
	memcpy(buf + 6, s->smac, 6);
	off = 12;
	for (int i = 0; i < s->vlans; i++) {
		pk_put16(buf + off, i == 0 && s->vlans == 2 ? 0x88a8 : 0x8100);
		pk_put16(buf + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	pk_put16(buf + off, family == AF_INET ? 0x0800 : 0x86dd);
	off += 2;
	size_t l3 = off;
	uint8_t ttl = s->ttl ? s->ttl : 64;
	if (family == AF_INET) {
		buf[l3] = (uint8_t)(0x40 | (iphdr / 4));
		pk_put16(buf + l3 + 2, (uint16_t)(iphdr + l4hdr + s->len));
		pk_put16(buf + l3 + 4, 0x1234);
		pk_put16(buf + l3 + 6, s->frag);
		buf[l3 + 8] = ttl;
		buf[l3 + 9] = (uint8_t)proto;
		inet_pton(AF_INET, s->src, buf + l3 + 12);
		inet_pton(AF_INET, s->dst, buf + l3 + 16);
		for (int i = 0; i < s->ip_opts; i++)
			buf[l3 + 20 + i] = i + 1 == s->ip_opts ? 0 : 1; /* NOP..., EOL */
		pk_put16(buf + l3 + 10, (uint16_t)~pk_fold(pk_sum(buf + l3, iphdr, 0)));
	} else {
		buf[l3] = 0x60;
		pk_put16(buf + l3 + 4, (uint16_t)(iphdr - 40 + l4hdr + s->len));
		buf[l3 + 6] = s->frag ? 44 : (uint8_t)proto;
		buf[l3 + 7] = ttl;
		inet_pton(AF_INET6, s->src, buf + l3 + 8);
		inet_pton(AF_INET6, s->dst, buf + l3 + 24);
		if (s->frag) {
			buf[l3 + 40] = (uint8_t)proto;
			pk_put16(buf + l3 + 42, s->frag);
			buf[l3 + 47] = 0x42; /* identification */
		}
	}
	size_t l4 = l3 + iphdr;
	if (l4hdr) {
		pk_put16(buf + l4, s->sport);
		pk_put16(buf + l4 + 2, s->dport);
	}
	if (proto == IPPROTO_UDP) {
		pk_put16(buf + l4 + 4, (uint16_t)(8 + s->len));
	} else if (proto == IPPROTO_TCP) {
		buf[l4 + 12] = 5 << 4;
		buf[l4 + 13] = s->tcp_flags ? s->tcp_flags : 0x02;
		pk_put16(buf + l4 + 14, 65535);
	}
	if (s->len)
		memcpy(buf + l4 + l4hdr, s->payload, s->len);
	if (proto == IPPROTO_UDP && !s->no_csum)
		pk_put16(buf + l4 + 6, pk_l4_csum(buf, IPPROTO_UDP));
	else if (proto == IPPROTO_TCP)
		pk_put16(buf + l4 + 16, pk_l4_csum(buf, IPPROTO_TCP));
	return total;
}

#endif
