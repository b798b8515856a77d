/* addr: parsing "ip:port" texts, splitting, resolving and formatting. */
#include "addr.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* Parse text, which must succeed, and return the result. */
static struct addr parse_ok(const char *text)
{
	struct addr a;
	int err = addr_parse(text, &a);
	cr_assert_eq(err, 0, "addr_parse(\"%s\") = %d, want 0", text, err);
	return a;
}

static void expect_parse_err(const char *text, int want)
{
	struct addr a;
	int err = addr_parse(text, &a);
	cr_expect_eq(err, want, "addr_parse(\"%s\") = %d, want %d", text, err, want);
}

Test(addr, ipv4)
{
	struct addr a = parse_ok("192.0.2.7:8080");
	cr_assert_eq(addr_family(&a), AF_INET);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	cr_assert_eq(addr_port(&a), 8080);
	cr_assert_eq(a.u.in4.sin_port, htons(8080));
	cr_assert_eq(a.u.in4.sin_addr.s_addr, inet_addr("192.0.2.7"));
	cr_assert_not(addr_is_any(&a));
}

Test(addr, ipv6_in_brackets)
{
	struct addr a = parse_ok("[2001:db8::1]:443");
	struct in6_addr want;
	inet_pton(AF_INET6, "2001:db8::1", &want);
	cr_assert_eq(addr_family(&a), AF_INET6);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	cr_assert_eq(addr_port(&a), 443);
	cr_assert_eq(memcmp(&a.u.in6.sin6_addr, &want, sizeof(want)), 0);
	cr_assert_eq(a.u.in6.sin6_scope_id, 0);
	cr_assert_not(addr_is_any(&a));
}

Test(addr, star_is_ipv4_any)
{
	struct addr a = parse_ok("*:80");
	cr_assert_eq(addr_family(&a), AF_INET);
	cr_assert_eq(addr_port(&a), 80);
	cr_assert(addr_is_any(&a));
	struct addr b = parse_ok("0.0.0.0:80");
	cr_assert(addr_equal(&a, &b));
}

Test(addr, ipv6_any)
{
	struct addr a = parse_ok("[::]:80");
	cr_assert_eq(addr_family(&a), AF_INET6);
	cr_assert_eq(addr_port(&a), 80);
	cr_assert(addr_is_any(&a));
	/* IPv6 any and IPv4 any are two different sockets. */
	struct addr b = parse_ok("*:80");
	cr_assert_not(addr_equal(&a, &b));
}

Test(addr, scope_id_numeric_and_by_name)
{
	struct addr a = parse_ok("[fe80::1%7]:53");
	cr_assert_eq(addr_family(&a), AF_INET6);
	cr_assert_eq(a.u.in6.sin6_scope_id, 7);
	cr_assert_eq(addr_port(&a), 53);

	/* "lo" exists in every network namespace. */
	struct addr b = parse_ok("[fe80::1%lo]:53");
	cr_assert_gt(b.u.in6.sin6_scope_id, 0);

	/* The scope is part of the address. */
	struct addr c = parse_ok("[fe80::1%8]:53");
	cr_assert_not(addr_equal(&a, &c));
}

Test(addr, bad_scope_ids)
{
	expect_parse_err("[fe80::1%]:53", -EINVAL);
	expect_parse_err("[fe80::1%no-such-if0]:53", -EINVAL);
	expect_parse_err("[fe80::1%7x]:53", -EINVAL);
	/* Numeric scopes are plain decimal within 32 bits, never wrapped or signed. */
	expect_parse_err("[fe80::1%4294967296]:53", -EINVAL);
	expect_parse_err("[fe80::1%99999999999999999999999]:53", -EINVAL);
	expect_parse_err("[fe80::1%-1]:53", -EINVAL);
	expect_parse_err("[fe80::1%+5]:53", -EINVAL);
	expect_parse_err("[fe80::1% 5]:53", -EINVAL);
	/* Too long to be an address: not cut down to one that parses. */
	expect_parse_err("[fe80::1%00000000000000000000000000000000000000000000000000000000007]:53",
	                 -EINVAL);
	/* A scope id makes no sense on IPv4. */
	expect_parse_err("192.0.2.1%1:53", -EINVAL);
}

Test(addr, missing_port)
{
	expect_parse_err("192.0.2.1", -EINVAL);
	expect_parse_err("192.0.2.1:", -EINVAL);
	expect_parse_err("[::1]", -EINVAL);
	expect_parse_err("[::1]:", -EINVAL);
	expect_parse_err("[::1]80", -EINVAL);
}

Test(addr, port_range)
{
	expect_parse_err("192.0.2.1:0", -ERANGE);
	expect_parse_err("192.0.2.1:65536", -ERANGE);
	expect_parse_err("[::1]:65536", -ERANGE);
	expect_parse_err("192.0.2.1:99999999999999999999", -ERANGE);
	cr_assert_eq(addr_port((struct addr[]){parse_ok("192.0.2.1:1")}), 1);
	cr_assert_eq(addr_port((struct addr[]){parse_ok("192.0.2.1:65535")}), 65535);
}

Test(addr, port_non_digits)
{
	expect_parse_err("192.0.2.1:http", -EINVAL);
	expect_parse_err("192.0.2.1:80x", -EINVAL);
	expect_parse_err("192.0.2.1:-80", -EINVAL);
	expect_parse_err("192.0.2.1:+80", -EINVAL);
	expect_parse_err("192.0.2.1: 80", -EINVAL);
	expect_parse_err("192.0.2.1:8 0", -EINVAL);
}

Test(addr, bare_ipv6_rejected)
{
	expect_parse_err("::1:80", -EINVAL);
	expect_parse_err("2001:db8::1:443", -EINVAL);
	expect_parse_err(":::80", -EINVAL);
}

Test(addr, brackets_around_ipv4_rejected)
{
	expect_parse_err("[192.0.2.1]:80", -EINVAL);
	expect_parse_err("[*]:80", -EINVAL);
	expect_parse_err("[]:80", -EINVAL);
}

Test(addr, malformed)
{
	expect_parse_err("", -EINVAL);
	expect_parse_err(":80", -EINVAL);
	expect_parse_err("[::1:80", -EINVAL);
	expect_parse_err("192.0.2:80", -EINVAL);
	expect_parse_err("192.0.2.256:80", -EINVAL);
	expect_parse_err("example.com:80", -EINVAL); /* names only through addr_resolve */
	cr_expect_eq(addr_split(NULL, (char[8]){0}, 8, &(unsigned){0}), -EINVAL);
}

Test(addr, split)
{
	char host[64];
	unsigned port = 0;
	cr_assert_eq(addr_split("example.com:8080", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "example.com");
	cr_assert_eq(port, 8080);

	cr_assert_eq(addr_split("[fe80::1%eth0]:53", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "fe80::1%eth0");
	cr_assert_eq(port, 53);

	cr_assert_eq(addr_split("*:1", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "*");
	cr_assert_eq(port, 1);

	cr_assert_eq(addr_split("host:0", host, sizeof(host), &port), -ERANGE);
	cr_assert_eq(addr_split("host", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(addr_split("[host]:1", host, sizeof(host), &port), -EINVAL);
}

Test(addr, split_host_buffer_too_small)
{
	char host[8];
	unsigned port;
	/* 7 characters and the NUL fit, 8 do not. */
	cr_assert_eq(addr_split("abcdefg:1", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "abcdefg");
	cr_assert_eq(addr_split("abcdefgh:1", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(addr_split("[1:2:3:4::]:1", host, sizeof(host), &port), -EINVAL);
}

Test(addr, resolve_numeric_does_not_need_dns)
{
	struct addr a, b;
	const char *why = NULL;
	cr_assert_eq(addr_resolve("192.0.2.9:99", &a, &why), 0);
	cr_assert_eq(addr_parse("192.0.2.9:99", &b), 0);
	cr_assert(addr_equal(&a, &b));
	cr_assert_eq(addr_resolve("[2001:db8::9]:99", &a, &why), 0);
	cr_assert_eq(addr_parse("[2001:db8::9]:99", &b), 0);
	cr_assert(addr_equal(&a, &b));
}

Test(addr, resolve_name)
{
	struct addr a;
	const char *why = NULL;
	int err = addr_resolve("localhost:8443", &a, &why);
	cr_assert_eq(err, 0, "localhost: %s", why ? why : "?");
	cr_assert_eq(addr_port(&a), 8443);
	if (addr_family(&a) == AF_INET) {
		cr_assert_eq(a.len, sizeof(struct sockaddr_in));
		cr_assert_eq(ntohl(a.u.in4.sin_addr.s_addr) >> 24, 127);
	} else {
		cr_assert_eq(addr_family(&a), AF_INET6);
		cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
		cr_assert(IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr));
	}
}

Test(addr, resolve_failure)
{
	struct addr a;
	const char *why = NULL;
	cr_assert_eq(addr_resolve("no-such-host.invalid:80", &a, &why), -EHOSTUNREACH);
	cr_assert_not_null(why);
	cr_assert_gt(strlen(why), 0);
	/* err may be NULL. */
	cr_assert_eq(addr_resolve("no-such-host.invalid:80", &a, NULL), -EHOSTUNREACH);
	/* Syntax errors are not resolution errors. */
	cr_assert_eq(addr_resolve("no-such-host.invalid:0", &a, NULL), -ERANGE);
	cr_assert_eq(addr_resolve("no-such-host.invalid", &a, NULL), -EINVAL);
	/* A scope id on a name is malformed, not unresolvable. */
	cr_assert_eq(addr_resolve("[name%1]:80", &a, NULL), -EINVAL);
}

Test(addr, format_round_trip)
{
	static const char *const texts[] = {
	    "192.0.2.1:1",
	    "0.0.0.0:80",
	    "255.255.255.255:65535",
	    "[::1]:80",
	    "[::]:80",
	    "[2001:db8::1]:443",
	    "[fe80::1%7]:53",
	    "[::ffff:192.0.2.1]:8",
	    "[2001:db8:1:2:3:4:5:6]:9",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char out[ADDR_STRLEN];
		struct addr a = parse_ok(texts[i]);
		cr_expect_str_eq(addr_format(&a, out), texts[i]);
		cr_expect_str_eq(addr_format_sa(&a.u.sa, out), texts[i]);
	}
}

Test(addr, format_canonical)
{
	char out[ADDR_STRLEN];
	struct addr a = parse_ok("*:80");
	cr_assert_str_eq(addr_format(&a, out), "0.0.0.0:80");
	a = parse_ok("[2001:DB8:0:0::1]:80");
	cr_assert_str_eq(addr_format(&a, out), "[2001:db8::1]:80");
}

Test(addr, format_longest_fits)
{
	char out[ADDR_STRLEN];
	struct addr a =
	    parse_ok("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535");
	addr_format(&a, out);
	cr_assert_str_eq(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
	cr_assert_lt(strlen(out), ADDR_STRLEN);
}

Test(addr, format_unknown_family)
{
	char out[ADDR_STRLEN];
	struct addr a;
	memset(&a, 0, sizeof(a));
	a.u.sa.sa_family = AF_UNIX;
	cr_assert_str_eq(addr_format(&a, out), "(family 1)");
}

Test(addr, equal)
{
	struct addr a = parse_ok("192.0.2.1:80");
	struct addr b = parse_ok("192.0.2.1:80");
	cr_assert(addr_equal(&a, &b));
	b = parse_ok("192.0.2.1:81");
	cr_assert_not(addr_equal(&a, &b));
	b = parse_ok("192.0.2.2:80");
	cr_assert_not(addr_equal(&a, &b));
	b = parse_ok("[::ffff:192.0.2.1]:80");
	cr_assert_not(addr_equal(&a, &b));

	a = parse_ok("[2001:db8::1]:80");
	b = parse_ok("[2001:db8:0::1]:80");
	cr_assert(addr_equal(&a, &b));
	b = parse_ok("[2001:db8::2]:80");
	cr_assert_not(addr_equal(&a, &b));
	b = parse_ok("[2001:db8::1]:8080");
	cr_assert_not(addr_equal(&a, &b));

	/* Unset addresses are never equal, not even to themselves. */
	struct addr z;
	memset(&z, 0, sizeof(z));
	cr_assert_not(addr_equal(&z, &z));
}

Test(addr, is_any)
{
	cr_assert(addr_is_any((struct addr[]){parse_ok("0.0.0.0:1")}));
	cr_assert(addr_is_any((struct addr[]){parse_ok("[::]:1")}));
	cr_assert(addr_is_any((struct addr[]){parse_ok("[0::0]:1")}));
	cr_assert_not(addr_is_any((struct addr[]){parse_ok("127.0.0.1:1")}));
	cr_assert_not(addr_is_any((struct addr[]){parse_ok("[::1]:1")}));
	cr_assert_not(addr_is_any((struct addr[]){parse_ok("[::ffff:0.0.0.0]:1")}));
	struct addr z;
	memset(&z, 0, sizeof(z));
	cr_assert_not(addr_is_any(&z));
}
