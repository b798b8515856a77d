/*
 * perf/connectload.c: load generator of the CONNECT proxy benchmark
 * (perf/run-connect.sh). Three subcommands:
 *
 *   connectload rate -p PROXY -t TARGET [-k WORKERS] [-d SECONDS] [-s SIZE] [-T OP_TIMEOUT_MS]
 *     K workers loop for DURATION over: new TCP connection to PROXY,
 *     "CONNECT TARGET", a 200 response head, SIZE bytes sent and SIZE bytes
 *     read back (TARGET is an echo server), close. Prints one JSON line:
 *     {"tunnels":..,"errors":..,"secs":..,"rate":..,"p50_us":..,"p99_us":..,
 *      "refused":..,"first_error":".."}. Only tunnels completed within the
 *     duration count; p50/p99 are of one whole cycle. Exit 1 if none completed.
 *
 *   connectload bulk -p PROXY -t TARGET [-P STREAMS] [-n BYTES] [-T OP_TIMEOUT_MS] [-V]
 *     opens STREAMS tunnels to TARGET (a `connectload sink`), then, once all
 *     are established, sends BYTES in total (split evenly) through them at
 *     once; each stream ends when the sink has acknowledged every byte it
 *     sent. Prints {"streams":..,"bytes":..,"secs":..,"gbps":..,"verified":..};
 *     secs runs from the moment all tunnels were up to the last
 *     acknowledgement. -V: the sink compares every byte with the expected
 *     pattern (costs a memcmp per byte: use it for the check, not the figure).
 *     Exit 1 on any error or mismatch.
 *
 *   connectload sink -l ADDR [-T OP_TIMEOUT_MS] [-L MAX_SECONDS]
 *     the bulk test's receiver: per connection a 16-byte header (length,
 *     verify flag), then that many bytes, answered by a 16-byte
 *     acknowledgement (bytes received, 1 if they matched or were not checked).
 *     One thread per connection, at most MAX_CONNS at once.
 *
 * Every wait is bounded: socket operations time out after OP_TIMEOUT_MS
 * (default 5000), workers stop at their deadline, the sink exits after
 * MAX_SECONDS (default 3600) or on SIGTERM.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define MAX_WORKERS 256
#define MAX_STREAMS 64
#define MAX_CONNS   256
#define HEAD_MAX    4096
#define PAT_LEN     1048573u /* prime: the pattern never lines up with a read size */
#define CHUNK       (256u << 10)
#define SINK_MAGIC  0x6b66776463626e6bull /* "kfwdcbnk": marks a bulk header */
#define STATUS_MAX  64

static struct sockaddr_in g_proxy;
static const char *g_target;
static int g_tmo = 5000;
static char *g_pat; /* 2 x PAT_LEN: bytes at stream offset o are g_pat[o % PAT_LEN ...] */

/* ---- shared: the pattern, the CONNECT exchange ------------------------- */

static int pat_init(void)
{
	g_pat = malloc(2 * (size_t)PAT_LEN);
	if (!g_pat)
		return -1;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < PAT_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		g_pat[i] = (char)(x >> 24);
	}
	/* The second copy equals the first: any window of PAT_LEN is contiguous. */
	memcpy(g_pat + PAT_LEN, g_pat, PAT_LEN);
	return 0;
}

/*
 * Send "CONNECT target" on fd and read the response head. Returns 0 on a 2xx
 * answer; -1 on an I/O error (errno set, 0 for EOF) or another status (its
 * status line in status, errno EPROTO). Bytes after the head (an early reply
 * of the target) are copied to extra (at most extra_cap), their count to
 * *extra_len.
 */
static int do_connect(int fd, char *status, char *extra, size_t extra_cap, size_t *extra_len)
{
	char req[512], head[HEAD_MAX + 1];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", g_target,
	                 g_target);
	if (n <= 0 || (size_t)n >= sizeof(req) || write_all(fd, req, (size_t)n))
		return -1;
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		if (len == HEAD_MAX) {
			snprintf(status, STATUS_MAX, "response head over %d bytes", HEAD_MAX);
			errno = EPROTO;
			return -1;
		}
		ssize_t r = recv(fd, head + len, HEAD_MAX - len, 0);
		if (r == 0) {
			errno = 0;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		len += (size_t)r;
		head[len] = 0;
		end = strstr(head, "\r\n\r\n");
	}
	size_t hl = (size_t)(end + 4 - head);
	*extra_len = len - hl < extra_cap ? len - hl : extra_cap;
	memcpy(extra, end + 4, *extra_len);
	/* "HTTP/1.x 2xx ..." */
	if (strncmp(head, "HTTP/1.", 7) || len < 12 || head[8] != ' ' || head[9] != '2') {
		char *eol = strstr(head, "\r\n");
		size_t sl = eol ? (size_t)(eol - head) : 0;
		snprintf(status, STATUS_MAX, "%.*s",
		         (int)(sl < STATUS_MAX - 1 ? sl : STATUS_MAX - 1), head);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* ---- rate -------------------------------------------------------------- */

struct rwk {
	pthread_t t;
	struct lats lat;
	uint64_t tunnels, errors, refused;
	int first_errno;
	char first_what[16];
	char first_status[STATUS_MAX];
};

static uint64_t g_deadline;
static size_t g_size = 32;

static void rate_err(struct rwk *w, const char *what, const char *status)
{
	if (!w->errors++) {
		w->first_errno = errno;
		snprintf(w->first_what, sizeof(w->first_what), "%s", what);
		snprintf(w->first_status, sizeof(w->first_status), "%s", status);
	}
	usleep(1000); /* a refusing proxy must not turn the loop into a spin */
}

/* One tunnel: connect, CONNECT, 200, SIZE bytes echoed, close. 0 or -1 (counted). */
static int rate_one(struct rwk *w, const char *req, char *resp)
{
	char status[STATUS_MAX] = "";
	size_t got = 0;
	int fd = connect_to(&g_proxy, g_tmo);
	if (fd < 0) {
		rate_err(w, "connect", "");
		return -1;
	}
	if (do_connect(fd, status, resp, g_size, &got)) {
		if (errno == EPROTO)
			w->refused++;
		close(fd);
		rate_err(w, errno == EPROTO ? "status" : "connect-head", status);
		return -1;
	}
	if (write_all(fd, req, g_size)) {
		close(fd);
		rate_err(w, "write", "");
		return -1;
	}
	if (got < g_size && read_all(fd, resp + got, g_size - got)) {
		close(fd);
		rate_err(w, "read", "");
		return -1;
	}
	close(fd);
	if (memcmp(req, resp, g_size)) {
		errno = EBADMSG;
		rate_err(w, "echo", "echoed bytes differ");
		return -1;
	}
	return 0;
}

static void *rate_run(void *arg)
{
	struct rwk *w = arg;
	char *req = malloc(g_size), *resp = malloc(g_size);
	if (!req || !resp)
		goto out;
	for (size_t i = 0; i < g_size; i++)
		req[i] = (char)('a' + i % 26);
	for (;;) {
		uint64_t t0 = now_ns();
		if (t0 >= g_deadline)
			break;
		if (rate_one(w, req, resp))
			continue;
		uint64_t t1 = now_ns();
		if (t1 > g_deadline) /* finished after the end: not counted */
			break;
		w->tunnels++;
		lat_add(&w->lat, t1 - t0);
	}
out:
	free(req);
	free(resp);
	return NULL;
}

static int cmd_rate(int k, double dur)
{
	static struct rwk w[MAX_WORKERS];
	uint64_t start = now_ns();
	g_deadline = start + (uint64_t)(dur * 1e9);
	for (int i = 0; i < k; i++)
		if (pthread_create(&w[i].t, NULL, rate_run, &w[i])) {
			perror("connectload: pthread_create");
			return 1;
		}
	uint64_t tunnels = 0, errors = 0, refused = 0;
	const struct rwk *fw = NULL;
	for (int i = 0; i < k; i++) {
		pthread_join(w[i].t, NULL);
		tunnels += w[i].tunnels;
		errors += w[i].errors;
		refused += w[i].refused;
		if (w[i].errors && !fw)
			fw = &w[i];
	}
	double secs = (double)(now_ns() - start) / 1e9;
	struct lats all = {0};
	for (int i = 0; i < k; i++)
		if (lat_join(&all, &w[i].lat))
			return 1;
	qsort(all.v, all.n, sizeof(uint64_t), cmp_u64);
	printf("{\"tunnels\":%llu,\"errors\":%llu,\"refused\":%llu,\"secs\":%.3f,\"rate\":%.1f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f",
	       (unsigned long long)tunnels, (unsigned long long)errors, (unsigned long long)refused,
	       secs, (double)tunnels / dur, pct_us(all.v, all.n, 50), pct_us(all.v, all.n, 99));
	free(all.v);
	char first[160] = "";
	if (fw) {
		if (fw->first_status[0])
			snprintf(first, sizeof(first), "%s: %s", fw->first_what, fw->first_status);
		else
			snprintf(first, sizeof(first), "%s: %s", fw->first_what,
			         fw->first_errno ? strerror(fw->first_errno) : "closed by peer");
		printf(",\"first_error\":\"");
		for (const char *c = first; *c; c++) /* a status line is the proxy's text */
			putchar(*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 ? '?' : *c);
		printf("\"");
	}
	printf("}\n");
	if (!tunnels) {
		fprintf(stderr, "connectload rate: no tunnel completed (%s)\n", fw ? first : "?");
		return 1;
	}
	return 0;
}

/* ---- bulk -------------------------------------------------------------- */

struct bstream {
	pthread_t t;
	int fd;
	uint64_t bytes;   /* this stream's share */
	uint64_t t_end;   /* when its acknowledgement arrived */
	bool ok, matched; /* finished; the sink found the bytes as sent */
	char err[160];
};

static pthread_barrier_t g_bar;
static bool g_verify;
static uint64_t g_t0;

static void *bulk_run(void *arg)
{
	struct bstream *s = arg;
	char status[STATUS_MAX] = "", extra[16];
	size_t got = 0;
	bool up = false;
	s->fd = connect_to(&g_proxy, g_tmo);
	if (s->fd < 0)
		snprintf(s->err, sizeof(s->err), "connect to the proxy: %s", strerror(errno));
	else if (do_connect(s->fd, status, extra, sizeof(extra), &got))
		snprintf(s->err, sizeof(s->err), "CONNECT: %s",
		         errno == EPROTO ? status
		         : errno         ? strerror(errno)
		                         : "closed by the proxy");
	else if (got)
		snprintf(s->err, sizeof(s->err), "the sink spoke first (%zu bytes)", got);
	else
		up = true;
	/* Everyone waits for every tunnel: the clock measures bytes only. */
	pthread_barrier_wait(&g_bar);
	pthread_barrier_wait(&g_bar); /* the main thread read the clock, or gave up */
	if (!up || !g_t0)
		return NULL;
	uint64_t hdr[2] = {SINK_MAGIC ^ s->bytes, g_verify}, ack[2];
	if (write_all(s->fd, (const char *)hdr, sizeof(hdr))) {
		snprintf(s->err, sizeof(s->err), "send header: %s", strerror(errno));
		return NULL;
	}
	uint64_t off = 0;
	while (off < s->bytes) {
		uint64_t left = s->bytes - off;
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		if (write_all(s->fd, g_pat + off % PAT_LEN, n)) {
			snprintf(s->err, sizeof(s->err), "send at byte %llu: %s",
			         (unsigned long long)off, strerror(errno));
			return NULL;
		}
		off += n;
	}
	if (read_all(s->fd, (char *)ack, sizeof(ack))) {
		snprintf(s->err, sizeof(s->err), "acknowledgement: %s",
		         errno ? strerror(errno) : "closed before it");
		return NULL;
	}
	s->t_end = now_ns();
	s->matched = ack[1] == 1;
	if (ack[0] != s->bytes)
		snprintf(s->err, sizeof(s->err), "the sink received %llu of %llu bytes",
		         (unsigned long long)ack[0], (unsigned long long)s->bytes);
	else if (!s->matched)
		snprintf(s->err, sizeof(s->err), "the sink received other bytes than sent");
	else
		s->ok = true;
	return NULL;
}

static int cmd_bulk(int streams, uint64_t bytes)
{
	static struct bstream s[MAX_STREAMS];
	if (pthread_barrier_init(&g_bar, NULL, (unsigned)streams + 1))
		return 1;
	for (int i = 0; i < streams; i++) {
		s[i].fd = -1;
		s[i].bytes = bytes / (uint64_t)streams + ((uint64_t)i < bytes % (uint64_t)streams);
		if (pthread_create(&s[i].t, NULL, bulk_run, &s[i])) {
			perror("connectload: pthread_create");
			exit(1); /* the others wait on the barrier forever otherwise */
		}
	}
	pthread_barrier_wait(&g_bar);
	bool all_up = true;
	for (int i = 0; i < streams; i++)
		all_up = all_up && !s[i].err[0];
	g_t0 = all_up ? now_ns() : 0;
	pthread_barrier_wait(&g_bar);
	uint64_t t_end = 0;
	int bad = -1;
	for (int i = 0; i < streams; i++) {
		pthread_join(s[i].t, NULL);
		if (s[i].fd >= 0)
			close(s[i].fd);
		if (!s[i].ok && bad < 0)
			bad = i;
		if (s[i].t_end > t_end)
			t_end = s[i].t_end;
	}
	if (bad >= 0) {
		fprintf(stderr, "connectload bulk: stream %d: %s\n", bad,
		        s[bad].err[0] ? s[bad].err
		                      : "not started (another stream failed to set up)");
		return 1;
	}
	double secs = (double)(t_end - g_t0) / 1e9;
	printf("{\"streams\":%d,\"bytes\":%llu,\"secs\":%.4f,\"gbps\":%.3f,\"verified\":%s}\n",
	       streams, (unsigned long long)bytes, secs, (double)bytes * 8 / secs / 1e9,
	       g_verify ? "true" : "false");
	return 0;
}

/* ---- sink -------------------------------------------------------------- */

static int g_sink_active;
static pthread_mutex_t g_sink_mu = PTHREAD_MUTEX_INITIALIZER;

static void *sink_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(CHUNK);
	uint64_t hdr[2], got = 0, matched = 1;
	if (!buf || read_all(fd, (char *)hdr, sizeof(hdr)))
		goto out;
	uint64_t want = hdr[0] ^ SINK_MAGIC;
	bool verify = hdr[1] == 1;
	while (got < want) {
		uint64_t left = want - got;
		ssize_t r = recv(fd, buf, left < CHUNK ? (size_t)left : CHUNK, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* the acknowledgement says how far it got */
		if (verify && matched && memcmp(buf, g_pat + got % PAT_LEN, (size_t)r))
			matched = 0;
		got += (uint64_t)r;
	}
	uint64_t ack[2] = {got, matched};
	if (write_all(fd, (const char *)ack, sizeof(ack)) == 0) {
		char c; /* the client closes first: no TIME_WAIT piles up here */
		while (recv(fd, &c, 1, 0) > 0)
			;
	}
out:
	free(buf);
	close(fd);
	pthread_mutex_lock(&g_sink_mu);
	g_sink_active--;
	pthread_mutex_unlock(&g_sink_mu);
	return NULL;
}

static int cmd_sink(const char *listen_at, int max_secs)
{
	struct sockaddr_in a;
	if (parse_addr(listen_at, &a)) {
		fprintf(stderr, "connectload sink: bad address %s\n", listen_at);
		return 2;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
		fprintf(stderr, "connectload sink: listen on %s: %s\n", listen_at, strerror(errno));
		return 1;
	}
	alarm((unsigned)max_secs); /* SIGALRM ends the process: the sink cannot outlive its run */
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "connectload sink: accept: %s\n", strerror(errno));
			return 1;
		}
		struct timeval tv = {.tv_sec = g_tmo / 1000, .tv_usec = (g_tmo % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		pthread_mutex_lock(&g_sink_mu);
		bool room = g_sink_active < MAX_CONNS;
		if (room)
			g_sink_active++;
		pthread_mutex_unlock(&g_sink_mu);
		pthread_t t;
		if (!room || pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)fd)) {
			if (room) {
				pthread_mutex_lock(&g_sink_mu);
				g_sink_active--;
				pthread_mutex_unlock(&g_sink_mu);
			}
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

/* ---- main -------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr,
	        "usage: connectload rate -p PROXY -t TARGET [-k WORKERS] [-d SECONDS] [-s SIZE] "
	        "[-T OP_TIMEOUT_MS]\n"
	        "       connectload bulk -p PROXY -t TARGET [-P STREAMS] [-n BYTES] "
	        "[-T OP_TIMEOUT_MS] [-V]\n"
	        "       connectload sink -l IPv4:PORT [-T OP_TIMEOUT_MS] [-L MAX_SECONDS]\n"
	        "PROXY is IPv4:PORT; TARGET is the host:port sent in the CONNECT request\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1], *proxy = NULL, *listen_at = NULL;
	int k = 8, streams = 1, max_secs = 3600, opt;
	double dur = 5;
	uint64_t bytes = 256ull << 20;
	signal(SIGPIPE, SIG_IGN);
	optind = 2;
	while ((opt = getopt(argc, argv, "p:t:k:d:s:T:P:n:Vl:L:")) != -1) {
		switch (opt) {
		case 'p':
			proxy = optarg;
			break;
		case 't':
			g_target = optarg;
			break;
		case 'k':
			k = atoi(optarg);
			break;
		case 'd':
			dur = atof(optarg);
			break;
		case 's':
			g_size = (size_t)atol(optarg);
			break;
		case 'T':
			g_tmo = atoi(optarg);
			break;
		case 'P':
			streams = atoi(optarg);
			break;
		case 'n':
			bytes = strtoull(optarg, NULL, 10);
			break;
		case 'V':
			g_verify = true;
			break;
		case 'l':
			listen_at = optarg;
			break;
		case 'L':
			max_secs = atoi(optarg);
			break;
		default:
			return usage();
		}
	}
	if (g_tmo < 1 || optind != argc)
		return usage();
	if (pat_init()) {
		fprintf(stderr, "connectload: out of memory\n");
		return 1;
	}
	if (!strcmp(cmd, "sink")) {
		if (!listen_at || max_secs < 1)
			return usage();
		return cmd_sink(listen_at, max_secs);
	}
	if (!proxy || parse_addr(proxy, &g_proxy) || !g_target || strlen(g_target) > 260)
		return usage();
	if (!strcmp(cmd, "rate")) {
		if (k < 1 || k > MAX_WORKERS || dur <= 0 || dur > 3600 || g_size < 1 ||
		    g_size > 65536)
			return usage();
		return cmd_rate(k, dur);
	}
	if (!strcmp(cmd, "bulk")) {
		if (streams < 1 || streams > MAX_STREAMS || bytes < (uint64_t)streams)
			return usage();
		return cmd_bulk(streams, bytes);
	}
	return usage();
}
