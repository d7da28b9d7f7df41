/* TLS with OpenSSL: the server context, the peer's identity (RFC 6125),
 * and reading a ClientHello's SNI for relay mode. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "sslerr.h"

#define TLS12_CIPHERS                                                                      \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                       \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                       \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

struct xmppd_tls {
	SSL_CTX *ctx;
	bool have_ca;
};

static void ossl_reason(char *err, size_t errlen, const char *what, const char *file)
{
	char buf[256];

	snprintf(err, errlen, "%s %s: %s", what, file,
	         ch_ssl_reason(buf, sizeof(buf), "unknown error"));
}

/* Accept any certificate during the handshake: with identity 'claim' it
 * does not matter, and with 'certificate' the decision says why it failed
 * (a denial with a reason is better than a dropped handshake). */
static int accept_any(int ok, X509_STORE_CTX *x)
{
	(void)ok, (void)x;
	return 1;
}

/* XEP-0368: a direct-TLS peer may offer ALPN "xmpp-server". */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char proto[] = "\x0bxmpp-server";
	(void)ssl, (void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, proto, sizeof(proto) - 1, in,
	                          inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

int xmppd_tls_new(const char *cert, const char *key, const char *ca, xmppd_tls **out,
                  char *err, size_t errlen)
{
	xmppd_tls *t;

	if (!cert || !key || !out || !err)
		return -EINVAL;
	if (!(t = calloc(1, sizeof(*t))) || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
		free(t);
		return -ENOMEM;
	}
	/* Forward secrecy and AEAD only: TLS 1.2 with ECDHE and AES-GCM or
	 * ChaCha20-Poly1305 (no static RSA, no CBC), and TLS 1.3's suites,
	 * which are all of that kind.  Our order wins over the peer's. */
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(t->ctx, TLS12_CIPHERS) != 1) {
		ossl_reason(err, errlen, "cipher list", TLS12_CIPHERS);
		goto fail;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, accept_any);
	SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"xmppd", 5);
	SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
		ossl_reason(err, errlen, "certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		ossl_reason(err, errlen, "key", key);
		goto fail;
	}
	if (ca) {
		if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
			ossl_reason(err, errlen, "CA bundle", ca);
			goto fail;
		}
		t->have_ca = true;
	}
	*out = t;
	return 0;
fail:
	xmppd_tls_free(t);
	return XMPPD_ETLS;
}

void xmppd_tls_free(xmppd_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

SSL *xmppd__tls_accept(xmppd_tls *t)
{
	SSL *ssl = SSL_new(t->ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());

	if (!ssl || !rb || !wb) {
		SSL_free(ssl);
		BIO_free(rb);
		BIO_free(wb);
		return NULL;
	}
	/* An empty memory BIO means "wait", not end of file. */
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(ssl, rb, wb);
	SSL_set_accept_state(ssl);
	return ssl;
}

/* RFC 6125 6.5.1 and RFC 6120 13.7.1.2.1: an SRV-ID is an otherName of
 * type id-on-dnsSRV (RFC 4985) holding "_xmpp-server.<domain>". */
static bool srv_id_matches(X509 *cert, const char *from)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	ASN1_OBJECT *srv = OBJ_txt2obj("1.3.6.1.5.5.7.8.7", 1);
	char want[PDB_NAME_MAX + 16];
	bool match = false;

	snprintf(want, sizeof(want), "_xmpp-server.%s", from);
	for (int i = 0; sans && srv && !match && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		ASN1_OBJECT *oid;
		ASN1_TYPE *val;
		if (g->type != GEN_OTHERNAME)
			continue;
		GENERAL_NAME_get0_otherName(g, &oid, &val);
		if (OBJ_cmp(oid, srv) != 0 || val->type != V_ASN1_IA5STRING)
			continue;
		const ASN1_IA5STRING *s = val->value.ia5string;
		size_t n = (size_t)ASN1_STRING_length(s);
		match = n == strlen(want) && !strncasecmp((const char *)ASN1_STRING_get0_data(s), want, n);
	}
	ASN1_OBJECT_free(srv);
	GENERAL_NAMES_free(sans);
	return match;
}

static bool spki_hash(X509 *cert, uint8_t out[PDB_PIN_LEN])
{
	unsigned char *der = NULL;
	unsigned len = 0;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	bool ok = n > 0 && EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL) == 1 &&
	          len == PDB_PIN_LEN;
	OPENSSL_free(der);
	return ok;
}

void xmppd__tls_identity(xmppd_tls *t, SSL *ssl, const char *from, struct xmppd_peer *peer)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);

	peer->cert_checked = true;
	peer->cert_valid_for_from = false;
	peer->has_spki = false;
	if (!cert)
		return;
	peer->has_spki = spki_hash(cert, peer->spki);
	/* A chain that does not lead to the CA bundle proves nothing about
	 * names; a pin may still match. */
	if (t->have_ca && SSL_get_verify_result(ssl) == X509_V_OK) {
		unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
		                 X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
		peer->cert_valid_for_from = X509_check_host(cert, from, 0, flags, NULL) == 1 ||
		                            srv_id_matches(cert, from);
	}
	X509_free(cert);
}

/* ---- SNI ---- */

struct xmppd__peek {
	SSL_CTX *ctx;
	SSL *ssl;
	bool done;
	char name[PDB_NAME_MAX + 1];
};

/* The server_name extension (RFC 6066 3): a list of (type, name); the
 * host_name (type 0) is the one wanted. */
static void sni_of(const unsigned char *p, size_t n, char out[PDB_NAME_MAX + 1])
{
	char raw[256];
	const char *why;

	out[0] = '\0';
	if (n < 2 || (size_t)((p[0] << 8) | p[1]) != n - 2)
		return;
	p += 2, n -= 2;
	while (n >= 3) {
		size_t len = (size_t)((p[1] << 8) | p[2]);
		if (len > n - 3)
			return;
		if (p[0] == 0 && len > 0 && len < sizeof(raw)) {
			memcpy(raw, p + 3, len);
			raw[len] = '\0';
			if (memchr(raw, '\0', len) || pdb_name_normalise(raw, out, &why) != 0)
				out[0] = '\0';
			return;
		}
		p += 3 + len, n -= 3 + len;
	}
}

static int on_hello(SSL *ssl, int *alert, void *arg)
{
	xmppd__peek *p = arg;
	const unsigned char *ext;
	size_t n;

	(void)ssl;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &n) == 1)
		sni_of(ext, n, p->name);
	p->done = true;
	/* Only the hello was wanted: stop before any answer is made. */
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_CLIENT_HELLO_ERROR;
}

int xmppd__peek_new(xmppd__peek **out)
{
	xmppd__peek *p = calloc(1, sizeof(*p));
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());

	if (!p || !rb || !wb || !(p->ctx = SSL_CTX_new(TLS_server_method())) ||
	    !(p->ssl = SSL_new(p->ctx))) {
		BIO_free(rb);
		BIO_free(wb);
		xmppd__peek_free(p);
		return -ENOMEM;
	}
	SSL_CTX_set_client_hello_cb(p->ctx, on_hello, p);
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(p->ssl, rb, wb);
	SSL_set_accept_state(p->ssl);
	*out = p;
	return 0;
}

void xmppd__peek_free(xmppd__peek *p)
{
	if (!p)
		return;
	SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	free(p);
}

int xmppd__peek_feed(xmppd__peek *p, const void *buf, size_t len, char name[PDB_NAME_MAX + 1])
{
	if (BIO_write(SSL_get_rbio(p->ssl), buf, (int)len) != (int)len)
		return -1;
	int rc = SSL_do_handshake(p->ssl);
	if (p->done) {
		ERR_clear_error();
		memcpy(name, p->name, sizeof(p->name));
		return 1;
	}
	if (rc <= 0 && SSL_get_error(p->ssl, rc) == SSL_ERROR_WANT_READ)
		return 0;
	ERR_clear_error();
	return -1;
}
