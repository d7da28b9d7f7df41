/* A connection's state, shared by the parts of the server: server.c
 * (accepting, limits, closing), stream.c (reading the peer's stream up to
 * the decision, answering it) and relay.c (connecting to the real server,
 * splicing). */
#ifndef XMPPD_CONN_H
#define XMPPD_CONN_H

#include <netdb.h>

#include "internal.h"

#define LINGER_MS 2000           /* after our answer, wait this long for the peer's FIN */
#define SPLICE_HIGH (256 * 1024) /* stop reading when the other side queues this much */
#define SPLICE_LOW (64 * 1024)
#define PEEK_MAX 16384           /* a ClientHello larger than this is refused */
#define READ_SIZE 16384
#define XMPPD_LISTEN_MAX 128     /* --listen and --tls-listen, 64 of each */
#define SPLICE_GRACE_MS 5000     /* a splice with one side gone: the other gets this long */
#define KEEPALIVE_S 60           /* TCP keepalive on both legs of a relay, after this idle */

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
	uv_tcp_t drop;                       /* takes a connection we cannot serve, to close it */
	bool drop_busy, drop_again;
	unsigned handles;                    /* tcp, and drop while it is closing */
};

struct conn {
	struct xmppd_server *s;
	struct conn *prev, *next;            /* all connections */
	struct conn *sprev, *snext;          /* connections being set up */
	bool in_setup, closing;
	unsigned handles;                    /* open libuv handles and requests */
	unsigned fds;                        /* descriptors counted in s->nfds */
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
	bool out_open, out_connected, in_eof, out_eof, in_paused, out_paused, grace;
	int relay_err;                       /* the last failure, a libuv error, or 0 */
	const char *relay_what;              /* what failed with it */
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
	struct listener *ls[XMPPD_LISTEN_MAX];
	unsigned nls;
	struct conn *all;
	struct conn *setup_head, *setup_tail;
	unsigned nsetup;
	unsigned nfds;                       /* descriptors held by connections */
	xmppd__owners *owners;
	bool closing;
	unsigned open;                       /* listeners and connections not yet freed */
	void (*close_cb)(void *);
	void *close_arg;
	char rbuf[READ_SIZE];
};

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	struct conn *c;
	uv_tcp_t *to;
	char data[];
};

/* server.c */
void xmppd__setup_remove(struct conn *c);
void xmppd__conn_free_if_done(struct conn *c);
void xmppd__handle_closed(uv_handle_t *h);     /* a close callback: one handle less */
void xmppd__conn_close(struct conn *c);          /* everything, now */
void xmppd__send_raw(struct conn *c, uv_tcp_t *to, const void *p, size_t n);
void xmppd__on_timer(uv_timer_t *t);
/* Room for need more descriptors under conn-max, cutting connections being
 * set up (oldest first, never self) if it must.  Returns false if the
 * rest are relays, which are never cut for a newcomer. */
bool xmppd__make_room(struct xmppd_server *s, unsigned need, const struct conn *self);

/* stream.c */
void xmppd__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
void xmppd__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
/* Send v as a stream error (after our header, if not sent yet), end the
 * stream and close. */
void xmppd__conn_finish(struct conn *c, const struct xmppd_verdict *v);
void xmppd__finish_with(struct conn *c, enum xmppd_cond cond, const char *why);
/* The same, but without waiting: the answer goes out if the socket takes
 * it at once, and the descriptor is closed now. */
void xmppd__refuse_now(struct conn *c, enum xmppd_cond cond, const char *why);

/* relay.c */
void xmppd__relay_start(struct conn *c);
void xmppd__relay_timeout(struct conn *c);
void xmppd__splice_read(struct conn *c, uv_stream_t *from, ssize_t nread, const uv_buf_t *buf);
void xmppd__splice_drained(struct conn *c, uv_tcp_t *to);
/* Is sa (a target) one of the addresses this server listens on? */
bool xmppd__is_ours(struct xmppd_server *s, const struct sockaddr *sa);

#endif
