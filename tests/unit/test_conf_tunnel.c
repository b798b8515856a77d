/* conf: the tunnel and upstreams sections, listener via/target, and every
 * tunnel-related validation error with its line. */
#include "conf.h"
#include "conf_errs_text.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct conf *C;
static struct conf_errs E;
static char dir[64];   /* holds the TLS files; the config "lives" here */
static char name[128]; /* dir/t.conf */

/* The TLS files only need to be readable for the loader. */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kfwd-conf-tunnel-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(name, sizeof(name), "%s/t.conf", dir);
	static const char *const files[] = {"ca.pem", "me.pem", "me.key"};
	for (size_t i = 0; i < 3; i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fputs("-----BEGIN PLACEHOLDER-----\n", f);
		fclose(f);
	}
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/adir", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
}

static void teardown(void)
{
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(conf_tunnel, .init = setup, .fini = teardown, .timeout = 30);

static void reset(void)
{
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
}

static void load_ok(const char *text)
{
	reset();
	int rc = conf_load_string(name, text, &C, &E);
	cr_assert_eq(rc, 0, "conf_load_string = %d, errors:%s", rc, conf_errs_text(&E));
	cr_assert_eq(E.n, 0, "errors:%s", conf_errs_text(&E));
}

/* text fails with exactly one message, at line, containing needle. */
static void expect_only(const char *text, int line, const char *needle)
{
	reset();
	int rc = conf_load_string(name, text, &C, &E);
	cr_assert_eq(rc, -EINVAL, "conf_load_string = %d, want -EINVAL", rc);
	cr_assert_null(C);
	char prefix[192];
	snprintf(prefix, sizeof(prefix), "%s:%d: ", name, line);
	cr_expect_eq(E.n, 1, "want one error (%s%s), got:%s", prefix, needle, conf_errs_text(&E));
	bool found = false;
	for (size_t i = 0; i < E.n; i++)
		found |= !strncmp(E.msg[i], prefix, strlen(prefix)) &&
		         strstr(E.msg[i] + strlen(prefix), needle);
	cr_expect(found, "want \"%s...%s...\", got:%s", prefix, needle, conf_errs_text(&E));
}

#define TLS "  tls = { ca = \"ca.pem\"; cert = \"me.pem\"; key = \"me.key\"; };\n"
/* A client tunnel section of 5 lines. */
#define CLIENT                                                                                     \
	"tunnel = {\n"                                                                             \
	"  role = \"client\";\n"                                                                   \
	"  peer = \"gw-b.example.net:20010\";\n"                                                   \
	"  peer_name = \"gw-b.example.net\";\n" TLS "};\n"
/* A server tunnel section of 5 lines. */
#define SERVER                                                                                     \
	"tunnel = {\n"                                                                             \
	"  role = \"server\";\n"                                                                   \
	"  bind = \"[::]:20010\";\n"                                                               \
	"  peer_name = \"gw-a.example.net\";\n" TLS "};\n"
#define FWD_LSN                                                                                    \
	"listeners = ( { name = \"db\"; bind = \"127.0.0.1:15432\"; via = \"tunnel\"; "            \
	"target = \"db.internal:5432\"; } );\n"

/* ---- valid configs ---- */

Test(conf_tunnel, client_values_and_defaults)
{
	load_ok(
	    CLIENT /* lines 1-6 */
	    "listeners = (\n"
	    "  { name = \"api\"; bind = \"127.0.0.1:20080\"; mode = \"http\"; via = \"tunnel\";\n"
	    "    forwarded = true; header_limit = 4096; },\n"
	    "  { name = \"prox\"; bind = \"127.0.0.1:3129\"; mode = \"connect\"; via = "
	    "\"tunnel\"; },\n"
	    "  { name = \"db\"; bind = \"127.0.0.1:15432\"; mode = \"forward\"; via = \"tunnel\";\n"
	    "    target = \"db.internal:5432\"; },\n"
	    "  { name = \"v6\"; bind = \"127.0.0.1:15433\"; via = \"tunnel\"; target = "
	    "\"[fd00::5]:443\"; },\n"
	    "  { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" ); }\n"
	    ");\n");
	const struct conf_tunnel *t = &C->tunnel;
	cr_assert_eq(t->role, TUNNEL_CLIENT);
	cr_assert_eq(t->line, 1);
	cr_assert_str_eq(t->peer, "gw-b.example.net:20010");
	cr_assert_null(t->bind.text);
	cr_assert_str_eq(t->peer_name, "gw-b.example.net");
	char want[160];
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	cr_assert_str_eq(t->ca, want, "paths are taken from the config's folder");
	snprintf(want, sizeof(want), "%s/me.pem", dir);
	cr_assert_str_eq(t->cert, want);
	snprintf(want, sizeof(want), "%s/me.key", dir);
	cr_assert_str_eq(t->key, want);

	const struct conf_transport *tr = &t->transport;
	cr_assert_eq(tr->initial_rtt_ms, 100);
	cr_assert_eq(tr->cc, CC_CUBIC);
	cr_assert_eq(tr->max_idle_timeout_ms, 30000);
	cr_assert_eq(tr->keep_alive_ms, 2000);
	cr_assert_eq(tr->connect_interval_ms, 1000);
	cr_assert_eq(tr->handshake_timeout_ms, 10000);
	cr_assert_eq(tr->initial_max_data, 16 << 20);
	cr_assert_eq(tr->initial_max_stream_data, 4 << 20);
	cr_assert_eq(tr->max_window, 64 << 20);
	cr_assert_eq(tr->max_stream_window, 32 << 20);
	cr_assert_eq(tr->max_streams, 1024);
	cr_assert_eq(tr->udp_rcvbuf, 8 << 20);
	cr_assert_eq(tr->udp_sndbuf, 8 << 20);
	cr_assert(tr->gso);
	cr_assert(tr->gro);
	cr_assert_eq(C->upstreams.line, 0, "no upstreams section");

	cr_assert_eq(C->nlisteners, 5);
	struct conf_listener *const *l = C->listeners;
	cr_assert_eq(l[0]->mode, MODE_HTTP);
	cr_assert_str_eq(conf_mode_name(l[0]->mode), "http");
	cr_assert_eq(l[0]->via, VIA_TUNNEL);
	cr_assert(l[0]->forwarded);
	cr_assert_eq(l[0]->header_limit, 4096);
	cr_assert_null(l[0]->target);
	cr_assert_eq(l[1]->mode, MODE_CONNECT);
	cr_assert_str_eq(conf_mode_name(l[1]->mode), "connect");
	cr_assert_not(l[1]->forwarded);
	cr_assert_eq(l[1]->header_limit, 16384);
	cr_assert_eq(l[2]->mode, MODE_FORWARD);
	cr_assert_str_eq(l[2]->target, "db.internal:5432");
	cr_assert_eq(l[2]->backends.n, 0);
	cr_assert_str_eq(l[3]->target, "[fd00::5]:443");
	cr_assert_eq(l[4]->via, VIA_DIRECT, "via defaults to direct");
	cr_assert_null(l[4]->target);
}

Test(conf_tunnel, server_values_without_listeners)
{
	char text[1024], cert[160];
	snprintf(cert, sizeof(cert), "%s/me.pem", dir); /* an absolute path stays as written */
	snprintf(text, sizeof(text),
	         "tunnel = {\n"
	         "  role = \"server\"; bind = \"127.0.0.1:20010\"; peer_name = \"gw-a\";\n"
	         "  tls = { ca = \"ca.pem\"; cert = \"%s\"; key = \"me.key\"; };\n"
	         "  transport = { cc = \"bbr\"; initial_rtt_ms = 50; gso = false; gro = false;\n"
	         "    max_streams = 10; udp_rcvbuf = 0; keep_alive_ms = 0; max_window = 65536;\n"
	         "    initial_max_data = 65536; };\n"
	         "};\n"
	         "upstreams = {\n"
	         "  http = \"127.0.0.1:8081\";\n"
	         "  allow = ( \"db.internal:5432\", \"*.internal:443\" );\n"
	         "  connect_timeout_ms = 100; response_timeout_ms = 200; pool_idle = 0;\n"
	         "};\n",
	         cert);
	load_ok(text);
	cr_assert_eq(C->nlisteners, 0, "a tunnel server needs no listeners");
	const struct conf_tunnel *t = &C->tunnel;
	cr_assert_eq(t->role, TUNNEL_SERVER);
	cr_assert_null(t->peer);
	cr_assert_str_eq(t->bind.text, "127.0.0.1:20010");
	cr_assert_eq(t->bind.line, 2);
	cr_assert_eq(ntohs(t->bind.a.u.in4.sin_port), 20010);
	cr_assert_str_eq(t->cert, cert);
	const struct conf_transport *tr = &t->transport;
	cr_assert_eq(tr->cc, CC_BBR);
	cr_assert_eq(tr->initial_rtt_ms, 50);
	cr_assert_not(tr->gso);
	cr_assert_not(tr->gro);
	cr_assert_eq(tr->max_streams, 10);
	cr_assert_eq(tr->udp_rcvbuf, 0);
	cr_assert_eq(tr->udp_sndbuf, 8 << 20, "keys not written keep their defaults");
	cr_assert_eq(tr->keep_alive_ms, 0);
	cr_assert_eq(tr->max_window, 65536);

	const struct conf_upstreams *u = &C->upstreams;
	cr_assert_eq(u->line, 8);
	cr_assert_str_eq(u->http.text, "127.0.0.1:8081");
	cr_assert_eq(ntohs(u->http.a.u.in4.sin_port), 8081);
	cr_assert_eq(u->allow.n, 2);
	cr_assert_str_eq(u->allow.v[0], "db.internal:5432");
	cr_assert_str_eq(u->allow.v[1], "*.internal:443");
	cr_assert_eq(u->connect_timeout_ms, 100);
	cr_assert_eq(u->response_timeout_ms, 200);
	cr_assert_eq(u->pool_idle, 0);
}

Test(conf_tunnel, upstreams_defaults)
{
	load_ok(SERVER "upstreams = { };\n");
	const struct conf_upstreams *u = &C->upstreams;
	cr_assert_null(u->http.text, "no http upstream: http requests are refused");
	cr_assert_eq(u->allow.n, 0);
	cr_assert_eq(u->connect_timeout_ms, 5000);
	cr_assert_eq(u->response_timeout_ms, 30000);
	cr_assert_eq(u->pool_idle, 32);
}

Test(conf_tunnel, no_tunnel_section)
{
	load_ok(
	    "listeners = ( { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" "
	    "); } );\n");
	cr_assert_eq(C->tunnel.role, TUNNEL_NONE);
	cr_assert_eq(C->tunnel.line, 0);
	cr_assert_null(C->tunnel.peer_name);
}

/* ---- the tunnel section's own errors ---- */

Test(conf_tunnel, role_specific_keys)
{
	expect_only("tunnel = {\n  role = \"client\"; peer_name = \"x\";\n" TLS "};\n" FWD_LSN, 1,
	            "tunnel: role \"client\" needs 'peer' (HOST:PORT of the server)");
	expect_only("tunnel = {\n  role = \"server\"; peer_name = \"x\";\n" TLS "};\n", 1,
	            "tunnel: role \"server\" needs 'bind' (the UDP address to listen on)");
	expect_only("tunnel = {\n  role = \"client\"; peer_name = \"x\"; peer = \"a:1\";\n"
	            "  bind = \"127.0.0.1:1\";\n" TLS "};\n" FWD_LSN,
	            3, "tunnel: 'bind' applies to role \"server\"");
	expect_only("tunnel = {\n  role = \"server\"; peer_name = \"x\"; bind = \"*:1\";\n"
	            "  peer = \"a:1\";\n" TLS "};\n",
	            1, "tunnel: 'peer' applies to role \"client\"");
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\";\n" TLS "};\n", 1,
	            "tunnel: missing required key 'peer_name'");
	expect_only("tunnel = {\n  bind = \"*:1\"; peer_name = \"x\";\n" TLS "};\n", 1,
	            "tunnel: missing required key 'role'");
	expect_only("tunnel = {\n  role = \"peer\"; bind = \"*:1\"; peer_name = \"x\";\n" TLS
	            "};\n",
	            2, "tunnel: 'role' must be one of client, server, not \"peer\"");
	expect_only("tunnel = \"client\";\n", 1, "'tunnel' must be a group { ... }");
	expect_only(SERVER "tunnel2 = 1;\n", 7,
	            "unknown section 'tunnel2' (expected global, listeners, tunnel or upstreams)");
	expect_only(
	    "tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\"; foo = 1;\n" TLS
	    "};\n",
	    2, "tunnel: unknown key 'foo'");
}

Test(conf_tunnel, peer_syntax)
{
	static const struct {
		const char *peer, *why;
	} bad[] = {
	    {"gw-b.example.net", "bad \"gw-b.example.net\" (expected HOST:PORT or [IPv6]:PORT)"},
	    {"gw:0", "bad port in \"gw:0\" (1-65535)"},
	    {"gw:65536", "bad port in \"gw:65536\" (1-65535)"},
	    {"gw:http", "bad \"gw:http\""},
	    {"a..b:1", "bad \"a..b:1\""},
	    {"a b:1", "bad \"a b:1\""},
	    {"::1:443", "bad \"::1:443\""},
	    {"[gw]:443", "bad \"[gw]:443\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], want[160];
		snprintf(
		    text, sizeof(text),
		    "tunnel = {\n  role = \"client\"; peer_name = \"x\";\n  peer = \"%s\";\n" TLS
		    "};\n" FWD_LSN,
		    bad[i].peer);
		snprintf(want, sizeof(want), "tunnel: 'peer': %s", bad[i].why);
		expect_only(text, 3, want);
	}
	static const char *const good[] = {"gw:1", "[::1]:443", "192.0.2.1:65535",
	                                   "gw.example.:20010", "under_score-1.x:9"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[512];
		snprintf(
		    text, sizeof(text),
		    "tunnel = {\n  role = \"client\"; peer_name = \"x\";\n  peer = \"%s\";\n" TLS
		    "};\n" FWD_LSN,
		    good[i]);
		load_ok(text);
		cr_expect_str_eq(C->tunnel.peer, good[i]);
	}
}

Test(conf_tunnel, tls_keys)
{
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n};\n", 1,
	            "tunnel: missing required key 'tls'");
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n"
	            "  tls = { ca = \"ca.pem\"; cert = \"me.pem\"; };\n};\n",
	            3, "tunnel.tls: missing required key 'key'");
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n"
	            "  tls = \"me.pem\";\n};\n",
	            3, "tunnel: 'tls' must be a group { ... }, not a string");
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n"
	            "  tls = { ca = \"ca.pem\"; cert = \"me.pem\"; key = \"me.key\"; pass = \"x\"; "
	            "};\n};\n",
	            3, "tunnel.tls: unknown key 'pass'");
}

Test(conf_tunnel, tls_files_must_be_readable)
{
	char want[256];
	snprintf(want, sizeof(want),
	         "tunnel.tls: 'cert': cannot read %s/missing.pem: No such file or directory", dir);
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n"
	            "  tls = { ca = \"ca.pem\";\n"
	            "          cert = \"missing.pem\";\n"
	            "          key = \"me.key\"; };\n};\n",
	            4, want);
	snprintf(want, sizeof(want), "tunnel.tls: 'ca': %s/adir is not a regular file", dir);
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n"
	            "  tls = { ca = \"adir\"; cert = \"me.pem\"; key = \"me.key\"; };\n};\n",
	            3, want);
	/* Each missing file is named, in one load. */
	reset();
	cr_assert_eq(conf_load_string(name,
	                              "tunnel = {\n  role = \"server\"; bind = \"*:1\"; "
	                              "peer_name = \"x\";\n"
	                              "  tls = { ca = \"a\"; cert = \"b\"; key = \"c\"; };\n};\n",
	                              &C, &E),
	             -EINVAL);
	cr_expect_eq(E.n, 3, "errors:%s", conf_errs_text(&E));
	static const char *const keys[] = {"'ca'", "'cert'", "'key'"};
	for (size_t i = 0; i < E.n && i < 3; i++)
		cr_expect(strstr(E.msg[i], keys[i]), "%s", E.msg[i]);
}

Test(conf_tunnel, transport_bounds)
{
	static const struct {
		const char *kv;
		const char *want;
	} bad[] = {
	    {"max_streams = 0;", "tunnel.transport: 'max_streams' is out of range: 0 (allowed 1 "
	                         "to 65536)"},
	    {"initial_rtt_ms = 0;", "'initial_rtt_ms' is out of range"},
	    {"max_idle_timeout_ms = 999;", "'max_idle_timeout_ms' is out of range"},
	    {"initial_max_data = 1024;", "'initial_max_data' is out of range"},
	    {"max_window = 2147483647;", "'max_window' is out of range"},
	    {"udp_sndbuf = -1;", "'udp_sndbuf' is out of range"},
	    {"cc = \"vegas\";", "tunnel.transport: 'cc' must be one of cubic, reno, bbr, not "
	                        "\"vegas\""},
	    {"gso = 1;", "tunnel.transport: 'gso' must be true or false"},
	    {"window = 1;", "tunnel.transport: unknown key 'window'"},
	    {"keep_alive_ms = 30000;", "tunnel.transport: keep_alive_ms (30000) must be below "
	                               "max_idle_timeout_ms (30000)"},
	    {"initial_max_data = 67108865;", "tunnel.transport: initial_max_data (67108865) is "
	                                     "above max_window (67108864)"},
	    {"max_stream_window = 65536;", "tunnel.transport: initial_max_stream_data (4194304) "
	                                   "is above max_stream_window (65536)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text),
		         "tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n" TLS
		         "  transport = {\n    %s\n  };\n};\n",
		         bad[i].kv);
		/* Single-key errors point at the key (line 5); cross-key ones at the tunnel. */
		bool cross = strstr(bad[i].want, ") must") || strstr(bad[i].want, ") is above");
		expect_only(text, cross ? 1 : 5, bad[i].want);
	}
	expect_only("tunnel = {\n  role = \"server\"; bind = \"*:1\"; peer_name = \"x\";\n" TLS
	            "  transport = 5;\n};\n",
	            4, "tunnel: 'transport' must be a group { ... }, not an integer");
}

/* ---- listeners via the tunnel ---- */

Test(conf_tunnel, via_tunnel_needs_a_client_tunnel)
{
	expect_only(FWD_LSN, 1,
	            "listener \"db\": via = \"tunnel\" needs a 'tunnel' section with role = "
	            "\"client\"");
	expect_only(
	    SERVER FWD_LSN, 7,
	    "listener \"db\": via = \"tunnel\" needs role = \"client\" in the tunnel section "
	    "(line 1), not \"server\"");
	/* A tunnel section with errors of its own gets no follow-up about it. */
	expect_only("tunnel = {\n  peer = \"a:1\"; peer_name = \"x\";\n" TLS "};\n" FWD_LSN, 1,
	            "tunnel: missing required key 'role'");
}

Test(conf_tunnel, forward_via_tunnel_needs_target_not_backends)
{
	expect_only(
	    CLIENT "listeners = ( { name = \"db\"; bind = \"127.0.0.1:1\"; via = "
	           "\"tunnel\"; } );\n",
	    7,
	    "listener \"db\": mode \"forward\" via the tunnel needs 'target' (HOST:PORT the "
	    "peer connects to)");
	expect_only(CLIENT "listeners = ( { name = \"db\"; bind = \"127.0.0.1:1\"; via = "
	                   "\"tunnel\";\n"
	                   "  target = \"db:5432\";\n"
	                   "  backends = ( \"127.0.0.1:9\" ); } );\n",
	            9,
	            "listener \"db\": 'backends' does not apply via the tunnel (the peer connects "
	            "to 'target')");
	expect_only(CLIENT "listeners = ( { name = \"db\"; bind = \"127.0.0.1:1\"; via = "
	                   "\"tunnel\";\n"
	                   "  target = \"db:99999\"; } );\n",
	            8, "listener \"db\": 'target': bad port in \"db:99999\" (1-65535)");
	expect_only(CLIENT "listeners = ( { name = \"db\"; bind = \"127.0.0.1:1\"; via = "
	                   "\"tunnel\";\n"
	                   "  target = \"fd00::1:5432\"; } );\n",
	            8,
	            "listener \"db\": 'target': bad \"fd00::1:5432\" (expected HOST:PORT or "
	            "[IPv6]:PORT)");
	expect_only(CLIENT "listeners = ( { name = \"db\"; bind = \"127.0.0.1:1\"; via = "
	                   "\"sideways\"; } );\n",
	            7, "listener \"db\": 'via' must be one of direct, tunnel, not \"sideways\"");
}

Test(conf_tunnel, modes_and_via)
{
	/* mode connect via direct is the CONNECT proxy (conf_proxy.c); its own
	 * keys are refused elsewhere. */
	expect_only("listeners = ( { name = \"p\"; bind = \"127.0.0.1:1\"; mode = \"connect\";\n"
	            "  backends = (\"127.0.0.1:2\"); } );\n",
	            2, "'backends' does not apply to mode \"connect\"");
	expect_only("listeners = ( { name = \"p\"; bind = \"127.0.0.1:1\"; deny = (\"x\");\n"
	            "  backends = (\"127.0.0.1:2\"); } );\n",
	            1, "listener \"p\": 'deny' applies to mode \"connect\"");
	expect_only(
	    "listeners = ( { name = \"p\"; bind = \"127.0.0.1:1\"; mode = \"http\"; } );\n", 1,
	    "listener \"p\": mode \"http\" without via = \"tunnel\" is not implemented yet");
	expect_only(CLIENT
	            "listeners = ( { name = \"u\"; bind = \"127.0.0.1:1\"; proto = \"udp\";\n"
	            "  via = \"tunnel\"; target = \"a:1\"; } );\n",
	            7, "listener \"u\": proto \"udp\" cannot go via the tunnel (TCP only)");
	expect_only("listeners = ( { name = \"d\"; bind = \"127.0.0.1:1\"; target = \"a:1\";\n"
	            "  backends = ( \"127.0.0.1:9\" ); } );\n",
	            1,
	            "listener \"d\": 'target' applies to via = \"tunnel\" (direct forwards use "
	            "'backends')");
	expect_only(CLIENT
	            "listeners = ( { name = \"h\"; bind = \"127.0.0.1:1\"; mode = \"http\";\n"
	            "  via = \"tunnel\"; target = \"a:1\"; } );\n",
	            7, "listener \"h\": 'target' applies to mode \"forward\"");
	expect_only(CLIENT
	            "listeners = ( { name = \"h\"; bind = \"127.0.0.1:1\"; mode = \"connect\";\n"
	            "  via = \"tunnel\"; forwarded = true; } );\n",
	            7, "listener \"h\": 'forwarded' applies to mode \"http\"");
	expect_only(
	    CLIENT "listeners = ( { name = \"h\"; bind = \"127.0.0.1:1\"; mode = \"http\";\n"
	           "  via = \"tunnel\"; header_limit = 100; } );\n",
	    8, "listener \"h\": 'header_limit' is out of range: 100 (allowed 1024 to 1048576)");
	expect_only(CLIENT
	            "listeners = ( { name = \"h\"; bind = \"127.0.0.1:1\"; mode = \"http\";\n"
	            "  via = \"tunnel\";\n"
	            "  backends = ( \"127.0.0.1:9\" ); } );\n",
	            9,
	            "listener \"h\": 'backends' does not apply via the tunnel (the peer connects "
	            "to what its 'upstreams' allow)");
}

/* ---- upstreams and the sections a role needs ---- */

Test(conf_tunnel, upstreams_only_on_a_server)
{
	expect_only("listeners = ( { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( "
	            "\"127.0.0.1:9\" ); } );\n"
	            "upstreams = { http = \"127.0.0.1:8081\"; };\n",
	            2, "'upstreams' needs a tunnel section with role = \"server\"");
	expect_only(CLIENT FWD_LSN "upstreams = {\n  http = \"127.0.0.1:8081\"; };\n", 8,
	            "'upstreams' needs a tunnel section with role = \"server\" (this one is "
	            "\"client\")");
	expect_only(SERVER "upstreams = {\n  http = \"127.0.0.1:0\"; };\n", 8,
	            "upstreams: 'http': bad port in \"127.0.0.1:0\"");
	expect_only(SERVER "upstreams = {\n  allow = \"db:1\"; };\n", 8,
	            "upstreams: 'allow' must be a list of strings, not a string");
	expect_only(SERVER "upstreams = {\n  pool_idle = 5000; };\n", 8,
	            "upstreams: 'pool_idle' is out of range: 5000 (allowed 0 to 4096)");
}

Test(conf_tunnel, allow_patterns_must_compile)
{
	expect_only(SERVER "upstreams = {\n  allow = (\n    \"db.internal:5432\",\n"
	                   "    \"*.internal:0\" );\n};\n",
	            10,
	            "upstreams: 'allow': pattern \"*.internal:0\": bad port in \"0\" (1-65535)");
	/* Every bad pattern is reported, each at its own line. */
	reset();
	cr_assert_eq(conf_load_string(name,
	                              SERVER "upstreams = { allow = (\n"
	                                     "  \"a..b\",\n"
	                                     "  \"[fd00::/8]:2000-1000\",\n"
	                                     "  \"ok.example\",\n"
	                                     "  \"x.*.y\" ); };\n",
	                              &C, &E),
	             -EINVAL);
	cr_expect_eq(E.n, 3, "errors:%s", conf_errs_text(&E));
	static const struct {
		int line;
		const char *why;
	} want[] = {
	    {8, "pattern \"a..b\": empty label"},
	    {9, "pattern \"[fd00::/8]:2000-1000\": port range 2000-1000: the low end is above"},
	    {11, "pattern \"x.*.y\": '*' may only be the whole first label"},
	};
	for (size_t i = 0; i < 3 && i < E.n; i++) {
		char prefix[192];
		snprintf(prefix, sizeof(prefix), "%s:%d: upstreams: 'allow': ", name, want[i].line);
		cr_expect(!strncmp(E.msg[i], prefix, strlen(prefix)) &&
		              strstr(E.msg[i], want[i].why),
		          "want %s...%s, got %s", prefix, want[i].why, E.msg[i]);
	}
	load_ok(SERVER "upstreams = { allow = ( \"db.internal:5432\", \"*.internal:443\", "
	               "\"10.0.0.0/8:1-1024\", \"[fd00::/8]:80\", \"2001:db8::1\" ); };\n");
	cr_assert_eq(C->upstreams.allow.n, 5);
}

Test(conf_tunnel, client_still_needs_listeners)
{
	expect_only(CLIENT, 1, "no 'listeners' section: nothing to do");
	expect_only(CLIENT "listeners = ( );\n", 7, "'listeners' is empty: nothing to do");
	load_ok(SERVER "listeners = ( );\n");
	load_ok(SERVER "listeners = ( { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( "
	               "\"127.0.0.1:9\" ); } );\n");
	cr_assert_eq(C->nlisteners, 1, "a server may also forward directly");
}

/* ---- reload ---- */

Test(conf_tunnel, same_tunnel)
{
	struct conf *a = NULL, *b = NULL;
	struct conf_errs e = {0};
	const char *base = CLIENT FWD_LSN;
	cr_assert_eq(conf_load_string(name, base, &a, &e), 0, "%s", conf_errs_text(&e));
	cr_assert_eq(conf_load_string(name, base, &b, &e), 0);
	cr_assert(conf_tunnel_same(a, b));
	conf_free(b);
	/* Only the listeners differ: the tunnel is the same. */
	cr_assert_eq(conf_load_string(name,
	                              CLIENT
	                              "listeners = ( { name = \"x\"; bind = \"127.0.0.1:2\"; "
	                              "via = \"tunnel\"; target = \"y:1\"; } );\n",
	                              &b, &e),
	             0);
	cr_assert(conf_tunnel_same(a, b));
	conf_free(b);
	static const char *const changed[] = {
	    "tunnel = { role = \"client\"; peer = \"gw-c:20010\"; peer_name = "
	    "\"gw-b.example.net\";\n" TLS "};\n" FWD_LSN,
	    "tunnel = { role = \"client\"; peer = \"gw-b.example.net:20010\"; peer_name = "
	    "\"gw-b.example.net\";\n" TLS "  transport = { cc = \"reno\"; };\n};\n" FWD_LSN,
	    "tunnel = { role = \"client\"; peer = \"gw-b.example.net:20010\"; peer_name = "
	    "\"gw-b.example.net\";\n"
	    "  tls = { ca = \"ca.pem\"; cert = \"me.pem\"; key = \"ca.pem\"; };\n};\n" FWD_LSN,
	    "listeners = ( { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" ); "
	    "} "
	    ");\n",
	};
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		cr_assert_eq(conf_load_string(name, changed[i], &b, &e), 0, "%zu:%s", i,
		             conf_errs_text(&e));
		cr_expect_not(conf_tunnel_same(a, b), "change %zu not seen", i);
		cr_expect_not(conf_tunnel_same(b, a), "change %zu not seen", i);
		conf_free(b);
	}
	/* Two configs without a tunnel have the same (none). */
	cr_assert_eq(conf_load_string(name, changed[3], &b, &e), 0);
	struct conf *c2 = NULL;
	cr_assert_eq(conf_load_string(name, changed[3], &c2, &e), 0);
	cr_assert(conf_tunnel_same(b, c2));
	conf_free(c2);
	conf_free(b);
	conf_free(a);
	conf_errs_free(&e);
}
