/* Socket addresses: parsing "ip:port", "[v6]:port", "host:port" and formatting. */
#ifndef KFWD_ADDR_H
#define KFWD_ADDR_H
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

/* Longest text addr_format writes: "[v6%scope]:65535" plus NUL. */
#define ADDR_STRLEN 80

/*
 * Parse a numeric address with a mandatory port: "1.2.3.4:80", "[::1]:80",
 * "[fe80::1%eth0]:80", "*:80" (IPv4 any) or "[::]:80".
 * Return 0, -EINVAL for a malformed text, -ERANGE for a bad port.
 */
int addr_parse(const char *text, struct addr *out);

/*
 * Split "host:port" or "[v6]:port" into host (without brackets) and port.
 * Host is copied into host[hostlen]. Return 0, -EINVAL or -ERANGE.
 */
int addr_split(const char *text, char *host, size_t hostlen, unsigned *port);

/*
 * Like addr_parse, but a non-numeric host is resolved with getaddrinfo
 * (blocking; for config load only). The first address returned is used.
 * On a resolution failure return -EHOSTUNREACH and, if err is non-NULL, set *err
 * to gai_strerror's text.
 */
int addr_resolve(const char *text, struct addr *out, const char **err);

/* Write "ip:port" or "[ip]:port" to dst (ADDR_STRLEN bytes). Return dst. */
char *addr_format(const struct addr *a, char *dst);
char *addr_format_sa(const struct sockaddr *sa, char *dst);

bool addr_equal(const struct addr *a, const struct addr *b);
int addr_family(const struct addr *a);
unsigned addr_port(const struct addr *a);
/* Whether the address is the wildcard (0.0.0.0 or ::). */
bool addr_is_any(const struct addr *a);

#endif
