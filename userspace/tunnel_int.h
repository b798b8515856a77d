/*
 * Internals shared by tunnel.c (connection lifecycle, UDP I/O), tunnel_tls.c
 * (wolfSSL), tunnel_h3.c (nghttp3 glue) and tunnel_stream.c (TCP <-> HTTP/3
 * CONNECT relay). Everything here runs on the tunnel thread only.
 */
#ifndef KFWD_TUNNEL_INT_H
#define KFWD_TUNNEL_INT_H
#include "addr.h"
#include "conf.h"
#include "loop.h"
#include "tunnel.h"

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
#include <pthread.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define TUN_SCID_LEN  18           /* bytes of our connection IDs */
#define TUN_UP_CAP    (256u << 10) /* TCP -> QUIC ring per stream (power of two) */
#define TUN_TX_BATCH  10           /* datagrams per GSO send */
#define TUN_RX_BUF    (64u << 10)  /* one GRO super-datagram */
#define TUN_MAX_CONNS 8            /* server: live connections at once */

enum tconn_state { TC_HANDSHAKE, TC_UP, TC_CLOSING, TC_DEAD };

struct tstream;

/* One QUIC connection (client: at most one; server: one per handshake). */
struct tconn {
	struct tunnel *t;
	ngtcp2_conn *conn;
	WOLFSSL *ssl;
	ngtcp2_crypto_conn_ref ref;
	nghttp3_conn *h3;
	enum tconn_state state;
	struct addr local, remote;
	struct loop_timer timer;    /* ngtcp2 expiry (loss, ack, idle, pacing) */
	struct loop_timer hs_timer; /* handshake deadline */
	struct tstream *streams;    /* every stream bound to this connection */
	int nstreams;
	ngtcp2_ccerr ccerr;      /* what we close with */
	uint64_t close_deadline; /* closing/draining period end, loop ms */
	int ecn;                 /* the TOS byte last set on the socket */
	ngtcp2_cid odcid;        /* server: the client's first DCID (its Initials use it) */
	bool was_up;             /* the handshake completed and the peer was verified */
	unsigned key_gens;       /* update_key calls (the first is not a key update) */
	bool dirty;              /* packets arrived: write after the batch */
	bool close_queued;       /* tconn_fail deferred the teardown */
	bool freed_streams;
	struct loop_pending tx_more; /* a full send quantum went out: continue */
	char why[256];               /* why it closes */
	char tls_why[256];           /* set by the verify callback when it refuses */
	bool counted_streams;        /* its streams were folded into the stats */
	struct tconn *next;
};

/* A listener with via = "tunnel" (client side). */
struct tlsn {
	struct loop_io io;
	struct tunnel *t;
	struct conf_listener *lc;
	struct tlsn *next;
};

struct dns;

struct tunnel {
	const struct conf *conf;
	const struct conf_tunnel *tc;
	bool server;
	struct loop *loop;
	pthread_t thread;
	bool started;
	int exited;           /* atomic */
	struct loop_io cmdio; /* eventfd: commands from other threads */
	pthread_mutex_t mu;   /* guards cmd flags and view */
	bool cmd_drain, cmd_key_update;
	uint64_t drain_grace_ms;
	bool draining;
	struct loop_timer drain_timer;
	struct tunnel_view view; /* published copy, under mu */
	struct loop_timer stats_timer;

	WOLFSSL_CTX *ssl_ctx;
	struct loop_io udp;          /* the QUIC socket (client: per attempt) */
	struct loop_pending rx_more; /* the receive budget ran out: read on */
	struct loop_pending flush;   /* connections marked dirty write */
	uint8_t reset_secret[32];    /* stateless reset tokens */
	struct addr bind;            /* server: bound address */
	bool pktinfo; /* server on a wildcard address: answer from the address each peer used */
	bool gso, gro;
	uint8_t *txbuf, *rxbuf;
	struct tconn *conns;
	struct tconn *client;        /* client: the connection, NULL when down */
	struct loop_timer reconnect; /* client: next attempt */
	bool first_attempt_done;

	struct tlsn *lsns;
	struct acl *allow; /* server: upstreams.allow compiled */
	struct dns *dns;   /* server: resolver of dialled targets, NULL until first used */

	/* counters, folded into view */
	struct tunnel_view st;
	const char *state;
	char last_error[256];
	char peer[128];
};

/* ---- tunnel_io.c ---- */
uint64_t tun_ts(void); /* ngtcp2 timestamp (ns, monotonic) */
/* A UDP socket with the tunnel's options. Return fd or -errno. */
int tio_socket(struct tunnel *t, int family);
/* Send what the connection has to send (streams, acks), re-arm its timer. On
 * a fatal error the connection is closed; return 0 or -errno. */
int tconn_write(struct tconn *c);
void tconn_timer_cb(struct loop *l, struct loop_timer *tm);
void tconn_tx_more_cb(struct loop *l, struct loop_pending *p);
void tio_recv_cb(struct loop *l, struct loop_io *io, uint32_t events);

/* ---- tunnel.c ---- */
/* Close the connection (CONNECTION_CLOSE sent) after the current batch, with
 * a reason for the log and `last_error`. */
void tconn_fail(struct tconn *c, const char *why);
/* The connection is over without a close to send (idle, peer closed). */
void tconn_gone(struct tconn *c, const char *why);
/* ngtcp2_conn_read_pkt failed with rv: close accordingly. */
void tconn_read_error(struct tconn *c, int rv);
/* Server: a packet for no connection; accept it if it is a valid Initial.
 * to: the local address it arrived at (t->bind unless t->pktinfo). */
struct tconn *tconn_accept(struct tunnel *t, const struct addr *from, const struct addr *to,
                           const uint8_t *pkt, size_t len);
/* Write every connection that received packets; free closed ones. */
void tun_flush(struct tunnel *t);
/* Have c write after this loop iteration (credit or stream data to send). */
void tun_kick(struct tconn *c);
/* A stream ended: a draining tunnel may be done. */
void tun_stream_gone(struct tunnel *t);
void tun_set_error(struct tunnel *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usable client connection, or NULL when the tunnel is not up. */
struct tconn *tun_client_up(struct tunnel *t);

/* ---- tunnel_tls.c ---- */
/* Build the wolfSSL context for t's role from tc.tls. Return 0 or -errno (logged). */
int ttls_ctx_new(struct tunnel *t);
/* The session for a new connection c. Return 0 or -errno. */
int ttls_session_new(struct tconn *c);
/* After the handshake: check the peer's certificate (present, chain verified,
 * name = peer_name). Return 0, or -EPERM with why[] naming the reason. */
int ttls_check_peer(struct tconn *c, char *why, size_t whylen);

/* ---- tunnel_h3.c ---- */
/* Create the HTTP/3 session once the handshake is done. Return 0 or -errno. */
int th3_setup(struct tconn *c);
/* ngtcp2 callbacks that feed nghttp3. */
int th3_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t offset,
                         const uint8_t *data, size_t len, void *ud, void *sud);
int th3_acked_stream_data_offset(ngtcp2_conn *conn, int64_t sid, uint64_t offset, uint64_t len,
                                 void *ud, void *sud);
int th3_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t code, void *ud,
                     void *sud);
int th3_stream_reset(ngtcp2_conn *conn, int64_t sid, uint64_t final_size, uint64_t code, void *ud,
                     void *sud);
int th3_stream_stop_sending(ngtcp2_conn *conn, int64_t sid, uint64_t code, void *ud, void *sud);
int th3_extend_max_stream_data(ngtcp2_conn *conn, int64_t sid, uint64_t max_data, void *ud,
                               void *sud);
int th3_extend_max_remote_streams_bidi(ngtcp2_conn *conn, uint64_t max, void *ud);
/* Give nghttp3 credit back for n bytes of stream sid the application consumed. */
void th3_consumed(struct tconn *c, int64_t sid, size_t n);

/* ---- tunnel_stream.c ---- */
/* Client: accept handler of via-tunnel listeners. */
void tstream_accept_cb(struct loop *l, struct loop_io *io, uint32_t events);
/* nghttp3 callbacks, dispatched here by tunnel_h3.c. */
int tstream_server_begin(struct tconn *c, int64_t sid);
void tstream_header(struct tstream *s, const uint8_t *name, size_t nl, const uint8_t *val,
                    size_t vl);
int tstream_end_headers(struct tstream *s);
int tstream_recv_data(struct tstream *s, const uint8_t *data, size_t len);
void tstream_end_stream(struct tstream *s);
void tstream_acked(struct tstream *s, uint64_t n);
void tstream_peer_reset(struct tstream *s, uint64_t code);
void tstream_closed(struct tstream *s, uint64_t code);
nghttp3_ssize tstream_read_data(nghttp3_conn *h3, int64_t sid, nghttp3_vec *vec, size_t veccnt,
                                uint32_t *pflags, void *ud, void *sud);
/* The connection is going away: cut every stream (TCP sides get RST). */
void tstream_cut_all(struct tconn *c);

/* ---- tunnel_allow.c ---- */
/* Compile upstreams.allow. Return 0 or -EINVAL (logged). */
int tallow_new(struct tunnel *t);
void tallow_free(struct tunnel *t);
/* Whether the server may dial host:port (host as sent: a name or numeric). */
bool tallow_check(struct tunnel *t, const char *host, uint16_t port);
/* Make the server's resolver on the tunnel's loop if not yet made (freed by
 * tallow_free). Return 0 or -errno. */
int tun_dns(struct tunnel *t);

#endif
