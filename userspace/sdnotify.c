/*
 * sd_notify wrappers (see sdnotify.h). libsystemd's sd_notify opens a socket
 * per call and is thread-safe; the state here is a few atomics so that
 * READY=1 goes out exactly once, from whichever thread completes readiness.
 */
#include "sdnotify.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static struct {
	bool on;          /* NOTIFY_SOCKET is set */
	uint64_t wd_usec; /* 0: no watchdog */
	int holds;        /* atomic: readiness holds outstanding */
	bool started;     /* atomic: sdn_started() was called */
	bool ready;       /* atomic: READY=1 sent */
} S;

static void send_state(const char *state)
{
	if (!S.on)
		return;
	int err = sd_notify(0, state);
	if (err < 0)
		log_debug("sd_notify %.32s: %s", state, strerror(-err));
}

int sdn_init(void)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;
	S.on = sock && *sock;
	S.wd_usec = 0;
	int r = sd_watchdog_enabled(0, &usec);
	if (r < 0) {
		log_warn("systemd: watchdog off: WATCHDOG_USEC/WATCHDOG_PID: %s", strerror(-r));
		return r;
	}
	if (r > 0)
		S.wd_usec = usec;
	if (S.on)
		log_debug("systemd: notify socket %s, watchdog %llu ms", sock,
		          (unsigned long long)(S.wd_usec / 1000));
	return 0;
}

/* Both conditions are re-checked by each side after its own update, so the
 * last of them sees both; the exchange makes the first such caller the one. */
static void maybe_ready(void)
{
	if (!__atomic_load_n(&S.started, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&S.holds, __ATOMIC_SEQ_CST) > 0)
		return;
	if (__atomic_exchange_n(&S.ready, true, __ATOMIC_SEQ_CST))
		return;
	send_state("READY=1");
}

void sdn_ready_hold(void)
{
	__atomic_add_fetch(&S.holds, 1, __ATOMIC_SEQ_CST);
}

void sdn_ready_release(void)
{
	if (__atomic_sub_fetch(&S.holds, 1, __ATOMIC_SEQ_CST) < 0) {
		/* More releases than holds is a caller's bug: do not let it block READY. */
		__atomic_store_n(&S.holds, 0, __ATOMIC_SEQ_CST);
		log_warn("systemd: readiness released more often than held");
	}
	maybe_ready();
}

void sdn_started(void)
{
	__atomic_store_n(&S.started, true, __ATOMIC_SEQ_CST);
	maybe_ready();
}

bool sdn_is_ready(void)
{
	return __atomic_load_n(&S.ready, __ATOMIC_SEQ_CST);
}

void sdn_status(const char *fmt, ...)
{
	char buf[512];
	if (!S.on)
		return;
	int n = snprintf(buf, sizeof(buf), "STATUS=");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	buf[strcspn(buf, "\n")] = 0; /* a newline would start another assignment */
	send_state(buf);
}

void sdn_stopping(void)
{
	send_state("STOPPING=1");
}

bool sdn_enabled(void)
{
	return S.on;
}

uint64_t sdn_watchdog_ms(void)
{
	uint64_t ms = S.wd_usec / 1000;
	return S.wd_usec && !ms ? 1 : ms;
}

void sdn_watchdog_ping(void)
{
	if (S.wd_usec)
		send_state("WATCHDOG=1");
}
