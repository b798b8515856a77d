/* `kfwd stats` for the tunnel: text and JSON renderings of a tunnel_view. */
#include "jsonw.h"
#include "tunnel.h"

#define U(x) ((unsigned long long)(x))

void tunnel_view_text(const struct tunnel_view *v, struct buf *b)
{
	buf_printf(b, "tunnel: %s, %s, peer %s\n", v->role, v->state, v->peer[0] ? v->peer : "-");
	if (v->last_error[0])
		buf_printf(b, "  last error: %s\n", v->last_error);
	buf_printf(
	    b,
	    "  rtt %.3f ms (min %.3f ms), cwnd %llu B, in flight %llu B, udp payload %llu B\n"
	    "  streams: %llu open, %llu total, %llu refused\n"
	    "  connects %llu, reconnects %llu, key updates %llu\n"
	    "  udp bytes: %llu sent, %llu received; stream bytes: %llu in, %llu out\n",
	    (double)v->rtt_smoothed_us / 1000.0, (double)v->rtt_min_us / 1000.0, U(v->cwnd),
	    U(v->bytes_in_flight), U(v->udp_payload), U(v->streams_open), U(v->streams_total),
	    U(v->streams_refused), U(v->connects), U(v->reconnects), U(v->key_updates),
	    U(v->bytes_tx), U(v->bytes_rx), U(v->stream_bytes_up), U(v->stream_bytes_down));
}

void tunnel_view_json(const struct tunnel_view *v, struct buf *b)
{
	buf_printf(b, "{\"role\":\"%s\",\"state\":\"%s\",\"peer\":", v->role, v->state);
	buf_json_str(b, v->peer);
	buf_printf(b, ",\"last_error\":");
	buf_json_str(b, v->last_error);
	buf_printf(b,
	           ",\"rtt_smoothed_us\":%llu,\"rtt_min_us\":%llu,\"cwnd\":%llu,"
	           "\"bytes_in_flight\":%llu,\"udp_payload\":%llu,\"streams_open\":%llu,"
	           "\"streams_total\":%llu,\"streams_refused\":%llu,\"connects\":%llu,"
	           "\"reconnects\":%llu,\"key_updates\":%llu,\"bytes_tx\":%llu,\"bytes_rx\":%llu,"
	           "\"stream_bytes_up\":%llu,\"stream_bytes_down\":%llu}",
	           U(v->rtt_smoothed_us), U(v->rtt_min_us), U(v->cwnd), U(v->bytes_in_flight),
	           U(v->udp_payload), U(v->streams_open), U(v->streams_total),
	           U(v->streams_refused), U(v->connects), U(v->reconnects), U(v->key_updates),
	           U(v->bytes_tx), U(v->bytes_rx), U(v->stream_bytes_up), U(v->stream_bytes_down));
}
