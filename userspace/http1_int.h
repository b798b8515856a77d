/* Helpers shared by the http1_*.c and http_xlate*.c files; not a public API. */
#ifndef KFWD_HTTP1_INT_H
#define KFWD_HTTP1_INT_H
#include "http1.h"

#include <string.h>

/* Whether s equals the NUL-terminated lit exactly (methods are case-sensitive). */
static inline bool http1_str_eq(struct http1_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static inline struct http1_str http1_cstr(const char *s)
{
	return (struct http1_str){s, strlen(s)};
}

/* Whether two slices are equal ignoring ASCII case. */
bool http1_slice_ieq(struct http1_str a, struct http1_str b);

/* Fill m->form, scheme, authority, host, port and path from m->target and
 * m->method. Return NULL or the static cause of a 400. */
const char *http1_parse_target(struct http1_msg *m);

/*
 * Split and check one field line (CRLF excluded): name is a token followed
 * directly by ':', the value has no control characters but HTAB; OWS around
 * the value is trimmed. Return NULL or the static cause of a 400.
 */
const char *http1_parse_field(const char *line, size_t len, struct http1_header *h);

/*
 * Next element of a comma-separated list in *rest (OWS trimmed, empty
 * elements skipped). Return false when the list is exhausted.
 */
bool http1_list_next(struct http1_str *rest, struct http1_str *elem);

#endif
