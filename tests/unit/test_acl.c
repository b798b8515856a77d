/* acl: pattern syntax, matching of names and addresses (IPv4, IPv6,
 * IPv4-mapped), ports and port ranges; every malformed pattern's reason. */
#include "acl.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

TestSuite(acl, .timeout = 30);

static struct acl *compile1(const char *pattern)
{
	struct acl *a = NULL;
	char err[256] = "";
	int rc = acl_compile(&pattern, 1, &a, err, sizeof(err));
	cr_assert_eq(rc, 0, "acl_compile(\"%s\") = %d: %s", pattern, rc, err);
	cr_assert_not_null(a);
	return a;
}

/* A sockaddr from "ADDR" and port, for acl_match_addr. */
static struct sockaddr_storage sa_of(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1, "bad test address %s",
		             addr);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return ss;
}

static const struct {
	const char *pattern, *target;
	uint16_t port;
	bool match;
} cases[] = {
    /* names: exact, case-insensitive, trailing dot on either side */
    {"db.internal", "db.internal", 5432, true},
    {"db.internal", "DB.Internal", 1, true},
    {"DB.INTERNAL", "db.internal", 65535, true},
    {"db.internal.", "db.internal", 80, true},
    {"db.internal", "db.internal.", 80, true},
    {"db.internal", "x.db.internal", 80, false},
    {"db.internal", "db.internal2", 80, false},
    {"db.internal", "db.interna", 80, false},
    {"db.internal", "internal", 80, false},
    {"localhost", "localhost", 22, true},
    {"under_score-1.x", "UNDER_SCORE-1.X", 9, true},
    /* zones: strictly under */
    {"*.internal", "db.internal", 443, true},
    {"*.internal", "a.b.internal", 443, true},
    {"*.internal", "A.B.INTERNAL.", 443, true},
    {"*.internal", "internal", 443, false},
    {"*.internal", "xinternal", 443, false},
    {"*.internal", ".internal", 443, false},
    {"*.Internal.", "db.internal", 443, true},
    {"*.b.internal", "a.b.internal", 1, true},
    {"*.b.internal", "a.c.internal", 1, false},
    /* ports and ranges */
    {"db.internal:5432", "db.internal", 5432, true},
    {"db.internal:5432", "db.internal", 5433, false},
    {"*.internal:443", "web.internal", 443, true},
    {"*.internal:443", "web.internal", 80, false},
    {"db:1000-2000", "db", 999, false},
    {"db:1000-2000", "db", 1000, true},
    {"db:1000-2000", "db", 1500, true},
    {"db:1000-2000", "db", 2000, true},
    {"db:1000-2000", "db", 2001, false},
    {"db:1-65535", "db", 65535, true},
    {"db:7-7", "db", 7, true},
    /* IPv4 addresses and prefixes */
    {"192.0.2.1", "192.0.2.1", 80, true},
    {"192.0.2.1", "192.0.2.2", 80, false},
    {"192.0.2.1:80", "192.0.2.1", 80, true},
    {"192.0.2.1:80", "192.0.2.1", 81, false},
    {"10.0.0.0/8", "10.255.1.2", 1, true},
    {"10.0.0.0/8", "11.0.0.0", 1, false},
    {"10.0.0.0/8:22", "10.1.1.1", 22, true},
    {"10.0.0.0/8:22", "10.1.1.1", 23, false},
    {"172.16.0.0/12", "172.31.255.255", 1, true},
    {"172.16.0.0/12", "172.32.0.0", 1, false},
    {"0.0.0.0/0", "203.0.113.9", 1, true},
    {"0.0.0.0/0", "2001:db8::1", 1, false},
    {"192.0.2.128/25:1000-1010", "192.0.2.200", 1005, true},
    {"192.0.2.128/25:1000-1010", "192.0.2.100", 1005, false},
    /* IPv6 */
    {"2001:db8::1", "2001:db8::1", 443, true},
    {"2001:db8::1", "2001:DB8:0::1", 443, true},
    {"2001:db8::1", "2001:db8::2", 443, false},
    {"fd00::1:80", "fd00::1:80", 9, true}, /* bare: all of it is the address */
    {"fd00::/8", "fdff::1", 1, true},
    {"fd00::/8", "fe00::1", 1, false},
    {"[2001:db8::1]:443", "2001:db8::1", 443, true},
    {"[2001:db8::1]:443", "2001:db8::1", 444, false},
    {"[fd00::/8]:1000-2000", "fd12::3", 1999, true},
    {"[fd00::/8]:1000-2000", "fd12::3", 2001, false},
    {"[::1]", "::1", 5, true},
    {"::/0", "::1", 5, true},
    {"::/0", "127.0.0.1", 5, false},
    {"2001:db8::/127", "2001:db8::1", 5, true},
    {"2001:db8::/127", "2001:db8::2", 5, false},
    /* IPv4-mapped IPv6 is IPv4, in targets and in patterns */
    {"192.0.2.1", "::ffff:192.0.2.1", 80, true},
    {"10.0.0.0/8", "::ffff:10.9.9.9", 80, true},
    {"::ffff:192.0.2.1", "192.0.2.1", 80, true},
    {"::ffff:10.0.0.0/104", "10.2.3.4", 80, true},
    {"::ffff:10.0.0.0/104", "11.2.3.4", 80, false},
    {"[::ffff:192.0.2.1]:80", "192.0.2.1", 80, true},
    {"::/0", "::ffff:192.0.2.1", 80, false}, /* mapped is v4: a v6 prefix does not match */
    /* names never match addresses and vice versa */
    {"localhost", "127.0.0.1", 80, false},
    {"127.0.0.1", "localhost", 80, false},
    {"*.internal", "10.0.0.1", 80, false},
    {"0.0.0.0/0", "db.internal", 80, false},
};

Test(acl, match_host_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl *a = compile1(cases[i].pattern);
		cr_expect_eq(acl_match_host(a, cases[i].target, cases[i].port), cases[i].match,
		             "pattern \"%s\", target %s port %u: want %s", cases[i].pattern,
		             cases[i].target, cases[i].port, cases[i].match ? "match" : "no match");
		acl_free(a);
	}
}

/* The same table through sockaddrs, for the rows whose target is an address. */
Test(acl, match_addr_table)
{
	size_t checked = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char buf[16];
		if (inet_pton(AF_INET, cases[i].target, buf) != 1 &&
		    inet_pton(AF_INET6, cases[i].target, buf) != 1)
			continue;
		struct acl *a = compile1(cases[i].pattern);
		struct sockaddr_storage ss = sa_of(cases[i].target, cases[i].port);
		cr_expect_eq(acl_match_addr(a, (struct sockaddr *)&ss), cases[i].match,
		             "pattern \"%s\", address %s port %u: want %s", cases[i].pattern,
		             cases[i].target, cases[i].port, cases[i].match ? "match" : "no match");
		acl_free(a);
		checked++;
	}
	cr_assert_gt(checked, 30);
}

Test(acl, list_matches_any_pattern)
{
	static const char *const pats[] = {"db.internal:5432", "*.internal:443", "10.0.0.0/8:22",
	                                   "[fd00::/8]:80"};
	struct acl *a = NULL;
	cr_assert_eq(acl_compile(pats, 4, &a, NULL, 0), 0);
	cr_assert_eq(acl_count(a), 4);
	cr_expect(acl_match_host(a, "db.internal", 5432));
	cr_expect(acl_match_host(a, "web.internal", 443));
	cr_expect_not(acl_match_host(a, "db.internal", 443 + 1));
	cr_expect(acl_match_host(a, "10.3.2.1", 22));
	cr_expect(acl_match_host(a, "fd00::7", 80));
	cr_expect_not(acl_match_host(a, "fd00::7", 22));
	struct sockaddr_storage ss = sa_of("10.3.2.1", 22);
	cr_expect(acl_match_addr(a, (struct sockaddr *)&ss));
	ss = sa_of("::ffff:10.3.2.1", 22);
	cr_expect(acl_match_addr(a, (struct sockaddr *)&ss));
	ss = sa_of("10.3.2.1", 23);
	cr_expect_not(acl_match_addr(a, (struct sockaddr *)&ss));
	struct sockaddr other = {.sa_family = AF_UNIX};
	cr_expect_not(acl_match_addr(a, &other));
	cr_expect_not(acl_match_addr(a, NULL));
	cr_expect_not(acl_match_host(a, NULL, 80));
	cr_expect_not(acl_match_host(a, "", 80));
	cr_expect_not(acl_match_host(a, ".", 80));
	acl_free(a);
}

Test(acl, empty_list_matches_nothing)
{
	struct acl *a = NULL;
	cr_assert_eq(acl_compile(NULL, 0, &a, NULL, 0), 0);
	cr_assert_not_null(a);
	cr_expect_eq(acl_count(a), 0);
	cr_expect_not(acl_match_host(a, "db.internal", 80));
	struct sockaddr_storage ss = sa_of("127.0.0.1", 80);
	cr_expect_not(acl_match_addr(a, (struct sockaddr *)&ss));
	acl_free(a);
	acl_free(NULL);
	cr_expect_not(acl_match_host(NULL, "x", 1));
}

Test(acl, malformed_patterns)
{
	static const struct {
		const char *pattern, *why;
	} bad[] = {
	    {"", "empty pattern"},
	    {"db:0", "bad port in \"0\" (1-65535)"},
	    {"db:65536", "bad port in \"65536\" (1-65535)"},
	    {"db:99999999999", "bad port in \"99999999999\" (1-65535)"},
	    {"db:", "empty port after ':'"},
	    {"db:http", "bad port \"http\" (expected PORT or LOW-HIGH)"},
	    {"db:80-", "bad port \"80-\" (expected PORT or LOW-HIGH)"},
	    {"db:-80", "bad port \"-80\" (expected PORT or LOW-HIGH)"},
	    {"db:1-2-3", "bad port \"1-2-3\" (expected PORT or LOW-HIGH)"},
	    {"db:80 ", "bad port \"80 \" (expected PORT or LOW-HIGH)"},
	    {"db:2000-1000", "port range 2000-1000: the low end is above the high end"},
	    {"db:0-10", "bad port in \"0-10\" (1-65535)"},
	    {":80", "empty host before ':'"},
	    {"a..b", "empty label in \"a..b\""},
	    {".a", "empty label in \".a\""},
	    {"a.b..", "empty label in \"a.b.\""},
	    {"*", "'*' must be followed by a dot and a zone (\"*.zone\")"},
	    {"*example.com", "'*' must be followed by a dot and a zone"},
	    {"*.", "empty zone after \"*.\""},
	    {"*.*.example", "'*' may only be the whole first label (\"*.zone\")"},
	    {"a.*.example", "'*' may only be the whole first label"},
	    {"ex*ample.com", "'*' may only be the whole first label"},
	    {"exa mple.com", "character ' ' is not allowed in a name"},
	    {"exa/mple.com", "bad IPv4 address \"exa\""},
	    {"10.1.2", "bad IPv4 address \"10.1.2\""},
	    {"300.1.1.1", "bad IPv4 address \"300.1.1.1\""},
	    {"10.0.0.0/33", "bad prefix length \"/33\" (0 to 32)"},
	    {"10.0.0.0/", "bad prefix length \"/\" (0 to 32)"},
	    {"10.0.0.0/-1", "bad prefix length \"/-1\" (0 to 32)"},
	    {"10.0.0.0/8x", "bad prefix length \"/8x\" (0 to 32)"},
	    {"10.0.0.1/8", "address bits beyond the prefix length /8 are set"},
	    {"fd00::/129", "bad prefix length \"/129\" (0 to 128)"},
	    {"fd00::1/8", "address bits beyond the prefix length /8 are set"},
	    {"fd00::1:80:", "bad IPv6 address \"fd00::1:80:\" (with a port, write [ADDRESS]:PORT)"},
	    {"gg::1", "bad IPv6 address \"gg::1\""},
	    {"[fd00::1", "'[' without ']'"},
	    {"[fd00::1]80", "expected ':PORT' after ']'"},
	    {"[fd00::1]:", "empty port after ':'"},
	    {"[fd00::1]:0", "bad port in \"0\" (1-65535)"},
	    {"[192.0.2.1]:80", "brackets are for IPv6 addresses only"},
	    {"[db.internal]:80", "brackets are for IPv6 addresses only"},
	    {"[fd00::/200]:80", "bad prefix length \"/200\" (0 to 128)"},
	    {"fe80::1%eth0", "bad IPv6 address \"fe80::1%eth0\""},
	    {"a-very-long-label-that-goes-on-and-on-beyond-sixty-three-characters-x.com",
	     "label longer than 63 characters"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct acl *a = (struct acl *)&a;
		char err[256] = "";
		const char *p = bad[i].pattern;
		cr_expect_eq(acl_compile(&p, 1, &a, err, sizeof(err)), -EINVAL, "\"%s\" accepted",
		             p);
		cr_expect_null(a, "no ACL on failure");
		char want[128];
		snprintf(want, sizeof(want), "pattern \"%s\": ", p);
		cr_expect_eq(strncmp(err, want, strlen(want)), 0, "\"%s\": err \"%s\"", p, err);
		cr_expect(strstr(err, bad[i].why), "\"%s\": want \"%s\" in \"%s\"", p, bad[i].why,
		          err);
	}
}

Test(acl, long_names)
{
	char name[300], pat[310];
	/* 4 labels of 63 + 3 dots = 255 > 253: too long; 253 is fine. */
	memset(name, 'a', sizeof(name));
	for (int i = 63; i < 255; i += 64)
		name[i] = '.';
	name[255] = 0;
	struct acl *a = NULL;
	char err[600];
	const char *p = name;
	cr_expect_eq(acl_compile(&p, 1, &a, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "name longer than 253 characters"), "%s", err);
	name[253] = 0; /* "aaa...(63).aaa...(63).aaa...(63).aaa...(61)" */
	a = compile1(name);
	cr_expect(acl_match_host(a, name, 1));
	snprintf(pat, sizeof(pat), "%s.", name);
	cr_expect(acl_match_host(a, pat, 1), "a trailing dot is the same name");
	acl_free(a);
}

Test(acl, first_bad_pattern_is_named)
{
	static const char *const pats[] = {"good.example", "10.0.0.0/8", "bad..example", "x:0"};
	struct acl *a = NULL;
	char err[256] = "";
	cr_assert_eq(acl_compile(pats, 4, &a, err, sizeof(err)), -EINVAL);
	cr_expect_null(a);
	cr_expect_str_eq(err, "pattern \"bad..example\": empty label in \"bad..example\"");
	/* A tiny buffer is cut, never overrun. */
	char tiny[8];
	cr_assert_eq(acl_compile(pats, 4, &a, tiny, sizeof(tiny)), -EINVAL);
	cr_expect_eq(strlen(tiny), 7);
}
