/* proxy_http: the forward proxy's target from an absolute-form request. */
#include "proxy_int.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct http1_msg m;
static char host[256];
static uint16_t port;
static unsigned status;

static const char *target(const char *head)
{
	http1_msg_init(&m);
	int rc = http1_parse_request(head, strlen(head), NULL, &m);
	cr_assert_eq(rc, 0, "parse \"%s\": %d %s", head, rc, m.err_reason ? m.err_reason : "");
	memset(host, 'x', sizeof(host));
	port = 0;
	status = 0;
	return proxy_http_target(&m, host, sizeof(host), &port, &status);
}

Test(proxy_http, absolute_form_targets)
{
	static const struct {
		const char *head;
		const char *host;
		uint16_t port;
	} ok[] = {
	    {"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n", "example.org", 80},
	    {"GET HTTP://Example.ORG:8080 HTTP/1.1\r\nHost: x\r\n\r\n", "Example.ORG", 8080},
	    {"POST http://10.0.0.1:81/a?b HTTP/1.1\r\nHost: x\r\n\r\n", "10.0.0.1", 81},
	    {"GET http://[2001:db8::1]:8443/p HTTP/1.1\r\nHost: x\r\n\r\n", "2001:db8::1", 8443},
	    {"GET http://[::1]/ HTTP/1.0\r\n\r\n", "::1", 80},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *why = target(ok[i].head);
		cr_expect_null(why, "%s: %s", ok[i].head, why);
		cr_expect_str_eq(host, ok[i].host, "%s", ok[i].head);
		cr_expect_eq(port, ok[i].port, "%s: port %u", ok[i].head, port);
	}
}

Test(proxy_http, refused_targets)
{
	cr_expect_not_null(
	    target("GET https://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n"));
	cr_expect_eq(status, 501);
	cr_expect_not_null(strstr(target("GET https://e/ HTTP/1.1\r\nHost: e\r\n\r\n"), "CONNECT"));
	cr_expect_not_null(target("GET /local HTTP/1.1\r\nHost: example.org\r\n\r\n"));
	cr_expect_eq(status, 400);
	cr_expect_not_null(target("OPTIONS * HTTP/1.1\r\nHost: example.org\r\n\r\n"));
	cr_expect_eq(status, 400);
	cr_expect_not_null(target("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n"));
	cr_expect_eq(status, 400);
}

Test(proxy_http, host_too_long_for_the_buffer)
{
	char head[600], name[300];
	memset(name, 'a', 255);
	name[255] = 0;
	snprintf(head, sizeof(head), "GET http://%s/ HTTP/1.1\r\nHost: x\r\n\r\n", name);
	http1_msg_init(&m);
	cr_assert_eq(http1_parse_request(head, strlen(head), NULL, &m), 0);
	char small[16];
	cr_expect_not_null(proxy_http_target(&m, small, sizeof(small), &port, &status));
	cr_expect_eq(status, 400);
	cr_expect_null(proxy_http_target(&m, host, sizeof(host), &port, &status));
	cr_expect_eq(strlen(host), 255);
}
