/*
 * The XDP program's part of the control socket's replies: its counters in
 * `kfwd stats` (globally and per listener) and its UDP flows in `kfwd flows`.
 * Main thread; every function writes nothing when XDP is off, except the
 * text forms, which say so.
 */
#ifndef KFWD_XDP_VIEW_H
#define KFWD_XDP_VIEW_H
#include "ctl.h"

struct lsn;

/* Text: an "xdp:" section after the listener table. */
void xdp_view_stats_text(const struct ctl_view *v, struct buf *b);
/* JSON: ,"xdp":{...} as a member of the top-level object. */
void xdp_view_stats_json(const struct ctl_view *v, struct buf *b);
/* JSON: ,"xdp":{...} as a member of a listener's object (nothing when off). */
void xdp_view_lsn_json(const struct ctl_view *v, const struct lsn *l, struct buf *b);
/* Text: the UDP flows table. */
void xdp_view_flows_text(const struct ctl_view *v, struct buf *b);
/* JSON: ,"xdp":bool,"udp_flows":[...] as members of the top-level object. */
void xdp_view_flows_json(const struct ctl_view *v, struct buf *b);

#endif
