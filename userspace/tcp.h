/*
 * TCP forward internals shared by tcp.c (accept, backend connect, the
 * splice(2) relay of the userspace path) and tcp_fast.c (the relay of
 * connections the kernel splices: the handover of passed bytes, EOF and
 * drain before FIN). A connection is on one relay for its whole life,
 * decided at accept: the fast one iff the sockops program gave its client
 * socket a slot.
 */
#ifndef KFWD_TCP_H
#define KFWD_TCP_H
#include "daemon.h"
#include "fastpath.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conn_state {
	C_CONNECTING,
	C_RELAY,
	C_LINGER, /* max_bytes reached: writes shut, the peers take what was relayed, see tcp.c */
	C_CLOSED,
};

struct leg {
	struct loop_io io;
	bool rd;    /* readable (or EOF/error pending) as far as we know */
	bool wr;    /* writable as far as we know */
	bool ended; /* C_LINGER: the peer's stream ended (FIN or error) */
};

/* One direction of the splice(2) relay. */
struct dir {
	int pipe[2];
	size_t inpipe; /* bytes held in the pipe */
	size_t cap;    /* pipe capacity */
	bool eof;      /* source sent FIN */
	bool shut;     /* FIN passed on to the destination */
	uint64_t bytes; /* delivered to the destination, for this connection's log */
	uint64_t in;    /* read from the source (max_rate_bps counts these) */
	struct policy_bucket bucket; /* max_rate_bps */
};

struct tcp_fast;
struct proxy_tunnel;

struct tcp_conn {
	struct worker *w;
	struct wlsn *wl;
	struct conf_listener *lc;
	enum conn_state state;
	struct leg cli, be;
	struct dir up;         /* client -> backend */
	struct dir down;       /* backend -> client */
	struct tcp_fast *fast; /* the kernel splices this one; NULL: splice(2) relay */
	struct proxy_tunnel *px; /* a CONNECT tunnel's log record (owned), or NULL */
	size_t backend;        /* index being tried */
	uint64_t last_active;
	struct policy_state pol;      /* max_lifetime_ms, max_bytes, min_rate_bpm */
	bool spliced;                 /* the kernel carried it (for the access log's path) */
	struct loop_timer timer;      /* connect timeout, idle timeout and policy checks, linger */
	uint64_t linger_end;          /* C_LINGER: close by then even if bytes are still queued */
	unsigned linger_ms;           /* C_LINGER: the next look at the send queues */
	struct loop_timer rate_timer; /* max_rate_bps: read again when the bucket refills */
	struct loop_pending pend;
	struct tcp_conn *prev, *next;
};

/*
 * End the connection (tcp.c). reason is an enum stats_err or -1 for a normal
 * end; reset_cli / reset_be choose RST over FIN for each side.
 */
void tcp_conn_close(struct tcp_conn *c, int reason, bool reset_cli, bool reset_be);

/* A relay policy limit (reason ERR_MAX_LIFETIME, ERR_MAX_BYTES, ERR_MIN_RATE,
 * ERR_IDLE_TIMEOUT) ends the connection: log it (the client's address only
 * where the listener may name it), count it, close. */
void tcp_conn_policy_close(struct tcp_conn *c, int why);

/* One side reset (or failed hard): count it and pass the reset on to the other
 * side. client: whether the client's socket is the one that failed. */
void tcp_conn_reset_by(struct tcp_conn *c, bool client);

/*
 * Relay between two connected sockets on the userspace path, for a flow that
 * another module set up on wl (the CONNECT proxy): the flow was already
 * counted (wlsn_flow_begin) and the new connection takes
 * those over. early[0..n) goes into the relay's pipe, ahead of every byte
 * read from cli_fd (n <= 1 MiB). px (may be NULL) is owned by the connection,
 * even on failure, and handed to proxy_tunnel_end at close. The fds are
 * owned too. Return 0, or -ENOMEM (the flow is closed and uncounted).
 */
int tcp_relay_adopt(struct wlsn *wl, int cli_fd, int be_fd, const char *early, size_t n,
                    struct proxy_tunnel *px);

/* What a proxy hands to the relay besides the two sockets (tcp_relay_handover). */
struct tcp_handover {
	const char *early;        /* client bytes read behind the request head, sent first */
	size_t n;                 /* their count, <= 1 MiB */
	struct fastpath_sock cli; /* the client socket's claimed slot (slot -1: none) */
	struct fastpath_sock be;  /* the target socket's slot (slot -1: none) */
	uint64_t consumed;        /* client bytes kfwd read and does not relay (the head) */
	uint64_t replied;         /* bytes kfwd wrote to the client itself (the 200) */
};

/*
 * tcp_relay_adopt with slots: when h->cli has a slot, the connection takes
 * the fast relay (the client socket is in the sockhash, where only recv()
 * reads it) and, when h->be has one too, is spliced by the kernel after the
 * early bytes. The slots are owned by the relay from here, even on failure;
 * h itself (and early) only for the call. Return 0 or -ENOMEM, as above.
 */
int tcp_relay_handover(struct wlsn *wl, int cli_fd, int be_fd, struct tcp_handover *h,
                       struct proxy_tunnel *px);

/* proxy.c: a tunnel relayed by tcp.c ended (reason as in tcp_conn_close):
 * log it and free c->px. */
void proxy_tunnel_end(struct tcp_conn *c, int reason);

/* The relay started or a check ran: arm c->timer for the next idle or policy check. */
void tcp_relay_timers(struct tcp_conn *c);

/* Pumps report a failed socket as TCP_FAIL_SRC or TCP_FAIL_DST of their direction. */
#define TCP_FAIL_SRC (-1)
#define TCP_FAIL_DST (-2)

/* ---- tcp_fast.c ---- */

/* Right after accept (and after a setsockopt that took the socket lock, so
 * the sockops program has run): claim the client socket's slot. Sets c->fast
 * when the connection takes the fast path. Return 0, or -ENOMEM: the
 * connection cannot be served and must be closed. */
int tcp_fast_accept(struct tcp_conn *c);
/* An accepted socket with a claimed slot: make the verdict see the bytes that
 * arrived before accept() (SO_RCVLOWAT). */
void tcp_fast_kick(int fd);
/* Backend socket fd created, not yet connected: ask for its slot. */
void tcp_fast_backend(struct tcp_conn *c, int fd);
/* That backend socket failed and is about to be closed: give its slot back. */
void tcp_fast_backend_drop(struct tcp_conn *c);
/* The backend is connected: pair the sockets and start relaying. */
void tcp_fast_start(struct tcp_conn *c);
/* An event on a leg of a relaying fast connection (after the reset check). */
void tcp_fast_event(struct tcp_conn *c, struct leg *leg, uint32_t ev);
/* Run the relay (after a pending turn). */
void tcp_fast_pump(struct tcp_conn *c);
/* Add the bytes moved since the last call to the listener counters; stamp
 * last_active if any moved. */
void tcp_fast_fold(struct tcp_conn *c);
/* Called by tcp_conn_close before the sockets are closed: final counts
 * (into c->up.bytes, c->down.bytes, c->spliced), slots back, flow entry gone;
 * frees c->fast. */
void tcp_fast_close(struct tcp_conn *c);
/* A proxy's hand-over (tcp_relay_handover): set c->fast from h. Return 0, or
 * -ENOMEM with h's slots released. */
int tcp_fast_adopt(struct tcp_conn *c, struct tcp_handover *h);
/* Stop relaying for good (the connection lingers, then closes): no more
 * pumping; the counts are folded into the stats. */
void tcp_fast_stop(struct tcp_conn *c);
/* Bytes relayed so far, both directions summed (kernel and kfwd). */
uint64_t tcp_fast_total(struct tcp_conn *c);
/* How often policy limits are checked on a spliced connection (ms). */
#define TCP_FAST_POLICY_MS 100
/* max_bytes: how long a connection waits for its peers to take the bytes
 * relayed up to the limit before it is closed regardless (ms). */
#define TCP_LINGER_MS 5000

#endif
