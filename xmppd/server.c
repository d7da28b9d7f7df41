/* The server: listeners and connections on one libuv loop.
 *
 * A connection is set up (read the header, maybe STARTTLS or direct TLS,
 * decide), then either answered and closed, or, in relay mode, joined to
 * a connection to the real server and spliced.  Connections being set up
 * are on a list in accept order: they are the ones the time limits and
 * the connection cap apply to, and at the cap the oldest is cut.  This
 * file holds their life: accepting, limits, writing, closing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "sockaddr.h"
#include "conn.h"

void xmppd_limits_default(struct xmppd_limits *l)
{
	l->header_max = 8192;
	l->first_byte_ms = 5000;
	l->setup_ms = 10000;
	l->conn_max = 4096;
	l->connect_ms = 5000;
	l->relay_idle_ms = 300000;
}

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

void xmppd__setup_remove(struct conn *c)
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

void xmppd__conn_free_if_done(struct conn *c)
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

void xmppd__handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	c->handles--;
	xmppd__conn_free_if_done(c);
}

void xmppd__conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	xmppd__setup_remove(c);
	/* uv_close() closes a socket's descriptor at once: the room is free now. */
	c->s->nfds -= c->fds;
	c->fds = 0;
	uv_close((uv_handle_t *)&c->tcp, xmppd__handle_closed);
	uv_close((uv_handle_t *)&c->timer, xmppd__handle_closed);
	if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
		uv_close((uv_handle_t *)&c->out, xmppd__handle_closed);
}

/* ---- writing: each write owns a copy of its bytes ---- */

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	uv_tcp_t *to = w->to;

	free(w);
	c->handles--;
	if (status < 0 && !c->closing && c->st == S_SPLICE)
		xmppd__conn_close(c);
	else if (!c->closing && c->st == S_SPLICE)
		xmppd__splice_drained(c, to);
	xmppd__conn_free_if_done(c);
}

void xmppd__send_raw(struct conn *c, uv_tcp_t *to, const void *p, size_t n)
{
	struct wreq *w;

	if (n == 0 || c->closing)
		return;
	if (!(w = malloc(sizeof(*w) + n))) {
		xmppd__conn_close(c);
		return;
	}
	w->c = c;
	w->to = to;
	memcpy(w->data, p, n);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_written) != 0) {
		free(w);
		xmppd__conn_close(c);
		return;
	}
	c->handles++;
}

/* ---- time limits ---- */

void xmppd__on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->st) {
	case S_CONNECTING:
		xmppd__relay_timeout(c);
		break;
	case S_SPLICE:
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay closed: %s\n", c->peer,
		        c->v.from[0] ? c->v.from : "-", c->v.to, c->grace ? "one side has gone"
		                                                      : "idle");
		xmppd__conn_close(c);
		break;
	case S_HEADER:
	case S_STARTTLS:
		if (!c->ssl || c->tls_up) {
			xmppd__finish_with(c, XMPPD_COND_CONNECTION_TIMEOUT,
			            c->got_byte ? "no complete stream header in time"
			                        : "nothing received in time");
			break;
		}
		/* fall through */
	default:
		xmppd__conn_close(c);
	}
}

/* ---- accepting ---- */

static void addr_of(struct conn *c)
{
	struct sockaddr_storage ss;
	struct ch_addr a;
	int len = sizeof(ss);

	strcpy(c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	cfg_sockaddr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	if (ch_sockaddr_addr((struct sockaddr *)&ss, &a) == 0) {
		c->family = a.family;
		memcpy(c->addr, a.addr, sizeof(c->addr));
	}
}

/* conn-max counts descriptors, since they are what runs out: one per
 * connection, two for a relay.  At the cap the connection set up longest
 * ago gives way, at once (waiting for its FIN would keep the descriptor
 * the cap is about), so a flood of idle connections cannot lock out a
 * server that speaks.  Relays are not cut: they carry allowed federation,
 * and cutting them would let anyone who connects break it. */
bool xmppd__make_room(struct xmppd_server *s, unsigned need, const struct conn *self)
{
	while (s->nfds + need > s->lim.conn_max) {
		struct conn *old = s->setup_head;
		if (old && old == self)
			old = old->snext;
		if (!old)
			return false;
		if (old->st == S_HEADER && !old->ssl)
			xmppd__refuse_now(old, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		else
			xmppd__conn_close(old);
	}
	return true;
}

static void drop_pending(struct listener *l);

static void on_drop_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct xmppd_server *s = l->s;

	l->drop_busy = false;
	if (--l->handles == 0) {
		free(l);
		s->open--;
		server_maybe_done(s);
		return;
	}
	if (l->drop_again && !s->closing) {
		l->drop_again = false;
		drop_pending(l);
	}
}

/* Take the connection libuv holds for us off the listener and close it.
 * libuv stops watching a listener until its pending connection is
 * accepted, so one we cannot serve (no memory) must still be accepted, or
 * the listener would take nothing ever again.  A connection arriving while
 * the spare handle is closing waits in libuv until it is free. */
static void drop_pending(struct listener *l)
{
	if (l->drop_busy) {
		l->drop_again = true;
		return;
	}
	/* With no address family, uv_tcp_init() makes no socket: it cannot fail. */
	uv_tcp_init(l->s->loop, &l->drop);
	l->drop.data = l;
	l->drop_busy = true;
	l->handles++;
	uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&l->drop);
	uv_close((uv_handle_t *)&l->drop, on_drop_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct listener *l = ls->data;
	struct xmppd_server *s = l->s;
	struct conn *c;

	if (status < 0 || s->closing)
		return;
	bool room = xmppd__make_room(s, 1, NULL);
	if (!(c = calloc(1, sizeof(*c)))) {
		fprintf(stderr, "xmppd: a connection dropped: %s\n", strerror(ENOMEM));
		drop_pending(l);
		return;
	}
	c->s = s;
	if (uv_tcp_init(s->loop, &c->tcp) != 0) {
		free(c);
		drop_pending(l);
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
		xmppd__conn_close(c);
		return;
	}
	c->fds = 1;
	s->nfds++;
	addr_of(c);
	c->accepted_at = uv_now(s->loop);
	c->direct_tls = l->direct_tls;
	c->st = S_HEADER;
	if (xmppd_reader_new(s->lim.header_max, &c->rd) != 0) {
		xmppd__conn_close(c);
		return;
	}
	if (l->direct_tls && s->mode == XMPPD_RELAY) {
		c->st = S_PEEK;
		if (xmppd__peek_new(&c->peek) != 0) {
			xmppd__conn_close(c);
			return;
		}
	} else if (l->direct_tls) {
		c->st = S_HANDSHAKE;
		if (!(c->ssl = xmppd__tls_accept(s->tls))) {
			xmppd__conn_close(c);
			return;
		}
	}
	if (!room) {
		xmppd__refuse_now(c, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		return;
	}
	uv_timer_start(&c->timer, xmppd__on_timer, s->lim.first_byte_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, xmppd__on_alloc, xmppd__on_read) != 0)
		xmppd__conn_close(c);
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
	    !s->lim.connect_ms || !s->lim.relay_idle_ms) {
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

	if (--l->handles)
		return;   /* the spare handle is still closing; it frees l */
	free(l);
	s->open--;
	server_maybe_done(s);
}

int xmppd_server_listen(xmppd_server *s, const char *addr, bool direct_tls)
{
	struct sockaddr_storage ss;
	struct listener *l;
	int rc;

	if (!s || !addr || s->closing || s->nls >= XMPPD_LISTEN_MAX)
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
	l->handles = 1;
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
		xmppd__conn_close(c);
	}
	s->open--;
	server_maybe_done(s);
}

