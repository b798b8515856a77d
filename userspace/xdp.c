#include "xdp.h"
#include "daemon.h"
#include "bpffs.h"
#include "log.h"
#include "xdp_fwd.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#define PROG_PIN      "xdp_prog"

struct xdp_if {
	char name[IF_NAMESIZE];
	int ifindex;
	enum xdp_attach_mode mode; /* XDP_MODE_UNSPEC: not attached */
};

struct xdp_ctl {
	struct xdp_fwd_bpf *skel;
	struct xdp_program *prog; /* libxdp's handle on skel's program */
	struct xdp_if *ifs;
	size_t nif;
	bool forward;
	char pin_dir[PATH_MAX];
	int ncpu;
	/* Listener slots (main thread): who holds each, and where the search
	 * for a free one starts, so that a freed slot is reused last. */
	uint32_t slot_owner[KFWD_XDP_MAX_LSN]; /* listener id, 0: free */
	int next_slot;
};

/* ---- names ------------------------------------------------------------------- */

static const char *const reason_names[KFWD_XR__MAX] = {
    [KFWD_XR_FORWARD] = "forward",
    [KFWD_XR_HAIRPIN] = "hairpin",
    [KFWD_XR_NOT_IP] = "not_ip",
    [KFWD_XR_FRAGMENT] = "fragment",
    [KFWD_XR_OTHER_L4] = "other_l4",
    [KFWD_XR_NOT_OURS] = "not_ours",
    [KFWD_XR_NEW_FLOW] = "new_flow",
    [KFWD_XR_TCP] = "tcp",
    [KFWD_XR_USERSPACE] = "userspace_flow",
    [KFWD_XR_NO_FORWARD] = "forward_off",
    [KFWD_XR_VLAN] = "vlan",
    [KFWD_XR_TTL] = "ttl",
    [KFWD_XR_FIB_NO_NEIGH] = "fib_no_neighbour",
    [KFWD_XR_FIB_FWD_OFF] = "fib_forwarding_off",
    [KFWD_XR_FIB_MTU] = "fib_mtu",
    [KFWD_XR_FIB_OTHER] = "fib_other",
    [KFWD_XR_CSUM_PARTIAL] = "csum_partial",
    [KFWD_XR_TRUNCATED] = "truncated",
    [KFWD_XR_BAD_HEADER] = "bad_header",
    [KFWD_XR_BAD_LENGTH] = "bad_length",
    [KFWD_XR_UDP6_NO_CSUM] = "udp6_no_checksum",
    [KFWD_XR_DENIED] = "denied",
    [KFWD_XR_NOT_ALLOWED] = "not_allowed",
    [KFWD_XR_SANITIZE] = "sanitize",
    [KFWD_XR_RATE] = "rate",
    [KFWD_XR_ERROR] = "error",
};

static const char *const class_names[KFWD_XCLS__MAX] = {
    [KFWD_XCLS_QUIC1] = "quic_v1",
    [KFWD_XCLS_QUIC2] = "quic_v2",
    [KFWD_XCLS_WIREGUARD] = "wireguard",
    [KFWD_XCLS_OTHER] = "other",
};

static const char *const verdict_names[KFWD_XV__MAX] = {"aborted", "drop", "pass", "tx",
                                                        "redirect"};

const char *xdp_reason_name(int r)
{
	return r >= 0 && r < KFWD_XR__MAX && reason_names[r] ? reason_names[r] : "?";
}

const char *xdp_class_name(int c)
{
	return c >= 0 && c < KFWD_XCLS__MAX ? class_names[c] : "?";
}

const char *xdp_verdict_name(int v)
{
	return v >= 0 && v < KFWD_XV__MAX ? verdict_names[v] : "?";
}

/* ---- pure helpers -------------------------------------------------------------- */

void xdp_lsn_key(struct kfwd_xlsn_key *k, const struct addr *bind, int proto)
{
	memset(k, 0, sizeof(*k));
	k->proto = proto == PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
	if (addr_family(bind) == AF_INET) {
		k->family = AF_INET;
		k->port = bind->u.in4.sin_port;
		memcpy(k->addr, &bind->u.in4.sin_addr, 4);
	} else {
		k->family = AF_INET6;
		k->port = bind->u.in6.sin6_port;
		memcpy(k->addr, &bind->u.in6.sin6_addr, 16);
	}
}

bool xdp_lsn_needs_door(const struct conf_listener *lc)
{
	return lc->sanitize || lc->allow_sources.n || lc->deny_sources.n || lc->new_flow_rate;
}

void xdp_lsn_value(struct kfwd_xlsn *v, const struct conf_listener *lc, uint32_t id, int slot)
{
	memset(v, 0, sizeof(*v));
	v->listener = id;
	v->slot = (uint16_t)slot;
	if (lc->sanitize) {
		v->flags |= KFWD_XLSN_SANITIZE;
		if (lc->accept & CONF_ACCEPT_QUIC)
			v->accept |= KFWD_XACCEPT_QUIC;
		if (lc->accept & CONF_ACCEPT_WIREGUARD)
			v->accept |= KFWD_XACCEPT_WIREGUARD;
		if (lc->accept & CONF_ACCEPT_OTHER)
			v->accept |= KFWD_XACCEPT_OTHER;
	}
	if (lc->allow_sources.n || lc->deny_sources.n)
		v->flags |= KFWD_XLSN_SOURCES;
	if (lc->allow_sources.n)
		v->flags |= KFWD_XLSN_ALLOWLIST;
	if (lc->new_flow_rate > 0) {
		uint64_t burst =
		    (uint64_t)(lc->new_flow_burst ? lc->new_flow_burst : lc->new_flow_rate);
		v->rate_ns = 1000000000ull / (uint64_t)lc->new_flow_rate;
		if (!v->rate_ns)
			v->rate_ns = 1;
		v->burst_ns = (burst - 1) * v->rate_ns;
	}
}

void xdp_src_key(struct kfwd_xsrc_key *k, int slot, const struct conf_prefix *p)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = (uint32_t)(KFWD_XSRC_PREFIX_BASE + p->len);
	k->slot_be = htonl((uint32_t)slot);
	k->family = (uint8_t)p->family;
	memcpy(k->addr, p->addr, 16);
}

/* ---- logging ------------------------------------------------------------------- */

/* libxdp's messages, at debug level: kfwd says itself what came of them. */
static int libxdp_print_fn(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	if (!log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_debug("libxdp: %s", msg);
	return 0;
}

/* ---- pins ------------------------------------------------------------------------ */

/*
 * A crashed run left its program attached (XDP attachments outlive their
 * process) and its pins. Detach that very program from every interface of
 * this namespace still carrying it, then remove the pins.
 */
static void clean_stale(const char *dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, PROG_PIN);
	int fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_prog_info info = {0};
		uint32_t len = sizeof(info);
		struct if_nameindex *ifs = if_nameindex();
		if (!bpf_prog_get_info_by_fd(fd, &info, &len) && ifs) {
			for (struct if_nameindex *i = ifs; i->if_index; i++) {
				LIBBPF_OPTS(bpf_xdp_query_opts, q);
				if (bpf_xdp_query((int)i->if_index, 0, &q))
					continue;
				uint32_t flags = q.drv_prog_id == info.id   ? XDP_FLAGS_DRV_MODE
				                 : q.skb_prog_id == info.id ? XDP_FLAGS_SKB_MODE
				                                            : 0;
				if (!flags)
					continue;
				LIBBPF_OPTS(bpf_xdp_attach_opts, a, .old_prog_fd = fd);
				int err = bpf_xdp_detach((int)i->if_index, flags, &a);
				if (err)
					log_warn(
					    "xdp: %s: cannot detach the program a crashed run left "
					    "(id %u): %s",
					    i->if_name, info.id, strerror(-err));
				else
					log_info("xdp: %s: detached the program a crashed run left "
					         "(id %u)",
					         i->if_name, info.id);
			}
		}
		if (ifs)
			if_freenameindex(ifs);
		close(fd);
	}
	log_info("xdp: removing stale pins in %s", dir);
	bpffs_dir_remove("xdp", dir);
}

static int pin_all(struct xdp_ctl *x, const struct xdp_ctl_opts *o, char *why, size_t whylen)
{
	int err = bpffs_ready("xdp", o->pin_root, why, whylen);
	if (err)
		return err;
	int n = snprintf(x->pin_dir, sizeof(x->pin_dir), "%s/%s@xdp", o->pin_root, o->instance);
	if (n < 0 || (size_t)n >= sizeof(x->pin_dir) - 32) {
		snprintf(why, whylen, "pin path %s/%s@xdp: too long", o->pin_root, o->instance);
		x->pin_dir[0] = 0;
		return -ENAMETOOLONG;
	}
	if (access(x->pin_dir, F_OK) == 0)
		clean_stale(x->pin_dir);
	if ((err = bpffs_mkdir_p(x->pin_dir))) {
		snprintf(why, whylen, "pin folder %s: %s", x->pin_dir, strerror(-err));
		x->pin_dir[0] = 0;
		return err;
	}
	char path[PATH_MAX + 32];
	struct bpf_map *m;
	bpf_object__for_each_map(m, x->skel->obj)
	{
		if (bpf_map__is_internal(m))
			continue; /* .rodata: the settings, not state */
		snprintf(path, sizeof(path), "%s/%s", x->pin_dir, bpf_map__name(m));
		if ((err = bpf_map__pin(m, path))) {
			snprintf(why, whylen, "pin %s: %s", path, strerror(-err));
			return err;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", x->pin_dir, PROG_PIN);
	if ((err = bpf_program__pin(x->skel->progs.kfwd_xdp, path))) {
		snprintf(why, whylen, "pin %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

/* ---- attach ---------------------------------------------------------------------- */

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "generic";
	case XDP_MODE_HW:
		return "offload";
	default:
		return "-";
	}
}

/* Native mode where the driver has it, generic otherwise. */
static int attach_one(struct xdp_ctl *x, struct xdp_if *i, char *why, size_t whylen)
{
	i->ifindex = (int)if_nametoindex(i->name);
	if (!i->ifindex) {
		snprintf(why, whylen, "interface %s: %s", i->name, strerror(errno));
		return -ENODEV;
	}
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	if (!bpf_xdp_query(i->ifindex, 0, &q) && q.attach_mode != XDP_ATTACHED_NONE) {
		snprintf(why, whylen,
		         "interface %s already has an XDP program (id %u); kfwd does not replace "
		         "it (remove it with: ip link set dev %s xdp off)",
		         i->name, q.prog_id, i->name);
		return -EBUSY;
	}
	int err = xdp_program__attach(x->prog, i->ifindex, XDP_MODE_NATIVE, 0);
	if (!err) {
		i->mode = XDP_MODE_NATIVE;
		return 0;
	}
	int native_err = err;
	err = xdp_program__attach(x->prog, i->ifindex, XDP_MODE_SKB, 0);
	if (!err) {
		i->mode = XDP_MODE_SKB;
		log_info("xdp: %s: no native XDP (%s): generic mode", i->name,
		         strerror(-native_err));
		return 0;
	}
	snprintf(why, whylen, "attach to %s: native: %s, generic: %s", i->name,
	         strerror(-native_err), strerror(-err));
	return err;
}

static void detach_all(struct xdp_ctl *x)
{
	for (size_t n = 0; n < x->nif; n++) {
		struct xdp_if *i = &x->ifs[n];
		if (i->mode == XDP_MODE_UNSPEC)
			continue;
		int err = xdp_program__detach(x->prog, i->ifindex, i->mode, 0);
		if (err)
			log_warn("xdp: %s: detach: %s", i->name, strerror(-err));
		else
			log_debug("xdp: %s: detached", i->name);
		i->mode = XDP_MODE_UNSPEC;
	}
}

static int load(struct xdp_ctl *x, const struct xdp_ctl_opts *o, char *why, size_t whylen)
{
	x->skel = xdp_fwd_bpf__open();
	if (!x->skel) {
		int err = -errno;
		snprintf(why, whylen, "open BPF object xdp_fwd: %s", strerror(errno));
		return err;
	}
	x->skel->rodata->forward_udp = o->forward;
	int err = xdp_fwd_bpf__load(x->skel);
	if (err) {
		snprintf(why, whylen, "load BPF object xdp_fwd: %s%s", strerror(-err),
		         err == -EPERM ? " (needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)" : "");
		return err;
	}
	x->prog = xdp_program__from_bpf_obj(x->skel->obj, "xdp");
	err = (int)libxdp_get_error(x->prog);
	if (err) {
		x->prog = NULL;
		snprintf(why, whylen, "libxdp: program from object: %s", strerror(-err));
		return err;
	}
	return 0;
}

int xdp_ctl_new(const struct xdp_ctl_opts *o, struct xdp_ctl **out, char *why, size_t whylen)
{
	*out = NULL;
	struct xdp_ctl *x = calloc(1, sizeof(*x));
	if (!x || !(x->ifs = calloc(o->nif ? o->nif : 1, sizeof(*x->ifs)))) {
		free(x);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	x->forward = o->forward;
	x->ncpu = libbpf_num_possible_cpus();
	x->nif = o->nif;
	for (size_t i = 0; i < o->nif; i++)
		snprintf(x->ifs[i].name, sizeof(x->ifs[i].name), "%s", o->ifnames[i]);
	libxdp_set_print(libxdp_print_fn);
	/* The dispatcher cannot work here (see xdp.h); without this, libxdp tries
	 * it first and fills the log with the kernel's refusals. */
	setenv("LIBXDP_SKIP_DISPATCHER", "1", 0);
	int err = x->ncpu > 0 ? 0 : -EINVAL;
	if (err)
		snprintf(why, whylen, "cannot count CPUs");
	if (!err)
		err = load(x, o, why, whylen);
	if (!err)
		err = pin_all(x, o, why, whylen);
	for (size_t i = 0; !err && i < x->nif; i++)
		err = attach_one(x, &x->ifs[i], why, whylen);
	if (err) {
		xdp_ctl_free(x);
		return err;
	}
	*out = x;
	return 0;
}

void xdp_ctl_free(struct xdp_ctl *x)
{
	if (!x)
		return;
	if (x->prog)
		detach_all(x);
	if (x->pin_dir[0]) {
		bpffs_dir_remove("xdp", x->pin_dir);
		bpffs_release("xdp", x->pin_dir);
	}
	xdp_program__close(x->prog);
	xdp_fwd_bpf__destroy(x->skel);
	free(x->ifs);
	free(x);
}

const char *xdp_ctl_pin_dir(const struct xdp_ctl *x)
{
	return x->pin_dir;
}

bool xdp_ctl_forwards(const struct xdp_ctl *x)
{
	return x->forward;
}

size_t xdp_ctl_nif(const struct xdp_ctl *x)
{
	return x->nif;
}

const char *xdp_ctl_ifname(const struct xdp_ctl *x, size_t i)
{
	return x->ifs[i].name;
}

const char *xdp_ctl_ifmode(const struct xdp_ctl *x, size_t i)
{
	return mode_name(x->ifs[i].mode);
}

int xdp_ctl_flows_fd(const struct xdp_ctl *x)
{
	return bpf_map__fd(x->skel->maps.xdp_flows);
}

int xdp_ctl_start(const struct conf *c, struct xdp_ctl **out, char *detail, size_t len)
{
	const struct conf_global *g = &c->global;
	bool door = false;
	*out = NULL;
	for (size_t i = 0; i < c->nlisteners; i++)
		door |= xdp_lsn_needs_door(c->listeners[i]);
	if (!g->interfaces.n) {
		snprintf(detail, len, "no global.interfaces");
		return 0;
	}
	struct xdp_ctl_opts o = {.instance = g->instance,
	                         .pin_root = g->bpf_pin_path,
	                         .ifnames = g->interfaces.v,
	                         .nif = g->interfaces.n,
	                         .forward = g->xdp_forward};
	char why[200];
	int err = xdp_ctl_new(&o, out, why, sizeof(why));
	if (err) {
		snprintf(detail, len, "%s", why);
		if (door) {
			log_err("xdp: %s; listeners rely on it (sanitize, sources, new_flow_rate)",
			        why);
			return err;
		}
		log_warn("xdp: off, UDP flows stay on the userspace path: %s", why);
		return 0;
	}
	int n = 0;
	for (size_t i = 0; i < (*out)->nif && n >= 0 && (size_t)n < len; i++)
		n += snprintf(detail + n, len - (size_t)n, "%s%s (%s)", i ? ", " : "",
		              (*out)->ifs[i].name, mode_name((*out)->ifs[i].mode));
	if (n > 0 && (size_t)n < len)
		snprintf(detail + n, len - (size_t)n,
		         "; UDP forwarding in XDP %s; maps pinned in %s",
		         g->xdp_forward ? "on" : "off", (*out)->pin_dir);
	log_info("xdp: on: %s", detail);
	return 0;
}

static bool strlist_equal(const struct conf_strlist *a, const struct conf_strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

int xdp_ctl_reload_check(const struct xdp_ctl *x, const struct conf *old, const struct conf *nc)
{
	if (!strlist_equal(&old->global.interfaces, &nc->global.interfaces))
		log_warn("reload: 'interfaces' changes only at restart");
	if (old->global.xdp_forward != nc->global.xdp_forward)
		log_warn("reload: 'xdp_forward' changes only at restart");
	if (x)
		return 0;
	for (size_t i = 0; i < nc->nlisteners; i++) {
		if (xdp_lsn_needs_door(nc->listeners[i])) {
			log_err(
			    "reload rejected: listener %s: sanitize, allow_sources, deny_sources "
			    "and new_flow_rate need the XDP program, which is not running",
			    nc->listeners[i]->name);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- listeners ------------------------------------------------------------------ */

static int slot_alloc(struct xdp_ctl *x, uint32_t id)
{
	for (int n = 0; n < KFWD_XDP_MAX_LSN; n++) {
		int s = (x->next_slot + n) % KFWD_XDP_MAX_LSN;
		if (x->slot_owner[s])
			continue;
		x->slot_owner[s] = id;
		x->next_slot = (s + 1) % KFWD_XDP_MAX_LSN;
		return s;
	}
	return -ENOSPC;
}

/* Zero a slot's counters on every CPU (a new listener starts from 0). */
static void slot_zero(struct xdp_ctl *x, int slot)
{
	struct kfwd_xlsn_stats *zero = calloc((size_t)x->ncpu, sizeof(*zero));
	uint32_t key = (uint32_t)slot;
	if (!zero || bpf_map_update_elem(bpf_map__fd(x->skel->maps.xdp_lsn_stats), &key, zero, 0))
		log_warn("xdp: cannot reset the counters of slot %d", slot);
	free(zero);
}

/* Delete every prefix of slot from xdp_sources. */
static void prefixes_del(struct xdp_ctl *x, int slot)
{
	int fd = bpf_map__fd(x->skel->maps.xdp_sources);
	struct kfwd_xsrc_key k, next, *prev = NULL;
	uint32_t want = htonl((uint32_t)slot);
	/* Deleting while walking would restart the walk: collect, then delete. */
	size_t n = 0, cap = 0;
	struct kfwd_xsrc_key *del = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (k.slot_be != want)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct kfwd_xsrc_key *v = realloc(del, cap * sizeof(*v));
			if (!v)
				break;
			del = v;
		}
		del[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &del[i]);
	free(del);
}

static int prefixes_add(struct xdp_ctl *x, int slot, const struct conf_prefixlist *l,
                        uint32_t action)
{
	int fd = bpf_map__fd(x->skel->maps.xdp_sources);
	for (size_t i = 0; i < l->n; i++) {
		struct kfwd_xsrc_key k;
		xdp_src_key(&k, slot, &l->v[i]);
		if (bpf_map_update_elem(fd, &k, &action, BPF_ANY))
			return -errno;
	}
	return 0;
}

int xdp_ctl_lsn_set(struct xdp_ctl *x, struct lsn *l)
{
	const struct conf_listener *lc = l->lc;
	if (l->xdp_slot < 0) {
		int s = slot_alloc(x, l->id);
		if (s < 0)
			return s;
		slot_zero(x, s);
		l->xdp_slot = s;
	}
	struct kfwd_xlsn_key k;
	struct kfwd_xlsn v;
	xdp_lsn_key(&k, &lc->bind.a, lc->proto);
	xdp_lsn_value(&v, lc, l->id, l->xdp_slot);
	/* Prefixes first: a listener never runs with its flags on and its lists empty
	 * longer than the few updates take. */
	prefixes_del(x, l->xdp_slot);
	int err = prefixes_add(x, l->xdp_slot, &lc->allow_sources, KFWD_XSRC_ALLOW);
	if (!err)
		err = prefixes_add(x, l->xdp_slot, &lc->deny_sources, KFWD_XSRC_DENY);
	if (!err && bpf_map_update_elem(bpf_map__fd(x->skel->maps.xdp_listeners), &k, &v, BPF_ANY))
		err = -errno;
	return err;
}

void xdp_ctl_lsn_del(struct xdp_ctl *x, struct lsn *l)
{
	if (l->xdp_slot < 0)
		return;
	struct kfwd_xlsn_key k;
	xdp_lsn_key(&k, &l->lc->bind.a, l->lc->proto);
	bpf_map_delete_elem(bpf_map__fd(x->skel->maps.xdp_listeners), &k);
	prefixes_del(x, l->xdp_slot);
	x->slot_owner[l->xdp_slot] = 0;
	/* l->xdp_slot stays: its counters remain readable while l is shown. */
}

/* ---- counters -------------------------------------------------------------------- */

/* Sum a per-CPU value of n u64 counters. */
static int percpu_sum(struct xdp_ctl *x, int fd, uint32_t key, __u64 *out, size_t n)
{
	__u64 *v = calloc((size_t)x->ncpu * n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int err = bpf_map_lookup_elem(fd, &key, v) ? -errno : 0;
	memset(out, 0, n * sizeof(*out));
	for (int c = 0; !err && c < x->ncpu; c++)
		for (size_t i = 0; i < n; i++)
			out[i] += v[(size_t)c * n + i];
	free(v);
	return err;
}

int xdp_ctl_stats(struct xdp_ctl *x, struct kfwd_xstats *out)
{
	return percpu_sum(x, bpf_map__fd(x->skel->maps.xdp_stats), 0, (__u64 *)out,
	                  sizeof(*out) / sizeof(__u64));
}

int xdp_ctl_lsn_stats(struct xdp_ctl *x, int slot, struct kfwd_xlsn_stats *out)
{
	if (slot < 0 || slot >= KFWD_XDP_MAX_LSN)
		return -EINVAL;
	return percpu_sum(x, bpf_map__fd(x->skel->maps.xdp_lsn_stats), (uint32_t)slot, (__u64 *)out,
	                  sizeof(*out) / sizeof(__u64));
}
