/*
 * Pure parsing helpers of the tunnel (no sockets, unit-tested): the HTTP/1.1
 * CONNECT request a client sends to a mode = "connect" listener, and CONNECT
 * authorities ("host:port", "[v6]:port").
 */
#ifndef KFWD_TUNNEL_PARSE_H
#define KFWD_TUNNEL_PARSE_H
#include <stddef.h>
#include <stdint.h>

#define TPARSE_HOST_MAX 256 /* longest host name (253) plus brackets and NUL */

struct tparse_connect {
	char authority[TPARSE_HOST_MAX + 8]; /* "host:port" as sent, validated */
	char host[TPARSE_HOST_MAX];          /* without brackets */
	uint16_t port;
	size_t head_len; /* bytes of the request head, CRLFCRLF included */
};

/*
 * Parse an HTTP/1.1 CONNECT request head at buf[0..len). Strict: request line
 * "CONNECT authority HTTP/1.x", header lines "name: value" (token names, no
 * obsolete line folding), CRLF line ends, the head ends with an empty line.
 * The header values are not used. Bytes after the head (pipelined data) are
 * left to the caller: out->head_len says where they start.
 * Return 1 when complete (out filled), 0 when more bytes are needed (and len
 * is below limit), -E2BIG when the head exceeds limit bytes, -EINVAL when
 * malformed, -EPROTO when the request is well-formed but not a CONNECT.
 */
int tparse_connect(const char *buf, size_t len, size_t limit, struct tparse_connect *out);

/*
 * Split and check a CONNECT authority: "name:port" (letters, digits, '-', '.',
 * '_'), "a.b.c.d:port" or "[ipv6]:port"; port 1..65535. host gets the name or
 * address without brackets (hostlen bytes at most).
 * Return 0, or -EINVAL when malformed.
 */
int tparse_authority(const char *auth, char *host, size_t hostlen, uint16_t *port);

/* The reason phrase of an HTTP status (a few common ones, else "Error"). */
const char *tparse_reason(int status);

#endif
