/*
 * Relay policy of TCP connections (listener keys max_lifetime_ms, max_bytes,
 * max_rate_bps, min_rate_bpm, min_rate_grace_ms; idle_timeout_ms stays with
 * the relays): the arithmetic both relays share, with no kernel or loop
 * involved, so it is unit-tested alone. Times are loop_now() milliseconds,
 * byte counts running totals.
 */
#ifndef KFWD_POLICY_H
#define KFWD_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_listener;

/* A token bucket over a running total of bytes moved (by kfwd or the kernel). */
struct policy_bucket {
	int64_t tokens;   /* bytes that may move now; negative: overspent */
	uint64_t last_ms; /* tokens were brought up to date then */
	uint64_t frac;    /* rate * ms remainder below 1 byte (in 1/1000 bytes) */
	uint64_t seen;    /* moved total already taken from tokens */
};

/* Bytes the bucket holds at most for rate (1/8 s of it, at least 16 KiB). */
int64_t policy_burst(uint64_t rate);
/* A full bucket at now; moved is the direction's total so far. */
void policy_bucket_init(struct policy_bucket *b, uint64_t rate, uint64_t now_ms, uint64_t moved);
/* Add rate for the time since the last call, take what moved since (moved
 * is the running total), cap at the burst. Return the bytes that may move
 * now (0 when the bucket is empty or overspent). */
uint64_t policy_bucket_take(struct policy_bucket *b, uint64_t rate, uint64_t now_ms,
                            uint64_t moved);
/* Milliseconds until the bucket holds want bytes (at least 1). */
uint64_t policy_bucket_wait_ms(const struct policy_bucket *b, uint64_t rate, int64_t want);

/* Where a connection stands against its limits. */
struct policy_state {
	uint64_t start_ms;  /* accepted */
	uint64_t win_ms;    /* min_rate: grace ends (!counting) or the window began */
	uint64_t win_bytes; /* min_rate: total bytes when the window began */
	bool counting;      /* min_rate: past the grace period */
};

void policy_start(struct policy_state *ps, const struct conf_listener *lc, uint64_t now_ms);
/*
 * Check the closing limits at now with total bytes relayed (both directions)
 * so far: return -1 when none is hit, or the enum stats_err to close with
 * (ERR_MAX_LIFETIME, ERR_MAX_BYTES, ERR_MIN_RATE). A min_rate window that
 * ended without a violation starts the next one. idle_timeout_ms is not
 * checked here.
 */
int policy_check(struct policy_state *ps, const struct conf_listener *lc, uint64_t now_ms,
                 uint64_t total);
/* Milliseconds from now until policy_check may first return something new
 * (UINT64_MAX: no limit set). */
uint64_t policy_next_ms(const struct policy_state *ps, const struct conf_listener *lc,
                        uint64_t now_ms);
/* Bytes that may still be relayed before max_bytes (UINT64_MAX: no limit). */
uint64_t policy_bytes_left(const struct conf_listener *lc, uint64_t total);
/*
 * How many bytes one direction of a relay may read now, at most want:
 * max_bytes counts total (both directions), max_rate_bps the direction's
 * bucket b over moved (its running total). When the bucket is empty,
 * return 0 and set *wait_ms to the time until POLICY_RATE_CHUNK bytes are
 * due (the relay leaves the socket unread meanwhile, so its sender's TCP
 * window closes); else *wait_ms = 0.
 */
#define POLICY_RATE_CHUNK 16384
size_t policy_allowance(const struct conf_listener *lc, struct policy_bucket *b, uint64_t now_ms,
                        uint64_t total, uint64_t moved, size_t want, uint64_t *wait_ms);

#endif
