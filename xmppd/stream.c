/* A connection up to the decision and its answer: the peer's stream
 * header (through STARTTLS or direct TLS when offered), the ClientHello in
 * relay mode, the decision, and the stream error that ends it all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "conn.h"

/* Move what OpenSSL produced to the socket. */
static void tls_flush(struct conn *c)
{
	char buf[READ_SIZE];
	int n;

	while ((n = BIO_read(SSL_get_wbio(c->ssl), buf, sizeof(buf))) > 0)
		xmppd__send_raw(c, &c->tcp, buf, (size_t)n);
}

static void send_text(struct conn *c, const char *p, size_t n)
{
	if (c->ssl && c->tls_up) {
		if (SSL_write(c->ssl, p, (int)n) <= 0)
			ERR_clear_error();
		tls_flush(c);
	} else {
		xmppd__send_raw(c, &c->tcp, p, n);
	}
}

/* ---- the answer ---- */

static void log_decision(struct conn *c, const struct xmppd_verdict *v)
{
	fprintf(stderr, "xmppd: peer=%s from=%s to=%s outcome=%s rule=%s action=%s%s%s\n", c->peer,
	        v->from[0] ? v->from : "-", v->to[0] ? v->to : "-", v->outcome ? v->outcome : "error",
	        v->rule ? v->rule : "-", v->relay ? "relay" : xmppd_cond_name(v->cond),
	        v->relay || v->cond == XMPPD_COND_SEE_OTHER_HOST ? " target=" : "",
	        v->relay ? v->targets[0].host : v->cond == XMPPD_COND_SEE_OTHER_HOST ? v->target : "");
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	(void)status;
	free(req);
	c->handles--;
	xmppd__conn_free_if_done(c);
}

/* Our answer is out: half-close and wait a little for the peer to go, so
 * the answer is not lost to a reset caused by unread input. */
static void conn_linger(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	xmppd__setup_remove(c);
	c->st = S_CLOSING;
	/* Answered and gone within LINGER_MS: not held against newcomers. */
	c->s->nfds -= c->fds;
	c->fds = 0;
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		free(req);
		xmppd__conn_close(c);
		return;
	}
	req->data = c;
	c->handles++;
	uv_timer_start(&c->timer, xmppd__on_timer, LINGER_MS, 0);
}

/* Send v as a stream error (after our header, if not sent yet), end the
 * stream and close. */
void xmppd__conn_finish(struct conn *c, const struct xmppd_verdict *v)
{
	char buf[2048];
	int n;

	if (c->closing || c->st == S_CLOSING)
		return;
	if (c->peek || (c->ssl && !c->tls_up)) {
		/* No XMPP spoken yet on this connection: nothing to say. */
		xmppd__conn_close(c);
		return;
	}
	n = xmppd_render_error(v, c->header_sent, buf, sizeof(buf));
	if (n > 0)
		send_text(c, buf, (size_t)n);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		tls_flush(c);
	}
	conn_linger(c);
}

static void set_error(struct conn *c, enum xmppd_cond cond, const char *why)
{
	/* Keep the names of a header already read, for the log and 'to'. */
	c->v.cond = cond;
	c->v.relay = false;
	c->v.outcome = "error";
	c->v.rule = xmppd_cond_name(cond);
	snprintf(c->v.text, sizeof(c->v.text), "%s", why ? why : "");
	log_decision(c, &c->v);
}

void xmppd__finish_with(struct conn *c, enum xmppd_cond cond, const char *why)
{
	set_error(c, cond, why);
	xmppd__conn_finish(c, &c->v);
}

void xmppd__refuse_now(struct conn *c, enum xmppd_cond cond, const char *why)
{
	char buf[2048];
	int n;

	if (c->closing)
		return;
	set_error(c, cond, why);
	/* Plain XMPP only: a TLS record cannot be half written and left. */
	if (c->st != S_CLOSING && !c->peek && !c->ssl &&
	    (n = xmppd_render_error(&c->v, c->header_sent, buf, sizeof(buf))) > 0) {
		uv_buf_t b = uv_buf_init(buf, (unsigned)n);
		uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	}
	xmppd__conn_close(c);
}

/* ---- the decision ---- */

static void peer_of(struct conn *c, struct xmppd_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->tls = c->ssl && c->tls_up;
	p->direct_tls = c->direct_tls;
}

static void decide(struct conn *c)
{
	const struct xmppd_header *h = xmppd_reader_header(c->rd);
	struct xmppd_server *s = c->s;
	struct xmppd_peer peer;
	char from[PDB_NAME_MAX + 1];
	const char *why;
	int rc;

	peer_of(c, &peer);
	if (peer.tls && h->has_from && pdb_name_normalise(h->from, from, &why) == 0)
		xmppd__tls_identity(s->tls, c->ssl, from, &peer);
	rc = xmppd_decide(s->db, h, &peer, s->mode, time(NULL), &c->v);
	if (rc != 0)
		fprintf(stderr, "xmppd: policy store: %s\n", pdb_strerror(rc));
	/* RFC 6120 4.9.3.19: no redirect before TLS, when TLS can be had.
	 * Errors in the header itself are answered at once, but for a missing
	 * 'from': it is only a SHOULD (4.7.1), and TLS clients and scanners
	 * (openssl s_client -starttls xmpp-server) send none.  The stream
	 * after TLS must have one. */
	if (s->mode == XMPPD_REDIRECT && s->tls && !peer.tls &&
	    (strcmp(c->v.outcome, "error") ||
	     (!h->has_from && c->v.cond == XMPPD_COND_IMPROPER_ADDRESSING))) {
		char buf[1024];
		int n = xmppd_render_features(&c->v, buf, sizeof(buf));
		if (n > 0)
			send_text(c, buf, (size_t)n);
		c->header_sent = true;
		c->st = S_STARTTLS;
		return;
	}
	log_decision(c, &c->v);
	if (c->v.relay)
		xmppd__relay_start(c);
	else
		xmppd__conn_finish(c, &c->v);
}

/* After <starttls/>: <proceed/>, then TLS, then a new stream (RFC 6120 5.4.3.3). */
static void starttls(struct conn *c)
{
	static const char proceed[] = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

	xmppd__send_raw(c, &c->tcp, proceed, sizeof(proceed) - 1);
	if (!(c->ssl = xmppd__tls_accept(c->s->tls)) || xmppd_reader_reset(c->rd) != 0) {
		xmppd__conn_close(c);
		return;
	}
	c->header_sent = false;
	c->st = S_HANDSHAKE;
}

/* Feed plaintext to the stream reader and act on what it finds. */
static void feed(struct conn *c, const char *p, size_t n)
{
	enum xmppd_event ev;
	size_t used;
	const char *why;

	do {
		ev = xmppd_reader_feed(c->rd, p, n, &used);
		p += used;
		n -= used;
		switch (ev) {
		case XMPPD_EV_MORE:
			break;
		case XMPPD_EV_HEADER:
			if (c->st == S_HEADER) {
				decide(c);
				if (c->st != S_STARTTLS)
					return;
			}
			break;
		case XMPPD_EV_STARTTLS:
			if (c->st == S_STARTTLS)
				starttls(c);
			return;   /* nothing may follow it before <proceed/> */
		case XMPPD_EV_ELEMENT:
			xmppd__finish_with(c, XMPPD_COND_POLICY_VIOLATION,
			            "STARTTLS is required before anything else");
			return;
		case XMPPD_EV_CLOSED:
			xmppd__conn_close(c);
			return;
		case XMPPD_EV_ERROR: {
			enum xmppd_cond cond = xmppd_reader_error(c->rd, &why);
			xmppd__finish_with(c, cond, why);
			return;
		}
		}
	} while (n > 0 || ev != XMPPD_EV_MORE);
}

/* Bytes from the peer while TLS is (being) set up. */
static void feed_tls(struct conn *c, const char *p, size_t n)
{
	char buf[READ_SIZE];
	int r;

	if (BIO_write(SSL_get_rbio(c->ssl), p, (int)n) != (int)n) {
		xmppd__conn_close(c);
		return;
	}
	if (!c->tls_up) {
		r = SSL_do_handshake(c->ssl);
		tls_flush(c);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			if (e != SSL_ERROR_WANT_READ)
				xmppd__conn_close(c);
			return;
		}
		c->tls_up = true;
		c->st = S_HEADER;
	}
	while (!c->closing && (c->st == S_HEADER || c->st == S_STARTTLS) &&
	       (r = SSL_read(c->ssl, buf, sizeof(buf))) > 0)
		feed(c, buf, (size_t)r);
	ERR_clear_error();
	if (!c->closing)
		tls_flush(c);
}

/* Direct TLS in relay mode: the ClientHello names 'to'; 'from' is whoever
 * owns the peer's address. */
static void peek(struct conn *c, const char *p, size_t n)
{
	char sni[PDB_NAME_MAX + 1];
	struct xmppd_header h = { .has_version = true, .version_major = 1 };
	struct xmppd_peer peer;
	int rc = xmppd__peek_feed(c->peek, p, n, sni);

	if (rc == 0 && c->rawlen < PEEK_MAX)
		return;
	if (rc != 1) {
		xmppd__conn_close(c);
		return;
	}
	h.has_to = sni[0] != '\0';
	strcpy(h.to, sni);
	rc = xmppd__owner_of(c->s->owners, c->s->db, c->family, c->addr, h.from);
	h.has_from = rc == 0;
	peer_of(c, &peer);
	xmppd_decide(c->s->db, &h, &peer, XMPPD_RELAY, time(NULL), &c->v);
	log_decision(c, &c->v);
	if (c->v.relay)
		xmppd__relay_start(c);
	else
		xmppd__conn_close(c);  /* TLS is not ours to end with a stream error */
}

/* ---- reading ---- */

void xmppd__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	/* Spliced data is handed to a write and must outlive this callback. */
	if (c->st == S_SPLICE) {
		char *p = malloc(READ_SIZE);
		*buf = uv_buf_init(p, p ? READ_SIZE : 0);
	} else {
		*buf = uv_buf_init(c->s->rbuf, sizeof(c->s->rbuf));
	}
}

/* Relay mode keeps every byte read before the decision, to replay it to
 * the real server whole.  The reader and the peek refuse a stream once
 * more than their budget has come in, so the read that completes a header
 * began within the budget and brought at most READ_SIZE bytes: budget plus
 * one read is all there can be. */
static void keep_raw(struct conn *c, const char *p, size_t n)
{
	size_t cap = (c->peek ? PEEK_MAX : c->s->lim.header_max) + READ_SIZE;

	if (!c->raw && !(c->raw = malloc(cap))) {
		xmppd__conn_close(c);
		return;
	}
	if (n > cap - c->rawlen) {
		fprintf(stderr, "xmppd: peer=%s more than %zu bytes before the decision; closed\n",
		        c->peer, cap);
		xmppd__conn_close(c);
		return;
	}
	memcpy(c->raw + c->rawlen, p, n);
	c->rawlen += n;
}

static void first_byte(struct conn *c)
{
	uint64_t spent = uv_now(c->s->loop) - c->accepted_at;
	uint64_t left = spent < c->s->lim.setup_ms ? c->s->lim.setup_ms - spent : 1;
	c->got_byte = true;
	uv_timer_start(&c->timer, xmppd__on_timer, left, 0);
}

void xmppd__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	if (c->st == S_SPLICE) {
		xmppd__splice_read(c, st, nread, buf);
		return;
	}
	if (nread < 0) {
		xmppd__conn_close(c);
		return;
	}
	if (nread == 0 || c->closing || c->st == S_CLOSING)
		return;
	if (!c->got_byte)
		first_byte(c);
	if (c->s->mode == XMPPD_RELAY) {
		keep_raw(c, buf->base, (size_t)nread);
		if (c->closing)
			return;
	}
	if (c->st == S_PEEK)
		peek(c, buf->base, (size_t)nread);
	else if (c->ssl)
		feed_tls(c, buf->base, (size_t)nread);
	else
		feed(c, buf->base, (size_t)nread);
}

