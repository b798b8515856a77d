#include "fastpath.h"
#include "cgroup.h"
#include "bpffs.h"
#include "log.h"
#include "splice.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* Released slots wait here for two ticks before the kernel may hand them out again. */
struct slot_list {
	uint32_t *v;
	size_t n, cap;
};

struct fastpath {
	struct splice_bpf *skel;
	struct cgroup_child cg;
	struct kfwd_sock *states; /* the mmapped `sockstate` array */
	size_t states_len;
	int fd_socks, fd_slot_of, fd_free, fd_ports, fd_flows, fd_counters;
	char pin_dir[PATH_MAX];
	bool verdict_attached;
	int sndbuf;
	int64_t sndbuf_total;
	int64_t sndbuf_used;     /* atomic: forced send buffer handed out, per socket */
	uint64_t sndbuf_refused; /* atomic */
	uint64_t next_flow;      /* atomic */
	pthread_mutex_t mu; /* guards the quarantine lists */
	struct slot_list released, cooling;
};

/* ---- pure helpers -------------------------------------------------------- */

void fastpath_endpoint(struct kfwd_endpoint *e, const struct sockaddr *sa)
{
	memset(e, 0, sizeof(*e));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		e->family = AF_INET;
		e->port = ntohs(in->sin_port);
		memcpy(e->addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		e->family = AF_INET6;
		e->port = ntohs(in6->sin6_port);
		memcpy(e->addr, &in6->sin6_addr, 16);
	}
}

void fastpath_endpoint_addr(const struct kfwd_endpoint *e, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (e->family == AF_INET) {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons(e->port);
		memcpy(&out->u.in4.sin_addr, e->addr, 4);
		out->len = sizeof(out->u.in4);
	} else if (e->family == AF_INET6) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons(e->port);
		memcpy(&out->u.in6.sin6_addr, e->addr, 16);
		out->len = sizeof(out->u.in6);
	}
}

void fastpath_port_key(struct kfwd_port_key *k, const struct addr *bind)
{
	struct kfwd_endpoint e;
	fastpath_endpoint(&e, &bind->u.sa);
	memset(k, 0, sizeof(*k));
	k->family = e.family;
	k->port = e.port;
	memcpy(k->addr, e.addr, sizeof(k->addr));
}

void fastpath_sock_init(struct kfwd_sock *st, uint64_t cookie, uint32_t dir)
{
	memset(st, 0, sizeof(*st));
	st->cookie = cookie;
	st->dir = dir;
	st->owner = cookie | KFWD_OWNER_USER;
}

bool fastpath_sock_claim(struct kfwd_sock *st, uint64_t cookie)
{
	uint64_t want = cookie;
	if (__atomic_load_n(&st->cookie, __ATOMIC_ACQUIRE) != cookie)
		return false;
	return __atomic_compare_exchange_n(&st->owner, &want, cookie | KFWD_OWNER_USER, false,
	                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void fastpath_count(struct kfwd_count *c, const struct kfwd_sock *st)
{
	if (!st) {
		c->bytes = c->segs = 0;
		return;
	}
	c->bytes = __atomic_load_n(&st->passed, __ATOMIC_ACQUIRE) +
	           __atomic_load_n(&st->redirected, __ATOMIC_ACQUIRE) -
	           __atomic_load_n(&st->skipped, __ATOMIC_ACQUIRE);
	c->segs = __atomic_load_n(&st->pass_segs, __ATOMIC_RELAXED) +
	          __atomic_load_n(&st->redir_segs, __ATOMIC_RELAXED);
}

void fastpath_skip(struct kfwd_sock *src, struct kfwd_sock *dst, uint64_t n)
{
	__atomic_fetch_add(&src->skipped, n, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&src->written, n, __ATOMIC_SEQ_CST);
	if (dst)
		dst->seq_base -= (uint32_t)n; /* modulo 2^32, like write_seq */
}

void fastpath_injected(struct kfwd_sock *dst, uint64_t n)
{
	if (dst)
		dst->seq_base += (uint32_t)n;
}

void fastpath_limit(struct kfwd_sock *st, uint64_t allow)
{
	__atomic_store_n(&st->allow, allow, __ATOMIC_SEQ_CST);
	__atomic_store_n(&st->limited, 1, __ATOMIC_SEQ_CST);
}

void fastpath_cap(struct fastpath_sock *cli, struct fastpath_sock *be, uint64_t left)
{
	uint32_t slot = (uint32_t)cli->slot + 1;
	__atomic_store_n(&cli->st->budget, left, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cli->st->cap_slot, slot, __ATOMIC_SEQ_CST);
	__atomic_store_n(&be->st->cap_slot, slot, __ATOMIC_SEQ_CST);
}

static bool capped(const struct kfwd_sock *cli)
{
	return cli && __atomic_load_n(&cli->cap_slot, __ATOMIC_SEQ_CST);
}

uint64_t fastpath_budget_take(struct kfwd_sock *cli, uint64_t want)
{
	if (!capped(cli))
		return want;
	uint64_t have = __atomic_load_n(&cli->budget, __ATOMIC_SEQ_CST), take;
	do
		take = have < want ? have : want;
	while (take && !__atomic_compare_exchange_n(&cli->budget, &have, have - take, false,
	                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return take;
}

void fastpath_budget_give(struct kfwd_sock *cli, uint64_t n)
{
	if (capped(cli) && n)
		__atomic_fetch_add(&cli->budget, n, __ATOMIC_SEQ_CST);
}

uint64_t fastpath_budget_left(const struct kfwd_sock *cli)
{
	return capped(cli) ? __atomic_load_n(&cli->budget, __ATOMIC_SEQ_CST) : UINT64_MAX;
}

uint64_t fastpath_sent(const struct kfwd_sock *st, uint64_t ubytes)
{
	if (!st)
		return ubytes;
	return __atomic_load_n(&st->written, __ATOMIC_SEQ_CST) +
	       __atomic_load_n(&st->redirected, __ATOMIC_SEQ_CST);
}

bool fastpath_caught_up(const struct kfwd_sock *st, uint64_t ubytes, int64_t queued, int64_t qbase)
{
	/* Both callers read it while it holds still: this direction has nothing
	 * in flight (held passed bytes stop redirects; after EOF nothing moves). */
	uint64_t want = fastpath_sent(st, ubytes);
	return queued >= qbase && (uint64_t)(queued - qbase) >= want;
}

bool fastpath_eof(const struct kfwd_sock *st, uint64_t rbytes)
{
	return !st || rbytes >= __atomic_load_n(&st->passed, __ATOMIC_SEQ_CST);
}

void fastpath_flow_view(uint64_t id, const struct kfwd_flow *f, uint64_t now_ns,
                        struct fastpath_flow_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->listener = f->listener;
	fastpath_endpoint_addr(&f->client, &v->client);
	fastpath_endpoint_addr(&f->backend, &v->backend);
	v->bytes_in = f->in.bytes;
	v->bytes_out = f->out.bytes;
	v->segs_in = f->in.segs;
	v->segs_out = f->out.segs;
	/* The verdict's clock may run ahead of a now read a moment earlier. */
	v->age_ms = now_ns > f->start_ns ? (now_ns - f->start_ns) / 1000000 : 0;
	uint64_t last = f->last_ns > f->start_ns ? f->last_ns : f->start_ns;
	v->idle_ms = now_ns > last ? (now_ns - last) / 1000000 : 0;
}

uint64_t fastpath_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- pins ---------------------------------------------------------------- */

static int pin_maps(struct fastpath *fp, const struct fastpath_opts *o, char *why, size_t whylen)
{
	int err = bpffs_ready("fastpath", o->pin_root, why, whylen);
	if (err)
		return err;
	int n = snprintf(fp->pin_dir, sizeof(fp->pin_dir), "%s/%s", o->pin_root, o->instance);
	if (n < 0 || (size_t)n >= sizeof(fp->pin_dir) - 16) {
		snprintf(why, whylen, "pin path %s/%s: too long", o->pin_root, o->instance);
		fp->pin_dir[0] = 0;
		return -ENAMETOOLONG;
	}
	if (access(fp->pin_dir, F_OK) == 0) {
		log_info("fastpath: removing stale pins in %s", fp->pin_dir);
		bpffs_dir_remove("fastpath", fp->pin_dir);
	}
	if ((err = bpffs_mkdir_p(fp->pin_dir))) {
		snprintf(why, whylen, "pin folder %s: %s", fp->pin_dir, strerror(-err));
		fp->pin_dir[0] = 0;
		return err;
	}
	struct bpf_map *maps[] = {fp->skel->maps.flows, fp->skel->maps.ports,
	                          fp->skel->maps.counters};
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/%s", fp->pin_dir, bpf_map__name(maps[i]));
		if ((err = bpf_map__pin(maps[i], path))) {
			snprintf(why, whylen, "pin %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* ---- setup and teardown -------------------------------------------------- */

static int load(struct fastpath *fp, const struct fastpath_opts *o, char *why, size_t whylen)
{
	fp->skel = splice_bpf__open();
	if (!fp->skel) {
		int err = -errno;
		snprintf(why, whylen, "open BPF object splice: %s", strerror(errno));
		return err;
	}
	fp->skel->rodata->backlog_limit = o->backlog;
	int err = splice_bpf__load(fp->skel);
	if (err) {
		snprintf(why, whylen, "load BPF object splice: %s%s", strerror(-err),
		         err == -EPERM ? " (needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)" : "");
		return err;
	}
	struct splice_bpf *s = fp->skel;
	fp->fd_socks = bpf_map__fd(s->maps.socks);
	fp->fd_slot_of = bpf_map__fd(s->maps.slot_of);
	fp->fd_free = bpf_map__fd(s->maps.free_slots);
	fp->fd_ports = bpf_map__fd(s->maps.ports);
	fp->fd_flows = bpf_map__fd(s->maps.flows);
	fp->fd_counters = bpf_map__fd(s->maps.counters);
	return 0;
}

static int map_states(struct fastpath *fp, char *why, size_t whylen)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	fp->states_len = (sizeof(struct kfwd_sock) * KFWD_MAX_SOCKS + page - 1) / page * page;
	void *p = mmap(NULL, fp->states_len, PROT_READ | PROT_WRITE, MAP_SHARED,
	               bpf_map__fd(fp->skel->maps.sockstate), 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		snprintf(why, whylen, "mmap map sockstate: %s", strerror(errno));
		return err;
	}
	fp->states = p;
	for (uint32_t i = 0; i < KFWD_MAX_SOCKS; i++) {
		if (bpf_map_update_elem(fp->fd_free, NULL, &i, 0)) {
			int err = -errno;
			snprintf(why, whylen, "fill map free_slots: %s", strerror(errno));
			return err;
		}
	}
	return 0;
}

static int attach(struct fastpath *fp, char *why, size_t whylen)
{
	struct splice_bpf *s = fp->skel;
	if (bpf_prog_attach(bpf_program__fd(s->progs.kfwd_verdict), fp->fd_socks,
	                    BPF_SK_SKB_STREAM_VERDICT, 0)) {
		int err = -errno;
		snprintf(why, whylen, "attach stream verdict to map socks: %s", strerror(errno));
		return err;
	}
	fp->verdict_attached = true;
	/* A link: it goes away with the process, however the process ends. */
	s->links.kfwd_sockops = bpf_program__attach_cgroup(s->progs.kfwd_sockops, fp->cg.fd);
	if (!s->links.kfwd_sockops) {
		int err = errno ? -errno : -EINVAL;
		snprintf(why, whylen, "attach sockops to cgroup %s: %s", fp->cg.path,
		         strerror(-err));
		return err;
	}
	return 0;
}

int fastpath_new(const struct fastpath_opts *o, struct fastpath **out, char *why, size_t whylen)
{
	*out = NULL;
	struct fastpath *fp = calloc(1, sizeof(*fp));
	if (!fp) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&fp->mu, NULL);
	fp->next_flow = 1;
	fp->sndbuf = o->sndbuf;
	fp->sndbuf_total = o->sndbuf_total;
	fp->cg.fd = -1;
	int err = cgroup_child_enter(o->instance, &fp->cg, why, whylen);
	if (!err)
		err = load(fp, o, why, whylen);
	if (!err)
		err = map_states(fp, why, whylen);
	if (!err)
		err = attach(fp, why, whylen);
	if (!err)
		err = pin_maps(fp, o, why, whylen);
	if (err) {
		fastpath_free(fp);
		return err;
	}
	*out = fp;
	return 0;
}

void fastpath_free(struct fastpath *fp)
{
	if (!fp)
		return;
	if (fp->pin_dir[0]) {
		bpffs_dir_remove("fastpath", fp->pin_dir);
		bpffs_release("fastpath", fp->pin_dir);
	}
	if (fp->verdict_attached)
		bpf_prog_detach2(bpf_program__fd(fp->skel->progs.kfwd_verdict), fp->fd_socks,
		                 BPF_SK_SKB_STREAM_VERDICT);
	if (fp->states)
		munmap(fp->states, fp->states_len);
	splice_bpf__destroy(fp->skel);
	cgroup_child_leave(&fp->cg);
	free(fp->released.v);
	free(fp->cooling.v);
	pthread_mutex_destroy(&fp->mu);
	free(fp);
}

const char *fastpath_cgroup(const struct fastpath *fp)
{
	return fp->cg.path;
}

int fastpath_sndbuf_get(struct fastpath *fp)
{
	int64_t two = 2 * (int64_t)fp->sndbuf;
	if (!fp->sndbuf)
		return 0;
	int64_t used = __atomic_add_fetch(&fp->sndbuf_used, two, __ATOMIC_RELAXED);
	if (fp->sndbuf_total && used > fp->sndbuf_total) {
		__atomic_sub_fetch(&fp->sndbuf_used, two, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fp->sndbuf_refused, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return fp->sndbuf;
}

void fastpath_sndbuf_put(struct fastpath *fp, int sndbuf)
{
	if (sndbuf)
		__atomic_sub_fetch(&fp->sndbuf_used, 2 * (int64_t)sndbuf, __ATOMIC_RELAXED);
}

void fastpath_sndbuf_usage(const struct fastpath *fp, int64_t *used, int64_t *total,
                           uint64_t *refused)
{
	*used = __atomic_load_n(&fp->sndbuf_used, __ATOMIC_RELAXED);
	*total = fp->sndbuf_total;
	*refused = __atomic_load_n(&fp->sndbuf_refused, __ATOMIC_RELAXED);
}

const char *fastpath_pin_dir(const struct fastpath *fp)
{
	return fp->pin_dir;
}

/* ---- listeners ----------------------------------------------------------- */

int fastpath_port_set(struct fastpath *fp, const struct addr *bind, uint32_t listener, bool fast)
{
	struct kfwd_port_key k;
	struct kfwd_port v = {.listener = listener, .flags = fast ? KFWD_PORT_FAST : 0};
	fastpath_port_key(&k, bind);
	return bpf_map_update_elem(fp->fd_ports, &k, &v, BPF_ANY) ? -errno : 0;
}

void fastpath_port_del(struct fastpath *fp, const struct addr *bind)
{
	struct kfwd_port_key k;
	fastpath_port_key(&k, bind);
	bpf_map_delete_elem(fp->fd_ports, &k);
}

/* ---- sockets ------------------------------------------------------------- */

uint64_t fastpath_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len))
		return 0;
	return c;
}

int fastpath_claim(struct fastpath *fp, int fd, struct fastpath_sock *s)
{
	*s = (struct fastpath_sock){.slot = -1};
	uint64_t cookie = fastpath_cookie(fd);
	uint32_t slot;
	if (!cookie)
		return -errno;
	if (bpf_map_lookup_elem(fp->fd_slot_of, &cookie, &slot))
		return -ENOENT;
	if (slot >= KFWD_MAX_SOCKS || !fastpath_sock_claim(&fp->states[slot], cookie))
		return -ENOENT;
	*s = (struct fastpath_sock){.cookie = cookie, .slot = (int)slot, .st = &fp->states[slot]};
	return 0;
}

int fastpath_want(struct fastpath *fp, int fd, struct fastpath_sock *s)
{
	*s = (struct fastpath_sock){.slot = -1};
	uint64_t cookie = fastpath_cookie(fd);
	uint32_t slot;
	if (!cookie)
		return -errno;
	if (bpf_map_lookup_and_delete_elem(fp->fd_free, NULL, &slot))
		return errno == ENOENT ? -ENOSPC : -errno;
	fastpath_sock_init(&fp->states[slot], cookie, KFWD_DIR_OUT);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (bpf_map_update_elem(fp->fd_slot_of, &cookie, &slot, BPF_NOEXIST)) {
		int err = -errno;
		bpf_map_update_elem(fp->fd_free, NULL, &slot, 0);
		return err;
	}
	*s = (struct fastpath_sock){.cookie = cookie, .slot = (int)slot, .st = &fp->states[slot]};
	return 0;
}

bool fastpath_in_map(struct fastpath *fp, const struct fastpath_sock *s)
{
	uint64_t v;
	return s->slot >= 0 && bpf_map_lookup_elem(fp->fd_socks, &s->cookie, &v) == 0;
}

void fastpath_pair(struct fastpath_sock *a, struct fastpath_sock *b)
{
	a->st->peer_slot = (uint32_t)b->slot;
	b->st->peer_slot = (uint32_t)a->slot;
	__atomic_store_n(&a->st->peer, b->cookie, __ATOMIC_SEQ_CST);
	__atomic_store_n(&b->st->peer, a->cookie, __ATOMIC_SEQ_CST);
}

static void slot_list_add(struct slot_list *l, uint32_t slot)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			log_warn("fastpath: out of memory: slot %u is lost", slot);
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = slot;
}

void fastpath_release(struct fastpath *fp, struct fastpath_sock *s)
{
	if (s->slot < 0)
		return;
	__atomic_store_n(&s->st->peer, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->st->flow_id, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->st->owner, 0, __ATOMIC_SEQ_CST);
	bpf_map_delete_elem(fp->fd_slot_of, &s->cookie);
	pthread_mutex_lock(&fp->mu);
	slot_list_add(&fp->released, (uint32_t)s->slot);
	pthread_mutex_unlock(&fp->mu);
	*s = (struct fastpath_sock){.slot = -1};
}

void fastpath_tick(struct fastpath *fp)
{
	pthread_mutex_lock(&fp->mu);
	struct slot_list ready = fp->cooling;
	fp->cooling = fp->released;
	fp->released = (struct slot_list){0};
	pthread_mutex_unlock(&fp->mu);
	for (size_t i = 0; i < ready.n; i++)
		if (bpf_map_update_elem(fp->fd_free, NULL, &ready.v[i], 0))
			log_warn("fastpath: slot %u not returned: %s", ready.v[i], strerror(errno));
	free(ready.v);
}

/* ---- flows --------------------------------------------------------------- */

uint64_t fastpath_flow_id(struct fastpath *fp)
{
	return __atomic_fetch_add(&fp->next_flow, 1, __ATOMIC_RELAXED);
}

int fastpath_flow_add(struct fastpath *fp, uint64_t id, const struct kfwd_flow *f,
                      struct kfwd_sock *in, struct kfwd_sock *out)
{
	struct kfwd_flow rec = *f;
	rec.start_ns = rec.last_ns = fastpath_now_ns();
	if (in)
		__atomic_store_n(&in->flow_id, id, __ATOMIC_SEQ_CST);
	if (out)
		__atomic_store_n(&out->flow_id, id, __ATOMIC_SEQ_CST);
	/* A verdict that ran between reading the counts and the update stored into
	 * the entry being replaced: write again until the counts hold still. */
	for (int round = 0; round < 8; round++) {
		fastpath_count(&rec.in, in);
		fastpath_count(&rec.out, out);
		if (bpf_map_update_elem(fp->fd_flows, &id, &rec, round ? BPF_EXIST : BPF_NOEXIST))
			return -errno;
		struct kfwd_count a, b;
		fastpath_count(&a, in);
		fastpath_count(&b, out);
		if (a.bytes == rec.in.bytes && b.bytes == rec.out.bytes)
			break;
	}
	return 0;
}

void fastpath_flow_del(struct fastpath *fp, uint64_t id)
{
	bpf_map_delete_elem(fp->fd_flows, &id);
}

int fastpath_flows_foreach(struct fastpath *fp,
                           void (*fn)(void *arg, const struct fastpath_flow_view *v), void *arg)
{
	uint64_t key, next, now = fastpath_now_ns();
	uint64_t *prev = NULL;
	int n = 0, rc;
	while ((rc = bpf_map_get_next_key(fp->fd_flows, prev, &next)) == 0) {
		struct kfwd_flow f;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fp->fd_flows, &key, &f))
			continue; /* deleted meanwhile */
		struct fastpath_flow_view v;
		fastpath_flow_view(key, &f, now, &v);
		fn(arg, &v);
		n++;
	}
	return rc == -ENOENT ? n : rc;
}

int fastpath_counters(struct fastpath *fp, struct kfwd_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	struct kfwd_counters *v = calloc((size_t)ncpu, sizeof(*v));
	uint32_t zero = 0;
	if (!v)
		return -ENOMEM;
	int err = bpf_map_lookup_elem(fp->fd_counters, &zero, v) ? -errno : 0;
	memset(out, 0, sizeof(*out));
	for (int c = 0; !err && c < ncpu; c++) {
		const uint64_t *src = (const uint64_t *)&v[c];
		uint64_t *dst = (uint64_t *)out;
		for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
	free(v);
	return err;
}
