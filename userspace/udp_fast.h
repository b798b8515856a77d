/*
 * UDP flows in the XDP program's flow table (xdp_flows): what udp.c installs
 * after a flow's first datagram, refreshes for idle expiry and removes at
 * the end, and what `kfwd flows` lists. Any thread.
 *
 * A flow has two entries. In: client -> the address it wrote to (the
 * listener), rewritten to gateway -> backend, where "gateway" is the local
 * address and port of kfwd's connected socket towards the backend. Out:
 * backend -> gateway, rewritten to listener -> client. The connected socket
 * stays open: it holds the port, and it carries whatever the program passes
 * up instead of forwarding (fragments, unknown next hops, ...).
 */
#ifndef KFWD_UDP_FAST_H
#define KFWD_UDP_FAST_H
#include "addr.h"
#include "kfwd_maps.h"

#include <stdbool.h>
#include <stdint.h>

struct xdp_ctl;

/* The keys of one flow's entries, kept by udp.c for refresh and removal. */
struct udp_fast {
	struct kfwd_xkey in, out;
	bool has_in, has_out;
};

/* What one flow's entries hold, for installing them. */
struct udp_fast_spec {
	struct addr client;   /* the client's address and port */
	struct addr listener; /* where the client wrote to (address and port) */
	struct addr gateway;  /* kfwd's connected socket towards the backend (getsockname) */
	struct addr backend;
	uint32_t listener_id;
	int slot; /* listener's XDP slot */
};

/*
 * Fill both entries for s (pure). A flow whose client and backend sides
 * differ in family cannot be rewritten in XDP: it gets an In entry only,
 * marked KFWD_XF_USERSPACE, so the front door knows it is established.
 * now_ns: CLOCK_MONOTONIC, for created_ns and last_ns.
 */
void udp_fast_entries(const struct udp_fast_spec *s, uint64_t now_ns, struct udp_fast *h,
                      struct kfwd_xflow *in, struct kfwd_xflow *out);
/* Install the entries of s; h remembers their keys. Return 0 or -errno. */
int udp_fast_install(struct xdp_ctl *x, const struct udp_fast_spec *s, struct udp_fast *h);
/* Remove the entries (either may be gone already: LRU). h is reset. */
void udp_fast_remove(struct xdp_ctl *x, struct udp_fast *h);
/* The latest last_ns of the entries (CLOCK_MONOTONIC ns), 0 if none is left. */
uint64_t udp_fast_last_ns(struct xdp_ctl *x, const struct udp_fast *h);

/* A flow as `kfwd flows` shows it. */
struct udp_fast_view {
	uint32_t listener;
	struct addr client, listener_addr, gateway, backend;
	bool userspace; /* KFWD_XF_USERSPACE: kfwd forwards it itself */
	uint64_t packets_in, bytes_in, packets_out, bytes_out; /* forwarded by XDP */
	uint64_t age_ms, idle_ms;
};

/* Call fn for every flow (its In entry with its Out entry). Return the count or -errno. */
int udp_fast_foreach(struct xdp_ctl *x, void (*fn)(void *arg, const struct udp_fast_view *v),
                     void *arg);

/* Pure helpers (unit-tested). */
void udp_fast_key_addr(const struct kfwd_xkey *k, bool src, struct addr *out);
void udp_fast_view_of(const struct kfwd_xkey *k, const struct kfwd_xflow *in,
                      const struct kfwd_xflow *out, uint64_t now_ns, struct udp_fast_view *v);
/* The key of the Out entry that belongs to the In entry (k, in). */
void udp_fast_reverse_key(const struct kfwd_xkey *k, const struct kfwd_xflow *in,
                          struct kfwd_xkey *rk);

#endif
