/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps of the XDP program (keys and values: include/kfwd_maps.h). Only
 * xdp_fwd.bpf.c includes this file: every map is defined once. kfwd pins
 * them all, so `bpftool map dump pinned <pin dir>/xdp_flows` shows typed
 * entries.
 */
#ifndef KFWD_XDP_MAPS_H
#define KFWD_XDP_MAPS_H
#include "kfwd_maps.h"

/* UDP flows, one entry per direction. LRU: a full table evicts the idlest
 * entry, whose packets then simply go through kfwd's sockets again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KFWD_XDP_MAX_FLOWS);
	__type(key, struct kfwd_xkey);
	__type(value, struct kfwd_xflow);
} xdp_flows SEC(".maps");

/* kfwd's listeners (UDP and TCP) by address; kfwd keeps it in step with its config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KFWD_XDP_MAX_LSN);
	__type(key, struct kfwd_xlsn_key);
	__type(value, struct kfwd_xlsn);
} xdp_listeners SEC(".maps");

/* allow_sources / deny_sources of every listener, keyed by (slot, family, prefix). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KFWD_XDP_MAX_PREFIXES);
	__type(key, struct kfwd_xsrc_key);
	__type(value, __u32);
} xdp_sources SEC(".maps");

/* New-flow token buckets by (listener slot, source address). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KFWD_XDP_MAX_SOURCES);
	__type(key, struct kfwd_xbucket_key);
	__type(value, struct kfwd_xbucket);
} xdp_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kfwd_xstats);
} xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KFWD_XDP_MAX_LSN);
	__type(key, __u32);
	__type(value, struct kfwd_xlsn_stats);
} xdp_lsn_stats SEC(".maps");

#endif
