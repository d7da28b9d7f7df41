/* The server: listeners and connections on one libuv loop.
 *
 * A connection is set up (read the header, maybe STARTTLS or direct TLS,
 * decide), then either answered and closed, or, in relay mode, joined to
 * a connection to the real server and spliced.  Connections being set up
 * are on a list in accept order: they are the ones the time limits and
 * the connection cap apply to, and at the cap the oldest is cut. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "cfg.h"
#include "internal.h"

#define LINGER_MS 2000           /* after our answer, wait this long for the peer's FIN */
#define SPLICE_HIGH (256 * 1024) /* stop reading when the other side queues this much */
#define SPLICE_LOW (64 * 1024)
#define PEEK_MAX 16384           /* a ClientHello larger than this is refused */
#define READ_SIZE 16384

enum state {
	S_PEEK,        /* direct TLS, relay mode: reading the ClientHello */
	S_HANDSHAKE,   /* TLS handshake (direct, or after <proceed/>) */
	S_HEADER,      /* reading the stream header */
	S_STARTTLS,    /* features sent, waiting for <starttls/> */
	S_CONNECTING,  /* relay: resolving and connecting to the target */
	S_SPLICE,      /* relay: bytes flow both ways */
	S_CLOSING,     /* answered; waiting for the peer to go */
};

struct listener {
	uv_tcp_t tcp;
	struct xmppd_server *s;
	bool direct_tls;
};

struct conn {
	struct xmppd_server *s;
	struct conn *prev, *next;            /* all connections */
	struct conn *sprev, *snext;          /* connections being set up */
	bool in_setup, closing;
	unsigned handles;                    /* open libuv handles and requests */
	enum state st;
	bool direct_tls, got_byte, header_sent;
	uint64_t accepted_at;
	char peer[64];
	int family;
	uint8_t addr[16];
	uv_tcp_t tcp;
	uv_timer_t timer;
	xmppd_reader *rd;
	SSL *ssl;
	bool tls_up;
	xmppd__peek *peek;
	char *raw;                           /* relay: everything read, to replay */
	size_t rawlen;
	struct xmppd_verdict v;
	/* relay */
	uv_tcp_t out;
	bool out_open, out_connected, in_eof, out_eof, in_paused, out_paused;
	uv_connect_t creq;
	uv_getaddrinfo_t gai;
	bool gai_pending;
	struct addrinfo *ai, *ai_next;
	unsigned target;
};

struct xmppd_server {
	uv_loop_t *loop;
	pdb_t *db;
	xmppd_tls *tls;
	enum xmppd_mode mode;
	struct xmppd_limits lim;
	struct listener *ls[64];
	unsigned nls;
	struct conn *all;
	struct conn *setup_head, *setup_tail;
	unsigned nsetup;
	xmppd__owners *owners;
	bool closing;
	unsigned open;                       /* listeners and connections not yet freed */
	void (*close_cb)(void *);
	void *close_arg;
	char rbuf[READ_SIZE];
};

void xmppd_limits_default(struct xmppd_limits *l)
{
	l->header_max = 8192;
	l->first_byte_ms = 5000;
	l->setup_ms = 10000;
	l->conn_max = 4096;
	l->connect_ms = 5000;
}

static void conn_close(struct conn *c);
static void conn_finish(struct conn *c, const struct xmppd_verdict *v);
static void relay_next(struct conn *c);
static void splice_drained(struct conn *c, uv_tcp_t *to);
static void on_timer(uv_timer_t *t);
static void on_out_closed(uv_handle_t *h);

/* ---- bookkeeping ---- */

static void server_maybe_done(struct xmppd_server *s)
{
	if (!s->closing || s->open)
		return;
	xmppd__owners_free(s->owners);
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;
	free(s);
	if (cb)
		cb(arg);
}

static void setup_remove(struct conn *c)
{
	struct xmppd_server *s = c->s;

	if (!c->in_setup)
		return;
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		s->setup_head = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	else
		s->setup_tail = c->sprev;
	c->in_setup = false;
	s->nsetup--;
}

static void conn_free_if_done(struct conn *c)
{
	struct xmppd_server *s = c->s;

	if (c->handles)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	xmppd_reader_free(c->rd);
	SSL_free(c->ssl);
	xmppd__peek_free(c->peek);
	if (c->ai)
		uv_freeaddrinfo(c->ai);
	free(c->raw);
	free(c);
	s->open--;
	server_maybe_done(s);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	c->handles--;
	conn_free_if_done(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	setup_remove(c);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
		uv_close((uv_handle_t *)&c->out, on_handle_closed);
}

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	struct conn *c;
	uv_tcp_t *to;
	char data[];
};

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	uv_tcp_t *to = w->to;

	free(w);
	c->handles--;
	if (status < 0 && !c->closing && c->st == S_SPLICE)
		conn_close(c);
	else if (!c->closing && c->st == S_SPLICE)
		splice_drained(c, to);
	conn_free_if_done(c);
}

static void send_raw(struct conn *c, uv_tcp_t *to, const void *p, size_t n)
{
	struct wreq *w;

	if (n == 0 || c->closing)
		return;
	if (!(w = malloc(sizeof(*w) + n))) {
		conn_close(c);
		return;
	}
	w->c = c;
	w->to = to;
	memcpy(w->data, p, n);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_written) != 0) {
		free(w);
		conn_close(c);
		return;
	}
	c->handles++;
}

/* Move what OpenSSL produced to the socket. */
static void tls_flush(struct conn *c)
{
	char buf[READ_SIZE];
	int n;

	while ((n = BIO_read(SSL_get_wbio(c->ssl), buf, sizeof(buf))) > 0)
		send_raw(c, &c->tcp, buf, (size_t)n);
}

static void send_text(struct conn *c, const char *p, size_t n)
{
	if (c->ssl && c->tls_up) {
		if (SSL_write(c->ssl, p, (int)n) <= 0)
			ERR_clear_error();
		tls_flush(c);
	} else {
		send_raw(c, &c->tcp, p, n);
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
	conn_free_if_done(c);
}

/* Our answer is out: half-close and wait a little for the peer to go, so
 * the answer is not lost to a reset caused by unread input. */
static void conn_linger(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	setup_remove(c);
	c->st = S_CLOSING;
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		free(req);
		conn_close(c);
		return;
	}
	req->data = c;
	c->handles++;
	uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
}

/* Send v as a stream error (after our header, if not sent yet), end the
 * stream and close. */
static void conn_finish(struct conn *c, const struct xmppd_verdict *v)
{
	char buf[2048];
	int n;

	if (c->closing || c->st == S_CLOSING)
		return;
	if (c->peek || (c->ssl && !c->tls_up)) {
		/* No XMPP spoken yet on this connection: nothing to say. */
		conn_close(c);
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

static void finish_with(struct conn *c, enum xmppd_cond cond, const char *why)
{
	/* Keep the names of a header already read, for the log and 'to'. */
	c->v.cond = cond;
	c->v.relay = false;
	c->v.outcome = "error";
	c->v.rule = xmppd_cond_name(cond);
	snprintf(c->v.text, sizeof(c->v.text), "%s", why ? why : "");
	log_decision(c, &c->v);
	conn_finish(c, &c->v);
}

/* ---- the decision ---- */

static void peer_of(struct conn *c, struct xmppd_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->tls = c->ssl && c->tls_up;
	p->direct_tls = c->direct_tls;
}

static void relay_start(struct conn *c);

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
	 * Errors in the header itself are answered at once. */
	if (s->mode == XMPPD_REDIRECT && s->tls && !peer.tls && strcmp(c->v.outcome, "error")) {
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
		relay_start(c);
	else
		conn_finish(c, &c->v);
}

/* After <starttls/>: <proceed/>, then TLS, then a new stream (RFC 6120 5.4.3.3). */
static void starttls(struct conn *c)
{
	static const char proceed[] = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

	send_raw(c, &c->tcp, proceed, sizeof(proceed) - 1);
	if (!(c->ssl = xmppd__tls_accept(c->s->tls)) || xmppd_reader_reset(c->rd) != 0) {
		conn_close(c);
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
			finish_with(c, XMPPD_COND_POLICY_VIOLATION,
			            "STARTTLS is required before anything else");
			return;
		case XMPPD_EV_CLOSED:
			conn_close(c);
			return;
		case XMPPD_EV_ERROR: {
			enum xmppd_cond cond = xmppd_reader_error(c->rd, &why);
			finish_with(c, cond, why);
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
		conn_close(c);
		return;
	}
	if (!c->tls_up) {
		r = SSL_do_handshake(c->ssl);
		tls_flush(c);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			if (e != SSL_ERROR_WANT_READ)
				conn_close(c);
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
		conn_close(c);
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
		relay_start(c);
	else
		conn_close(c);  /* TLS is not ours to end with a stream error */
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
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

static void keep_raw(struct conn *c, const char *p, size_t n)
{
	size_t max = c->peek ? PEEK_MAX : c->s->lim.header_max;
	if (!c->raw && !(c->raw = malloc(max))) {
		conn_close(c);
		return;
	}
	if (n > max - c->rawlen)
		n = max - c->rawlen;   /* the reader or the peek refuses the rest */
	memcpy(c->raw + c->rawlen, p, n);
	c->rawlen += n;
}

static void first_byte(struct conn *c)
{
	uint64_t spent = uv_now(c->s->loop) - c->accepted_at;
	uint64_t left = spent < c->s->lim.setup_ms ? c->s->lim.setup_ms - spent : 1;
	c->got_byte = true;
	uv_timer_start(&c->timer, on_timer, left, 0);
}

static void splice_read(struct conn *c, uv_stream_t *from, ssize_t nread, const uv_buf_t *buf);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	if (c->st == S_SPLICE) {
		splice_read(c, st, nread, buf);
		return;
	}
	if (nread < 0) {
		conn_close(c);
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

/* ---- time limits ---- */

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->st) {
	case S_CONNECTING:
		/* This attempt took too long: closing it moves on to the next;
		 * a cancelled lookup does the same. */
		if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
			uv_close((uv_handle_t *)&c->out, on_out_closed);
		else if (c->gai_pending)
			uv_cancel((uv_req_t *)&c->gai);
		break;
	case S_HEADER:
	case S_STARTTLS:
		if (!c->ssl || c->tls_up) {
			finish_with(c, XMPPD_COND_CONNECTION_TIMEOUT,
			            c->got_byte ? "no complete stream header in time"
			                        : "nothing received in time");
			break;
		}
		/* fall through */
	default:
		conn_close(c);
	}
}

/* ---- relay ---- */

static void relay_fail(struct conn *c)
{
	fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay failed: no target reachable\n", c->peer,
	        c->v.from, c->v.to);
	c->v.relay = false;
	c->v.cond = XMPPD_COND_REMOTE_CONNECTION_FAILED;
	snprintf(c->v.text, sizeof(c->v.text), "%s cannot be reached", c->v.to);
	conn_finish(c, &c->v);
}

static void splice_start(struct conn *c)
{
	uv_timer_stop(&c->timer);
	setup_remove(c);
	c->st = S_SPLICE;
	/* The peer's bytes so far (its stream header, or its ClientHello) go
	 * first, so the real server sees the stream from its start. */
	send_raw(c, &c->out, c->raw, c->rawlen);
	free(c->raw);
	c->raw = NULL;
	c->rawlen = 0;
	c->out.data = c;
	/* Stanzas go through as they come; the answer path writes once. */
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_nodelay(&c->out, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0 ||
	    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read) != 0)
		conn_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	c->handles--;
	if (c->closing) {
		conn_free_if_done(c);
		return;
	}
	if (status == 0) {
		c->out_connected = true;
		splice_start(c);
		return;
	}
	/* Failed or cancelled: once the handle is closed, the next address. */
	if (!uv_is_closing((uv_handle_t *)&c->out))
		uv_close((uv_handle_t *)&c->out, on_out_closed);
}

static void on_out_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->handles--;
	c->out_open = false;
	if (!c->closing)
		relay_next(c);
	conn_free_if_done(c);
}

static void try_address(struct conn *c)
{
	while (c->ai_next) {
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		if (uv_tcp_init(c->s->loop, &c->out) != 0)
			break;
		c->out.data = c;
		c->out_open = true;
		c->handles++;
		c->creq.data = c;
		uv_timer_start(&c->timer, on_timer, c->s->lim.connect_ms, 0);
		if (uv_tcp_connect(&c->creq, &c->out, a->ai_addr, on_connected) == 0) {
			c->handles++;
			return;
		}
		uv_close((uv_handle_t *)&c->out, on_out_closed);
		return;
	}
	uv_freeaddrinfo(c->ai);
	c->ai = NULL;
	c->target++;
	relay_next(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct conn *c = req->data;

	c->handles--;
	c->gai_pending = false;
	if (c->closing) {
		if (res)
			uv_freeaddrinfo(res);
		conn_free_if_done(c);
		return;
	}
	if (status != 0) {
		c->target++;
		relay_next(c);
		return;
	}
	c->ai = c->ai_next = res;
	try_address(c);
}

/* Resolve the current target, or try its next address, or give up. */
static void relay_next(struct conn *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char port[8];

	if (c->ai) {
		try_address(c);
		return;
	}
	if (c->target >= c->v.ntargets) {
		relay_fail(c);
		return;
	}
	snprintf(port, sizeof(port), "%u", c->v.targets[c->target].port);
	c->gai.data = c;
	if (uv_getaddrinfo(c->s->loop, &c->gai, on_resolved, c->v.targets[c->target].host, port,
	                   &hints) != 0) {
		c->target++;
		relay_next(c);
		return;
	}
	c->handles++;
	c->gai_pending = true;
	uv_timer_start(&c->timer, on_timer, c->s->lim.connect_ms, 0);
}

static void relay_start(struct conn *c)
{
	c->st = S_CONNECTING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->target = 0;
	relay_next(c);
}

/* ---- splicing ---- */

static void splice_drained(struct conn *c, uv_tcp_t *to)
{
	bool to_out = to == &c->out;
	uv_tcp_t *src = to_out ? &c->tcp : &c->out;
	bool *paused = to_out ? &c->in_paused : &c->out_paused;

	if (*paused && uv_stream_get_write_queue_size((uv_stream_t *)to) < SPLICE_LOW) {
		*paused = false;
		if (uv_read_start((uv_stream_t *)src, on_alloc, on_read) != 0)
			conn_close(c);
	}
}

static void on_splice_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	uv_tcp_t *to = w->to;

	free(req->data);   /* the read buffer, handed over */
	free(w);
	c->handles--;
	if (!c->closing) {
		if (status < 0)
			conn_close(c);
		else
			splice_drained(c, to);
	}
	conn_free_if_done(c);
}

static void on_splice_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	(void)status;
	free(req);
	c->handles--;
	if (!c->closing && c->in_eof && c->out_eof)
		conn_close(c);
	conn_free_if_done(c);
}

static void splice_read(struct conn *c, uv_stream_t *from, ssize_t nread, const uv_buf_t *buf)
{
	bool from_in = from == (uv_stream_t *)&c->tcp;
	uv_tcp_t *to = from_in ? &c->out : &c->tcp;

	if (nread <= 0 || c->closing) {
		free(buf->base);
		if (nread == 0 || c->closing)
			return;
		if (nread != UV_EOF) {
			conn_close(c);
			return;
		}
		/* One side is done sending: pass the FIN on, keep the other way. */
		*(from_in ? &c->in_eof : &c->out_eof) = true;
		uv_read_stop(from);
		uv_shutdown_t *req = malloc(sizeof(*req));
		if (!req || uv_shutdown(req, (uv_stream_t *)to, on_splice_shutdown) != 0) {
			free(req);
			conn_close(c);
			return;
		}
		req->data = c;
		c->handles++;
		return;
	}
	struct wreq *w = malloc(sizeof(*w));
	if (!w) {
		free(buf->base);
		conn_close(c);
		return;
	}
	w->c = c;
	w->to = to;
	w->req.data = buf->base;
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
	if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_splice_written) != 0) {
		free(buf->base);
		free(w);
		conn_close(c);
		return;
	}
	c->handles++;
	if (uv_stream_get_write_queue_size((uv_stream_t *)to) > SPLICE_HIGH) {
		*(from_in ? &c->in_paused : &c->out_paused) = true;
		uv_read_stop(from);
	}
}

/* ---- accepting ---- */

static void addr_of(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	strcpy(c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	cfg_sockaddr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	if (ss.ss_family == AF_INET) {
		c->family = 4;
		memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			c->family = 4;
			memcpy(c->addr, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			c->family = 6;
			memcpy(c->addr, &s6->sin6_addr, 16);
		}
	}
}

/* At the cap, the connection set up longest ago gives way: a flood of
 * idle connections cannot lock out a server that speaks. */
static void make_room(struct xmppd_server *s)
{
	while (s->nsetup >= s->lim.conn_max && s->setup_head) {
		struct conn *old = s->setup_head;
		setup_remove(old);
		if (old->st == S_HEADER && !old->ssl)
			finish_with(old, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		else
			conn_close(old);
	}
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct listener *l = ls->data;
	struct xmppd_server *s = l->s;
	struct conn *c;

	if (status < 0 || s->closing)
		return;
	make_room(s);
	if (!(c = calloc(1, sizeof(*c))))
		return;
	c->s = s;
	if (uv_tcp_init(s->loop, &c->tcp) != 0) {
		free(c);
		return;
	}
	c->tcp.data = c;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	c->next = s->all;
	if (s->all)
		s->all->prev = c;
	s->all = c;
	s->open++;
	/* on the setup list, newest last */
	c->in_setup = true;
	c->sprev = s->setup_tail;
	if (s->setup_tail)
		s->setup_tail->snext = c;
	else
		s->setup_head = c;
	s->setup_tail = c;
	s->nsetup++;

	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	addr_of(c);
	c->accepted_at = uv_now(s->loop);
	c->direct_tls = l->direct_tls;
	c->st = S_HEADER;
	if (xmppd_reader_new(s->lim.header_max, &c->rd) != 0) {
		conn_close(c);
		return;
	}
	if (l->direct_tls && s->mode == XMPPD_RELAY) {
		c->st = S_PEEK;
		if (xmppd__peek_new(&c->peek) != 0) {
			conn_close(c);
			return;
		}
	} else if (l->direct_tls) {
		c->st = S_HANDSHAKE;
		if (!(c->ssl = xmppd__tls_accept(s->tls))) {
			conn_close(c);
			return;
		}
	}
	uv_timer_start(&c->timer, on_timer, s->lim.first_byte_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c);
}

/* ---- the server's life ---- */

int xmppd_server_init(uv_loop_t *loop, pdb_t *db, xmppd_tls *tls, enum xmppd_mode mode,
                      const struct xmppd_limits *lim, xmppd_server **out)
{
	struct xmppd_server *s;

	if (!loop || !db || !out || mode > XMPPD_RELAY)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if (xmppd__owners_new(&s->owners) != 0) {
		free(s);
		return -ENOMEM;
	}
	s->loop = loop;
	s->db = db;
	s->tls = tls;
	s->mode = mode;
	if (lim)
		s->lim = *lim;
	else
		xmppd_limits_default(&s->lim);
	if (!s->lim.header_max || !s->lim.first_byte_ms || !s->lim.setup_ms || !s->lim.conn_max ||
	    !s->lim.connect_ms) {
		xmppd__owners_free(s->owners);
		free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct xmppd_server *s = l->s;

	free(l);
	s->open--;
	server_maybe_done(s);
}

int xmppd_server_listen(xmppd_server *s, const char *addr, bool direct_tls)
{
	struct sockaddr_storage ss;
	struct listener *l;
	int rc;

	if (!s || !addr || s->closing || s->nls >= 64)
		return -EINVAL;
	if (direct_tls && s->mode == XMPPD_REDIRECT && !s->tls)
		return -EINVAL;
	if (cfg_addr_parse(addr, &ss) != 0)
		return XMPPD_EADDR;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->s = s;
	l->direct_tls = direct_tls;
	if ((rc = uv_tcp_init(s->loop, &l->tcp)) != 0) {
		free(l);
		return rc;
	}
	l->tcp.data = l;
	s->open++;
	s->ls[s->nls++] = l;
	if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection)) != 0)
		return rc;   /* closed with the server */
	return 0;
}

void xmppd_server_close(xmppd_server *s, void (*cb)(void *arg), void *arg)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	s->open++;   /* held while closing starts, so nothing frees s under us */

	for (unsigned i = 0; i < s->nls; i++)
		uv_close((uv_handle_t *)&s->ls[i]->tcp, on_listener_closed);
	for (struct conn *c = s->all, *next; c; c = next) {
		next = c->next;
		if (c->gai_pending)
			uv_cancel((uv_req_t *)&c->gai);
		conn_close(c);
	}
	s->open--;
	server_maybe_done(s);
}
