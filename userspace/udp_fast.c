#include "udp_fast.h"
#include "xdp.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Address bytes (network order, IPv4 in the first 4) and port of a. */
static void addr_bytes(const struct addr *a, uint8_t out[16], uint16_t *port)
{
	memset(out, 0, 16);
	if (addr_family(a) == AF_INET) {
		memcpy(out, &a->u.in4.sin_addr, 4);
		*port = a->u.in4.sin_port;
	} else {
		memcpy(out, &a->u.in6.sin6_addr, 16);
		*port = a->u.in6.sin6_port;
	}
}

static void set_addr(struct addr *out, int family, const uint8_t b[16], uint16_t port)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = port;
		memcpy(&out->u.in4.sin_addr, b, 4);
		out->len = sizeof(out->u.in4);
	} else {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = port;
		memcpy(&out->u.in6.sin6_addr, b, 16);
		out->len = sizeof(out->u.in6);
	}
}

/* The key of packets from src to dst. */
static void key_of(struct kfwd_xkey *k, const struct addr *src, const struct addr *dst)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)addr_family(src);
	k->proto = IPPROTO_UDP;
	addr_bytes(src, k->saddr, &k->sport);
	addr_bytes(dst, k->daddr, &k->dport);
}

/* An entry that rewrites to src -> dst. */
static void rewrite_to(struct kfwd_xflow *v, const struct addr *src, const struct addr *dst)
{
	addr_bytes(src, v->saddr, &v->sport);
	addr_bytes(dst, v->daddr, &v->dport);
}

void udp_fast_entries(const struct udp_fast_spec *s, uint64_t now, struct udp_fast *h,
                      struct kfwd_xflow *in, struct kfwd_xflow *out)
{
	memset(h, 0, sizeof(*h));
	memset(in, 0, sizeof(*in));
	memset(out, 0, sizeof(*out));
	in->listener = out->listener = s->listener_id;
	in->lsn_slot = out->lsn_slot = (uint16_t)s->slot;
	in->created_ns = out->created_ns = in->last_ns = out->last_ns = now;
	in->dir = KFWD_XDIR_IN;
	out->dir = KFWD_XDIR_OUT;
	key_of(&h->in, &s->client, &s->listener);
	h->has_in = true;
	if (addr_family(&s->client) != addr_family(&s->backend)) {
		in->flags = KFWD_XF_USERSPACE;
		return;
	}
	rewrite_to(in, &s->gateway, &s->backend);
	key_of(&h->out, &s->backend, &s->gateway);
	rewrite_to(out, &s->listener, &s->client);
	h->has_out = true;
}

int udp_fast_install(struct xdp_ctl *x, const struct udp_fast_spec *s, struct udp_fast *h)
{
	struct kfwd_xflow in, out;
	struct udp_fast tmp;
	int fd = xdp_ctl_flows_fd(x);
	udp_fast_entries(s, now_ns(), &tmp, &in, &out);
	/* Out first: once In is there, replies may come back at once. BPF_ANY: an
	 * entry left over from an earlier flow with the same ports is stale. */
	if (tmp.has_out && bpf_map_update_elem(fd, &tmp.out, &out, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(fd, &tmp.in, &in, BPF_ANY)) {
		int err = -errno;
		if (tmp.has_out)
			bpf_map_delete_elem(fd, &tmp.out);
		return err;
	}
	*h = tmp;
	return 0;
}

void udp_fast_remove(struct xdp_ctl *x, struct udp_fast *h)
{
	int fd = xdp_ctl_flows_fd(x);
	if (h->has_in)
		bpf_map_delete_elem(fd, &h->in);
	if (h->has_out)
		bpf_map_delete_elem(fd, &h->out);
	memset(h, 0, sizeof(*h));
}

uint64_t udp_fast_last_ns(struct xdp_ctl *x, const struct udp_fast *h)
{
	int fd = xdp_ctl_flows_fd(x);
	struct kfwd_xflow v;
	uint64_t last = 0;
	if (h->has_in && !bpf_map_lookup_elem(fd, &h->in, &v) && v.last_ns > last)
		last = v.last_ns;
	if (h->has_out && !bpf_map_lookup_elem(fd, &h->out, &v) && v.last_ns > last)
		last = v.last_ns;
	return last;
}

void udp_fast_key_addr(const struct kfwd_xkey *k, bool src, struct addr *out)
{
	set_addr(out, k->family, src ? k->saddr : k->daddr, src ? k->sport : k->dport);
}

void udp_fast_reverse_key(const struct kfwd_xkey *k, const struct kfwd_xflow *in,
                          struct kfwd_xkey *rk)
{
	memset(rk, 0, sizeof(*rk));
	rk->family = k->family;
	rk->proto = k->proto;
	memcpy(rk->saddr, in->daddr, 16);
	rk->sport = in->dport;
	memcpy(rk->daddr, in->saddr, 16);
	rk->dport = in->sport;
}

void udp_fast_view_of(const struct kfwd_xkey *k, const struct kfwd_xflow *in,
                      const struct kfwd_xflow *out, uint64_t now, struct udp_fast_view *v)
{
	memset(v, 0, sizeof(*v));
	v->listener = in->listener;
	v->userspace = in->flags & KFWD_XF_USERSPACE;
	udp_fast_key_addr(k, true, &v->client);
	udp_fast_key_addr(k, false, &v->listener_addr);
	if (!v->userspace) {
		set_addr(&v->gateway, k->family, in->saddr, in->sport);
		set_addr(&v->backend, k->family, in->daddr, in->dport);
	}
	v->packets_in = in->packets;
	v->bytes_in = in->bytes;
	uint64_t last = in->last_ns;
	if (out) {
		v->packets_out = out->packets;
		v->bytes_out = out->bytes;
		if (out->last_ns > last)
			last = out->last_ns;
	}
	/* The program's clock may be a little ahead of a now read earlier. */
	v->age_ms = now > in->created_ns ? (now - in->created_ns) / 1000000 : 0;
	v->idle_ms = now > last ? (now - last) / 1000000 : 0;
}

int udp_fast_foreach(struct xdp_ctl *x, void (*fn)(void *arg, const struct udp_fast_view *v),
                     void *arg)
{
	int fd = xdp_ctl_flows_fd(x), n = 0, rc;
	struct kfwd_xkey key, next, *prev = NULL;
	uint64_t now = now_ns();
	while ((rc = bpf_map_get_next_key(fd, prev, &next)) == 0) {
		struct kfwd_xflow in, out;
		struct kfwd_xkey rk;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &in) || in.dir != KFWD_XDIR_IN)
			continue; /* gone meanwhile, or the other half */
		udp_fast_reverse_key(&key, &in, &rk);
		bool has_out =
		    !(in.flags & KFWD_XF_USERSPACE) && !bpf_map_lookup_elem(fd, &rk, &out);
		struct udp_fast_view v;
		udp_fast_view_of(&key, &in, has_out ? &out : NULL, now, &v);
		fn(arg, &v);
		n++;
	}
	return rc == -ENOENT ? n : rc;
}
