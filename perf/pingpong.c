/*
 * perf/pingpong.c: request/response latency over ONE persistent TCP
 * connection (perf/run.sh). Connects once, sends SIZE bytes, waits for SIZE
 * bytes back (an echo server), N times after W warm-up round trips, and
 * prints one JSON line with percentiles of the round-trip time:
 *
 *   {"n":20000,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,"min_us":..,"max_us":..,"mean_us":..}
 *
 *   pingpong -c 127.0.0.1:PORT [-n N] [-w W] [-s SIZE] [-t OP_TIMEOUT_MS] [-D MAX_SECONDS]
 *
 * Bounded: every read/write times out after OP_TIMEOUT_MS (default 2000) and
 * the whole run stops after MAX_SECONDS (default 60); a cut run is reported
 * with "truncated":true. Exit 1 on any error (message on stderr).
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	const char *target = NULL;
	long n = 20000, warm = 200, size = 1, tmo = 2000;
	double max_s = 60;
	int opt;
	while ((opt = getopt(argc, argv, "c:n:w:s:t:D:")) != -1) {
		switch (opt) {
		case 'c': target = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 's': size = atol(optarg); break;
		case 't': tmo = atol(optarg); break;
		case 'D': max_s = atof(optarg); break;
		default: goto usage;
		}
	}
	struct sockaddr_in a;
	if (!target || parse_addr(target, &a) || n < 1 || n > 100000000 || warm < 0 ||
	    size < 1 || size > 65536 || tmo < 1 || max_s <= 0)
		goto usage;

	char *buf = malloc((size_t)size), *rbuf = malloc((size_t)size);
	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)n);
	if (!buf || !rbuf || !lat)
		return 1;
	memset(buf, 'p', (size_t)size);

	int fd = connect_to(&a, (int)tmo);
	if (fd < 0) {
		fprintf(stderr, "pingpong: connect %s: %s\n", target, strerror(errno));
		return 1;
	}
	uint64_t deadline = now_ns() + (uint64_t)(max_s * 1e9);
	long done = 0;
	int truncated = 0;
	for (long i = 0; i < warm + n; i++) {
		uint64_t t0 = now_ns();
		if (t0 > deadline) {
			truncated = 1;
			break;
		}
		if (write_all(fd, buf, (size_t)size) || read_all(fd, rbuf, (size_t)size)) {
			fprintf(stderr, "pingpong: round trip %ld: %s\n", i,
				errno ? strerror(errno) : "connection closed by peer");
			return 1;
		}
		uint64_t t1 = now_ns();
		if (i >= warm)
			lat[done++] = t1 - t0;
	}
	close(fd);
	if (!done) {
		fprintf(stderr, "pingpong: no round trip measured within %.0f s\n", max_s);
		return 1;
	}
	qsort(lat, (size_t)done, sizeof(uint64_t), cmp_u64);
	double sum = 0;
	for (long i = 0; i < done; i++)
		sum += (double)lat[i];
	printf("{\"n\":%ld,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
	       "\"min_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f%s}\n",
	       done, pct_us(lat, (size_t)done, 50), pct_us(lat, (size_t)done, 90),
	       pct_us(lat, (size_t)done, 99), pct_us(lat, (size_t)done, 99.9), lat[0] / 1000.0,
	       lat[done - 1] / 1000.0, sum / (double)done / 1000.0,
	       truncated ? ",\"truncated\":true" : "");
	return 0;
usage:
	fprintf(stderr, "usage: pingpong -c IPv4:PORT [-n N] [-w WARMUP] [-s SIZE] "
			"[-t OP_TIMEOUT_MS] [-D MAX_SECONDS]\n");
	return 2;
}
