/* HTTP status reason phrases (RFC 9110 §15) and the small error responses kfwd sends. */
#include "http1.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct reason {
	unsigned short status;
	const char *text;
};

static const struct reason reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {511, "Network Authentication Required"},
};

const char *http1_reason(unsigned status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "";
}

/* Text that goes into a header line or the body line: printable ASCII and HTAB only. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int http1_error_response(char *out, size_t cap, unsigned status, const char *text,
                         const char *extra, size_t *outlen)
{
	const char *reason = http1_reason(status);
	if (status < 100 || status > 599)
		return -EINVAL;
	if (!text)
		text = reason;
	if (!printable(text) || (extra && !printable(extra)))
		return -EINVAL;
	int n = snprintf(out, cap,
	                 "HTTP/1.1 %u %s\r\n"
	                 "Content-Type: text/plain\r\n"
	                 "Content-Length: %zu\r\n"
	                 "%s%s"
	                 "Connection: close\r\n"
	                 "\r\n"
	                 "%s\n",
	                 status, reason, strlen(text) + 1, extra ? extra : "", extra ? "\r\n" : "",
	                 text);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	*outlen = (size_t)n;
	return 0;
}
