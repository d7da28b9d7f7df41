/* What every part of a connection needs, and nothing above it: writes
 * that own their bytes, closing all of a connection at once, and freeing
 * it, then the server, once the last handle is gone. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"

void xmppd__server_release(struct xmppd_server *s)
{
	if (!ch_closedown_release(&s->cd))
		return;
	xmppd__owners_free(s->owners);
	pdb_read_end(s->txn);
	void (*cb)(void *) = s->cd.cb;
	void *arg = s->cd.arg;
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
	xmppd__server_release(s);
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
	if (c->st == S_SPLICE)
		ch_counter_add(&c->s->stats.relays_closed, 1);
	xmppd__setup_remove(c);
	if (c->lingering) {
		c->lingering = false;
		c->s->nlinger--;
	}
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

	(void)status;   /* a failed write changes nothing: the end shows in a read or the timer */
	free(w);
	c->handles--;
	xmppd__conn_free_if_done(c);
}

void xmppd__send_raw(struct conn *c, uv_tcp_t *to, const void *p, size_t n)
{
	struct wreq *w;
	int done;

	if (n == 0 || c->closing)
		return;
	/* What the socket takes now needs no copy, no request and no
	 * callback: an answer mostly goes whole.  libuv refuses this while
	 * earlier bytes are queued, so the order holds. */
	uv_buf_t now = uv_buf_init((char *)p, (unsigned)n);
	if ((done = uv_try_write((uv_stream_t *)to, &now, 1)) > 0) {
		p = (const char *)p + done;
		n -= (size_t)done;
		if (n == 0)
			return;
	}
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
