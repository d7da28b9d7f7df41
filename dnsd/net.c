/* The network side: UDP and TCP listeners on one libuv loop.  TCP follows
 * RFC 7766: two-byte length framing, several queries per connection
 * answered in order, an idle timeout, and a cap on connections so that a
 * flood of them cannot starve UDP. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "closedown.h"
#include "sockaddr.h"
#include "internal.h"
#include "rrl.h"

/* Datagrams taken per recvmmsg and answered per sendmmsg. */
#define UDP_BATCH 20
/* Full batches taken in one wake-up before the loop serves the others
 * (TCP, timers): libuv's own UDP reading stops after 32 datagrams. */
#define UDP_TURN 4
/* Room for any datagram: one larger than a DNS message is cut short
 * (MSG_TRUNC) and ignored. */
#define UDP_IN_MAX 65536
/* An answer over UDP never exceeds the EDNS payload we offer. */
#define UDP_ANSWER_MAX 1232

#define TCP_MAX_DEFAULT 256
#define TCP_IDLE_DEFAULT 10000
/* Answers to one read's queries are gathered up to about this much. */
#define TCP_BATCH (2 * (2 + DNSD_MSG_MAX))
/* Knot DNS's tcp-io-timeout: a resolver sends a query in one go. */
#define TCP_IO_DEFAULT 500
/* Enough for a resolver farm behind one address, with pipelining; too few
 * for one address to take tcp-max alone. */
#define TCP_PER_SOURCE_DEFAULT 16
/* A client that does not read its answers is cut off past this backlog. */
#define TCP_WRITE_BACKLOG (256 * 1024)
/* A transfer sends at most this many messages (of about 16 KB) in one
 * turn of the loop: on loopback, or to a fast secondary, every write
 * completes at once, and without a bound the whole zone would go out
 * before the loop serves anyone else. */
#define XFR_TURN 8
/* A transfer renders its next messages only when the socket's queue has
 * fallen below this: back-pressure from a slow secondary. */
#define XFR_QUEUE_LOW (64 * 1024)

/* UDP is read with recvmmsg directly, not through uv_udp_t: libuv sets up
 * its twenty message headers anew for every call, calls back once per
 * datagram, and reads again until EAGAIN, one system call more per
 * wake-up; here the headers are set up once, and a batch short of full
 * means the socket is empty (epoll, level-triggered, says when it is not
 * any more).
 *
 * While the socket is in an epoll set, every datagram that reaches it and
 * every answer sent from it wakes that set (the socket's wait queue holds
 * its entry: two locks taken with interrupts off, per datagram each way),
 * though the loop is not waiting.  So a socket that is never found empty
 * leaves the set: it is read on each turn of the loop from an idle handle
 * (which makes the loop poll the others without waiting) until a read
 * finds it empty, and then polled again.  Only a loaded socket is read
 * that way, and two epoll_ctl calls a stretch of load is all it costs. */
struct listener {
	uv_poll_t udp;            /* the UDP socket's readiness, if udp_fd >= 0 */
	uv_idle_t busy;           /* reads it on each turn instead, while loaded */
	int udp_fd;
	uv_tcp_t tcp;
	dnsd_server *s;
	bool stalled;             /* a connection waits for the reject handle */
	struct listener *next;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	uv_idle_t turn;           /* a transfer goes on in the next turn of the loop */
	dnsd_server *s;
	struct dnsd_client client;
	uint8_t buf[2 + DNSD_MSG_MAX];
	size_t len;
	int closing;              /* handles still to close */
	bool partial;             /* a message is begun: the timer runs tcp_io_ms */
	dnsd_xfr *xfr;            /* a transfer being sent; reading waits */
	struct conn *prev, *next;
};

struct dnsd_server {
	uv_loop_t *loop;
	dnsd_engine *engine;
	struct dnsd_limits lim;
	struct listener *listeners;
	struct conn *conns;
	unsigned nconns;          /* connections not yet freed */
	/* Of those, the ones not closing: what tcp-max counts.  A burst of
	 * connections closed at accept (over the per-source cap) is freed
	 * only at the end of the loop's turn, and must not take the places
	 * of the ones accepted after it in the same turn. */
	unsigned nlive;
	struct ch_closedown cd;   /* handles, counted down on close */
	dnsd_rrl *rrl;            /* NULL: UDP answers are not limited */
	/* A connection with no memory for it is accepted into this handle and
	 * closed at once; one not accepted would stop libuv watching its
	 * listener for good. */
	uv_tcp_t reject;
	bool reject_busy;
	uint8_t *udp_in;             /* UDP_BATCH datagrams of UDP_IN_MAX bytes, for recvmmsg */
	struct mmsghdr in[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	struct dnsd_client clients[UDP_BATCH];   /* of from[] */
	struct dnsd_prepared prep[UDP_BATCH];    /* the datagrams, read before answering */
	/* TCP answers to the queries of one read, framed, written together:
	 * one system call for a pipelined burst instead of one per answer.
	 * Room for one more answer is kept free at all times. */
	uint8_t batch[TCP_BATCH];
	size_t nbatch;
	uint8_t frame[2 + DNSD_MSG_MAX];  /* a transfer's message, framed */
	/* UDP answers of one batch, sent together, each to the address its
	 * query came from (from[], which stays until they are sent) */
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	uint8_t answers[UDP_BATCH][UDP_ANSWER_MAX];
};

int dnsd_server_init(uv_loop_t *loop, dnsd_engine *engine, const struct dnsd_limits *lim,
                     dnsd_server **out)
{
	dnsd_server *s;

	if (!loop || !engine || !out)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if (!(s->udp_in = malloc((size_t)UDP_BATCH * UDP_IN_MAX))) {
		free(s);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		s->in_iov[i] = (struct iovec){ .iov_base = s->udp_in + (size_t)i * UDP_IN_MAX,
		                               .iov_len = UDP_IN_MAX };
		s->in[i].msg_hdr = (struct msghdr){ .msg_name = &s->from[i],
		                                    .msg_namelen = sizeof(s->from[i]),
		                                    .msg_iov = &s->in_iov[i], .msg_iovlen = 1 };
		s->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &s->from[i], .msg_iov = &s->iov[i],
		                                      .msg_iovlen = 1 };
		s->iov[i].iov_base = s->answers[i];
	}
	s->loop = loop;
	s->engine = engine;
	s->lim.tcp_max = lim && lim->tcp_max ? lim->tcp_max : TCP_MAX_DEFAULT;
	s->lim.tcp_idle_ms = lim && lim->tcp_idle_ms ? lim->tcp_idle_ms : TCP_IDLE_DEFAULT;
	s->lim.tcp_io_ms = lim && lim->tcp_io_ms ? lim->tcp_io_ms : TCP_IO_DEFAULT;
	s->lim.tcp_max_per_source =
		lim && lim->tcp_max_per_source ? lim->tcp_max_per_source : TCP_PER_SOURCE_DEFAULT;
	if (lim && lim->rrl_set)
		s->lim.rrl = lim->rrl;
	else
		dnsd_rrl_conf_default(&s->lim.rrl);
	s->lim.rrl_set = true;
	if (s->lim.rrl.rate) {
		int rc = dnsd__rrl_new(&s->lim.rrl, DNSD_RRL_SLOTS, &s->rrl);
		if (rc != 0) {
			free(s->udp_in);
			free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void dnsd_server_rrl_stats(const dnsd_server *s, struct dnsd_rrl_stats *sum)
{
	const struct dnsd_rrl_stats *st;

	if (!s || !sum || !(st = dnsd__rrl_stats(s->rrl)))
		return;
	sum->dropped += __atomic_load_n(&st->dropped, __ATOMIC_RELAXED);
	sum->slipped += __atomic_load_n(&st->slipped, __ATOMIC_RELAXED);
	sum->exempted += __atomic_load_n(&st->exempted, __ATOMIC_RELAXED);
}

static void client_of(const struct sockaddr *sa, bool tcp, struct dnsd_client *c)
{
	struct ch_addr a;

	memset(c, 0, sizeof(*c));
	c->tcp = tcp;
	/* An IPv4 client on a dual-stack socket is an IPv4 client. */
	ch_sockaddr_addr(sa, &a);
	c->family = a.family;
	memcpy(c->addr, a.addr, sizeof(c->addr));
}

/* ---- closing ---- */

/* One handle of the server is closed; the last one frees it. */
static void server__release(dnsd_server *s)
{
	if (!ch_closedown_release(&s->cd))
		return;
	struct listener *l = s->listeners;
	while (l) {
		struct listener *n = l->next;
		/* Its poll and idle handles are closed: the socket may go. */
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		free(l);
		l = n;
	}
	if (s->cd.cb)
		s->cd.cb(s->cd.arg);
	dnsd__rrl_free(s->rrl);
	free(s->udp_in);
	free(s);
}

static void listener__closed(uv_handle_t *h)
{
	server__release(h->data);
}

static void udp__closed(uv_handle_t *h)
{
	server__release(((struct listener *)h->data)->s);
}

static void conn__closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	dnsd_server *s = c->s;

	if (--c->closing > 0)
		return;   /* the connection's other handle is still open */
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
	server__release(s);
}

static void conn__close(struct conn *c)
{
	if (c->closing)
		return;
	/* A secondary gone mid-transfer: its snapshot and buffers go now,
	 * not when the last write is cancelled. */
	dnsd_xfr_free(c->xfr);
	c->xfr = NULL;
	c->s->nlive--;
	ch_gauge_set(&c->s->engine->stats.tcp_open, c->s->nlive);
	c->closing = 3;
	uv_close((uv_handle_t *)&c->tcp, conn__closed);
	uv_close((uv_handle_t *)&c->idle, conn__closed);
	uv_close((uv_handle_t *)&c->turn, conn__closed);
}

void dnsd_server_close(dnsd_server *s, void (*cb)(void *arg), void *arg)
{
	/* Held until every close below is queued. */
	if (!s || ch_closedown_start(&s->cd, cb, arg) != 0)
		return;
	for (struct listener *l = s->listeners; l; l = l->next) {
		if (l->udp_fd >= 0) {
			uv_close((uv_handle_t *)&l->udp, udp__closed);
			uv_close((uv_handle_t *)&l->busy, udp__closed);
		}
		uv_close((uv_handle_t *)&l->tcp, listener__closed);
	}
	for (struct conn *c = s->conns; c; c = c->next)
		conn__close(c);
	server__release(s);
}

/* ---- UDP ---- */

/* Answer datagram i of the batch just read into the outgoing batch at
 * s->msgs[*nout]. */
static void udp__answer(dnsd_server *s, unsigned i, unsigned *nout)
{
	const struct mmsghdr *m = &s->in[i];
	unsigned o = *nout;
	const struct dnsd_client *client = &s->clients[i];
	size_t n = 0;

	/* Cut short: not the whole query, nothing to answer. */
	if (m->msg_hdr.msg_flags & MSG_TRUNC)
		return;
	dnsd__answer_prepared(s->engine, s->in_iov[i].iov_base, m->msg_len, client, &s->prep[i],
	                      s->answers[o], UDP_ANSWER_MAX, &n);
	if (n && s->rrl) {
		switch (dnsd__rrl_check(s->rrl, s->engine, client, s->answers[o], n, uv_now(s->loop))) {
		case DNSD_RRL_PASS:
			break;
		case DNSD_RRL_DROP:
			n = 0;
			break;
		case DNSD_RRL_SLIP:
			n = dnsd__rrl_truncate(s->answers[o], n);
			break;
		}
	}
	if (!n)
		return;
	s->iov[o].iov_len = n;
	s->msgs[o].msg_hdr.msg_name = &s->from[i];
	s->msgs[o].msg_hdr.msg_namelen = m->msg_hdr.msg_namelen;
	*nout = o + 1;
}

/* Who sent each of the n datagrams just read, each query read once, and
 * the memory the cache will read to answer them, asked for before any is
 * answered (see dnsd__prepare). */
static void udp__prepare(dnsd_server *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		client_of((const struct sockaddr *)&s->from[i], false, &s->clients[i]);
		if (s->in[i].msg_hdr.msg_flags & MSG_TRUNC)
			s->prep[i].hash = 0;   /* never answered; nothing to fetch */
		else
			dnsd__prepare(s->engine, s->in_iov[i].iov_base, s->in[i].msg_len,
			              &s->clients[i], &s->prep[i]);
	}
	for (unsigned i = 0; i < n; i++)
		dnsd__prefetch_entry(s->engine, s->prep[i].hash);
}

/* Send the first n answers of the batch, in one system call when all goes
 * well.  sendmmsg stops at an answer the kernel will not send (EINVAL for
 * a forged source port 0, EACCES for a broadcast source, ...) and reports
 * it only on the next call: that one is skipped, never the answers after
 * it.  A full socket buffer drops the rest, as the network would, and
 * clients ask again. */
static void udp__send(dnsd_server *s, int fd, unsigned n)
{
	unsigned sent = 0;

	while (sent < n) {
		int r = sendmmsg(fd, s->msgs + sent, n - sent, MSG_DONTWAIT);
		if (r > 0)
			sent += (unsigned)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			sent++;
		else
			return;
	}
}

/* Take the socket's datagrams a batch at a time, answer them, and send
 * each batch's answers together, for at most UDP_TURN full batches.
 * Returns the datagrams taken (0: the socket was empty, or the first
 * read failed), and sets *full if every batch was full: the socket is
 * likely not empty yet. */
static unsigned udp__take(struct listener *l, bool *full)
{
	dnsd_server *s = l->s;
	unsigned taken = 0;

	*full = false;
	for (unsigned turn = 0; turn < UDP_TURN; turn++) {
		unsigned nout = 0;
		int n = recvmmsg(l->udp_fd, s->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return taken;   /* empty (EAGAIN), or an error of one datagram's */
		taken += (unsigned)n;
		dnsd__batch_begin(s->engine);
		udp__prepare(s, (unsigned)n);
		for (unsigned i = 0; i < (unsigned)n; i++) {
			udp__answer(s, i, &nout);
			/* The kernel wrote the address's length over the room
			 * for it, in the headers it filled and no others. */
			s->in[i].msg_hdr.msg_namelen = sizeof(s->from[i]);
		}
		dnsd__batch_end(s->engine);
		udp__send(s, l->udp_fd, nout);
		if (n < UDP_BATCH)
			return taken;
	}
	*full = true;
	return taken;
}

static void udp__readable(uv_poll_t *h, int status, int events);

/* A loaded socket's turn: read it, and once a read finds it empty, hand
 * it back to epoll. */
static void udp__busy(uv_idle_t *h)
{
	struct listener *l = h->data;
	bool full;

	if (udp__take(l, &full) == 0 && uv_poll_start(&l->udp, UV_READABLE, udp__readable) == 0)
		uv_idle_stop(h);
}

/* The socket is readable: take its datagrams, and if it is still not
 * empty after a full turn, read it from the idle handle from now on. */
static void udp__readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	bool full;

	if (status < 0) {
		/* libuv stops a poll handle whose socket reports an error
		 * (POLLERR); uv_udp_t read on regardless.  None is expected on
		 * an unconnected socket without IP_RECVERR, but if one comes it
		 * is taken (which clears it) and the socket read as ever. */
		int err;
		socklen_t elen = sizeof(err);
		(void)getsockopt(l->udp_fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (uv_poll_start(h, UV_READABLE, udp__readable) != 0)
			return;
	} else if (!(events & UV_READABLE)) {
		return;
	}
	udp__take(l, &full);
	if (full && uv_idle_start(&l->busy, udp__busy) == 0)
		uv_poll_stop(h);
}

/* ---- TCP ---- */

struct write_req {
	uv_write_t req;
	struct conn *c;
	uint8_t data[];
};

static void tcp__pump(struct conn *c);

/* Write callbacks run before the connection's close callback, cancelled
 * ones too, so c is still there.  Only writes that were queued have one:
 * a transfer goes on from them. */
static void tcp__written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;

	free(w);
	if (status < 0) {
		/* The peer is gone (a reset, a broken pipe): free its place
		 * now, not at the idle timeout; it counts against the caps. */
		conn__close(c);
		return;
	}
	if (c->xfr && !c->closing) {
		/* The secondary reads: it is not idle. */
		uv_timer_again(&c->idle);
		tcp__pump(c);
	}
}

static void tcp__idle(uv_timer_t *t)
{
	conn__close(t->data);
}

/* An idle handle runs once a turn, before the poll: a transfer goes on
 * there, and the poll that follows serves the others. */
static void tcp__turn(uv_idle_t *h)
{
	struct conn *c = h->data;

	uv_idle_stop(h);
	if (c->xfr && !c->closing)
		tcp__pump(c);
}

static void tcp__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

/* Write n bytes at p on c: as much as the socket takes at once, the rest
 * copied and queued (in order: libuv writes nothing at once while
 * anything is queued). */
static int tcp__write(struct conn *c, const uint8_t *p, size_t n)
{
	uv_stream_t *st = (uv_stream_t *)&c->tcp;
	struct write_req *w;
	int done;

	if (uv_stream_get_write_queue_size(st) > TCP_WRITE_BACKLOG)
		return -ENOBUFS;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	done = uv_try_write(st, &b, 1);
	if (done == (int)n)
		return 0;
	if (done < 0 && done != UV_EAGAIN)
		return done;
	if (done < 0)
		done = 0;
	if (!(w = malloc(sizeof(*w) + n - (size_t)done)))
		return -ENOMEM;
	w->c = c;
	memcpy(w->data, p + done, n - (size_t)done);
	b = uv_buf_init((char *)w->data, (unsigned)(n - (size_t)done));
	int rc = uv_write(&w->req, st, &b, 1, tcp__written);
	if (rc)
		free(w);
	return rc;
}

/* Write the answers gathered in the batch. */
static int tcp__flush(struct conn *c)
{
	dnsd_server *s = c->s;
	size_t n = s->nbatch;

	s->nbatch = 0;
	return n ? tcp__write(c, s->batch, n) : 0;
}

/* Answer msg into the batch, framed; a transfer is started instead (and
 * the caller stops reading). */
static int tcp__answer(struct conn *c, const uint8_t *msg, size_t len)
{
	dnsd_server *s = c->s;
	size_t n = 0;
	int rc;

	if ((rc = dnsd_xfr_begin(s->engine, msg, len, &c->client, &c->xfr)) != 0)
		return rc;
	if (c->xfr)
		return 0;
	if (sizeof(s->batch) - s->nbatch < 2 + DNSD_MSG_MAX && (rc = tcp__flush(c)) != 0)
		return rc;
	uint8_t *at = s->batch + s->nbatch;
	dnsd_answer(s->engine, msg, len, &c->client, at + 2, DNSD_MSG_MAX, &n);
	if (n) {
		at[0] = (uint8_t)(n >> 8);
		at[1] = (uint8_t)n;
		s->nbatch += 2 + n;
	}
	return 0;
}

static void tcp__read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

/* Which timeout the connection is under.  While a message is begun and
 * read (no transfer being sent), it must be whole within tcp_io_ms of its
 * first byte, however the bytes trickle in; otherwise the idle timeout
 * runs.  The deadline moves only when a message begins, so that bytes
 * of the same message never push it back. */
static void tcp__time(struct conn *c, bool answered)
{
	dnsd_server *s = c->s;
	bool partial = c->len > 0 && !c->xfr;

	/* After whole messages, what is left begins the next one. */
	if (partial == c->partial && !(partial && answered))
		return;
	c->partial = partial;
	if (partial)
		uv_timer_start(&c->idle, tcp__idle, s->lim.tcp_io_ms, 0);
	else
		uv_timer_start(&c->idle, tcp__idle, s->lim.tcp_idle_ms, s->lim.tcp_idle_ms);
}

/* Answer every whole message in the buffer, in order (pipelining), up to
 * a transfer: the queries after it wait until it is sent. */
static void tcp__process(struct conn *c)
{
	size_t off = 0;

	while (!c->xfr && c->len - off >= 2) {
		size_t mlen = (size_t)c->buf[off] << 8 | c->buf[off + 1];
		if (c->len - off - 2 < mlen)
			break;
		if (tcp__answer(c, c->buf + off + 2, mlen) != 0) {
			c->s->nbatch = 0;
			conn__close(c);
			return;
		}
		off += 2 + mlen;
	}
	/* Before a transfer's first message, as they were asked. */
	if (tcp__flush(c) != 0) {
		conn__close(c);
		return;
	}
	if (off) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
		/* Idle means no whole query: a client trickling bytes of one
		 * message never resets the timer. */
		uv_timer_again(&c->idle);
	}
	tcp__time(c, off > 0);
	if (c->xfr) {
		/* No reading while it lasts: what comes meanwhile waits in the
		 * socket, not in a buffer that could fill.  Its query is
		 * consumed above, so that the queries after it are answered
		 * when it ends, once each. */
		uv_read_stop((uv_stream_t *)&c->tcp);
		tcp__pump(c);
	}
}

/* Send a transfer's next messages while the socket's queue is short; the
 * write callback calls again as it drains.  The last one sent, reading
 * and answering resume. */
static void tcp__pump(struct conn *c)
{
	dnsd_server *s = c->s;
	unsigned turn = 0;
	size_t n;
	int more = 1;

	while (more > 0 && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < XFR_QUEUE_LOW) {
		more = dnsd_xfr_next(c->xfr, s->frame + 2, sizeof(s->frame) - 2, &n);
		s->frame[0] = (uint8_t)(n >> 8);
		s->frame[1] = (uint8_t)n;
		if (more < 0 || (n && tcp__write(c, s->frame, 2 + n) != 0)) {
			conn__close(c);
			return;
		}
		/* The rest in the next turn of the loop, after its poll has
		 * served the others.  Not from a write callback nor a 0 ms
		 * timer: libuv runs those again within the same turn while
		 * they keep coming. */
		if (more > 0 && ++turn == XFR_TURN) {
			uv_idle_start(&c->turn, tcp__turn);
			return;
		}
	}
	if (more == 0) {
		dnsd_xfr_free(c->xfr);
		c->xfr = NULL;
		if (uv_read_start((uv_stream_t *)&c->tcp, tcp__alloc, tcp__read) != 0) {
			conn__close(c);
			return;
		}
		tcp__process(c);
	}
}

static void tcp__read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = h->data;

	if (nread < 0) {
		conn__close(c);
		return;
	}
	c->len += (size_t)nread;
	tcp__process(c);
}

static void tcp__reject(dnsd_server *s, uv_stream_t *server);

/* The reject handle is free again: take the connection a listener has
 * been holding for it, if any. */
static void tcp__rejected(uv_handle_t *h)
{
	dnsd_server *s = h->data;

	s->reject_busy = false;
	for (struct listener *l = s->listeners; l && !s->cd.closing; l = l->next) {
		if (l->stalled) {
			l->stalled = false;
			tcp__reject(s, (uv_stream_t *)&l->tcp);
			break;
		}
	}
	server__release(s);
}

/* Accept the pending connection of server and close it at once.  While
 * the one reject handle is still closing, the listener holds the
 * connection (libuv stops reading it until it is accepted) and is served
 * when the handle is free. */
static void tcp__reject(dnsd_server *s, uv_stream_t *server)
{
	struct listener *l = (struct listener *)((char *)server - offsetof(struct listener, tcp));

	if (s->reject_busy) {
		l->stalled = true;
		return;
	}
	uv_tcp_init(s->loop, &s->reject);
	s->reject.data = s;
	s->reject_busy = true;
	s->cd.open++;
	(void)uv_accept(server, (uv_stream_t *)&s->reject);
	uv_close((uv_handle_t *)&s->reject, tcp__rejected);
}

/* Connections open from the client's address, counting its own: a scan,
 * at most tcp_max long, only when one is accepted. */
static unsigned tcp__from_source(const dnsd_server *s, const struct dnsd_client *cl)
{
	size_t alen = cl->family == 4 ? 4 : 16;
	unsigned n = 0;

	for (const struct conn *c = s->conns; c; c = c->next)
		if (!c->closing && c->client.family == cl->family &&
		    memcmp(c->client.addr, cl->addr, alen) == 0)
			n++;
	return n;
}

static void tcp__accept(uv_stream_t *server, int status)
{
	dnsd_server *s = server->data;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	struct conn *c;

	if (status < 0)
		return;   /* libuv has taken nothing and keeps watching */
	if (!(c = calloc(1, sizeof(*c)))) {
		tcp__reject(s, server);
		return;
	}
	c->s = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->idle);
	uv_idle_init(s->loop, &c->turn);
	c->tcp.data = c->idle.data = c->turn.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->nlive++;
	s->cd.open++;
	ch_gauge_set(&s->engine->stats.tcp_open, s->nlive);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || s->nlive > s->lim.tcp_max ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) != 0) {
		ch_counter_add(&s->engine->stats.tcp_refused, 1);
		conn__close(c);
		return;
	}
	ch_counter_add(&s->engine->stats.tcp_accepted, 1);
	client_of((struct sockaddr *)&ss, true, &c->client);
	if (tcp__from_source(s, &c->client) > s->lim.tcp_max_per_source) {
		conn__close(c);
		return;
	}
	uv_timer_start(&c->idle, tcp__idle, s->lim.tcp_idle_ms, s->lim.tcp_idle_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, tcp__alloc, tcp__read) != 0)
		conn__close(c);
}

/* ---- listening ---- */

/* libuv 1.44 has no UV_UDP_REUSEPORT: make the socket, set SO_REUSEPORT so
 * that each thread's loop binds its own socket to the same address and the
 * kernel spreads the queries, then hand it to libuv. */
static int udp__socket(const struct sockaddr_storage *ss, int *fd)
{
	int one = 1, s;
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if ((s = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -errno;
	if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(s, (const struct sockaddr *)ss, len) != 0) {
		int err = -errno;
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

int dnsd_server_listen(dnsd_server *s, const char *addr, unsigned what)
{
	struct sockaddr_storage ss;
	struct listener *l;
	int rc, fd = -1;

	if (!s || !addr || s->cd.closing || !what || (what & ~(DNSD_LISTEN_UDP | DNSD_LISTEN_TCP)))
		return -EINVAL;
	if (cfg_addr_parse(addr, &ss) != 0)
		return DNSD_EADDR;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	bool v6 = ss.ss_family == AF_INET6;
	uv_tcp_init(s->loop, &l->tcp);
	l->tcp.data = s;
	l->s = s;
	l->udp_fd = -1;
	l->next = s->listeners;
	s->listeners = l;
	s->cd.open++;
	/* On failure the handles are closed, and the socket, with the server. */
	if (what & DNSD_LISTEN_UDP) {
		if ((rc = udp__socket(&ss, &fd)) != 0)
			return rc;
		if ((rc = uv_poll_init_socket(s->loop, &l->udp, fd)) != 0) {
			close(fd);
			return rc;
		}
		l->udp.data = l;
		l->udp_fd = fd;
		s->cd.open++;
		uv_idle_init(s->loop, &l->busy);
		l->busy.data = l;
		s->cd.open++;
		if ((rc = uv_poll_start(&l->udp, UV_READABLE, udp__readable)) != 0)
			return rc;
	}
	if (what & DNSD_LISTEN_TCP) {
		if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
		    (rc = uv_listen((uv_stream_t *)&l->tcp, 128, tcp__accept)) != 0)
			return rc;
	}
	return 0;
}
