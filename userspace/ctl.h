/*
 * Control socket: a Unix stream socket per instance. A client sends one
 * command line ("stats", "stats json", "flows", "flows json") and reads the
 * reply until EOF.
 */
#ifndef KFWD_CTL_H
#define KFWD_CTL_H
#include "jsonw.h"
#include "loop.h"
#include "probe.h"

#include <stdint.h>

struct lsn;
struct fastpath;
struct xdp_ctl;
struct tunnel_view;
struct tunnel;

/* What a reply is made from; filled by the daemon on each request. */
struct ctl_view {
	const char *instance;
	const char *config;
	long pid;
	uint64_t uptime_ms;
	int workers;
	const char *state;
	const struct probe_result *bpf;
	struct fastpath *fp;        /* NULL when the fast path is off */
	const char *fp_detail;      /* why it is off, or where it lives */
	struct xdp_ctl *xdp;        /* the XDP program, NULL when not attached */
	bool xdp_forward;           /* it forwards installed UDP flows (global.xdp_forward) */
	const char *xdp_detail;     /* where it runs, or why not */
	uint64_t reloads, reload_failures;
	const struct lsn *lsns;
	const struct tunnel_view *tunnel; /* NULL without a tunnel section */
	struct tunnel *tun;               /* its listeners' counters (tunnel_listener) */
};

typedef void (*ctl_render_fn)(void *arg, const char *cmd, struct buf *out);

struct ctl_server;

/*
 * Listen on path (its folder is created, mode 0755). A stale socket is replaced;
 * a live one (another instance answers) is an error: -EADDRINUSE.
 * Return 0 and set *out, or -errno.
 */
int ctl_server_new(struct loop *l, const char *path, ctl_render_fn fn, void *arg,
		   struct ctl_server **out);
/* Close and unlink the socket. NULL is fine. */
void ctl_server_free(struct ctl_server *s);

/* Render a reply for cmd into out; unknown commands get an "error: ..." line. */
void ctl_render(const struct ctl_view *v, const char *cmd, struct buf *out);

/* Client: send cmd to the socket at path and write the reply to stdout.
 * Return 0, or -errno with a message already printed to stderr. */
int ctl_request(const char *path, const char *cmd);

/* Human-readable byte count ("1.5 GiB") into dst[16]. */
char *ctl_fmt_bytes(uint64_t n, char *dst);

#endif
