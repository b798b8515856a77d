/*
 * A small event loop over epoll (edge-triggered by convention: callers drain
 * to EAGAIN), with millisecond timers in a binary heap, and a "pending" list
 * for work that stopped early on a fairness budget and must run again even
 * though no new edge will arrive.
 */
#ifndef KFWD_LOOP_H
#define KFWD_LOOP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;
struct loop_pending;

typedef void (*loop_io_fn)(struct loop *l, struct loop_io *io, uint32_t events);
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t);
typedef void (*loop_pending_fn)(struct loop *l, struct loop_pending *p);

/* Embedded in the owner; the owner is recovered with container_of. */
struct loop_io {
	int fd;
	loop_io_fn fn;
};

struct loop_timer {
	uint64_t when;   /* absolute, loop_now() clock, ms */
	size_t slot;     /* heap index + 1; 0 when not armed */
	loop_timer_fn fn;
};

struct loop_pending {
	struct loop_pending *next, *prev; /* in whichever list holds it; NULL when idle */
	bool queued;
	loop_pending_fn fn;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Create a loop; return NULL with errno set. */
struct loop *loop_new(void);
/* Free the loop. Registered fds are not closed: their owners close them. */
void loop_free(struct loop *l);

/* Register io->fd for events (EPOLL* flags; EPOLLET is added). Return 0 or -errno. */
int loop_add(struct loop *l, struct loop_io *io, uint32_t events);
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events);
/* Unregister; safe to call on an fd that is about to be closed. Events of the
 * current batch for io are dropped, so the owner may be freed via loop_defer. */
void loop_del(struct loop *l, struct loop_io *io);

/* Monotonic milliseconds, refreshed once per loop iteration. */
uint64_t loop_now(struct loop *l);
/* Re-read the clock now (for long callbacks and tests). */
uint64_t loop_update_time(struct loop *l);

/* Arm (or re-arm) t to fire after ms milliseconds. Return 0 or -ENOMEM. */
int loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != 0;
}

/* Queue p to run at the end of this iteration (once, however often queued). */
void loop_pending_add(struct loop *l, struct loop_pending *p);
/* Remove p from the queue if queued (before freeing its owner). */
void loop_pending_cancel(struct loop *l, struct loop_pending *p);

/* Call fn(arg) after the current batch of events: the place to free objects
 * whose events may still be in the batch. Return 0 or -ENOMEM. */
int loop_defer(struct loop *l, void (*fn)(void *), void *arg);

/* Run until loop_stop. Return 0, or -errno if epoll_wait fails. */
int loop_run(struct loop *l);
/* Run one iteration waiting at most timeout_ms (-1: until an event or timer). */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);
/* Number of armed timers (for tests and stats). */
size_t loop_timer_count(const struct loop *l);

#endif
