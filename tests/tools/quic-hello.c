/*
 * quic-hello: a QUIC client that only does the handshake (ngtcp2 + wolfSSL,
 * TLS 1.3, ALPN h3), for the tunnel tests' refusal cases that kfwd itself
 * cannot play: a client that presents no certificate at all (kfwd's config
 * requires one).
 *
 *   quic-hello --connect ADDR --ca FILE --name NAME [--cert FILE --key FILE]
 *              [--timeout MS]
 *
 * Without --cert it sends an empty Certificate message when the server asks
 * for one. The server's certificate is verified against --ca and NAME is sent
 * as SNI. The handshake counts as done when the server confirms it
 * (HANDSHAKE_DONE: the server accepted our side too); then the connection is
 * closed with NO_ERROR.
 *
 * Prints one JSON line: {"result":"ok"}, {"result":"refused","by":"peer"|
 * "us","alert":N,"error":"..."} or {"result":"timeout"}.
 * Exit status: 0 handshake done, 1 refused or timed out, 2 bad usage or setup.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tool_addr.h"

struct hello {
	ngtcp2_conn *conn;
	ngtcp2_crypto_conn_ref ref;
	WOLFSSL *ssl;
	int fd;
	bool confirmed;
	struct sockaddr_storage local, remote;
	socklen_t llen, rlen;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: quic-hello --connect ADDR --ca FILE --name NAME "
	                "[--cert FILE --key FILE] [--timeout MS]\n");
	exit(2);
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	if (getrandom(dest, len, 0) != (ssize_t)len)
		memset(dest, 0x5a, len); /* padding and probes only */
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t len, void *ud)
{
	if (getrandom(cid->data, len, 0) != (ssize_t)len ||
	    getrandom(token, NGTCP2_STATELESS_RESET_TOKENLEN, 0) != NGTCP2_STATELESS_RESET_TOKENLEN)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = len;
	return 0;
}

static int confirmed_cb(ngtcp2_conn *conn, void *ud)
{
	((struct hello *)ud)->confirmed = true;
	return 0;
}

static ngtcp2_conn *get_conn_cb(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct hello *)ref->user_data)->conn;
}

static WOLFSSL_CTX *tls_ctx(const char *ca, const char *cert, const char *key)
{
	wolfSSL_Init();
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (!ctx || ngtcp2_crypto_wolfssl_configure_client_context(ctx) ||
	    wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "quic-hello: cannot set TLS up with CA %s\n", ca);
		exit(2);
	}
	if (cert &&
	    (wolfSSL_CTX_use_certificate_chain_file(ctx, cert) != WOLFSSL_SUCCESS ||
	     wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)) {
		fprintf(stderr, "quic-hello: cannot load %s / %s\n", cert, key);
		exit(2);
	}
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	return ctx;
}

static void setup(struct hello *h, WOLFSSL_CTX *ctx, const char *name)
{
	h->ssl = wolfSSL_new(ctx);
	char alpn[] = "h3";
	if (!h->ssl ||
	    wolfSSL_UseALPN(h->ssl, alpn, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(h->ssl, WOLFSSL_SNI_HOST_NAME, name, (unsigned short)strlen(name)) !=
	        WOLFSSL_SUCCESS) {
		fprintf(stderr, "quic-hello: cannot make the TLS session\n");
		exit(2);
	}
	h->ref = (ngtcp2_crypto_conn_ref){.get_conn = get_conn_cb, .user_data = h};
	wolfSSL_set_app_data(h->ssl, &h->ref);
	wolfSSL_set_connect_state(h->ssl);

	ngtcp2_callbacks cb = {
	    .client_initial = ngtcp2_crypto_client_initial_cb,
	    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	    .encrypt = ngtcp2_crypto_encrypt_cb,
	    .decrypt = ngtcp2_crypto_decrypt_cb,
	    .hp_mask = ngtcp2_crypto_hp_mask_cb,
	    .recv_retry = ngtcp2_crypto_recv_retry_cb,
	    .rand = rand_cb,
	    .get_new_connection_id = new_cid_cb,
	    .update_key = ngtcp2_crypto_update_key_cb,
	    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	    .handshake_confirmed = confirmed_cb,
	};
	ngtcp2_settings s;
	ngtcp2_settings_default(&s);
	s.initial_ts = now_ns();
	ngtcp2_transport_params p;
	ngtcp2_transport_params_default(&p);
	/* Room for the server's HTTP/3 control and QPACK streams. */
	p.initial_max_streams_uni = 3;
	p.initial_max_stream_data_uni = 65536;
	p.initial_max_data = 1 << 20;
	ngtcp2_cid dcid = {.datalen = 18}, scid = {.datalen = 18};
	rand_cb(dcid.data, dcid.datalen, NULL);
	rand_cb(scid.data, scid.datalen, NULL);
	ngtcp2_path path = {.local = {.addr = (struct sockaddr *)&h->local, .addrlen = h->llen},
	                    .remote = {.addr = (struct sockaddr *)&h->remote, .addrlen = h->rlen}};
	int rv = ngtcp2_conn_client_new(&h->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &s,
	                                &p, NULL, h);
	if (rv) {
		fprintf(stderr, "quic-hello: ngtcp2_conn_client_new: %s\n", ngtcp2_strerror(rv));
		exit(2);
	}
	ngtcp2_conn_set_tls_native_handle(h->conn, h->ssl);
}

/* Send what ngtcp2 has; return 0 or an ngtcp2 error. */
static int flush(struct hello *h)
{
	uint8_t buf[1500];
	for (int i = 0; i < 64; i++) {
		ngtcp2_path_storage ps;
		ngtcp2_path_storage_zero(&ps);
		ngtcp2_pkt_info pi;
		ngtcp2_ssize n =
		    ngtcp2_conn_write_pkt(h->conn, &ps.path, &pi, buf, sizeof(buf), now_ns());
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		if (send(h->fd, buf, (size_t)n, 0) < 0 && errno != ECONNREFUSED)
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

/* The result line for a connection that ended in error rv. */
static void report_refusal(struct hello *h, int rv)
{
	const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(h->conn);
	bool by_peer = rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING;
	unsigned alert = by_peer ? (e->error_code & ~0xffull) == 0x100 ? e->error_code & 0xff : 0
	                         : ngtcp2_conn_get_tls_alert(h->conn);
	printf("{\"result\":\"refused\",\"by\":\"%s\",\"alert\":%u,\"error\":\"%s\"}\n",
	       by_peer ? "peer" : "us", alert, ngtcp2_strerror(rv));
}

static int run(struct hello *h, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	int rv = flush(h);
	/* Bounded by the deadline: every round waits for a packet or a timer. */
	while (!rv && !h->confirmed) {
		uint64_t now = now_ns();
		if (now >= deadline) {
			printf("{\"result\":\"timeout\"}\n");
			return 1;
		}
		uint64_t exp = ngtcp2_conn_get_expiry(h->conn);
		uint64_t until = exp < deadline ? exp : deadline;
		int wait = until > now ? (int)((until - now) / 1000000u) + 1 : 0;
		struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
		int n = poll(&pfd, 1, wait);
		if (n < 0 && errno != EINTR)
			return 2;
		if (n > 0) {
			uint8_t buf[65536];
			ssize_t len = recv(h->fd, buf, sizeof(buf), 0);
			if (len > 0) {
				ngtcp2_path path = {
				    .local = {.addr = (struct sockaddr *)&h->local,
				              .addrlen = h->llen},
				    .remote = {.addr = (struct sockaddr *)&h->remote,
				               .addrlen = h->rlen}};
				ngtcp2_pkt_info pi = {0};
				rv = ngtcp2_conn_read_pkt(h->conn, &path, &pi, buf, (size_t)len,
				                          now_ns());
				if (rv)
					break;
			}
		} else if (ngtcp2_conn_get_expiry(h->conn) <= now_ns()) {
			rv = ngtcp2_conn_handle_expiry(h->conn, now_ns());
			if (rv)
				break;
		}
		rv = flush(h);
	}
	if (rv) {
		report_refusal(h, rv);
		return 1;
	}
	/* Done: say goodbye so the server does not wait for its idle timeout. */
	uint8_t buf[1500];
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_pkt_info pi;
	ngtcp2_ccerr ce;
	ngtcp2_ccerr_set_application_error(&ce, 0x100 /* H3_NO_ERROR */, NULL, 0);
	ngtcp2_ssize n = ngtcp2_conn_write_connection_close(h->conn, &ps.path, &pi, buf,
	                                                    sizeof(buf), &ce, now_ns());
	if (n > 0 && send(h->fd, buf, (size_t)n, 0) < 0)
		perror("quic-hello: send close");
	printf("{\"result\":\"ok\"}\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *connect_to = NULL, *ca = NULL, *name = NULL, *cert = NULL, *key = NULL;
	int timeout_ms = 5000;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		const char *o = argv[i], *v = argv[++i];
		if (!strcmp(o, "--connect"))
			connect_to = v;
		else if (!strcmp(o, "--ca"))
			ca = v;
		else if (!strcmp(o, "--name"))
			name = v;
		else if (!strcmp(o, "--cert"))
			cert = v;
		else if (!strcmp(o, "--key"))
			key = v;
		else if (!strcmp(o, "--timeout"))
			timeout_ms = atoi(v);
		else
			usage();
	}
	if (!connect_to || !ca || !name || !cert != !key || timeout_ms <= 0)
		usage();
	struct hello h = {.rlen = sizeof(h.remote), .llen = sizeof(h.local)};
	if (tool_parse_addr(connect_to, (struct sockaddr *)&h.remote, sizeof(h.remote), &h.rlen,
	                    1)) {
		fprintf(stderr, "quic-hello: bad --connect %s\n", connect_to);
		return 2;
	}
	h.fd = socket(h.remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (h.fd < 0 || connect(h.fd, (struct sockaddr *)&h.remote, h.rlen) ||
	    getsockname(h.fd, (struct sockaddr *)&h.local, &h.llen)) {
		perror("quic-hello: udp socket");
		return 2;
	}
	WOLFSSL_CTX *ctx = tls_ctx(ca, cert, key);
	setup(&h, ctx, name);
	int rc = run(&h, timeout_ms);
	fflush(stdout);
	ngtcp2_conn_del(h.conn);
	wolfSSL_free(h.ssl);
	wolfSSL_CTX_free(ctx);
	close(h.fd);
	return rc;
}
