/*
 * Configuration: a libconfig file checked against a declarative schema
 * (key, type, bounds, default, field offset). Every problem is reported as
 * "FILE:LINE: message"; loading collects all of them rather than stopping at
 * the first.
 */
#ifndef KFWD_CONF_H
#define KFWD_CONF_H
#include "addr.h"

#include <stdbool.h>
#include <stddef.h>

enum conf_proto { PROTO_TCP, PROTO_UDP };
enum conf_mode {
	MODE_FORWARD, /* bytes to a backend (or, via the tunnel, to listener.target) */
	MODE_HTTP,    /* HTTP/1.1 requests (via the tunnel: to upstreams.http) */
	MODE_CONNECT  /* HTTP CONNECT proxy (via the tunnel: dialled by the peer) */
};
enum conf_via { VIA_DIRECT, VIA_TUNNEL };

struct conf_addr {
	char *text;      /* as written */
	struct addr a;   /* parsed (or resolved at load) */
	int line;
};

struct conf_addrlist {
	struct conf_addr *v;
	size_t n;
};

struct conf_strlist {
	char **v;
	size_t n;
};

/* An address prefix ("10.0.0.0/8", "fd00::/8", or one address). */
struct conf_prefix {
	char *text;       /* as written */
	int family;       /* AF_INET, AF_INET6 */
	unsigned char addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	int len;          /* prefix length in bits */
	int line;
};

struct conf_prefixlist {
	struct conf_prefix *v;
	size_t n;
};

/* conf_listener.accept: protocols a sanitizing UDP listener lets in. */
#define CONF_ACCEPT_QUIC      0x1 /* QUIC v1/v2 Initial */
#define CONF_ACCEPT_WIREGUARD 0x2 /* WireGuard handshake initiation */
#define CONF_ACCEPT_OTHER     0x4 /* anything else */

/* global.dns: the resolver of the CONNECT proxy. */
struct conf_dns {
	char *servers;           /* "ip[:port],..." or NULL: /etc/resolv.conf */
	int min_ttl_s, max_ttl_s, neg_ttl_s;
	int timeout_ms;          /* per query try */
	int tries;
	int happy_delay_ms;      /* RFC 8305 connection attempt delay */
};

/* conf_listener.auth: proxy authentication (mode connect). */
enum conf_auth_type { AUTH_NONE, AUTH_BASIC };
struct conf_auth {
	int type;                /* enum conf_auth_type; AUTH_NONE when the group is absent */
	char *users_file;        /* absolute; `kfwd passwd` lines */
};

struct acl;
struct auth_db;

struct conf_listener {
	int refcnt;              /* atomic; conf_listener_ref/unref */
	int line;                /* where the listener's group starts */
	bool invalid;            /* load only: its own keys had errors */
	char *name;
	struct conf_addr bind;
	int proto;               /* enum conf_proto */
	int mode;                /* enum conf_mode */
	struct conf_addrlist backends;
	int idle_timeout_ms;     /* 0: protocol default (see conf_idle_ms) */
	int connect_timeout_ms;
	/* Relay policy of TCP connections (forward and connect), 0: off: */
	int max_lifetime_ms;     /* close this long after accept */
	long long max_bytes;     /* close once both directions together relayed this many */
	long long max_rate_bps;  /* throttle each direction to this many bytes per second */
	long long min_rate_bpm;  /* close below this many bytes per minute ... */
	int min_rate_grace_ms;   /* ... after this long, measured over windows this long */
	int max_flows;
	int buffer_size;
	bool fastpath;           /* TCP: let the kernel splice connections (experimental) */
	/* XDP front door (global.interfaces): */
	bool sanitize;           /* UDP: drop new flows of protocols not in accept */
	int accept;              /* CONF_ACCEPT_* bits */
	struct conf_prefixlist allow_sources;
	struct conf_prefixlist deny_sources;
	int new_flow_rate;       /* new flows per second and source; 0: no limit */
	int new_flow_burst;      /* 0: new_flow_rate */
	/* The QUIC tunnel (tunnel section): */
	int via;                 /* enum conf_via */
	char *target;            /* via tunnel, mode forward: "host:port" the peer dials */
	bool forwarded;          /* mode http: add a Forwarded header (RFC 7239) */
	int header_limit;        /* mode http/connect: request header block limit, bytes */
	/* The CONNECT proxy (mode connect, via direct): */
	struct conf_strlist allow; /* ACL patterns (acl.h) a target must match, if any */
	struct conf_strlist deny;  /* ACL patterns a target must not match */
	struct conf_auth auth;
	int request_timeout_ms;  /* the request head must be complete by then (408) */
	bool log_client_address; /* name the client in access-log records */
	bool forward_proxy;      /* absolute-form requests are forwarded (proxy_http.c) */
	/* Built by conf_check_proxy from the keys above, freed with the listener: */
	struct acl *acl_allow, *acl_deny;
	struct acl *acl_default; /* loopback, link-local, unspecified, our own binds */
	struct auth_db *auth_db; /* loaded users_file, NULL without auth */
	uint64_t auth_gen;       /* unique per load of auth_db: keys the auth caches */
	struct conf_dns dns;     /* copy of global.dns (servers owned) for the workers */
};

struct conf_global {
	int workers;             /* 0: one per online CPU */
	char *instance;
	char *control_socket;
	char *bpf_pin_path;
	int fastpath_backlog;    /* bytes; the splice verdict's peer-backlog limit */
	int fastpath_sndbuf;     /* bytes; send buffer of spliced sockets, 0: autotuning */
	int fastpath_sndbuf_total; /* bytes; the most fastpath_sndbuf handed out at once, 0: no cap */
	struct conf_strlist interfaces; /* XDP attaches here; empty: no XDP */
	bool xdp_forward;        /* forward installed UDP flows in XDP */
	int shutdown_grace_ms;
	struct conf_dns dns;
};

enum conf_tunnel_role { TUNNEL_NONE, TUNNEL_CLIENT, TUNNEL_SERVER };
enum conf_cc { CC_CUBIC, CC_RENO, CC_BBR };

/* QUIC transport knobs of the tunnel (tunnel.transport). Sizes in bytes. */
struct conf_transport {
	int initial_rtt_ms;
	int cc;                      /* enum conf_cc */
	int max_idle_timeout_ms;
	int keep_alive_ms;           /* 0: no keep-alive pings */
	int connect_interval_ms;     /* client: pause between connection attempts */
	int handshake_timeout_ms;
	int initial_max_data;        /* connection window we grant at start */
	int initial_max_stream_data; /* per-stream window we grant at start */
	int max_window;              /* connection window autotuning cap */
	int max_stream_window;       /* per-stream window autotuning cap */
	int max_streams;             /* concurrent bidirectional streams the peer may open */
	int max_udp_payload;         /* largest UDP payload PMTU discovery may reach */
	int stream_buffer;           /* per-stream TCP -> QUIC buffer (unacked bytes) */
	int udp_rcvbuf;
	int udp_sndbuf;
	bool gso;
	bool gro;
};

/* The tunnel section; role TUNNEL_NONE when absent. */
struct conf_tunnel {
	int role;                    /* enum conf_tunnel_role */
	int line;
	bool invalid;                /* load only: its own keys had errors */
	char *peer;                  /* client: "host:port", resolved at each attempt */
	struct conf_addr bind;       /* server: UDP address to listen on; client: unset */
	char *peer_name;             /* name the peer's certificate must carry */
	char *ca, *cert, *key;       /* tls.*, made absolute against the config's folder */
	struct conf_transport transport;
};

/* The upstreams section (tunnel server): what the peer's requests may reach. */
struct conf_upstreams {
	int line;
	struct conf_addr http;       /* mode http requests go here; text NULL: refused */
	struct conf_strlist allow;   /* CONNECT / forward targets, ACL patterns (acl.h) */
	int connect_timeout_ms;
	int response_timeout_ms;     /* http: upstream response header timeout -> 504 */
	int pool_idle;               /* http: idle keep-alive connections kept */
};

struct conf {
	char *path;
	struct conf_global global;
	struct conf_tunnel tunnel;
	struct conf_upstreams upstreams;
	struct conf_listener **listeners;
	size_t nlisteners;
};

/* Collected problems, each already formatted as "FILE:LINE: message". */
struct conf_errs {
	char **msg;
	size_t n;
};

/*
 * Load and check path. On success return 0 and set *out (free with conf_free).
 * On failure return -EINVAL (or -ENOMEM) with every problem in errs; *out is NULL.
 * errs must be zero-initialized; free it with conf_errs_free.
 */
int conf_load(const char *path, struct conf **out, struct conf_errs *errs);
/* Same, from text; name is used in messages and as the base for relative paths. */
int conf_load_string(const char *name, const char *text, struct conf **out, struct conf_errs *errs);
void conf_free(struct conf *c);
void conf_errs_free(struct conf_errs *e);

/* Listener configs are shared by the workers and outlive a reload while flows use them. */
struct conf_listener *conf_listener_ref(struct conf_listener *l);
void conf_listener_unref(struct conf_listener *l);

/*
 * Whether a and b have the same tunnel section (both none, or every key equal,
 * tls and transport included). The daemon cannot change a running tunnel, so
 * a reload with a different one is rejected.
 */
bool conf_tunnel_same(const struct conf *a, const struct conf *b);

/* Whether a and b need the same listening socket (same proto and bind address). */
bool conf_listener_same_socket(const struct conf_listener *a, const struct conf_listener *b);
/* Effective idle timeout in ms. */
int conf_idle_ms(const struct conf_listener *l);
/* Effective worker count. */
int conf_workers(const struct conf *c);

/* Parse "ADDR/LEN" or "ADDR" into p (text and line are left unset). Return 0,
 * or -EINVAL with a static explanation in *why. */
int conf_prefix_parse(const char *text, struct conf_prefix *p, const char **why);

const char *conf_proto_name(int proto);
const char *conf_mode_name(int mode);

/* Write the schema (every key, type, bounds, default, meaning) as Markdown. */
struct buf;
void conf_schema_markdown(struct buf *out);

#endif
