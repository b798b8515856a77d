/*
 * kfwd-peer: the traffic generator and verifier of the integration suite.
 *
 * One single-threaded epoll loop drives any number of TCP connections. Each
 * connection sends a pseudo-random stream (xoshiro256** seeded from --seed
 * plus the connection's index) and reads whatever arrives; both streams are
 * hashed with SHA-256 (SHA-NI when the CPU has it) so the test can compare
 * what one end sent with what the other received. A JSON line per finished
 * connection goes to stdout.
 *
 *   kfwd-peer server   --listen ADDR [--conns N] [CONN OPTIONS]
 *   kfwd-peer client   --connect ADDR [--conns N] [--parallel P] [CONN OPTIONS]
 *                      (--parallel: at most P connections open at once, a new
 *                      one as soon as one ends; default: all N at once)
 *   kfwd-peer udp-echo --listen ADDR [--timeout MS]
 *   kfwd-peer gen --seed S --bytes N      the stream on stdout (self-test)
 *   kfwd-peer sha256                      hash of stdin (self-test)
 *
 * ADDR is IPv4:PORT or [IPv6]:PORT. Sizes take K, M, G (binary) suffixes.
 * CONN OPTIONS:
 *   --send N          bytes to send (default 0)
 *   --seed S          stream seed; connection i sends the stream of S+i
 *   --order both|send-first|recv-first
 *                     both: send and receive at once (default); send-first:
 *                     read only once everything is sent; recv-first: send
 *                     only after the peer's EOF
 *   --wait-rx N       start sending only after N bytes have been received
 *   --pause-read MS   read nothing for MS after the connection is up
 *   --rate BPS        send at most BPS bytes per second
 *   --no-shutdown     do not shutdown(SHUT_WR) after sending; end at EOF
 *   --echo            send back every byte received (instead of --send); a
 *                     chunk is read only once the previous one is sent, so a
 *                     stalled reader stalls the echo's writer; shutdown after
 *                     EOF and everything echoed
 *   --reset-after-rx N / --reset-after-tx N
 *                     close with RST (SO_LINGER 0) once N bytes were
 *                     received / sent (-1: never, the default)
 *   --bufsize N       read/write chunk (default 256K)
 *   --progress MS     print {"progress":...} totals every MS
 *   --timeout MS      give up after MS; unfinished connections are reported
 *                     with error "timeout" (default 120000)
 * Exit status: 0 when every connection ended cleanly, 1 when one had an
 * error (the JSON says which), 2 on bad usage or setup failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"
#include "tool_addr.h"

/* ---- the pseudo-random stream ------------------------------------------- */

struct gen {
	uint64_t s[4];
	uint64_t word; /* current word */
	int left;      /* its bytes not yet handed out */
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void gen_init(struct gen *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
	g->left = 0;
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t gen_next(struct gen *g)
{
	uint64_t *s = g->s;
	uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return r;
}

/* The stream is the little-endian bytes of successive words, however it is cut. */
static void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	while (n && g->left) {
		*p++ = (uint8_t)(g->word >> (8 * (8 - g->left)));
		g->left--;
		n--;
	}
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w = gen_next(g);
		memcpy(p, &w, 8);
	}
	if (n) {
		g->word = gen_next(g);
		g->left = 8;
		while (n--) {
			*p++ = (uint8_t)(g->word >> (8 * (8 - g->left)));
			g->left--;
		}
	}
}

/* ---- options ------------------------------------------------------------ */

enum order { ORD_BOTH, ORD_SEND_FIRST, ORD_RECV_FIRST };

struct opts {
	const char *addr;
	long conns;    /* client: connections to open; server: to serve (0: forever) */
	long parallel; /* client: most connections open at once (0: all) */
	uint64_t send;
	uint64_t seed;
	enum order order;
	uint64_t wait_rx;
	long pause_read_ms;
	uint64_t rate; /* bytes/s, 0: unlimited */
	bool no_shutdown;
	bool echo;
	int64_t reset_after_rx, reset_after_tx;
	size_t bufsize;
	long progress_ms;
	long timeout_ms;
};

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		end++;
		break;
	case 'G':
	case 'g':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: kfwd-peer server|client|udp-echo|gen|sha256 [options] "
	                "(see the comment at the top of tests/tools/kfwd-peer.c)\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.reset_after_rx = -1,
	                   .reset_after_tx = -1,
	                   .bufsize = 256 << 10,
	                   .timeout_ms = 120000,
	                   .conns = -1};
	for (int i = 0; i < argc; i++) {
		const char *k = argv[i];
		if (!strcmp(k, "--no-shutdown")) {
			o->no_shutdown = true;
			continue;
		}
		if (!strcmp(k, "--echo")) {
			o->echo = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		uint64_t n = 0;
		bool sized = parse_size(v, &n) == 0;
		if (!strcmp(k, "--listen") || !strcmp(k, "--connect"))
			o->addr = v;
		else if (!strcmp(k, "--order"))
			o->order = !strcmp(v, "both")         ? ORD_BOTH
			           : !strcmp(v, "send-first") ? ORD_SEND_FIRST
			           : !strcmp(v, "recv-first") ? ORD_RECV_FIRST
			                                      : (usage(), ORD_BOTH);
		else if (!strcmp(k, "--reset-after-rx") || !strcmp(k, "--reset-after-tx")) {
			int64_t r = -1;
			if (strcmp(v, "-1")) {
				if (!sized)
					usage();
				r = (int64_t)n;
			}
			if (k[14] == 'r')
				o->reset_after_rx = r;
			else
				o->reset_after_tx = r;
		} else if (!sized)
			usage();
		else if (!strcmp(k, "--conns"))
			o->conns = (long)n;
		else if (!strcmp(k, "--parallel"))
			o->parallel = (long)n;
		else if (!strcmp(k, "--send") || !strcmp(k, "--bytes"))
			o->send = n;
		else if (!strcmp(k, "--seed"))
			o->seed = n;
		else if (!strcmp(k, "--wait-rx"))
			o->wait_rx = n;
		else if (!strcmp(k, "--pause-read"))
			o->pause_read_ms = (long)n;
		else if (!strcmp(k, "--rate"))
			o->rate = n;
		else if (!strcmp(k, "--bufsize"))
			o->bufsize = n < 8 ? 8 : (size_t)n;
		else if (!strcmp(k, "--progress"))
			o->progress_ms = (long)n;
		else if (!strcmp(k, "--timeout"))
			o->timeout_ms = (long)n;
		else
			usage();
	}
}

/* ---- connections -------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct conn {
	int fd;
	long id;
	bool connecting;
	bool done;
	uint32_t events; /* epoll interest now registered */
	bool registered; /* in the epoll set at all */
	uint64_t t_start, t_up, t_rx_eof, t_end, t_tx_done;
	uint64_t wall_start; /* CLOCK_REALTIME at t_start, to line up two processes */
	/* sending */
	struct gen g;
	uint64_t tx_total, tx_done;
	uint8_t *txbuf;
	size_t txoff, txlen;
	struct sha256 txsha;
	bool shut;
	/* receiving */
	uint64_t rx_done;
	struct sha256 rxsha;
	bool rx_eof;
	bool reset_sent;
	int err;
	const char *err_op;
	char local[64], peer[64];
};

struct peer {
	struct opts o;
	bool server;
	int ep;
	int lfd;
	struct conn **conns;
	size_t nconns, capconns;
	long opened, finished, failed;
	uint8_t *rxbuf;
	uint64_t t0, deadline, next_progress;
	uint64_t tx_all, rx_all;
};

static bool echo_mode; /* --echo: what is sent is what was received */

static bool tx_finished(const struct conn *c)
{
	if (echo_mode && !c->rx_eof)
		return false;
	return c->tx_done == c->tx_total;
}

/* Echo: a chunk read and not yet sent back holds further reads. */
static bool echo_pending(const struct conn *c)
{
	return echo_mode && c->txoff < c->txlen;
}

static bool may_read(const struct peer *p, const struct conn *c, uint64_t now)
{
	if (c->rx_eof || c->connecting || echo_pending(c))
		return false;
	if (p->o.pause_read_ms && now < c->t_up + (uint64_t)p->o.pause_read_ms)
		return false;
	return p->o.order != ORD_SEND_FIRST || tx_finished(c);
}

/* Bytes the rate limit lets out now (UINT64_MAX without a limit). */
static uint64_t rate_allowance(const struct peer *p, const struct conn *c, uint64_t now)
{
	if (!p->o.rate)
		return UINT64_MAX;
	/* A burst of 50 ms worth keeps slow rates slow and fast ones smooth. */
	uint64_t allowed = p->o.rate * (now - c->t_up) / 1000 + p->o.rate / 20 + 1;
	return allowed > c->tx_done ? allowed - c->tx_done : 0;
}

static bool may_send(const struct peer *p, const struct conn *c, uint64_t now)
{
	if (tx_finished(c) || c->connecting)
		return false;
	if (echo_mode && !echo_pending(c))
		return false;
	if (p->o.order == ORD_RECV_FIRST && !c->rx_eof)
		return false;
	if (c->rx_done < p->o.wait_rx && !c->rx_eof)
		return false;
	return rate_allowance(p, c, now) > 0;
}

static const char *errname(int e)
{
	switch (e) {
	case 0:
		return "";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EPIPE:
		return "EPIPE";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EHOSTUNREACH:
		return "EHOSTUNREACH";
	case ENETUNREACH:
		return "ENETUNREACH";
	case ECONNABORTED:
		return "ECONNABORTED";
	default:
		return strerror(e);
	}
}

static void conn_report(struct peer *p, struct conn *c)
{
	char txh[65], rxh[65];
	sha256_hex(&c->txsha, txh);
	sha256_hex(&c->rxsha, rxh);
	uint64_t t0 = c->t_start;
#define REL(t) ((t) ? (long long)((t)-t0) : -1LL)
	printf("{\"conn\":%ld,\"local\":\"%s\",\"peer\":\"%s\",\"tx_bytes\":%llu,"
	       "\"tx_sha256\":\"%s\",\"rx_bytes\":%llu,\"rx_sha256\":\"%s\",\"rx_eof\":%s,"
	       "\"reset_sent\":%s,\"error\":\"%s\",\"error_op\":\"%s\",\"t_up_ms\":%lld,"
	       "\"t_tx_done_ms\":%lld,\"t_rx_eof_ms\":%lld,\"t_end_ms\":%lld,"
	       "\"wall_start_ms\":%llu}\n",
	       c->id, c->local, c->peer, (unsigned long long)c->tx_done, txh,
	       (unsigned long long)c->rx_done, rxh, c->rx_eof ? "true" : "false",
	       c->reset_sent ? "true" : "false", c->err == -1 ? "timeout" : errname(c->err),
	       c->err_op ? c->err_op : "", REL(c->t_up), REL(c->t_tx_done), REL(c->t_rx_eof),
	       REL(c->t_end), (unsigned long long)c->wall_start);
#undef REL
	fflush(stdout);
}

static void conn_finish(struct peer *p, struct conn *c, bool reset)
{
	if (c->done)
		return;
	c->done = true;
	c->t_end = now_ms();
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		c->reset_sent = true;
	}
	if (c->registered)
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	p->finished++;
	if (c->err)
		p->failed++;
	conn_report(p, c);
	free(c->txbuf);
	c->txbuf = NULL;
}

static void conn_fail(struct peer *p, struct conn *c, int err, const char *op)
{
	c->err = err;
	c->err_op = op;
	conn_finish(p, c, false);
}

static void conn_up(struct peer *p, struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	c->connecting = false;
	c->t_up = now_ms();
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
		tool_fmt_addr(&ss, c->local, sizeof(c->local));
	len = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0)
		tool_fmt_addr(&ss, c->peer, sizeof(c->peer));
	if (p->o.reset_after_rx == 0 || p->o.reset_after_tx == 0)
		conn_finish(p, c, true);
}

static struct conn *conn_new(struct peer *p, int fd, bool connecting)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "kfwd-peer: out of memory\n");
		exit(2);
	}
	c->fd = fd;
	c->id = p->opened++;
	c->connecting = connecting;
	c->t_start = now_ms();
	c->wall_start = wall_ms();
	c->tx_total = p->o.send;
	gen_init(&c->g, p->o.seed + (uint64_t)c->id);
	sha256_init(&c->txsha);
	sha256_init(&c->rxsha);
	if (p->nconns == p->capconns) {
		p->capconns = p->capconns ? p->capconns * 2 : 64;
		p->conns = realloc(p->conns, p->capconns * sizeof(*p->conns));
		if (!p->conns) {
			fprintf(stderr, "kfwd-peer: out of memory\n");
			exit(2);
		}
	}
	p->conns[p->nconns++] = c;
	if (!connecting)
		conn_up(p, c);
	return c;
}

/*
 * Register exactly the wanted events. With nothing wanted the socket leaves
 * the epoll set: a hang-up we are not reading yet must not spin the loop
 * (level-triggered); the periodic scan brings it back.
 */
static void set_interest(struct peer *p, struct conn *c, uint32_t want)
{
	if (c->registered && want == c->events)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = c};
	if (!want) {
		if (c->registered)
			epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->registered = false;
	} else if (epoll_ctl(p->ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev)) {
		perror("kfwd-peer: epoll_ctl");
		exit(2);
	} else {
		c->registered = true;
	}
	c->events = want;
}

static void conn_read(struct peer *p, struct conn *c)
{
	size_t budget = 8u << 20;
	while (budget && !c->done) {
		size_t want = p->o.bufsize;
		if (p->o.reset_after_rx > 0 && (uint64_t)p->o.reset_after_rx - c->rx_done < want)
			want = (size_t)((uint64_t)p->o.reset_after_rx - c->rx_done);
		if (echo_pending(c))
			return;
		ssize_t n = recv(c->fd, p->rxbuf, want, MSG_DONTWAIT);
		if (n > 0 && echo_mode) {
			if (!c->txbuf && !(c->txbuf = malloc(p->o.bufsize))) {
				fprintf(stderr, "kfwd-peer: out of memory\n");
				exit(2);
			}
			memcpy(c->txbuf, p->rxbuf, (size_t)n);
			c->txoff = 0;
			c->txlen = (size_t)n;
			c->tx_total += (uint64_t)n;
		}
		if (n > 0) {
			sha256_update(&c->rxsha, p->rxbuf, (size_t)n);
			c->rx_done += (uint64_t)n;
			p->rx_all += (uint64_t)n;
			budget -= (size_t)n < budget ? (size_t)n : budget;
			if (p->o.reset_after_rx > 0 &&
			    c->rx_done >= (uint64_t)p->o.reset_after_rx) {
				conn_finish(p, c, true);
				return;
			}
			continue;
		}
		if (n == 0) {
			c->rx_eof = true;
			c->t_rx_eof = now_ms();
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_fail(p, c, errno, "read");
		return;
	}
}

static void conn_write(struct peer *p, struct conn *c, uint64_t now)
{
	size_t budget = 8u << 20;
	while (budget && !c->done && !tx_finished(c)) {
		if (c->txoff == c->txlen) {
			if (echo_mode)
				return; /* nothing received that is not sent back yet */
			uint64_t left = c->tx_total - c->tx_done;
			size_t n = left < p->o.bufsize ? (size_t)left : p->o.bufsize;
			if (!c->txbuf && !(c->txbuf = malloc(n))) {
				fprintf(stderr, "kfwd-peer: out of memory\n");
				exit(2);
			}
			gen_fill(&c->g, c->txbuf, n);
			c->txoff = 0;
			c->txlen = n;
		}
		size_t want = c->txlen - c->txoff;
		uint64_t allow = rate_allowance(p, c, now);
		if (p->o.reset_after_tx > 0 && (uint64_t)p->o.reset_after_tx - c->tx_done < allow)
			allow = (uint64_t)p->o.reset_after_tx - c->tx_done;
		if (allow < want)
			want = (size_t)allow;
		if (!want)
			return;
		ssize_t n = send(c->fd, c->txbuf + c->txoff, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_fail(p, c, errno, "write");
			return;
		}
		sha256_update(&c->txsha, c->txbuf + c->txoff, (size_t)n);
		c->txoff += (size_t)n;
		c->tx_done += (uint64_t)n;
		p->tx_all += (uint64_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (p->o.reset_after_tx > 0 && c->tx_done >= (uint64_t)p->o.reset_after_tx) {
			conn_finish(p, c, true);
			return;
		}
	}
}

/* After any change: shut down, finish, or register the interest that is left. */
static void conn_step(struct peer *p, struct conn *c, uint64_t now)
{
	if (c->done || c->connecting)
		return;
	if (tx_finished(c) && !c->shut) {
		if (!c->t_tx_done)
			c->t_tx_done = now ? now : 1;
		if (!p->o.no_shutdown) {
			shutdown(c->fd, SHUT_WR);
			c->shut = true;
		}
	}
	if (c->rx_eof && tx_finished(c)) {
		conn_finish(p, c, false);
		return;
	}
	uint32_t want = 0;
	if (may_read(p, c, now))
		want |= EPOLLIN | EPOLLRDHUP;
	if (may_send(p, c, now))
		want |= EPOLLOUT;
	set_interest(p, c, want);
}

static void conn_event(struct peer *p, struct conn *c, uint32_t ev)
{
	uint64_t now = now_ms();
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_fail(p, c, err, "connect");
			return;
		}
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_up(p, c);
		conn_step(p, c, now);
		return;
	}
	if (may_read(p, c, now))
		conn_read(p, c);
	if (!c->done && may_send(p, c, now))
		conn_write(p, c, now);
	if (!c->done && (ev & EPOLLERR) && !may_read(p, c, now)) {
		/* An error while we are not reading (paused, or after EOF): report it. */
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_fail(p, c, err, "socket");
			return;
		}
	}
	conn_step(p, c, now);
}

/* ---- client and server -------------------------------------------------- */

static void open_client_conn(struct peer *p, const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("kfwd-peer: socket");
		exit(2);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = conn_new(p, fd, true);
	tool_fmt_addr(ss, c->peer, sizeof(c->peer));
	if (connect(fd, (const struct sockaddr *)ss, len) == 0) {
		conn_up(p, c);
		conn_step(p, c, now_ms());
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(p, c, errno, "connect");
		return;
	}
	set_interest(p, c, EPOLLOUT);
}

static void server_accept(struct peer *p)
{
	for (int i = 0; i < 256; i++) {
		if (p->o.conns > 0 && p->opened >= p->o.conns) {
			/* Served all it was asked for: free the port for the next server. */
			epoll_ctl(p->ep, EPOLL_CTL_DEL, p->lfd, NULL);
			close(p->lfd);
			p->lfd = -1;
			return;
		}
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = conn_new(p, fd, false);
		conn_step(p, c, now_ms());
	}
}

/* Connections a client opens in all. */
static long client_target(const struct peer *p)
{
	return p->o.conns < 0 ? 1 : p->o.conns;
}

static bool all_done(const struct peer *p)
{
	if (p->server && (p->o.conns <= 0 || p->opened < p->o.conns))
		return false;
	if (!p->server && p->opened < client_target(p))
		return false;
	return p->finished == p->opened;
}

/* Drop finished connections from the table (they were reported already). */
static void compact(struct peer *p)
{
	size_t j = 0;
	for (size_t i = 0; i < p->nconns; i++) {
		if (p->conns[i]->done)
			free(p->conns[i]);
		else
			p->conns[j++] = p->conns[i];
	}
	p->nconns = j;
}

static int run_tcp(struct peer *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (!p->o.addr || tool_parse_addr(p->o.addr, (struct sockaddr *)&ss, sizeof(ss), &len, 0)) {
		fprintf(stderr, "kfwd-peer: bad or missing address\n");
		return 2;
	}
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->rxbuf = malloc(p->o.bufsize);
	if (p->ep < 0 || !p->rxbuf)
		return 2;
	p->t0 = now_ms();
	p->deadline = p->t0 + (uint64_t)p->o.timeout_ms;
	p->next_progress = p->o.progress_ms ? p->t0 : UINT64_MAX;
	p->lfd = -1;
	if (p->server) {
		p->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(p->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(p->lfd, (struct sockaddr *)&ss, len) || listen(p->lfd, 4096)) {
			fprintf(stderr, "kfwd-peer: listen %s: %s\n", p->o.addr, strerror(errno));
			return 2;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &ev);
		printf("{\"listening\":\"%s\"}\n", p->o.addr);
		fflush(stdout);
	}
	struct epoll_event evs[256];
	bool timed_out = false;
	uint64_t next_scan = 0;
	while (!all_done(p)) {
		uint64_t now = now_ms();
		if (now >= p->deadline) {
			timed_out = true;
			break;
		}
		/* Client: keep --parallel connections open until all were opened. */
		while (!p->server && p->opened < client_target(p) &&
		       (!p->o.parallel || p->opened - p->finished < p->o.parallel))
			open_client_conn(p, &ss, len);
		if (now >= p->next_progress) {
			printf("{\"progress\":true,\"t_ms\":%llu,\"tx\":%llu,\"rx\":%llu,\"open\":%"
			       "ld}\n",
			       (unsigned long long)(now - p->t0), (unsigned long long)p->tx_all,
			       (unsigned long long)p->rx_all, p->opened - p->finished);
			fflush(stdout);
			p->next_progress = now + (uint64_t)p->o.progress_ms;
		}
		/* Paused readers and rate limits change with time alone: look every 20 ms
		 * when one is in use, else every 200 ms. */
		int wait = p->o.pause_read_ms || p->o.rate ? 20 : 200;
		if (p->o.progress_ms && p->o.progress_ms < wait)
			wait = (int)p->o.progress_ms;
		int n = epoll_wait(p->ep, evs, 256, wait);
		if (n < 0 && errno != EINTR) {
			perror("kfwd-peer: epoll_wait");
			return 2;
		}
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				server_accept(p);
			else if (!((struct conn *)evs[i].data.ptr)->done)
				conn_event(p, evs[i].data.ptr, evs[i].events);
		}
		now = now_ms();
		if (now >= next_scan) {
			next_scan = now + (uint64_t)wait;
			for (size_t i = 0; i < p->nconns; i++) {
				struct conn *c = p->conns[i];
				if (!c->done && !c->connecting) {
					if (may_send(p, c, now) && p->o.rate)
						conn_write(p, c, now);
					conn_step(p, c, now);
				}
			}
		}
		if (p->finished * 2 > (long)p->nconns + 64 || p->nconns > 4096)
			compact(p);
	}
	if (timed_out) {
		for (size_t i = 0; i < p->nconns; i++)
			if (!p->conns[i]->done) {
				p->conns[i]->err = -1;
				p->conns[i]->err_op = "timeout";
				conn_finish(p, p->conns[i], false);
			}
	}
	printf("{\"summary\":true,\"conns\":%ld,\"failed\":%ld,\"timed_out\":%s,\"tx\":%llu,"
	       "\"rx\":%llu,\"t_ms\":%llu}\n",
	       p->opened, p->failed, timed_out ? "true" : "false", (unsigned long long)p->tx_all,
	       (unsigned long long)p->rx_all, (unsigned long long)(now_ms() - p->t0));
	fflush(stdout);
	return p->failed ? 1 : 0;
}

/* ---- UDP echo ----------------------------------------------------------- */

static int run_udp_echo(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (!o->addr || tool_parse_addr(o->addr, (struct sockaddr *)&ss, sizeof(ss), &len, 0)) {
		fprintf(stderr, "kfwd-peer: bad or missing address\n");
		return 2;
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Bursts of a thousand datagrams must not overflow the echo itself while it
	 * waits for a core: a test counts what kfwd loses, not what we do. */
	int rcvbuf = 8 << 20;
	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len)) {
		fprintf(stderr, "kfwd-peer: bind %s: %s\n", o->addr, strerror(errno));
		return 2;
	}
	printf("{\"listening\":\"%s\"}\n", o->addr);
	fflush(stdout);
	/* Wake up at least every 100 ms to notice the --timeout deadline. */
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static uint8_t buf[65536];
	uint64_t deadline = now_ms() + (uint64_t)o->timeout_ms, echoed = 0;
	while (now_ms() < deadline) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("kfwd-peer: recvfrom");
			return 2;
		}
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen) == n)
			echoed++;
	}
	printf("{\"summary\":true,\"echoed\":%llu}\n", (unsigned long long)echoed);
	return 0;
}

/* ---- self-test helpers -------------------------------------------------- */

static int run_gen(const struct opts *o)
{
	static uint8_t buf[1 << 16];
	struct gen g;
	struct sha256 s;
	char hex[65];
	gen_init(&g, o->seed);
	sha256_init(&s);
	for (uint64_t left = o->send; left;) {
		/* Odd chunk sizes exercise gen_fill's and sha256_update's partial paths. */
		size_t n = left < sizeof(buf) - 13 ? (size_t)left : sizeof(buf) - 13;
		gen_fill(&g, buf, n);
		sha256_update(&s, buf, n);
		if (fwrite(buf, 1, n, stdout) != n)
			return 2;
		left -= n;
	}
	fflush(stdout);
	sha256_hex(&s, hex);
	fprintf(stderr, "%s\n", hex);
	return 0;
}

static int run_sha256(void)
{
	static uint8_t buf[100003];
	struct sha256 s;
	char hex[65];
	size_t n;
	sha256_init(&s);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		sha256_update(&s, buf, n);
	sha256_hex(&s, hex);
	printf("%s\n", hex);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	sha256_pick();
	struct peer p = {0};
	parse_opts(argc - 2, argv + 2, &p.o);
	echo_mode = p.o.echo;
	const char *mode = argv[1];
	if (!strcmp(mode, "server")) {
		p.server = true;
		if (p.o.conns < 0)
			p.o.conns = 0;
		return run_tcp(&p);
	}
	if (!strcmp(mode, "client"))
		return run_tcp(&p);
	if (!strcmp(mode, "udp-echo"))
		return run_udp_echo(&p.o);
	if (!strcmp(mode, "gen"))
		return run_gen(&p.o);
	if (!strcmp(mode, "sha256"))
		return run_sha256();
	usage();
	return 2;
}
