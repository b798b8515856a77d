/*
 * Internals shared by tunnel.c (the thread, sockets, API), tunnel_conn.c
 * (a QUIC connection's lifecycle), tunnel_io.c (UDP I/O), tunnel_tls.c
 * (wolfSSL), tunnel_h3.c (nghttp3 glue), tunnel_stream.c (TCP <-> HTTP/3
 * CONNECT relay, and the request stream object every mode uses),
 * tunnel_http.c (mode http, client side) and tunnel_upstream.c (mode http,
 * server side: the pool to upstreams.http). Everything here runs on the
 * tunnel thread only.
 */
#ifndef KFWD_TUNNEL_INT_H
#define KFWD_TUNNEL_INT_H
#include "addr.h"
#include "conf.h"
#include "http1.h"
#include "loop.h"
#include "stats.h"
#include "tunnel.h"

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
#include <pthread.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define TUN_SCID_LEN     18           /* bytes of our connection IDs */
#define TS_UP_START      (256u << 10) /* TCP -> QUIC ring of a new stream */
#define TUN_TX_BATCH     10           /* datagrams per GSO send */
#define TUN_GSO_MAX      65000u       /* bytes per GSO send (one IP datagram's worth) */
#define TUN_PMTUD_PROBES 10           /* sizes PMTU discovery may try */
#define TUN_RX_BUF       (64u << 10)  /* one GRO super-datagram */
#define TUN_MAX_CONNS    8            /* server: live connections at once */

enum tconn_state { TC_HANDSHAKE, TC_UP, TC_CLOSING, TC_DEAD };

struct tstream;
struct thcli;
struct tup;

/* Header fields of one HTTP/3 head, copied out of nghttp3's buffers. */
struct th3_head {
	char *text; /* names and values back to back */
	size_t len, cap;
	struct th3_field {
		size_t off, nl, vl;
	} * f;
	size_t n, fcap;
	nghttp3_nv *nv; /* built by th3_head_nv */
	bool too_big;   /* over TH3_HEAD_MAX: the fields after it were dropped */
};
#define TH3_HEAD_MAX (64u << 10) /* bytes of names and values kept per head */

enum ts_kind {
	TS_FORWARD,     /* client: a forward listener's TCP connection */
	TS_CONNECT,     /* client: a connect listener's TCP connection */
	TS_SERVER,      /* server: a request stream until its head decides */
	TS_HTTP,        /* client: one HTTP request of a thcli (tunnel_http.c) */
	TS_HTTP_SERVER, /* server: an HTTP request to upstreams.http (tunnel_upstream.c) */
};
/* Why a stream's owner loses it. */
enum ts_gone {
	TSG_CLEAN, /* the QUIC stream closed without error */
	TSG_RESET, /* reset by the peer or by us */
	TSG_DOWN,  /* the QUIC connection went away */
};
enum ts_phase { TP_REQUEST, TP_WAIT, TP_DIAL, TP_RELAY }; /* TP_DIAL: resolving, then connecting */

/* Bytes waiting for a TCP socket and the QUIC credit they carry: body bytes
 * are credited back to the peer only once written (framing bytes added on
 * our side carry none). */
struct thq {
	uint8_t *p;
	size_t off, len, cap;
	uint64_t owed; /* body bytes queued and not yet credited */
};

/* One QUIC request stream. CONNECT kinds own a TCP socket (io); HTTP kinds
 * only use the up ring and hand everything else to their owner (http). */
struct tstream {
	struct tunnel *t;
	struct tconn *c; /* NULL once detached from its QUIC stream */
	int64_t sid;
	int kind, phase;
	struct loop_io io;                  /* the TCP socket, fd -1 once closed */
	struct loop_timer timer;            /* request head / dial deadline */
	struct conf_listener *lc;           /* client side */
	struct lsn_ctr *ctr;                /* client TCP streams: their listener's counters */
	uint8_t *up;                        /* TCP -> QUIC ring, upcap bytes */
	size_t upcap;                       /* a power of two, TS_UP_START up to t->up_cap */
	bool grow;                          /* full: double the ring once it is empty */
	bool up_stalled;                    /* full: reading waits for a quarter free (or empty) */
	uint64_t up_head, up_sent, up_tail; /* acked, handed to nghttp3, read */
	bool tcp_eof, fin_given, blocked;   /* tcp_eof: no byte follows those in the ring */
	struct thq down;                    /* QUIC -> TCP bytes waiting for the socket */
	struct loop_pending flush;          /* down is written once per loop turn */
	bool peer_fin, tcp_shut;
	char *head; /* connect: the request head read so far */
	size_t head_len;
	int status; /* response :status (client) */
	char method[16];
	char authority[HTTP1_AUTHORITY_MAX];
	char proxy_status[160];
	struct dns_query *q; /* server: resolving the target */
	struct happy *h;     /* server: connecting to it */
	bool bad_header;
	bool freed;
	struct th3_head hd; /* server: the request head; TS_HTTP: the response head */
	void *http;         /* TS_HTTP: its struct thcli; TS_HTTP_SERVER: its struct tup_req */
	struct tstream *next, *prev;
};

/* How the body bytes of an HTTP/1.1 message are found in a TCP byte stream. */
enum thbody_mode {
	THB_NONE,    /* no body */
	THB_LENGTH,  /* remaining bytes */
	THB_CHUNKED, /* chunked transfer coding */
	THB_EOF,     /* until the connection ends (close-delimited, WebSocket) */
};

struct thbody {
	int mode; /* enum thbody_mode */
	uint64_t remaining;
	struct http1_chunk_dec dec;
	bool done;
};

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

/* A via-tunnel listener (client). Its socket closes when the tunnel drains;
 * the entry and its counters live as long as the tunnel, for kfwd stats. */
struct tlsn {
	struct lsn_ctr ctr; /* one slot: only the tunnel thread writes it */
	struct loop_io io;  /* the listening socket, fd -1 once closed */
	struct tunnel *t;
	struct conf_listener *lc;
};

struct dns;
struct dns_query;

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
	size_t up_cap;                     /* transport.stream_buffer, rounded up to 2^n */
	uint16_t probes[TUN_PMTUD_PROBES]; /* PMTU discovery's sizes, ascending at the end */
	size_t nprobes;
	struct tconn *conns;
	struct tconn *client;        /* client: the connection, NULL when down */
	struct loop_timer reconnect; /* client: next attempt */
	bool first_attempt_done;

	struct tlsn *lsns; /* client: [nlsns], the via-tunnel listeners in config order */
	size_t nlsns;
	struct acl *allow;        /* server: upstreams.allow compiled */
	struct dns *dns;          /* server: dialled targets; client: the peer. NULL until used */
	struct dns_query *peer_q; /* client: resolving tunnel.peer */
	void (*peer_done)(struct tunnel *t, int err, const struct addr *peer, const char *why);
	unsigned peer_pick;  /* client: answers used, to take a name's addresses in turn */
	struct thcli *hclis; /* client: connections of mode http listeners */
	struct tup *pool;    /* server: idle keep-alive connections to upstreams.http */
	int npool;

	/* counters, folded into view */
	struct tunnel_view st;
	const char *state;
	char last_error[256];
	char peer[128];
};

/* ---- tunnel_io.c ---- */
uint64_t tun_ts(void); /* ngtcp2 timestamp (ns, monotonic) */
size_t tun_pmtud_probes(size_t max, uint16_t *out, size_t cap);
/* A UDP socket with the tunnel's options. Return fd or -errno. */
int tio_socket(struct tunnel *t, int family);
/* Send what the connection has to send (streams, acks), re-arm its timer. On
 * a fatal error the connection is closed; return 0 or -errno. */
int tconn_write(struct tconn *c);
void tconn_timer_cb(struct loop *l, struct loop_timer *tm);
void tconn_tx_more_cb(struct loop *l, struct loop_pending *p);
void tio_recv_cb(struct loop *l, struct loop_io *io, uint32_t events);

/* ---- tunnel_conn.c ---- */
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
/* Free c and its streams at once (tunnel_free; closing goes through tconn_fail). */
void tconn_free(struct tconn *c);
/* Client: t->reconnect's callback, the next connection attempt. */
void tun_reconnect_cb(struct loop *l, struct loop_timer *tm);

/* ---- tunnel.c ---- */
/* Set the published state ("connecting", "up", "down"), also for systemd. */
void tun_set_state(struct tunnel *t, const char *state);
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

/* Copy a field into h (names as nghttp3 gives them: lowercase). */
void th3_head_add(struct th3_head *h, const uint8_t *name, size_t nl, const uint8_t *val,
                  size_t vl);
/* The fields as an nghttp3_nv array of h->n entries pointing into h, valid
 * until the next th3_head_add or th3_head_clear; NULL when out of memory. */
const nghttp3_nv *th3_head_nv(struct th3_head *h);
/* Forget every field and free h's memory; h can be filled again. */
void th3_head_clear(struct th3_head *h);

/* ---- tunnel_stream.c ---- */
/* Client: accept handler of via-tunnel listeners. */
void tstream_accept_cb(struct loop *l, struct loop_io *io, uint32_t events);
/* nghttp3 callbacks, dispatched here by tunnel_h3.c. */
int tstream_server_begin(struct tconn *c, int64_t sid);
void tstream_header(struct tstream *s, const uint8_t *name, size_t nl, const uint8_t *val,
                    size_t vl);
int tstream_end_headers(struct tstream *s, bool fin);
int tstream_recv_data(struct tstream *s, const uint8_t *data, size_t len);
void tstream_end_stream(struct tstream *s);
void tstream_acked(struct tstream *s, uint64_t n);
void tstream_peer_reset(struct tstream *s, uint64_t code);
void tstream_closed(struct tstream *s, uint64_t code);
nghttp3_ssize tstream_read_data(nghttp3_conn *h3, int64_t sid, nghttp3_vec *vec, size_t veccnt,
                                uint32_t *pflags, void *ud, void *sud);
/* The connection is going away: cut every stream (TCP sides get RST). */
void tstream_cut_all(struct tconn *c);
/* A stream of kind with its up ring, on no QUIC stream yet; NULL if out of memory. */
struct tstream *tstream_new(struct tunnel *t, int kind);
/* Bind s to c (its sid must be set): counted, cut when c goes. */
void tstream_link(struct tstream *s, struct tconn *c);
/* Free s after this batch; rst: reset its TCP side. Its owner (s->http) is
 * told through thcli_stream_gone / tup_stream_gone first. */
void tstream_free(struct tstream *s, bool rst);
/* Reset the QUIC stream both ways. */
void tstream_reset(struct tstream *s);
/* Free bytes in the up ring. */
size_t tstream_up_room(const struct tstream *s);
/* Append n <= tstream_up_room bytes to the up ring and wake nghttp3. */
void tstream_up_put(struct tstream *s, const void *data, size_t n);
/* No more bytes follow those in the up ring: the stream ends after them. */
void tstream_up_end(struct tstream *s);

/* ---- tunnel_http.c (client: mode http listeners) ---- */
void thcli_accept_cb(struct loop *l, struct loop_io *io, uint32_t events);
/* Events of a TS_HTTP stream, from tunnel_stream.c. */
int thcli_end_headers(struct tstream *s, bool fin);
int thcli_recv_data(struct tstream *s, const uint8_t *data, size_t len);
void thcli_end_stream(struct tstream *s);
void thcli_room(struct tstream *s);                 /* the up ring has room again */
void thcli_stream_gone(struct tstream *s, int why); /* s is about to be freed (enum ts_gone) */
/* Close every connection (tunnel_free). */
void thcli_free_all(struct tunnel *t);

/* Shared by both sides (tunnel_http.c). */
/* Queue n body bytes (chunked: with their chunk framing). Return 0 or -ENOMEM. */
int thq_put_body(struct thq *q, bool chunked, const void *data, size_t n);
/* Queue n bytes of framing or head. Return 0 or -ENOMEM. */
int thq_put(struct thq *q, const void *data, size_t n);
/* Write what fd takes; credit stream s (may be NULL) for body bytes that went,
 * and count every byte written in ctr's bytes_out (a client listener's; may be
 * NULL). Return 0 (EAGAIN included) or -errno. */
int thq_flush(struct thq *q, int fd, struct tstream *s, struct lsn_ctr *ctr);
void thq_free(struct thq *q);
/* The QUIC stream sid of c is going away: give its peer the credit for what
 * q still holds now (written later, those bytes could not return it), so
 * that the connection's window does not shrink for good. */
void thq_release(struct thq *q, struct tconn *c, int64_t sid);
/* Set b up for a body of mode (THB_*), len bytes for THB_LENGTH. */
void thbody_init(struct thbody *b, int mode, uint64_t len);
/* Move body bytes from in[0..len) into s's up ring as room allows; *used
 * gets the bytes consumed; b->done once the body ended (the ring's end is
 * set). Return 0 or -EPROTO (malformed chunked coding). */
int thbody_pump(struct thbody *b, const char *in, size_t len, size_t *used, struct tstream *s);

/* ---- tunnel_upstream.c (server: requests to upstreams.http) ---- */
/* A request stream that is not a plain CONNECT: send it upstream. fin: the
 * stream ended with its head. Return 0 or -ENOMEM (the stream is reset). */
int tup_begin(struct tstream *s, bool fin);
int tup_recv_data(struct tstream *s, const uint8_t *data, size_t len);
void tup_end_stream(struct tstream *s);
void tup_room(struct tstream *s);
void tup_stream_gone(struct tstream *s, int why);
/* Close the idle pool (tunnel_free). */
void tup_pool_free(struct tunnel *t);

/* ---- tunnel_peer.c ---- */
/* Called once per tpeer_resolve with err 0 and the address for the next
 * attempt (valid during the call), or a negative errno and why in words. */
typedef void (*tpeer_cb)(struct tunnel *t, int err, const struct addr *peer, const char *why);
/* Resolve tunnel.peer for the next attempt without blocking (a numeric peer
 * without DNS). done runs exactly once: before this returns when the answer
 * is at hand, else later from the loop, unless tpeer_cancel comes first. */
void tpeer_resolve(struct tunnel *t, tpeer_cb done);
/* Drop a pending resolution: its callback will not run. */
void tpeer_cancel(struct tunnel *t);

/* ---- tunnel_allow.c ---- */
/* Compile upstreams.allow. Return 0 or -EINVAL (logged). */
int tallow_new(struct tunnel *t);
void tallow_free(struct tunnel *t);
/* Whether the server may dial host:port (host as sent: a name or numeric). */
bool tallow_check(struct tunnel *t, const char *host, uint16_t port);
/* Make the tunnel's resolver (global.dns) on its loop if not yet made (freed
 * by tallow_free). Return 0 or -errno. */
int tun_dns(struct tunnel *t);

#endif
