#include "xdp_view.h"
#include "daemon.h"
#include "udp_fast.h"
#include "xdp.h"

#include <stdio.h>
#include <string.h>

/* ---- stats ------------------------------------------------------------------ */

static void json_counts(struct buf *b, const char *name, const __u64 *v, int n,
                        const char *(*label)(int))
{
	buf_printf(b, ",\"%s\":{", name);
	for (int i = 0; i < n; i++)
		buf_printf(b, "%s\"%s\":%llu", i ? "," : "", label(i), (unsigned long long)v[i]);
	buf_printf(b, "}");
}

void xdp_view_stats_json(const struct ctl_view *v, struct buf *b)
{
	struct kfwd_xstats s;
	buf_printf(b, ",\"xdp\":{\"active\":%s,\"detail\":", v->xdp ? "true" : "false");
	buf_json_str(b, v->xdp_detail ? v->xdp_detail : "");
	if (v->xdp) {
		buf_printf(
		    b, ",\"forward\":%s,\"pin_dir\":", xdp_ctl_forwards(v->xdp) ? "true" : "false");
		buf_json_str(b, xdp_ctl_pin_dir(v->xdp));
		buf_printf(b, ",\"interfaces\":[");
		for (size_t i = 0; i < xdp_ctl_nif(v->xdp); i++) {
			buf_printf(b, "%s{\"name\":", i ? "," : "");
			buf_json_str(b, xdp_ctl_ifname(v->xdp, i));
			buf_printf(b, ",\"mode\":\"%s\"}", xdp_ctl_ifmode(v->xdp, i));
		}
		buf_printf(b, "]");
		if (!xdp_ctl_stats(v->xdp, &s)) {
			json_counts(b, "verdicts", s.verdict, KFWD_XV__MAX, xdp_verdict_name);
			json_counts(b, "reasons", s.reason, KFWD_XR__MAX, xdp_reason_name);
		}
	}
	buf_printf(b, "}");
}

void xdp_view_lsn_json(const struct ctl_view *v, const struct lsn *l, struct buf *b)
{
	struct kfwd_xlsn_stats s;
	if (!v->xdp || l->xdp_slot < 0 || xdp_ctl_lsn_stats(v->xdp, l->xdp_slot, &s))
		return;
	buf_printf(b,
	           ",\"xdp\":{\"packets_in\":%llu,\"bytes_in\":%llu,\"packets_out\":%llu,"
	           "\"bytes_out\":%llu",
	           (unsigned long long)s.fwd_packets[KFWD_XDIR_IN],
	           (unsigned long long)s.fwd_bytes[KFWD_XDIR_IN],
	           (unsigned long long)s.fwd_packets[KFWD_XDIR_OUT],
	           (unsigned long long)s.fwd_bytes[KFWD_XDIR_OUT]);
	json_counts(b, "classes", s.cls, KFWD_XCLS__MAX, xdp_class_name);
	json_counts(b, "reasons", s.reason, KFWD_XR__MAX, xdp_reason_name);
	buf_printf(b, "}");
}

/* Non-zero counters as "name=N name=N", or "-". */
static void text_counts(struct buf *b, const __u64 *v, int n, const char *(*label)(int))
{
	int any = 0;
	for (int i = 0; i < n; i++)
		if (v[i])
			buf_printf(b, "%s%s=%llu", any++ ? " " : "", label(i),
			           (unsigned long long)v[i]);
	if (!any)
		buf_printf(b, "-");
}

void xdp_view_stats_text(const struct ctl_view *v, struct buf *b)
{
	struct kfwd_xstats s;
	buf_printf(b, "\nxdp: %s: %s\n", v->xdp ? "on" : "off", v->xdp_detail ? v->xdp_detail : "");
	if (!v->xdp)
		return;
	if (!xdp_ctl_stats(v->xdp, &s)) {
		buf_printf(b, "  verdicts: ");
		text_counts(b, s.verdict, KFWD_XV__MAX, xdp_verdict_name);
		buf_printf(b, "\n  reasons:  ");
		text_counts(b, s.reason, KFWD_XR__MAX, xdp_reason_name);
		buf_printf(b, "\n");
	}
	for (const struct lsn *l = v->lsns; l; l = l->next) {
		struct kfwd_xlsn_stats ls;
		char in[16], out[16];
		if (l->xdp_slot < 0 || xdp_ctl_lsn_stats(v->xdp, l->xdp_slot, &ls))
			continue;
		buf_printf(b,
		           "  %-14s forwarded in %llu pkts %s, out %llu pkts %s; first packets: ",
		           l->name, (unsigned long long)ls.fwd_packets[KFWD_XDIR_IN],
		           ctl_fmt_bytes(ls.fwd_bytes[KFWD_XDIR_IN], in),
		           (unsigned long long)ls.fwd_packets[KFWD_XDIR_OUT],
		           ctl_fmt_bytes(ls.fwd_bytes[KFWD_XDIR_OUT], out));
		text_counts(b, ls.cls, KFWD_XCLS__MAX, xdp_class_name);
		buf_printf(b, "; ");
		text_counts(b, ls.reason, KFWD_XR__MAX, xdp_reason_name);
		buf_printf(b, "\n");
	}
}

/* ---- flows ------------------------------------------------------------------ */

struct flows_out {
	const struct ctl_view *v;
	struct buf *b;
	int n;
};

static void lsn_name(const struct ctl_view *v, uint32_t id, char *dst, size_t len)
{
	for (const struct lsn *l = v->lsns; l; l = l->next) {
		if (l->id == id) {
			snprintf(dst, len, "%s", l->name);
			return;
		}
	}
	snprintf(dst, len, "#%u", id); /* removed by a reload */
}

static void flow_json(void *arg, const struct udp_fast_view *f)
{
	struct flows_out *o = arg;
	char name[72], a[ADDR_STRLEN];
	lsn_name(o->v, f->listener, name, sizeof(name));
	buf_printf(o->b, "%s{\"proto\":\"udp\",\"listener\":", o->n++ ? "," : "");
	buf_json_str(o->b, name);
	buf_printf(o->b, ",\"client\":");
	buf_json_str(o->b, addr_format(&f->client, a));
	buf_printf(o->b, ",\"local\":");
	buf_json_str(o->b, addr_format(&f->listener_addr, a));
	if (!f->userspace) {
		buf_printf(o->b, ",\"gateway\":");
		buf_json_str(o->b, addr_format(&f->gateway, a));
		buf_printf(o->b, ",\"backend\":");
		buf_json_str(o->b, addr_format(&f->backend, a));
	}
	buf_printf(o->b,
	           ",\"path\":\"%s\",\"packets_in\":%llu,\"bytes_in\":%llu,\"packets_out\":%llu,"
	           "\"bytes_out\":%llu,\"age_ms\":%llu,\"idle_ms\":%llu}",
	           f->userspace ? "userspace" : "xdp", (unsigned long long)f->packets_in,
	           (unsigned long long)f->bytes_in, (unsigned long long)f->packets_out,
	           (unsigned long long)f->bytes_out, (unsigned long long)f->age_ms,
	           (unsigned long long)f->idle_ms);
}

void xdp_view_flows_json(const struct ctl_view *v, struct buf *b)
{
	struct flows_out o = {.v = v, .b = b};
	buf_printf(b, ",\"xdp\":%s,\"udp_flows\":[", v->xdp ? "true" : "false");
	int err = v->xdp ? udp_fast_foreach(v->xdp, flow_json, &o) : 0;
	buf_printf(b, "]");
	if (err < 0) {
		buf_printf(b, ",\"udp_error\":");
		buf_json_str(b, strerror(-err));
	}
}

static void flow_text(void *arg, const struct udp_fast_view *f)
{
	struct flows_out *o = arg;
	char name[72], cli[ADDR_STRLEN], be[ADDR_STRLEN], in[16], out[16];
	lsn_name(o->v, f->listener, name, sizeof(name));
	o->n++;
	buf_printf(o->b, "%-14s %-24s %-24s %9llu %11s %9llu %11s %8.1f %8.1f\n", name,
	           addr_format(&f->client, cli),
	           f->userspace ? "(kfwd forwards it)" : addr_format(&f->backend, be),
	           (unsigned long long)f->packets_in, ctl_fmt_bytes(f->bytes_in, in),
	           (unsigned long long)f->packets_out, ctl_fmt_bytes(f->bytes_out, out),
	           (double)f->age_ms / 1000.0, (double)f->idle_ms / 1000.0);
}

void xdp_view_flows_text(const struct ctl_view *v, struct buf *b)
{
	struct flows_out o = {.v = v, .b = b};
	if (!v->xdp) {
		buf_printf(b, "\nxdp: off: %s (no UDP flows in XDP)\n",
		           v->xdp_detail ? v->xdp_detail : "");
		return;
	}
	buf_printf(b, "\nUDP flows in XDP (counts: datagrams the program forwarded)\n");
	buf_printf(b, "%-14s %-24s %-24s %9s %11s %9s %11s %8s %8s\n", "LISTENER", "CLIENT",
	           "BACKEND", "PKTS_IN", "IN", "PKTS_OUT", "OUT", "AGE_S", "IDLE_S");
	int err = udp_fast_foreach(v->xdp, flow_text, &o);
	if (err < 0)
		buf_printf(b, "error: reading the XDP flow table: %s\n", strerror(-err));
	buf_printf(b, "%d UDP flow(s)\n", o.n);
}
