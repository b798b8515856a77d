/* Per-listener counters: one cache-line-aligned slot per worker, each written only
 * by its own worker thread, summed by readers. */
#ifndef KFWD_STATS_H
#define KFWD_STATS_H
#include <stdint.h>

/* Why a connection or flow failed or ended abnormally; names in stats_err_name. */
enum stats_err {
	ERR_CONNECT_REFUSED,  /* backend answered RST to our SYN */
	ERR_CONNECT_TIMEOUT,  /* no answer within connect_timeout_ms */
	ERR_CONNECT_OTHER,    /* unreachable network/host, other connect errors */
	ERR_NO_BACKEND,       /* every backend failed: the client was closed */
	ERR_CLIENT_RESET,     /* client sent RST; passed on to the backend */
	ERR_BACKEND_RESET,    /* backend sent RST; passed on to the client */
	ERR_IDLE_TIMEOUT,     /* no traffic for idle_timeout_ms */
	ERR_FLOW_LIMIT,       /* max_flows reached: refused */
	ERR_RESOURCE,         /* socket/pipe/memory allocation failed */
	ERR_BACKEND_UNREACH,  /* UDP: ICMP unreachable from the backend */
	ERR_SEND,             /* UDP: a datagram could not be sent (dropped) */
	ERR_SHUTDOWN_CUT,     /* still open when the shutdown grace ran out */
	ERR_RX_OVERFLOW,      /* UDP: datagrams the kernel dropped, listening socket full */
	/* CONNECT proxy refusals, by the status answered: */
	ERR_HTTP_400,         /* malformed request head (also 417, 501) */
	ERR_HTTP_403,         /* target refused by the ACL */
	ERR_HTTP_405,         /* method other than CONNECT */
	ERR_HTTP_407,         /* proxy credentials missing or wrong */
	ERR_HTTP_408,         /* request head not complete within request_timeout_ms */
	ERR_HTTP_431,         /* request head over header_limit */
	ERR_HTTP_502,         /* target name not resolved, or connect refused/failed */
	ERR_HTTP_504,         /* connect to the target timed out */
	ERR_HTTP_505,         /* HTTP version other than 1.0 / 1.1 */
	ERR_CLIENT_GONE,      /* client closed before its request was answered */
	ERR_TUNNEL_DOWN,      /* via = "tunnel": it could not take the connection (503, or reset) */
	/* Relay policy (TCP listeners): */
	ERR_MAX_LIFETIME,     /* open for max_lifetime_ms: closed */
	ERR_MAX_BYTES,        /* relayed max_bytes: closed */
	ERR_MIN_RATE,         /* below min_rate_bpm after the grace period: closed */
	ERR__MAX
};

struct lsn_ctr {
	uint64_t active;    /* may wrap in one slot; the sum over slots is exact */
	uint64_t total;
	uint64_t bytes_in;  /* client -> backend, as delivered */
	uint64_t bytes_out; /* backend -> client, as delivered */
	uint64_t pkts_in;   /* UDP datagrams client -> backend */
	uint64_t pkts_out;  /* UDP datagrams backend -> client */
	uint64_t spliced;   /* TCP connections the kernel spliced (fast path) */
	uint64_t kbytes_in; /* of bytes_in, those the kernel redirected (fast path) */
	uint64_t kbytes_out;/* of bytes_out, likewise */
	uint64_t err[ERR__MAX];
} __attribute__((aligned(64)));

/* Single writer per slot: a relaxed store avoids a locked add on the hot path. */
static inline void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

const char *stats_err_name(int err);
/* The reason counted for an HTTP error status a proxy answered. */
int stats_status_err(unsigned status);
/* Sum n slots into out. */
void stats_sum(const struct lsn_ctr *slots, int n, struct lsn_ctr *out);

#endif
