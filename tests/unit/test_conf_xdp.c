/* conf: the keys of the XDP fast path and front door, their checks and messages. */
#include "conf.h"
#include "conf_errs_text.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct conf *C;
static struct conf_errs E;

static void teardown(void)
{
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
}

TestSuite(conf_xdp, .fini = teardown, .timeout = 30);

static const char *all_errs(void)
{
	return conf_errs_text(&E);
}

/* Load "global = { GLOBAL }; listeners = ( { LISTENER } );" */
static int load(const char *global, const char *listener)
{
	char text[4096];
	teardown(); /* several loads per test */
	snprintf(text, sizeof(text),
	         "global = { control_socket = \"/tmp/x.sock\"; %s };\n"
	         "listeners = ( { name = \"l\"; bind = \"10.0.0.1:443\"; backends = "
	         "(\"10.0.0.2:443\"); %s } );\n",
	         global, listener);
	return conf_load_string("t.conf", text, &C, &E);
}

static void load_ok(const char *global, const char *listener)
{
	int rc = load(global, listener);
	cr_assert_eq(rc, 0, "load = %d, errors:%s", rc, all_errs());
}

/* Loading fails with exactly one message containing want, on line 1 or 2. */
static void load_err(const char *global, const char *listener, const char *want)
{
	int rc = load(global, listener);
	cr_assert_neq(rc, 0, "loaded, expected an error with \"%s\"", want);
	cr_assert_eq(E.n, 1, "expected one error with \"%s\", got:%s", want, all_errs());
	cr_assert_not_null(strstr(E.msg[0], want), "expected \"%s\", got:%s", want, all_errs());
	cr_assert(!strncmp(E.msg[0], "t.conf:1: ", 10) || !strncmp(E.msg[0], "t.conf:2: ", 10),
	          "no line: %s", E.msg[0]);
}

Test(conf_xdp, defaults)
{
	load_ok("", "");
	cr_assert_eq(C->global.interfaces.n, 0);
	cr_assert(C->global.xdp_forward);
	struct conf_listener *l = C->listeners[0];
	cr_assert_not(l->sanitize);
	cr_assert_eq(l->accept, 0);
	cr_assert_eq(l->allow_sources.n, 0);
	cr_assert_eq(l->deny_sources.n, 0);
	cr_assert_eq(l->new_flow_rate, 0);
	cr_assert_eq(l->new_flow_burst, 0);
}

Test(conf_xdp, every_key)
{
	load_ok("interfaces = (\"eth1\", \"vlan.100\"); xdp_forward = false;",
	        "proto = \"udp\"; sanitize = true; accept = (\"quic\", \"other\");"
	        "allow_sources = (\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.7\");"
	        "deny_sources = (\"10.1.0.0/16\", \"2001:db8::1\");"
	        "new_flow_rate = 100; new_flow_burst = 20;");
	cr_assert_eq(C->global.interfaces.n, 2);
	cr_assert_str_eq(C->global.interfaces.v[0], "eth1");
	cr_assert_str_eq(C->global.interfaces.v[1], "vlan.100");
	cr_assert_not(C->global.xdp_forward);
	struct conf_listener *l = C->listeners[0];
	cr_assert(l->sanitize);
	cr_assert_eq(l->accept, CONF_ACCEPT_QUIC | CONF_ACCEPT_OTHER);
	cr_assert_eq(l->allow_sources.n, 3);
	cr_assert_eq(l->allow_sources.v[0].family, AF_INET);
	cr_assert_eq(l->allow_sources.v[0].len, 8);
	cr_assert_eq(l->allow_sources.v[1].family, AF_INET6);
	cr_assert_eq(l->allow_sources.v[1].len, 8);
	cr_assert_eq(l->allow_sources.v[1].addr[0], 0xfd);
	cr_assert_eq(l->allow_sources.v[2].len, 32, "a single address is a host prefix");
	cr_assert_eq(l->deny_sources.v[1].len, 128);
	cr_assert_str_eq(l->deny_sources.v[1].text, "2001:db8::1");
	cr_assert_eq(l->new_flow_rate, 100);
	cr_assert_eq(l->new_flow_burst, 20);
}

Test(conf_xdp, prefix_parse)
{
	struct conf_prefix p;
	const char *why;
	cr_assert_eq(conf_prefix_parse("0.0.0.0/0", &p, &why), 0);
	cr_assert_eq(p.len, 0);
	cr_assert_eq(conf_prefix_parse("::/0", &p, &why), 0);
	cr_assert_eq(p.family, AF_INET6);
	cr_assert_eq(conf_prefix_parse("10.1.2.128/25", &p, &why), 0);
	cr_assert_eq(p.addr[3], 128);
	cr_assert_neq(conf_prefix_parse("10.1.2.129/25", &p, &why), 0);
	cr_assert_not_null(strstr(why, "beyond the prefix length"));
	cr_assert_neq(conf_prefix_parse("10.0.0.0/33", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("fd00::/129", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("10.0.0.0/", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("10.0.0.0/-1", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("10.0.0.0/8x", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("/8", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("example.com/8", &p, &why), 0);
	cr_assert_neq(conf_prefix_parse("10.0.0/8", &p, &why), 0);
}

Test(conf_xdp, bad_values)
{
	load_err("interfaces = (\"eth1\", \"eth1\");", "", "\"eth1\" is listed twice");
	load_err("interfaces = (\"a/b\");", "", "is not an interface name");
	load_err("interfaces = (\"averyveryverylongname\");", "", "is not an interface name");
	load_err("interfaces = (1);", "", "entry 1 must be a string");
	load_err("interfaces = \"eth1\";", "", "must be a list of strings");
	load_err("interfaces = (\"eth1\");", "proto = \"udp\"; accept = (\"quic\", \"dns\");",
	         "\"dns\" is not one of quic, wireguard, other");
	load_err("interfaces = (\"eth1\");", "deny_sources = (\"10.1.2.3/8\");",
	         "bad prefix \"10.1.2.3/8\"");
	load_err("interfaces = (\"eth1\");", "allow_sources = ();", "must have 1 to 4096 entries");
	load_err("interfaces = (\"eth1\");", "new_flow_rate = -1;", "out of range");
}

Test(conf_xdp, cross_key_checks)
{
	load_err("interfaces = (\"eth1\");", "sanitize = true; accept = (\"quic\");",
	         "sanitize applies to UDP listeners");
	load_err("interfaces = (\"eth1\");", "accept = (\"quic\");", "'accept' applies to UDP");
	load_err("interfaces = (\"eth1\");", "proto = \"udp\"; sanitize = true;",
	         "sanitize = true needs 'accept'");
	load_err("interfaces = (\"eth1\");", "new_flow_burst = 3;",
	         "new_flow_burst needs new_flow_rate");
	load_err("interfaces = (\"eth1\");",
	         "allow_sources = (\"10.0.0.0/8\"); deny_sources = (\"10.0.0.0/8\");",
	         "10.0.0.0/8 is in allow_sources and in deny_sources");
	load_err("", "deny_sources = (\"10.0.0.0/8\");", "work in XDP: set global.interfaces");
	load_err("", "new_flow_rate = 10;", "work in XDP: set global.interfaces");
	load_err("", "proto = \"udp\"; sanitize = true; accept = (\"quic\");",
	         "work in XDP: set global.interfaces");
	/* Without the front door, no interfaces needed; accept alone is fine for UDP. */
	load_ok("", "proto = \"udp\"; accept = (\"quic\");");
}

Test(conf_xdp, tcp_listeners_take_sources_and_rate)
{
	load_ok("interfaces = (\"eth1\");",
	        "deny_sources = (\"10.0.0.0/8\"); new_flow_rate = 10; new_flow_burst = 1;");
	cr_assert_eq(C->listeners[0]->proto, PROTO_TCP);
}
