/*
 * One loop_io per attempt in flight; a delay timer starts the next attempt,
 * a race timer bounds the whole thing. Completion runs from a deferred call
 * so the callback never frees what the current event batch still refers to.
 */
#include "happy.h"

#include "loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct attempt {
	struct loop_io io; /* io.fd -1 when idle or failed */
	struct happy *h;
	size_t idx; /* address index */
};

struct happy {
	struct loop *loop;
	struct dns_addrs addrs;
	struct happy_opts o;
	happy_cb cb;
	void *arg;
	size_t next; /* next address to try */
	size_t inflight;
	struct attempt att[DNS_MAX_ADDRS];
	struct loop_timer delay, race;
	bool refused;
	bool done;
	int last_err;
	int win_fd;
	size_t win_idx;
};

static void close_attempt(struct happy *h, struct attempt *a)
{
	if (a->io.fd < 0)
		return;
	loop_del(h->loop, &a->io);
	close(a->io.fd);
	a->io.fd = -1;
	h->inflight--;
}

static void teardown(struct happy *h)
{
	for (size_t i = 0; i < DNS_MAX_ADDRS; i++)
		close_attempt(h, &h->att[i]);
	loop_timer_cancel(h->loop, &h->delay);
	loop_timer_cancel(h->loop, &h->race);
}

static void report(void *p)
{
	struct happy *h = p;

	if (h->cb) {
		if (h->win_fd >= 0)
			h->cb(h->arg, h->win_fd, 0, &h->addrs.a[h->win_idx]);
		else
			h->cb(h->arg, -1, h->last_err, NULL);
	} else if (h->win_fd >= 0) {
		close(h->win_fd);
	}
	free(h);
}

/* End the race (won or lost) and report from a deferred call. */
static void finish(struct happy *h, int fd, size_t idx, int err)
{
	h->done = true;
	h->win_fd = fd;
	h->win_idx = idx;
	h->last_err = err;
	teardown(h);
	if (loop_defer(h->loop, report, h) < 0)
		report(h); /* out of memory: nothing of h is in the batch any more */
}

static void start_next(struct happy *h);

static void attempt_failed(struct happy *h, struct attempt *a, int err)
{
	close_attempt(h, a);
	if (err == -ECONNREFUSED)
		h->refused = true;
	h->last_err = err;
	/* RFC 8305: a failure starts the next attempt at once. */
	if (h->next < h->addrs.n)
		start_next(h);
	else if (h->inflight == 0)
		finish(h, -1, 0, h->refused ? -ECONNREFUSED : err);
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct attempt *a = container_of(io, struct attempt, io);
	struct happy *h = a->h;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (h->done || io->fd < 0)
		return;
	if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		attempt_failed(h, a, -soerr);
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	/* Won: keep this socket out of the teardown. */
	int fd = io->fd;
	loop_del(l, io);
	io->fd = -1;
	h->inflight--;
	finish(h, fd, a->idx, 0);
}

static void start_next(struct happy *h)
{
	while (h->next < h->addrs.n && !h->done) {
		size_t i = h->next++;
		struct attempt *a = &h->att[i];
		const struct sockaddr_storage *ss = &h->addrs.a[i];
		socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                          : sizeof(struct sockaddr_in);
		int fd =
		    socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

		if (fd < 0) {
			h->last_err = -errno;
			continue;
		}
		if (h->o.prepare)
			h->o.prepare(h->arg, fd);
		if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
			int err = -errno;

			close(fd);
			if (err == -ECONNREFUSED)
				h->refused = true;
			h->last_err = err;
			continue;
		}
		a->io.fd = fd;
		a->io.fn = on_io;
		a->h = h;
		a->idx = i;
		if (loop_add(h->loop, &a->io, EPOLLOUT) < 0) {
			close(fd);
			a->io.fd = -1;
			h->last_err = -ENOMEM;
			continue;
		}
		h->inflight++;
		if (h->next < h->addrs.n &&
		    loop_timer_set(h->loop, &h->delay, (uint64_t)h->o.attempt_delay_ms) < 0)
			h->last_err = -ENOMEM;
		return;
	}
	if (h->inflight == 0 && !h->done)
		finish(h, -1, 0, h->refused ? -ECONNREFUSED : h->last_err);
}

static void on_delay(struct loop *l, struct loop_timer *t)
{
	start_next(container_of(t, struct happy, delay));
}

static void on_race(struct loop *l, struct loop_timer *t)
{
	finish(container_of(t, struct happy, race), -1, 0, -ETIMEDOUT);
}

int happy_start(struct loop *l, const struct dns_addrs *addrs, const struct happy_opts *o,
                happy_cb cb, void *arg, struct happy **out)
{
	struct happy *h;

	if (!addrs->n)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = l;
	h->addrs = *addrs;
	if (h->addrs.n > DNS_MAX_ADDRS)
		h->addrs.n = DNS_MAX_ADDRS;
	h->o = *o;
	h->cb = cb;
	h->arg = arg;
	h->win_fd = -1;
	h->last_err = -EHOSTUNREACH;
	h->delay.fn = on_delay;
	h->race.fn = on_race;
	for (size_t i = 0; i < DNS_MAX_ADDRS; i++)
		h->att[i].io.fd = -1;
	if (o->timeout_ms > 0 && loop_timer_set(l, &h->race, (uint64_t)o->timeout_ms) < 0) {
		free(h);
		return -ENOMEM;
	}
	*out = h;
	start_next(h);
	return 0;
}

void happy_cancel(struct happy *h)
{
	if (!h)
		return;
	h->cb = NULL;
	if (!h->done)
		finish(h, -1, 0, -ECANCELED);
}
