/* loop: epoll io callbacks, timers in a heap, the pending list and deferred calls. */
#include "loop.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static struct loop *L;

static void setup(void)
{
	L = loop_new();
	cr_assert_not_null(L, "loop_new: %s", strerror(errno));
}

static void teardown(void)
{
	loop_free(L);
	L = NULL;
}

/* Every test gets a fresh loop; .timeout turns a loop that blocks forever into a failure. */
TestSuite(loop, .init = setup, .fini = teardown, .timeout = 20);

static uint64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run iterations until done() holds; fail after limit_ms of real time. */
static void run_until(bool (*done)(void), uint64_t limit_ms)
{
	uint64_t end = real_ms() + limit_ms;
	while (!done()) {
		cr_assert_lt(real_ms(), end, "loop did not get there in %llu ms",
		             (unsigned long long)limit_ms);
		cr_assert_eq(loop_run_once(L, 50), 0);
	}
}

/* ---- timers ---- */

struct tmr {
	struct loop_timer t;
	int id;
	int fired;
	uint64_t when;     /* deadline when it fired */
	uint64_t fired_at; /* loop_now() when it fired */
	int rearm;         /* times left to re-arm itself from the callback */
	uint64_t rearm_ms;
	struct tmr *victim; /* cancelled from the callback */
};

static int fire_log[1024];
static int nfired;

static void tmr_cb(struct loop *l, struct loop_timer *t)
{
	struct tmr *x = container_of(t, struct tmr, t);
	cr_assert_not(loop_timer_armed(t), "a timer is disarmed before its callback");
	x->fired++;
	x->when = t->when;
	x->fired_at = loop_now(l);
	if (nfired < 1024)
		fire_log[nfired] = x->id;
	nfired++;
	if (x->victim)
		loop_timer_cancel(l, &x->victim->t);
	if (x->rearm > 0) {
		x->rearm--;
		cr_assert_eq(loop_timer_set(l, t, x->rearm_ms), 0);
	}
}

static void tmr_init(struct tmr *x, int id)
{
	memset(x, 0, sizeof(*x));
	x->id = id;
	x->t.fn = tmr_cb;
}

static bool no_timers(void)
{
	return loop_timer_count(L) == 0;
}

/* Fired timers must come out by deadline, none before it is due. */
static void check_fire_order(struct tmr *v)
{
	for (int i = 0; i < nfired; i++) {
		struct tmr *x = &v[fire_log[i]];
		cr_assert_geq(x->fired_at, x->when, "timer %d fired before its deadline", x->id);
		if (i > 0)
			cr_assert_geq(x->when, v[fire_log[i - 1]].when,
			              "timer %d (due %llu) fired after timer %d (due %llu)", x->id,
			              (unsigned long long)x->when, fire_log[i - 1],
			              (unsigned long long)v[fire_log[i - 1]].when);
	}
}

Test(loop, timers_fire_in_deadline_order)
{
	enum { N = 300 };
	static struct tmr v[N];
	srand(20240611);
	loop_update_time(L);
	for (int i = 0; i < N; i++) {
		tmr_init(&v[i], i);
		cr_assert_eq(loop_timer_set(L, &v[i].t, (uint64_t)(rand() % 60)), 0);
		cr_assert(loop_timer_armed(&v[i].t));
	}
	cr_assert_eq(loop_timer_count(L), N);
	run_until(no_timers, 5000);
	cr_assert_eq(nfired, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(v[i].fired, 1, "timer %d fired %d times", i, v[i].fired);
	check_fire_order(v);
}

Test(loop, timer_waits_for_its_delay)
{
	struct tmr a;
	tmr_init(&a, 0);
	uint64_t start = real_ms();
	loop_update_time(L);
	cr_assert_eq(loop_timer_set(L, &a.t, 30), 0);
	cr_assert_eq(a.t.when, loop_now(L) + 30);
	run_until(no_timers, 2000);
	cr_assert_eq(a.fired, 1);
	/* loop_now is whole milliseconds: allow one for the truncation. */
	cr_assert_geq(real_ms() - start, 29);
}

Test(loop, cancel_root_middle_and_last)
{
	enum { N = 12 };
	static struct tmr v[N];
	loop_update_time(L);
	for (int i = 0; i < N; i++)
		tmr_init(&v[i], i);
	/* Reverse insertion order so that the heap has to reorder. */
	for (int i = N - 1; i >= 0; i--)
		cr_assert_eq(loop_timer_set(L, &v[i].t, (uint64_t)(3 * i)), 0);
	cr_assert_eq(loop_timer_count(L), N);
	/* v[0] is the earliest: the heap root. */
	int cancelled[] = {0, 5, 6, 11, 1};
	for (size_t k = 0; k < sizeof(cancelled) / sizeof(cancelled[0]); k++) {
		loop_timer_cancel(L, &v[cancelled[k]].t);
		cr_assert_not(loop_timer_armed(&v[cancelled[k]].t));
		cr_assert_eq(loop_timer_count(L), N - 1 - k);
	}
	/* Cancelling a disarmed timer changes nothing. */
	loop_timer_cancel(L, &v[5].t);
	cr_assert_eq(loop_timer_count(L), N - 5);

	run_until(no_timers, 2000);
	int want[] = {2, 3, 4, 7, 8, 9, 10};
	cr_assert_eq(nfired, 7);
	for (int i = 0; i < nfired; i++)
		cr_assert_eq(fire_log[i], want[i], "fire #%d was timer %d, want %d", i, fire_log[i],
		             want[i]);
	for (size_t k = 0; k < sizeof(cancelled) / sizeof(cancelled[0]); k++)
		cr_assert_eq(v[cancelled[k]].fired, 0);
}

Test(loop, random_set_cancel_keeps_heap_consistent)
{
	enum { N = 400 };
	static struct tmr v[N];
	bool armed[N] = {false};
	srand(77);
	loop_update_time(L);
	for (int i = 0; i < N; i++)
		tmr_init(&v[i], i);
	/* Random arms, re-arms and cancels, mirrored in armed[]. */
	for (int step = 0; step < 5000; step++) {
		int i = rand() % N;
		if (rand() % 3 == 0) {
			loop_timer_cancel(L, &v[i].t);
			armed[i] = false;
		} else {
			cr_assert_eq(loop_timer_set(L, &v[i].t, (uint64_t)(rand() % 40)), 0);
			armed[i] = true;
		}
	}
	size_t n = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(loop_timer_armed(&v[i].t), armed[i], "timer %d", i);
		n += armed[i];
	}
	cr_assert_eq(loop_timer_count(L), n);
	run_until(no_timers, 5000);
	cr_assert_eq((size_t)nfired, n);
	for (int i = 0; i < N; i++)
		cr_assert_eq(v[i].fired, armed[i] ? 1 : 0, "timer %d", i);
	check_fire_order(v);
}

Test(loop, rearm_moves_the_deadline)
{
	struct tmr a, b;
	tmr_init(&a, 0);
	tmr_init(&b, 1);
	loop_update_time(L);
	cr_assert_eq(loop_timer_set(L, &a.t, 100000), 0);
	cr_assert_eq(loop_timer_set(L, &b.t, 5), 0);
	/* Re-arming an armed timer replaces its deadline; it is not armed twice. */
	cr_assert_eq(loop_timer_set(L, &a.t, 1), 0);
	cr_assert_eq(loop_timer_count(L), 2);
	run_until(no_timers, 2000);
	cr_assert_eq(nfired, 2);
	cr_assert_eq(fire_log[0], 0);
	cr_assert_eq(fire_log[1], 1);
}

Test(loop, rearm_from_inside_callback)
{
	struct tmr a;
	tmr_init(&a, 0);
	a.rearm = 3;
	a.rearm_ms = 2;
	cr_assert_eq(loop_timer_set(L, &a.t, 1), 0);
	run_until(no_timers, 2000);
	cr_assert_eq(a.fired, 4);
	cr_assert_not(loop_timer_armed(&a.t));
}

Test(loop, cancel_from_inside_callback)
{
	struct tmr a, b, c;
	tmr_init(&a, 0);
	tmr_init(&b, 1);
	tmr_init(&c, 2);
	loop_update_time(L);
	cr_assert_eq(loop_timer_set(L, &a.t, 0), 0);
	cr_assert_eq(loop_timer_set(L, &b.t, 1), 0);
	cr_assert_eq(loop_timer_set(L, &c.t, 2), 0);
	a.victim = &b; /* due in the same iteration as a, but after it */
	usleep(10000); /* all three are due at the next iteration */
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.fired, 1);
	cr_assert_eq(b.fired, 0);
	cr_assert_eq(c.fired, 1);
	cr_assert_eq(loop_timer_count(L), 0);
}

Test(loop, zero_delay_fires_without_waiting)
{
	struct tmr a;
	tmr_init(&a, 0);
	cr_assert_eq(loop_timer_set(L, &a.t, 0), 0);
	uint64_t start = real_ms();
	/* -1 would block forever if the due timer did not shorten the wait. */
	cr_assert_eq(loop_run_once(L, -1), 0);
	cr_assert_eq(a.fired, 1);
	cr_assert_lt(real_ms() - start, 1000);
}

Test(loop, zero_delay_rearm_runs_once_per_iteration)
{
	struct tmr a;
	tmr_init(&a, 0);
	a.rearm = 1000;
	a.rearm_ms = 0;
	cr_assert_eq(loop_timer_set(L, &a.t, 0), 0);
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(loop_run_once(L, -1), 0);
		cr_assert_eq(a.fired, i, "iteration %d ran the timer %d times", i, a.fired);
	}
	cr_assert(loop_timer_armed(&a.t));
}

Test(loop, zero_delay_rearm_does_not_starve_other_timers)
{
	struct tmr a, b;
	tmr_init(&a, 0);
	tmr_init(&b, 1);
	a.rearm = 1 << 30;
	a.rearm_ms = 0;
	cr_assert_eq(loop_timer_set(L, &a.t, 0), 0);
	cr_assert_eq(loop_timer_set(L, &b.t, 3), 0);
	uint64_t end = real_ms() + 2000;
	while (!b.fired) {
		cr_assert_lt(real_ms(), end);
		cr_assert_eq(loop_run_once(L, -1), 0);
	}
	cr_assert_geq(b.fired_at, b.when);
}

Test(loop, timer_count)
{
	struct tmr v[4];
	for (int i = 0; i < 4; i++)
		tmr_init(&v[i], i);
	cr_assert_eq(loop_timer_count(L), 0);
	cr_assert_not(loop_timer_armed(&v[0].t));
	for (int i = 0; i < 4; i++)
		cr_assert_eq(loop_timer_set(L, &v[i].t, i == 0 ? 0 : 100000), 0);
	cr_assert_eq(loop_timer_count(L), 4);
	loop_timer_set(L, &v[1].t, 200000);
	cr_assert_eq(loop_timer_count(L), 4);
	loop_timer_cancel(L, &v[2].t);
	cr_assert_eq(loop_timer_count(L), 3);
	cr_assert_eq(loop_run_once(L, 0), 0); /* v[0] fires */
	cr_assert_eq(v[0].fired, 1);
	cr_assert_eq(loop_timer_count(L), 2);
	loop_timer_cancel(L, &v[1].t);
	loop_timer_cancel(L, &v[3].t);
	cr_assert_eq(loop_timer_count(L), 0);
}

static void stop_cb(struct loop *l, struct loop_timer *t)
{
	loop_stop(l);
}

Test(loop, run_until_stop)
{
	struct loop_timer t = {.fn = stop_cb};
	cr_assert_eq(loop_timer_set(L, &t, 5), 0);
	cr_assert_eq(loop_run(L), 0);
	cr_assert_not(loop_timer_armed(&t));
}

Test(loop, now_is_cached_until_updated)
{
	uint64_t a = loop_now(L);
	usleep(20000);
	cr_assert_eq(loop_now(L), a, "loop_now changes only once per iteration");
	uint64_t b = loop_update_time(L);
	cr_assert_geq(b, a + 19);
	cr_assert_eq(loop_now(L), b);
	usleep(5000);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_geq(loop_now(L), b + 4);
}

/* ---- io ---- */

struct io {
	struct loop_io io;
	int calls;
	uint32_t events;
	struct io *victim;   /* loop_del'ed (and freed via loop_defer) by this callback */
	bool *deferred_flag; /* value seen by this callback */
	bool seen_deferred;
};

static void drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void free_io(void *arg)
{
	free(arg);
}

static bool deferred_ran;
static struct io *ran_io[8]; /* which callbacks ran, in order */
static int nran;

static void set_flag(void *arg)
{
	*(bool *)arg = true;
}

static void io_cb(struct loop *l, struct loop_io *lio, uint32_t events)
{
	struct io *x = container_of(lio, struct io, io);
	x->calls++;
	x->events = events;
	if (nran < 8)
		ran_io[nran++] = x;
	if (events & EPOLLIN)
		drain(lio->fd);
	if (x->deferred_flag) {
		x->seen_deferred = *x->deferred_flag;
		cr_assert_eq(loop_defer(l, set_flag, x->deferred_flag), 0);
	}
	if (x->victim) {
		loop_del(l, &x->victim->io);
		cr_assert_eq(loop_defer(l, free_io, x->victim), 0);
		x->victim = NULL;
	}
}

static void make_pipe(int p[2])
{
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

Test(loop, io_pipe_edge_triggered)
{
	int p[2];
	make_pipe(p);
	struct io r = {.io = {.fd = p[0], .fn = io_cb}};
	cr_assert_eq(loop_add(L, &r.io, EPOLLIN), 0);

	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(r.calls, 0, "nothing to read yet");

	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert(r.events & EPOLLIN);

	/* Drained: no new edge, no new call. */
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(r.calls, 1);

	cr_assert_eq(write(p[1], "yz", 2), 2);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(r.calls, 2);

	/* The writer closing is reported as a hang-up. */
	close(p[1]);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(r.calls, 3);
	cr_assert(r.events & EPOLLHUP);

	loop_del(L, &r.io);
	close(p[0]);
}

Test(loop, io_mod_switches_events)
{
	int p[2];
	make_pipe(p);
	struct io w = {.io = {.fd = p[1], .fn = io_cb}};
	/* Registered for nothing but errors: an empty pipe is writable but not asked for. */
	cr_assert_eq(loop_add(L, &w.io, 0), 0);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(w.calls, 0);
	cr_assert_eq(loop_mod(L, &w.io, EPOLLOUT), 0);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(w.calls, 1);
	cr_assert(w.events & EPOLLOUT);
	loop_del(L, &w.io);
	close(p[0]);
	close(p[1]);
}

Test(loop, io_eventfd)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	struct io e = {.io = {.fd = efd, .fn = io_cb}};
	cr_assert_eq(loop_add(L, &e.io, EPOLLIN), 0);
	uint64_t one = 1;
	cr_assert_eq(write(efd, &one, sizeof(one)), sizeof(one));
	cr_assert_eq(write(efd, &one, sizeof(one)), sizeof(one));
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(e.calls, 1, "two writes before one wait are one edge");
	cr_assert(e.events & EPOLLIN);
	uint64_t v;
	cr_assert_eq(read(efd, &v, sizeof(v)), -1, "the callback drained the counter");
	loop_del(L, &e.io);
	close(efd);
}

Test(loop, io_add_errors)
{
	struct io bad = {.io = {.fd = -1, .fn = io_cb}};
	cr_assert_eq(loop_add(L, &bad.io, EPOLLIN), -EBADF);
	int p[2];
	make_pipe(p);
	struct io r = {.io = {.fd = p[0], .fn = io_cb}};
	cr_assert_eq(loop_mod(L, &r.io, EPOLLIN), -ENOENT);
	cr_assert_eq(loop_add(L, &r.io, EPOLLIN), 0);
	cr_assert_eq(loop_add(L, &r.io, EPOLLIN), -EEXIST);
	loop_del(L, &r.io);
	/* Deleting twice, or an io without an fd, is harmless. */
	loop_del(L, &r.io);
	loop_del(L, &bad.io);
	close(p[0]);
	close(p[1]);
}

Test(loop, del_stops_events)
{
	int p[2];
	make_pipe(p);
	struct io r = {.io = {.fd = p[0], .fn = io_cb}};
	cr_assert_eq(loop_add(L, &r.io, EPOLLIN), 0);
	loop_del(L, &r.io);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(loop_run_once(L, 20), 0);
	cr_assert_eq(r.calls, 0);
	close(p[0]);
	close(p[1]);
}

Test(loop, del_drops_events_of_current_batch)
{
	int p1[2], p2[2];
	make_pipe(p1);
	make_pipe(p2);
	/* Heap-allocated: the victim is freed via loop_defer, so a stale event
	 * delivered after loop_del is a use-after-free under ASan. */
	struct io *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	cr_assert(a && b);
	a->io = (struct loop_io){.fd = p1[0], .fn = io_cb};
	b->io = (struct loop_io){.fd = p2[0], .fn = io_cb};
	a->victim = b;
	b->victim = a;
	cr_assert_eq(loop_add(L, &a->io, EPOLLIN), 0);
	cr_assert_eq(loop_add(L, &b->io, EPOLLIN), 0);
	cr_assert_eq(write(p1[1], "x", 1), 1);
	cr_assert_eq(write(p2[1], "x", 1), 1);
	/* Wait until both are ready so that they come in one batch. */
	usleep(1000);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	/* Whichever ran first deleted and freed the other (so do not touch a or b). */
	cr_assert_eq(nran, 1, "exactly one of the two callbacks runs, not %d", nran);
	struct io *survivor = ran_io[0];
	cr_assert(survivor == a || survivor == b);
	cr_assert_eq(survivor->calls, 1);
	cr_assert_null(survivor->victim);
	/* The deleted fd stays quiet later too. */
	cr_assert_eq(write(p1[1], "x", 1), 1);
	cr_assert_eq(write(p2[1], "x", 1), 1);
	cr_assert_eq(loop_run_once(L, 50), 0);
	cr_assert_eq(survivor->calls, 2);
	loop_del(L, &survivor->io);
	free(survivor);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

Test(loop, defer_runs_after_the_batch)
{
	int p1[2], p2[2];
	make_pipe(p1);
	make_pipe(p2);
	struct io a = {.io = {.fd = p1[0], .fn = io_cb}, .deferred_flag = &deferred_ran};
	struct io b = {.io = {.fd = p2[0], .fn = io_cb}, .deferred_flag = &deferred_ran};
	cr_assert_eq(loop_add(L, &a.io, EPOLLIN), 0);
	cr_assert_eq(loop_add(L, &b.io, EPOLLIN), 0);
	cr_assert_eq(write(p1[1], "x", 1), 1);
	cr_assert_eq(write(p2[1], "x", 1), 1);
	usleep(1000);
	cr_assert_eq(loop_run_once(L, 1000), 0);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(b.calls, 1);
	/* Both callbacks deferred; neither saw a deferred call run during the batch. */
	cr_assert_not(a.seen_deferred);
	cr_assert_not(b.seen_deferred);
	cr_assert(deferred_ran, "deferred calls run before loop_run_once returns");
	loop_del(L, &a.io);
	loop_del(L, &b.io);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static int defer_count[100];

static void count_defer(void *arg)
{
	defer_count[(int *)arg - defer_count]++;
}

static void defer_more(void *arg)
{
	int *c = arg;
	(*c)++;
	/* The first 40 each defer one more, beyond the first chunk of 32. */
	if (c - defer_count < 40)
		cr_assert_eq(loop_defer(L, count_defer, c + 60), 0);
}

Test(loop, defer_many_and_nested)
{
	for (int i = 0; i < 60; i++)
		cr_assert_eq(loop_defer(L, defer_more, &defer_count[i]), 0);
	cr_assert_eq(loop_run_once(L, 0), 0);
	/* 0..59 directly, 60..99 deferred by the first 40 of them, all in one iteration. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(defer_count[i], 1, "deferred call %d ran %d times", i, defer_count[i]);
	/* Nothing is left for the next iteration. */
	cr_assert_eq(loop_run_once(L, 0), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(defer_count[i], 1, "deferred call %d ran %d times", i, defer_count[i]);
}

Test(loop, free_runs_outstanding_deferred_calls)
{
	/* Objects handed to loop_defer are not leaked when the loop goes away. */
	void *p = malloc(64);
	cr_assert_not_null(p);
	bool ran = false;
	cr_assert_eq(loop_defer(L, free_io, p), 0);
	cr_assert_eq(loop_defer(L, set_flag, &ran), 0);
	loop_free(L);
	L = NULL;
	cr_assert(ran);
}

/* ---- pending ---- */

struct pend {
	struct loop_pending p;
	int runs;
	int order;           /* global sequence number of the last run */
	struct pend *cancel; /* cancelled by this one's callback */
	struct pend *readd;  /* (re-)added by this one's callback, after the cancel */
	int readd_self;      /* times left to re-add itself */
};

static int pend_seq;

static void pend_cb(struct loop *l, struct loop_pending *lp)
{
	struct pend *x = container_of(lp, struct pend, p);
	cr_assert_not(lp->queued, "a pending item is dequeued before its callback");
	x->runs++;
	x->order = ++pend_seq;
	if (x->cancel)
		loop_pending_cancel(l, &x->cancel->p);
	if (x->readd)
		loop_pending_add(l, &x->readd->p);
	if (x->readd_self > 0) {
		x->readd_self--;
		loop_pending_add(l, lp);
	}
}

static void pend_init(struct pend *x)
{
	memset(x, 0, sizeof(*x));
	x->p.fn = pend_cb;
}

Test(loop, pending_runs_once_however_often_added)
{
	struct pend a;
	pend_init(&a);
	loop_pending_add(L, &a.p);
	loop_pending_add(L, &a.p);
	cr_assert(a.p.queued);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1);
	cr_assert_not(a.p.queued);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1, "not queued again: not run again");
}

Test(loop, pending_runs_in_queue_order)
{
	struct pend v[5];
	for (int i = 0; i < 5; i++) {
		pend_init(&v[i]);
		loop_pending_add(L, &v[i].p);
	}
	cr_assert_eq(loop_run_once(L, 0), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(v[i].order, i + 1);
}

Test(loop, pending_cancel_before_run)
{
	struct pend a, b;
	pend_init(&a);
	pend_init(&b);
	loop_pending_add(L, &a.p);
	loop_pending_add(L, &b.p);
	loop_pending_cancel(L, &a.p);
	cr_assert_not(a.p.queued);
	loop_pending_cancel(L, &a.p); /* not queued: no-op */
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 0);
	cr_assert_eq(b.runs, 1);
}

Test(loop, pending_does_not_let_the_loop_block)
{
	struct pend a;
	pend_init(&a);
	loop_pending_add(L, &a.p);
	uint64_t start = real_ms();
	cr_assert_eq(loop_run_once(L, -1), 0);
	cr_assert_eq(a.runs, 1);
	cr_assert_lt(real_ms() - start, 1000);
}

Test(loop, pending_changes_during_a_pass)
{
	struct pend a, b, c, d;
	pend_init(&a);
	pend_init(&b);
	pend_init(&c);
	pend_init(&d);
	a.cancel = &b;    /* b is later in the same pass: it must not run */
	a.readd = &d;     /* newly queued during the pass: waits one turn */
	c.readd_self = 1; /* re-queues itself: runs again next turn, not now */
	loop_pending_add(L, &a.p);
	loop_pending_add(L, &b.p);
	loop_pending_add(L, &c.p);

	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1);
	cr_assert_eq(b.runs, 0, "cancelled by an earlier item of the same pass");
	cr_assert_not(b.p.queued);
	cr_assert_eq(c.runs, 1);
	cr_assert(c.p.queued);
	cr_assert_eq(d.runs, 0);
	cr_assert(d.p.queued);

	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1);
	cr_assert_eq(b.runs, 0);
	cr_assert_eq(c.runs, 2);
	cr_assert_eq(d.runs, 1);
	cr_assert_lt(d.order, c.order, "d was queued (by a) before c re-queued itself");

	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(c.runs, 2);
	cr_assert_eq(d.runs, 1);
}

Test(loop, pending_cancel_then_readd_during_a_pass)
{
	struct pend a, b;
	pend_init(&a);
	pend_init(&b);
	a.cancel = &b;
	a.readd = &b; /* taken out of this pass and queued for the next */
	loop_pending_add(L, &a.p);
	loop_pending_add(L, &b.p);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(b.runs, 0);
	cr_assert(b.p.queued);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(b.runs, 1);
	cr_assert_not(b.p.queued);
}

Test(loop, pending_cancelled_by_later_item_already_ran)
{
	struct pend a, b;
	pend_init(&a);
	pend_init(&b);
	b.cancel = &a; /* a already ran and is no longer queued */
	loop_pending_add(L, &a.p);
	loop_pending_add(L, &b.p);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1);
	cr_assert_eq(b.runs, 1);
	cr_assert_not(a.p.queued);
	cr_assert_eq(loop_run_once(L, 0), 0);
	cr_assert_eq(a.runs, 1);
}
