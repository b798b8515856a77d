/* perf/udpgen.c: UDP load generator and sink of perf/run-udp.sh.
 *
 *   udpgen send -c IP:PORT [-f FLOWS] [-s SIZE] [-d SECS] [-b BATCH] [-w MS] [-t THREADS]
 *       FLOWS connected sockets (distinct source ports) to IP:PORT. Warm-up:
 *       each flow sends one 'W' datagram and waits up to MS ms for its echo
 *       (5 tries), so a forwarder has set the flow up before the measurement.
 *       Then, for SECS seconds, sendmmsg(2) batches of BATCH 'D' datagrams of
 *       SIZE bytes, flow after flow, as fast as the sockets take them, from
 *       THREADS threads (each its own share of the flows). Busy and
 *       total jiffies of all cores (/proc/stat) are read right before and
 *       after that phase. One JSON line on stdout.
 *   udpgen sink -l IP:PORT [-t THREADS] [-i IDLE_MS] [-T MAX_SECS]
 *       THREADS SO_REUSEPORT sockets reading with recvmmsg(2): counts 'D'
 *       datagrams, echoes 'W' ones. Ends IDLE_MS after the last datagram once
 *       data came, after MAX_SECS, or on SIGTERM/SIGINT; then one JSON line
 *       on stdout.
 *   udpgen nic DEV
 *       TX checksum offload off and GRO on for DEV (SIOCETHTOOL), so that a
 *       veth end behaves like a host on a wire for an XDP forwarder next to it
 *       (see tests/integration/xdptest.py). Only run it inside a namespace.
 *
 * IPv4 only. Exit status 0 on success, 1 on error (message on stderr).
 */
#define _GNU_SOURCE
#include "common.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/ioctl.h>

#define MAX_BATCH 256
#define MAX_SIZE 9000
#define MAX_FLOWS 4096
#define MAX_THREADS 16

static void usage(void)
{
	fprintf(stderr, "usage: udpgen send -c IP:PORT [-f FLOWS] [-s SIZE] [-d SECS] [-b BATCH] [-w MS] [-t THREADS]\n"
			"       udpgen sink -l IP:PORT [-t THREADS] [-i IDLE_MS] [-T MAX_SECS]\n"
			"       udpgen nic DEV\n");
	exit(1);
}

static long num_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < lo || v > hi) {
		fprintf(stderr, "udpgen: %s must be %ld..%ld (got '%s')\n", what, lo, hi, s);
		exit(1);
	}
	return v;
}

/* busy = user+nice+system+irq+softirq+steal, total adds idle+iowait. */
static int read_stat(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long u, n, s, idle, io, irq, sirq, st;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle, &io, &irq, &sirq, &st);
	fclose(f);
	if (k != 8)
		return -1;
	*busy = u + n + s + irq + sirq + st;
	*total = *busy + idle + io;
	return 0;
}

/* ------------------------------------------------------------------ send */

struct send_arg {
	int *fds;
	long first, step, flows, batch;
	char *buf;
	size_t size;
	uint64_t end;
	unsigned long long sent, errors;
};

static void *send_thread(void *p)
{
	struct send_arg *a = p;
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov = {.iov_base = a->buf, .iov_len = a->size};
	memset(msgs, 0, sizeof(msgs));
	for (long j = 0; j < a->batch; j++) {
		msgs[j].msg_hdr.msg_iov = &iov;
		msgs[j].msg_hdr.msg_iovlen = 1;
	}
	long f = a->first;
	while (now_ns() < a->end) {
		int r = sendmmsg(a->fds[f], msgs, (unsigned)a->batch, 0);
		if (r > 0)
			a->sent += (unsigned long long)r;
		else
			a->errors++; /* ENOBUFS, ECONNREFUSED (an ICMP error), ...: go on */
		f += a->step;
		if (f >= a->flows)
			f = a->first;
	}
	return NULL;
}

static int cmd_send(int argc, char **argv)
{
	struct sockaddr_in dst;
	long flows = 32, size = 64, secs = 5, batch = 64, warm_ms = 300, threads = 1;
	const char *dest = NULL;
	int o;
	while ((o = getopt(argc, argv, "c:f:s:d:b:w:t:")) != -1) {
		switch (o) {
		case 'c': dest = optarg; break;
		case 'f': flows = num_arg(optarg, 1, MAX_FLOWS, "-f"); break;
		case 's': size = num_arg(optarg, 2, MAX_SIZE, "-s"); break;
		case 'd': secs = num_arg(optarg, 1, 3600, "-d"); break;
		case 'b': batch = num_arg(optarg, 1, MAX_BATCH, "-b"); break;
		case 'w': warm_ms = num_arg(optarg, 1, 60000, "-w"); break;
		case 't': threads = num_arg(optarg, 1, MAX_THREADS, "-t"); break;
		default: usage();
		}
	}
	if (!dest || parse_addr(dest, &dst)) {
		fprintf(stderr, "udpgen send: -c IP:PORT required\n");
		return 1;
	}
	int *fds = calloc((size_t)flows, sizeof(int));
	if (!fds)
		return 1;
	struct timeval tv = {.tv_sec = warm_ms / 1000, .tv_usec = (warm_ms % 1000) * 1000};
	for (long i = 0; i < flows; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof(dst))) {
			fprintf(stderr, "udpgen send: socket/connect: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	char *buf = malloc((size_t)size);
	char rbuf[MAX_SIZE];
	if (!buf)
		return 1;
	memset(buf, 'x', (size_t)size);

	/* Warm-up: one echoed datagram per flow. */
	long warm_ok = 0, warm_tries = 0;
	buf[0] = 'W';
	for (long i = 0; i < flows; i++) {
		for (int t = 0; t < 5; t++) {
			warm_tries++;
			if (send(fds[i], buf, (size_t)size, 0) < 0)
				continue;
			ssize_t r = recv(fds[i], rbuf, sizeof(rbuf), 0);
			if (r > 0 && rbuf[0] == 'W') {
				warm_ok++;
				break;
			}
		}
	}
	if (warm_ok < flows) {
		fprintf(stderr, "udpgen send: warm-up: %ld of %ld flows got their echo\n", warm_ok, flows);
		return 1;
	}

	/* Measurement: one-way 'D' datagrams, batch after batch, flow after flow;
	 * THREADS threads, thread i sending on flows i, i+THREADS, ... */
	buf[0] = 'D';
	struct send_arg args[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	unsigned long long sent = 0, errors = 0, b0, t0, b1, t1;
	if (threads > flows)
		threads = flows;
	if (read_stat(&b0, &t0)) {
		fprintf(stderr, "udpgen send: /proc/stat unreadable\n");
		return 1;
	}
	uint64_t start = now_ns();
	for (long i = 0; i < threads; i++) {
		args[i] = (struct send_arg){.fds = fds, .first = i, .step = threads, .flows = flows, .buf = buf,
					    .size = (size_t)size, .batch = batch,
					    .end = start + (uint64_t)secs * 1000000000ull};
		if (pthread_create(&th[i], NULL, send_thread, &args[i]))
			return 1;
	}
	for (long i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		sent += args[i].sent;
		errors += args[i].errors;
	}
	uint64_t now = now_ns();
	read_stat(&b1, &t1);
	double el = (double)(now - start) / 1e9;
	printf("{\"flows\":%ld,\"threads\":%ld,\"size\":%ld,\"batch\":%ld,\"secs\":%.6f,\"sent\":%llu,\"send_errors\":%llu,"
	       "\"warm_tries\":%ld,\"busy_jiffies\":%llu,\"total_jiffies\":%llu,\"hz\":%ld}\n",
	       flows, threads, size, batch, el, sent, errors, warm_tries, b1 - b0, t1 - t0, sysconf(_SC_CLK_TCK));
	return 0;
}

/* ------------------------------------------------------------------ sink */

static atomic_ullong g_rx, g_bytes, g_echo, g_other;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void *sink_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	enum { B = 64 };
	static __thread char bufs[B][MAX_SIZE];
	struct mmsghdr msgs[B];
	struct iovec iovs[B];
	struct sockaddr_in from[B];
	while (!g_stop) {
		for (int i = 0; i < B; i++) {
			iovs[i].iov_base = bufs[i];
			iovs[i].iov_len = MAX_SIZE;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iovs[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(fd, msgs, B, 0, NULL);
		if (n <= 0)
			continue; /* SO_RCVTIMEO: look at g_stop */
		unsigned long long rx = 0, bytes = 0, other = 0;
		for (int i = 0; i < n; i++) {
			unsigned len = msgs[i].msg_len;
			if (len > 0 && bufs[i][0] == 'D') {
				rx++;
				bytes += len;
			} else if (len > 0 && bufs[i][0] == 'W') {
				if (sendto(fd, bufs[i], len, 0, (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen) > 0)
					atomic_fetch_add(&g_echo, 1);
			} else {
				other++;
			}
		}
		atomic_fetch_add(&g_rx, rx);
		atomic_fetch_add(&g_bytes, bytes);
		if (other)
			atomic_fetch_add(&g_other, other);
	}
	return NULL;
}

static int cmd_sink(int argc, char **argv)
{
	struct sockaddr_in a;
	const char *listen_on = NULL;
	long threads = 1, idle_ms = 1000, max_secs = 60;
	int o;
	while ((o = getopt(argc, argv, "l:t:i:T:")) != -1) {
		switch (o) {
		case 'l': listen_on = optarg; break;
		case 't': threads = num_arg(optarg, 1, MAX_THREADS, "-t"); break;
		case 'i': idle_ms = num_arg(optarg, 100, 600000, "-i"); break;
		case 'T': max_secs = num_arg(optarg, 1, 86400, "-T"); break;
		default: usage();
		}
	}
	if (!listen_on || parse_addr(listen_on, &a)) {
		fprintf(stderr, "udpgen sink: -l IP:PORT required\n");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_t th[MAX_THREADS];
	for (long i = 0; i < threads; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, rcv = 8 << 20;
		struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
		if (fd < 0)
			return 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		/* FORCE needs CAP_NET_ADMIN; the plain one is capped by rmem_max. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
			fprintf(stderr, "udpgen sink: bind %s: %s\n", listen_on, strerror(errno));
			return 1;
		}
		if (pthread_create(&th[i], NULL, sink_thread, (void *)(intptr_t)fd))
			return 1;
	}
	uint64_t start = now_ns(), last_change = start, first = 0;
	unsigned long long last = 0;
	while (!g_stop) {
		usleep(50000);
		uint64_t now = now_ns();
		unsigned long long rx = atomic_load(&g_rx);
		if (rx != last) {
			if (!first)
				first = now;
			last = rx;
			last_change = now;
		}
		if (first && now - last_change >= (uint64_t)idle_ms * 1000000ull)
			break;
		if (now - start >= (uint64_t)max_secs * 1000000000ull)
			break;
	}
	g_stop = 1;
	for (long i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("{\"received\":%llu,\"bytes\":%llu,\"echoed\":%llu,\"other\":%llu}\n", atomic_load(&g_rx),
	       atomic_load(&g_bytes), atomic_load(&g_echo), atomic_load(&g_other));
	return 0;
}

/* ------------------------------------------------------------------- nic */

static int ethtool_set(int fd, const char *dev, uint32_t cmd, uint32_t val)
{
	struct ethtool_value ev = {.cmd = cmd, .data = val};
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&ev;
	return ioctl(fd, SIOCETHTOOL, &ifr);
}

static int cmd_nic(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ)
		usage();
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ethtool_set(fd, argv[1], ETHTOOL_STXCSUM, 0) || ethtool_set(fd, argv[1], ETHTOOL_SGRO, 1)) {
		fprintf(stderr, "udpgen nic %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sink"))
		return cmd_sink(argc - 1, argv + 1);
	if (!strcmp(argv[1], "nic"))
		return cmd_nic(argc - 1, argv + 1);
	usage();
	return 1;
}
