/*
 * The HTTP CONNECT proxy (listener mode "connect", via direct): read and
 * parse the request head, authenticate, check the target against the
 * listener's ACLs, resolve it (dns.h), check every address, race the
 * connections (happy.h), answer 200 and hand both sockets plus the bytes the
 * client pipelined behind its request to the TCP relay (tcp_relay_adopt).
 * Every refusal is a small response naming the reason, counted per listener
 * by status (stats.h ERR_HTTP_*). Each tunnel writes one access-log record
 * when it ends.
 */
#ifndef KFWD_PROXY_H
#define KFWD_PROXY_H
#include "daemon.h"

/* A connection accepted on a mode connect listener (tcp_accept_cb): takes fd.
 * Its first absolute-form request hands it to the forward proxy
 * (proxy_http.c, with forward_proxy on), which hands a later CONNECT back. */
void proxy_accept(struct wlsn *wl, int fd);

/* Close every connection of w still negotiating (shutdown cut). */
void proxy_cut_all(struct worker *w);

/* Free w's resolver and auth cache; after proxy_cut_all, at worker exit. */
void proxy_worker_free(struct worker *w);

#endif
