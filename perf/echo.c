/*
 * perf/echo.c: a light epoll echo server, the backend of the latency and
 * connection-rate benchmarks (perf/run.sh). Each of T threads has its own
 * SO_REUSEPORT listener and epoll loop; every byte read is written back.
 * A connection whose peer stops reading is not read from until its pending
 * bytes are written (bounded buffer per connection).
 *
 *   echo -l 127.0.0.1:PORT [-t THREADS] [-T MAX_SECONDS]
 *
 * Exits by itself after MAX_SECONDS (default 3600), or on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BUFSZ     16384
#define MAXEV     256
#define MAXTHR    64

struct conn {
	int fd;
	size_t len, off; /* pending bytes to write back: buf[off..len) */
	char buf[BUFSZ];
};

static struct sockaddr_in g_addr;
static volatile sig_atomic_t g_stop;
static double g_deadline;

/* Seconds on the monotonic clock, for the deadline. */
static double now_s(void)
{
	return (double)now_ns() / 1e9;
}

static int make_listener(void)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Read and echo until EAGAIN; returns -1 when the connection is done. */
static int conn_io(int ep, struct conn *c)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		if (c->off < c->len) {
			ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					return 0;
				}
				return -1;
			}
			c->off += (size_t)w;
			if (c->off < c->len)
				continue;
			struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		ssize_t r = read(c->fd, c->buf, sizeof(c->buf));
		if (r == 0)
			return -1;
		if (r < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		c->len = (size_t)r;
		c->off = 0;
	}
	return 0; /* budget spent; level-triggered epoll calls again */
}

static void *worker(void *arg)
{
	int lfd = make_listener();
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[MAXEV];
	(void)arg;
	if (lfd < 0 || ep < 0) {
		perror("echo: listener");
		exit(1);
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	while (!g_stop && now_s() < g_deadline) {
		int n = epoll_wait(ep, evs, MAXEV, 200);
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				for (int k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					int one = 1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct conn *c = malloc(sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->len = c->off = 0;
					struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			if ((evs[i].events & EPOLLERR) || conn_io(ep, c) < 0)
				conn_close(ep, c);
		}
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int main(int argc, char **argv)
{
	const char *listen_s = NULL;
	int threads = 2;
	double max_s = 3600;
	int opt;
	while ((opt = getopt(argc, argv, "l:t:T:")) != -1) {
		switch (opt) {
		case 'l': listen_s = optarg; break;
		case 't': threads = atoi(optarg); break;
		case 'T': max_s = atof(optarg); break;
		default: goto usage;
		}
	}
	if (!listen_s || parse_addr(listen_s, &g_addr) || threads < 1 || threads > MAXTHR ||
	    max_s <= 0)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	g_deadline = now_s() + max_s;
	pthread_t t[MAXTHR];
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL)) {
			perror("echo: pthread_create");
			return 1;
		}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
usage:
	fprintf(stderr, "usage: echo -l IPv4:PORT [-t THREADS (1-%d)] [-T MAX_SECONDS]\n", MAXTHR);
	return 2;
}
