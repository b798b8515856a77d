/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps of the TCP fast path (see include/kfwd_maps.h for the values). Only
 * splice.bpf.c includes this file: every map is defined once.
 */
#ifndef KFWD_SPLICE_MAPS_H
#define KFWD_SPLICE_MAPS_H
#include "kfwd_maps.h"

/* Fast-path sockets by cookie; the verdict program is attached here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KFWD_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} socks SEC(".maps");

/* TCP listeners by local address; kfwd keeps it in step with its config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KFWD_MAX_PORTS);
	__type(key, struct kfwd_port_key);
	__type(value, struct kfwd_port);
} ports SEC(".maps");

/* Socket cookie -> slot in sockstate. The sockops program adds accepted
 * sockets; kfwd adds a backend socket before connect() ("wanted"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KFWD_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u32);
} slot_of SEC(".maps");

/* Free slots. kfwd pushes all of them at start; whoever frees a slot pushes it back. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, KFWD_MAX_SOCKS);
	__type(value, __u32);
} free_slots SEC(".maps");

/* Per-socket handover state, mmapped by kfwd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KFWD_MAX_SOCKS);
	__type(key, __u32);
	__type(value, struct kfwd_sock);
} sockstate SEC(".maps");

/* Live spliced flows (pinned: `bpftool map dump pinned .../flows`). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KFWD_MAX_FLOWS);
	__type(key, __u64);
	__type(value, struct kfwd_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kfwd_counters);
} counters SEC(".maps");

#endif
