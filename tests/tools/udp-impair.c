/*
 * udp-impair: a userspace UDP relay that impairs what it carries, standing in
 * for netem (which this kernel lacks) between two QUIC peers.
 *
 * It listens on one address and relays every datagram to one upstream
 * address. Each client (source address) gets its own socket connected to the
 * upstream, so the upstream's replies go back to the client they answer. Both
 * directions ("up": client -> upstream, "down": upstream -> client) can be
 * impaired, each with its own settings:
 *
 *   loss      a datagram is dropped with probability PCT/100 (seeded PRNG,
 *             one stream per direction: the same seed and the same traffic
 *             drop the same datagrams)
 *   rate      the direction is a link of BITS/s (UDP payload bytes count):
 *             datagrams wait until the link has sent the ones before them;
 *             at most --queue-pkts / --queue-bytes may wait (the one being
 *             sent included), more are dropped (drop-tail, counted)
 *   delay     every datagram is delivered MS after the link sent it
 *   jitter    plus a uniform random offset in [-MS, +MS] (total never < 0);
 *             only with jitter can datagrams of one direction be reordered
 *
 *   udp-impair --listen ADDR --upstream ADDR [options]
 *     --delay MS, --jitter MS, --loss PCT, --rate BITS   both directions;
 *     --delay-up, --delay-down, --jitter-up, ... , --rate-down   one direction
 *     --queue-pkts N      rate queue limit in datagrams (default 1000)
 *     --queue-bytes N     rate queue limit in bytes (default 4M)
 *     --max-held-bytes N  all datagrams held in one direction, in bytes
 *                         (default 64M; more are dropped and counted "full")
 *     --max-held-pkts N   the same in datagrams (default 65536)
 *     --seed S            PRNG seed (default 1)
 *     --max-clients N     concurrent client sessions (default 1024)
 *     --idle-timeout MS   a client session idle this long is closed (60000)
 *     --sockbuf N         SO_RCVBUF/SO_SNDBUF of every socket (default 4M)
 *     --stats FILE        write the counters (JSON) to FILE every
 *     --stats-interval MS (default 1000), and at exit
 *
 * ADDR is IPv4:PORT or [IPv6]:PORT; N takes K, M, G (binary) suffixes and
 * BITS k, M, G (decimal: 10M = 10 000 000 bit/s). MS is an integer.
 * On start it prints {"listening":"ADDR"}; on SIGTERM/SIGINT it prints the
 * counters as one JSON line on stdout and exits 0. SIGUSR1 prints them
 * without exiting. Exit status 2: bad usage or setup failure.
 *
 * One thread, one epoll loop; a timerfd wakes it at the next delivery time
 * (held datagrams are in a min-heap per direction keyed on delivery time and
 * arrival order), so nothing spins. Datagrams up to 64 KiB are carried whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "tool_addr.h"

#define MAX_DGRAM    65536 /* larger than any UDP payload: MSG_TRUNC never hides a cut */
#define RX_BATCH     64    /* datagrams read per socket per wakeup: fairness between sockets */
#define SESS_BUCKETS 1024

enum dir { UP, DOWN, NDIR };
static const char *const dir_name[NDIR] = {"up", "down"};

/* ---- settings and counters ---------------------------------------------- */

struct link_conf {
	uint64_t delay_ns;
	uint64_t jitter_ns;
	double loss;       /* probability in [0, 1] */
	uint64_t rate_bps; /* 0: unlimited */
};

struct counters {
	uint64_t received, received_bytes;
	uint64_t forwarded, forwarded_bytes;
	uint64_t dropped_loss;    /* the loss setting */
	uint64_t dropped_queue;   /* rate queue full (drop-tail) */
	uint64_t dropped_full;    /* --max-held-* reached */
	uint64_t send_errors;     /* sendto failed (ENOBUFS, EAGAIN, ECONNREFUSED, ...) */
	uint64_t dropped_session; /* up: no session for a new client (--max-clients) */
};

struct opts {
	const char *listen, *upstream, *stats_path;
	struct link_conf link[NDIR];
	uint64_t queue_pkts, queue_bytes, held_pkts, held_bytes;
	uint64_t seed, max_clients, idle_ms, sockbuf, stats_ms;
};

/* ---- PRNG: xoshiro256** seeded through splitmix64 ------------------------ */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_init(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return out;
}

/* A double uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- sessions, datagrams, heaps ------------------------------------------ */

union addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct session {
	union addr client;
	socklen_t client_len;
	int fd;               /* connected to the upstream */
	uint64_t last_ns;     /* last datagram either way */
	uint64_t held;        /* datagrams of this session still queued: keeps it alive */
	struct session *next; /* hash chain */
};

struct pkt {
	uint64_t due_ns; /* delivery time */
	uint64_t seq;    /* arrival order: ties on due_ns keep FIFO order */
	struct session *sess;
	uint32_t len;
	uint8_t data[];
};

/* Datagrams waiting for the rate-limited link: only their finish times and sizes. */
struct backlog {
	uint64_t *done_ns;
	uint32_t *len;
	uint64_t head, count, bytes, cap;
};

struct direction {
	struct link_conf conf;
	struct rng rng;
	struct counters c;
	struct pkt **heap;
	uint64_t heap_len, heap_cap, held_bytes;
	uint64_t link_free_ns; /* when the rate-limited link finishes its last datagram */
	struct backlog q;
};

struct relay {
	struct opts o;
	int ep, lfd, tfd, sfd;
	union addr up_addr;
	socklen_t up_len;
	struct direction d[NDIR];
	struct session *buckets[SESS_BUCKETS];
	uint64_t sessions, sessions_total, seq;
	uint64_t next_tick_ns;
	uint8_t buf[MAX_DGRAM];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool pkt_before(const struct pkt *a, const struct pkt *b)
{
	return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

/* Push p; the caller has checked heap_len < heap_cap. */
static void heap_push(struct direction *d, struct pkt *p)
{
	uint64_t i = d->heap_len++;
	while (i > 0) {
		uint64_t parent = (i - 1) / 2;
		if (!pkt_before(p, d->heap[parent]))
			break;
		d->heap[i] = d->heap[parent];
		i = parent;
	}
	d->heap[i] = p;
}

static struct pkt *heap_pop(struct direction *d)
{
	struct pkt *top = d->heap[0], *last = d->heap[--d->heap_len];
	uint64_t i = 0, n = d->heap_len;
	for (;;) {
		uint64_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && pkt_before(d->heap[c + 1], d->heap[c]))
			c++;
		if (!pkt_before(d->heap[c], last))
			break;
		d->heap[i] = d->heap[c];
		i = c;
	}
	if (n)
		d->heap[i] = last;
	return top;
}

/* Forget the datagrams the link has finished sending by now. */
static void backlog_expire(struct backlog *q, uint64_t now)
{
	while (q->count && q->done_ns[q->head] <= now) {
		q->bytes -= q->len[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}

static void backlog_add(struct backlog *q, uint64_t done, uint32_t len)
{
	uint64_t i = (q->head + q->count) % q->cap;
	q->done_ns[i] = done;
	q->len[i] = len;
	q->count++;
	q->bytes += len;
}

/* ---- the impairment ------------------------------------------------------ */

/*
 * Decide the fate of one datagram that arrived at now; on acceptance, set its
 * delivery time. Returns 0 (accepted) or the counter to increment.
 */
static uint64_t *impair(struct relay *r, struct direction *d, uint32_t len, uint64_t now,
                        uint64_t *due)
{
	const struct link_conf *lc = &d->conf;
	/* Drawn for every datagram, lost or not, so that one seed gives one sequence. */
	if (lc->loss > 0 && rng_unit(&d->rng) < lc->loss)
		return &d->c.dropped_loss;
	if (d->heap_len >= d->heap_cap || d->held_bytes + len > r->o.held_bytes)
		return &d->c.dropped_full;
	uint64_t sent = now;
	if (lc->rate_bps) {
		backlog_expire(&d->q, now);
		if (d->q.count + 1 > r->o.queue_pkts || d->q.bytes + len > r->o.queue_bytes)
			return &d->c.dropped_queue;
		uint64_t start = d->link_free_ns > now ? d->link_free_ns : now;
		uint64_t tx = ((uint64_t)len * 8 * 1000000000ULL + lc->rate_bps - 1) / lc->rate_bps;
		sent = start + tx;
		d->link_free_ns = sent;
		backlog_add(&d->q, sent, len);
	}
	int64_t extra = (int64_t)lc->delay_ns;
	if (lc->jitter_ns) {
		double u = rng_unit(&d->rng) * 2.0 - 1.0;
		extra += (int64_t)(u * (double)lc->jitter_ns);
		if (extra < 0)
			extra = 0;
	}
	*due = sent + (uint64_t)extra;
	return NULL;
}

/* Send one due datagram: up through its session's socket, down through ours. */
static void deliver(struct relay *r, enum dir dir, struct pkt *p)
{
	struct direction *d = &r->d[dir];
	ssize_t n;
	if (dir == UP)
		n = send(p->sess->fd, p->data, p->len, MSG_DONTWAIT);
	else
		n = sendto(r->lfd, p->data, p->len, MSG_DONTWAIT, &p->sess->client.sa,
		           p->sess->client_len);
	if (n == (ssize_t)p->len) {
		d->c.forwarded++;
		d->c.forwarded_bytes += p->len;
	} else {
		d->c.send_errors++;
	}
	d->held_bytes -= p->len;
	p->sess->held--;
	free(p);
}

static void deliver_due(struct relay *r, uint64_t now)
{
	for (int dir = 0; dir < NDIR; dir++) {
		struct direction *d = &r->d[dir];
		while (d->heap_len && d->heap[0]->due_ns <= now)
			deliver(r, (enum dir)dir, heap_pop(d));
	}
}

/* Take one received datagram into direction dir for session s. */
static void take(struct relay *r, enum dir dir, struct session *s, const uint8_t *data, size_t len,
                 uint64_t now)
{
	struct direction *d = &r->d[dir];
	uint64_t due = 0, *drop;
	d->c.received++;
	d->c.received_bytes += len;
	s->last_ns = now;
	drop = impair(r, d, (uint32_t)len, now, &due);
	if (drop) {
		(*drop)++;
		return;
	}
	struct pkt *p = malloc(sizeof(*p) + len);
	if (!p) {
		d->c.dropped_full++;
		return;
	}
	p->due_ns = due;
	p->seq = r->seq++;
	p->sess = s;
	p->len = (uint32_t)len;
	memcpy(p->data, data, len);
	s->held++;
	d->held_bytes += len;
	heap_push(d, p);
}

/* ---- sessions ------------------------------------------------------------ */

static uint32_t addr_hash(const union addr *a, socklen_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a over the address bytes */
	const uint8_t *p = (const uint8_t *)a;
	for (socklen_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % SESS_BUCKETS;
}

static void set_bufs(int fd, int size)
{
	/* FORCE (root) goes past net.core.[rw]mem_max; the plain call is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* The session of client address a, made on first sight; NULL when none can be made. */
static struct session *session_get(struct relay *r, const union addr *a, socklen_t len,
                                   uint64_t now)
{
	uint32_t h = addr_hash(a, len);
	for (struct session *s = r->buckets[h]; s; s = s->next)
		if (s->client_len == len && !memcmp(&s->client, a, len))
			return s;
	if (r->sessions >= r->o.max_clients)
		return NULL;
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		goto fail;
	s->fd = socket(r->up_addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail_free;
	set_bufs(s->fd, (int)r->o.sockbuf);
	if (connect(s->fd, &r->up_addr.sa, r->up_len))
		goto fail_close;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev))
		goto fail_close;
	memcpy(&s->client, a, len);
	s->client_len = len;
	s->last_ns = now;
	s->next = r->buckets[h];
	r->buckets[h] = s;
	r->sessions++;
	r->sessions_total++;
	return s;
fail_close:
	close(s->fd);
fail_free:
	free(s);
fail:
	fprintf(stderr, "udp-impair: new client session: %s\n", strerror(errno));
	return NULL;
}

static void session_free(struct relay *r, struct session *s)
{
	struct session **pp = &r->buckets[addr_hash(&s->client, s->client_len)];
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	close(s->fd); /* also leaves the epoll set */
	free(s);
	r->sessions--;
}

/* Close sessions idle for --idle-timeout that hold no queued datagram. */
static void sessions_expire(struct relay *r, uint64_t now)
{
	uint64_t idle = r->o.idle_ms * 1000000ULL;
	for (int b = 0; b < SESS_BUCKETS; b++) {
		struct session *s = r->buckets[b], *next;
		for (; s; s = next) {
			next = s->next;
			if (!s->held && now - s->last_ns >= idle)
				session_free(r, s);
		}
	}
}

/* ---- receiving ----------------------------------------------------------- */

/* Drain up to RX_BATCH datagrams from the listening socket (clients -> up). */
static void rx_clients(struct relay *r, uint64_t now)
{
	for (int i = 0; i < RX_BATCH; i++) {
		union addr from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(r->lfd, r->buf, sizeof(r->buf), MSG_DONTWAIT, &from.sa, &flen);
		if (n < 0)
			return; /* EAGAIN, or an ICMP error queued on the socket: nothing to relay
			         */
		struct session *s = session_get(r, &from, flen, now);
		if (s) {
			take(r, UP, s, r->buf, (size_t)n, now);
		} else {
			r->d[UP].c.received++;
			r->d[UP].c.dropped_session++;
		}
	}
}

/* Drain up to RX_BATCH datagrams from one session's upstream socket (-> down). */
static void rx_upstream(struct relay *r, struct session *s, uint64_t now)
{
	for (int i = 0; i < RX_BATCH; i++) {
		ssize_t n = recv(s->fd, r->buf, sizeof(r->buf), MSG_DONTWAIT);
		if (n < 0)
			return; /* EAGAIN, or ECONNREFUSED from an ICMP port unreachable */
		take(r, DOWN, s, r->buf, (size_t)n, now);
	}
}

/* ---- counters ------------------------------------------------------------ */

static void print_stats(struct relay *r, FILE *f)
{
	fprintf(f, "{");
	for (int dir = 0; dir < NDIR; dir++) {
		const struct direction *d = &r->d[dir];
		const struct counters *c = &d->c;
		fprintf(f,
		        "\"%s\":{\"received\":%" PRIu64 ",\"received_bytes\":%" PRIu64
		        ",\"forwarded\":%" PRIu64 ",\"forwarded_bytes\":%" PRIu64
		        ",\"dropped_loss\":%" PRIu64 ",\"dropped_queue\":%" PRIu64
		        ",\"dropped_full\":%" PRIu64 ",\"dropped_session\":%" PRIu64
		        ",\"send_errors\":%" PRIu64 ",\"held\":%" PRIu64 "},",
		        dir_name[dir], c->received, c->received_bytes, c->forwarded,
		        c->forwarded_bytes, c->dropped_loss, c->dropped_queue, c->dropped_full,
		        c->dropped_session, c->send_errors, d->heap_len);
	}
	fprintf(f, "\"clients\":%" PRIu64 ",\"clients_total\":%" PRIu64 ",\"seed\":%" PRIu64 "}\n",
	        r->sessions, r->sessions_total, r->o.seed);
}

/* Replace --stats FILE atomically (write a temp file, rename over). */
static void write_stats_file(struct relay *r)
{
	char tmp[4096];
	if (!r->o.stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->o.stats_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "udp-impair: stats file %s: %s\n", tmp, strerror(errno));
		return;
	}
	print_stats(r, f);
	if (fclose(f) == 0 && rename(tmp, r->o.stats_path))
		fprintf(stderr, "udp-impair: stats file %s: %s\n", r->o.stats_path,
		        strerror(errno));
}

/* ---- options ------------------------------------------------------------- */

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "udp-impair: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
	        "\nusage: udp-impair --listen ADDR --upstream ADDR [--delay MS] [--jitter MS]"
	        " [--loss PCT] [--rate BITS] [--{delay,jitter,loss,rate}-{up,down} ...]"
	        " [--queue-pkts N] [--queue-bytes N] [--seed S] [--stats FILE] ..."
	        " (see tests/tools/udp-impair.c)\n");
	exit(2);
}

/* An unsigned integer with an optional suffix; mult is 1024 (sizes) or 1000 (rates). */
static int parse_num(const char *s, uint64_t mult, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t m = 1;
	if (*end == 'k' || *end == 'K')
		m = mult;
	else if (*end == 'm' || *end == 'M')
		m = mult * mult;
	else if (*end == 'g' || *end == 'G')
		m = mult * mult * mult;
	if (m != 1)
		end++;
	if (*end || (v && m > UINT64_MAX / v))
		return -1;
	*out = v * m;
	return 0;
}


/* Set field `what` of the directions selected by the option's suffix. */
static void set_link(struct opts *o, const char *opt, const char *val)
{
	const char *dash = strrchr(opt + 2, '-');
	int from = UP, to = DOWN;
	if (dash && !strcmp(dash, "-up"))
		to = UP;
	else if (dash && !strcmp(dash, "-down"))
		from = DOWN;
	uint64_t v;
	for (int dir = from; dir <= to; dir++) {
		struct link_conf *lc = &o->link[dir];
		if (!strncmp(opt, "--loss", 6)) {
			char *end;
			errno = 0;
			double pct = strtod(val, &end);
			if (errno || end == val || *end || !(pct >= 0 && pct <= 100))
				usage_error("%s: '%s' is not a percentage in [0, 100]", opt, val);
			lc->loss = pct / 100.0;
		} else if (!strncmp(opt, "--rate", 6)) {
			if (parse_num(val, 1000, &v) || v == 0)
				usage_error(
				    "%s: '%s' is not a rate in bits/s > 0 (k, M, G suffixes)", opt,
				    val);
			lc->rate_bps = v;
		} else {
			if (parse_num(val, 1, &v) || v > 3600000)
				usage_error("%s: '%s' is not a time in ms (0 to 3600000)", opt,
				            val);
			if (!strncmp(opt, "--delay", 7))
				lc->delay_ns = v * 1000000ULL;
			else
				lc->jitter_ns = v * 1000000ULL;
		}
	}
}

static const char *const link_opts[] = {
    "--delay", "--delay-up", "--delay-down", "--jitter", "--jitter-up", "--jitter-down",
    "--loss",  "--loss-up",  "--loss-down",  "--rate",   "--rate-up",   "--rate-down",
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.queue_pkts = 1000,
	                   .queue_bytes = 4 << 20,
	                   .held_pkts = 65536,
	                   .held_bytes = 64 << 20,
	                   .seed = 1,
	                   .max_clients = 1024,
	                   .idle_ms = 60000,
	                   .sockbuf = 4 << 20,
	                   .stats_ms = 1000};
	struct {
		const char *name;
		uint64_t *val, min, max, mult;
	} nums[] = {
	    {"--queue-pkts", &o->queue_pkts, 1, 1 << 24, 1024},
	    {"--queue-bytes", &o->queue_bytes, MAX_DGRAM, 1ULL << 34, 1024},
	    {"--max-held-pkts", &o->held_pkts, 1, 1 << 24, 1024},
	    {"--max-held-bytes", &o->held_bytes, MAX_DGRAM, 1ULL << 34, 1024},
	    {"--seed", &o->seed, 0, UINT64_MAX, 1},
	    {"--max-clients", &o->max_clients, 1, 1 << 20, 1024},
	    {"--idle-timeout", &o->idle_ms, 1, 86400000, 1},
	    {"--sockbuf", &o->sockbuf, 4096, 1 << 30, 1024},
	    {"--stats-interval", &o->stats_ms, 10, 3600000, 1},
	};
	for (int i = 0; i < argc; i++) {
		const char *opt = argv[i];
		if (!strcmp(opt, "-h") || !strcmp(opt, "--help"))
			usage_error("help requested");
		if (i + 1 >= argc)
			usage_error("%s: missing value", opt);
		const char *val = argv[++i];
		bool done = false;
		for (size_t k = 0; k < sizeof(link_opts) / sizeof(link_opts[0]) && !done; k++)
			if (!strcmp(opt, link_opts[k])) {
				set_link(o, opt, val);
				done = true;
			}
		for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]) && !done; k++) {
			if (strcmp(opt, nums[k].name))
				continue;
			uint64_t v;
			if (parse_num(val, nums[k].mult, &v) || v < nums[k].min || v > nums[k].max)
				usage_error("%s: '%s' is not a number in [%" PRIu64 ", %" PRIu64
				            "]",
				            opt, val, nums[k].min, nums[k].max);
			*nums[k].val = v;
			done = true;
		}
		if (done)
			continue;
		if (!strcmp(opt, "--listen"))
			o->listen = val;
		else if (!strcmp(opt, "--upstream"))
			o->upstream = val;
		else if (!strcmp(opt, "--stats"))
			o->stats_path = val;
		else
			usage_error("unknown option %s", opt);
	}
	if (!o->listen || !o->upstream)
		usage_error("--listen and --upstream are required");
}

/* ---- setup and loop ------------------------------------------------------ */

static int setup(struct relay *r)
{
	union addr la;
	socklen_t llen;
	if (tool_parse_addr(r->o.listen, &la.sa, sizeof(la), &llen, 1))
		usage_error("--listen: '%s' is not IPv4:PORT or [IPv6]:PORT", r->o.listen);
	if (tool_parse_addr(r->o.upstream, &r->up_addr.sa, sizeof(r->up_addr), &r->up_len, 1))
		usage_error("--upstream: '%s' is not IPv4:PORT or [IPv6]:PORT", r->o.upstream);
	for (int dir = 0; dir < NDIR; dir++) {
		struct direction *d = &r->d[dir];
		d->conf = r->o.link[dir];
		/* Different streams per direction: the up drops do not depend on down traffic. */
		rng_init(&d->rng, r->o.seed ^ (dir == UP ? 0 : 0x5bd1e9955bd1e995ULL));
		d->heap_cap = r->o.held_pkts;
		d->heap = calloc(d->heap_cap, sizeof(*d->heap));
		d->q.cap = r->o.queue_pkts;
		d->q.done_ns = calloc(d->q.cap, sizeof(*d->q.done_ns));
		d->q.len = calloc(d->q.cap, sizeof(*d->q.len));
		if (!d->heap || !d->q.done_ns || !d->q.len) {
			fprintf(stderr,
			        "udp-impair: queues of %" PRIu64 " datagrams: out of memory\n",
			        d->heap_cap);
			return -ENOMEM;
		}
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r->lfd = socket(la.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->ep < 0 || r->sfd < 0 || r->tfd < 0 || r->lfd < 0) {
		fprintf(stderr, "udp-impair: setup: %s\n", strerror(errno));
		return -errno;
	}
	int one = 1;
	if (la.sa.sa_family == AF_INET6)
		setsockopt(r->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	set_bufs(r->lfd, (int)r->o.sockbuf);
	if (bind(r->lfd, &la.sa, llen)) {
		fprintf(stderr, "udp-impair: bind %s: %s\n", r->o.listen, strerror(errno));
		return -errno;
	}
	/* data.ptr NULL/&lfd/&tfd/&sfd tell our own fds from sessions. */
	struct epoll_event ev = {.events = EPOLLIN};
	int *fds[] = {&r->lfd, &r->tfd, &r->sfd};
	for (int i = 0; i < 3; i++) {
		ev.data.ptr = fds[i];
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, *fds[i], &ev)) {
			fprintf(stderr, "udp-impair: epoll: %s\n", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Arm the timer for the earliest delivery or housekeeping tick. */
static void arm_timer(struct relay *r)
{
	uint64_t next = r->next_tick_ns;
	for (int dir = 0; dir < NDIR; dir++)
		if (r->d[dir].heap_len && r->d[dir].heap[0]->due_ns < next)
			next = r->d[dir].heap[0]->due_ns;
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(next / 1000000000ULL),
	                                      .tv_nsec = (long)(next % 1000000000ULL)}};
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1; /* zero would disarm it */
	timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Returns true when a stop signal arrived. */
static bool on_signal(struct relay *r)
{
	struct signalfd_siginfo si;
	bool stop = false;
	while (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			print_stats(r, stdout);
			fflush(stdout);
		} else {
			stop = true;
		}
	}
	return stop;
}

static int run(struct relay *r)
{
	uint64_t tick_ns = (r->o.stats_path ? r->o.stats_ms : 1000) * 1000000ULL;
	r->next_tick_ns = now_ns() + tick_ns;
	printf("{\"listening\":\"%s\",\"upstream\":\"%s\"}\n", r->o.listen, r->o.upstream);
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[64];
		arm_timer(r);
		int n = epoll_wait(r->ep, evs, 64, -1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "udp-impair: epoll_wait: %s\n", strerror(errno));
			return 2;
		}
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			uint64_t expirations;
			if (p == &r->lfd) {
				rx_clients(r, now);
			} else if (p == &r->tfd) {
				if (read(r->tfd, &expirations, sizeof(expirations)) < 0)
					continue; /* EAGAIN: re-armed before it was read */
			} else if (p == &r->sfd) {
				if (on_signal(r)) {
					write_stats_file(r);
					print_stats(r, stdout);
					fflush(stdout);
					return 0;
				}
			} else {
				rx_upstream(r, p, now);
			}
		}
		deliver_due(r, now_ns());
		if (now >= r->next_tick_ns) {
			sessions_expire(r, now);
			write_stats_file(r);
			r->next_tick_ns = now + tick_ns;
		}
	}
}

int main(int argc, char **argv)
{
	static struct relay r;
	parse_opts(argc - 1, argv + 1, &r.o);
	if (setup(&r))
		return 2;
	return run(&r);
}
