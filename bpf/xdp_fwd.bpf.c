// SPDX-License-Identifier: GPL-2.0
/*
 * kfwd's XDP program, attached to every interface of global.interfaces: the
 * UDP fast path for flows kfwd installed (xdp_flow.h) and the front door for
 * packets to kfwd's listeners (xdp_door.h). Parsing is in xdp_parse.h; each
 * step returns a negated enum kfwd_xreason, and the one exit point below
 * turns the reason into the verdict and counts both.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_door.h"
#include "xdp_flow.h"
#include "xdp_maps.h"
#include "xdp_parse.h"

/* Set by kfwd before load (global.xdp_forward): 0 keeps installed flows on
 * kfwd's sockets, so that the program is only a front door. */
const volatile __u8 forward_udp = 1;
/* Smallest datagram that counts as a client's QUIC Initial. */
const volatile __u32 quic_min_initial = KFWD_QUIC_MIN_INITIAL;

static __always_inline int verdict_of(int reason)
{
	switch (reason) {
	case KFWD_XR_FORWARD:
		return XDP_REDIRECT;
	case KFWD_XR_HAIRPIN:
		return XDP_TX;
	case KFWD_XR_ERROR:
		return XDP_ABORTED;
	default:
		return reason >= KFWD_XR_TRUNCATED ? XDP_DROP : XDP_PASS;
	}
}

/* The one exit point: verdict and counters for reason (and the listener's slot, if any). */
static __always_inline int finish(int reason, int slot)
{
	struct kfwd_xlsn_stats *ls;
	struct kfwd_xstats *s;
	__u32 key = 0;
	int act;

	if (reason < 0 || reason >= KFWD_XR__MAX)
		reason = KFWD_XR_ERROR;
	act = verdict_of(reason);
	s = bpf_map_lookup_elem(&xdp_stats, &key);
	if (s) {
		s->reason[reason]++;
		if (act >= 0 && act < KFWD_XV__MAX)
			s->verdict[act]++;
	}
	if (slot >= 0) {
		key = slot;
		ls = bpf_map_lookup_elem(&xdp_lsn_stats, &key);
		if (ls)
			ls->reason[reason]++;
	}
	return act;
}

static __always_inline int handle(struct xdp_md *ctx, int *slot)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct pkt p = {.end = c.end};
	int rc;

	rc = parse_packet(&c, &p);
	if (rc)
		return rc;
	if (p.udp) {
		rc = flow_path(ctx, &p, slot, forward_udp);
		if (rc <= 0)
			return rc;
	}
	return front_door(&p, slot, quic_min_initial);
}

SEC("xdp")
int kfwd_xdp(struct xdp_md *ctx)
{
	int slot = -1;

	return finish(-handle(ctx, &slot), slot);
}

char LICENSE[] SEC("license") = "GPL";
