/*
 * c-ares on the kfwd loop: c-ares tells us (sock state callback) which
 * sockets to watch, we call ares_process_fd when they are ready and when its
 * timeout passes, and re-arm one loop timer from ares_timeout() after every
 * call into c-ares.
 */
#include "dns.h"

#include "log.h"
#include "loop.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A socket c-ares asked us to watch. */
struct dns_sock {
	struct loop_io io;
	struct dns *d;
	bool dead; /* c-ares closed it; freed after the batch */
	struct dns_sock *next;
};

struct dns_query {
	struct dns *d;
	dns_cb cb; /* NULL once cancelled */
	void *arg;
	uint16_t port;
	bool starting; /* inside dns_resolve: an answer is kept, not called back */
	bool done;     /* answered while starting */
	int err;       /* that answer */
	struct dns_addrs addrs;
	struct dns_query *next, *prev; /* d->queries */
	char host[DNS_NAME_MAX + 1];
};

struct dns {
	struct loop *loop;
	ares_channel ch;
	struct dns_cache *cache;
	struct dns_sock *socks;
	struct dns_query *queries;
	struct loop_timer timer;
	struct dns_stats st;
	bool freeing;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

static void lib_init(void)
{
	lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void rearm(struct dns *d)
{
	struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
	uint64_t ms;

	if (!tvp) {
		loop_timer_cancel(d->loop, &d->timer);
		return;
	}
	/* At least 1 ms: c-ares may say 0 a little before its own clock
	 * agrees that the query timed out, and 0 would spin the loop. */
	ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
	if (ms == 0)
		ms = 1;
	if (loop_timer_set(d->loop, &d->timer, ms) < 0)
		log_warn("dns: cannot arm the resolver timer: out of memory");
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
	struct dns *d = container_of(t, struct dns, timer);

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(d);
}

static bool readable_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLERR | POLLHUP));
}

/* The loop is edge-triggered and c-ares may leave data unread (one TCP read
 * per call), so keep calling while the socket still has input. Bounded: a
 * server cannot keep us here. */
static void on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct dns_sock *s = container_of(io, struct dns_sock, io);
	struct dns *d = s->d;
	int fd = io->fd;
	bool rd = events & (EPOLLIN | EPOLLERR | EPOLLHUP);
	bool wr = events & EPOLLOUT;

	for (int i = 0; i < 64 && (rd || wr) && !s->dead; i++) {
		ares_process_fd(d->ch, rd ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
		wr = false;
		rd = !s->dead && readable_now(fd);
	}
	rearm(d);
}

static void sock_free(void *p)
{
	free(p);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock **pp = &d->socks, *s;
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	while (*pp && (*pp)->io.fd != fd)
		pp = &(*pp)->next;
	s = *pp;
	if (!readable && !writable) {
		if (!s)
			return;
		*pp = s->next;
		s->dead = true;
		loop_del(d->loop, &s->io);
		if (d->freeing || loop_defer(d->loop, sock_free, s) < 0)
			free(s); /* no event of it can follow: it left the epoll set */
		return;
	}
	if (s) {
		if (loop_mod(d->loop, &s->io, ev) < 0)
			log_warn("dns: cannot watch resolver socket %d", fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_warn("dns: out of memory watching resolver socket %d", fd);
		return;
	}
	s->io.fd = fd;
	s->io.fn = on_io;
	s->d = d;
	if (loop_add(d->loop, &s->io, ev) < 0) {
		log_warn("dns: cannot watch resolver socket %d", fd);
		free(s);
		return;
	}
	s->next = d->socks;
	d->socks = s;
}

int dns_new(struct loop *l, const struct dns_opts *o, struct dns **out)
{
	struct dns_cache_limits lim = {o->min_ttl_s, o->max_ttl_s, o->neg_ttl_s, o->cache_entries};
	struct ares_options ao = {0};
	int mask = ARES_OPT_SOCK_STATE_CB, rc;
	struct dns *d;

	pthread_once(&lib_once, lib_init);
	if (lib_status != ARES_SUCCESS) {
		log_err("dns: c-ares initialisation failed: %s", ares_strerror(lib_status));
		return -EIO;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = l;
	d->timer.fn = on_timer;
	d->cache = dns_cache_new(&lim);
	if (!d->cache)
		goto nomem;
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = d;
	if (o->timeout_ms > 0) {
		ao.timeout = o->timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (o->tries > 0) {
		ao.tries = o->tries;
		mask |= ARES_OPT_TRIES;
	}
	rc = ares_init_options(&d->ch, &ao, mask);
	if (rc != ARES_SUCCESS) {
		log_err("dns: c-ares channel: %s", ares_strerror(rc));
		goto fail;
	}
	if (o->servers && *o->servers) {
		rc = ares_set_servers_ports_csv(d->ch, o->servers);
		if (rc != ARES_SUCCESS) {
			log_err("dns: servers \"%s\": %s", o->servers, ares_strerror(rc));
			ares_destroy(d->ch);
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	dns_cache_free(d->cache);
	free(d);
	return -EIO;
nomem:
	free(d);
	return -ENOMEM;
}

static void query_unlink(struct dns_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->d->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	d->freeing = true;
	/* Calls every pending callback with ARES_EDESTRUCTION; they report
	 * -ECANCELED and free their query. */
	ares_destroy(d->ch);
	while (d->socks) {
		struct dns_sock *s = d->socks;

		d->socks = s->next;
		loop_del(d->loop, &s->io);
		free(s);
	}
	loop_timer_cancel(d->loop, &d->timer);
	dns_cache_free(d->cache);
	free(d);
}

static int map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_ESERVFAIL:
	case ARES_ECONNREFUSED:
	case ARES_EREFUSED:
		return -EAGAIN;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_EBADNAME:
	case ARES_EBADFAMILY:
		return -EINVAL;
	default:
		return -EIO;
	}
}

const char *dns_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such host";
	case -ETIMEDOUT:
		return "name server timeout";
	case -EAGAIN:
		return "name server failure";
	case -ECANCELED:
		return "resolution cancelled";
	case -EINVAL:
		return "bad host name";
	case -ENOMEM:
		return "out of memory";
	default:
		return "resolution failed";
	}
}

static void set_port(struct dns_addrs *a, uint16_t port)
{
	for (size_t i = 0; i < a->n; i++) {
		if (a->a[i].ss_family == AF_INET6)
			((struct sockaddr_in6 *)&a->a[i])->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&a->a[i])->sin_port = htons(port);
	}
}

/* Copy c-ares' answer, deduplicated; return the smallest record TTL. */
static uint32_t collect(const struct ares_addrinfo *ai, struct dns_addrs *out)
{
	uint32_t ttl = UINT32_MAX;

	out->n = 0;
	for (const struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n; n = n->ai_next) {
		socklen_t len = n->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                         : sizeof(struct sockaddr_in);
		bool dup = false;

		if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) || n->ai_addrlen < len)
			continue;
		for (size_t i = 0; i < out->n && !dup; i++)
			dup = memcmp(&out->a[i], n->ai_addr, len) == 0;
		if (dup || out->n == DNS_MAX_ADDRS)
			continue;
		memset(&out->a[out->n], 0, sizeof(out->a[0]));
		memcpy(&out->a[out->n++], n->ai_addr, len);
		if (n->ai_ttl >= 0 && (uint32_t)n->ai_ttl < ttl)
			ttl = (uint32_t)n->ai_ttl;
	}
	return ttl == UINT32_MAX ? 0 : ttl;
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;
	struct dns_addrs addrs = {0};
	int err = map_status(status);
	uint32_t ttl = 0;

	if (!err) {
		ttl = collect(ai, &addrs);
		if (!addrs.n)
			err = -ENOENT;
	}
	ares_freeaddrinfo(ai);
	if (err == 0) {
		dns_addrs_interleave(&addrs);
		dns_cache_put(d->cache, q->host, &addrs, ttl, loop_now(d->loop));
	} else if (err == -ENOENT) {
		dns_cache_put_error(d->cache, q->host, err, loop_now(d->loop));
	}
	if (err)
		d->st.failures++;
	query_unlink(q);
	if (q->starting) {
		q->done = true;
		q->err = err;
		q->addrs = addrs;
		return;
	}
	if (q->cb) {
		set_port(&addrs, q->port);
		q->cb(q->arg, err, err ? NULL : &addrs);
	}
	free(q);
}

/* A numeric host needs no query. Return 1 if host was numeric. */
static int numeric(const char *host, uint16_t port, struct dns_addrs *out)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->a[0];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->a[0];

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	} else {
		return 0;
	}
	out->n = 1;
	return 1;
}

int dns_resolve(struct dns *d, const char *host, uint16_t port, dns_cb cb, void *arg,
                struct dns_addrs *now, struct dns_query **qp)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	size_t len = strlen(host);
	struct dns_query *q;
	int rc;

	*qp = NULL;
	if (numeric(host, port, now))
		return 1;
	if (!len || len > DNS_NAME_MAX + 1 || (len == DNS_NAME_MAX + 1 && host[len - 1] != '.'))
		return -EINVAL;
	rc = dns_cache_get(d->cache, host, loop_now(d->loop), now);
	if (rc != 0) {
		d->st.cache_hits++;
		if (rc > 0)
			set_port(now, port);
		return rc;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->port = port;
	memcpy(q->host, host, len + 1 > sizeof(q->host) ? sizeof(q->host) - 1 : len);
	q->next = d->queries;
	if (d->queries)
		d->queries->prev = q;
	d->queries = q;
	d->st.queries++;
	/* c-ares may answer before returning (hosts file, a failure it knows
	 * at once): on_answer then keeps the answer in q and it is returned
	 * from here, so a callback never runs inside dns_resolve. */
	q->starting = true;
	ares_getaddrinfo(d->ch, host, NULL, &hints, on_answer, q);
	q->starting = false;
	if (q->done) {
		rc = q->err;
		if (!rc) {
			*now = q->addrs;
			set_port(now, port);
			rc = 1;
		}
		free(q);
		rearm(d);
		return rc;
	}
	*qp = q;
	rearm(d);
	return 0;
}

void dns_cancel(struct dns_query *q)
{
	if (q)
		q->cb = NULL;
}

void dns_get_stats(const struct dns *d, struct dns_stats *out)
{
	*out = d->st;
}
