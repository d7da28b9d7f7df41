/* The stream part of a connection: the peer's stream header (through
 * STARTTLS or direct TLS when offered), the ClientHello in relay mode, the
 * decision, and the stream error that ends it all.  It reports what it
 * found to the owner (server.c) and changes no state but its phase. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

/* The decision's log line, built by hand and written with one write(2).
 * fprintf() on the unbuffered stderr formats into a buffer of its own
 * under stdio's lock and cost as much as the whole answer; one write keeps
 * the line whole among other writers, and it is made before the answer,
 * so the log tells a decision before the peer can see it. */
struct line {
	size_t n;
	char b[1536];   /* the longest line (names, target, peer) fits */
};

static void put(struct line *l, const char *s)
{
	size_t k = strlen(s);

	if (k > sizeof(l->b) - 1 - l->n)
		k = sizeof(l->b) - 1 - l->n;
	memcpy(l->b + l->n, s, k);
	l->n += k;
}

static void line_write(struct line *l)
{
	l->b[l->n++] = '\n';
	for (size_t off = 0; off < l->n;) {
		ssize_t w = write(STDERR_FILENO, l->b + off, l->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;   /* nowhere to log: the answer goes on */
		off += (size_t)w;
	}
}

static void log_decision(struct conn *c, const struct xmppd_verdict *v)
{
	struct line l;

	xmppd__stats_decision(&c->s->stats, v);
	l.n = 0;
	put(&l, "xmppd: peer=");
	put(&l, c->peer);
	put(&l, " from=");
	put(&l, v->from[0] ? v->from : "-");
	put(&l, " to=");
	put(&l, v->to[0] ? v->to : "-");
	put(&l, " outcome=");
	put(&l, v->outcome ? v->outcome : "error");
	put(&l, " rule=");
	put(&l, v->rule ? v->rule : "-");
	put(&l, " action=");
	put(&l, v->relay ? "relay" : xmppd_cond_name(v->cond));
	if (v->relay || v->cond == XMPPD_COND_SEE_OTHER_HOST) {
		put(&l, " target=");
		put(&l, v->relay ? v->targets[0].host : v->target);
	}
	line_write(&l);
}

bool xmppd__stream_answer(struct conn *c)
{
	char buf[2048];
	int n;

	if (c->peek || (c->ssl && !c->tls_up))
		return false;   /* no XMPP spoken yet on this connection: nothing to say */
	n = xmppd_render_error(&c->v, c->header_sent, buf, sizeof(buf));
	if (n > 0)
		send_text(c, buf, (size_t)n);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		tls_flush(c);
	}
	return true;
}

void xmppd__stream_error(struct conn *c, enum xmppd_cond cond, const char *why)
{
	/* Keep the names of a header already read, for the log and 'to'. */
	c->v.cond = cond;
	c->v.relay = false;
	c->v.outcome = "error";
	c->v.rule = xmppd_cond_name(cond);
	snprintf(c->v.text, sizeof(c->v.text), "%s", why ? why : "");
	log_decision(c, &c->v);
}

void xmppd__stream_answer_now(struct conn *c)
{
	char buf[2048];
	int n;

	/* Plain XMPP only: a TLS record cannot be half written and left. */
	if (!c->peek && !c->ssl &&
	    (n = xmppd_render_error(&c->v, c->header_sent, buf, sizeof(buf))) > 0) {
		uv_buf_t b = uv_buf_init(buf, (unsigned)n);
		uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	}
}

bool xmppd__stream_speaks(const struct conn *c)
{
	return (c->phase == P_HEADER || c->phase == P_STARTTLS) && (!c->ssl || c->tls_up);
}

bool xmppd__stream_plain(const struct conn *c)
{
	return c->phase == P_HEADER && !c->ssl;
}

/* ---- the decision ---- */

static void peer_of(struct conn *c, struct xmppd_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->tls = c->ssl && c->tls_up;
	p->direct_tls = c->direct_tls;
}

int xmppd__decide(struct xmppd_server *s, const struct xmppd_header *h,
                  const struct xmppd_peer *peer, enum xmppd_mode mode, struct xmppd_verdict *v)
{
	int rc = pdb_read_renew(s->txn);

	if (rc != 0) {
		memset(v, 0, sizeof(*v));
		v->cond = XMPPD_COND_INTERNAL_SERVER_ERROR;
		v->outcome = "error";
		v->rule = "store";
		return rc;
	}
	rc = xmppd_decide_in(s->txn, h, peer, mode, time(NULL), v);
	pdb_read_reset(s->txn);
	return rc;
}

static enum xmppd__step decide(struct conn *c)
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
	rc = xmppd__decide(s, h, &peer, s->mode, &c->v);
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
		c->phase = P_STARTTLS;
		return XMPPD__WAIT;
	}
	log_decision(c, &c->v);
	return c->v.relay ? XMPPD__RELAY : XMPPD__ANSWER;
}

/* After <starttls/>: <proceed/>, then TLS, then a new stream (RFC 6120 5.4.3.3). */
static enum xmppd__step starttls(struct conn *c)
{
	static const char proceed[] = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

	xmppd__send_raw(c, &c->tcp, proceed, sizeof(proceed) - 1);
	if (!(c->ssl = xmppd__tls_accept(c->s->tls)) || xmppd_reader_reset(c->rd) != 0)
		return XMPPD__CLOSE;
	c->header_sent = false;
	c->phase = P_HANDSHAKE;
	return XMPPD__WAIT;
}

/* Feed plaintext to the stream reader and say what it found. */
static enum xmppd__step feed(struct conn *c, const char *p, size_t n)
{
	enum xmppd_event ev;
	enum xmppd__step step;
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
			/* Features sent: <starttls/> may follow in the same read. */
			if (c->phase == P_HEADER && (step = decide(c)) != XMPPD__WAIT)
				return step;
			break;
		case XMPPD_EV_STARTTLS:
			/* nothing may follow it before <proceed/> */
			return c->phase == P_STARTTLS ? starttls(c) : XMPPD__WAIT;
		case XMPPD_EV_ELEMENT:
			xmppd__stream_error(c, XMPPD_COND_POLICY_VIOLATION,
			                    "STARTTLS is required before anything else");
			return XMPPD__ANSWER;
		case XMPPD_EV_CLOSED:
			return XMPPD__CLOSE;
		case XMPPD_EV_ERROR: {
			enum xmppd_cond cond = xmppd_reader_error(c->rd, &why);
			xmppd__stream_error(c, cond, why);
			return XMPPD__ANSWER;
		}
		}
	} while (n > 0 || ev != XMPPD_EV_MORE);
	return XMPPD__WAIT;
}

/* Bytes from the peer while TLS is (being) set up. */
static enum xmppd__step feed_tls(struct conn *c, const char *p, size_t n)
{
	enum xmppd__step step = XMPPD__WAIT;
	char buf[READ_SIZE];
	int r;

	if (BIO_write(SSL_get_rbio(c->ssl), p, (int)n) != (int)n)
		return XMPPD__CLOSE;
	if (!c->tls_up) {
		r = SSL_do_handshake(c->ssl);
		tls_flush(c);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			if (e != SSL_ERROR_WANT_READ)
				ch_counter_add(&c->s->stats.tls_failed, 1);
			return e != SSL_ERROR_WANT_READ ? XMPPD__CLOSE : XMPPD__WAIT;
		}
		ch_counter_add(&c->s->stats.tls_ok, 1);
		c->tls_up = true;
		c->phase = P_HEADER;
	}
	while (step == XMPPD__WAIT && !c->closing &&
	       (c->phase == P_HEADER || c->phase == P_STARTTLS) &&
	       (r = SSL_read(c->ssl, buf, sizeof(buf))) > 0)
		step = feed(c, buf, (size_t)r);
	ERR_clear_error();
	if (!c->closing)
		tls_flush(c);
	return step;
}

/* Direct TLS in relay mode: the ClientHello names 'to'; 'from' is whoever
 * owns the peer's address. */
static enum xmppd__step peek(struct conn *c, const char *p, size_t n)
{
	char sni[PDB_NAME_MAX + 1];
	struct xmppd_header h = { .has_version = true, .version_major = 1 };
	struct xmppd_peer peer;
	int rc = xmppd__peek_feed(c->peek, p, n, sni);

	if (rc == 0 && c->rawlen < PEEK_MAX)
		return XMPPD__WAIT;
	if (rc != 1)
		return XMPPD__CLOSE;
	h.has_to = sni[0] != '\0';
	strcpy(h.to, sni);
	rc = xmppd__owner_of(c->s->owners, c->s->db, c->family, c->addr, h.from);
	h.has_from = rc == 0;
	peer_of(c, &peer);
	xmppd__decide(c->s, &h, &peer, XMPPD_RELAY, &c->v);
	log_decision(c, &c->v);
	/* TLS is not ours to end with a stream error */
	return c->v.relay ? XMPPD__RELAY : XMPPD__CLOSE;
}

/* ---- reading ---- */

/* Relay mode keeps every byte read before the decision, to replay it to
 * the real server whole.  The reader and the peek refuse a stream once
 * more than their budget has come in, so the read that completes a header
 * began within the budget and brought at most READ_SIZE bytes: budget plus
 * one read is all there can be.  Returns 0 or -ENOMEM, -ENOSPC. */
static int keep_raw(struct conn *c, const char *p, size_t n)
{
	size_t cap = (c->peek ? PEEK_MAX : c->s->lim.header_max) + READ_SIZE;

	if (!c->raw && !(c->raw = malloc(cap)))
		return -ENOMEM;
	if (n > cap - c->rawlen) {
		fprintf(stderr, "xmppd: peer=%s more than %zu bytes before the decision; closed\n",
		        c->peer, cap);
		return -ENOSPC;
	}
	memcpy(c->raw + c->rawlen, p, n);
	c->rawlen += n;
	return 0;
}

enum xmppd__step xmppd__stream_read(struct conn *c, const char *p, size_t n)
{
	if (c->s->mode == XMPPD_RELAY && keep_raw(c, p, n) != 0)
		return XMPPD__CLOSE;
	if (c->phase == P_PEEK)
		return peek(c, p, n);
	if (c->ssl)
		return feed_tls(c, p, n);
	return feed(c, p, n);
}

int xmppd__stream_init(struct conn *c, bool direct_tls)
{
	struct xmppd_server *s = c->s;

	c->direct_tls = direct_tls;
	c->phase = P_HEADER;
	if (xmppd_reader_new(s->lim.header_max, &c->rd) != 0)
		return -ENOMEM;
	if (direct_tls && s->mode == XMPPD_RELAY) {
		c->phase = P_PEEK;
		if (xmppd__peek_new(&c->peek) != 0)
			return -ENOMEM;
	} else if (direct_tls) {
		c->phase = P_HANDSHAKE;
		if (!(c->ssl = xmppd__tls_accept(s->tls)))
			return -ENOMEM;
	}
	return 0;
}
