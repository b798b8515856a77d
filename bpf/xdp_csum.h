/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Incremental Internet checksum updates (RFC 1624). Sums are taken over the
 * bytes as they lie in the packet, so no byte swapping is needed anywhere:
 * one's complement addition does not care about byte order as long as every
 * term is read the same way.
 */
#ifndef KFWD_XDP_CSUM_H
#define KFWD_XDP_CSUM_H

/* Fold a 64-bit sum of 16-bit words into 16 bits (end-around carries). */
static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). diff is the sum of ~m + m' over
 * every changed word, as bpf_csum_diff(old, new) returns it (or several such
 * sums added up).
 */
static __always_inline __u16 csum_apply(__u16 check, __u64 diff)
{
	return (__u16)~csum_fold64((__u64)(__u16)~check + diff);
}

/* ~m + m' for one changed 16-bit word. */
static __always_inline __u32 csum_word_diff(__u16 old, __u16 new)
{
	return (__u32)(__u16)~old + new;
}

#endif
