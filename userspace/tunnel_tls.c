/*
 * TLS for the tunnel: wolfSSL with QUIC, TLS 1.3 only, ALPN h3, mutual
 * authentication against tls.ca. The peer's name is checked explicitly after
 * the handshake (wolfSSL's own domain check was not enforced in QUIC mode).
 */
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* No AES-CCM: it broke QUIC handshakes in wolfSSL 5.7.x. */
#define TTLS_SUITES "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256"

static struct tconn *ssl_tconn(WOLFSSL *ssl)
{
	ngtcp2_crypto_conn_ref *ref = wolfSSL_get_app_data(ssl);
	return ref ? ref->user_data : NULL;
}

/* Name the verification failure in words an operator can act on. */
static const char *verify_reason(int err)
{
	switch (err) {
	case ASN_NO_SIGNER_E:
	case WOLFSSL_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case 2:  /* X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT */
	case 21: /* X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE */
	case 18: /* X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT */
	case 19: /* X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN */
		return "certificate from an unknown CA (not signed by tls.ca)";
	case ASN_AFTER_DATE_E:
	case WOLFSSL_X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate expired";
	case ASN_BEFORE_DATE_E:
	case 9: /* X509_V_ERR_CERT_NOT_YET_VALID */
		return "certificate not yet valid";
	default:
		return NULL;
	}
}

/* Record why the chain was refused; the handshake then fails. */
static int verify_cb(int ok, WOLFSSL_X509_STORE_CTX *store)
{
	if (ok)
		return 1;
	int err = wolfSSL_X509_STORE_CTX_get_error(store);
	WOLFSSL *ssl =
	    wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tconn *c = ssl ? ssl_tconn(ssl) : NULL;
	const char *r = verify_reason(err);
	if (c && !c->tls_why[0])
		snprintf(c->tls_why, sizeof(c->tls_why), "peer %s (verify error %d: %s)",
		         r ? r : "certificate refused", err,
		         wolfSSL_X509_verify_cert_error_string(err));
	return 0;
}

static int alpn_select_cb(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == 2 && !memcmp(in + i + 1, "h3", 2)) {
			*out = in + i + 1;
			*outlen = 2;
			return 0; /* SSL_TLSEXT_ERR_OK */
		}
		i += 1 + n;
	}
	struct tconn *c = ssl_tconn(ssl);
	if (c)
		snprintf(c->tls_why, sizeof(c->tls_why), "peer does not offer ALPN h3");
	return 2; /* SSL_TLSEXT_ERR_ALERT_FATAL */
}

int ttls_ctx_new(struct tunnel *t)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, (void (*)(void))wolfSSL_Init);
	const struct conf_tunnel *tc = t->tc;
	WOLFSSL_CTX *ctx =
	    wolfSSL_CTX_new(t->server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method());
	if (!ctx)
		return -ENOMEM;
	int rv = t->server ? ngtcp2_crypto_wolfssl_configure_server_context(ctx)
	                   : ngtcp2_crypto_wolfssl_configure_client_context(ctx);
	const char *what = "QUIC setup";
	if (rv)
		goto fail;
	what = "cipher suites";
	if (wolfSSL_CTX_set_cipher_list(ctx, TTLS_SUITES) != WOLFSSL_SUCCESS)
		goto fail;
	what = tc->ca;
	if (wolfSSL_CTX_load_verify_locations(ctx, tc->ca, NULL) != WOLFSSL_SUCCESS)
		goto fail;
	what = tc->cert;
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, tc->cert) != WOLFSSL_SUCCESS)
		goto fail;
	what = tc->key;
	if (wolfSSL_CTX_use_PrivateKey_file(ctx, tc->key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
		goto fail;
	what = "key and certificate do not match";
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS)
		goto fail;
	/* Both roles demand the peer's certificate: mutual TLS. */
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	                       verify_cb);
	if (t->server)
		wolfSSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	t->ssl_ctx = ctx;
	return 0;
fail:
	log_err("tunnel: tls: cannot load %s", what);
	wolfSSL_CTX_free(ctx);
	return -EINVAL;
}

int ttls_session_new(struct tconn *c)
{
	struct tunnel *t = c->t;
	WOLFSSL *ssl = wolfSSL_new(t->ssl_ctx);
	if (!ssl)
		return -ENOMEM;
	c->ref.get_conn = NULL; /* set by tunnel_conn.c */
	c->ref.user_data = c;
	wolfSSL_set_app_data(ssl, &c->ref);
	/* Both roles list h3 only: the server's select callback alone is not
	 * consulted by wolfSSL unless the session has an ALPN list of its own. */
	char alpn[] = "h3";
	if (wolfSSL_UseALPN(ssl, alpn, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		return -ENOMEM;
	}
	if (t->server) {
		wolfSSL_set_accept_state(ssl);
	} else {
		wolfSSL_set_connect_state(ssl);
		const char *name = t->tc->peer_name;
		if (wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, name,
		                   (unsigned short)strlen(name)) != WOLFSSL_SUCCESS) {
			wolfSSL_free(ssl);
			return -ENOMEM;
		}
	}
	c->ssl = ssl;
	return 0;
}

int ttls_check_peer(struct tconn *c, char *why, size_t whylen)
{
	const char *name = c->t->tc->peer_name;
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
	if (!x) {
		snprintf(why, whylen, "peer presented no certificate");
		return -EPERM;
	}
	int rc = 0;
	long vr = wolfSSL_get_verify_result(c->ssl);
	if (vr != WOLFSSL_X509_V_OK) {
		const char *r = verify_reason((int)vr);
		snprintf(why, whylen, "peer %s (verify result %ld)", r ? r : "certificate refused",
		         vr);
		rc = -EPERM;
	} else if (wolfSSL_X509_check_host(x, name, strlen(name), 0, NULL) != WOLFSSL_SUCCESS) {
		char cn[128] = "";
		WOLFSSL_X509_NAME *sub = wolfSSL_X509_get_subject_name(x);
		if (sub)
			wolfSSL_X509_NAME_get_text_by_NID(sub, NID_commonName, cn, sizeof(cn));
		snprintf(why, whylen,
		         "peer certificate name mismatch: CN \"%s\" (no subjectAltName %s)", cn,
		         name);
		rc = -EPERM;
	}
	wolfSSL_X509_free(x);
	if (rc)
		return rc;
	char *alpn = NULL;
	unsigned short alen = 0;
	if (wolfSSL_ALPN_GetProtocol(c->ssl, &alpn, &alen) != WOLFSSL_SUCCESS || alen != 2 ||
	    memcmp(alpn, "h3", 2)) {
		snprintf(why, whylen, "peer did not agree on ALPN h3");
		return -EPROTO;
	}
	return 0;
}
