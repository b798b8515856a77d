/*
 * Byte queues and body re-framing for the forward proxy (proxy_http.c).
 * A queue is one fixed buffer, compacted when its tail reaches the end; a
 * body moves from a source queue to a destination queue under its framing:
 * Content-Length bytes pass as they are, chunked input is decoded (and
 * checked: a malformed size line or missing CRLF is an error, extensions and
 * trailers are dropped), chunked output is encoded again, close-delimited
 * input ends at the source's EOF.
 */
#ifndef KFWD_PROXY_BODY_H
#define KFWD_PROXY_BODY_H
#include "http1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes p[off .. off+len) of p[0 .. cap). */
struct pxq {
	char *p;
	size_t off, len, cap;
};

/* One message body on its way from src to dst. */
struct pxbody {
	enum http1_framing in, out;
	uint64_t left; /* HTTP1_BODY_LENGTH */
	struct http1_chunk_dec dec;
	bool done;
};

/* Allocate cap bytes for an empty queue. Return 0 or -ENOMEM (b->p NULL). */
int pxq_alloc(struct pxq *b, size_t cap);
/* Free bytes at the tail, after moving the content to the front if the tail is full. */
size_t pxq_space(struct pxq *b);
/* Move the content to the front (a parser then sees it at b->p). */
void pxq_compact(struct pxq *b);
/* Append s[0..n); the caller checked pxq_space. */
void pxq_put(struct pxq *b, const char *s, size_t n);
/* Drop n bytes from the front (n <= b->len). */
void pxq_take(struct pxq *b, size_t n);
/* Receive from non-blocking fd into b until b is full or fd would block
 * (*rd then false). Return bytes read (*eof set at FIN) or -errno. */
ssize_t pxq_read(int fd, struct pxq *b, bool *rd, bool *eof);
/* Send b to non-blocking fd until empty or fd would block (*wr then false).
 * Return bytes written or -errno. */
ssize_t pxq_write(int fd, struct pxq *b, bool *wr);

/* Start a body framed in (HTTP1_BODY_* of the received head) written out
 * framed out (CHUNKED or as in; CLOSE in may become CHUNKED); len for LENGTH.
 * A NONE or empty LENGTH body is done at once. */
void pxbody_init(struct pxbody *b, enum http1_framing in, enum http1_framing out, uint64_t len);

/*
 * Move body bytes from src to dst as far as both allow; b->done once the
 * body is complete (the last chunk written when out is chunked). Bytes after
 * the body stay in src. src_eof: the sender closed (ends a close-delimited
 * body; cuts any other short).
 * Return 1 if bytes moved, 0 if not, -EPROTO for a malformed chunked body or
 * -EPIPE for a body cut short by src_eof, with *why a static cause.
 */
int pxbody_step(struct pxbody *b, struct pxq *src, struct pxq *dst, bool src_eof, const char **why);

#endif
