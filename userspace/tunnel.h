/*
 * The QUIC tunnel: one persistent, mutually authenticated QUIC connection
 * (ngtcp2 + wolfSSL) between two kfwd peers, with HTTP/3 framing (nghttp3).
 * TCP connections accepted on listeners with via = "tunnel" travel as HTTP/3
 * CONNECT streams (RFC 9114 section 4.4); the server side dials the target if
 * upstreams.allow permits it. HTTP/1.1 requests on mode "http" listeners
 * travel as HTTP/3 requests, which the server sends to upstreams.http
 * (docs/tunnel.md).
 *
 * Threading: the tunnel runs in its own thread with its own event loop, which
 * owns the UDP socket, every via-tunnel listener and every tunnelled stream.
 * The main thread talks to it only through the functions below.
 */
#ifndef KFWD_TUNNEL_H
#define KFWD_TUNNEL_H
#include "conf.h"

#include <stdbool.h>
#include <stdint.h>

struct tunnel;
struct buf;

/* A consistent copy of the tunnel's state for `kfwd stats`. */
struct tunnel_view {
	const char *role;     /* "client" or "server" */
	const char *state;    /* "connecting", "up", "down" (static strings) */
	char peer[128];       /* the peer's address, or the configured peer */
	char last_error[256]; /* why the last connection failed or ended; "" if none */
	uint64_t rtt_smoothed_us, rtt_min_us;
	uint64_t cwnd, bytes_in_flight;
	uint64_t udp_payload; /* the path's UDP payload size now (PMTU discovery) */
	uint64_t streams_open, streams_total, streams_refused;
	uint64_t connects, reconnects; /* handshakes completed; attempts after the first */
	uint64_t bytes_tx, bytes_rx;   /* UDP payload bytes sent and received */
	uint64_t stream_bytes_up, stream_bytes_down; /* TCP bytes into and out of the tunnel */
	uint64_t key_updates; /* key updates done (initiated or by the peer) */
};

/*
 * Set the tunnel up for c (its tunnel section and every listener with
 * via = "tunnel"): load the TLS credentials, open the UDP socket (server) and
 * the listening sockets. Nothing runs until tunnel_start. c must outlive the
 * tunnel (the daemon keeps its first config for it; the tunnel section is read
 * at start only). Return 0 and set *out, or -errno after logging why.
 */
int tunnel_new(const struct conf *c, struct tunnel **out);
/* Start the tunnel thread. The client connects at once. Return 0 or -errno. */
int tunnel_start(struct tunnel *t);
/* Ask the thread to stop: listeners close, streams may drain for grace_ms, then
 * the QUIC connection closes and the thread exits. Safe from any thread. */
void tunnel_drain(struct tunnel *t, uint64_t grace_ms);
/* Whether the thread has exited (or never started). */
bool tunnel_exited(struct tunnel *t);
/* Join the thread and free everything. NULL is fine. */
void tunnel_free(struct tunnel *t);
/* Copy the current state into v (thread-safe). */
void tunnel_view_get(struct tunnel *t, struct tunnel_view *v);
/* Force a QUIC key update on the live connection (tests and operations).
 * Return 0 if it was requested, -ENOTCONN when the tunnel is not up. */
int tunnel_key_update(struct tunnel *t);
/* Whether listener lc is served by the tunnel rather than by the workers. */
static inline bool tunnel_owns(const struct conf_listener *lc)
{
	return lc->via == VIA_TUNNEL;
}

struct lsn_ctr;
/* The i-th listener with via = "tunnel" (config order) and its counters
 * summed into *sum; false past the last. Thread-safe; NULL t has none. */
bool tunnel_listener(struct tunnel *t, size_t i, const struct conf_listener **lc,
                     struct lsn_ctr *sum);

/* Render v as text or JSON (an object without a leading key) for ctl.c. */
void tunnel_view_text(const struct tunnel_view *v, struct buf *out);
void tunnel_view_json(const struct tunnel_view *v, struct buf *out);

#endif
