/*
 * Everything the BPF programs (bpf/splice.bpf.c) and the daemon (userspace/)
 * share: map keys and values, their sizes, flag bits. Fixed-width types and
 * explicit padding only, so both compilers lay every struct out the same way;
 * there is no second copy of any of these on either side.
 *
 * The TCP fast path ("sockmap splice"), in one paragraph: kfwd's sockets live
 * in a cgroup of their own; a sockops program on it puts every accepted socket
 * of a fastpath listener, and every backend socket kfwd asked for, into a
 * SOCKHASH and gives it a slot in the mmapped array `sockstate`. The stream
 * verdict of the SOCKHASH passes a socket's bytes to kfwd (counted in
 * `passed`) until kfwd has written all of them to the peer (`written`), and
 * from then on redirects them to the peer's socket (`redirected`) unless the
 * peer has no room (see peer_has_room in bpf/splice.bpf.c).
 */
#ifndef KFWD_MAPS_H
#define KFWD_MAPS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Map sizes; override with -D at build time (both sides must agree). */
#ifndef KFWD_MAX_SOCKS
#define KFWD_MAX_SOCKS 65536 /* fast-path sockets: two per flow (slots, sockhash) */
#endif
#ifndef KFWD_MAX_FLOWS
#define KFWD_MAX_FLOWS (KFWD_MAX_SOCKS / 2) /* entries of the flow table */
#endif
#ifndef KFWD_MAX_PORTS
#define KFWD_MAX_PORTS 1024 /* TCP listeners known to the sockops program */
#endif

/* Default cap on bytes redirected to a socket, not yet in its send queue (global fastpath_backlog). */
#define KFWD_BACKLOG_DEFAULT (4u << 20)

/* kfwd_sock.owner: who frees the slot. A socket's cookie is a counter far
 * below 2^63, so the top bit is free to mark "kfwd has it". */
#define KFWD_OWNER_USER (1ull << 63)

/* kfwd_sock.dir */
#define KFWD_DIR_IN  0 /* accepted (client) socket: its bytes go client -> backend */
#define KFWD_DIR_OUT 1 /* backend socket: its bytes go backend -> client */

/* kfwd_port.flags */
#define KFWD_PORT_FAST 0x1 /* insert this listener's accepted sockets */

/*
 * One per fast-path socket, indexed by slot, in a BPF_F_MMAPABLE array that
 * kfwd maps. Each field has one writer:
 *   sockops: cookie, seq_base, owner (set at establishment, cleared when an
 *            unclaimed socket closes)
 *   verdict: passed, redirected, pass_segs, redir_segs, bp_segs, redir_fail,
 *            rcv_seq (set by sockops at insertion, which every socket
 *            in the sockhash went through)
 *   kfwd:    owner (claim), peer, peer_slot, flow_id, dir, written, limited,
 *            allow, skipped, cap_slot; seq_base once before pairing (a
 *            proxy's own bytes, see fastpath_skip and fastpath_injected)
 *   both:    budget, taken only by compare-and-swap (see fastpath_cap)
 * 128 bytes: two sockets never share a cache line.
 */
struct kfwd_sock {
	__u64 cookie;     /* this socket's cookie */
	__u64 owner;      /* cookie: slot held by the kernel; cookie|KFWD_OWNER_USER: by kfwd */
	__u64 peer;       /* peer's cookie; 0: pass everything to kfwd */
	__u64 passed;     /* bytes SK_PASSed to kfwd */
	__u64 written;    /* bytes of `passed` kfwd has written to the peer */
	__u64 redirected; /* bytes redirected to the peer's socket */
	__u64 pass_segs;  /* skbs passed */
	__u64 redir_segs; /* skbs redirected */
	__u32 bp_segs;    /* skbs passed because the peer had no room for them */
	__u32 redir_fail; /* redirects the kernel refused (bytes dropped: flow ends) */
	__u64 flow_id;    /* key in `flows`; 0: none yet */
	__u32 seq_base;   /* write_seq at establishment */
	__u32 peer_slot;  /* peer's slot (valid while peer != 0) */
	__u32 dir;        /* KFWD_DIR_* */
	__u32 limited;    /* 1: redirect only while redirected + len <= allow (max_rate_bps) */
	__u64 allow;      /* with limited: the most bytes the verdict may have redirected */
	__u64 skipped;    /* of passed, bytes kfwd consumed (a CONNECT head), not counted */
	__u32 rcv_seq;    /* TCP sequence number of the next byte the verdict has not seen */
	__u32 cap_slot;   /* max_bytes: 1 + the slot whose `budget` both directions draw from; 0: none */
	__u64 budget;     /* in the client's slot of a capped flow: bytes the flow may still move */
};

/* `ports` key: a TCP listener's address as the sockops program sees it. A
 * wildcard listener has an all-zero addr; exact addresses are looked up first. */
struct kfwd_port_key {
	__u8 family;   /* AF_INET, AF_INET6 */
	__u8 _pad;
	__u16 port;    /* host byte order */
	__u8 addr[16]; /* network byte order; IPv4 in the first 4 bytes */
};

struct kfwd_port {
	__u32 listener; /* listener id (kfwd_flow.listener) */
	__u32 flags;    /* KFWD_PORT_* */
};

struct kfwd_endpoint {
	__u8 family;   /* AF_INET, AF_INET6 */
	__u8 _pad;
	__u16 port;    /* host byte order */
	__u8 addr[16]; /* network byte order; IPv4 in the first 4 bytes */
};

struct kfwd_count {
	__u64 bytes; /* bytes that entered kfwd from this side (passed + redirected) */
	__u64 segs;  /* skbs the verdict saw */
};

/*
 * `flows`, key: __u64 flow id. kfwd inserts the entry when it starts
 * splicing a connection and deletes it when the connection ends. The
 * verdict stores each direction's totals (its socket's passed + redirected,
 * absolute values, never increments) and the time of the last skb.
 * Times are bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC.
 */
struct kfwd_flow {
	struct kfwd_endpoint client;
	struct kfwd_endpoint backend;
	__u32 listener;        /* listener id */
	__u32 _pad;
	__u64 start_ns;        /* when kfwd started splicing */
	__u64 last_ns;         /* last skb seen either way */
	struct kfwd_count in;  /* client -> backend */
	struct kfwd_count out; /* backend -> client */
};

/* `counters`: one per CPU, summed by readers. */
struct kfwd_counters {
	__u64 passive_est;  /* accepted sockets of a fastpath listener established */
	__u64 active_est;   /* backend sockets kfwd asked for established */
	__u64 insert_ok;    /* sockets put into the sockhash */
	__u64 insert_err;   /* sockhash insert refused (the flow stays in userspace) */
	__u64 no_slot;      /* no free slot (the flow stays in userspace) */
	__u64 released;     /* slots of sockets that closed before kfwd took them */
	__u64 bp_pass;      /* skbs passed because the peer had no room for them */
	__u64 redir_fail;   /* bpf_sk_redirect_hash refused */
	__u64 rate_pass;    /* skbs passed because the flow's rate allowance was spent */
	__u64 overlap_skbs; /* skbs that began with bytes the verdict had already seen */
	__u64 overlap_bytes; /* those old bytes, cut off (or the whole skb dropped) */
	__u64 overlap_fail; /* an old head could not be cut off: skb dropped, stream broken */
	__u64 cap_pass;     /* skbs passed because the flow's max_bytes budget could not cover them */
};

/* ==== UDP fast path and XDP front door (bpf/xdp_fwd.bpf.c, userspace/xdp.c) ====
 *
 * One XDP program on every interface of global.interfaces. For a UDP packet
 * whose 5-tuple is in `xdp_flows`, it rewrites addresses, ports and checksums
 * as the entry says and forwards the packet itself (bpf_fib_lookup, then
 * bpf_redirect or XDP_TX). Any other packet to one of kfwd's listeners
 * (`xdp_listeners`) meets the front door: source prefix lists, first-packet
 * classification and sanitizing (UDP), and a per-source token bucket on new
 * flows; what it admits goes on to kfwd's sockets. Everything else passes
 * untouched. Addresses are in network byte order, IPv4 in the first 4 bytes
 * of a 16-byte field; ports are in network byte order too (as on the wire).
 */

/* Map sizes; override with -D at build time (both sides must agree). */
#ifndef KFWD_XDP_MAX_FLOWS
#define KFWD_XDP_MAX_FLOWS 262144 /* entries of xdp_flows: two per UDP flow (LRU) */
#endif
#ifndef KFWD_XDP_MAX_LSN
#define KFWD_XDP_MAX_LSN 256 /* listeners known to XDP; also slots of xdp_lsn_stats */
#endif
#ifndef KFWD_XDP_MAX_PREFIXES
#define KFWD_XDP_MAX_PREFIXES 65536 /* allow/deny prefixes over all listeners */
#endif
#ifndef KFWD_XDP_MAX_SOURCES
#define KFWD_XDP_MAX_SOURCES 262144 /* token buckets, one per (listener, source) (LRU) */
#endif

/* Why the program returned what it did: the index of the reason counters.
 * The program's helpers return them negated; one exit point turns each into
 * its verdict (kfwd_xdp_verdict_of in the program) and counts it. */
enum kfwd_xreason {
	KFWD_XR_FORWARD,      /* flow rewritten, redirected to another interface */
	KFWD_XR_HAIRPIN,      /* flow rewritten, sent back out of its interface (XDP_TX) */
	/* passed to the stack, untouched */
	KFWD_XR_NOT_IP,       /* neither IPv4 nor IPv6 (ARP, LLDP, ...) */
	KFWD_XR_FRAGMENT,     /* an IP fragment: reassembly is the stack's job */
	KFWD_XR_OTHER_L4,     /* neither UDP nor TCP, or IPv6 extension headers */
	KFWD_XR_NOT_OURS,     /* no flow and no listener: not kfwd's packet */
	KFWD_XR_NEW_FLOW,     /* UDP to a listener, admitted: kfwd's socket takes it */
	KFWD_XR_TCP,          /* TCP to a listener, admitted */
	KFWD_XR_USERSPACE,    /* a flow kfwd forwards itself (e.g. IPv4 client, IPv6 backend) */
	KFWD_XR_NO_FORWARD,   /* a flow, but forwarding in XDP is off (xdp_forward = false) */
	KFWD_XR_VLAN,         /* a flow's packet came VLAN-tagged: the stack's path */
	KFWD_XR_TTL,          /* TTL / hop limit would run out: the stack answers */
	KFWD_XR_FIB_NO_NEIGH, /* next hop's MAC not known yet: this packet goes via kfwd */
	KFWD_XR_FIB_FWD_OFF,  /* IP forwarding off on the interface (sysctl) */
	KFWD_XR_FIB_MTU,      /* larger than the egress MTU: kfwd's socket fragments */
	KFWD_XR_FIB_OTHER,    /* no route, blackhole, unreachable, ... */
	KFWD_XR_CSUM_PARTIAL, /* checksum left to offload (sender on this host, e.g. a veth
			       * peer): XDP cannot complete it, kfwd's socket takes it */
	/* dropped */
	KFWD_XR_TRUNCATED,    /* a header ends beyond the frame */
	KFWD_XR_BAD_HEADER,   /* IPv4 IHL < 5, TCP data offset < 5, version mismatch */
	KFWD_XR_BAD_LENGTH,   /* IP or UDP length field disagrees with the frame */
	KFWD_XR_UDP6_NO_CSUM, /* UDP over IPv6 with checksum 0 (RFC 8200 forbids it) */
	KFWD_XR_DENIED,       /* source in deny_sources */
	KFWD_XR_NOT_ALLOWED,  /* source outside allow_sources */
	KFWD_XR_SANITIZE,     /* UDP payload of a kind the listener does not accept */
	KFWD_XR_RATE,         /* the source opens new flows faster than new_flow_rate */
	KFWD_XR_ERROR,        /* the program failed (map or helper error): aborted */
	KFWD_XR__MAX
};

/* What the first packet of an unknown UDP flow looks like. */
enum kfwd_xclass {
	KFWD_XCLS_QUIC1,     /* QUIC v1 long-header Initial (version 0x00000001) */
	KFWD_XCLS_QUIC2,     /* QUIC v2 long-header Initial (version 0x6b3343cf, type 0b01) */
	KFWD_XCLS_WIREGUARD, /* WireGuard handshake initiation (type 1, 148 bytes) */
	KFWD_XCLS_OTHER,     /* anything else, including QUIC short headers */
	KFWD_XCLS__MAX
};

/* kfwd_xlsn.accept bits: classes a sanitizing listener lets through. */
#define KFWD_XACCEPT_QUIC      ((1u << KFWD_XCLS_QUIC1) | (1u << KFWD_XCLS_QUIC2))
#define KFWD_XACCEPT_WIREGUARD (1u << KFWD_XCLS_WIREGUARD)
#define KFWD_XACCEPT_OTHER     (1u << KFWD_XCLS_OTHER)

#define KFWD_QUIC_V1 0x00000001u
#define KFWD_QUIC_V2 0x6b3343cfu
#define KFWD_QUIC_MIN_INITIAL 1200 /* RFC 9000 14.1: smaller client Initials are dropped */
#define KFWD_WG_INITIATION_LEN 148

/* `xdp_flows` key: one direction of a flow, as the packet arrives. */
struct kfwd_xkey {
	__u8 family;    /* AF_INET, AF_INET6 */
	__u8 proto;     /* IPPROTO_UDP */
	__u16 _pad;
	__u16 sport;    /* network byte order */
	__u16 dport;    /* network byte order */
	__u8 saddr[16];
	__u8 daddr[16];
};

/* kfwd_xflow.dir */
#define KFWD_XDIR_IN  0 /* client -> backend */
#define KFWD_XDIR_OUT 1 /* backend -> client */

/* kfwd_xflow.flags */
#define KFWD_XF_USERSPACE 0x1 /* no rewrite: pass to kfwd, which forwards it (mixed families) */

/*
 * `xdp_flows` value. kfwd writes it once (both directions of a flow when it
 * takes the flow's first datagram) and deletes it when the flow expires; the
 * program only adds to packets/bytes and stores last_ns.
 */
struct kfwd_xflow {
	__u8 saddr[16];   /* source after the rewrite */
	__u8 daddr[16];   /* destination after the rewrite */
	__u16 sport;      /* network byte order */
	__u16 dport;      /* network byte order */
	__u16 lsn_slot;   /* listener's slot in xdp_lsn_stats */
	__u8 dir;         /* KFWD_XDIR_* */
	__u8 flags;       /* KFWD_XF_* */
	__u32 listener;   /* listener id */
	__u32 _pad;
	__u64 packets;    /* forwarded by the program */
	__u64 bytes;      /* of those, bytes from the IP header on */
	__u64 last_ns;    /* last packet seen (bpf_ktime_get_ns, CLOCK_MONOTONIC) */
	__u64 created_ns; /* when kfwd installed it */
};

/* `xdp_listeners` key: where a listener takes packets. A wildcard listener
 * has an all-zero addr; the exact address is looked up first. */
struct kfwd_xlsn_key {
	__u8 family;   /* AF_INET, AF_INET6 */
	__u8 proto;    /* IPPROTO_UDP, IPPROTO_TCP */
	__u16 port;    /* network byte order */
	__u8 addr[16];
};

/* kfwd_xlsn.flags */
#define KFWD_XLSN_SANITIZE  0x1 /* UDP: drop new flows whose class is not in accept */
#define KFWD_XLSN_SOURCES   0x2 /* look the source up in xdp_sources */
#define KFWD_XLSN_ALLOWLIST 0x4 /* a source no prefix matches is refused */

struct kfwd_xlsn {
	__u32 listener; /* listener id */
	__u16 slot;     /* its slot: xdp_lsn_stats index, xdp_sources/xdp_buckets key part */
	__u16 flags;    /* KFWD_XLSN_* */
	__u32 accept;   /* KFWD_XACCEPT_* bits, with KFWD_XLSN_SANITIZE */
	__u32 _pad;
	__u64 rate_ns;  /* token bucket: ns between new flows (1e9 / new_flow_rate); 0: off */
	__u64 burst_ns; /* (new_flow_burst - 1) * rate_ns: how far ahead a source may run */
};

/* `xdp_sources` (LPM trie) key. The data compared is slot_be (32 bits),
 * family (8 bits), then the address: prefixlen = 40 + the prefix's length. */
struct kfwd_xsrc_key {
	__u32 prefixlen;
	__u32 slot_be;  /* listener slot, big endian so that it compares first */
	__u8 family;    /* AF_INET, AF_INET6 */
	__u8 addr[16];
	__u8 _pad[3];
};
#define KFWD_XSRC_PREFIX_BASE 40 /* bits of slot_be + family */

/* xdp_sources value: the longest matching prefix decides. */
#define KFWD_XSRC_ALLOW 1
#define KFWD_XSRC_DENY  2

/* `xdp_buckets` (LRU hash): the new-flow token bucket of one source. */
struct kfwd_xbucket_key {
	__u16 slot;     /* listener slot */
	__u8 family;
	__u8 _pad;
	__u8 addr[16];
};

struct kfwd_xbucket {
	__u64 tat_ns;   /* GCRA theoretical arrival time of the next new flow */
	__u64 dropped;  /* new flows refused */
};

/* XDP actions, as counted (XDP_ABORTED .. XDP_REDIRECT). */
#define KFWD_XV__MAX 5

/* `xdp_stats`: one per CPU, summed by readers. */
struct kfwd_xstats {
	__u64 verdict[KFWD_XV__MAX];   /* by XDP action */
	__u64 reason[KFWD_XR__MAX];    /* by enum kfwd_xreason */
};

/* `xdp_lsn_stats`: per listener slot and CPU. */
struct kfwd_xlsn_stats {
	__u64 cls[KFWD_XCLS__MAX];     /* first packets of unknown UDP flows, by class */
	__u64 reason[KFWD_XR__MAX];    /* this listener's packets, by reason */
	__u64 fwd_packets[2];          /* forwarded by XDP, by KFWD_XDIR_* */
	__u64 fwd_bytes[2];
};
/* ==== end of the UDP fast path / XDP front door section ==== */

#endif
