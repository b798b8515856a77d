#include "stats.h"

#include <string.h>

static const char *const err_names[ERR__MAX] = {
    [ERR_CONNECT_REFUSED] = "connect_refused",
    [ERR_CONNECT_TIMEOUT] = "connect_timeout",
    [ERR_CONNECT_OTHER] = "connect_error",
    [ERR_NO_BACKEND] = "no_backend",
    [ERR_CLIENT_RESET] = "client_reset",
    [ERR_BACKEND_RESET] = "backend_reset",
    [ERR_IDLE_TIMEOUT] = "idle_timeout",
    [ERR_FLOW_LIMIT] = "flow_limit",
    [ERR_RESOURCE] = "resource",
    [ERR_BACKEND_UNREACH] = "backend_unreachable",
    [ERR_SEND] = "send_error",
    [ERR_SHUTDOWN_CUT] = "shutdown_cut",
    [ERR_RX_OVERFLOW] = "rx_overflow",
    [ERR_HTTP_400] = "http_400",
    [ERR_HTTP_403] = "http_403",
    [ERR_HTTP_405] = "http_405",
    [ERR_HTTP_407] = "http_407",
    [ERR_HTTP_408] = "http_408",
    [ERR_HTTP_431] = "http_431",
    [ERR_HTTP_502] = "http_502",
    [ERR_HTTP_504] = "http_504",
    [ERR_HTTP_505] = "http_505",
    [ERR_CLIENT_GONE] = "client_gone",
    [ERR_TUNNEL_DOWN] = "tunnel_down",
    [ERR_MAX_LIFETIME] = "max_lifetime",
    [ERR_MAX_BYTES] = "max_bytes",
    [ERR_MIN_RATE] = "min_rate",
};

const char *stats_err_name(int err)
{
	return err >= 0 && err < ERR__MAX ? err_names[err] : "?";
}

int stats_status_err(unsigned status)
{
	switch (status) {
	case 403:
		return ERR_HTTP_403;
	case 405:
		return ERR_HTTP_405;
	case 407:
		return ERR_HTTP_407;
	case 408:
		return ERR_HTTP_408;
	case 431:
		return ERR_HTTP_431;
	case 502:
		return ERR_HTTP_502;
	case 503:
		return ERR_TUNNEL_DOWN;
	case 504:
		return ERR_HTTP_504;
	case 505:
		return ERR_HTTP_505;
	default:
		return ERR_HTTP_400; /* 400, 417, 501 */
	}
}

void stats_sum(const struct lsn_ctr *slots, int n, struct lsn_ctr *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < n; i++) {
		const struct lsn_ctr *s = &slots[i];
		out->active += ctr_get(&s->active);
		out->total += ctr_get(&s->total);
		out->bytes_in += ctr_get(&s->bytes_in);
		out->bytes_out += ctr_get(&s->bytes_out);
		out->pkts_in += ctr_get(&s->pkts_in);
		out->pkts_out += ctr_get(&s->pkts_out);
		out->spliced += ctr_get(&s->spliced);
		out->kbytes_in += ctr_get(&s->kbytes_in);
		out->kbytes_out += ctr_get(&s->kbytes_out);
		for (int e = 0; e < ERR__MAX; e++)
			out->err[e] += ctr_get(&s->err[e]);
	}
}
