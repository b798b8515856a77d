/*
 * happy: the RFC 8305 race on loopback. A refused address makes the next
 * attempt start at once; an address that swallows SYNs (a listener whose
 * accept queue is full) makes the next one start after the attempt delay;
 * the whole race can time out; cancelling closes everything.
 */
#include "happy.h"
#include "loop.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

static struct loop *L;

static void setup(void)
{
	L = loop_new();
	cr_assert_not_null(L);
}

static void teardown(void)
{
	loop_free(L);
}

TestSuite(happy, .init = setup, .fini = teardown, .timeout = 30);

struct result {
	int calls;
	int fd;
	int err;
	struct sockaddr_storage peer;
};

static void on_done(void *arg, int fd, int err, const struct sockaddr_storage *peer)
{
	struct result *r = arg;

	r->calls++;
	r->fd = fd;
	r->err = err;
	if (peer)
		r->peer = *peer;
}

static void wait_for(struct result *r, uint64_t limit_ms)
{
	uint64_t until = loop_update_time(L) + limit_ms;

	while (!r->calls && loop_update_time(L) < until)
		loop_run_once(L, 20);
	/* A few more turns: a second callback would be a bug. */
	for (int i = 0; i < 5; i++)
		loop_run_once(L, 10);
}

/* A listening socket on 127.0.0.1 (backlog as given); its port in *port. */
static int listener(int backlog, uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, backlog), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port on 127.0.0.1 where nothing listens (bound, not listening). */
static int closed_port(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void add(struct dns_addrs *a, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->a[a->n];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->a[a->n];

	memset(&a->a[a->n], 0, sizeof(a->a[0]));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	}
	a->n++;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

Test(happy, refused_address_falls_through_to_the_next_at_once)
{
	uint16_t good, dead;
	int lfd = listener(16, &good), cfd = closed_port(&dead);
	struct dns_addrs a = {0};
	struct result r = {0};
	struct happy *h;

	add(&a, "127.0.0.1", dead);
	add(&a, "127.0.0.1", good);
	/* A long attempt delay: only the refusal can start the second attempt
	 * within the wait below. */
	struct happy_opts o = {.attempt_delay_ms = 60000, .timeout_ms = 0};
	cr_assert_eq(happy_start(L, &a, &o, on_done, &r, &h), 0);
	wait_for(&r, 10000);
	cr_assert_eq(r.calls, 1);
	cr_assert_geq(r.fd, 0, "err %d", r.err);
	cr_assert_eq(port_of(&r.peer), good);
	int acc = accept(lfd, NULL, NULL);
	cr_assert_geq(acc, 0, "the winner really is connected to the listener");
	cr_assert_eq(write(r.fd, "x", 1), 1);
	char c;
	cr_assert_eq(read(acc, &c, 1), 1);
	close(acc);
	close(r.fd);
	close(lfd);
	close(cfd);
}

Test(happy, all_refused_reports_econnrefused)
{
	uint16_t d1, d2;
	int c1 = closed_port(&d1), c2 = closed_port(&d2);
	struct dns_addrs a = {0};
	struct result r = {0};
	struct happy *h;

	add(&a, "127.0.0.1", d1);
	add(&a, "127.0.0.1", d2);
	struct happy_opts o = {.attempt_delay_ms = 250, .timeout_ms = 0};
	cr_assert_eq(happy_start(L, &a, &o, on_done, &r, &h), 0);
	wait_for(&r, 10000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert_eq(r.err, -ECONNREFUSED);
	close(c1);
	close(c2);
}

/* A listener on 127.0.0.1 whose accept queue (backlog 0) is full, so further
 * SYNs are dropped: connections to it neither succeed nor fail. */
struct hole {
	int lfd, fill[2];
	uint16_t port;
};

static void hole_open(struct hole *h)
{
	h->lfd = listener(0, &h->port);
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                          .sin_port = htons(h->port)};
	for (int i = 0; i < 2; i++) {
		h->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(h->fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(100 * 1000);
}

static void hole_close(struct hole *h)
{
	close(h->lfd);
	close(h->fill[0]);
	close(h->fill[1]);
}

Test(happy, silent_address_starts_the_next_after_the_delay)
{
	uint16_t good;
	struct hole hole;
	hole_open(&hole);
	int lfd = listener(16, &good);
	struct dns_addrs a = {0};
	struct result r = {0};
	struct happy *h;

	add(&a, "127.0.0.1", hole.port);
	add(&a, "127.0.0.1", good);
	struct happy_opts o = {.attempt_delay_ms = 100, .timeout_ms = 20000};
	uint64_t t0 = loop_update_time(L);
	cr_assert_eq(happy_start(L, &a, &o, on_done, &r, &h), 0);
	wait_for(&r, 15000);
	cr_assert_eq(r.calls, 1);
	cr_assert_geq(r.fd, 0, "err %d", r.err);
	cr_assert_eq(port_of(&r.peer), good, "the second address won");
	cr_assert_geq(loop_update_time(L) - t0, 100, "not before the attempt delay");
	close(r.fd);
	close(lfd);
	hole_close(&hole);
}

Test(happy, race_times_out)
{
	struct hole hole;
	hole_open(&hole);
	struct dns_addrs a = {0};
	struct result r = {0};
	struct happy *h;

	add(&a, "127.0.0.1", hole.port);
	struct happy_opts o = {.attempt_delay_ms = 50, .timeout_ms = 300};
	cr_assert_eq(happy_start(L, &a, &o, on_done, &r, &h), 0);
	wait_for(&r, 15000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert_eq(r.err, -ETIMEDOUT);
	hole_close(&hole);
}

Test(happy, cancel_means_no_callback_and_no_leaked_socket)
{
	struct hole hole;
	hole_open(&hole);
	struct dns_addrs a = {0};
	struct result r = {0};
	struct happy *h;
	int before = 0, after = 0;

	for (int fd = 0; fd < 1024; fd++)
		before += fcntl(fd, F_GETFD) != -1;
	add(&a, "127.0.0.1", hole.port);
	struct happy_opts o = {.attempt_delay_ms = 50, .timeout_ms = 0};
	cr_assert_eq(happy_start(L, &a, &o, on_done, &r, &h), 0);
	loop_run_once(L, 10);
	happy_cancel(h);
	wait_for(&r, 200);
	cr_assert_eq(r.calls, 0);
	for (int fd = 0; fd < 1024; fd++)
		after += fcntl(fd, F_GETFD) != -1;
	cr_assert_eq(after, before);
	hole_close(&hole);
}

Test(happy, empty_list_is_einval)
{
	struct dns_addrs a = {0};
	struct happy *h;
	struct happy_opts o = {.attempt_delay_ms = 50};

	cr_assert_eq(happy_start(L, &a, &o, on_done, NULL, &h), -EINVAL);
}
