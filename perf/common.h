/* perf/common.h: helpers shared by the load generators in perf/ (header-only). */
#ifndef KFWD_PERF_COMMON_H
#define KFWD_PERF_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "IPv4:PORT" -> sockaddr_in. Only IPv4 literals: the benchmarks run on loopback. */
static inline int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	long port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	a->sin_port = htons((unsigned short)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/* Blocking socket with send/receive (and so connect) timeouts and TCP_NODELAY. */
static inline int connect_to(const struct sockaddr_in *a, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Write/read exactly len bytes; -1 on error, timeout (EAGAIN) or EOF (errno 0). */
static inline int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static inline int read_all(int fd, char *p, size_t len)
{
	while (len) {
		ssize_t r = recv(fd, p, len, 0);
		if (r == 0) {
			errno = 0;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Latency samples in ns: v[0..n), cap allocated. */
struct lats {
	uint64_t *v;
	size_t n, cap;
};

/* Keep one sample, at most LAT_SAMPLES_MAX; beyond that, or without memory,
 * it is dropped. */
#define LAT_SAMPLES_MAX (4u << 20)
static inline void lat_add(struct lats *l, uint64_t ns)
{
	if (l->n == l->cap && l->cap < LAT_SAMPLES_MAX) {
		size_t nc = l->cap ? l->cap * 2 : 65536;
		uint64_t *nv = realloc(l->v, nc * sizeof(uint64_t));
		if (nv) {
			l->v = nv;
			l->cap = nc;
		}
	}
	if (l->n < l->cap)
		l->v[l->n++] = ns;
}

/* Move part's samples to the end of all (part is left empty). -1 without memory. */
static inline int lat_join(struct lats *all, struct lats *part)
{
	if (part->n) {
		uint64_t *nv = realloc(all->v, (all->n + part->n) * sizeof(uint64_t));
		if (!nv)
			return -1;
		memcpy(nv + all->n, part->v, part->n * sizeof(uint64_t));
		all->v = nv;
		all->n += part->n;
		all->cap = all->n;
	}
	free(part->v);
	*part = (struct lats){0};
	return 0;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static inline double pct_us(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

#endif
