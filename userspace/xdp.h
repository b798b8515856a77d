/*
 * Control of the XDP program (bpf/xdp_fwd.bpf.c): loading it, attaching it
 * to the interfaces of global.interfaces through libxdp, pinning its maps,
 * the listener table with its source prefixes, and reading its counters.
 * One instance per daemon; listener functions run on the main thread, the
 * others on any thread.
 *
 * Attachment: libxdp, in its single-program ("legacy") mode. Its
 * multi-program dispatcher needs freplace programs, which the kernels kfwd
 * was checked on refuse (EPERM); kfwd therefore sets LIBXDP_SKIP_DISPATCHER=1
 * unless the environment already says otherwise. An interface that already
 * carries some other XDP program is an error, never replaced.
 *
 * Pins: <bpf_pin_path>/<instance>@xdp/ holds the maps and the program. At
 * start, a program pinned there by a crashed run is detached from every
 * interface of the namespace that still carries it (only if it is still that
 * very program) and the folder is emptied; at stop the program is detached
 * and the folder removed.
 */
#ifndef KFWD_XDP_H
#define KFWD_XDP_H
#include "addr.h"
#include "conf.h"
#include "kfwd_maps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xdp_ctl;
struct lsn;

struct xdp_ctl_opts {
	const char *instance; /* names the pin folder */
	const char *pin_root; /* global.bpf_pin_path */
	char *const *ifnames; /* global.interfaces */
	size_t nif;
	bool forward; /* global.xdp_forward: forward UDP flows in XDP */
};

/*
 * Clean up after a crashed run, load, pin, attach. Return 0 and set *out, or
 * -errno with the failing step and its cause in why[whylen]; nothing is left
 * attached or pinned then.
 */
int xdp_ctl_new(const struct xdp_ctl_opts *o, struct xdp_ctl **out, char *why, size_t whylen);
/* Detach from every interface, unpin, unload. NULL is fine. */
void xdp_ctl_free(struct xdp_ctl *x);

const char *xdp_ctl_pin_dir(const struct xdp_ctl *x);
/* Whether installed flows are forwarded in XDP (global.xdp_forward). */
bool xdp_ctl_forwards(const struct xdp_ctl *x);
size_t xdp_ctl_nif(const struct xdp_ctl *x);
/* Name and attach mode ("native", "generic") of the i-th interface. */
const char *xdp_ctl_ifname(const struct xdp_ctl *x, size_t i);
const char *xdp_ctl_ifmode(const struct xdp_ctl *x, size_t i);
/* The flow table's fd (udp_fast.c). */
int xdp_ctl_flows_fd(const struct xdp_ctl *x);

/*
 * Start XDP for the daemon if c asks for it (global.interfaces). Return 0 with
 * *out set, or NULL when off; detail[len] says where it runs or why not. A
 * failure is fatal (-errno) only when some listener relies on the front door
 * (sanitize, source lists, new-flow rate): dropping nothing is no fallback.
 */
int xdp_ctl_start(const struct conf *c, struct xdp_ctl **out, char *detail, size_t len);

/*
 * Reload: what XDP cannot follow. interfaces and xdp_forward change only at
 * restart (a warning); a front-door key without a running program rejects
 * the reload (-EINVAL, logged). x may be NULL.
 */
int xdp_ctl_reload_check(const struct xdp_ctl *x, const struct conf *old, const struct conf *nc);

/* ---- listeners (main thread) ---- */

/* Enter or update l (its slot: l->xdp_slot, allocated on first use) with its
 * prefixes. Return 0 or -errno (-ENOSPC: no free slot). */
int xdp_ctl_lsn_set(struct xdp_ctl *x, struct lsn *l);
/* Remove l and its prefixes; its slot is reused only after every other one. */
void xdp_ctl_lsn_del(struct xdp_ctl *x, struct lsn *l);

/* ---- counters (any thread) ---- */

int xdp_ctl_stats(struct xdp_ctl *x, struct kfwd_xstats *out);
int xdp_ctl_lsn_stats(struct xdp_ctl *x, int slot, struct kfwd_xlsn_stats *out);

/* ---- pure helpers (unit-tested) ---- */

const char *xdp_reason_name(int reason);
const char *xdp_class_name(int cls);
const char *xdp_verdict_name(int verdict);
/* The listener table key of a listener bound to bind for proto (PROTO_*). */
void xdp_lsn_key(struct kfwd_xlsn_key *k, const struct addr *bind, int proto);
/* The listener table value for lc in slot. */
void xdp_lsn_value(struct kfwd_xlsn *v, const struct conf_listener *lc, uint32_t id, int slot);
/* The xdp_sources key of a prefix for slot. */
void xdp_src_key(struct kfwd_xsrc_key *k, int slot, const struct conf_prefix *p);
/* Whether a listener config needs the front door (and so XDP). */
bool xdp_lsn_needs_door(const struct conf_listener *lc);

#endif
