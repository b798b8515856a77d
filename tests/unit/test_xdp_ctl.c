/*
 * xdp (userspace/xdp.c) and udp_fast against the kernel: attach and detach,
 * pins, cleanup after a crashed run, refusing a foreign program, the
 * listener table and its prefixes, and flows installed by udp_fast that the
 * program then forwards. Pure helpers are tested without privileges; the
 * rest runs as root in a private network and mount namespace (veths of
 * xdp_netns.h, a bpffs of its own) and is skipped otherwise.
 */
#include "daemon.h"
#include "pktbuild.h"
#include "udp_fast.h"
#include "xdp.h"
#include "xdp_fwd.skel.h"
#include "xdp_netns.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- pure helpers --------------------------------------------------------------- */

Test(xdp_ctl, names_are_unique_and_plain)
{
	for (int r = 0; r < KFWD_XR__MAX; r++) {
		const char *n = xdp_reason_name(r);
		cr_assert_str_neq(n, "?", "reason %d has no name", r);
		for (const char *p = n; *p; p++)
			cr_assert(islower((unsigned char)*p) || *p == '_' ||
			              isdigit((unsigned char)*p),
			          "reason name \"%s\"", n);
		for (int o = 0; o < r; o++)
			cr_assert_str_neq(n, xdp_reason_name(o), "reasons %d and %d", o, r);
	}
	for (int c = 0; c < KFWD_XCLS__MAX; c++)
		cr_assert_str_neq(xdp_class_name(c), "?");
	cr_assert_str_eq(xdp_verdict_name(XDP_REDIRECT), "redirect");
	cr_assert_str_eq(xdp_reason_name(KFWD_XR__MAX), "?");
	cr_assert_str_eq(xdp_reason_name(-1), "?");
	cr_assert_str_eq(xdp_class_name(KFWD_XCLS__MAX), "?");
	cr_assert_str_eq(xdp_verdict_name(5), "?");
}

Test(xdp_ctl, listener_keys)
{
	struct kfwd_xlsn_key k;
	struct addr a;
	uint8_t zero[16] = {0};
	cr_assert_eq(addr_parse("10.1.0.1:5353", &a), 0);
	xdp_lsn_key(&k, &a, PROTO_UDP);
	cr_assert_eq(k.family, AF_INET);
	cr_assert_eq(k.proto, IPPROTO_UDP);
	cr_assert_eq(k.port, htons(5353));
	cr_assert_eq(k.addr[0], 10);
	cr_assert_eq(k.addr[3], 1);
	cr_assert_arr_eq(k.addr + 4, zero, 12);
	cr_assert_eq(addr_parse("*:80", &a), 0);
	xdp_lsn_key(&k, &a, PROTO_TCP);
	cr_assert_eq(k.proto, IPPROTO_TCP);
	cr_assert_arr_eq(k.addr, zero, 16, "wildcard: all zero");
	cr_assert_eq(addr_parse("[::]:443", &a), 0);
	xdp_lsn_key(&k, &a, PROTO_UDP);
	cr_assert_eq(k.family, AF_INET6);
	cr_assert_arr_eq(k.addr, zero, 16);
}

static struct conf *load_conf(const char *listener)
{
	char text[2048];
	struct conf *c = NULL;
	struct conf_errs e = {0};
	snprintf(text, sizeof(text),
	         "global = { interfaces = (\"c0\"); control_socket = \"/tmp/x.sock\"; };\n"
	         "listeners = ( { name = \"l\"; backends = (\"10.2.0.2:5300\"); %s } );\n",
	         listener);
	int rc = conf_load_string("t.conf", text, &c, &e);
	cr_assert_eq(rc, 0, "config: %s", e.n ? e.msg[0] : "?");
	conf_errs_free(&e);
	return c;
}

Test(xdp_ctl, listener_values)
{
	struct conf *c = load_conf("bind = \"10.1.0.1:5353\"; proto = \"udp\"; sanitize = true; "
	                           "accept = (\"quic\", \"wireguard\"); "
	                           "allow_sources = (\"10.0.0.0/8\"); new_flow_rate = 5;");
	struct kfwd_xlsn v;
	xdp_lsn_value(&v, c->listeners[0], 9, 3);
	cr_assert_eq(v.listener, 9);
	cr_assert_eq(v.slot, 3);
	cr_assert_eq(v.flags, KFWD_XLSN_SANITIZE | KFWD_XLSN_SOURCES | KFWD_XLSN_ALLOWLIST);
	cr_assert_eq(v.accept, KFWD_XACCEPT_QUIC | KFWD_XACCEPT_WIREGUARD);
	cr_assert_eq(v.rate_ns, 200000000ull);
	cr_assert_eq(v.burst_ns, 4 * 200000000ull, "burst defaults to one second's worth");
	conf_free(c);

	c = load_conf("bind = \"10.1.0.1:80\"; deny_sources = (\"fd00::/8\"); "
	              "new_flow_rate = 10000000; new_flow_burst = 1;");
	xdp_lsn_value(&v, c->listeners[0], 9, 3);
	cr_assert_eq(v.flags, KFWD_XLSN_SOURCES, "deny only: no allow list");
	cr_assert_eq(v.accept, 0);
	cr_assert_eq(v.rate_ns, 100);
	cr_assert_eq(v.burst_ns, 0);
	cr_assert(xdp_lsn_needs_door(c->listeners[0]));
	conf_free(c);

	c = load_conf("bind = \"10.1.0.1:80\";");
	xdp_lsn_value(&v, c->listeners[0], 9, 3);
	cr_assert_eq(v.flags, 0);
	cr_assert_eq(v.rate_ns, 0);
	cr_assert_not(xdp_lsn_needs_door(c->listeners[0]));
	conf_free(c);
}

Test(xdp_ctl, source_keys)
{
	struct conf_prefix p;
	struct kfwd_xsrc_key k;
	const char *why;
	cr_assert_eq(conf_prefix_parse("10.1.0.0/16", &p, &why), 0);
	xdp_src_key(&k, 258, &p);
	cr_assert_eq(k.prefixlen, KFWD_XSRC_PREFIX_BASE + 16);
	const uint8_t slot[4] = {0, 0, 1, 2}; /* big endian: compared first, bit by bit */
	cr_assert_arr_eq(&k.slot_be, slot, 4);
	cr_assert_eq(k.family, AF_INET);
	cr_assert_eq(k.addr[0], 10);
	cr_assert_eq(k.addr[1], 1);
	cr_assert_eq(k._pad[0] | k._pad[1] | k._pad[2], 0);
	cr_assert_eq(conf_prefix_parse("fd00::/8", &p, &why), 0);
	xdp_src_key(&k, 0, &p);
	cr_assert_eq(k.prefixlen, KFWD_XSRC_PREFIX_BASE + 8);
	cr_assert_eq(k.family, AF_INET6);
}

Test(xdp_ctl, reload_without_program_refuses_the_front_door)
{
	struct conf *old = load_conf("bind = \"10.1.0.1:80\";");
	struct conf *plain = load_conf("bind = \"10.1.0.1:81\";");
	struct conf *door = load_conf("bind = \"10.1.0.1:80\"; new_flow_rate = 3;");
	cr_assert_eq(xdp_ctl_reload_check(NULL, old, plain), 0);
	cr_assert_eq(xdp_ctl_reload_check(NULL, old, door), -EINVAL);
	conf_free(old);
	conf_free(plain);
	conf_free(door);
}

/* ---- against the kernel ------------------------------------------------------------ */

static char root[64];

static void setup(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (BPF, XDP, namespaces)");
	netns_setup();
	cr_assert_eq(unshare(CLONE_NEWNS), 0);
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(root, sizeof(root), "/tmp/kfwd-xdpctl.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(mount("bpf", root, "bpf", 0, NULL), 0, "mount bpffs: %s", strerror(errno));
}

static void teardown(void)
{
	if (root[0]) {
		umount2(root, MNT_DETACH);
		rmdir(root);
	}
}

TestSuite(xdp_kernel, .init = setup, .fini = teardown, .timeout = 60);

static char *const IFS[] = {"c0", "b0"};

static struct xdp_ctl *start(char *why, size_t len)
{
	char pins[128];
	snprintf(pins, sizeof(pins), "%s/kfwd", root);
	struct xdp_ctl_opts o = {
	    .instance = "t", .pin_root = strdup(pins), .ifnames = IFS, .nif = 2, .forward = true};
	struct xdp_ctl *x = NULL;
	int err = xdp_ctl_new(&o, &x, why, len);
	free((char *)o.pin_root);
	return err ? NULL : x;
}

static uint32_t attached(const char *dev)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	cr_assert_eq(bpf_xdp_query((int)if_nametoindex(dev), 0, &q), 0);
	return q.prog_id;
}

static bool pinned(const char *name)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/kfwd/t@xdp/%s", root, name);
	return stat(p, &st) == 0;
}

Test(xdp_kernel, attach_pin_detach_unpin)
{
	char why[256];
	struct xdp_ctl *x = start(why, sizeof(why));
	cr_assert_not_null(x, "start: %s", why);
	cr_assert_neq(attached("c0"), 0);
	cr_assert_eq(attached("c0"), attached("b0"));
	cr_assert_str_eq(xdp_ctl_ifmode(x, 0), "native");
	for (const char *m = "xdp_flows\0xdp_listeners\0xdp_sources\0xdp_buckets\0xdp_stats\0"
	                     "xdp_lsn_stats\0xdp_prog\0";
	     *m; m += strlen(m) + 1)
		cr_assert(pinned(m), "%s not pinned", m);
	cr_assert_not(pinned("xdp_fwd.rodata"), "settings are not state");
	xdp_ctl_free(x);
	cr_assert_eq(attached("c0"), 0);
	cr_assert_eq(attached("b0"), 0);
	char dir[128];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/kfwd/t@xdp", root);
	cr_assert_neq(stat(dir, &st), 0, "pin folder left");
}

Test(xdp_kernel, crashed_run_is_cleaned_up)
{
	char why[256];
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct xdp_ctl *x = start(why, sizeof(why));
		_exit(x ? 0 : 1); /* "crash": no xdp_ctl_free */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	uint32_t old = attached("c0");
	cr_assert_neq(old, 0, "a crashed run's program stays attached");
	cr_assert(pinned("xdp_prog"));
	struct xdp_ctl *x = start(why, sizeof(why));
	cr_assert_not_null(x, "start after a crash: %s", why);
	cr_assert_neq(attached("c0"), 0);
	cr_assert_neq(attached("c0"), old, "the old program must be gone");
	cr_assert_eq(attached("b0"), attached("c0"));
	xdp_ctl_free(x);
	cr_assert_eq(attached("c0"), 0);
}

Test(xdp_kernel, foreign_program_is_not_replaced)
{
	struct xdp_fwd_bpf *other = xdp_fwd_bpf__open_and_load();
	cr_assert_not_null(other);
	int ifc = (int)if_nametoindex("b0");
	cr_assert_eq(
	    bpf_xdp_attach(ifc, bpf_program__fd(other->progs.kfwd_xdp), XDP_FLAGS_SKB_MODE, NULL),
	    0);
	uint32_t theirs = attached("b0");
	char why[256];
	struct xdp_ctl *x = start(why, sizeof(why));
	cr_assert_null(x, "started over a foreign program");
	cr_assert_not_null(strstr(why, "already has an XDP program"), "why: %s", why);
	cr_assert_eq(attached("b0"), theirs, "the foreign program was touched");
	cr_assert_eq(attached("c0"), 0, "c0 left attached after the failure");
	cr_assert_not(pinned("xdp_prog"), "pins left after the failure");
	bpf_xdp_detach(ifc, XDP_FLAGS_SKB_MODE, NULL);
	xdp_fwd_bpf__destroy(other);
}

static int map_fd(const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/kfwd/t@xdp/%s", root, name);
	int fd = bpf_obj_get(p);
	cr_assert_geq(fd, 0, "open %s", p);
	return fd;
}

static int count_entries(int fd, size_t key_size)
{
	uint8_t k[64], next[64];
	int n = 0;
	void *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

Test(xdp_kernel, listeners_and_prefixes)
{
	char why[256];
	struct xdp_ctl *x = start(why, sizeof(why));
	cr_assert_not_null(x, "%s", why);
	struct conf *c = load_conf("bind = \"10.1.0.1:5353\"; proto = \"udp\"; "
	                           "allow_sources = (\"10.0.0.0/8\", \"fd00::/8\"); "
	                           "deny_sources = (\"10.1.0.0/16\");");
	struct lsn l = {.id = 5, .name = "l", .lc = c->listeners[0], .xdp_slot = -1};
	int fl = map_fd("xdp_listeners"), fs = map_fd("xdp_sources");
	cr_assert_eq(xdp_ctl_lsn_set(x, &l), 0);
	cr_assert_geq(l.xdp_slot, 0);
	int slot = l.xdp_slot;
	struct kfwd_xlsn_key k;
	struct kfwd_xlsn v;
	xdp_lsn_key(&k, &l.lc->bind.a, PROTO_UDP);
	cr_assert_eq(bpf_map_lookup_elem(fl, &k, &v), 0);
	cr_assert_eq(v.listener, 5);
	cr_assert_eq(v.slot, slot);
	cr_assert_eq(count_entries(fs, sizeof(struct kfwd_xsrc_key)), 3);

	/* A reload with other lists replaces the prefixes, keeps the slot. */
	struct conf *c2 = load_conf("bind = \"10.1.0.1:5353\"; proto = \"udp\"; "
	                            "deny_sources = (\"192.0.2.0/24\");");
	l.lc = c2->listeners[0];
	cr_assert_eq(xdp_ctl_lsn_set(x, &l), 0);
	cr_assert_eq(l.xdp_slot, slot);
	cr_assert_eq(count_entries(fs, sizeof(struct kfwd_xsrc_key)), 1);
	cr_assert_eq(bpf_map_lookup_elem(fl, &k, &v), 0);
	cr_assert_eq(v.flags, KFWD_XLSN_SOURCES);

	/* A second listener takes another slot; removal frees only its own entries. */
	struct conf *c3 = load_conf("bind = \"[::]:53\"; proto = \"udp\"; "
	                            "deny_sources = (\"fd00::/8\");");
	struct lsn l3 = {.id = 6, .name = "l3", .lc = c3->listeners[0], .xdp_slot = -1};
	cr_assert_eq(xdp_ctl_lsn_set(x, &l3), 0);
	cr_assert_neq(l3.xdp_slot, slot);
	cr_assert_eq(count_entries(fs, sizeof(struct kfwd_xsrc_key)), 2);
	xdp_ctl_lsn_del(x, &l);
	cr_assert_neq(bpf_map_lookup_elem(fl, &k, &v), 0);
	cr_assert_eq(count_entries(fs, sizeof(struct kfwd_xsrc_key)), 1);
	cr_assert_eq(count_entries(fl, sizeof(struct kfwd_xlsn_key)), 1);
	/* A freed slot is taken again only after the others. */
	struct lsn l4 = {.id = 7, .name = "l4", .lc = c->listeners[0], .xdp_slot = -1};
	cr_assert_eq(xdp_ctl_lsn_set(x, &l4), 0);
	cr_assert_neq(l4.xdp_slot, slot);
	close(fl);
	close(fs);
	xdp_ctl_free(x);
	conf_free(c);
	conf_free(c2);
	conf_free(c3);
}

static struct udp_fast_view seen;

static void remember(void *arg, const struct udp_fast_view *v)
{
	seen = *v;
	(*(int *)arg)++;
}

/* udp_fast_install's entries, as the program reads them: a frame forwarded both ways. */
Test(xdp_kernel, installed_flow_is_forwarded)
{
	char why[256];
	struct xdp_ctl *x = start(why, sizeof(why));
	cr_assert_not_null(x, "%s", why);
	struct udp_fast_spec s = {.listener_id = 5, .slot = 1};
	cr_assert_eq(addr_parse("10.1.0.2:40000", &s.client), 0);
	cr_assert_eq(addr_parse("10.1.0.1:5353", &s.listener), 0);
	cr_assert_eq(addr_parse("10.2.0.1:50000", &s.gateway), 0);
	cr_assert_eq(addr_parse("10.2.0.2:5300", &s.backend), 0);
	struct udp_fast h;
	cr_assert_eq(udp_fast_install(x, &s, &h), 0);
	uint64_t installed = udp_fast_last_ns(x, &h);
	cr_assert_gt(installed, 0);

	char p[256];
	snprintf(p, sizeof(p), "%s/kfwd/t@xdp/xdp_prog", root);
	int prog = bpf_obj_get(p);
	cr_assert_geq(prog, 0);
	uint8_t pkt[PKT_MAX], out[PKT_MAX], data[100];
	memset(data, 0x3c, sizeof(data));
	struct pkt_spec in = {.src = "10.1.0.2",
	                      .dst = "10.1.0.1",
	                      .sport = 40000,
	                      .dport = 5353,
	                      .payload = data,
	                      .len = sizeof(data)};
	struct pkt_spec back = {.src = "10.2.0.2",
	                        .dst = "10.2.0.1",
	                        .sport = 5300,
	                        .dport = 50000,
	                        .payload = data,
	                        .len = sizeof(data)};
	const struct {
		struct pkt_spec *spec;
		const char *ifname, *src, *dst;
		uint16_t sport, dport;
	} cases[] = {
	    {&in, "c0", "10.2.0.1", "10.2.0.2", 50000, 5300},
	    {&back, "b0", "10.1.0.1", "10.1.0.2", 5353, 40000},
	};
	for (size_t i = 0; i < 2; i++) {
		size_t n = pkt_build(pkt, cases[i].spec);
		struct xdp_md ctx = {.data_end = (uint32_t)n,
		                     .ingress_ifindex = if_nametoindex(cases[i].ifname)};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)n,
		            .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		            .ctx_size_in = sizeof(ctx), .repeat = 1);
		cr_assert_eq(bpf_prog_test_run_opts(prog, &o), 0);
		cr_assert_eq(o.retval, XDP_REDIRECT, "direction %zu: verdict %u", i, o.retval);
		struct in_addr a;
		inet_pton(AF_INET, cases[i].src, &a);
		cr_assert_arr_eq(out + 14 + 12, &a, 4);
		inet_pton(AF_INET, cases[i].dst, &a);
		cr_assert_arr_eq(out + 14 + 16, &a, 4);
		cr_assert_eq(pk_get16(out + 34), cases[i].sport);
		cr_assert_eq(pk_get16(out + 36), cases[i].dport);
		cr_assert(pk_ip_csum_ok(out) && pk_l4_csum_ok(out, IPPROTO_UDP));
	}
	cr_assert_geq(udp_fast_last_ns(x, &h), installed);

	int n = 0;
	cr_assert_eq(udp_fast_foreach(x, remember, &n), 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(seen.packets_in, 1);
	cr_assert_eq(seen.packets_out, 1);
	cr_assert_eq(seen.bytes_in, 20 + 8 + sizeof(data));
	cr_assert_eq(seen.listener, 5);

	struct kfwd_xlsn_stats ls;
	cr_assert_eq(xdp_ctl_lsn_stats(x, 1, &ls), 0);
	cr_assert_eq(ls.fwd_packets[KFWD_XDIR_IN], 1);
	cr_assert_eq(ls.fwd_packets[KFWD_XDIR_OUT], 1);
	struct kfwd_xstats st;
	cr_assert_eq(xdp_ctl_stats(x, &st), 0);
	cr_assert_eq(st.reason[KFWD_XR_FORWARD], 2);

	udp_fast_remove(x, &h);
	cr_assert_eq(udp_fast_foreach(x, remember, &n), 0);
	cr_assert_eq(udp_fast_last_ns(x, &h), 0);
	close(prog);
	xdp_ctl_free(x);
}
