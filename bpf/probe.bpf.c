// SPDX-License-Identifier: GPL-2.0
/*
 * Capability probe: the smallest program of the kind the TCP fast path needs
 * (an sk_skb stream verdict over a sockhash). kfwd loads it at start; if the
 * kernel refuses it, every listener runs on the userspace path and stats say why.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_socks SEC(".maps");

SEC("sk_skb/stream_verdict")
int probe_verdict(struct __sk_buff *skb)
{
	__u32 key = 0;
	return bpf_sk_redirect_hash(skb, &probe_socks, &key, 0);
}

char LICENSE[] SEC("license") = "GPL";
