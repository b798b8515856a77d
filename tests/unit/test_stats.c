/* stats: per-worker counter slots, their sum and the error names. */
#include "stats.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(stats, err_names_unique_and_known)
{
	for (int e = 0; e < ERR__MAX; e++) {
		const char *n = stats_err_name(e);
		cr_assert_not_null(n, "error %d has no name", e);
		cr_assert_str_neq(n, "?", "error %d has no name", e);
		cr_assert_gt(strlen(n), 0);
		/* Names are JSON keys and metric labels: keep them plain (digits for
		 * HTTP statuses, never first). */
		cr_assert(n[0] >= 'a' && n[0] <= 'z', "error %d name \"%s\"", e, n);
		for (const char *p = n; *p; p++)
			cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_',
			          "error %d name \"%s\"", e, n);
		for (int o = 0; o < e; o++)
			cr_assert_str_neq(n, stats_err_name(o), "errors %d and %d share a name", o,
			                  e);
	}
}

Test(stats, err_names_of_some_values)
{
	cr_assert_str_eq(stats_err_name(ERR_CONNECT_REFUSED), "connect_refused");
	cr_assert_str_eq(stats_err_name(ERR_IDLE_TIMEOUT), "idle_timeout");
	cr_assert_str_eq(stats_err_name(ERR_FLOW_LIMIT), "flow_limit");
	cr_assert_str_eq(stats_err_name(ERR_SHUTDOWN_CUT), "shutdown_cut");
}

Test(stats, answered_status_to_reason)
{
	cr_assert_eq(stats_status_err(403), ERR_HTTP_403);
	cr_assert_eq(stats_status_err(408), ERR_HTTP_408);
	cr_assert_eq(stats_status_err(502), ERR_HTTP_502);
	cr_assert_eq(stats_status_err(503), ERR_TUNNEL_DOWN, "503: the tunnel could not take it");
	cr_assert_str_eq(stats_err_name(ERR_TUNNEL_DOWN), "tunnel_down");
	cr_assert_eq(stats_status_err(417), ERR_HTTP_400, "417 and 501 count as 400");
	cr_assert_eq(stats_status_err(501), ERR_HTTP_400);
}

Test(stats, err_name_out_of_range)
{
	cr_assert_str_eq(stats_err_name(-1), "?");
	cr_assert_str_eq(stats_err_name(ERR__MAX), "?");
	cr_assert_str_eq(stats_err_name(1000), "?");
}

Test(stats, slots_are_cache_line_sized)
{
	/* One slot per worker must not share a cache line with the next. */
	cr_assert_eq(sizeof(struct lsn_ctr) % 64, 0);
	cr_assert_eq(_Alignof(struct lsn_ctr), 64);
}

Test(stats, ctr_add_and_get)
{
	struct lsn_ctr c;
	memset(&c, 0, sizeof(c));
	ctr_add(&c.total, 5);
	ctr_add(&c.total, 7);
	cr_assert_eq(ctr_get(&c.total), 12);
	cr_assert_eq(ctr_get(&c.bytes_in), 0);
}

Test(stats, sum_zero_slots)
{
	struct lsn_ctr out;
	memset(&out, 0xff, sizeof(out));
	stats_sum(NULL, 0, &out);
	cr_assert_eq(out.active, 0);
	cr_assert_eq(out.total, 0);
	for (int e = 0; e < ERR__MAX; e++)
		cr_assert_eq(out.err[e], 0);
}

Test(stats, sum_every_field_over_slots)
{
	enum { N = 5 };
	struct lsn_ctr *slots = aligned_alloc(64, N * sizeof(*slots));
	cr_assert_not_null(slots);
	memset(slots, 0, N * sizeof(*slots));
	for (int i = 0; i < N; i++) {
		uint64_t k = (uint64_t)i + 1;
		ctr_add(&slots[i].active, k);
		ctr_add(&slots[i].total, 10 * k);
		ctr_add(&slots[i].bytes_in, 100 * k);
		ctr_add(&slots[i].bytes_out, 1000 * k);
		ctr_add(&slots[i].pkts_in, 10000 * k);
		ctr_add(&slots[i].pkts_out, 100000 * k);
		for (int e = 0; e < ERR__MAX; e++)
			ctr_add(&slots[i].err[e], k * (uint64_t)(e + 1));
	}
	struct lsn_ctr out;
	memset(&out, 0xff, sizeof(out)); /* stale content must not leak into the sum */
	stats_sum(slots, N, &out);
	/* 1 + 2 + 3 + 4 + 5 = 15 */
	cr_assert_eq(out.active, 15);
	cr_assert_eq(out.total, 150);
	cr_assert_eq(out.bytes_in, 1500);
	cr_assert_eq(out.bytes_out, 15000);
	cr_assert_eq(out.pkts_in, 150000);
	cr_assert_eq(out.pkts_out, 1500000);
	for (int e = 0; e < ERR__MAX; e++)
		cr_assert_eq(out.err[e], 15 * (uint64_t)(e + 1), "err[%s]", stats_err_name(e));

	/* Only the first n slots count. */
	stats_sum(slots, 2, &out);
	cr_assert_eq(out.active, 3);
	cr_assert_eq(out.err[ERR__MAX - 1], 3 * (uint64_t)ERR__MAX);
	free(slots);
}

Test(stats, active_wraps_in_one_slot_but_sum_is_exact)
{
	/* A flow accepted by worker 0 and closed by worker 1 leaves +1 in slot 0 and
	 * -1 (wrapped) in slot 1; the sum must be 0, and so on for larger counts. */
	struct lsn_ctr slots[3];
	memset(slots, 0, sizeof(slots));
	ctr_add(&slots[0].active, 5);
	ctr_add(&slots[1].active, (uint64_t)-3);
	ctr_add(&slots[2].active, (uint64_t)-1);
	cr_assert_eq(ctr_get(&slots[1].active), UINT64_MAX - 2);

	struct lsn_ctr out;
	stats_sum(slots, 3, &out);
	cr_assert_eq(out.active, 1);

	ctr_add(&slots[0].active, (uint64_t)-1);
	stats_sum(slots, 3, &out);
	cr_assert_eq(out.active, 0);

	/* Wrapping back up through zero in the same slot. */
	ctr_add(&slots[1].active, 3);
	cr_assert_eq(ctr_get(&slots[1].active), 0);
	stats_sum(slots, 3, &out);
	cr_assert_eq(out.active, 3);
}
