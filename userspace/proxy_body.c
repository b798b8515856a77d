/*
 * The forward proxy's byte queues and message bodies: reading and writing
 * non-blocking sockets through a fixed buffer, and moving one body from a
 * source queue to a destination queue, re-framed on the way.
 */
#include "proxy_body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Room for a chunk's size line, its CRLF and the last chunk, besides its data. */
#define CHUNK_OVERHEAD (HTTP1_CHUNK_HEAD_MAX + 2 + sizeof(HTTP1_CHUNK_LAST))

int pxq_alloc(struct pxq *b, size_t cap)
{
	b->p = malloc(cap);
	b->off = b->len = 0;
	b->cap = cap;
	return b->p ? 0 : -ENOMEM;
}

size_t pxq_space(struct pxq *b)
{
	if (b->off && b->off + b->len == b->cap) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	return b->cap - b->off - b->len;
}

void pxq_compact(struct pxq *b)
{
	if (b->off)
		memmove(b->p, b->p + b->off, b->len);
	b->off = 0;
}

void pxq_put(struct pxq *b, const char *s, size_t n)
{
	memcpy(b->p + b->off + b->len, s, n);
	b->len += n;
}

void pxq_take(struct pxq *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

ssize_t pxq_read(int fd, struct pxq *b, bool *rd, bool *eof)
{
	ssize_t total = 0;
	size_t room;
	while (*rd && (room = pxq_space(b))) {
		ssize_t n = recv(fd, b->p + b->off + b->len, room, 0);
		if (n > 0) {
			b->len += (size_t)n;
			total += n;
		} else if (n == 0) {
			*eof = true;
			*rd = false;
		} else if (errno == EAGAIN) {
			*rd = false;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return total;
}

ssize_t pxq_write(int fd, struct pxq *b, bool *wr)
{
	ssize_t total = 0;
	while (*wr && b->len) {
		ssize_t n = send(fd, b->p + b->off, b->len, MSG_NOSIGNAL);
		if (n > 0) {
			pxq_take(b, (size_t)n);
			total += n;
		} else if (errno == EAGAIN) {
			*wr = false;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return total;
}

void pxbody_init(struct pxbody *b, enum http1_framing in, enum http1_framing out, uint64_t len)
{
	memset(b, 0, sizeof(*b));
	b->in = in;
	b->out = out;
	b->left = len;
	http1_chunk_dec_init(&b->dec, 0, 0);
	b->done = in == HTTP1_BODY_NONE || (in == HTTP1_BODY_LENGTH && len == 0);
}

/* Append data as one chunk (out chunked) or as it is. dst has room. */
static void pxbody_emit(const struct pxbody *b, struct pxq *dst, const char *data, size_t n)
{
	if (!n)
		return;
	if (b->out == HTTP1_BODY_CHUNKED) {
		char head[HTTP1_CHUNK_HEAD_MAX];
		size_t h = http1_chunk_head(head, n);
		pxq_put(dst, head, h);
		pxq_put(dst, data, n);
		pxq_put(dst, HTTP1_CHUNK_CRLF, 2);
	} else {
		pxq_put(dst, data, n);
	}
}

int pxbody_step(struct pxbody *b, struct pxq *src, struct pxq *dst, bool src_eof, const char **why)
{
	int moved = 0;
	while (!b->done) {
		size_t room = pxq_space(dst);
		if (room < CHUNK_OVERHEAD + 1)
			return moved;
		size_t max = room - CHUNK_OVERHEAD;
		if (!src->len) {
			if (!src_eof)
				return moved;
			if (b->in != HTTP1_BODY_CLOSE) {
				*why = "the body ended early";
				return -EPIPE;
			}
			if (b->out == HTTP1_BODY_CHUNKED)
				pxq_put(dst, HTTP1_CHUNK_LAST, sizeof(HTTP1_CHUNK_LAST) - 1);
			b->done = true;
			return 1;
		}
		const char *in = src->p + src->off;
		size_t n = src->len < max ? src->len : max;
		if (b->in == HTTP1_BODY_LENGTH) {
			if (n > b->left)
				n = (size_t)b->left;
			pxbody_emit(b, dst, in, n);
			pxq_take(src, n);
			b->left -= n;
			b->done = b->left == 0;
		} else if (b->in == HTTP1_BODY_CLOSE) {
			pxbody_emit(b, dst, in, n);
			pxq_take(src, n);
		} else {
			const char *data;
			size_t used, dlen;
			if (http1_chunk_dec_feed(&b->dec, in, n, &used, &data, &dlen)) {
				*why = b->dec.err;
				return -EPROTO;
			}
			pxbody_emit(b, dst, data, dlen);
			pxq_take(src, used);
			if (http1_chunk_dec_done(&b->dec)) {
				pxq_put(dst, HTTP1_CHUNK_LAST, sizeof(HTTP1_CHUNK_LAST) - 1);
				b->done = true;
			}
			if (!used && !dlen)
				return moved;
		}
		moved = 1;
	}
	return moved;
}
