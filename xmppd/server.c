/* The server: listeners and connections on one libuv loop.
 *
 * A connection is set up (read the header, maybe STARTTLS or direct TLS,
 * decide), then either answered and closed, or, in relay mode, joined to
 * a connection to the real server and spliced.  Connections being set up
 * are on a list in accept order: they are the ones the time limits and
 * the connection cap apply to, and at the cap the oldest is cut.  This
 * file owns the connections: it accepts them, keeps their state and the
 * limits, and calls on the stream part (stream.c) and the relay part
 * (relay.c) for the work of each state. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "cfg.h"
#include "conn.h"
#include "sockaddr.h"

void xmppd_limits_default(struct xmppd_limits *l)
{
	l->header_max = 8192;
	l->first_byte_ms = 5000;
	l->setup_ms = 10000;
	l->conn_max = 4096;
	l->connect_ms = 5000;
	l->relay_idle_ms = 300000;
}

/* Relayed streams held at once for one pair of domains.  A stock server
 * keeps one stream each way per peer; a few more come from reconnects
 * while an old stream waits out its timeout. */
#define RELAY_PAIR_MAX 16u

/* ---- the state of a connection ----
 *
 * After accept, every change of c->st is made in conn_step(), from what
 * the stream part returned, what the relay part told, or the timer.
 *
 *  state         step                next          done on the way
 *  (accepted)                        S_STREAM      first-byte-ms; the stream part reads
 *  S_STREAM      WAIT                S_STREAM      (the first byte: setup-ms from accept)
 *  S_STREAM      ANSWER              S_CLOSING     c->v said, half-closed; LINGER_MS
 *                                    (closed)      if no XMPP was spoken
 *  S_STREAM      RELAY               S_CONNECTING  a second descriptor; reading stops;
 *                                                  the relay part starts
 *                                    S_CLOSING     refused: the pair cap, or conn-max
 *  S_STREAM      CLOSE               (closed)
 *  S_STREAM      TIMER               S_CLOSING     connection-timeout said, if XMPP was
 *                                    (closed)      spoken; else nothing to say
 *  S_CONNECTING  RELAY_WAIT          S_CONNECTING  connect-ms for this lookup or attempt
 *  S_CONNECTING  TIMER               S_CONNECTING  the relay part gives this attempt up
 *  S_CONNECTING  RELAY_UP            S_SPLICE      off the setup list; relay-idle-ms
 *  S_CONNECTING  RELAY_FAILED        S_CLOSING     remote-connection-failed (or
 *                                                  resource-constraint) said
 *  S_SPLICE      RELAY_MOVED         S_SPLICE      relay-idle-ms again, unless in grace
 *  S_SPLICE      RELAY_HALF          S_SPLICE      grace: SPLICE_GRACE_MS at most
 *  S_SPLICE      TIMER               (closed)      "relay closed: idle / one side has gone"
 *  S_CONNECTING, the policy now        S_CLOSING     "relay cut": policy-violation said
 *  S_SPLICE      denies the pair       (closed)      if it can be, in plain text
 *                (the watch timer)
 *  S_CLOSING     TIMER, peer's end   (closed)
 *
 * In any state a broken socket, no memory, both sides of a splice ended,
 * a connection cut for room, or the server closing: closed at once
 * (xmppd__conn_close()), after which no step is taken. */

static void on_timer(uv_timer_t *t);
static void conn_step(struct conn *c, enum xmppd__step step);
static void watch_start(struct xmppd_server *s);

static void timer_start(struct conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
	conn_step(t->data, XMPPD__TIMER);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	(void)status;
	free(req);
	c->handles--;
	xmppd__conn_free_if_done(c);
}

/* With the whole answer in the kernel already (the usual case: it went in
 * the read that completed the header), the FIN can follow it at once;
 * libuv's shutdown would first wait for the socket to be writable, a
 * change of the poll set and a turn of the loop later.  Returns 0, or
 * -EAGAIN while bytes are still queued (uv_shutdown() then waits for
 * them), or -errno. */
static int half_close_now(struct conn *c)
{
	uv_os_fd_t fd;

	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0 ||
	    uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
		return -EAGAIN;
	return shutdown(fd, SHUT_WR) == 0 ? 0 : -errno;
}

/* Say c->v, then half-close and wait a little for the peer to go, so the
 * answer is not lost to a reset caused by unread input.  Returns false if
 * c was closed instead. */
static bool answer(struct conn *c)
{
	uv_shutdown_t *req;

	if (!xmppd__stream_answer(c)) {
		xmppd__conn_close(c);
		return false;
	}
	xmppd__setup_remove(c);
	/* Answered and gone within LINGER_MS: not held against newcomers,
	 * but still against the open-file limit. */
	c->s->nfds -= c->fds;
	c->fds = 0;
	c->lingering = true;
	c->s->nlinger++;
	if (half_close_now(c) == 0) {
		timer_start(c, LINGER_MS);
		return true;
	}
	if (!(req = malloc(sizeof(*req))) ||
	    uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		free(req);
		xmppd__conn_close(c);
		return false;
	}
	req->data = c;
	c->handles++;
	timer_start(c, LINGER_MS);
	return true;
}

/* Say the stream error cond at once, if a plain stream can take it, and
 * close. */
static void refuse_now(struct conn *c, enum xmppd_cond cond, const char *why)
{
	if (c->closing)
		return;
	xmppd__stream_error(c, cond, why);
	xmppd__stream_answer_now(c);
	xmppd__conn_close(c);
}

/* conn-max counts descriptors, since they are what runs out: one per
 * connection, two for a relay.  At the cap the connection set up longest
 * ago gives way, at once (waiting for its FIN would keep the descriptor
 * the cap is about), so a flood of idle connections cannot lock out a
 * server that speaks.  Relays are not cut: they carry allowed federation,
 * and cutting them would let anyone who connects break it.  Returns false
 * if the rest are relays. */
static bool over_cap(const struct xmppd_server *s, unsigned need)
{
	return s->nfds + need > s->lim.conn_max ||
	       (s->fd_cap && s->nfds + s->nlinger + s->nls + need > s->fd_cap);
}

static bool make_room(struct xmppd_server *s, unsigned need, const struct conn *self)
{
	while (over_cap(s, need)) {
		struct conn *old = s->setup_head;
		if (old && old == self)
			old = old->snext;
		if (!old)
			return false;
		ch_counter_add(&s->stats.cut_for_room, 1);
		if (old->st == S_STREAM && xmppd__stream_plain(old))
			refuse_now(old, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		else
			xmppd__conn_close(old);
	}
	return true;
}

/* Relayed streams of the same pair already held.
 *
 * This is what bounds a relay loop in every case.  The target check
 * (xmppd__is_ours) stops a target that is one of our own addresses, but
 * not one that leads back here another way: a forwarded port, a NAT, a
 * second clearinghouse relaying to us.  The peer address of a looped
 * connection tells nothing reliable either: it is a local address with an
 * ephemeral port, never one we listen on, and refusing every local peer
 * would refuse members hosted on this host.  What every loop has, whatever
 * its path, is the same header replayed at each hop, so the same pair held
 * open once more per hop: counting those caps the hops. */
static unsigned pair_relays(const struct conn *c)
{
	unsigned n = 0;

	for (const struct conn *o = c->s->all; o; o = o->next)
		n += o != c && !o->closing && (o->st == S_CONNECTING || o->st == S_SPLICE) &&
		     !strcmp(o->v.from, c->v.from) && !strcmp(o->v.to, c->v.to);
	return n;
}

/* May c be relayed?  If not, c->v says why. */
static bool relay_allowed(struct conn *c)
{
	if (pair_relays(c) >= RELAY_PAIR_MAX) {
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay refused: %u relayed streams of "
		        "this pair already (a loop?)\n", c->peer, c->v.from, c->v.to, RELAY_PAIR_MAX);
		xmppd__stream_error(c, XMPPD_COND_RESOURCE_CONSTRAINT,
		                    "too many relayed streams between these domains");
		return false;
	}
	/* The second descriptor counts from now: a relay being connected holds
	 * it as much as one that is spliced. */
	if (!make_room(c->s, 1, c)) {
		fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay refused: no descriptor left for its "
		        "second connection (%s), every one held by relays or answers\n", c->peer,
		        c->v.from, c->v.to, c->s->nfds + 1 > c->s->lim.conn_max ? "conn-max"
		                                                               : "the open-file limit");
		xmppd__stream_error(c, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		return false;
	}
	return true;
}

/* The one place where a connection's state changes: see the table above. */
static void conn_step(struct conn *c, enum xmppd__step step)
{
	struct xmppd_limits *lim = &c->s->lim;

	if (c->closing)
		return;
	switch (step) {
	case XMPPD__WAIT:
		break;
	case XMPPD__ANSWER:
	case XMPPD__RELAY_FAILED:
		if (c->st != S_CLOSING && answer(c))
			c->st = S_CLOSING;
		break;
	case XMPPD__CLOSE:
		xmppd__conn_close(c);
		break;
	case XMPPD__RELAY:
		if (!relay_allowed(c)) {
			if (answer(c))
				c->st = S_CLOSING;
			break;
		}
		c->fds++;
		c->s->nfds++;
		c->st = S_CONNECTING;
		uv_read_stop((uv_stream_t *)&c->tcp);
		watch_start(c->s);
		xmppd__relay_start(c, conn_step);
		break;
	case XMPPD__RELAY_WAIT:
		timer_start(c, lim->connect_ms);
		break;
	case XMPPD__RELAY_UP:
		uv_timer_stop(&c->timer);
		xmppd__setup_remove(c);
		c->st = S_SPLICE;
		ch_counter_add(&c->s->stats.relays_opened, 1);
		timer_start(c, lim->relay_idle_ms);
		break;
	case XMPPD__RELAY_MOVED:
		if (!c->grace)
			timer_start(c, lim->relay_idle_ms);
		break;
	case XMPPD__RELAY_HALF:
		if (!c->grace) {
			c->grace = true;
			timer_start(c, lim->relay_idle_ms < SPLICE_GRACE_MS ? lim->relay_idle_ms
			                                                    : SPLICE_GRACE_MS);
		}
		break;
	case XMPPD__TIMER:
		switch (c->st) {
		case S_CONNECTING:
			xmppd__relay_timeout(c);
			break;
		case S_SPLICE:
			fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay closed: %s\n", c->peer,
			        c->v.from[0] ? c->v.from : "-", c->v.to,
			        c->grace ? "one side has gone" : "idle");
			xmppd__conn_close(c);
			break;
		case S_STREAM:
			if (xmppd__stream_speaks(c)) {
				xmppd__stream_error(c, XMPPD_COND_CONNECTION_TIMEOUT,
				                    c->got_byte ? "no complete stream header in time"
				                                : "nothing received in time");
				if (answer(c))
					c->st = S_CLOSING;
				break;
			}
			xmppd__conn_close(c);
			break;
		case S_CLOSING:
			xmppd__conn_close(c);
			break;
		}
		break;
	}
}

/* ---- live relays against the store ----
 *
 * A relay is decided once, at its stream header; a commit that denies the
 * pair afterwards (a suspension, a revocation, an override, a level or tag
 * change) must end it too, and so must a member's not-after passing.  The
 * store's version is one read without a transaction: it is looked at every
 * WATCH_MS while relays are live, and only when it moved (or the earliest
 * not-after among the relays' members has come) is every live relay's
 * pair decided again, in one snapshot. */

#define WATCH_MS 250

static void on_watch(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static bool relay_live(const struct conn *c)
{
	return !c->closing && (c->st == S_CONNECTING || c->st == S_SPLICE);
}

/* Version 0 is never the store's: the first tick decides every relay
 * again, so a commit made between a relay's decision and the start of
 * the watch is not missed. */
static void watch_start(struct xmppd_server *s)
{
	if (uv_is_active((uv_handle_t *)&s->watch))
		return;
	s->watch_version = 0;
	uv_timer_start(&s->watch, on_watch, WATCH_MS, WATCH_MS);
}

static void expiry_note(int64_t *expiry, int64_t now, int64_t not_after)
{
	if (not_after > now && (*expiry == 0 || not_after < *expiry))
		*expiry = not_after;
}

/* End c for d, a deny or unknown: the peer hears policy-violation when
 * that can still be written to it in plain text, else the stream just
 * closes (a relay gone to TLS end to end cannot be written into). */
static void relay_cut(struct conn *c, pdb_txn *txn, const struct pdb_decision *d)
{
	struct pdb_community com;
	char why[256];
	bool plain, header_seen = false;

	if (pdb_get_community(txn, &com) != 0)
		pdb_community_init(&com);
	pdb_decision_explain(d, why, sizeof(why));
	if (c->st == S_CONNECTING) {
		xmppd__relay_cancel(c);
		plain = !c->peek && !c->ssl && !c->direct_tls;
	} else {
		plain = xmppd__relay_cut(c, &header_seen);
	}
	fprintf(stderr, "xmppd: peer=%s from=%s to=%s relay cut: the policy now says %s: %s; %s\n",
	        c->peer, c->v.from, c->v.to, pdb_outcome_name(d->outcome), why,
	        plain ? "policy-violation said" : "closed without a word (no plain text to write into)");
	if (!plain) {
		xmppd__conn_close(c);
		return;
	}
	c->v.relay = false;
	c->v.cond = XMPPD_COND_POLICY_VIOLATION;
	c->v.outcome = pdb_outcome_name(d->outcome);
	c->v.rule = pdb_rule_name(d->rule);
	xmppd__deny_text(&com, d, &c->v);
	if (c->st == S_CONNECTING) {
		xmppd__stream_answer_now(c);
		xmppd__conn_close(c);
		return;
	}
	/* The real server's header went to the peer already, or ours goes
	 * first; the peer's end is then read for, as after any answer. */
	c->header_sent = header_seen;
	if (!answer(c))
		return;
	c->st = S_CLOSING;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		xmppd__conn_close(c);
}

/* Decide c's pair again; cut it if the answer is no longer allow, or
 * note when it will be. */
static void relay_recheck(struct conn *c, pdb_txn *txn, int64_t now, int64_t *expiry)
{
	struct pdb_decision d;
	struct pdb_member m;

	/* A direct-TLS relay whose peer no member owns has no pair to decide. */
	if (!c->v.from[0] || pdb_decide(txn, c->v.from, c->v.to, now, &d) != 0)
		return;
	if (d.outcome != PDB_ALLOW) {
		relay_cut(c, txn, &d);
		return;
	}
	if (d.b_known)
		expiry_note(expiry, now, d.b.not_after);
	if (pdb_get_member(txn, c->v.from, &m) == 0)
		expiry_note(expiry, now, m.not_after);
}

static void on_watch(uv_timer_t *t)
{
	struct xmppd_server *s = t->data;
	uint64_t version = pdb_version(s->db);
	int64_t now = (int64_t)time(NULL);
	unsigned live = 0;
	pdb_txn *txn;

	for (struct conn *c = s->all; c; c = c->next)
		live += relay_live(c);
	if (!live) {
		uv_timer_stop(t);
		return;
	}
	if (version && version == s->watch_version && (!s->watch_expiry || now < s->watch_expiry))
		return;
	/* A store that cannot be read now is tried again at the next tick. */
	if (pdb_read_begin(s->db, &txn) != 0)
		return;
	s->watch_version = pdb_snapshot_version(txn);
	s->watch_expiry = 0;
	/* A cut only starts closes: nothing is freed during the walk. */
	for (struct conn *c = s->all; c; c = c->next)
		if (relay_live(c))
			relay_recheck(c, txn, now, &s->watch_expiry);
	pdb_read_end(txn);
}

static void on_watch_closed(uv_handle_t *h)
{
	xmppd__server_release(h->data);
}

/* ---- reading, up to the decision and while closing ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->s->rbuf, sizeof(c->s->rbuf));
}

static void first_byte(struct conn *c)
{
	uint64_t spent = uv_now(c->s->loop) - c->accepted_at;
	uint64_t left = spent < c->s->lim.setup_ms ? c->s->lim.setup_ms - spent : 1;
	c->got_byte = true;
	timer_start(c, left);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	if (nread < 0) {
		xmppd__conn_close(c);
		return;
	}
	if (nread == 0 || c->closing || c->st != S_STREAM)
		return;
	if (!c->got_byte)
		first_byte(c);
	conn_step(c, xmppd__stream_read(c, buf->base, (size_t)nread));
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


static void drop_pending(struct listener *l);

static void on_drop_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct xmppd_server *s = l->s;

	l->drop_busy = false;
	if (--l->handles == 0) {
		free(l);
		xmppd__server_release(s);
		return;
	}
	if (l->drop_again && !s->cd.closing) {
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

	if (status < 0 || s->cd.closing)
		return;
	bool room = make_room(s, 1, NULL);
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
	s->cd.open++;
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
	c->st = S_STREAM;
	if (xmppd__stream_init(c, l->direct_tls) != 0) {
		xmppd__conn_close(c);
		return;
	}
	if (!room) {
		/* Said before the descriptor goes: an accept that fails for want
		 * of one is closed by libuv without a word, and without a log. */
		fprintf(stderr, "xmppd: peer=%s refused: %s; every one held by relays or answers\n",
		        c->peer, s->nfds + 1 > s->lim.conn_max ? "conn-max descriptors in use"
		                                               : "out of descriptors (the open-file limit)");
		refuse_now(c, XMPPD_COND_RESOURCE_CONSTRAINT, "too many connections");
		return;
	}
	timer_start(c, s->lim.first_byte_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		xmppd__conn_close(c);
}

/* ---- the server's life ---- */

/* Descriptors kept back from connections for the rest: lookups (a socket
 * each, in libuv's threads), the store, logs, reloads. */
#define FD_RESERVE 16u

/* conn-max counts descriptors, and must run out before the kernel's do:
 * an accept that fails for want of one is closed by libuv without a word
 * (its reserve-descriptor trick), where a connection over conn-max gets
 * resource-constraint.  So connections get the open-file limit less what
 * is open now and the reserve. */
static void fd_cap_init(struct xmppd_server *s)
{
	struct rlimit r;
	unsigned open = 0;
	DIR *d;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY || r.rlim_cur > UINT_MAX)
		return;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			open += e->d_name[0] != '.';
		closedir(d);
	}
	s->fd_cap = r.rlim_cur > open + FD_RESERVE + 1 ? (unsigned)r.rlim_cur - open - FD_RESERVE : 1;
	if (s->fd_cap < s->lim.conn_max)
		fprintf(stderr, "xmppd: conn-max %u is more than the open-file limit leaves (%llu, %u "
		        "open, %u kept back): connections get %u descriptors, less one per listener\n",
		        s->lim.conn_max, (unsigned long long)r.rlim_cur, open, FD_RESERVE, s->fd_cap);
}

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
	int rc;
	if (!s->lim.header_max || !s->lim.first_byte_ms || !s->lim.setup_ms || !s->lim.conn_max ||
	    !s->lim.connect_ms || !s->lim.relay_idle_ms)
		rc = -EINVAL;
	else
		rc = pdb_read_begin(db, &s->txn);
	if (rc != 0) {
		xmppd__owners_free(s->owners);
		free(s);
		return rc;
	}
	pdb_read_reset(s->txn);
	fd_cap_init(s);
	uv_timer_init(loop, &s->watch);
	s->watch.data = s;
	s->cd.open++;   /* the watch timer, closed with the server */
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
	xmppd__server_release(s);
}

int xmppd_server_listen(xmppd_server *s, const char *addr, bool direct_tls)
{
	struct sockaddr_storage ss;
	struct listener *l;
	int rc;

	if (!s || !addr || s->cd.closing || s->nls >= XMPPD_LISTEN_MAX)
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
	s->cd.open++;
	s->ls[s->nls++] = l;
	if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection)) != 0)
		return rc;   /* closed with the server */
	return 0;
}

void xmppd_server_close(xmppd_server *s, void (*cb)(void *arg), void *arg)
{
	/* Held while closing starts, so nothing frees s under us. */
	if (!s || ch_closedown_start(&s->cd, cb, arg) != 0)
		return;
	uv_close((uv_handle_t *)&s->watch, on_watch_closed);
	for (unsigned i = 0; i < s->nls; i++)
		uv_close((uv_handle_t *)&s->ls[i]->tcp, on_listener_closed);
	for (struct conn *c = s->all, *next; c; c = next) {
		next = c->next;
		xmppd__relay_cancel(c);
		xmppd__conn_close(c);
	}
	xmppd__server_release(s);
}
