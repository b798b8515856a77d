/*
 * Happy Eyeballs connection attempts (RFC 8305 section 5): try a resolved
 * name's addresses in order (dns.c already interleaves IPv6 and IPv4),
 * starting the next attempt when the previous one fails or after a delay,
 * whichever comes first; the first connection to complete wins and the
 * others are closed. Runs on a kfwd loop.
 */
#ifndef KFWD_HAPPY_H
#define KFWD_HAPPY_H
#include "dns_cache.h"

struct loop;
struct happy;

struct happy_opts {
	int attempt_delay_ms; /* RFC 8305 "Connection Attempt Delay"; 250 recommended */
	int timeout_ms;       /* the whole race; 0: no limit of our own */
	/* Called with each attempt's socket right before its connect() (the arg of
	 * happy_start); NULL: nothing. The socket stays happy's. */
	void (*prepare)(void *arg, int fd);
};

/*
 * Called once, on the loop, unless happy_cancel came first. fd >= 0 is a
 * connected non-blocking TCP socket the callee now owns, peer its address;
 * otherwise fd is -1 and err says why: -ECONNREFUSED if any address refused,
 * -ETIMEDOUT if the race ran out of time, else the last attempt's error.
 * The happy object is freed after the callback returns.
 */
typedef void (*happy_cb)(void *arg, int fd, int err, const struct sockaddr_storage *peer);

/* Start racing addrs (ports set). Return 0 and *out, or -errno (-EINVAL for
 * an empty list, -ENOMEM); cb is then not called. */
int happy_start(struct loop *l, const struct dns_addrs *addrs, const struct happy_opts *o,
                happy_cb cb, void *arg, struct happy **out);
/* Stop the race: sockets are closed and the callback will not run. Only
 * before the callback has run (h is freed after it). */
void happy_cancel(struct happy *h);

#endif
