/*
 * The chunked transfer coding (RFC 9112 §7.1) as a byte-driven state machine:
 * it never buffers, so a size line or trailer split across reads costs
 * nothing, and body bytes come out as slices of the input.
 */
#include "http1.h"

#include <errno.h>
#include <string.h>

enum {
	ST_SIZE,     /* hex digits of a chunk size */
	ST_EXT_BWS,  /* whitespace after the size: only a ';' may follow */
	ST_EXT,      /* chunk extension, skipped up to the CR */
	ST_SIZE_LF,  /* CR of the size line seen */
	ST_DATA,     /* chunk data */
	ST_DATA_CR,  /* CRLF after chunk data */
	ST_DATA_LF,  /* */
	ST_TR_START, /* start of a trailer line or of the final empty line */
	ST_TR_NAME,  /* trailer field name up to ':' */
	ST_TR_VALUE, /* trailer field value up to CR */
	ST_TR_LF,    /* CR of a trailer line seen */
	ST_END_LF,   /* CR of the final empty line seen */
	ST_DONE,     /* message complete */
	ST_ERROR,    /* d->err says why */
};

void http1_chunk_dec_init(struct http1_chunk_dec *d, size_t max_ext, size_t max_trailer)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_SIZE;
	d->max_ext = max_ext ? max_ext : HTTP1_CHUNK_EXT_DEFAULT;
	d->max_trailer = max_trailer ? max_trailer : HTTP1_CHUNK_TRAILER_DEFAULT;
}

bool http1_chunk_dec_done(const struct http1_chunk_dec *d)
{
	return d->state == ST_DONE;
}

static int fail(struct http1_chunk_dec *d, const char *why)
{
	d->state = ST_ERROR;
	d->err = why;
	return -EPROTO;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* One byte of a size line. */
static int size_byte(struct http1_chunk_dec *d, unsigned char c)
{
	int h = hexval(c);
	switch (d->state) {
	case ST_SIZE:
		if (h >= 0) {
			/* 16 digits hold any 64-bit size; more is padding or an overflow */
			if (++d->digits > 16)
				return fail(d, "chunk size too long");
			d->remaining = d->remaining << 4 | (uint64_t)h;
			return 0;
		}
		if (d->digits == 0)
			return fail(d, "invalid chunk size");
		if (c == '\r') {
			d->state = ST_SIZE_LF;
			return 0;
		}
		if (c == ';')
			d->state = ST_EXT;
		else if (c == ' ' || c == '\t')
			d->state = ST_EXT_BWS;
		else
			return fail(d, c == '\n' ? "bare LF in chunk size line"
			                         : "invalid chunk size");
		/* the extension's length counts from here, the ';' or whitespace included */
		return ++d->ext > d->max_ext ? fail(d, "chunk extension too long") : 0;
	case ST_EXT_BWS:
		if (c == ';')
			d->state = ST_EXT;
		else if (c != ' ' && c != '\t')
			return fail(d, "invalid chunk size");
		return ++d->ext > d->max_ext ? fail(d, "chunk extension too long") : 0;
	case ST_EXT:
		if (c == '\r') {
			d->state = ST_SIZE_LF;
			return 0;
		}
		if (is_ctl(c))
			return fail(d, c == '\n' ? "bare LF in chunk size line"
			                         : "control character in chunk extension");
		return ++d->ext > d->max_ext ? fail(d, "chunk extension too long") : 0;
	default: /* ST_SIZE_LF */
		if (c != '\n')
			return fail(d, "CR without LF in chunk size line");
		d->state = d->remaining ? ST_DATA : ST_TR_START;
		return 0;
	}
}

/* One byte of the trailer section (after the last chunk's size line). */
static int trailer_byte(struct http1_chunk_dec *d, unsigned char c)
{
	if (++d->trailer > d->max_trailer)
		return fail(d, "trailer section too large");
	switch (d->state) {
	case ST_TR_START:
		if (c == '\r')
			d->state = ST_END_LF;
		else if (http1_is_tchar(c))
			d->state = ST_TR_NAME;
		else
			return fail(d, c == '\n' ? "bare LF in trailer section"
			                         : "invalid trailer field line");
		return 0;
	case ST_TR_NAME:
		if (c == ':')
			d->state = ST_TR_VALUE;
		else if (!http1_is_tchar(c))
			return fail(d, "invalid trailer field name");
		return 0;
	case ST_TR_VALUE:
		if (c == '\r')
			d->state = ST_TR_LF;
		else if (is_ctl(c))
			return fail(d, c == '\n' ? "bare LF in trailer section"
			                         : "control character in trailer field");
		return 0;
	case ST_TR_LF:
		if (c != '\n')
			return fail(d, "CR without LF in trailer section");
		d->state = ST_TR_START;
		return 0;
	default: /* ST_END_LF */
		if (c != '\n')
			return fail(d, "CR without LF after the trailer section");
		d->state = ST_DONE;
		return 0;
	}
}

int http1_chunk_dec_feed(struct http1_chunk_dec *d, const char *in, size_t len, size_t *used,
                         const char **data, size_t *datalen)
{
	size_t i = 0;
	int err = 0;
	*data = NULL;
	*datalen = 0;
	if (d->state == ST_ERROR) {
		*used = 0;
		return -EPROTO;
	}
	while (i < len && d->state != ST_DONE && !err) {
		unsigned char c = (unsigned char)in[i];
		switch (d->state) {
		case ST_DATA: {
			size_t n = len - i;
			if (n > d->remaining)
				n = (size_t)d->remaining;
			*data = in + i;
			*datalen = n;
			d->remaining -= n;
			if (!d->remaining)
				d->state = ST_DATA_CR;
			*used = i + n;
			return 0;
		}
		case ST_DATA_CR:
			if (c == '\r')
				d->state = ST_DATA_LF;
			else
				err = fail(d, "missing CRLF after chunk data");
			break;
		case ST_DATA_LF:
			if (c != '\n')
				err = fail(d, "missing CRLF after chunk data");
			else
				d->state = ST_SIZE, d->digits = 0, d->ext = 0;
			break;
		case ST_SIZE:
		case ST_EXT_BWS:
		case ST_EXT:
		case ST_SIZE_LF:
			err = size_byte(d, c);
			break;
		default:
			err = trailer_byte(d, c);
			break;
		}
		i++;
	}
	*used = err ? i - 1 : i;
	return err;
}

int http1_chunk_decode(struct http1_chunk_dec *d, const char *in, size_t len, size_t *used,
                       char *out, size_t cap, size_t *outlen)
{
	size_t in_off = 0, out_off = 0;
	int err = 0;
	while (in_off < len && !http1_chunk_dec_done(d)) {
		const char *data;
		size_t n, dn;
		size_t avail = len - in_off;
		/* never take more data than fits: feed a shortened input when in DATA */
		if (d->state == ST_DATA && out_off == cap)
			break;
		if (d->state == ST_DATA && avail > cap - out_off)
			avail = cap - out_off;
		err = http1_chunk_dec_feed(d, in + in_off, avail, &n, &data, &dn);
		in_off += n;
		if (err)
			break;
		if (dn)
			memcpy(out + out_off, data, dn);
		out_off += dn;
	}
	*used = in_off;
	*outlen = out_off;
	return err;
}

size_t http1_chunk_head(char *out, uint64_t n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t k = 0, len = 0;
	if (n == 0) {
		out[0] = 0;
		return 0;
	}
	while (n) {
		tmp[k++] = hex[n & 15];
		n >>= 4;
	}
	while (k)
		out[len++] = tmp[--k];
	out[len++] = '\r';
	out[len++] = '\n';
	out[len] = 0;
	return len;
}
