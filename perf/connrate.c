/*
 * perf/connrate.c: new TCP connections per second (perf/run.sh). K worker
 * threads each loop for DURATION seconds over: connect, send SIZE bytes,
 * read SIZE bytes back (an echo server), close. Prints one JSON line:
 *
 *   {"conns":..,"errors":..,"secs":..,"rate":..,"p50_us":..,"p99_us":..,"first_error":".."}
 *
 * rate counts connections completed within the duration only; p50/p99 are of one whole
 * connect-request-response-close cycle.
 *
 *   connrate -c 127.0.0.1:PORT [-k WORKERS] [-d SECONDS] [-s SIZE] [-t OP_TIMEOUT_MS]
 *
 * Bounded: every connect/read/write times out after OP_TIMEOUT_MS (default
 * 2000); workers stop at the deadline; a worker backs off 1 ms after an error;
 * at most LAT_SAMPLES_MAX latencies are kept per worker. Exit 1 if no connection
 * completed.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <stdio.h>

#define MAX_WORKERS 256

struct wk {
	pthread_t t;
	struct lats lat;
	uint64_t conns, errors;
	int first_errno;
	char first_what[16];
};

static struct sockaddr_in g_addr;
static uint64_t g_deadline;
static size_t g_size = 32;
static int g_tmo = 2000;

static void note_err(struct wk *w, const char *what)
{
	if (!w->errors++) {
		w->first_errno = errno;
		snprintf(w->first_what, sizeof(w->first_what), "%s", what);
	}
	usleep(1000);
}

static void *run(void *arg)
{
	struct wk *w = arg;
	char *req = malloc(g_size), *resp = malloc(g_size);
	if (!req || !resp)
		return NULL;
	memset(req, 'c', g_size);
	for (;;) {
		uint64_t t0 = now_ns();
		if (t0 >= g_deadline)
			break;
		int fd = connect_to(&g_addr, g_tmo);
		if (fd < 0) {
			note_err(w, "connect");
			continue;
		}
		if (write_all(fd, req, g_size)) {
			close(fd);
			note_err(w, "write");
			continue;
		}
		if (read_all(fd, resp, g_size)) {
			close(fd);
			note_err(w, "read");
			continue;
		}
		close(fd);
		uint64_t t1 = now_ns();
		if (t1 > g_deadline) /* finished after the end: not counted */
			break;
		w->conns++;
		lat_add(&w->lat, t1 - t0);
	}
	free(req);
	free(resp);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *target = NULL;
	int k = 8;
	double dur = 5;
	int opt;
	while ((opt = getopt(argc, argv, "c:k:d:s:t:")) != -1) {
		switch (opt) {
		case 'c': target = optarg; break;
		case 'k': k = atoi(optarg); break;
		case 'd': dur = atof(optarg); break;
		case 's': g_size = (size_t)atol(optarg); break;
		case 't': g_tmo = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (!target || parse_addr(target, &g_addr) || k < 1 || k > MAX_WORKERS || dur <= 0 ||
	    dur > 3600 || g_size < 1 || g_size > 65536 || g_tmo < 1)
		goto usage;

	static struct wk w[MAX_WORKERS];
	uint64_t start = now_ns();
	g_deadline = start + (uint64_t)(dur * 1e9);
	for (int i = 0; i < k; i++)
		if (pthread_create(&w[i].t, NULL, run, &w[i])) {
			perror("connrate: pthread_create");
			return 1;
		}
	uint64_t conns = 0, errors = 0;
	const char *fw = NULL;
	int fe = 0;
	for (int i = 0; i < k; i++) {
		pthread_join(w[i].t, NULL);
		conns += w[i].conns;
		errors += w[i].errors;
		if (w[i].errors && !fw) {
			fw = w[i].first_what;
			fe = w[i].first_errno;
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	if (secs < dur)
		secs = dur;
	struct lats all = {0};
	for (int i = 0; i < k; i++)
		if (lat_join(&all, &w[i].lat))
			return 1;
	qsort(all.v, all.n, sizeof(uint64_t), cmp_u64);
	printf("{\"conns\":%llu,\"errors\":%llu,\"secs\":%.3f,\"rate\":%.1f,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f",
	       (unsigned long long)conns, (unsigned long long)errors, secs, (double)conns / dur,
	       pct_us(all.v, all.n, 50), pct_us(all.v, all.n, 99));
	if (fw)
		printf(",\"first_error\":\"%s: %s\"", fw, fe ? strerror(fe) : "closed by peer");
	printf("}\n");
	if (!conns) {
		fprintf(stderr, "connrate: no connection completed (%s: %s)\n", fw ? fw : "?",
			fe ? strerror(fe) : "closed by peer");
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: connrate -c IPv4:PORT [-k WORKERS] [-d SECONDS] [-s SIZE] "
			"[-t OP_TIMEOUT_MS]\n");
	return 2;
}
