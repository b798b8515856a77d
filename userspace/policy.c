#include "policy.h"
#include "conf.h"
#include "stats.h"

int64_t policy_burst(uint64_t rate)
{
	uint64_t b = rate / 8;
	return b < 16384 ? 16384 : (int64_t)(b > INT64_MAX / 2 ? INT64_MAX / 2 : b);
}

void policy_bucket_init(struct policy_bucket *b, uint64_t rate, uint64_t now_ms, uint64_t moved)
{
	*b = (struct policy_bucket){.tokens = policy_burst(rate), .last_ms = now_ms, .seen = moved};
}

uint64_t policy_bucket_take(struct policy_bucket *b, uint64_t rate, uint64_t now_ms, uint64_t moved)
{
	int64_t burst = policy_burst(rate);
	if (now_ms > b->last_ms) {
		/* Whole bytes now, the fraction carried: a refill every millisecond
		 * at a low rate would otherwise round the rate down to nothing. */
		uint64_t milli = (now_ms - b->last_ms) * rate + b->frac;
		uint64_t add = milli / 1000;
		b->frac = milli % 1000;
		/* Up to the burst; a debt (the kernel overspent) is paid off first. */
		uint64_t gap = (uint64_t)(burst - (b->tokens < burst ? b->tokens : burst));
		b->tokens = add >= gap ? burst : b->tokens + (int64_t)add;
		b->last_ms = now_ms;
	}
	if (moved > b->seen) {
		b->tokens -= (int64_t)(moved - b->seen);
		b->seen = moved;
	}
	if (b->tokens > burst)
		b->tokens = burst;
	return b->tokens > 0 ? (uint64_t)b->tokens : 0;
}

uint64_t policy_bucket_wait_ms(const struct policy_bucket *b, uint64_t rate, int64_t want)
{
	if (b->tokens >= want || !rate)
		return 1;
	uint64_t need = (uint64_t)(want - b->tokens) * 1000;
	uint64_t ms = need > b->frac ? (need - b->frac + rate - 1) / rate : 1;
	return ms ? ms : 1;
}

void policy_start(struct policy_state *ps, const struct conf_listener *lc, uint64_t now_ms)
{
	*ps = (struct policy_state){.start_ms = now_ms,
	                            .win_ms = now_ms + (uint64_t)lc->min_rate_grace_ms};
}

int policy_check(struct policy_state *ps, const struct conf_listener *lc, uint64_t now_ms,
                 uint64_t total)
{
	if (lc->max_bytes > 0 && total >= (uint64_t)lc->max_bytes)
		return ERR_MAX_BYTES;
	if (lc->max_lifetime_ms > 0 && now_ms - ps->start_ms >= (uint64_t)lc->max_lifetime_ms)
		return ERR_MAX_LIFETIME;
	if (lc->min_rate_bpm <= 0 || now_ms < ps->win_ms)
		return -1;
	if (!ps->counting) {
		/* The grace period is over: the first window starts now. */
		ps->counting = true;
		ps->win_ms = now_ms;
		ps->win_bytes = total;
		return -1;
	}
	uint64_t span = now_ms - ps->win_ms;
	if (span < (uint64_t)lc->min_rate_grace_ms)
		return -1;
	/* A window ended: the bytes in it against the rate, per minute. */
	uint64_t moved = total - ps->win_bytes;
	if ((__uint128_t)moved * 60000 < (__uint128_t)(uint64_t)lc->min_rate_bpm * span)
		return ERR_MIN_RATE;
	ps->win_ms = now_ms;
	ps->win_bytes = total;
	return -1;
}

uint64_t policy_next_ms(const struct policy_state *ps, const struct conf_listener *lc,
                        uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	if (lc->max_lifetime_ms > 0) {
		uint64_t end = ps->start_ms + (uint64_t)lc->max_lifetime_ms;
		next = end > now_ms ? end - now_ms : 0;
	}
	if (lc->min_rate_bpm > 0) {
		uint64_t end = ps->win_ms + (ps->counting ? (uint64_t)lc->min_rate_grace_ms : 0);
		uint64_t d = end > now_ms ? end - now_ms : 0;
		if (d < next)
			next = d;
	}
	return next;
}

uint64_t policy_bytes_left(const struct conf_listener *lc, uint64_t total)
{
	if (lc->max_bytes <= 0)
		return UINT64_MAX;
	return total >= (uint64_t)lc->max_bytes ? 0 : (uint64_t)lc->max_bytes - total;
}

size_t policy_allowance(const struct conf_listener *lc, struct policy_bucket *b, uint64_t now_ms,
                        uint64_t total, uint64_t moved, size_t want, uint64_t *wait_ms)
{
	*wait_ms = 0;
	uint64_t left = policy_bytes_left(lc, total);
	if (left < want)
		want = (size_t)left;
	if (lc->max_rate_bps <= 0 || want == 0)
		return want;
	uint64_t rate = (uint64_t)lc->max_rate_bps;
	uint64_t tokens = policy_bucket_take(b, rate, now_ms, moved);
	if (tokens == 0) {
		*wait_ms = policy_bucket_wait_ms(b, rate, POLICY_RATE_CHUNK);
		return 0;
	}
	return tokens < want ? (size_t)tokens : want;
}
