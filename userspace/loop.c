#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 128

struct deferred {
	void (*fn)(void *);
	void *arg;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t now;
	struct loop_timer **heap;
	size_t nheap, capheap;
	struct loop_pending pend; /* sentinel */
	struct deferred *defer;
	size_t ndefer, capdefer;
	struct epoll_event *batch; /* current batch, so loop_del can drop stale events */
	int nbatch;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		errno = e;
		return NULL;
	}
	l->now = mono_ms();
	l->pend.next = l->pend.prev = &l->pend;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ndefer; i++)
		l->defer[i].fn(l->defer[i].arg);
	close(l->epfd);
	free(l->heap);
	free(l->defer);
	free(l);
}

int loop_add(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) ? -errno : 0;
}

int loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) ? -errno : 0;
}

void loop_del(struct loop *l, struct loop_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	for (int i = 0; i < l->nbatch; i++)
		if (l->batch[i].data.ptr == io)
			l->batch[i].data.ptr = NULL;
}

uint64_t loop_now(struct loop *l)
{
	return l->now;
}

uint64_t loop_update_time(struct loop *l)
{
	l->now = mono_ms();
	return l->now;
}

/* Binary min-heap on when; slot is index + 1 so 0 means "not armed". */
static void heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= t->when)
			break;
		heap_place(l, i, l->heap[p]);
		i = p;
	}
	heap_place(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
			c++;
		if (l->heap[c]->when >= t->when)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t->slot)
		return;
	size_t i = t->slot - 1;
	t->slot = 0;
	struct loop_timer *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_place(l, i, last);
	heap_up(l, i);
	heap_down(l, last->slot - 1);
}

int loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	loop_timer_cancel(l, t);
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->capheap = cap;
	}
	t->when = l->now + ms;
	heap_place(l, l->nheap++, t);
	heap_up(l, l->nheap - 1);
	return 0;
}

size_t loop_timer_count(const struct loop *l)
{
	return l->nheap;
}

/* Pending entries live on a circular list with a sentinel; run_pending moves
 * the whole list to a local sentinel first, and unlinking works on either. */
static void pend_unlink(struct loop_pending *p)
{
	p->prev->next = p->next;
	p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

static void pend_append(struct loop_pending *head, struct loop_pending *p)
{
	p->prev = head->prev;
	p->next = head;
	head->prev->next = p;
	head->prev = p;
}

void loop_pending_add(struct loop *l, struct loop_pending *p)
{
	if (p->queued)
		return;
	p->queued = true;
	pend_append(&l->pend, p);
}

void loop_pending_cancel(struct loop *l, struct loop_pending *p)
{
	if (!p->queued)
		return;
	pend_unlink(p);
	p->queued = false;
}

int loop_defer(struct loop *l, void (*fn)(void *), void *arg)
{
	if (l->ndefer == l->capdefer) {
		size_t cap = l->capdefer ? l->capdefer * 2 : 32;
		struct deferred *d = realloc(l->defer, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		l->defer = d;
		l->capdefer = cap;
	}
	l->defer[l->ndefer++] = (struct deferred){fn, arg};
	return 0;
}

static void run_deferred(struct loop *l)
{
	/* A deferred call may defer more; run until the list stays empty. */
	while (l->ndefer) {
		size_t n = l->ndefer;
		struct deferred d[32];
		size_t k = n < 32 ? n : 32;
		memcpy(d, l->defer + (n - k), k * sizeof(*d));
		l->ndefer -= k;
		for (size_t i = 0; i < k; i++)
			d[i].fn(d[i].arg);
	}
}

static void run_timers(struct loop *l)
{
	/* Bound the work: timers re-armed for "now" run on the next iteration. */
	size_t budget = l->nheap;
	while (budget-- && l->nheap && l->heap[0]->when <= l->now) {
		struct loop_timer *t = l->heap[0];
		loop_timer_cancel(l, t);
		t->fn(l, t);
	}
}

static void run_pending(struct loop *l)
{
	/* Only what was queued before this pass; newly queued work waits one turn. */
	struct loop_pending local;
	if (l->pend.next == &l->pend)
		return;
	local.next = l->pend.next;
	local.prev = l->pend.prev;
	local.next->prev = &local;
	local.prev->next = &local;
	l->pend.next = l->pend.prev = &l->pend;
	while (local.next != &local) {
		struct loop_pending *p = local.next;
		pend_unlink(p);
		p->queued = false;
		p->fn(l, p);
	}
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int timeout = timeout_ms;
	if (l->pend.next != &l->pend)
		timeout = 0;
	else if (l->nheap) {
		uint64_t w = l->heap[0]->when;
		int t = w <= l->now ? 0 : (int)(w - l->now > 3600000 ? 3600000 : w - l->now);
		if (timeout < 0 || t < timeout)
			timeout = t;
	}
	int n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout);
	if (n < 0 && errno != EINTR)
		return -errno;
	l->now = mono_ms();
	l->batch = ev;
	l->nbatch = n > 0 ? n : 0;
	for (int i = 0; i < l->nbatch; i++) {
		struct loop_io *io = ev[i].data.ptr;
		if (io)
			io->fn(l, io, ev[i].events);
	}
	l->batch = NULL;
	l->nbatch = 0;
	run_timers(l);
	run_pending(l);
	run_deferred(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		int err = loop_run_once(l, -1);
		if (err)
			return err;
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
