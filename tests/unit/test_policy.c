/* Relay policy arithmetic: the token bucket and the closing limits. */
#include "conf.h"
#include "policy.h"
#include "stats.h"

#include <criterion/criterion.h>
#include <stdint.h>

#define MIB (1024 * 1024)

Test(policy, burst_is_an_eighth_of_the_rate_at_least_16k)
{
	cr_assert_eq(policy_burst(MIB), MIB / 8);
	cr_assert_eq(policy_burst(1000), 16384);
}

Test(policy, bucket_starts_full_and_refills_at_the_rate)
{
	struct policy_bucket b;
	policy_bucket_init(&b, MIB, 1000, 0);
	cr_assert_eq(policy_bucket_take(&b, MIB, 1000, 0), MIB / 8);
	/* Spend it all: empty, and 100 ms bring 100 ms of the rate. */
	cr_assert_eq(policy_bucket_take(&b, MIB, 1000, MIB / 8), 0);
	cr_assert_eq(policy_bucket_take(&b, MIB, 1100, MIB / 8), MIB / 10);
	/* Never more than the burst, however long it rests. */
	cr_assert_eq(policy_bucket_take(&b, MIB, 100000, MIB / 8), MIB / 8);
}

Test(policy, bucket_overspent_by_the_kernel_waits_longer)
{
	struct policy_bucket b;
	policy_bucket_init(&b, 1000000, 0, 5000);
	/* The kernel moved 2 bursts before kfwd looked: a burst in debt. */
	cr_assert_eq(policy_bucket_take(&b, 1000000, 0, 5000 + 250000), 0);
	cr_assert_eq(b.tokens, -125000);
	cr_assert_eq(policy_bucket_wait_ms(&b, 1000000, 16384), 142,
	             "(125000 + 16384) / 1000 per ms");
	cr_assert_eq(policy_bucket_take(&b, 1000000, 125, 255000), 0);
	cr_assert_eq(policy_bucket_take(&b, 1000000, 126, 255000), 1000);
}

Test(policy, bucket_keeps_the_fraction_of_slow_rates)
{
	struct policy_bucket b;
	policy_bucket_init(&b, 300, 0, 0);
	cr_assert_eq(policy_bucket_take(&b, 300, 0, 16384), 0); /* empty */
	for (uint64_t ms = 1; ms <= 10000; ms++)
		policy_bucket_take(&b, 300, ms, 16384);
	cr_assert_eq(b.tokens, 3000, "300 B/s over 10 s in 1 ms steps: %lld", (long long)b.tokens);
}

static struct conf_listener lc(int life, long long bytes, long long bpm, int grace)
{
	return (struct conf_listener){.max_lifetime_ms = life,
	                              .max_bytes = bytes,
	                              .min_rate_bpm = bpm,
	                              .min_rate_grace_ms = grace};
}

Test(policy, nothing_set_never_closes)
{
	struct conf_listener l = lc(0, 0, 0, 60000);
	struct policy_state ps;
	policy_start(&ps, &l, 0);
	cr_assert_eq(policy_check(&ps, &l, 1ull << 40, 1ull << 50), -1);
	cr_assert_eq(policy_next_ms(&ps, &l, 5), UINT64_MAX);
	cr_assert_eq(policy_bytes_left(&l, 1ull << 50), UINT64_MAX);
}

Test(policy, lifetime)
{
	struct conf_listener l = lc(1500, 0, 0, 60000);
	struct policy_state ps;
	policy_start(&ps, &l, 1000);
	cr_assert_eq(policy_next_ms(&ps, &l, 1200), 1300);
	cr_assert_eq(policy_check(&ps, &l, 2499, 0), -1);
	cr_assert_eq(policy_check(&ps, &l, 2500, 0), ERR_MAX_LIFETIME);
}

Test(policy, max_bytes)
{
	struct conf_listener l = lc(0, 1000, 0, 60000);
	struct policy_state ps;
	policy_start(&ps, &l, 0);
	cr_assert_eq(policy_bytes_left(&l, 400), 600);
	cr_assert_eq(policy_bytes_left(&l, 1400), 0);
	cr_assert_eq(policy_check(&ps, &l, 10, 999), -1);
	cr_assert_eq(policy_check(&ps, &l, 10, 1000), ERR_MAX_BYTES);
}

Test(policy, min_rate_after_the_grace_period)
{
	/* 6000 bytes per minute = 100 per second; grace and windows of 1 s. */
	struct conf_listener l = lc(0, 0, 6000, 1000);
	struct policy_state ps;
	policy_start(&ps, &l, 0);
	cr_assert_eq(policy_next_ms(&ps, &l, 0), 1000);
	cr_assert_eq(policy_check(&ps, &l, 999, 0), -1, "nothing during the grace period");
	cr_assert_eq(policy_check(&ps, &l, 1000, 0), -1, "the first window starts");
	cr_assert_eq(policy_next_ms(&ps, &l, 1000), 1000);
	cr_assert_eq(policy_check(&ps, &l, 1500, 10), -1, "window not over");
	cr_assert_eq(policy_check(&ps, &l, 2000, 100), -1, "exactly the rate");
	cr_assert_eq(policy_check(&ps, &l, 3000, 199), ERR_MIN_RATE, "99 bytes in 1 s");
}
