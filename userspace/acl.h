/*
 * Target ACLs: lists of patterns a requested host:port is checked against
 * (the tunnel server's upstreams.allow, the CONNECT proxy's allow/deny).
 *
 * A pattern is one of
 *   host          a DNS name: exact, case-insensitive, a trailing dot ignored
 *   *.zone        any name strictly under zone (not zone itself)
 *   ADDR          an IPv4 or IPv6 address
 *   ADDR/LEN      a CIDR prefix (bits beyond LEN must be zero)
 * each optionally followed by ":PORT" or ":LO-HI" (ports 1-65535). IPv6 with
 * a port is written in brackets: "[2001:db8::1]:443", "[fd00::/8]:1000-2000";
 * a bare IPv6 pattern is all address ("fd00::1:80" is one address, any port).
 * IPv4-mapped IPv6 addresses and prefixes are taken as IPv4.
 *
 * A name pattern never matches an address and an address pattern never
 * matches a name: resolve the name and check each address as well.
 */
#ifndef KFWD_ACL_H
#define KFWD_ACL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct acl;

/*
 * Compile n patterns into *out (free with acl_free); n may be 0 (matches
 * nothing). Return 0; -EINVAL with err naming the first bad pattern and why
 * ("pattern \"x:0\": bad port \"0\" (1-65535)"); or -ENOMEM. err may be NULL.
 * *out is NULL on failure.
 */
int acl_compile(const char *const *patterns, size_t n, struct acl **out, char *err, size_t errlen);
void acl_free(struct acl *a);

/*
 * Whether some pattern matches host and port. host is a DNS name or the text
 * of a numeric address (no brackets); numeric text is matched against the
 * address patterns only, a name against the name patterns only.
 */
bool acl_match_host(const struct acl *a, const char *host, uint16_t port);

/* Whether some address pattern matches sa (sockaddr_in or sockaddr_in6; the
 * port is taken from sa). Other families never match. */
bool acl_match_addr(const struct acl *a, const struct sockaddr *sa);

/* How many patterns a holds. */
size_t acl_count(const struct acl *a);

#endif
