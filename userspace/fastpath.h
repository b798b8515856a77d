/*
 * Control of the TCP fast path (bpf/splice.bpf.c): the cgroup, loading and
 * attaching the programs, the pinned maps, the per-socket slots and the flow
 * table. One instance per daemon, shared by the worker threads: every
 * function here may be called from any thread unless it says otherwise.
 *
 * Slot ownership: a slot is taken from the kernel queue `free_slots` by the
 * sockops program (accepted sockets) or by fastpath_want (backend sockets).
 * kfwd claims an accepted socket's slot with fastpath_claim; a slot kfwd
 * holds goes back with fastpath_release, which keeps it out of use for a
 * second or two (fastpath_tick) so that a verdict still running on the old
 * socket cannot touch a new socket's state. An accepted socket that closes
 * before kfwd claims it gets its slot freed by the sockops program.
 */
#ifndef KFWD_FASTPATH_H
#define KFWD_FASTPATH_H
#include "addr.h"
#include "kfwd_maps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fastpath;

struct fastpath_opts {
	const char *instance; /* names the cgroup (kfwd-<instance>) and the pin folder */
	const char *pin_root; /* global.bpf_pin_path: pins go to <pin_root>/<instance>/ */
	uint64_t backlog;     /* the verdict's peer-backlog limit in bytes, 0: none */
	int sndbuf;           /* send buffer of spliced sockets, 0: autotuning */
	int64_t sndbuf_total; /* the most sndbuf bytes handed out at once (per socket), 0: no cap */
};

/*
 * Enter the cgroup, load and attach the programs, pin the maps. Must run
 * before any listening socket exists and before threads start. Leftovers of
 * a crashed instance of the same name (pin folder, cgroup) are removed.
 * Return 0 and set *out, or -errno with the failing step and cause in
 * why[whylen]; nothing is left behind then.
 */
int fastpath_new(const struct fastpath_opts *o, struct fastpath **out, char *why, size_t whylen);
/* Detach, unpin, leave and remove the cgroup. Workers must be gone. NULL is fine. */
void fastpath_free(struct fastpath *fp);

const char *fastpath_cgroup(const struct fastpath *fp);
/* The send buffer a new connection's two sockets get: fastpath_opts.sndbuf
 * while the total allows it (taken for both sockets), else 0 (autotuning).
 * Thread-safe. Give it back with fastpath_sndbuf_put when the connection ends. */
int fastpath_sndbuf_get(struct fastpath *fp);
void fastpath_sndbuf_put(struct fastpath *fp, int sndbuf);
/* Forced send buffer: bytes in use now, the cap (0: none), and connections
 * that got none because of it. */
void fastpath_sndbuf_usage(const struct fastpath *fp, int64_t *used, int64_t *total,
                           uint64_t *refused);
const char *fastpath_pin_dir(const struct fastpath *fp);

/* ---- listeners (main thread) ---- */

/* Tell the sockops program about a TCP listener: id, and whether its
 * accepted sockets take the fast path. Return 0 or -errno. */
int fastpath_port_set(struct fastpath *fp, const struct addr *bind, uint32_t listener, bool fast);
void fastpath_port_del(struct fastpath *fp, const struct addr *bind);

/* ---- sockets ---- */

struct fastpath_sock {
	uint64_t cookie;
	int slot;             /* -1: none */
	struct kfwd_sock *st; /* the slot's shared state, NULL when slot < 0 */
};

/* fd's socket cookie (SO_COOKIE), 0 when it cannot be read (errno says why). */
uint64_t fastpath_cookie(int fd);
/* Accepted socket fd: claim the slot the sockops program gave it.
 * Return 0, or -ENOENT (no slot: the userspace path) / -errno. */
int fastpath_claim(struct fastpath *fp, int fd, struct fastpath_sock *s);
/* Backend socket fd, before connect(): take a slot so that the socket is
 * inserted when it is established. Return 0 or -errno (-ENOSPC: no slot). */
int fastpath_want(struct fastpath *fp, int fd, struct fastpath_sock *s);
/* Whether the socket made it into the sockhash (only then may it be a peer). */
bool fastpath_in_map(struct fastpath *fp, const struct fastpath_sock *s);
/* Let the verdicts of a and b redirect to each other. */
void fastpath_pair(struct fastpath_sock *a, struct fastpath_sock *b);
/* Give the slot back (before or right after closing the socket); s is reset. */
void fastpath_release(struct fastpath *fp, struct fastpath_sock *s);
/* Main thread, about once a second: return slots released two ticks ago. */
void fastpath_tick(struct fastpath *fp);

/* ---- flows ---- */

/* A fresh flow id (never 0). */
uint64_t fastpath_flow_id(struct fastpath *fp);
/*
 * Insert flow id (endpoints and listener from f) and point both sockets'
 * state at it; from then on their verdicts keep its counts. Return 0 or -errno.
 */
int fastpath_flow_add(struct fastpath *fp, uint64_t id, const struct kfwd_flow *f,
                      struct kfwd_sock *in, struct kfwd_sock *out);
void fastpath_flow_del(struct fastpath *fp, uint64_t id);

/* A flow as `kfwd flows` shows it. */
struct fastpath_flow_view {
	uint64_t id;
	uint32_t listener;
	struct addr client, backend;
	uint64_t bytes_in, bytes_out, segs_in, segs_out;
	uint64_t age_ms, idle_ms;
};

/* Call fn for every flow in the table (main thread). Return the count or -errno. */
int fastpath_flows_foreach(struct fastpath *fp,
                           void (*fn)(void *arg, const struct fastpath_flow_view *v), void *arg);
/* Kernel counters summed over CPUs. Return 0 or -errno. */
int fastpath_counters(struct fastpath *fp, struct kfwd_counters *out);

/* ---- pure helpers (no kernel involved; unit-tested) ---- */

void fastpath_endpoint(struct kfwd_endpoint *e, const struct sockaddr *sa);
void fastpath_endpoint_addr(const struct kfwd_endpoint *e, struct addr *out);
void fastpath_port_key(struct kfwd_port_key *k, const struct addr *bind);
/* Prepare a slot's state for a socket kfwd owns from the start (backend). */
void fastpath_sock_init(struct kfwd_sock *st, uint64_t cookie, uint32_t dir);
/* Take a slot the kernel holds for cookie; false if it is gone or not cookie's. */
bool fastpath_sock_claim(struct kfwd_sock *st, uint64_t cookie);
/* Fill a view from a table entry; now_ns is CLOCK_MONOTONIC in ns. */
void fastpath_flow_view(uint64_t id, const struct kfwd_flow *f, uint64_t now_ns,
                        struct fastpath_flow_view *v);
/* The handover rules (see tcp_fast.c). st is the source socket's state, NULL
 * when it has no slot; ubytes what kfwd wrote to the destination. */
/* Bytes sent toward the destination so far: kfwd's writes plus the redirects. */
uint64_t fastpath_sent(const struct kfwd_sock *st, uint64_t ubytes);
/* Whether the destination's send queue holds all of them: queued is its
 * tcpi_bytes_acked + SIOCOUTQ now, qbase the same before anything was sent. */
bool fastpath_caught_up(const struct kfwd_sock *st, uint64_t ubytes, int64_t queued, int64_t qbase);
/* Whether recv() returning 0 ends the stream: every passed byte was read
 * (rbytes); otherwise passed bytes are still on their way to the socket. */
bool fastpath_eof(const struct kfwd_sock *st, uint64_t rbytes);
/*
 * A proxy's hand-over, before fastpath_pair. The verdict redirects once
 * written == passed and keeps peer queues in step by written + redirected;
 * bytes kfwd took part in itself must not break either:
 *  - fastpath_skip: n bytes src passed that kfwd consumed and does not relay
 *    (a CONNECT request head) count as written (and as skipped: the flow's
 *    counts leave them out), and dst's send queue counts
 *    them as already queued (its seq_base moves back by n), so neither the
 *    redirect rule nor the peer's room check waits for bytes never sent.
 *  - fastpath_injected: n bytes kfwd wrote into dst itself (the 200 answer)
 *    are not counted as bytes the peer sent (dst's seq_base moves on by n).
 * dst may be NULL (no slot: nothing to adjust there).
 */
void fastpath_skip(struct kfwd_sock *src, struct kfwd_sock *dst, uint64_t n);
void fastpath_injected(struct kfwd_sock *dst, uint64_t n);
/*
 * Throttle (max_rate_bps): let the verdict redirect at most `allow` bytes in
 * all (redirected + len <= allow); past that it passes to kfwd. Raising
 * allow later lets it redirect again once kfwd has caught up.
 */
void fastpath_limit(struct kfwd_sock *st, uint64_t allow);
/*
 * Cap a flow (max_bytes), before fastpath_pair: both verdicts and kfwd's own
 * reads take what they move from one budget, `left` bytes, kept in the
 * client's slot. A verdict whose skb the budget cannot cover passes it; kfwd
 * then reads exactly what is left (fastpath_budget_take) and the flow ends
 * at the limit, not a byte beyond it.
 */
void fastpath_cap(struct fastpath_sock *cli, struct fastpath_sock *be, uint64_t left);
/* cli: a flow's client slot (may be NULL). Take up to want bytes from its
 * budget: how many it gave (want itself when the flow is not capped). */
uint64_t fastpath_budget_take(struct kfwd_sock *cli, uint64_t want);
/* Give back n bytes taken and not moved (a read returned fewer). */
void fastpath_budget_give(struct kfwd_sock *cli, uint64_t n);
/* What is left of the budget (UINT64_MAX when the flow is not capped). */
uint64_t fastpath_budget_left(const struct kfwd_sock *cli);
/* Counts of one direction from its source socket's state (passed + redirected
 * - skipped). */
void fastpath_count(struct kfwd_count *c, const struct kfwd_sock *st);
uint64_t fastpath_now_ns(void);

#endif
