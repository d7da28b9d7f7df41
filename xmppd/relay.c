/* The relay part of a connection, in relay mode after an allow: resolve
 * the member's targets in order, connect (each address in turn, each
 * within connect-ms), replay what the peer sent, then splice the two
 * connections with back-pressure and half-closes passed on.  What happens
 * is told to the owner through the callback given to xmppd__relay_start();
 * the owner keeps the timer and the state. */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sockaddr.h"

static void relay_next(struct conn *c);
static void on_out_closed(uv_handle_t *h);
static void on_splice_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_splice_read(uv_stream_t *from, ssize_t nread, const uv_buf_t *buf);
static void on_splice_written(uv_write_t *req, int status);

/* ---- relay ---- */

/* Out of descriptors or memory: every other address would fail the same. */
static bool out_of_resources(int err)
{
	return err == UV_EMFILE || err == UV_ENFILE || err == UV_ENOBUFS || err == UV_ENOMEM;
}

static void relay_fail(struct conn *c)
{
	bool ours = out_of_resources(c->relay_err);

	if (c->relay_err)
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay failed: %s: %s\n", c->peer,
		        c->v.from, c->v.to, c->relay_what, uv_strerror(c->relay_err));
	else
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay failed: no target reachable\n",
		        c->peer, c->v.from, c->v.to);
	c->v.relay = false;
	c->v.cond = ours ? XMPPD_COND_RESOURCE_CONSTRAINT : XMPPD_COND_REMOTE_CONNECTION_FAILED;
	snprintf(c->v.text, sizeof(c->v.text), ours ? "the clearinghouse is out of resources"
	                                            : "%s cannot be reached", c->v.to);
	c->relay_cb(c, XMPPD__RELAY_FAILED);
}

static void relay_error(struct conn *c, const char *what, int err)
{
	c->relay_what = what;
	c->relay_err = err;
}

/* Write n bytes at p to the other side, handing the buffer (malloc()ed)
 * over to the write, which frees it. */
static int splice_write(struct conn *c, uv_tcp_t *to, char *p, size_t n)
{
	struct wreq *w = malloc(sizeof(*w));

	ch_counter_add(&c->s->stats.bytes_relayed, n);
	if (!w) {
		free(p);
		return -ENOMEM;
	}
	w->c = c;
	w->to = to;
	w->req.data = p;
	uv_buf_t b = uv_buf_init(p, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_splice_written) != 0) {
		free(p);
		free(w);
		return -EIO;
	}
	c->handles++;
	return 0;
}

static void splice_start(struct conn *c)
{
	/* The peer's bytes so far (its stream header, or its ClientHello) go
	 * first, so the real server sees the stream from its start. */
	char *raw = c->raw;
	size_t rawlen = c->rawlen;

	c->raw = NULL;
	c->rawlen = 0;
	if (!rawlen)
		free(raw);
	else if (splice_write(c, &c->out, raw, rawlen) != 0) {
		xmppd__conn_close(c);
		return;
	}
	c->out.data = c;
	/* Stanzas go through as they come; the answer path writes once. */
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_nodelay(&c->out, 1);
	/* The kernel then finds a peer that vanished without a FIN on a leg
	 * with nothing in flight, whatever relay-idle-ms is (the other side
	 * may keep the splice busy); with data in flight, TCP's retransmission
	 * timeout ends the leg. */
	uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
	uv_tcp_keepalive(&c->out, 1, KEEPALIVE_S);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_splice_alloc, on_splice_read) != 0 ||
	    uv_read_start((uv_stream_t *)&c->out, on_splice_alloc, on_splice_read) != 0)
		xmppd__conn_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	c->handles--;
	if (c->closing) {
		xmppd__conn_free_if_done(c);
		return;
	}
	if (status == 0) {
		c->out_connected = true;
		c->relay_cb(c, XMPPD__RELAY_UP);
		splice_start(c);
		return;
	}
	/* cancelled: the connect timer closed the handle */
	relay_error(c, "cannot connect", status == UV_ECANCELED ? UV_ETIMEDOUT : status);
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
	xmppd__conn_free_if_done(c);
}

/* ---- where not to connect ---- */

static bool ep_unspecified(const struct ch_addr *e)
{
	static const uint8_t zero[16];
	return !memcmp(e->addr, zero, e->family == 4 ? 4 : 16);
}

/* Addresses that reach this host whatever its interfaces say: the
 * unspecified address, and all of 127.0.0.0/8 (Linux routes the whole
 * block to lo) and ::1. */
static bool ep_always_local(const struct ch_addr *e)
{
	static const uint8_t one6[16] = { [15] = 1 };
	if (ep_unspecified(e))
		return true;
	return e->family == 4 ? e->addr[0] == 127 : !memcmp(e->addr, one6, 16);
}

static bool ep_is_interface_address(const struct ch_addr *t)
{
	struct ifaddrs *ifa, *i;
	struct ch_addr e;
	bool found = false;

	if (getifaddrs(&ifa) != 0)
		return true;   /* cannot tell: better no relay than a loop */
	for (i = ifa; i && !found; i = i->ifa_next)
		found = i->ifa_addr && ch_sockaddr_addr(i->ifa_addr, &e) == 0 && e.family == t->family &&
		        !memcmp(e.addr, t->addr, t->family == 4 ? 4 : 16);
	freeifaddrs(ifa);
	return found;
}

bool xmppd__is_ours(struct xmppd_server *s, const struct sockaddr *sa)
{
	struct ch_addr t, l;
	bool wildcard = false;

	if (ch_sockaddr_addr(sa, &t) != 0)
		return false;
	for (unsigned i = 0; i < s->nls; i++) {
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		if (uv_tcp_getsockname(&s->ls[i]->tcp, (struct sockaddr *)&ss, &len) != 0 ||
		    ch_sockaddr_addr((struct sockaddr *)&ss, &l) != 0 || l.port != t.port)
			continue;
		if (ep_unspecified(&l)) {
			/* [::] takes IPv4 as well, unless IPV6_V6ONLY: assume it does. */
			wildcard |= l.family == t.family || l.family == 6;
			continue;
		}
		if (l.family == t.family && !memcmp(l.addr, t.addr, t.family == 4 ? 4 : 16))
			return true;
		/* 0.0.0.0 or :: as a target is this host too */
		if (ep_unspecified(&t) && (l.family == t.family || l.family == 6))
			return true;
	}
	return wildcard && (ep_always_local(&t) || ep_is_interface_address(&t));
}

static void try_address(struct conn *c)
{
	while (c->ai_next) {
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		int rc;
		if (xmppd__is_ours(c->s, a->ai_addr)) {
			fprintf(stderr, "xmppd: peer=%s to=%s: a target of %s is this clearinghouse; "
			        "skipped\n", c->peer, c->v.to, c->v.to);
			continue;
		}
		if ((rc = uv_tcp_init(c->s->loop, &c->out)) != 0) {
			relay_error(c, "cannot open a socket", rc);
			break;
		}
		c->out.data = c;
		c->out_open = true;
		c->handles++;
		c->creq.data = c;
		c->relay_cb(c, XMPPD__RELAY_WAIT);
		/* The socket itself is made here, so EMFILE shows here. */
		if ((rc = uv_tcp_connect(&c->creq, &c->out, a->ai_addr, on_connected)) == 0) {
			c->handles++;
			return;
		}
		relay_error(c, out_of_resources(rc) ? "cannot open a socket" : "cannot connect", rc);
		if (out_of_resources(rc)) {
			/* no other address fares better: give up once the handle is closed */
			c->ai_next = NULL;
			c->target = c->v.ntargets;
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
		xmppd__conn_free_if_done(c);
		return;
	}
	if (status != 0) {
		if (status != UV_ECANCELED)
			relay_error(c, "cannot resolve the target", status);
		else
			relay_error(c, "cannot resolve the target in time", UV_ETIMEDOUT);
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
	c->relay_cb(c, XMPPD__RELAY_WAIT);
}

/* This attempt took too long: closing it moves on to the next; a
 * cancelled lookup does the same. */
void xmppd__relay_timeout(struct conn *c)
{
	if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
		uv_close((uv_handle_t *)&c->out, on_out_closed);
	else if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
}

void xmppd__relay_start(struct conn *c, xmppd__relay_cb *cb)
{
	c->relay_cb = cb;
	c->target = 0;
	relay_next(c);
}

void xmppd__relay_cancel(struct conn *c)
{
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
}

/* ---- splicing ---- */

/* A write to "to" is done: read again from the other side if it waited. */
static void splice_drained(struct conn *c, uv_tcp_t *to)
{
	bool to_out = to == &c->out;
	uv_tcp_t *src = to_out ? &c->tcp : &c->out;
	bool *paused = to_out ? &c->in_paused : &c->out_paused;

	if (*paused && uv_stream_get_write_queue_size((uv_stream_t *)to) < SPLICE_LOW) {
		*paused = false;
		if (uv_read_start((uv_stream_t *)src, on_splice_alloc, on_splice_read) != 0)
			xmppd__conn_close(c);
	}
}

static void on_splice_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	uv_tcp_t *to = w->to;

	free(req->data);   /* the buffer, handed over */
	free(w);
	c->handles--;
	/* After a cut, what was on its way to the real server is cancelled
	 * with its leg (no reason to end the peer's), and nothing is read
	 * again. */
	if (!c->closing && !(c->cut && to == &c->out)) {
		if (status < 0)
			xmppd__conn_close(c);
		else if (!c->cut)
			splice_drained(c, to);
	}
	xmppd__conn_free_if_done(c);
}

static void on_splice_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	(void)status;
	free(req);
	c->handles--;
	if (!c->closing && !c->cut && c->in_eof && c->out_eof) {
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay closed: both sides ended\n",
		        c->peer, c->v.from[0] ? c->v.from : "-", c->v.to);
		xmppd__conn_close(c);
	}
	xmppd__conn_free_if_done(c);
}

/* What a cut needs to know of the bytes that went through.  XML has no
 * byte 0x16 (a control character it forbids), and every TLS handshake
 * begins with a record of that type: once one went either way, the
 * stream is TLS end to end.  Whitespace between elements (keepalives)
 * leaves the real server's stream where its last element ended. */
static void note_moved(struct conn *c, bool from_in, const char *p, size_t n)
{
	if (memchr(p, 0x16, n))
		c->tls_seen = true;
	if (from_in)
		return;
	c->back_seen = true;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	if (n > 0)
		c->back_mid = p[n - 1] != '>';
}

bool xmppd__relay_cut(struct conn *c, bool *header_seen)
{
	c->cut = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out)) {
		uv_read_stop((uv_stream_t *)&c->out);
		uv_close((uv_handle_t *)&c->out, xmppd__handle_closed);
	}
	*header_seen = c->back_seen;
	/* out_eof: its FIN was passed on to the peer, who can read no more. */
	return !c->tls_seen && !c->back_mid && !c->out_eof && !c->peek && !c->ssl && !c->direct_tls;
}

/* Each read has a buffer of its own: it is handed to the write that
 * passes it on, which frees it. */
static void on_splice_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	char *p = malloc(READ_SIZE);

	(void)h;
	(void)hint;
	*buf = uv_buf_init(p, p ? READ_SIZE : 0);
}

static void on_splice_read(uv_stream_t *from, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = from->data;
	bool from_in = from == (uv_stream_t *)&c->tcp;
	uv_tcp_t *to = from_in ? &c->out : &c->tcp;

	if (nread <= 0 || c->closing || c->cut) {
		free(buf->base);
		if (nread == 0 || c->closing || c->cut)
			return;
		if (nread != UV_EOF) {
			xmppd__conn_close(c);
			return;
		}
		/* One side is done sending: pass the FIN on, keep the other way
		 * for a short while only (the owner's grace).  A server ends its
		 * stream and expects the other to end too; one that does not
		 * would hold both descriptors as long as it likes (half-closed,
		 * or gone without a FIN). */
		*(from_in ? &c->in_eof : &c->out_eof) = true;
		uv_read_stop(from);
		c->relay_cb(c, XMPPD__RELAY_HALF);
		uv_shutdown_t *req = malloc(sizeof(*req));
		if (!req || uv_shutdown(req, (uv_stream_t *)to, on_splice_shutdown) != 0) {
			free(req);
			xmppd__conn_close(c);
			return;
		}
		req->data = c;
		c->handles++;
		return;
	}
	note_moved(c, from_in, buf->base, (size_t)nread);
	c->relay_cb(c, XMPPD__RELAY_MOVED);
	if (splice_write(c, to, buf->base, (size_t)nread) != 0) {
		xmppd__conn_close(c);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)to) > SPLICE_HIGH) {
		*(from_in ? &c->in_paused : &c->out_paused) = true;
		uv_read_stop(from);
	}
}
