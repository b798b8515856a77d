/* A growable text buffer with JSON helpers, for stats, logs and the control socket. */
#ifndef KFWD_JSONW_H
#define KFWD_JSONW_H
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;   /* NUL-terminated while len < cap */
	size_t len;
	size_t cap;
	int oom;      /* set when an allocation failed; the content is then truncated */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put(struct buf *b, const char *s, size_t n);
/* Append s as a JSON string literal, quotes included. */
void buf_json_str(struct buf *b, const char *s);

#endif
