#include "conf_schema.h"
#include "jsonw.h"

#include <stdio.h>
#include <string.h>

static const char *const proto_names[] = {"tcp", "udp", NULL};
static const char *const mode_names[] = {"forward", "http", "connect", NULL};
static const char *const via_names[] = {"direct", "tunnel", NULL};
/* Stored as 1 + index (TUNNEL_CLIENT, TUNNEL_SERVER): 0 is "no tunnel section". */
static const char *const role_names[] = {"client", "server", NULL};
/* The order of enum conf_cc. */
static const char *const cc_names[] = {"cubic", "reno", "bbr", NULL};
/* Bit i is (1 << i): the order of CONF_ACCEPT_*. */
static const char *const accept_names[] = {"quic", "wireguard", "other", NULL};
/* Stored as 1 + index (AUTH_BASIC): 0 is "no auth group". */
static const char *const auth_names[] = {"basic", NULL};

#define G(f) offsetof(struct conf_global, f)
const struct conf_key conf_global_keys[] = {
    {"workers", K_INT, 0, G(workers), 0, 256, "0", NULL,
     "Worker threads, each with its own event loop and its own SO_REUSEPORT listening "
     "sockets. 0 means one per online CPU."},
    {"instance", K_STR, KF_DERIVED | KF_NAME | KF_NODOT, G(instance), 1, 64,
     "config file name without its extension", NULL,
     "Name of this instance; keeps the control socket and pinned BPF objects of two "
     "instances apart. Letters, digits, `_` and `-` (the BPF filesystem refuses dots); "
     "derived names have other characters, dots included, replaced by `_`."},
    {"control_socket", K_STR, KF_DERIVED | KF_PATH, G(control_socket), 1, 107,
     "`/run/kfwd/<instance>.sock`", NULL,
     "Unix socket for `kfwd stats` and the other inspection commands."},
    {"bpf_pin_path", K_STR, KF_PATH, G(bpf_pin_path), 1, 200, "/sys/fs/bpf/kfwd", NULL,
     "bpffs folder under which the instance pins its maps (in a subfolder named after "
     "the instance, removed at exit, as is this folder once empty). Under "
     "`/sys/fs/bpf`, kfwd mounts bpffs there if nothing is mounted yet, and unmounts "
     "it at exit if nothing else is pinned there."},
    {"fastpath_backlog", K_INT, 0, G(fastpath_backlog), 0, 268435456, "4194304", NULL,
     "TCP fast path: most bytes the kernel redirects toward a socket that are not yet "
     "in its send queue (they wait in its psock queue, charged to no socket). The "
     "verdict also redirects only what fits in the socket's free send-buffer space; "
     "beyond either bound it hands the bytes to kfwd instead, which charges them to "
     "the sending side so its TCP window closes. 0: the send-buffer rule alone. Read "
     "at start only."},
    {"fastpath_sndbuf", K_INT, 0, G(fastpath_sndbuf), 0, 268435456, "4194304", NULL,
     "TCP fast path: send buffer of both sockets of a spliced connection "
     "(SO_SNDBUFFORCE; the kernel doubles it). The kernel redirects a socket's bytes "
     "only into free send-buffer space, so a small buffer hands most bytes to kfwd's "
     "relay; it is charged memory, used only while a reader is slower than its writer. "
     "0 leaves the kernel's autotuning (which starts small). Read at start only."},
    {"fastpath_sndbuf_total", K_INT, 0, G(fastpath_sndbuf_total), 0, 2147483647, "0", NULL,
     "TCP fast path: the most `fastpath_sndbuf` bytes handed out at once, counted per "
     "socket (two per connection). A forced buffer is not shrunk by the kernel under TCP "
     "memory pressure, so hundreds of connections with slow readers can push the host "
     "past `tcp_mem`; past this total a new connection keeps autotuned buffers, and more "
     "of its bytes then go through kfwd's relay (CPU, and kfwd's own memory). `kfwd "
     "stats` shows the bytes in use and the connections refused one. 0: no cap. Read at "
     "start only."},
    {"interfaces", K_STRLIST, KF_IFNAME, G(interfaces), 0, 64, "(none: no XDP)", NULL,
     "Interfaces kfwd attaches its XDP program to (native mode where the driver has "
     "it, generic otherwise; the log says which): the UDP fast path and the front door "
     "(`sanitize`, `allow_sources`, `deny_sources`, `new_flow_rate`). List every "
     "interface that clients' and backends' packets arrive on. Forwarding in XDP needs "
     "IP forwarding enabled on them (sysctl `net.ipv4.conf.IF.forwarding`, "
     "`net.ipv6.conf.IF.forwarding`); without it flows stay on the userspace path and "
     "`kfwd stats` counts `fib_forwarding_off`. Read at start only."},
    {"xdp_forward", K_BOOL, 0, G(xdp_forward), 0, 0, "true", NULL,
     "With `interfaces`: after the first datagram of a UDP flow, kfwd installs the flow "
     "in the XDP program, which rewrites and forwards every later datagram of it "
     "(both ways) without kfwd's sockets. false: XDP is a front door only. Read at "
     "start only."},
    {"shutdown_grace_ms", K_INT, 0, G(shutdown_grace_ms), 0, 3600000, "10000", NULL,
     "On SIGTERM/SIGINT, how long live flows may drain after listeners close before "
     "they are cut."},
    {"dns", K_GROUP, 0, G(dns), 0, 0, "global.dns", NULL,
     "The resolver of `mode = \"connect\"` listeners; every key has a default."},
};

static const struct conf_key conf_dns_keys[] = {
    {"servers", K_STR, 0, G(dns.servers) - G(dns), 1, 1024, "(none: /etc/resolv.conf)", NULL,
     "Name servers as `IP[:PORT],...` (IPv6: `[addr]:port`), replacing the system's."},
    {"min_ttl_s", K_INT, 0, G(dns.min_ttl_s) - G(dns), 0, 86400, "5", NULL,
     "Answers are cached for at least this long, whatever their TTL."},
    {"max_ttl_s", K_INT, 0, G(dns.max_ttl_s) - G(dns), 0, 604800, "300", NULL,
     "Answers are cached for at most this long."},
    {"neg_ttl_s", K_INT, 0, G(dns.neg_ttl_s) - G(dns), 0, 86400, "5", NULL,
     "How long a failed name (no such name, no address) is remembered; 0: not at all."},
    {"timeout_ms", K_INT, 0, G(dns.timeout_ms) - G(dns), 100, 60000, "2000", NULL,
     "How long one query to one server may take before it is retried."},
    {"tries", K_INT, 0, G(dns.tries) - G(dns), 1, 10, "2", NULL,
     "Tries per server before the name counts as unresolved (502)."},
    {"happy_delay_ms", K_INT, 0, G(dns.happy_delay_ms) - G(dns), 10, 10000, "250", NULL,
     "Happy Eyeballs (RFC 8305): start connecting to the next address when the previous "
     "attempt has not completed after this long."},
};
#undef G

#define L(f) offsetof(struct conf_listener, f)
const struct conf_key conf_listener_keys[] = {
    {"name", K_STR, KF_REQUIRED | KF_NAME, L(name), 1, 63, "(required)", NULL,
     "Unique name; used in logs, stats and to match listeners across reloads."},
    {"bind", K_ADDR, KF_REQUIRED, L(bind), 0, 0, "(required)", NULL,
     "Listening address: `IP:PORT`, `[IPv6]:PORT`, `*:PORT` (IPv4 any) or `[::]:PORT` "
     "(IPv6 only; add a second listener for IPv4)."},
    {"proto", K_ENUM, 0, L(proto), 0, 0, "\"tcp\"", proto_names, "Transport: `tcp` or `udp`."},
    {"mode", K_ENUM, 0, L(mode), 0, 0, "\"forward\"", mode_names,
     "`forward`: relay every connection or datagram flow to a backend (with `via = "
     "\"tunnel\"`: to `target`, dialled by the tunnel's peer). `http`: HTTP/1.1 requests, "
     "carried as HTTP/3 requests to the peer's `upstreams.http`. `connect`: an HTTP "
     "CONNECT proxy: with `via = \"direct\"` kfwd checks the target against `allow`, "
     "`deny` and the default deny list, resolves it and connects; with `via = \"tunnel\"` "
     "the peer dials it if its `upstreams.allow` permits. With `via = \"direct\"` "
     "requests with an absolute-form `http://` target are forwarded too (see "
     "`forward_proxy`); other requests are answered with 405. `http` needs `via = "
     "\"tunnel\"` for now."},
    {"backends", K_ADDRLIST, KF_RESOLVE, L(backends), 1, 256, "(required for forward)", NULL,
     "List of `HOST:PORT` tried in order until one connects (TCP); UDP flows use the "
     "first. Names are resolved once, when the config is loaded."},
    {"idle_timeout_ms", K_INT, 0, L(idle_timeout_ms), 0, 604800000, "0", NULL,
     "Close a flow with no traffic in either direction for this long (close reason "
     "`idle_timeout`; a spliced TCP connection counts the kernel's bytes, checked at "
     "least once a second). 0 means the protocol default: 3600000 for TCP, 30000 for "
     "UDP."},
    {"max_lifetime_ms", K_INT, 0, L(max_lifetime_ms), 0, 2147483647, "0", NULL,
     "TCP (`forward` and `connect`): close a connection this long after it was "
     "accepted, whatever it is doing (close reason `max_lifetime`). 0: no limit. "
     "Spliced connections are checked by kfwd's policy timer, so they end within "
     "about 100 ms of the limit."},
    {"max_bytes", K_INT64, 0, L(max_bytes), 0, 9223372036854775807LL, "0", NULL,
     "TCP (`forward` and `connect`): close a connection once this many bytes have "
     "been relayed, both directions summed (close reason `max_bytes`). 0: no limit. "
     "Exact on both paths: no byte beyond the limit is relayed (on a spliced "
     "connection the kernel and kfwd draw from one shared budget), and every byte "
     "up to it reaches its peer: kfwd shuts its writes (FIN), reads and drops what "
     "the peers still send, and closes once both have acknowledged everything and "
     "ended their streams, or after 5 s."},
    {"max_rate_bps", K_INT64, 0, L(max_rate_bps), 0, 1099511627776LL, "0", NULL,
     "TCP (`forward` and `connect`): throttle each direction of a connection to this "
     "many BYTES per second (a token bucket holding 1/8 s of the rate, at least 16 "
     "KiB); the connection is slowed, never closed. kfwd stops reading the sender, "
     "whose TCP window then closes. A spliced connection keeps its kernel splice, "
     "limited to an allowance kfwd raises at the rate; past it the bytes go through "
     "kfwd at the rate. 0: no limit."},
    {"min_rate_bpm", K_INT64, 0, L(min_rate_bpm), 0, 1099511627776LL, "0", NULL,
     "TCP (`forward` and `connect`): close a connection that, after "
     "`min_rate_grace_ms`, relays fewer than this many bytes per minute (both "
     "directions summed), measured over each following `min_rate_grace_ms` window "
     "(close reason `min_rate`). 0: no minimum."},
    {"min_rate_grace_ms", K_INT, 0, L(min_rate_grace_ms), 100, 86400000, "60000", NULL,
     "With `min_rate_bpm`: how long a new connection may be slow, and the length of "
     "each window its rate is measured over after that."},
    {"connect_timeout_ms", K_INT, 0, L(connect_timeout_ms), 1, 600000, "5000", NULL,
     "How long a TCP connect to one backend may take before the next is tried."},
    {"max_flows", K_INT, 0, L(max_flows), 1, 10000000, "65536", NULL,
     "Concurrent connections (TCP) or flows (UDP) on this listener; beyond it new ones "
     "are refused and counted as `flow_limit`."},
    {"buffer_size", K_INT, 0, L(buffer_size), 4096, 16777216, "131072", NULL,
     "Bytes kfwd holds per direction of a TCP connection (a pipe); a reader that stops "
     "stalls its writer instead of growing memory."},
    {"fastpath", K_BOOL, 0, L(fastpath), 0, 0, "true", NULL,
     "TCP: splice connections in the kernel (sockmap; needs root or CAP_BPF + "
     "CAP_NET_ADMIN + CAP_PERFMON, and cgroup2). kfwd still reads the first bytes "
     "and every FIN/RST; the rest never reaches userspace while readers keep up. If "
     "the fast path cannot start, kfwd logs why once and the listener runs on the "
     "userspace path (`kfwd stats` shows each listener's path). `false`: always the "
     "userspace relay. Turning it on by reload works only if some listener had it at "
     "start."},
    {"sanitize", K_BOOL, 0, L(sanitize), 0, 0, "false", NULL,
     "UDP, needs `interfaces`: the XDP program classifies the first datagram of every "
     "new flow and drops it, before any socket sees it, unless its protocol is in "
     "`accept`. Counted per listener by class and as `sanitize` drops."},
    {"accept", K_FLAGS, 0, L(accept), 1, 3, "(none)", accept_names,
     "With `sanitize = true`: the protocols a new flow may start with. `quic`: a QUIC "
     "v1 or v2 long-header Initial in a datagram of at least 1200 bytes; `wireguard`: a "
     "WireGuard handshake initiation (type 1, 148 bytes); `other`: anything else "
     "(including QUIC short headers)."},
    {"allow_sources", K_PREFIXLIST, 0, L(allow_sources), 1, 4096, "(none: every source)", NULL,
     "Needs `interfaces`: only sources in these prefixes (`10.0.0.0/8`, `fd00::/8`, "
     "or single addresses) may reach the listener; the rest is dropped in XDP. With "
     "`deny_sources` as well, the longest matching prefix of either list decides."},
    {"deny_sources", K_PREFIXLIST, 0, L(deny_sources), 1, 4096, "(none)", NULL,
     "Needs `interfaces`: sources in these prefixes are dropped in XDP (TCP: every "
     "segment to the listener; UDP: every datagram not of an established flow)."},
    {"new_flow_rate", K_INT, 0, L(new_flow_rate), 0, 10000000, "0", NULL,
     "Needs `interfaces`: new flows (UDP datagrams of no known flow, TCP SYNs) each "
     "source may open per second; the excess is dropped in XDP and counted as `rate`. "
     "Established flows are never throttled. 0: no limit."},
    {"new_flow_burst", K_INT, 0, L(new_flow_burst), 0, 10000000, "0", NULL,
     "How many new flows a source may open at once before `new_flow_rate` applies. "
     "0: as many as `new_flow_rate`."},
    {"via", K_ENUM, 0, L(via), 0, 0, "\"direct\"", via_names,
     "`direct`: kfwd connects to the backends itself. `tunnel`: every connection is "
     "carried to the peer over the QUIC tunnel (needs a `tunnel` section with `role = "
     "\"client\"`; TCP only)."},
    {"target", K_STR, KF_HOSTPORT, L(target), 3, 261, "(required for forward via tunnel)", NULL,
     "`mode = \"forward\"` via the tunnel: `HOST:PORT` or `[IPv6]:PORT` the peer connects "
     "to (resolved by the peer, checked against its `upstreams.allow`). Replaces "
     "`backends`."},
    {"forwarded", K_BOOL, 0, L(forwarded), 0, 0, "false", NULL,
     "`mode = \"http\"`: add a `Forwarded` header (RFC 7239) naming the client."},
    {"header_limit", K_INT, 0, L(header_limit), 1024, 1048576, "16384", NULL,
     "`mode = \"http\"` and `\"connect\"`: the largest request header block, in bytes; "
     "a larger one is answered with 431. Via the tunnel at most 262144 (the "
     "stream's buffer, which also takes the bytes sent behind the head)."},
    {"allow", K_STRLIST, KF_ACL, L(allow), 0, 4096, "(none: every target not denied)", NULL,
     "`mode = \"connect\"`: if set, a target must match one of these patterns: `host`, "
     "`*.zone`, an IPv4 or IPv6 address or CIDR prefix, each optionally followed by "
     "`:port` or `:lo-hi` (IPv6 with a port: `[addr]:port`). A name is allowed by a name "
     "pattern or, once resolved, by address patterns matching every address. An address "
     "listed here also lifts the default deny list for it."},
    {"deny", K_STRLIST, KF_ACL, L(deny), 0, 4096, "(none)", NULL,
     "`mode = \"connect\"`: targets refused with 403, same patterns as `allow`; checked "
     "against the requested name and every address it resolves to. Besides these, a "
     "default list is refused unless `allow` names the address: loopback "
     "(`127.0.0.0/8`, `::1`, `localhost`, `*.localhost`), link-local (`169.254.0.0/16` with "
     "the metadata address `169.254.169.254`, `fe80::/10`), unspecified (`0.0.0.0/8`, `::`) "
     "and the proxy's own listening addresses and ports (each local address for a "
     "wildcard bind)."},
    {"auth", K_GROUP, 0, L(auth), 0, 0, "listener.auth", NULL,
     "`mode = \"connect\"`: require proxy credentials (407 otherwise)."},
    {"request_timeout_ms", K_INT, 0, L(request_timeout_ms), 100, 600000, "10000", NULL,
     "`mode = \"connect\"`: the request head must be complete this long after accept; "
     "else 408."},
    {"log_client_address", K_BOOL, 0, L(log_client_address), 0, 0, "false", NULL,
     "`mode = \"connect\"`: name the client's address in access-log records."},
    {"forward_proxy", K_BOOL, 0, L(forward_proxy), 0, 0, "true", NULL,
     "`mode = \"connect\"` with `via = \"direct\"`: also act as a plain HTTP forward "
     "proxy, like squid: a request with an absolute-form target (`GET "
     "http://host[:port]/path HTTP/1.1`, any method) passes the same auth and ACL checks "
     "as CONNECT, is sent to the target in origin-form without hop-by-hop fields, and "
     "client and target connections are kept alive between requests (one target "
     "connection per client connection, replaced when the next request names another "
     "host:port). `https://` targets are refused with 501 (use CONNECT). `false`: only "
     "CONNECT; other methods get 405. Via the tunnel this key has no effect yet."},
};

static const struct conf_key conf_auth_keys[] = {
    {"type", K_ENUM, KF_REQUIRED, L(auth.type) - L(auth), 1, 0, "(required)", auth_names,
     "`basic`: `Proxy-Authorization: Basic` checked against `users_file`."},
    {"users_file", K_STR, KF_REQUIRED | KF_PATH | KF_READABLE, L(auth.users_file) - L(auth), 1,
     4096, "(required)", NULL,
     "Lines written by `kfwd passwd USER` (salted PBKDF2-SHA256); relative to the config "
     "file's folder; read at start and at each reload."},
};
#undef L

#define T(f) offsetof(struct conf_tunnel, f)
const struct conf_key conf_tunnel_keys[] = {
    {"role", K_ENUM, KF_REQUIRED, T(role), 1, 0, "(required)", role_names,
     "`client`: connects to `peer` and carries the local listeners' connections with "
     "`via = \"tunnel\"`. `server`: accepts the client on `bind` and serves its requests "
     "from `upstreams`."},
    {"peer", K_STR, KF_HOSTPORT, T(peer), 3, 261, "(required for client)", NULL,
     "Client: `HOST:PORT` or `[IPv6]:PORT` of the server (UDP). A name is resolved again "
     "at each connection attempt."},
    {"bind", K_ADDR, 0, T(bind), 0, 0, "(required for server)", NULL,
     "Server: the UDP address to listen on, `IP:PORT`, `[IPv6]:PORT`, `*:PORT` or "
     "`[::]:PORT` (IPv6 only). On a wildcard address each reply leaves from the "
     "address its client sent to (IP_PKTINFO), so multi-homed hosts work."},
    {"peer_name", K_STR, KF_REQUIRED, T(peer_name), 1, 253, "(required)", NULL,
     "The name the peer's certificate must carry (subjectAltName); checked after the "
     "handshake on both sides."},
    {"tls", K_GROUP, KF_REQUIRED, 0, 0, 0, "tunnel.tls", NULL,
     "Certificates for mutual TLS (TLS 1.3, ALPN `h3`)."},
    {"transport", K_GROUP, 0, T(transport), 0, 0, "tunnel.transport", NULL,
     "QUIC transport knobs; every key has a default."},
};

static const struct conf_key conf_tls_keys[] = {
    {"ca", K_STR, KF_REQUIRED | KF_PATH | KF_READABLE, T(ca), 1, 4096, "(required)", NULL,
     "PEM file of the CA(s) the peer's certificate must chain to."},
    {"cert", K_STR, KF_REQUIRED | KF_PATH | KF_READABLE, T(cert), 1, 4096, "(required)", NULL,
     "PEM file of this side's certificate (and any intermediates after it)."},
    {"key", K_STR, KF_REQUIRED | KF_PATH | KF_READABLE, T(key), 1, 4096, "(required)", NULL,
     "PEM file of this side's private key; keep it mode 0600."},
};
#undef T

#define X(f) offsetof(struct conf_transport, f)
static const struct conf_key conf_transport_keys[] = {
    {"initial_rtt_ms", K_INT, 0, X(initial_rtt_ms), 1, 10000, "100", NULL,
     "Round-trip time assumed before the first measurement (sets the first "
     "retransmission timeout)."},
    {"cc", K_ENUM, 0, X(cc), 0, 0, "\"cubic\"", cc_names, "Congestion control algorithm."},
    {"max_idle_timeout_ms", K_INT, 0, X(max_idle_timeout_ms), 1000, 3600000, "30000", NULL,
     "The connection closes after this long without a packet from the peer (the lower "
     "of both sides' values applies)."},
    {"keep_alive_ms", K_INT, 0, X(keep_alive_ms), 0, 3600000, "2000", NULL,
     "Send a PING after this long without traffic, so that an idle tunnel stays up and a "
     "dead peer is noticed. 0: no pings. Must be below `max_idle_timeout_ms`."},
    {"connect_interval_ms", K_INT, 0, X(connect_interval_ms), 10, 3600000, "1000", NULL,
     "Client: pause between the end of a failed or lost connection and the next attempt."},
    {"handshake_timeout_ms", K_INT, 0, X(handshake_timeout_ms), 100, 600000, "10000", NULL,
     "A handshake not complete after this long is abandoned (and, on the client, retried)."},
    {"initial_max_data", K_INT, 0, X(initial_max_data), 65536, 1073741824, "16777216", NULL,
     "Bytes the peer may send on the whole connection before the first window update; "
     "grows by autotuning up to `max_window`."},
    {"initial_max_stream_data", K_INT, 0, X(initial_max_stream_data), 65536, 1073741824, "4194304",
     NULL,
     "Bytes the peer may send on each stream before its first window update; every new "
     "stream starts here, so size it for one request or connection."},
    {"max_window", K_INT, 0, X(max_window), 65536, 1073741824, "67108864", NULL,
     "Autotuning cap of the connection window; at least `initial_max_data`."},
    {"max_stream_window", K_INT, 0, X(max_stream_window), 65536, 1073741824, "33554432", NULL,
     "Autotuning cap of each stream's window; at least `initial_max_stream_data`."},
    {"max_streams", K_INT, 0, X(max_streams), 1, 65536, "1024", NULL,
     "Concurrent requests and connections the peer may carry (bidirectional streams)."},
    {"max_udp_payload", K_INT, 0, X(max_udp_payload), 1232, 65507, "1452", NULL,
     "Largest UDP payload the tunnel sends. Packets start at 1200 bytes and path MTU "
     "discovery (probes that must come back acknowledged; DF set) raises them step by step "
     "(1452, 8952, 16336, 32720, then this value) up to this size; a size lost three times "
     "ends the climb. 1452 fits a 1500-byte MTU over IPv4 and IPv6. On a jumbo-frame link "
     "set 8952 (MTU 9000), on loopback or a virtual link up to 65507; fewer, larger packets "
     "cost less CPU per byte. Both peers' values apply, each to what it sends."},
    {"stream_buffer", K_INT, 0, X(stream_buffer), 262144, 67108864, "4194304", NULL,
     "Most bytes one stream reads from its TCP socket ahead of the peer's acknowledgements "
     "(rounded up to a power of two); they stay buffered until acked, so one stream moves "
     "at most this much per round trip. A stream starts with 256 KiB and doubles its buffer, "
     "up to this size, each time the tunnel empties a full one; a stalled tunnel never "
     "grows it. While the buffer is full the TCP socket is not read."},
    {"udp_rcvbuf", K_INT, 0, X(udp_rcvbuf), 0, 1073741824, "8388608", NULL,
     "Receive buffer of the UDP socket (SO_RCVBUFFORCE, else SO_RCVBUF); 0: the system's "
     "default."},
    {"udp_sndbuf", K_INT, 0, X(udp_sndbuf), 0, 1073741824, "8388608", NULL,
     "Send buffer of the UDP socket (SO_SNDBUFFORCE, else SO_SNDBUF); 0: the system's "
     "default."},
    {"gso", K_BOOL, 0, X(gso), 0, 0, "true", NULL,
     "Send batches of packets with UDP generic segmentation offload (UDP_SEGMENT)."},
    {"gro", K_BOOL, 0, X(gro), 0, 0, "true", NULL,
     "Receive coalesced packets with UDP generic receive offload (UDP_GRO)."},
};
#undef X

#define U(f) offsetof(struct conf_upstreams, f)
const struct conf_key conf_upstreams_keys[] = {
    {"http", K_ADDR, KF_RESOLVE, U(http), 0, 0, "(none: http requests get 502)", NULL,
     "Where the client's `mode = \"http\"` requests go, as HTTP/1.1 over a keep-alive pool: "
     "`HOST:PORT` or `[IPv6]:PORT`, resolved once at load."},
    {"allow", K_STRLIST, KF_ACL, U(allow), 0, 4096, "(none: every target refused)", NULL,
     "Targets the client's `connect` and `forward` streams may reach: `host`, `*.zone`, "
     "an IPv4 or IPv6 address or CIDR prefix, each optionally followed by `:port` or "
     "`:lo-hi` (IPv6 with a port: `[addr]:port`, `[addr/len]:lo-hi`)."},
    {"connect_timeout_ms", K_INT, 0, U(connect_timeout_ms), 1, 600000, "5000", NULL,
     "How long a connection to an upstream may take; beyond it the stream is answered "
     "with 504."},
    {"response_timeout_ms", K_INT, 0, U(response_timeout_ms), 1, 3600000, "30000", NULL,
     "`http`: how long the upstream may take to send its response head, counted from the "
     "request's last byte written to it (then 504)."},
    {"pool_idle", K_INT, 0, U(pool_idle), 0, 4096, "32", NULL,
     "`http`: idle keep-alive connections to `http` kept for reuse (one request at a time "
     "on each; 0: a new connection per request)."},
};
#undef U

const size_t conf_nglobal_keys = sizeof(conf_global_keys) / sizeof(conf_global_keys[0]);
const size_t conf_nlistener_keys = sizeof(conf_listener_keys) / sizeof(conf_listener_keys[0]);
const size_t conf_ntunnel_keys = sizeof(conf_tunnel_keys) / sizeof(conf_tunnel_keys[0]);
const size_t conf_nupstreams_keys = sizeof(conf_upstreams_keys) / sizeof(conf_upstreams_keys[0]);
#define NKEYS(t) (sizeof(t) / sizeof(t[0]))

static const struct section sections[] = {
    {"global", conf_global_keys, NKEYS(conf_global_keys),
     "Process-wide settings: `global = { ... };`"},
    {"listeners", conf_listener_keys, NKEYS(conf_listener_keys),
     "A list of groups, one per listener: `listeners = ( { ... }, { ... } );`"},
    {"global.dns", conf_dns_keys, NKEYS(conf_dns_keys),
     "`global = { dns = { ... }; };` The resolver of `mode = \"connect\"` listeners and of "
     "the tunnel (the client's `peer` name, the server's targets) (c-ares, one per worker "
     "and one for the tunnel, with a cache honouring record TTLs within these bounds)."},
    {"listener.auth", conf_auth_keys, NKEYS(conf_auth_keys),
     "`listeners = ( { mode = \"connect\"; auth = { ... }; } );`"},
    {"tunnel", conf_tunnel_keys, NKEYS(conf_tunnel_keys),
     "The QUIC tunnel with mutual TLS to one peer: `tunnel = { role = \"client\"; ... };`. "
     "Optional; a server needs no `listeners`."},
    {"tunnel.tls", conf_tls_keys, NKEYS(conf_tls_keys),
     "`tunnel = { tls = { ... }; };` Paths are relative to the config file's folder; "
     "the files must be readable when the config is loaded."},
    {"tunnel.transport", conf_transport_keys, NKEYS(conf_transport_keys),
     "`tunnel = { transport = { ... }; };` Sizes in bytes."},
    {"upstreams", conf_upstreams_keys, NKEYS(conf_upstreams_keys),
     "Tunnel server only: what the client's requests and streams may reach: "
     "`upstreams = { ... };`"},
};

const struct section *conf_section(const char *name)
{
	for (size_t s = 0; s < NKEYS(sections); s++)
		if (!strcmp(sections[s].name, name))
			return &sections[s];
	return NULL;
}

const char *conf_proto_name(int proto)
{
	return proto_names[proto];
}

const char *conf_mode_name(int mode)
{
	return mode_names[mode];
}

static const char *kind_doc(const struct conf_key *k)
{
	switch (k->kind) {
	case K_INT:
	case K_INT64:
		return "integer";
	case K_BOOL:
		return "boolean";
	case K_STR:
		return (k->flags & KF_PATH) ? "path" : "string";
	case K_ENUM:
		return "string (choice)";
	case K_ADDR:
		return "address";
	case K_ADDRLIST:
		return "list of addresses";
	case K_STRLIST:
		return (k->flags & KF_IFNAME) ? "list of interface names" : "list of strings";
	case K_FLAGS:
		return "list of choices";
	case K_PREFIXLIST:
		return "list of prefixes";
	case K_GROUP:
		return "group";
	}
	return "?";
}

void conf_schema_markdown(struct buf *b)
{
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		const struct section *sec = &sections[s];
		buf_printf(b, "## `%s`\n\n%s\n\n", sec->name, sec->doc);
		buf_printf(b,
		           "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n");
		for (size_t i = 0; i < sec->nkeys; i++) {
			const struct conf_key *k = &sec->keys[i];
			char allowed[160] = "";
			if (k->kind == K_INT || k->kind == K_INT64)
				snprintf(allowed, sizeof(allowed), "%lld to %lld", k->min, k->max);
			else if (k->kind == K_STR)
				snprintf(allowed, sizeof(allowed), "%lld to %lld characters%s",
				         k->min, k->max,
				         (k->flags & KF_NAME) ? ", `[A-Za-z0-9_.-]`" : "");
			else if (k->kind == K_ADDRLIST || k->kind == K_STRLIST ||
			         k->kind == K_PREFIXLIST)
				snprintf(allowed, sizeof(allowed), "%lld to %lld entries", k->min,
				         k->max);
			else if (k->kind == K_ENUM || k->kind == K_FLAGS)
				for (int c = 0; k->choices[c]; c++) {
					strncat(allowed, c ? ", `" : "`",
					        sizeof(allowed) - strlen(allowed) - 1);
					strncat(allowed, k->choices[c],
					        sizeof(allowed) - strlen(allowed) - 1);
					strncat(allowed, "`",
					        sizeof(allowed) - strlen(allowed) - 1);
				}
			bool plain =
			    k->def[0] == '(' || (k->flags & KF_DERIVED) || k->kind == K_GROUP;
			buf_printf(b, "| `%s` | %s | %s%s%s | %s | %s |\n", k->name, kind_doc(k),
			           plain ? "" : "`", k->kind == K_GROUP ? "" : k->def,
			           plain ? "" : "`", allowed, k->doc);
		}
		buf_printf(b, "\n");
	}
}
