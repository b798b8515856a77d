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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conn_state { C_CONNECTING, C_RELAY, C_CLOSED };

struct leg {
	struct loop_io io;
	bool rd; /* readable (or EOF/error pending) as far as we know */
	bool wr; /* writable as far as we know */
};

/* One direction of the splice(2) relay. */
struct dir {
	int pipe[2];
	size_t inpipe; /* bytes held in the pipe */
	size_t cap;    /* pipe capacity */
	bool eof;      /* source sent FIN */
	bool shut;     /* FIN passed on to the destination */
	uint64_t bytes; /* delivered to the destination, for this connection's log */
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
	struct loop_timer timer; /* connect timeout, then idle timeout */
	struct loop_pending pend;
	struct tcp_conn *prev, *next;
};

/*
 * End the connection (tcp.c). reason is an enum stats_err or -1 for a normal
 * end; reset_cli / reset_be choose RST over FIN for each side.
 */
void tcp_conn_close(struct tcp_conn *c, int reason, bool reset_cli, bool reset_be);

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

/* proxy.c: a tunnel relayed by tcp.c ended (reason as in tcp_conn_close):
 * log it and free c->px. */
void proxy_tunnel_end(struct tcp_conn *c, int reason);

/* Pumps report a failed socket as TCP_FAIL_SRC or TCP_FAIL_DST of their direction. */
#define TCP_FAIL_SRC (-1)
#define TCP_FAIL_DST (-2)

/* ---- tcp_fast.c ---- */

/* Right after accept (and after a setsockopt that took the socket lock, so
 * the sockops program has run): claim the client socket's slot. Sets c->fast
 * when the connection takes the fast path. Return 0, or -ENOMEM: the
 * connection cannot be served and must be closed. */
int tcp_fast_accept(struct tcp_conn *c);
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
/* Called by tcp_conn_close before the sockets are closed: final counts,
 * slots back, flow entry gone; frees c->fast. */
void tcp_fast_close(struct tcp_conn *c);

#endif
