/*
 * What the CONNECT proxy (proxy.c) and the forward proxy (proxy_http.c)
 * share: the checks every request passes (auth, the target name and each
 * resolved address against the listener's ACLs), the worker's resolver, and
 * the way a refusal is answered. Both answer the same refusals with the same
 * status codes and counters.
 */
#ifndef KFWD_PROXY_INT_H
#define KFWD_PROXY_INT_H
#include "daemon.h"
#include "fastpath.h"
#include "http1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Check the requested host (a name, or numeric text without brackets) and
 * port against lc's deny list, default deny list and allow list.
 * *name_allowed: whether the name itself satisfies `allow` (or there is
 * none), needed by proxy_addr_refusal. Return NULL when the name may go on
 * to resolution, else a static reason for a 403.
 */
const char *proxy_check_name(const struct conf_listener *lc, const char *host, uint16_t port,
                             bool *name_allowed);

/* Why the resolved address sa (port set) may not be reached, or NULL.
 * name_allowed: from proxy_check_name. */
const char *proxy_addr_refusal(const struct conf_listener *lc, bool name_allowed,
                               const struct sockaddr *sa);

/*
 * Check m's Proxy-Authorization against lc's users file (through w's cache).
 * user[0..usersz) gets the user's name on success ("(cached)" from the cache).
 * Return 0 (also when lc has no auth), -ENOENT when the request carries no
 * credentials, another negative errno when they are refused.
 */
int proxy_auth(struct worker *w, const struct conf_listener *lc, const struct http1_msg *m,
               char *user, size_t usersz);

/* Create w's resolver from lc's dns settings unless it exists. Return 0 or -errno. */
int proxy_dns(struct worker *w, const struct conf_listener *lc);

/*
 * Answer a refusal on the client socket fd and end our side: send the small
 * response (http1_error_response: status, why as the body, extra header or
 * NULL), discard request bytes already received so the close is not a
 * reset, shut down writing. fd stays open (the caller closes it).
 */
void proxy_answer_close(int fd, unsigned status, const char *why, const char *extra);

/* One access-log record (a CONNECT tunnel, or with method a forwarded request). */
struct proxy_access {
	uint64_t id;
	const char *listener, *target;
	const char *method; /* NULL: a CONNECT tunnel (no method, no reused) */
	unsigned status;
	const char *result, *close;
	bool reused; /* forwarded: the target connection was reused */
	uint64_t up, down, duration_ms;
	bool spliced;              /* path "fastpath", else "userspace" */
	const char *user, *client; /* "" leaves the field out */
};
/* Write a as one JSON line to the access log. */
void proxy_access_log(const struct proxy_access *a);

/*
 * What follows a client connection from proxy.c to proxy_http.c and back:
 * its fast-path slot (a connect listener's sockets are in the sockhash from
 * accept on, so they can be read only with recv() and keep their slot until
 * closed) and the bytes read from it and written to it so far, which a
 * spliced CONNECT tunnel must leave out of its counts (tcp_handover).
 */
struct proxy_client {
	struct fastpath_sock slot; /* slot -1: none */
	uint64_t read, sent;
};

/*
 * A forward-proxy connection whose next request is a CONNECT comes back:
 * negotiate it as on a new connection. buf[0..len) holds the bytes read so
 * far (the CONNECT head first), cap its size; fd and buf are taken over,
 * also on failure. The flow stays counted as it was.
 */
void proxy_connect_adopt(struct wlsn *wl, int fd, const struct proxy_client *pc, char *buf,
                         size_t len, size_t cap);

/* ---- proxy_http.c ---- */

/*
 * Serve a client connection of wl as a forward proxy from its first
 * absolute-form request on. buf[0..len) holds the bytes read so far (the
 * request head first), cap its size; fd and buf are taken over, also on
 * failure, and so is pc's slot. The flow was counted by proxy_accept
 * (wlsn_flow_begin) and is ended by the forward proxy.
 */
void proxy_http_adopt(struct wlsn *wl, int fd, const struct proxy_client *pc, char *buf, size_t len,
                      size_t cap);

/*
 * The target of a forward-proxy request m (parsed by http1_parse_request):
 * host[0..hostsz) gets the host without brackets, *port the port (80 when
 * the target names none). Return NULL, or a static reason with *status 400
 * (not absolute-form, host too long) or 501 (a scheme other than http:
 * https:// is refused, TLS goes through CONNECT).
 */
const char *proxy_http_target(const struct http1_msg *m, char *host, size_t hostsz, uint16_t *port,
                              unsigned *status);

/* Close every forward-proxy connection of w (shutdown cut). */
void proxy_http_cut_all(struct worker *w);

#endif
