/* conf: the config schema, its defaults and every class of error with its line. */
#include "conf.h"
#include "conf_errs_text.h"
#include "jsonw.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "t.conf"

static struct conf *C;
static struct conf_errs E;
static char tmpdir[64];

static void teardown(void)
{
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
	if (tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		cr_expect_eq(system(cmd), 0);
		tmpdir[0] = 0;
	}
}

TestSuite(conf, .fini = teardown, .timeout = 30);

static const char *all_errs(void)
{
	return conf_errs_text(&E);
}

static int load_as(const char *name, const char *text)
{
	C = (struct conf *)&C; /* must be reset, whatever the outcome */
	return conf_load_string(name, text, &C, &E);
}

/* The text must load cleanly. */
static void load_ok_as(const char *name, const char *text)
{
	int rc = load_as(name, text);
	cr_assert_eq(rc, 0, "conf_load_string = %d, errors:%s", rc, all_errs());
	cr_assert_eq(E.n, 0, "errors:%s", all_errs());
	cr_assert_not_null(C);
}

static void load_ok(const char *text)
{
	load_ok_as(NAME, text);
}

/* The text must be rejected. */
static void load_bad(const char *text)
{
	int rc = load_as(NAME, text);
	cr_assert_eq(rc, -EINVAL, "conf_load_string = %d, want -EINVAL; errors:%s", rc, all_errs());
	cr_assert_null(C, "no config on failure");
	cr_assert_gt(E.n, 0, "a rejected config names its problems");
}

/* Index of the message "FILE:LINE: ..." containing needle, or -1. */
static int find_err(const char *file, int line, const char *needle)
{
	char prefix[512];
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	for (size_t i = 0; i < E.n; i++)
		if (!strncmp(E.msg[i], prefix, strlen(prefix)) &&
		    strstr(E.msg[i] + strlen(prefix), needle))
			return (int)i;
	return -1;
}

static void expect_err(int line, const char *needle)
{
	cr_expect_geq(find_err(NAME, line, needle), 0, "want \"%s:%d: ...%s...\", got:%s", NAME,
	              line, needle, all_errs());
}

/* text fails with exactly one message, at line, containing needle. */
static void expect_only(const char *text, int line, const char *needle)
{
	load_bad(text);
	cr_expect_eq(E.n, 1, "want one error, got:%s", all_errs());
	expect_err(line, needle);
}

/* A valid listener, for configs that test something else. */
#define LSN(name, bind)                                                                            \
	"{ name = \"" name "\"; bind = \"" bind "\"; backends = ( \"127.0.0.1:9000\" ); }"

/* ---- defaults and values ---- */

Test(conf, defaults_applied)
{
	load_ok_as("/etc/kfwd/edge.conf", "listeners = (\n"                          /* 1 */
	                                  "  {\n"                                    /* 2 */
	                                  "    name = \"web\";\n"                    /* 3 */
	                                  "    bind = \"127.0.0.1:8080\";\n"         /* 4 */
	                                  "    backends = ( \"127.0.0.1:9000\" );\n" /* 5 */
	                                  "  }\n"                                    /* 6 */
	                                  ");\n");
	cr_assert_str_eq(C->path, "/etc/kfwd/edge.conf");

	/* global */
	cr_assert_eq(C->global.workers, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cr_assert_eq(conf_workers(C), ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu);
	cr_assert_str_eq(C->global.instance, "edge");
	cr_assert_str_eq(C->global.control_socket, "/run/kfwd/edge.sock");
	cr_assert_str_eq(C->global.bpf_pin_path, "/sys/fs/bpf/kfwd");
	cr_assert_eq(C->global.shutdown_grace_ms, 10000);
	cr_assert_eq(C->global.fastpath_backlog, 4194304);
	cr_assert_eq(C->global.fastpath_sndbuf, 4194304);

	/* listener */
	cr_assert_eq(C->nlisteners, 1);
	struct conf_listener *l = C->listeners[0];
	cr_assert_eq(l->refcnt, 1);
	cr_assert_eq(l->line, 2);
	cr_assert_str_eq(l->name, "web");
	cr_assert_str_eq(l->bind.text, "127.0.0.1:8080");
	cr_assert_eq(l->bind.line, 4);
	cr_assert_eq(addr_family(&l->bind.a), AF_INET);
	cr_assert_eq(addr_port(&l->bind.a), 8080);
	cr_assert_eq(l->proto, PROTO_TCP);
	cr_assert_str_eq(conf_proto_name(l->proto), "tcp");
	cr_assert_eq(l->mode, MODE_FORWARD);
	cr_assert_str_eq(conf_mode_name(l->mode), "forward");
	cr_assert_eq(l->backends.n, 1);
	cr_assert_str_eq(l->backends.v[0].text, "127.0.0.1:9000");
	cr_assert_eq(l->backends.v[0].line, 5);
	cr_assert_eq(addr_port(&l->backends.v[0].a), 9000);
	cr_assert_eq(l->idle_timeout_ms, 0);
	cr_assert_eq(conf_idle_ms(l), 3600000);
	cr_assert_eq(l->connect_timeout_ms, 5000);
	cr_assert_eq(l->max_flows, 65536);
	cr_assert_eq(l->buffer_size, 131072);
	cr_assert_eq(l->fastpath, true, "the fast path is on by default");
}

Test(conf, fastpath_keys)
{
	load_ok("global = { fastpath_backlog = 0; };\n"
	        "listeners = (\n"
	        "  { name = \"f\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" ); fastpath = true; },\n"
	        "  { name = \"s\"; bind = \"127.0.0.1:2\"; backends = ( \"127.0.0.1:9\" ); fastpath = false; }\n"
	        ");\n");
	cr_assert_eq(C->global.fastpath_backlog, 0);
	cr_assert_eq(C->listeners[0]->fastpath, true);
	cr_assert_eq(C->listeners[1]->fastpath, false);
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"f\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = ( \"127.0.0.1:9\" ); fastpath = 1; } );\n",
	            2, "'fastpath' must be true or false, not an integer");
}

Test(conf, relay_policy_keys)
{
	load_ok("listeners = (\n"
	        "  { name = \"d\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"p\"; bind = \"127.0.0.1:2\"; backends = ( \"127.0.0.1:9\" );\n"
	        "    max_lifetime_ms = 1500; max_bytes = 8589934592L; max_rate_bps = 1048576;\n"
	        "    min_rate_bpm = 6000000000L; min_rate_grace_ms = 250; }\n"
	        ");\n");
	const struct conf_listener *d = C->listeners[0], *p = C->listeners[1];
	cr_assert_eq(d->max_lifetime_ms, 0);
	cr_assert_eq(d->max_bytes, 0);
	cr_assert_eq(d->max_rate_bps, 0);
	cr_assert_eq(d->min_rate_bpm, 0);
	cr_assert_eq(d->min_rate_grace_ms, 60000);
	cr_assert_eq(p->max_lifetime_ms, 1500);
	cr_assert_eq(p->max_bytes, 8589934592LL, "64-bit values survive");
	cr_assert_eq(p->max_rate_bps, 1048576);
	cr_assert_eq(p->min_rate_bpm, 6000000000LL);
	cr_assert_eq(p->min_rate_grace_ms, 250);
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"f\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = ( \"127.0.0.1:9\" ); max_bytes = -1; } );\n",
	            2, "'max_bytes' is out of range: -1");
}

Test(conf, udp_idle_default)
{
	load_ok("listeners = ( { name = \"dns\"; bind = \"*:53\"; proto = \"udp\";\n"
	        "  backends = ( \"192.0.2.53:53\" ); } );\n");
	struct conf_listener *l = C->listeners[0];
	cr_assert_eq(l->proto, PROTO_UDP);
	cr_assert_str_eq(conf_proto_name(l->proto), "udp");
	cr_assert_eq(l->idle_timeout_ms, 0);
	cr_assert_eq(conf_idle_ms(l), 30000);
	cr_assert(addr_is_any(&l->bind.a));
}

Test(conf, explicit_values)
{
	load_ok("global = {\n"
	        "  workers = 4;\n"
	        "  instance = \"blue-1_x-y\";\n"
	        "  control_socket = \"/tmp/blue.sock\";\n"
	        "  bpf_pin_path = \"/sys/fs/bpf/other\";\n"
	        "  shutdown_grace_ms = 0;\n"
	        "};\n"
	        "listeners = (\n"
	        "  { name = \"u\"; bind = \"[::]:5353\"; proto = \"udp\"; mode = \"forward\";\n"
	        "    backends = ( \"[2001:db8::1]:53\", \"192.0.2.1:53\", \"localhost:53\" );\n"
	        "    idle_timeout_ms = 1234; connect_timeout_ms = 1; max_flows = 10000000;\n"
	        "    buffer_size = 4096; },\n"
	        "  " LSN("t", "127.0.0.1:1") "\n"
	                                     ");\n");
	cr_assert_eq(C->global.workers, 4);
	cr_assert_eq(conf_workers(C), 4);
	cr_assert_str_eq(C->global.instance, "blue-1_x-y");
	cr_assert_str_eq(C->global.control_socket, "/tmp/blue.sock");
	cr_assert_str_eq(C->global.bpf_pin_path, "/sys/fs/bpf/other");
	cr_assert_eq(C->global.shutdown_grace_ms, 0);

	cr_assert_eq(C->nlisteners, 2);
	struct conf_listener *l = C->listeners[0];
	cr_assert_str_eq(l->name, "u");
	cr_assert_eq(l->proto, PROTO_UDP);
	cr_assert_eq(l->mode, MODE_FORWARD);
	cr_assert_eq(addr_family(&l->bind.a), AF_INET6);
	cr_assert_eq(l->backends.n, 3);
	cr_assert_str_eq(l->backends.v[0].text, "[2001:db8::1]:53");
	cr_assert_eq(addr_family(&l->backends.v[0].a), AF_INET6);
	cr_assert_str_eq(l->backends.v[1].text, "192.0.2.1:53");
	cr_assert_str_eq(l->backends.v[2].text, "localhost:53");
	cr_assert_eq(addr_port(&l->backends.v[2].a), 53, "names are resolved at load");
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(l->backends.v[i].line, 10);
	cr_assert_eq(l->idle_timeout_ms, 1234);
	cr_assert_eq(conf_idle_ms(l), 1234);
	cr_assert_eq(l->connect_timeout_ms, 1);
	cr_assert_eq(l->max_flows, 10000000);
	cr_assert_eq(l->buffer_size, 4096);
	cr_assert_eq(C->listeners[1]->line, 13);
}

Test(conf, explicit_instance_names_the_control_socket)
{
	load_ok("global = { instance = \"green\"; };\n"
	        "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_str_eq(C->global.instance, "green");
	cr_assert_str_eq(C->global.control_socket, "/run/kfwd/green.sock");
}

Test(conf, instance_with_a_dot_is_refused)
{
	expect_only("global = { instance = \"perf.127.0.0.1\"; };\n"
	            "listeners = ( " LSN("a", "127.0.0.1:1") " );\n",
	            1, "'instance' may not contain '.' (it names a folder on the BPF filesystem");
}

Test(conf, empty_global_group_gets_defaults)
{
	load_ok("global = { };\nlisteners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_eq(C->global.workers, 0);
	cr_assert_str_eq(C->global.bpf_pin_path, "/sys/fs/bpf/kfwd");
	cr_assert_eq(C->global.shutdown_grace_ms, 10000);
}

Test(conf, instance_derived_from_file_name)
{
	static const char *const cases[][2] = {
	    {"edge.conf", "edge"},    {"/a/b/my.inst.cfg", "my_inst"}, {"noext", "noext"},
	    {"dir.d/noext", "noext"}, {".hidden", "_hidden"},          {"we ird!.conf", "we_ird_"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_ok_as(cases[i][0], "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
		cr_expect_str_eq(C->global.instance, cases[i][1], "from \"%s\"", cases[i][0]);
		char want[128];
		snprintf(want, sizeof(want), "/run/kfwd/%s.sock", cases[i][1]);
		cr_expect_str_eq(C->global.control_socket, want);
		conf_free(C);
		C = NULL;
	}
}

Test(conf, derived_instance_is_capped)
{
	char name[128];
	memset(name, 'n', 100);
	strcpy(name + 100, ".conf");
	load_ok_as(name, "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_eq(strlen(C->global.instance), 64);
	cr_assert_eq(strncmp(C->global.instance, name, 64), 0);
}

Test(conf, joined_control_socket_too_long)
{
	char text[512];
	char rel[101];
	memset(rel, 's', 100);
	rel[100] = 0;
	snprintf(text, sizeof(text), "global = { control_socket = \"%s\"; };\nlisteners = ( " LSN("a", "127.0.0.1:1") " );\n", rel);
	int rc = load_as("/some/folder/t.conf", text);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(C);
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err("/some/folder/t.conf", 1, "control socket path is longer than 107"), 0,
		      "errors:%s", all_errs());
}

/* ---- syntax ---- */

Test(conf, libconfig_syntax_error)
{
	expect_only("global = {\n"
	            "  workers = 2;\n"
	            "  instance = ;\n"
	            "};\n",
	            3, "syntax error");
}

Test(conf, libconfig_duplicate_setting)
{
	load_bad("global = {\n"
	         "  workers = 2;\n"
	         "  workers = 3;\n"
	         "};\n");
	cr_expect_eq(E.n, 1, "errors:%s", all_errs());
	cr_expect_eq(strncmp(E.msg[0], NAME ":3: ", strlen(NAME ":3: ")), 0, "errors:%s",
	             all_errs());
}

/* ---- unknown names ---- */

Test(conf, unknown_global_key)
{
	expect_only("global = {\n"
	            "  workers = 1;\n"
	            "  worker = 2;\n"
	            "};\n"
	            "listeners = ( " LSN("a", "127.0.0.1:1") " );\n",
	            3, "global: unknown key 'worker'");
}

Test(conf, unknown_listener_key)
{
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "    backends = ( \"127.0.0.1:2\" );\n"
	            "    timeout = 5; }\n"
	            ");\n",
	            4, "listener \"a\": unknown key 'timeout'");
}

Test(conf, global_key_in_listener_is_unknown)
{
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    workers = 1; }\n"
	            ");\n",
	            3, "listener \"a\": unknown key 'workers'");
}

Test(conf, unknown_section)
{
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( "
	            "\"127.0.0.1:9000\" ); } );\n"
	            "\n"
	            "globals = { workers = 1; };\n",
	            3, "unknown section 'globals' (expected global, listeners, tunnel or upstreams)");
}

/* ---- types ---- */

Test(conf, wrong_type_int)
{
	expect_only("global = {\n"
	            "  workers = \"4\";\n"
	            "};\n"
	            "listeners = ( " LSN("a", "127.0.0.1:1") " );\n",
	            2, "global: 'workers' must be an integer, not a string");
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( "
	            "\"127.0.0.1:2\" );\n"
	            "  max_flows = 1.5; } );\n",
	            2, "listener \"a\": 'max_flows' must be an integer, not a float");
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( "
	            "\"127.0.0.1:2\" );\n"
	            "  \n"
	            "  connect_timeout_ms = true; } );\n",
	            3, "listener \"a\": 'connect_timeout_ms' must be an integer, not a boolean");
}

Test(conf, wrong_type_string)
{
	expect_only("global = {\n"
	            "\n"
	            "  bpf_pin_path = 5;\n"
	            "};\n"
	            "listeners = ( " LSN("a", "127.0.0.1:1") " );\n",
	            3, "global: 'bpf_pin_path' must be a string, not an integer");
	conf_errs_free(&E);
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    proto = [ \"tcp\" ]; }\n"
	            ");\n",
	            3, "listener \"a\": 'proto' must be a string, not a list");
	conf_errs_free(&E);
	expect_only("listeners = (\n"
	            "  { bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    name = 7; }\n"
	            ");\n",
	            3, "listener #1: 'name' must be a string, not an integer");
}

Test(conf, wrong_type_address)
{
	expect_only("listeners = (\n"
	            "  { name = \"a\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    bind = ( \"127.0.0.1:1\" ); }\n"
	            ");\n",
	            3, "listener \"a\": 'bind' must be a string \"HOST:PORT\", not a list");
	conf_errs_free(&E);
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "    backends = ( \"127.0.0.1:2\",\n"
	            "                 9000 ); }\n"
	            ");\n",
	            4, "listener \"a\": 'backends' must be a string \"HOST:PORT\", not an integer");
}

Test(conf, wrong_type_list)
{
	/* A string where a list belongs. (The listener is also reported as lacking
	 * backends, at its own line; only the type error is asserted here.) */
	load_bad("listeners = (\n"
	         "  { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	         "    backends = \"127.0.0.1:2\"; }\n"
	         ");\n");
	expect_err(3, "listener \"a\": 'backends' must be a list of strings, not a string");
}

Test(conf, wrong_type_sections)
{
	expect_only("global = 5;\n"
	            "listeners = ( " LSN("a", "127.0.0.1:1") " );\n",
	            1, "'global' must be a group { ... }");
	conf_errs_free(&E);
	expect_only(
	    "listeners = (\n"
	    "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9000\" ); },\n"
	    "  \"b\" );\n",
	    3, "listener #2 must be a group { ... }");
	conf_errs_free(&E);
	load_bad("\nlisteners = { name = \"a\"; };\n");
	expect_err(2, "'listeners' must be a list of groups");
}

Test(conf, bad_enum_value)
{
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    proto = \"sctp\"; }\n"
	            ");\n",
	            3, "listener \"a\": 'proto' must be one of tcp, udp, not \"sctp\"");
	conf_errs_free(&E);
	expect_only("listeners = (\n"
	            "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:2\" );\n"
	            "    mode = \"TCP\"; }\n"
	            ");\n",
	            3, "'mode' must be one of forward, http, connect, not \"TCP\"");
}

/* ---- ranges ---- */

/* One listener key set to value must fail at line 2 with message needle. */
static void expect_listener_range(const char *key, const char *value, const char *needle)
{
	char text[512];
	snprintf(text, sizeof(text),
	         "listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( "
	         "\"127.0.0.1:2\" );\n"
	         "  %s = %s; } );\n",
	         key, value);
	expect_only(text, 2, needle);
	conf_free(C);
	C = NULL;
	conf_errs_free(&E);
}

static void expect_listener_value(const char *key, const char *value, size_t off, int want)
{
	char text[512];
	snprintf(text, sizeof(text),
	         "listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( "
	         "\"127.0.0.1:2\" );\n"
	         "  %s = %s; } );\n",
	         key, value);
	load_ok(text);
	cr_expect_eq(*(int *)((char *)C->listeners[0] + off), want, "%s = %s", key, value);
	conf_free(C);
	C = NULL;
}

Test(conf, int_below_range)
{
	expect_listener_range(
	    "connect_timeout_ms", "0",
	    "listener \"a\": 'connect_timeout_ms' is out of range: 0 (allowed 1 to 600000)");
	expect_listener_range("max_flows", "0",
	                      "'max_flows' is out of range: 0 (allowed 1 to 10000000)");
	expect_listener_range("buffer_size", "4095",
	                      "'buffer_size' is out of range: 4095 (allowed 4096 to 16777216)");
	expect_listener_range("idle_timeout_ms", "-1",
	                      "'idle_timeout_ms' is out of range: -1 (allowed 0 to 604800000)");
	expect_only(
	    "global = {\n  workers = -1;\n};\nlisteners = ( " LSN("a", "127.0.0.1:1") " );\n", 2,
	    "global: 'workers' is out of range: -1 (allowed 0 to 256)");
}

Test(conf, int_above_range)
{
	expect_listener_range("connect_timeout_ms", "600001",
	                      "'connect_timeout_ms' is out of range: 600001");
	expect_listener_range("max_flows", "10000001", "'max_flows' is out of range: 10000001");
	expect_listener_range("buffer_size", "16777217", "'buffer_size' is out of range: 16777217");
	expect_listener_range("idle_timeout_ms", "604800001",
	                      "'idle_timeout_ms' is out of range: 604800001");
	/* A 64-bit literal is compared as such, not truncated to int. */
	expect_listener_range("max_flows", "99999999999L",
	                      "'max_flows' is out of range: 99999999999 (allowed 1 to 10000000)");
	load_bad("global = {\n"
	         "  shutdown_grace_ms = 3600001;\n"
	         "  workers = 257;\n"
	         "};\n"
	         "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_eq(E.n, 2, "errors:%s", all_errs());
	expect_err(2,
	           "global: 'shutdown_grace_ms' is out of range: 3600001 (allowed 0 to 3600000)");
	expect_err(3, "global: 'workers' is out of range: 257 (allowed 0 to 256)");
}

Test(conf, int_range_bounds_are_inclusive)
{
	expect_listener_value("connect_timeout_ms", "600000",
	                      offsetof(struct conf_listener, connect_timeout_ms), 600000);
	expect_listener_value("max_flows", "1", offsetof(struct conf_listener, max_flows), 1);
	expect_listener_value("buffer_size", "16777216",
	                      offsetof(struct conf_listener, buffer_size), 16777216);
	expect_listener_value("idle_timeout_ms", "604800000",
	                      offsetof(struct conf_listener, idle_timeout_ms), 604800000);
	expect_listener_value("max_flows", "5000L", offsetof(struct conf_listener, max_flows),
	                      5000);
	load_ok("global = { workers = 256; shutdown_grace_ms = 3600000; };\n"
	        "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_eq(C->global.workers, 256);
	cr_assert_eq(C->global.shutdown_grace_ms, 3600000);
}

Test(conf, string_lengths)
{
	char n64[65], text[512];
	memset(n64, 'n', 64);
	n64[64] = 0;
	snprintf(text, sizeof(text), "listeners = (\n  " LSN("%s", "127.0.0.1:1") "\n);\n", n64);
	expect_only(text, 2, "'name' must be 1 to 63 characters long");
	conf_errs_free(&E);

	expect_only("listeners = (\n  " LSN("", "127.0.0.1:1") "\n);\n", 2,
	            "listener \"\": 'name' must be 1 to 63 characters long");
	conf_errs_free(&E);

	n64[63] = 0; /* 63 is fine */
	snprintf(text, sizeof(text), "listeners = (\n  " LSN("%s", "127.0.0.1:1") "\n);\n", n64);
	load_ok(text);
	cr_assert_eq(strlen(C->listeners[0]->name), 63);
	conf_free(C);
	C = NULL;

	char i65[66];
	memset(i65, 'i', 65);
	i65[65] = 0;
	snprintf(text, sizeof(text),
	         "global = { instance = \"%s\"; };\nlisteners = ( " LSN("a", "127.0.0.1:1") " );\n",
	         i65);
	expect_only(text, 1, "global: 'instance' must be 1 to 64 characters long");
	conf_errs_free(&E);

	char s108[109];
	memset(s108, 's', 108);
	s108[0] = '/';
	s108[108] = 0;
	snprintf(text, sizeof(text),
	         "global = {\n  control_socket = \"%s\";\n};\nlisteners = ( " LSN(
	             "a", "127.0.0.1:1") " );\n",
	         s108);
	expect_only(text, 2, "global: 'control_socket' must be 1 to 107 characters long");
}

/* ---- addresses ---- */

Test(conf, bad_bind_address)
{
	static const char *const bad[] = {"127.0.0.1",      "localhost:80", "::1:80",
	                                  "[127.0.0.1]:80", "1.2.3.4:http", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], needle[128];
		snprintf(text, sizeof(text),
		         "listeners = ( { name = \"a\"; backends = ( \"127.0.0.1:2\" );\n"
		         "  bind = \"%s\"; } );\n",
		         bad[i]);
		snprintf(needle, sizeof(needle),
		         "listener \"a\": 'bind': bad address \"%s\" (expected IP:PORT, "
		         "[IPv6]:PORT or *:PORT)",
		         bad[i]);
		expect_only(text, 2, needle);
		conf_errs_free(&E);
	}
}

Test(conf, bad_backend_address)
{
	/* (libconfig 1.5 dates a string list element by the token after it: keep the
	 * ',' or ')' on the element's line for an exact line number.) */
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = (\n"
	            "    \"127.0.0.1:2\",\n"
	            "    \"127.0.0.1\" ); } );\n",
	            4,
	            "listener \"a\": 'backends': bad address \"127.0.0.1\" (expected HOST:PORT or "
	            "[IPv6]:PORT)");
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = (\n"
	            "    \"[::1]\",\n"
	            "    \"127.0.0.1:3\"\n"
	            "  ); } );\n",
	            3, "listener \"a\": 'backends': bad address \"[::1]\"");
}

Test(conf, bad_port)
{
	expect_only("listeners = ( { name = \"a\"; backends = ( \"127.0.0.1:2\" );\n"
	            "  bind = \"127.0.0.1:0\"; } );\n",
	            2, "listener \"a\": 'bind': bad port in \"127.0.0.1:0\" (1-65535)");
	conf_errs_free(&E);
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = ( \"127.0.0.1:2\",\n"
	            "    \"[::1]:65536\" ); } );\n",
	            3, "listener \"a\": 'backends': bad port in \"[::1]:65536\" (1-65535)");
}

Test(conf, unresolvable_backend)
{
	expect_only("listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	            "  backends = ( \"127.0.0.1:2\",\n"
	            "\n"
	            "    \"no-such-host.invalid:80\" ); } );\n",
	            4, "listener \"a\": 'backends': cannot resolve \"no-such-host.invalid:80\": ");
}

Test(conf, backends_count)
{
	/* The count error at the key; the listener is also said to lack backends. */
	load_bad("listeners = (\n"
	         "  { name = \"a\"; bind = \"127.0.0.1:1\";\n"
	         "    backends = ( ); }\n"
	         ");\n");
	expect_err(3, "listener \"a\": 'backends' must have 1 to 256 entries, not 0");

	conf_errs_free(&E);
	struct buf b;
	buf_init(&b);
	buf_printf(&b,
	           "listeners = (\n  { name = \"a\"; bind = \"127.0.0.1:1\";\n    backends = (");
	for (int i = 1; i <= 257; i++)
		buf_printf(&b, "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	buf_printf(&b, " ); }\n);\n");
	load_bad(b.data);
	expect_err(3, "listener \"a\": 'backends' must have 1 to 256 entries, not 257");

	/* 256 is the most. */
	b.len = 0;
	buf_printf(&b,
	           "listeners = (\n  { name = \"a\"; bind = \"127.0.0.1:1\";\n    backends = (");
	for (int i = 1; i <= 256; i++)
		buf_printf(&b, "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	buf_printf(&b, " ); }\n);\n");
	conf_errs_free(&E);
	load_ok(b.data);
	cr_assert_eq(C->listeners[0]->backends.n, 256);
	cr_assert_eq(addr_port(&C->listeners[0]->backends.v[255].a), 256);
	buf_free(&b);
}

/* ---- listeners across the file ---- */

Test(conf, duplicate_listener_name)
{
	expect_only(
	    "listeners = (\n"
	    "  { name = \"web\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9000\" ); },\n"
	    "  { name = \"other\"; bind = \"127.0.0.1:2\"; backends = ( \"127.0.0.1:9000\" ); },\n"
	    "  { name = \"web\"; bind = \"127.0.0.1:3\"; backends = ( \"127.0.0.1:9000\" ); }\n"
	    ");\n",
	    4, "duplicate listener name \"web\" (first defined at line 2)");
}

Test(conf, duplicate_bind_same_proto)
{
	expect_only(
	    "listeners = (\n"
	    "  { name = \"a\"; bind = \"[::1]:80\"; backends = ( \"127.0.0.1:9\" ); },\n"
	    "  { name = \"b\";\n"
	    "    bind = \"[0:0::1]:80\";\n"
	    "    backends = ( \"127.0.0.1:9\" ); }\n"
	    ");\n",
	    4, "listener \"b\": bind [0:0::1]:80/tcp is already used by listener \"a\" (line 2)");
	conf_errs_free(&E);
	expect_only(
	    "listeners = (\n"
	    "  { name = \"a\"; proto = \"udp\"; bind = \"127.0.0.1:53\"; backends = ( "
	    "\"127.0.0.1:9\" ); },\n"
	    "  { name = \"b\"; proto = \"udp\"; backends = ( \"127.0.0.1:9\" );\n"
	    "    bind = \"127.0.0.1:53\"; }\n"
	    ");\n",
	    4, "listener \"b\": bind 127.0.0.1:53/udp is already used by listener \"a\" (line 2)");
}

Test(conf, same_address_different_proto_allowed)
{
	load_ok("listeners = (\n"
	        "  { name = \"t\"; bind = \"127.0.0.1:53\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"u\"; bind = \"127.0.0.1:53\"; proto = \"udp\"; backends = ( "
	        "\"127.0.0.1:9\" ); },\n"
	        "  { name = \"any4\"; bind = \"*:53\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"any6\"; bind = \"[::]:53\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"p\"; bind = \"127.0.0.1:54\"; backends = ( \"127.0.0.1:9\" ); }\n"
	        ");\n");
	cr_assert_eq(C->nlisteners, 5);
}

Test(conf, listener_same_socket)
{
	load_ok("listeners = (\n"
	        "  { name = \"t\"; bind = \"127.0.0.1:53\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"u\"; bind = \"127.0.0.1:53\"; proto = \"udp\"; backends = ( "
	        "\"127.0.0.1:9\" ); },\n"
	        "  { name = \"p\"; bind = \"127.0.0.1:54\"; backends = ( \"127.0.0.1:9\" ); },\n"
	        "  { name = \"six\"; bind = \"[::ffff:127.0.0.1]:53\"; backends = ( "
	        "\"127.0.0.1:9\" ); }\n"
	        ");\n");
	struct conf_listener **l = C->listeners;
	cr_assert(conf_listener_same_socket(l[0], l[0]));
	cr_assert_not(conf_listener_same_socket(l[0], l[1]), "other proto");
	cr_assert_not(conf_listener_same_socket(l[0], l[2]), "other port");
	cr_assert_not(conf_listener_same_socket(l[0], l[3]), "other family");

	/* Across a reload: a differently named listener of the next config on the same
	 * socket, with other settings, reuses it. */
	struct conf *next = NULL;
	struct conf_errs e2 = {0};
	cr_assert_eq(
	    conf_load_string("next.conf",
	                     "listeners = ( { name = \"renamed\"; bind = \"127.0.0.1:53\";\n"
	                     "  max_flows = 5; backends = ( \"127.0.0.1:10\" ); } );\n",
	                     &next, &e2),
	    0);
	cr_assert(conf_listener_same_socket(l[0], next->listeners[0]));
	cr_assert(conf_listener_same_socket(next->listeners[0], l[0]));
	cr_assert_not(conf_listener_same_socket(l[1], next->listeners[0]));
	conf_free(next);
	conf_errs_free(&e2);
}

Test(conf, missing_required_key)
{
	expect_only(
	    "listeners = (\n"
	    "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9000\" ); },\n"
	    "  {\n"
	    "    bind = \"127.0.0.1:2\";\n"
	    "    backends = ( \"127.0.0.1:9\" );\n"
	    "  }\n"
	    ");\n",
	    3, "listener #2: missing required key 'name'");
	conf_errs_free(&E);
	expect_only("listeners = (\n"
	            "  { name = \"a\";\n"
	            "    backends = ( \"127.0.0.1:9\" ); }\n"
	            ");\n",
	            2, "listener \"a\": missing required key 'bind'");
}

Test(conf, missing_backends)
{
	expect_only(
	    "listeners = (\n"
	    "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9000\" ); },\n"
	    "  { name = \"b\";\n"
	    "    bind = \"127.0.0.1:2\"; }\n"
	    ");\n",
	    3, "listener \"b\": mode \"forward\" needs 'backends'");
}

Test(conf, missing_listeners)
{
	expect_only("global = { workers = 1; };\n", 1, "no 'listeners' section: nothing to do");
	conf_errs_free(&E);
	expect_only("", 1, "no 'listeners' section: nothing to do");
}

Test(conf, bad_listener_name_characters)
{
	static const char *const bad[] = {"web 1", "a/b", "caf\xc3\xa9", "x;y", "tab\\there"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(
		    text, sizeof(text),
		    "listeners = (\n  { bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" );\n"
		    "    name = \"%s\"; }\n);\n",
		    bad[i]);
		load_bad(text);
		cr_expect_eq(E.n, 1, "name \"%s\": errors:%s", bad[i], all_errs());
		expect_err(3, "'name' may use only letters, digits, '_', '-' and '.'");
		conf_errs_free(&E);
	}
	load_ok("listeners = ( " LSN("Az09_.-", "127.0.0.1:1") " );\n");
	cr_assert_str_eq(C->listeners[0]->name, "Az09_.-");
}

Test(conf, bad_instance_characters)
{
	expect_only("global = {\n  instance = \"../x\";\n};\nlisteners = ( " LSN(
	                "a", "127.0.0.1:1") " );\n",
	            2,
	            "global: 'instance' may use only letters, digits, '_', '-' and '.': \"../x\"");
}

Test(conf, several_errors_all_reported_in_line_order)
{
	load_bad("global = {\n"                                                           /* 1 */
	         "  workers = 1000;\n"                                                    /* 2 */
	         "};\n"                                                                   /* 3 */
	         "listeners = (\n"                                                        /* 4 */
	         "  { name = \"a\"; bind = \"1.2.3.4:0\";\n"                              /* 5 */
	         "    backends = ( \"127.0.0.1:9\" ); },\n"                               /* 6 */
	         "  { name = \"a\"; bind = \"1.2.3.5:80\";\n"                             /* 7 */
	         "    backends = ( \"127.0.0.1:9\" ); frobnicate = 1; max_flows = 0; }\n" /* 8 */
	         ");\n"                                                                   /* 9 */
	         "extra = 1;\n");                                                         /* 10 */
	static const char *const want[] = {
	    NAME ":2: global: 'workers' is out of range: 1000 (allowed 0 to 256)",
	    NAME ":5: listener \"a\": 'bind': bad port in \"1.2.3.4:0\" (1-65535)",
	    NAME ":7: duplicate listener name \"a\" (first defined at line 5)",
	    NAME ":8: listener \"a\": unknown key 'frobnicate'",
	    NAME ":8: listener \"a\": 'max_flows' is out of range: 0 (allowed 1 to 10000000)",
	    NAME ":10: unknown section 'extra' (expected global, listeners, tunnel or upstreams)",
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	cr_assert_eq(E.n, n, "errors:%s", all_errs());
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(E.msg[i], want[i]);
}

/* ---- files and paths ---- */

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/kfwd-conf-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

Test(conf, load_file_and_relative_paths)
{
	make_tmpdir();
	char path[128], want[256];
	snprintf(path, sizeof(path), "%s/inst.conf", tmpdir);
	write_file(path, "global = {\n"
	                 "  control_socket = \"ctl/kfwd.sock\";\n"
	                 "  bpf_pin_path = \"pins\";\n"
	                 "};\n"
	                 "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	int rc = conf_load(path, &C, &E);
	cr_assert_eq(rc, 0, "errors:%s", all_errs());
	cr_assert_str_eq(C->path, path);
	cr_assert_str_eq(C->global.instance, "inst");
	snprintf(want, sizeof(want), "%s/ctl/kfwd.sock", tmpdir);
	cr_assert_str_eq(C->global.control_socket, want);
	snprintf(want, sizeof(want), "%s/pins", tmpdir);
	cr_assert_str_eq(C->global.bpf_pin_path, want);
}

Test(conf, absolute_paths_kept)
{
	load_ok_as("some/dir/x.conf", "global = {\n"
	                              "  control_socket = \"/run/x.sock\";\n"
	                              "  bpf_pin_path = \"/sys/fs/bpf/x\";\n"
	                              "};\n"
	                              "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_str_eq(C->global.control_socket, "/run/x.sock");
	cr_assert_str_eq(C->global.bpf_pin_path, "/sys/fs/bpf/x");
}

Test(conf, relative_paths_from_the_name_given_to_load_string)
{
	load_ok_as("some/dir/x.conf", "global = { control_socket = \"x.sock\"; };\n"
	                              "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_str_eq(C->global.control_socket, "some/dir/x.sock");
	conf_free(C);
	C = NULL;
	/* No folder in the name: the path stays relative (to the working directory). */
	load_ok_as("x.conf", "global = { control_socket = \"x.sock\"; };\n"
	                     "listeners = ( " LSN("a", "127.0.0.1:1") " );\n");
	cr_assert_str_eq(C->global.control_socket, "x.sock");
}

Test(conf, include_relative_to_config_folder)
{
	make_tmpdir();
	char path[128], inc[128];
	snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
	snprintf(inc, sizeof(inc), "%s/listeners.inc", tmpdir);
	write_file(inc, "listeners = ( " LSN("inc", "127.0.0.1:1") " );\n");
	write_file(path, "global = { workers = 2; };\n@include \"listeners.inc\"\n");
	int rc = conf_load(path, &C, &E);
	cr_assert_eq(rc, 0, "errors:%s", all_errs());
	cr_assert_eq(C->nlisteners, 1);
	cr_assert_str_eq(C->listeners[0]->name, "inc");
}

Test(conf, load_file_syntax_error)
{
	make_tmpdir();
	char path[128];
	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, "global = {\n  workers = 1;\n  instance = };\n");
	C = (struct conf *)&C;
	cr_assert_eq(conf_load(path, &C, &E), -EINVAL);
	cr_assert_null(C);
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err(path, 3, "syntax error"), 0, "errors:%s", all_errs());
}

Test(conf, load_file_errors_name_the_file)
{
	make_tmpdir();
	char path[128];
	snprintf(path, sizeof(path), "%s/e.conf", tmpdir);
	write_file(path, "listeners = (\n  { name = \"a\"; bind = \"127.0.0.1:1\"; }\n);\n");
	cr_assert_eq(conf_load(path, &C, &E), -EINVAL);
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err(path, 2, "listener \"a\": mode \"forward\" needs 'backends'"), 0,
	              "errors:%s", all_errs());
}

Test(conf, load_missing_file)
{
	C = (struct conf *)&C;
	cr_assert_eq(conf_load("/nonexistent/kfwd.conf", &C, &E), -EINVAL);
	cr_assert_null(C);
	cr_assert_eq(E.n, 1);
	cr_assert_str_eq(E.msg[0],
	                 "/nonexistent/kfwd.conf:0: cannot open: No such file or directory");
}

/* ---- lifetime ---- */

Test(conf, listener_outlives_its_config)
{
	load_ok("listeners = ( " LSN("keep", "127.0.0.1:1") " );\n");
	struct conf_listener *l = conf_listener_ref(C->listeners[0]);
	cr_assert_eq(l->refcnt, 2);
	conf_free(C);
	C = NULL;
	/* Still valid (ASan would report a use after free otherwise). */
	cr_assert_eq(l->refcnt, 1);
	cr_assert_str_eq(l->name, "keep");
	cr_assert_str_eq(l->backends.v[0].text, "127.0.0.1:9000");
	conf_listener_unref(l); /* the last reference frees it (LSan would report a leak) */
	conf_listener_unref(NULL);
}

Test(conf, errs_free_resets)
{
	load_bad("listeners = 1;\n");
	cr_assert_gt(E.n, 0);
	conf_errs_free(&E);
	cr_assert_eq(E.n, 0);
	cr_assert_null(E.msg);
	conf_errs_free(&E);
	/* Reusable after a free. */
	expect_only("", 1, "no 'listeners' section");
}

/* ---- schema documentation ---- */

Test(conf, schema_markdown_mentions_every_key)
{
	static const char *const keys[] = {
	    "workers",
	    "instance",
	    "control_socket",
	    "bpf_pin_path",
	    "fastpath_backlog",
	    "fastpath_sndbuf",
	    "fastpath_sndbuf_total",
	    "interfaces",
	    "xdp_forward",
	    "shutdown_grace_ms",
	    "name",
	    "bind",
	    "proto",
	    "mode",
	    "backends",
	    "idle_timeout_ms",
	    "connect_timeout_ms",
	    "max_flows",
	    "buffer_size",
	    "fastpath",
	    "sanitize",
	    "accept",
	    "allow_sources",
	    "deny_sources",
	    "new_flow_rate",
	    "new_flow_burst",
	    "via",
	    "target",
	    "forwarded",
	    "header_limit",
	    /* tunnel */
	    "role",
	    "peer",
	    "bind",
	    "peer_name",
	    "tls",
	    "transport",
	    /* tunnel.tls */
	    "ca",
	    "cert",
	    "key",
	    /* tunnel.transport */
	    "initial_rtt_ms",
	    "cc",
	    "max_idle_timeout_ms",
	    "keep_alive_ms",
	    "connect_interval_ms",
	    "handshake_timeout_ms",
	    "initial_max_data",
	    "initial_max_stream_data",
	    "max_window",
	    "max_stream_window",
	    "max_streams",
	    "max_udp_payload",
	    "stream_buffer",
	    "udp_rcvbuf",
	    "udp_sndbuf",
	    "gso",
	    "gro",
	    /* upstreams */
	    "http",
	    "allow",
	    "connect_timeout_ms",
	    "response_timeout_ms",
	    "pool_idle",
	    /* global.dns */
	    "dns",
	    "servers",
	    "min_ttl_s",
	    "max_ttl_s",
	    "neg_ttl_s",
	    "timeout_ms",
	    "tries",
	    "happy_delay_ms",
	    /* listener: the CONNECT proxy, listener.auth */
	    "allow", /* a second row: the listener's own */
	    "deny",
	    "auth",
	    "request_timeout_ms",
	    "log_client_address",
	    "forward_proxy",
	    "type",
	    "users_file",
	    /* listener: relay policy */
	    "max_lifetime_ms",
	    "max_bytes",
	    "max_rate_bps",
	    "min_rate_bpm",
	    "min_rate_grace_ms",
	};
	size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	struct buf b;
	buf_init(&b);
	conf_schema_markdown(&b);
	cr_assert_not_null(b.data);
	cr_assert_eq(b.oom, 0);
	cr_assert_not_null(strstr(b.data, "## `global`"));
	cr_assert_not_null(strstr(b.data, "## `listeners`"));
	cr_assert_lt(strstr(b.data, "## `global`"), strstr(b.data, "## `listeners`"));
	for (size_t i = 0; i < nkeys; i++) {
		char row[64];
		snprintf(row, sizeof(row), "\n| `%s` |", keys[i]);
		cr_expect_not_null(strstr(b.data, row), "no row for '%s'", keys[i]);
	}
	/* No key is documented that this list (and so the other tests) does not know. */
	size_t rows = 0;
	for (const char *p = b.data; (p = strstr(p, "\n| `")); p++)
		rows++;
	cr_expect_eq(rows, nkeys, "%zu key rows for %zu keys:\n%s", rows, nkeys, b.data);
	/* Defaults and bounds appear as written in a config. */
	static const char *const bits[] = {
	    "`5000`",
	    "`65536`",
	    "`131072`",
	    "`10000`",
	    "`\"tcp\"`",
	    "`\"forward\"`",
	    "`/sys/fs/bpf/kfwd`",
	    "/run/kfwd/<instance>.sock",
	    "4096 to 16777216",
	    "0 to 256",
	    "1 to 256 entries",
	    "`tcp`, `udp`",
	    "1 to 63 characters, `[A-Za-z0-9_.-]`",
	};
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		cr_expect_not_null(strstr(b.data, bits[i]), "\"%s\" missing from:\n%s", bits[i],
		                   b.data);
	buf_free(&b);
}

Test(conf, schema_keys_are_the_keys_the_loader_accepts)
{
	/* Every documented key is accepted where its table says it belongs. */
	load_ok("global = { workers = 1; instance = \"i\"; control_socket = \"/s\";\n"
	        "  bpf_pin_path = \"/p\"; shutdown_grace_ms = 1; };\n"
	        "listeners = ( { name = \"a\"; bind = \"127.0.0.1:1\"; proto = \"tcp\"; mode = "
	        "\"forward\";\n"
	        "  backends = ( \"127.0.0.1:2\" ); idle_timeout_ms = 1; connect_timeout_ms = 1;\n"
	        "  max_flows = 1; buffer_size = 4096; } );\n");
}

/* ---- one message per cause ---- */

Test(conf, empty_listener_list_is_rejected)
{
	load_bad("global = { workers = 1; };\nlisteners = ( );\n");
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err(NAME, 2, "'listeners' is empty"), 0, "errors:%s", all_errs());
}

Test(conf, bad_backends_type_is_reported_once)
{
	load_bad("listeners = (\n  { name = \"a\"; bind = \"127.0.0.1:1\";\n    backends = \"127.0.0.1:2\"; }\n);\n");
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err(NAME, 3, "'backends' must be a list"), 0, "errors:%s", all_errs());
}

Test(conf, listeners_not_a_list_is_reported_once)
{
	load_bad("listeners = 5;\n");
	cr_assert_eq(E.n, 1, "errors:%s", all_errs());
	cr_assert_geq(find_err(NAME, 1, "must be a list of groups"), 0, "errors:%s", all_errs());
}

Test(conf, triple_name_gets_one_message_each)
{
	load_bad("listeners = (\n"
		 "  { name = \"a\"; bind = \"127.0.0.1:1\"; backends = ( \"127.0.0.1:9\" ); },\n"
		 "  { name = \"a\"; bind = \"127.0.0.1:2\"; backends = ( \"127.0.0.1:9\" ); },\n"
		 "  { name = \"a\"; bind = \"127.0.0.1:3\"; backends = ( \"127.0.0.1:9\" ); }\n"
		 ");\n");
	cr_assert_eq(E.n, 2, "errors:%s", all_errs());
	cr_assert_geq(find_err(NAME, 3, "duplicate listener name"), 0, "errors:%s", all_errs());
	cr_assert_geq(find_err(NAME, 4, "duplicate listener name"), 0, "errors:%s", all_errs());
}

Test(conf, forward_proxy_defaults_on)
{
	load_ok("listeners = ( { name = \"p\"; bind = \"127.0.0.1:3128\"; mode = \"connect\"; },\n"
	        "  { name = \"q\"; bind = \"127.0.0.1:3129\"; mode = \"connect\";\n"
	        "    forward_proxy = false; } );\n");
	cr_assert_eq(C->nlisteners, 2);
	cr_expect(C->listeners[0]->forward_proxy, "squid forwards plain HTTP by default; so does kfwd");
	cr_expect(!C->listeners[1]->forward_proxy);
}
