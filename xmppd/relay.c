/* Relay mode after an allow: resolve the member's targets in order,
 * connect (each address in turn, each within connect-ms), replay what
 * the peer sent, then splice the two connections with back-pressure and
 * half-closes passed on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

static void relay_next(struct conn *c);
static void on_out_closed(uv_handle_t *h);

/* ---- relay ---- */

static void relay_fail(struct conn *c)
{
	fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay failed: no target reachable\n", c->peer,
	        c->v.from, c->v.to);
	c->v.relay = false;
	c->v.cond = XMPPD_COND_REMOTE_CONNECTION_FAILED;
	snprintf(c->v.text, sizeof(c->v.text), "%s cannot be reached", c->v.to);
	xmppd__conn_finish(c, &c->v);
}

static void splice_start(struct conn *c)
{
	uv_timer_stop(&c->timer);
	xmppd__setup_remove(c);
	c->st = S_SPLICE;
	/* The peer's bytes so far (its stream header, or its ClientHello) go
	 * first, so the real server sees the stream from its start. */
	xmppd__send_raw(c, &c->out, c->raw, c->rawlen);
	free(c->raw);
	c->raw = NULL;
	c->rawlen = 0;
	c->out.data = c;
	/* Stanzas go through as they come; the answer path writes once. */
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_nodelay(&c->out, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, xmppd__on_alloc, xmppd__on_read) != 0 ||
	    uv_read_start((uv_stream_t *)&c->out, xmppd__on_alloc, xmppd__on_read) != 0)
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
	xmppd__conn_free_if_done(c);
}

/* Is a the address the peer reached us on?  A target that points back at
 * the clearinghouse would have xmppd relay to itself without end. */
static bool is_ourselves(struct conn *c, const struct sockaddr *a)
{
	struct sockaddr_storage self;
	int len = sizeof(self);

	if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&self, &len) != 0 ||
	    self.ss_family != a->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&self, *y = (const void *)a;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)&self, *y = (const void *)a;
	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static void try_address(struct conn *c)
{
	while (c->ai_next) {
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		if (is_ourselves(c, a->ai_addr)) {
			fprintf(stderr, "xmppd: peer=%s to=%s: a target of %s is this clearinghouse; "
			        "skipped\n", c->peer, c->v.to, c->v.to);
			continue;
		}
		if (uv_tcp_init(c->s->loop, &c->out) != 0)
			break;
		c->out.data = c;
		c->out_open = true;
		c->handles++;
		c->creq.data = c;
		uv_timer_start(&c->timer, xmppd__on_timer, c->s->lim.connect_ms, 0);
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
		xmppd__conn_free_if_done(c);
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
	uv_timer_start(&c->timer, xmppd__on_timer, c->s->lim.connect_ms, 0);
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

void xmppd__relay_start(struct conn *c)
{
	c->st = S_CONNECTING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->target = 0;
	relay_next(c);
}

/* ---- splicing ---- */

void xmppd__splice_drained(struct conn *c, uv_tcp_t *to)
{
	bool to_out = to == &c->out;
	uv_tcp_t *src = to_out ? &c->tcp : &c->out;
	bool *paused = to_out ? &c->in_paused : &c->out_paused;

	if (*paused && uv_stream_get_write_queue_size((uv_stream_t *)to) < SPLICE_LOW) {
		*paused = false;
		if (uv_read_start((uv_stream_t *)src, xmppd__on_alloc, xmppd__on_read) != 0)
			xmppd__conn_close(c);
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
			xmppd__conn_close(c);
		else
			xmppd__splice_drained(c, to);
	}
	xmppd__conn_free_if_done(c);
}

static void on_splice_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	(void)status;
	free(req);
	c->handles--;
	if (!c->closing && c->in_eof && c->out_eof)
		xmppd__conn_close(c);
	xmppd__conn_free_if_done(c);
}

void xmppd__splice_read(struct conn *c, uv_stream_t *from, ssize_t nread, const uv_buf_t *buf)
{
	bool from_in = from == (uv_stream_t *)&c->tcp;
	uv_tcp_t *to = from_in ? &c->out : &c->tcp;

	if (nread <= 0 || c->closing) {
		free(buf->base);
		if (nread == 0 || c->closing)
			return;
		if (nread != UV_EOF) {
			xmppd__conn_close(c);
			return;
		}
		/* One side is done sending: pass the FIN on, keep the other way. */
		*(from_in ? &c->in_eof : &c->out_eof) = true;
		uv_read_stop(from);
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
	struct wreq *w = malloc(sizeof(*w));
	if (!w) {
		free(buf->base);
		xmppd__conn_close(c);
		return;
	}
	w->c = c;
	w->to = to;
	w->req.data = buf->base;
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
	if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_splice_written) != 0) {
		free(buf->base);
		free(w);
		xmppd__conn_close(c);
		return;
	}
	c->handles++;
	if (uv_stream_get_write_queue_size((uv_stream_t *)to) > SPLICE_HIGH) {
		*(from_in ? &c->in_paused : &c->out_paused) = true;
		uv_read_stop(from);
	}
}

