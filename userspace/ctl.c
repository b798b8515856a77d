#include "ctl.h"
#include "daemon.h"
#include "fastpath.h"
#include "log.h"
#include "tunnel.h"
#include "version.h"
#include "xdp_view.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 2000

struct ctl_server {
	struct loop_io io;
	struct loop *loop;
	char *path;
	ctl_render_fn fn;
	void *arg;
};

static int sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Read one command line with a deadline; a slow client cannot hold the main thread. */
static int read_line(int fd, char *line, size_t len)
{
	size_t got = 0;
	while (got + 1 < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, CTL_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, line + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(line, '\n', got))
			break;
	}
	line[got] = 0;
	char *nl = strpbrk(line, "\r\n");
	if (nl)
		*nl = 0;
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		if (poll(&pf, 1, CTL_TIMEOUT_MS) <= 0)
			return;
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			if (w < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void ctl_accept_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct ctl_server *s = container_of(io, struct ctl_server, io);
	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char line[256];
		if (read_line(fd, line, sizeof(line)) == 0) {
			struct buf b;
			buf_init(&b);
			s->fn(s->arg, line, &b);
			if (b.data)
				write_all(fd, b.data, b.len);
			buf_free(&b);
		}
		close(fd);
	}
}

int ctl_server_new(struct loop *l, const char *path, ctl_render_fn fn, void *arg,
		   struct ctl_server **out)
{
	struct sockaddr_un sun;
	int err = sun_fill(&sun, path);
	if (err) {
		log_err("control socket %s: path too long", path);
		return err;
	}
	if ((err = mkdir_parent(path))) {
		log_err("control socket %s: cannot create its folder: %s", path, strerror(-err));
		return err;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (errno != EADDRINUSE)
			goto fail;
		/* Stale (a crashed instance) or live (a running one)? Ask it. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			log_err("control socket %s: another instance is running", path);
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)))
			goto fail;
	}
	chmod(path, 0600);
	if (listen(fd, 16))
		goto fail;
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		close(fd);
		return -ENOMEM;
	}
	s->io = (struct loop_io){.fd = fd, .fn = ctl_accept_cb};
	s->loop = l;
	s->fn = fn;
	s->arg = arg;
	if ((err = loop_add(l, &s->io, EPOLLIN))) {
		ctl_server_free(s);
		return err;
	}
	*out = s;
	return 0;
fail:
	err = -errno;
	log_err("control socket %s: %s", path, strerror(errno));
	close(fd);
	return err;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	loop_del(s->loop, &s->io);
	close(s->io.fd);
	unlink(s->path);
	free(s->path);
	free(s);
}

char *ctl_fmt_bytes(uint64_t n, char *dst)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(dst, 16, "%llu B", (unsigned long long)n);
	else
		snprintf(dst, 16, "%.1f %s", v, unit[u]);
	return dst;
}

/* Which data path carries the listener's established flows. */
static const char *lsn_path(const struct ctl_view *v, const struct lsn *l)
{
	if (l->fast)
		return "fastpath";
	if (l->lc->proto == PROTO_UDP && v->xdp && v->xdp_forward && l->xdp_slot >= 0)
		return "xdp";
	return "userspace";
}

/* The kernel's counters of the fast path, as ",\"kernel\":{...}" (nothing when off). */
static void render_json_kernel(const struct ctl_view *v, struct buf *b)
{
	struct kfwd_counters k;
	if (!v->fp || fastpath_counters(v->fp, &k))
		return;
	buf_printf(b,
		   ",\"kernel\":{\"passive_established\":%llu,\"active_established\":%llu,"
		   "\"inserted\":%llu,\"insert_errors\":%llu,\"no_slot\":%llu,"
		   "\"released_unclaimed\":%llu,\"backlog_passes\":%llu,"
		   "\"redirect_errors\":%llu,\"rate_passes\":%llu,\"overlap_skbs\":%llu,"
		   "\"overlap_bytes\":%llu,\"overlap_failures\":%llu,\"cap_passes\":%llu}",
		   (unsigned long long)k.passive_est, (unsigned long long)k.active_est,
		   (unsigned long long)k.insert_ok, (unsigned long long)k.insert_err,
		   (unsigned long long)k.no_slot, (unsigned long long)k.released,
		   (unsigned long long)k.bp_pass, (unsigned long long)k.redir_fail,
		   (unsigned long long)k.rate_pass, (unsigned long long)k.overlap_skbs,
		   (unsigned long long)k.overlap_bytes, (unsigned long long)k.overlap_fail,
		   (unsigned long long)k.cap_pass);
}

/* One listener's object, left open for more members. */
static void json_lsn(struct buf *b, bool first, const struct conf_listener *lc, const char *path,
		     const struct lsn_ctr *s)
{
	char a[ADDR_STRLEN];
	buf_printf(b, "%s{\"name\":", first ? "" : ",");
	buf_json_str(b, lc->name);
	buf_printf(b, ",\"bind\":");
	buf_json_str(b, addr_format(&lc->bind.a, a));
	buf_printf(b,
		   ",\"proto\":\"%s\",\"mode\":\"%s\",\"path\":\"%s\","
		   "\"active\":%llu,\"total\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
		   "\"packets_in\":%llu,\"packets_out\":%llu,\"spliced\":%llu,"
		   "\"kernel_bytes_in\":%llu,\"kernel_bytes_out\":%llu,\"errors\":{",
		   conf_proto_name(lc->proto), conf_mode_name(lc->mode), path,
		   (unsigned long long)s->active, (unsigned long long)s->total,
		   (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
		   (unsigned long long)s->pkts_in, (unsigned long long)s->pkts_out,
		   (unsigned long long)s->spliced, (unsigned long long)s->kbytes_in,
		   (unsigned long long)s->kbytes_out);
	for (int e = 0; e < ERR__MAX; e++)
		buf_printf(b, "%s\"%s\":%llu", e ? "," : "", stats_err_name(e),
			   (unsigned long long)s->err[e]);
	buf_printf(b, "}");
}

static void render_json(const struct ctl_view *v, struct buf *b)
{
	buf_printf(b, "{\"instance\":");
	buf_json_str(b, v->instance);
	buf_printf(b, ",\"config\":");
	buf_json_str(b, v->config);
	buf_printf(b, ",\"version\":\"%s\",\"pid\":%ld,\"uptime_ms\":%llu,\"workers\":%d,"
		      "\"state\":\"%s\",\"reloads\":%llu,\"reload_failures\":%llu,"
		      "\"bpf\":{\"available\":%s,\"detail\":",
		   KFWD_VERSION, v->pid, (unsigned long long)v->uptime_ms, v->workers, v->state,
		   (unsigned long long)v->reloads, (unsigned long long)v->reload_failures,
		   v->bpf->ok ? "true" : "false");
	buf_json_str(b, v->bpf->detail);
	buf_printf(b, "},\"fastpath\":{\"active\":%s,\"detail\":", v->fp ? "true" : "false");
	buf_json_str(b, v->fp_detail);
	if (v->fp) {
		int64_t used, total;
		uint64_t refused;
		fastpath_sndbuf_usage(v->fp, &used, &total, &refused);
		buf_printf(b, ",\"sndbuf\":{\"in_use\":%lld,\"total\":%lld,\"refused\":%llu}",
			   (long long)used, (long long)total, (unsigned long long)refused);
	}
	render_json_kernel(v, b);
	buf_printf(b, "}");
	xdp_view_stats_json(v, b);
	if (v->tunnel) {
		buf_printf(b, ",\"tunnel\":");
		tunnel_view_json(v->tunnel, b);
	}
	buf_printf(b, ",\"listeners\":[");
	bool first = true;
	for (const struct lsn *l = v->lsns; l; l = l->next, first = false) {
		struct lsn_ctr s;
		stats_sum(l->ctr, l->nworkers, &s);
		json_lsn(b, first, l->lc, lsn_path(v, l), &s);
		xdp_view_lsn_json(v, l, b);
		buf_printf(b, "}");
	}
	const struct conf_listener *lc;
	struct lsn_ctr s;
	for (size_t i = 0; tunnel_listener(v->tun, i, &lc, &s); i++, first = false) {
		json_lsn(b, first, lc, "tunnel", &s);
		buf_printf(b, "}");
	}
	buf_printf(b, "]}\n");
}

static void text_lsn(struct buf *b, const struct conf_listener *lc, const char *path,
		     const struct lsn_ctr *s)
{
	char a[ADDR_STRLEN], in[16], out[16];
	buf_printf(b, "%-14s %-22s %-5s %-8s %-9s %7llu %9llu %11s %11s  ", lc->name,
		   addr_format(&lc->bind.a, a), conf_proto_name(lc->proto), conf_mode_name(lc->mode),
		   path, (unsigned long long)s->active, (unsigned long long)s->total,
		   ctl_fmt_bytes(s->bytes_in, in), ctl_fmt_bytes(s->bytes_out, out));
	int any = 0;
	for (int e = 0; e < ERR__MAX; e++)
		if (s->err[e])
			buf_printf(b, "%s%s=%llu", any++ ? " " : "", stats_err_name(e),
				   (unsigned long long)s->err[e]);
	buf_printf(b, "%s\n", any ? "" : "-");
}

static void render_text(const struct ctl_view *v, struct buf *b)
{
	buf_printf(b, "kfwd %s  instance %s  pid %ld  up %llus  workers %d  %s\n", KFWD_VERSION,
		   v->instance, v->pid, (unsigned long long)(v->uptime_ms / 1000), v->workers,
		   v->state);
	buf_printf(b, "config %s  reloads %llu (failed %llu)\n", v->config,
		   (unsigned long long)v->reloads, (unsigned long long)v->reload_failures);
	buf_printf(b, "bpf: %s: %s\n", v->bpf->ok ? "available" : "not available",
		   v->bpf->detail);
	buf_printf(b, "fastpath: %s: %s\n", v->fp ? "on" : "off", v->fp_detail);
	if (v->fp) {
		int64_t used, total;
		uint64_t refused;
		char u[16], tot[16];
		fastpath_sndbuf_usage(v->fp, &used, &total, &refused);
		if (total)
			buf_printf(b,
				   "fastpath send buffers: %s forced of %s, %llu connection(s) left "
				   "autotuned\n",
				   ctl_fmt_bytes((uint64_t)used, u), ctl_fmt_bytes((uint64_t)total, tot),
				   (unsigned long long)refused);
		else
			buf_printf(b, "fastpath send buffers: %s forced (no cap)\n",
				   ctl_fmt_bytes((uint64_t)used, u));
	}
	buf_printf(b, "\n");
	buf_printf(b, "%-14s %-22s %-5s %-8s %-9s %7s %9s %11s %11s  %s\n", "LISTENER", "BIND",
		   "PROTO", "MODE", "PATH", "ACTIVE", "TOTAL", "IN", "OUT", "ERRORS");
	for (const struct lsn *l = v->lsns; l; l = l->next) {
		struct lsn_ctr s;
		stats_sum(l->ctr, l->nworkers, &s);
		text_lsn(b, l->lc, lsn_path(v, l), &s);
	}
	const struct conf_listener *lc;
	struct lsn_ctr s;
	for (size_t i = 0; tunnel_listener(v->tun, i, &lc, &s); i++)
		text_lsn(b, lc, "tunnel", &s);
}

/* ---- flows ---- */

struct flows_out {
	const struct ctl_view *v;
	struct buf *b;
	int n; /* flows written */
};

static void lsn_name(const struct ctl_view *v, uint32_t id, char *dst, size_t len)
{
	for (const struct lsn *l = v->lsns; l; l = l->next) {
		if (l->id == id) {
			snprintf(dst, len, "%s", l->name);
			return;
		}
	}
	snprintf(dst, len, "#%u", id); /* removed by a reload, its flows live on */
}

static void flow_json(void *arg, const struct fastpath_flow_view *f)
{
	struct flows_out *o = arg;
	char name[72], cli[ADDR_STRLEN], be[ADDR_STRLEN];
	lsn_name(o->v, f->listener, name, sizeof(name));
	buf_printf(o->b, "%s{\"id\":%llu,\"listener\":", o->n++ ? "," : "",
		   (unsigned long long)f->id);
	buf_json_str(o->b, name);
	buf_printf(o->b, ",\"client\":");
	buf_json_str(o->b, addr_format(&f->client, cli));
	buf_printf(o->b, ",\"backend\":");
	buf_json_str(o->b, addr_format(&f->backend, be));
	buf_printf(o->b,
		   ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"segments_in\":%llu,"
		   "\"segments_out\":%llu,\"age_ms\":%llu,\"idle_ms\":%llu}",
		   (unsigned long long)f->bytes_in, (unsigned long long)f->bytes_out,
		   (unsigned long long)f->segs_in, (unsigned long long)f->segs_out,
		   (unsigned long long)f->age_ms, (unsigned long long)f->idle_ms);
}

static void flow_text(void *arg, const struct fastpath_flow_view *f)
{
	struct flows_out *o = arg;
	char name[72], cli[ADDR_STRLEN], be[ADDR_STRLEN], in[16], out[16];
	lsn_name(o->v, f->listener, name, sizeof(name));
	o->n++;
	buf_printf(o->b, "%-8llu %-14s %-24s %-24s %11s %11s %9llu %9llu %8.1f %8.1f\n",
		   (unsigned long long)f->id, name, addr_format(&f->client, cli),
		   addr_format(&f->backend, be), ctl_fmt_bytes(f->bytes_in, in),
		   ctl_fmt_bytes(f->bytes_out, out), (unsigned long long)f->segs_in,
		   (unsigned long long)f->segs_out, (double)f->age_ms / 1000.0,
		   (double)f->idle_ms / 1000.0);
}

/* Live spliced flows, from the flow table (userspace-path connections are not listed). */
static void render_flows(const struct ctl_view *v, struct buf *b, bool json)
{
	struct flows_out o = {.v = v, .b = b};
	if (json) {
		buf_printf(b, "{\"fastpath\":%s,\"flows\":[", v->fp ? "true" : "false");
		int err = v->fp ? fastpath_flows_foreach(v->fp, flow_json, &o) : 0;
		buf_printf(b, "]");
		if (err < 0) {
			buf_printf(b, ",\"error\":");
			buf_json_str(b, strerror(-err));
		}
		xdp_view_flows_json(v, b);
		buf_printf(b, "}\n");
		return;
	}
	if (!v->fp) {
		buf_printf(b, "fastpath: off: %s (no spliced flows)\n", v->fp_detail);
		return;
	}
	buf_printf(b, "%-8s %-14s %-24s %-24s %11s %11s %9s %9s %8s %8s\n", "ID", "LISTENER",
		   "CLIENT", "BACKEND", "IN", "OUT", "SEGS_IN", "SEGS_OUT", "AGE_S", "IDLE_S");
	int err = fastpath_flows_foreach(v->fp, flow_text, &o);
	if (err < 0)
		buf_printf(b, "error: reading the flow table: %s\n", strerror(-err));
	buf_printf(b, "%d flow(s)\n", o.n);
}

void ctl_render(const struct ctl_view *v, const char *cmd, struct buf *out)
{
	if (!strcmp(cmd, "stats")) {
		render_text(v, out);
		xdp_view_stats_text(v, out);
		if (v->tunnel)
			tunnel_view_text(v->tunnel, out);
	} else if (!strcmp(cmd, "stats json")) {
		render_json(v, out);
	} else if (!strcmp(cmd, "flows")) {
		render_flows(v, out, false);
		xdp_view_flows_text(v, out);
	} else if (!strcmp(cmd, "flows json")) {
		render_flows(v, out, true);
	} else {
		buf_printf(out,
			   "error: unknown command \"%.64s\" (known: stats, stats json, flows, "
			   "flows json)\n",
			   cmd);
	}
}

int ctl_request(const char *path, const char *cmd)
{
	struct sockaddr_un sun;
	if (sun_fill(&sun, path)) {
		fprintf(stderr, "kfwd: control socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = errno;
		fprintf(stderr, "kfwd: cannot reach the instance at %s: %s%s\n", path,
			strerror(err), err == ENOENT || err == ECONNREFUSED ? " (is it running?)" : "");
		if (fd >= 0)
			close(fd);
		return -err;
	}
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	write_all(fd, line, (size_t)n);
	char buf[65536];
	ssize_t r;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, CTL_TIMEOUT_MS * 2) > 0 && (r = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)r, stdout);
	close(fd);
	return 0;
}
