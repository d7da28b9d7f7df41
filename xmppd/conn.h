/* A connection and the parts of the server that work on it.
 *
 *   server.c  the owner: accepting, limits, the timer, the state of every
 *             connection and each change of it (conn_step, one switch);
 *   stream.c  the stream part: the peer's stream up to the decision, and
 *             the answer; it returns what it found (enum xmppd__step) and
 *             leaves the state to the owner;
 *   relay.c   the relay part: connecting to the real server and splicing,
 *             with read callbacks of its own that own their buffers; it
 *             tells the owner what happened through the callback it was
 *             started with;
 *   conn.c    what all of them need: writing, closing, freeing.
 *
 * The owner calls the two parts and conn.c, the parts call conn.c, and
 * conn.c calls none of them: the parts never call each other or the
 * owner.  Each field below says which part writes it. */
#ifndef XMPPD_CONN_H
#define XMPPD_CONN_H

#include <netdb.h>

#include "closedown.h"
#include "internal.h"
#include "stats.h"

#define LINGER_MS 2000           /* after our answer, wait this long for the peer's FIN */
#define SPLICE_HIGH (256 * 1024) /* stop reading when the other side queues this much */
#define SPLICE_LOW (64 * 1024)
#define PEEK_MAX 16384           /* a ClientHello larger than this is refused */
#define READ_SIZE 16384
#define XMPPD_LISTEN_MAX 128     /* --listen and --tls-listen, 64 of each */
#define SPLICE_GRACE_MS 5000     /* a splice with one side gone: the other gets this long */
#define KEEPALIVE_S 60           /* TCP keepalive on both legs of a relay, after this idle */

/* The connection's state: the owner's (server.c has the table). */
enum state {
	S_STREAM,      /* the stream part reads, up to the decision */
	S_CONNECTING,  /* relay: resolving and connecting to the target */
	S_SPLICE,      /* relay: bytes flow both ways */
	S_CLOSING,     /* answered; waiting for the peer to go */
};

/* Where the stream part is, in S_STREAM: the stream part's. */
enum phase {
	P_PEEK,        /* direct TLS, relay mode: reading the ClientHello */
	P_HANDSHAKE,   /* TLS handshake (direct, or after <proceed/>) */
	P_HEADER,      /* reading the stream header */
	P_STARTTLS,    /* features sent, waiting for <starttls/> */
};

/* What a part found, for the owner to act on (conn_step in server.c). */
enum xmppd__step {
	XMPPD__WAIT,         /* stream: nothing to do until more comes in */
	XMPPD__ANSWER,       /* stream: answer with c->v (an error, or a redirect) */
	XMPPD__RELAY,        /* stream: c->v says relay */
	XMPPD__CLOSE,        /* stream: close without a word */
	XMPPD__RELAY_WAIT,   /* relay: a lookup or a connection attempt has begun */
	XMPPD__RELAY_UP,     /* relay: connected; the splice begins */
	XMPPD__RELAY_MOVED,  /* relay: bytes went through */
	XMPPD__RELAY_HALF,   /* relay: one side has ended its sending */
	XMPPD__RELAY_FAILED, /* relay: no target reached; c->v says why */
	XMPPD__TIMER,        /* the connection's timer has fired */
};

struct listener {
	uv_tcp_t tcp;
	struct xmppd_server *s;
	bool direct_tls;
	uv_tcp_t drop;                       /* takes a connection we cannot serve, to close it */
	bool drop_busy, drop_again;
	unsigned handles;                    /* tcp, and drop while it is closing */
};

struct conn;
typedef void xmppd__relay_cb(struct conn *c, enum xmppd__step step);

struct conn {
	/* conn.c (and the owner at accept) */
	struct xmppd_server *s;
	struct conn *prev, *next;            /* all connections */
	struct conn *sprev, *snext;          /* connections being set up */
	bool in_setup, closing;
	unsigned handles;                    /* open libuv handles and requests */
	unsigned fds;                        /* descriptors counted in s->nfds */
	uv_tcp_t tcp;
	uv_timer_t timer;
	/* the owner */
	enum state st;
	bool got_byte, grace;
	uint64_t accepted_at;
	char peer[64];
	int family;
	uint8_t addr[16];
	/* the verdict: the stream part's at the decision; the relay part's
	 * when the relay fails */
	struct xmppd_verdict v;
	/* the stream part */
	enum phase phase;
	bool direct_tls, header_sent;
	xmppd_reader *rd;
	SSL *ssl;
	bool tls_up;
	xmppd__peek *peek;
	char *raw;                           /* relay mode: everything read, to replay; */
	size_t rawlen;                       /* the relay part takes it at the splice */
	/* the relay part */
	xmppd__relay_cb *relay_cb;
	uv_tcp_t out;
	bool out_open, out_connected, in_eof, out_eof, in_paused, out_paused;
	int relay_err;                       /* the last failure, a libuv error, or 0 */
	const char *relay_what;              /* what failed with it */
	uv_connect_t creq;
	uv_getaddrinfo_t gai;
	bool gai_pending;
	struct addrinfo *ai, *ai_next;
	unsigned target;
	/* the relay part: what the splice has carried, for a cut (server.c
	 * decides to cut; xmppd__relay_cut() stops the splice) */
	bool cut;                            /* stopped: the policy no longer allows */
	bool tls_seen;                       /* a TLS record went through: no plain text now */
	bool back_seen;                      /* the real server has sent bytes to the peer */
	bool back_mid;                       /* and its last did not end an element */
	/* the owner: answered, waiting for the peer's FIN (counted in s->nlinger) */
	bool lingering;
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
	pdb_txn *txn;                        /* the decisions' snapshot, reset between them */
	struct ch_closedown cd;              /* listeners and connections not yet freed */
	struct xmppd_stats stats;            /* for /metrics */
	char rbuf[READ_SIZE];
	/* Live relays against the store (server.c): a timer while there are
	 * any, the store version they were last decided at, and the earliest
	 * not-after among their members (0: none). */
	uv_timer_t watch;
	uint64_t watch_version;
	int64_t watch_expiry;
	/* Descriptors the process may still open for connections (0: no
	 * limit known), and those held by answered connections that linger
	 * for the peer's FIN, which conn-max does not count but the kernel
	 * does. */
	unsigned fd_cap;
	unsigned nlinger;
};

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	struct conn *c;
	uv_tcp_t *to;
	char data[];
};

/* ---- conn.c ---- */

/* One thing of s (a listener, a connection) less open; the last one after
 * xmppd_server_close() frees s and calls its close callback. */
void xmppd__server_release(struct xmppd_server *s);
void xmppd__setup_remove(struct conn *c);
/* With no handle or request left open, unlink and free c, and everything
 * it holds, then release it from the server. */
void xmppd__conn_free_if_done(struct conn *c);
void xmppd__handle_closed(uv_handle_t *h);     /* a close callback: one handle less */
void xmppd__conn_close(struct conn *c);          /* everything, now */
/* Write p to the peer (to: &c->tcp): what the socket takes at once, and a
 * copy of the rest queued behind; no memory closes c. */
void xmppd__send_raw(struct conn *c, uv_tcp_t *to, const void *p, size_t n);

/* ---- stream.c ---- */

/* Set c up for its listener: direct TLS or not.  Returns 0 or -ENOMEM. */
int xmppd__stream_init(struct conn *c, bool direct_tls);
/* xmppd_decide_in() on the server's snapshot, renewed for the call.  On a
 * store error v holds internal-server-error and the error is returned. */
int xmppd__decide(struct xmppd_server *s, const struct xmppd_header *h,
                  const struct xmppd_peer *peer, enum xmppd_mode mode, struct xmppd_verdict *v);
/* n bytes (n > 0) from the peer, in S_STREAM. */
enum xmppd__step xmppd__stream_read(struct conn *c, const char *p, size_t n);
/* Has XMPP been spoken, so that a timeout can be said as a stream error? */
bool xmppd__stream_speaks(const struct conn *c);
/* A plain connection that has sent no complete header yet. */
bool xmppd__stream_plain(const struct conn *c);
/* Make c->v the stream error cond (why: its text), and log it. */
void xmppd__stream_error(struct conn *c, enum xmppd_cond cond, const char *why);
/* Send c->v as a stream error (after our header, if not sent yet) and end
 * the stream.  Returns false, having sent nothing, when no XMPP has been
 * spoken yet on c (a ClientHello peeked, a TLS handshake unfinished). */
bool xmppd__stream_answer(struct conn *c);
/* The same in a plain stream, without waiting: the answer goes out if the
 * socket takes it at once. */
void xmppd__stream_answer_now(struct conn *c);

/* ---- relay.c ---- */

/* Resolve c->v's targets in order, connect, and splice; cb hears of each
 * step (XMPPD__RELAY_*). */
void xmppd__relay_start(struct conn *c, xmppd__relay_cb *cb);
/* The connect timer fired: give up this attempt, go on to the next. */
void xmppd__relay_timeout(struct conn *c);
/* The server closes: a lookup in progress is cancelled. */
void xmppd__relay_cancel(struct conn *c);
/* Stop a relay whose pair the policy no longer allows: both legs stop
 * reading and the real server's leg closes; the peer's stays for the owner
 * to answer on or close.  Returns true if a stream error can still be
 * written to the peer in plain text (no TLS has gone through, the real
 * server's last bytes ended an element, and the peer's leg is not shut);
 * *header_seen: the real server has sent its stream header already. */
bool xmppd__relay_cut(struct conn *c, bool *header_seen);
/* Is sa (a target) one of the addresses this server listens on? */
bool xmppd__is_ours(struct xmppd_server *s, const struct sockaddr *sa);

#endif
