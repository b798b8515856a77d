/*
 * A private network namespace for the BPF tests: two veth pairs with
 * addresses, permanent neighbours and IP forwarding, so that
 * bpf_fib_lookup finds real routes. Criterion runs every test in a process
 * of its own; the namespace goes away with it.
 *
 *   c0 10.1.0.1 fd01::1  client 10.1.0.2 / fd01::2, "hairpin" peer .3 (v4)
 *   b0 10.2.0.1 fd02::1  backend 10.2.0.2 / fd02::2; .3 / ::3 have no neighbour
 */
#ifndef KFWD_TEST_XDP_NETNS_H
#define KFWD_TEST_XDP_NETNS_H
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

static inline void netns_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0, "write %s", path);
}

static inline void netns_setup(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	FILE *ip = popen("ip -batch - >/dev/null", "w");
	cr_assert_not_null(ip);
	fputs("link add c0 address 02:00:00:00:01:01 type veth peer name c1\n"
	      "link add b0 address 02:00:00:00:02:01 type veth peer name b1\n"
	      "link set c0 up\nlink set c1 up\nlink set b0 up\nlink set b1 up\n"
	      "addr add 10.1.0.1/24 dev c0\naddr add 10.2.0.1/24 dev b0\n"
	      "addr add fd01::1/64 dev c0 nodad\naddr add fd02::1/64 dev b0 nodad\n"
	      "neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev c0 nud permanent\n"
	      "neigh add 10.1.0.3 lladdr 02:00:00:00:01:03 dev c0 nud permanent\n"
	      "neigh add 10.2.0.2 lladdr 02:00:00:00:02:02 dev b0 nud permanent\n"
	      "neigh add fd01::2 lladdr 02:00:00:00:01:02 dev c0 nud permanent\n"
	      "neigh add fd02::2 lladdr 02:00:00:00:02:02 dev b0 nud permanent\n",
	      ip);
	cr_assert_eq(pclose(ip), 0, "ip -batch failed");
	netns_write("/proc/sys/net/ipv4/conf/all/forwarding", "1");
	netns_write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
}

#endif
