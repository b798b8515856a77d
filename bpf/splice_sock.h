/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers of the TCP fast path over the maps of splice_maps.h. */
#ifndef KFWD_SPLICE_SOCK_H
#define KFWD_SPLICE_SOCK_H
#include "splice_maps.h"

#define AF_INET  2
#define AF_INET6 10

#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))

#define count(field)                                                                               \
	do {                                                                                       \
		__u32 _z = 0;                                                                      \
		struct kfwd_counters *_c = bpf_map_lookup_elem(&counters, &_z);                   \
		if (_c)                                                                            \
			_c->field++;                                                               \
	} while (0)

#define count_add(field, n)                                                                        \
	do {                                                                                       \
		__u32 _z = 0;                                                                      \
		struct kfwd_counters *_c = bpf_map_lookup_elem(&counters, &_z);                   \
		if (_c)                                                                            \
			_c->field += (n);                                                          \
	} while (0)

static __always_inline struct kfwd_sock *sock_state(__u32 slot)
{
	return bpf_map_lookup_elem(&sockstate, &slot);
}

/* The state of the socket with this cookie, if it has a slot. */
static __always_inline struct kfwd_sock *sock_of(__u64 cookie)
{
	__u32 *slot = bpf_map_lookup_elem(&slot_of, &cookie);
	return slot ? sock_state(*slot) : NULL;
}

/* A fresh slot for an accepted socket, held by the kernel until kfwd claims it. */
static __always_inline void sock_init(struct kfwd_sock *st, __u64 cookie, __u32 dir)
{
	st->cookie = cookie;
	st->peer = 0;
	st->passed = 0;
	st->written = 0;
	st->redirected = 0;
	st->pass_segs = 0;
	st->redir_segs = 0;
	st->bp_segs = 0;
	st->redir_fail = 0;
	st->flow_id = 0;
	st->peer_slot = 0;
	st->dir = dir;
	st->limited = 0;
	st->allow = 0;
	st->skipped = 0;
	st->cap_slot = 0;
	st->budget = 0;
	st->owner = cookie;
}

static __always_inline void slot_free(__u32 slot)
{
	bpf_map_push_elem(&free_slots, &slot, 0);
}

/*
 * Store the socket's totals into its flow entry. Absolute values, not
 * increments: kfwd may replace the entry while we run, and the next skb
 * repairs whatever a replaced entry missed.
 */
static __always_inline void flow_touch(struct kfwd_sock *st)
{
	__u64 id = READ_ONCE_U64(st->flow_id);
	struct kfwd_flow *f;
	struct kfwd_count *c;

	if (!id)
		return;
	f = bpf_map_lookup_elem(&flows, &id);
	if (!f)
		return;
	c = st->dir == KFWD_DIR_OUT ? &f->out : &f->in;
	c->bytes = st->passed + st->redirected - st->skipped;
	c->segs = st->pass_segs + st->redir_segs;
	f->last_ns = bpf_ktime_get_ns();
}

#endif
