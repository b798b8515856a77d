/*
 * systemd service notifications (sd_notify): READY once the daemon has
 * started and nothing holds readiness back, STATUS lines, STOPPING, and
 * watchdog pings. Every function is a cheap no-op when kfwd does not run
 * under systemd (no NOTIFY_SOCKET), and safe from any thread.
 */
#ifndef KFWD_SDNOTIFY_H
#define KFWD_SDNOTIFY_H
#include <stdbool.h>
#include <stdint.h>

/*
 * Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the environment is
 * left as it is). Call once, before any thread starts. Return 0, or -errno
 * if the watchdog variables are malformed (the watchdog is then off).
 */
int sdn_init(void);

/*
 * Hold readiness back (e.g. the tunnel client until its first connection
 * attempt has ended). Each hold needs one sdn_ready_release; READY=1 is sent
 * once sdn_started() was called and no hold is left. A hold taken after
 * READY=1 was sent has no effect.
 */
void sdn_ready_hold(void);
void sdn_ready_release(void);

/* The daemon's own part of readiness: listeners are up. */
void sdn_started(void);

/* Whether READY=1 has been sent (or would have been, outside systemd). */
bool sdn_is_ready(void);

/* Send "STATUS=<text>" (one line; a newline in the text ends it). */
void sdn_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send STOPPING=1: the drain has begun. */
void sdn_stopping(void);

/* Whether a notification socket is set (something listens to us). */
bool sdn_enabled(void);

/* The watchdog interval in ms, 0 when off; ping at least twice per interval. */
uint64_t sdn_watchdog_ms(void);

/* Send WATCHDOG=1 if the watchdog is on. */
void sdn_watchdog_ping(void);

#endif
