/*
 * The running instance: a main thread (signals, reload, control socket) and
 * worker threads, each with an event loop and its own SO_REUSEPORT listening
 * sockets. The main thread owns the listener list; workers own their sockets
 * and flows and learn about changes through a command queue.
 */
#ifndef KFWD_DAEMON_H
#define KFWD_DAEMON_H
#include "conf.h"
#include "loop.h"
#include "stats.h"

#include <pthread.h>
#include <stdbool.h>

struct worker;
struct udp_table;
struct fastpath;
struct xdp_ctl;

/* A listener as the main thread sees it; shared (read-only but for ctr) with workers. */
struct lsn {
	int refcnt;                 /* atomic: main's list + one per worker holding it */
	uint32_t id;                /* unique in this process; names it in the flow table */
	bool fast;                  /* its new connections may take the fast path (main thread) */
	int xdp_slot;               /* its slot in the XDP program's tables, -1: none */
	char *name;
	struct conf_listener *lc;   /* current config (main thread's view) */
	struct lsn_ctr *ctr;        /* [nworkers] */
	int nworkers;
	bool removed;
	struct lsn *next;
};

/* A worker's handle on a listener: its socket and its flows. */
struct wlsn {
	struct loop_io io;          /* the listening socket */
	struct lsn *l;
	struct conf_listener *lc;   /* used for new flows; replaced by CMD_SETCONF */
	struct lsn_ctr *ctr;        /* this worker's slot */
	struct worker *w;
	int flows;                  /* live flows holding this wlsn */
	bool closed;                /* listening socket closed (removed or draining) */
	struct udp_table *udp;      /* UDP flows by client, NULL for TCP */
	uint32_t rxq_drops;         /* UDP: last SO_RXQ_OVFL value seen */
	struct loop_timer accept_retry; /* TCP: accept again after running out of fds */
	struct wlsn *next;
};

enum wcmd_type { CMD_ADD, CMD_DEL, CMD_SETCONF, CMD_DRAIN };

struct wcmd {
	enum wcmd_type type;
	struct lsn *l;
	int fd;                     /* CMD_ADD */
	struct conf_listener *lc;   /* CMD_SETCONF, a reference the worker takes over */
	uint64_t grace_ms;          /* CMD_DRAIN */
	struct wcmd *next;
};

struct tcp_conn;
struct udp_flow;
struct proxy_conn;
struct fwd;
struct dns;
struct auth_cache;

struct worker {
	int id;
	pthread_t thread;
	bool started;               /* thread created: join it */
	struct loop *loop;
	struct loop_io evio;        /* eventfd: commands waiting */
	pthread_mutex_t mu;
	struct wcmd *cmds, **cmds_tail;
	struct wlsn *lsns;
	struct tcp_conn *conns;     /* every live TCP connection, for drain and cut */
	struct udp_flow *uflows;    /* every live UDP flow */
	int nflows;
	bool draining;
	struct loop_timer drain_timer;
	int exited;                 /* atomic: set when the thread is done */
	char *udp_buf;              /* receive batch buffers */
	struct fastpath *fp;        /* the TCP fast path, NULL when off */
	struct xdp_ctl *xdp;        /* the XDP program (UDP fast path), NULL when off */
	int nfast;                  /* live connections on the fast relay */
	struct loop_timer fold_timer; /* folds their counters into the stats */
	/* The CONNECT proxy (proxy.c), created on first use: */
	struct proxy_conn *pconns;  /* connections still negotiating */
	struct fwd *fconns;         /* forward-proxy client connections (proxy_http.c) */
	struct dns *dns;
	struct auth_cache *acache;
	uint64_t next_tunnel_id;
};

/* Listener refcounting across threads. */
void lsn_ref(struct lsn *l);
void lsn_unref(struct lsn *l);

/* Active flows on this listener summed over every worker (for max_flows). */
uint64_t lsn_active(const struct lsn *l);

/* Open the listening socket for lc (non-blocking, SO_REUSEPORT). Return fd or -errno. */
int lsn_socket(const struct conf_listener *lc);

/* tcp.c: accept handler and teardown of every connection of a worker. */
void tcp_accept_cb(struct loop *l, struct loop_io *io, uint32_t events);
void tcp_cut_all(struct worker *w);
/* Timer callback: accept again after a pause forced by EMFILE and friends. */
void tcp_accept_retry_cb(struct loop *l, struct loop_timer *t);
/* udp.c */
void udp_recv_cb(struct loop *l, struct loop_io *io, uint32_t events);
int udp_table_new(struct wlsn *wl);
void udp_table_free(struct wlsn *wl);
void udp_cut_all(struct worker *w);
/* The same without counting them as cut (a clean stop). */
void udp_cut_all_quiet(struct worker *w);
/* Close the flows of one listener (it is being removed). */
void udp_cut_listener(struct worker *w, struct wlsn *wl);

/* A flow on wl begins: counted active and total on the listener, wl held,
 * the worker's flow count raised (a draining worker waits for it). */
void wlsn_flow_begin(struct wlsn *wl);
/* That flow ends: the reverse; wl may be freed, the worker may stop. */
void wlsn_flow_end(struct wlsn *wl);

/* Run the daemon for the config at path; return the process exit code. */
int daemon_run(const char *path);

#endif
