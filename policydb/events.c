/* Time events: the moments at which answers change with no commit (a
 * member's not-after, the end of a removed member's grace), indexed by
 * time so that a reader counts those passed since the last commit by
 * reading only them (see "served serials" in policydb.h).
 *
 * In meta, like the journal and for the same reason (journal.c):
 *     "event/" time(u64 BE) kind(u8) name  -> empty
 *     "epoch/" serial(u64 BE)              -> offset(u64 BE) time(u64 BE)
 *     "event-index"                        -> 1 byte: the index is built
 *     "removed-grace"                      -> u32 seconds
 * The writer keeps the index in each commit's own transaction.  An event
 * still in the future when its member changes is dropped with it; one
 * that has passed stays, as history: the events between two commits are
 * then exactly those that were counted, which is what lets an IXFR find
 * the state behind a served serial.  History older than the oldest epoch
 * kept (as many as journal-max) is pruned. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define EVENT_PREFIX "event/"
#define EVENT_PREFIX_LEN (sizeof(EVENT_PREFIX) - 1)
#define EVENT_KEY_MAX (EVENT_PREFIX_LEN + 9 + PDB_NAME_MAX)
#define EPOCH_PREFIX "epoch/"
#define EPOCH_PREFIX_LEN (sizeof(EPOCH_PREFIX) - 1)
#define EPOCH_KEY_LEN (EPOCH_PREFIX_LEN + 8)
#define INDEX_KEY "event-index"
#define GRACE_KEY "removed-grace"

static size_t event_key(uint8_t buf[EVENT_KEY_MAX], int64_t when, uint8_t kind, const char *name,
                        size_t len)
{
	memcpy(buf, EVENT_PREFIX, EVENT_PREFIX_LEN);
	pdb__put_be64(buf + EVENT_PREFIX_LEN, (uint64_t)when);
	buf[EVENT_PREFIX_LEN + 8] = kind;
	memcpy(buf + EVENT_PREFIX_LEN + 9, name, len);
	return EVENT_PREFIX_LEN + 9 + len;
}

/* 1 for an event key, with its parts; 0 past the events; PDB_ECORRUPT
 * for a key under the prefix that is too short or too long. */
static int event_split(const MDB_val *k, int64_t *when, uint8_t *kind, const char **name,
                       size_t *len)
{
	const uint8_t *p = k->mv_data;

	if (k->mv_size < EVENT_PREFIX_LEN || memcmp(p, EVENT_PREFIX, EVENT_PREFIX_LEN) != 0)
		return 0;
	if (k->mv_size <= EVENT_PREFIX_LEN + 9 || k->mv_size > EVENT_KEY_MAX)
		return PDB_ECORRUPT;
	*when = (int64_t)pdb__get_be64(p + EVENT_PREFIX_LEN);
	*kind = p[EVENT_PREFIX_LEN + 8];
	*name = (const char *)p + EVENT_PREFIX_LEN + 9;
	*len = k->mv_size - EVENT_PREFIX_LEN - 9;
	return 1;
}

static void epoch_key(uint8_t buf[EPOCH_KEY_LEN], uint64_t serial)
{
	memcpy(buf, EPOCH_PREFIX, EPOCH_PREFIX_LEN);
	pdb__put_be64(buf + EPOCH_PREFIX_LEN, serial);
}

/* The offset and time of serial's commit: 0, PDB_ENOTFOUND (a commit
 * made before the index, or pruned), PDB_ECORRUPT. */
static int epoch_get(MDB_txn *txn, MDB_dbi meta, uint64_t serial, uint64_t *offset, int64_t *at)
{
	uint8_t kb[EPOCH_KEY_LEN];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	int rc;

	epoch_key(kb, serial);
	if ((rc = pdb__lmdb_err(mdb_get(txn, meta, &k, &v))) != 0)
		return rc;
	if (v.mv_size != 16)
		return PDB_ECORRUPT;
	*offset = pdb__get_be64(v.mv_data);
	*at = (int64_t)pdb__get_be64((const uint8_t *)v.mv_data + 8);
	return 0;
}

static bool index_built(MDB_txn *txn, MDB_dbi meta)
{
	MDB_val k = pdb__key(INDEX_KEY), v;

	return mdb_get(txn, meta, &k, &v) == 0;
}

static int grace_get(MDB_txn *txn, MDB_dbi meta, uint32_t *grace)
{
	return pdb__meta_u32(txn, meta, GRACE_KEY, PDB_REMOVED_GRACE_DEFAULT, grace);
}

/* ---- counting ---- */

/* Events with time in (after, upto], each handed to fn (may be NULL)
 * until fn returns non-zero; *n the number seen, *next the time of the
 * first after upto (0: none). */
typedef int (*event_fn)(void *arg, int64_t when, uint8_t kind, const char *name, size_t len);

static int events_walk(MDB_txn *txn, MDB_dbi meta, int64_t after, int64_t upto, event_fn fn,
                       void *arg, uint64_t *n, int64_t *next)
{
	uint8_t kb[EVENT_PREFIX_LEN + 8];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	MDB_cursor *cur;
	const char *name;
	size_t len;
	int64_t when;
	uint8_t kind;
	int rc, in, frc = 0, bad = 0;

	*n = 0;
	if (next)
		*next = 0;
	memcpy(kb, EVENT_PREFIX, EVENT_PREFIX_LEN);
	pdb__put_be64(kb + EVENT_PREFIX_LEN, (uint64_t)after + 1);
	if ((rc = pdb__lmdb_err(mdb_cursor_open(txn, meta, &cur))) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((in = event_split(&k, &when, &kind, &name, &len)) <= 0) {
			bad = in;
			break;
		}
		if (when > upto) {
			if (next)
				*next = when;
			break;
		}
		(*n)++;
		if (fn && (frc = fn(arg, when, kind, name, len)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (frc != 0)
		return frc;
	if (bad != 0)
		return bad;
	return rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

/* ---- writing ---- */

static int event_put(pdb_wtxn *w, int64_t when, uint8_t kind, const char *name)
{
	uint8_t kb[EVENT_KEY_MAX];
	size_t len = strlen(name);

	/* Passed already: the commit itself moves the serial. */
	if (when <= w->now || len == 0 || len > PDB_NAME_MAX)
		return 0;
	MDB_val k = pdb__val(kb, event_key(kb, when, kind, name, len)), v = pdb__val("", 0);
	return pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0));
}

static int event_del(pdb_wtxn *w, int64_t when, uint8_t kind, const char *name)
{
	uint8_t kb[EVENT_KEY_MAX];
	size_t len = strlen(name);
	int rc;

	/* A passed event is history, which readers of older serials need. */
	if (when <= w->now || len == 0 || len > PDB_NAME_MAX)
		return 0;
	MDB_val k = pdb__val(kb, event_key(kb, when, kind, name, len));
	rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->meta, &k, NULL));
	return rc == PDB_ENOTFOUND ? 0 : rc;
}

int64_t pdb__member_event(const void *rec, size_t len)
{
	struct pdb_member m;

	if (!rec || pdb_member_decode(rec, len, &m) != 0)
		return 0;
	return pdb_member_valid_until(&m);
}

int pdb__events_member(pdb_wtxn *w, const char *name, int64_t before, int64_t after)
{
	int rc;

	if (!w->ev.on || before == after)
		return 0;
	if (before && (rc = event_del(w, before, PDB_EVENT_NOT_AFTER, name)) != 0)
		return rc;
	return after ? event_put(w, after, PDB_EVENT_NOT_AFTER, name) : 0;
}

int pdb__events_removed(pdb_wtxn *w, const char *name, int64_t before, int64_t after)
{
	int64_t g = (int64_t)w->ev.grace;
	int rc;

	if (!w->ev.on)
		return 0;
	if (before != INT64_MIN && (rc = event_del(w, before + g, PDB_EVENT_GRACE_END, name)) != 0)
		return rc;
	return after != INT64_MIN ? event_put(w, after + g, PDB_EVENT_GRACE_END, name) : 0;
}

static int build_member(void *arg, const char *name, const void *rec, size_t len)
{
	int64_t t = pdb__member_event(rec, len);

	return t ? event_put(arg, t, PDB_EVENT_NOT_AFTER, name) : 0;
}

static int build_removed(void *arg, const char *name, int64_t when)
{
	pdb_wtxn *w = arg;

	return event_put(w, when + (int64_t)w->ev.grace, PDB_EVENT_GRACE_END, name);
}

/* A store made before the index: index what is to come, once. */
static int build(pdb_wtxn *w)
{
	MDB_val k = pdb__key(INDEX_KEY), v = pdb__val("\1", 1);
	int rc;

	if ((rc = pdb_walk_member_records(&w->t, build_member, w)) != 0 ||
	    (rc = pdb_walk_removed(&w->t, build_removed, w)) != 0)
		return rc;
	return pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0));
}

struct passed {
	pdb_wtxn *w;
	uint64_t base, n;
	char name[PDB_NAME_MAX + 1];
};

static int stamp_passed(void *arg, int64_t when, uint8_t kind, const char *name, size_t len)
{
	struct passed *p = arg;

	(void)when, (void)kind;
	/* The put moves the cursor's page under it: a copy of the name. */
	memcpy(p->name, name, len);
	return pdb__stamp_at(p->w, p->name, len, p->base + ++p->n);
}

int pdb__events_begin(pdb_wtxn *w, uint64_t prev, uint64_t serial)
{
	struct pdb__events *ev = &w->ev;
	MDB_txn *txn = w->t.txn;
	MDB_dbi meta = w->t.db->meta;
	uint64_t offset = 0, n = 0;
	int64_t at;
	int rc;

	ev->on = true;
	ev->offset = 0;
	ev->served = serial;
	if ((rc = grace_get(txn, meta, &ev->grace)) != 0)
		return rc;
	if (!index_built(txn, meta)) {
		if ((rc = build(w)) != 0)
			return rc;
		return pdb__stamp_all(w);   /* stamps start here */
	}
	/* The events that passed since the last commit were served on top of
	 * its serial: they stay counted, so the serial never goes back; each
	 * member's stamp is the served serial its event passed at. */
	rc = prev ? epoch_get(txn, meta, prev, &offset, &at) : PDB_ENOTFOUND;
	struct passed p = { .w = w, .base = prev + offset };
	if (rc == 0)
		rc = events_walk(txn, meta, at, w->now, stamp_passed, &p, &n, NULL);
	if (rc != 0 && rc != PDB_ENOTFOUND)
		return rc;
	ev->offset = offset + n;
	ev->served = serial + ev->offset;
	return 0;
}

/* Forget the epochs up to cutoff, then the events no kept epoch can
 * reach: those up to the time of the oldest kept. */
static int prune(pdb_wtxn *w, uint64_t cutoff, int64_t keep_from)
{
	MDB_txn *txn = w->t.txn;
	uint8_t kb[EPOCH_KEY_LEN];
	MDB_val k = pdb__val(EPOCH_PREFIX, EPOCH_PREFIX_LEN), v;
	MDB_cursor *cur;
	int rc;

	if ((rc = pdb__lmdb_err(mdb_cursor_open(txn, w->t.db->meta, &cur))) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != EPOCH_KEY_LEN || memcmp(k.mv_data, EPOCH_PREFIX, EPOCH_PREFIX_LEN))
			break;
		if (pdb__get_be64((const uint8_t *)k.mv_data + EPOCH_PREFIX_LEN) > cutoff) {
			if (v.mv_size == 16)
				keep_from = (int64_t)pdb__get_be64((const uint8_t *)v.mv_data + 8);
			break;
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	if (rc == 0 || rc == MDB_NOTFOUND) {
		memcpy(kb, EVENT_PREFIX, EVENT_PREFIX_LEN);
		k = pdb__val(kb, EVENT_PREFIX_LEN);
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			int64_t when;
			uint8_t kind;
			const char *name;
			size_t len;
			/* A damaged key under the prefix goes too. */
			int in = event_split(&k, &when, &kind, &name, &len);
			if (in == 0 || (in == 1 && when > keep_from))
				break;
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

int pdb__events_commit(pdb_wtxn *w, uint64_t serial, uint32_t max)
{
	uint8_t kb[EPOCH_KEY_LEN], b[16];
	int rc;

	if (!w->ev.on)
		return 0;
	epoch_key(kb, serial);
	pdb__put_be64(b, w->ev.offset);
	pdb__put_be64(b + 8, (uint64_t)w->now);
	MDB_val k = pdb__val(kb, sizeof(kb)), v = pdb__val(b, sizeof(b));
	if ((rc = pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0))) != 0)
		return rc;
	/* Epochs as far back as the journal reaches: no IXFR goes further. */
	return prune(w, max < serial ? serial - max - 1 : 0, w->now);
}

int pdb_w_removed_grace(pdb_wtxn *w, uint32_t seconds)
{
	uint8_t b[4];
	int rc;

	if (!w || seconds > PDB_REMOVED_KEEP)
		return -EINVAL;
	if (w->ev.on && seconds != w->ev.grace) {
		/* Move the end of every grace that is still to come. */
		uint32_t old = w->ev.grace;
		MDB_val k = pdb__val(PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN), v;
		MDB_cursor *cur;
		char name[PDB_NAME_MAX + 1];
		if ((rc = pdb__lmdb_err(mdb_cursor_open(w->t.txn, w->t.db->meta, &cur))) != 0)
			return rc;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t n = k.mv_size - PDB__REMOVED_PREFIX_LEN;
			if (k.mv_size <= PDB__REMOVED_PREFIX_LEN ||
			    memcmp(k.mv_data, PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN) != 0)
				break;
			if (n > PDB_NAME_MAX || v.mv_size != 8)
				continue;
			memcpy(name, (const char *)k.mv_data + PDB__REMOVED_PREFIX_LEN, n);
			name[n] = '\0';
			int64_t when = (int64_t)pdb__get_be64(v.mv_data);
			/* Puts and deletes in meta would move this cursor: the
			 * name is copied, and the walk resumes from it. */
			w->ev.grace = old;
			if ((rc = pdb__events_removed(w, name, when, INT64_MIN)) != 0)
				break;
			w->ev.grace = seconds;
			if ((rc = pdb__events_removed(w, name, INT64_MIN, when)) != 0)
				break;
			char kbuf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1];
			if (pdb__removed_key(name, kbuf, &k) != 0 ||
			    (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY)) != 0)
				break;
		}
		mdb_cursor_close(cur);
		w->ev.grace = seconds;
		if (rc != 0 && rc != MDB_NOTFOUND)
			return pdb__lmdb_err(rc);
	}
	/* Every removed member's apex may end at another time. */
	if ((rc = pdb__stamp_all(w)) != 0)
		return rc;
	pdb__put_be32(b, seconds);
	MDB_val k = pdb__key(GRACE_KEY), v = pdb__val(b, 4);
	return pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0));
}

/* ---- reading ---- */

int pdb_removed_grace(pdb_txn *t, uint32_t *seconds)
{
	if (!t || !seconds)
		return -EINVAL;
	return grace_get(t->txn, t->db->meta, seconds);
}

int pdb__epoch_current(pdb_txn *t, uint64_t *base, int64_t *at)
{
	uint64_t serial, offset;
	int rc;

	if ((rc = pdb_serial(t, &serial)) != 0 ||
	    (rc = epoch_get(t->txn, t->db->meta, serial, &offset, at)) != 0)
		return rc;
	*base = serial + offset;
	return 0;
}

int pdb_served_serial(pdb_txn *t, int64_t now, uint64_t *served, int64_t *next)
{
	uint64_t serial, offset, n = 0;
	int64_t at;
	int rc;

	if (!t || !served || !next)
		return -EINVAL;
	*next = 0;
	if ((rc = pdb_serial(t, &serial)) != 0)
		return rc;
	*served = serial;
	rc = epoch_get(t->txn, t->db->meta, serial, &offset, &at);
	if (rc == PDB_ENOTFOUND)
		return 0;   /* written before the index: no events */
	if (rc == 0)
		rc = events_walk(t->txn, t->db->meta, at, now, NULL, NULL, &n, next);
	if (rc == 0)
		*served = serial + offset + n;
	return rc;
}

struct nth {
	uint64_t k;
	int64_t at;
};

static int nth_event(void *arg, int64_t when, uint8_t kind, const char *name, size_t len)
{
	struct nth *s = arg;

	(void)kind, (void)name, (void)len;
	s->at = when;
	return --s->k == 0 ? 1 : 0;
}

int pdb_served_find(pdb_txn *t, uint64_t served, int64_t now, uint64_t *serial, int64_t *at)
{
	uint64_t cur, c, offset, n;
	int64_t tc;
	int rc;

	if (!t || !serial || !at)
		return -EINVAL;
	if ((rc = pdb_serial(t, &cur)) != 0)
		return rc;
	/* serial + offset grows by at least one a commit: walk back from the
	 * newest until it is at or below what was served. */
	for (c = cur;; c--) {
		if ((rc = epoch_get(t->txn, t->db->meta, c, &offset, &tc)) != 0)
			return rc == PDB_ENOTFOUND ? PDB_ETOOOLD : rc;
		if (c + offset <= served)
			break;
		if (c == 0)
			return PDB_ETOOOLD;
	}
	struct nth s = { .k = served - (c + offset), .at = tc };
	/* Events after the commit: up to now for the newest, up to the
	 * next commit for an older one (those it counted). */
	int64_t upto = now;
	if (c != cur) {
		uint64_t o2;
		if ((rc = epoch_get(t->txn, t->db->meta, c + 1, &o2, &upto)) != 0)
			return rc == PDB_ENOTFOUND ? PDB_ETOOOLD : rc;
	}
	if (s.k && (rc = events_walk(t->txn, t->db->meta, tc, upto, nth_event, &s, &n, NULL)) != 1)
		return rc == 0 ? PDB_ETOOOLD : rc;   /* fewer events than that */
	*serial = c;
	*at = s.at;
	return 0;
}

struct walk {
	pdb_event_fn fn;
	void *arg;
	char name[PDB_NAME_MAX + 1];
};

static int walk_one(void *arg, int64_t when, uint8_t kind, const char *name, size_t len)
{
	struct walk *s = arg;

	memcpy(s->name, name, len);
	s->name[len] = '\0';
	return s->fn(s->arg, when, (enum pdb_event_kind)kind, s->name);
}

int pdb_walk_events(pdb_txn *t, int64_t after, int64_t upto, pdb_event_fn fn, void *arg)
{
	struct walk s = { .fn = fn, .arg = arg };
	uint64_t n;

	if (!t || !fn)
		return -EINVAL;
	return events_walk(t->txn, t->db->meta, after, upto, walk_one, &s, &n, NULL);
}

/* ---- stamps: the served serial of each member's last change ---- */

struct since {
	const char *name;
	uint64_t n, last;         /* last: place of name's last event, 0: none */
};

static int since_one(void *arg, int64_t when, enum pdb_event_kind kind, const char *name)
{
	struct since *s = arg;

	(void)when, (void)kind;
	s->n++;
	if (strcmp(name, s->name) == 0)
		s->last = s->n;
	return 0;
}

int pdb_member_stamp(pdb_txn *t, const char *name, int64_t now, uint64_t *stamp)
{
	uint64_t all, own = 0, base;
	int64_t next, at;
	size_t len;
	int rc;

	if (!t || !name || !stamp)
		return -EINVAL;
	rc = pdb__stamp_get(t, "", 0, &all);
	if (rc == PDB_ENOTFOUND)   /* a store made before stamps */
		return pdb_served_serial(t, now, stamp, &next);
	if (rc != 0)
		return rc;
	len = strlen(name);
	if (len && (rc = pdb__stamp_get(t, name, len, &own)) != 0 && rc != PDB_ENOTFOUND)
		return rc;
	*stamp = all > own ? all : own;
	/* Events since the commit: the next commit stamps them with the
	 * served serial each passed at, which is the commit's plus its place
	 * among them. */
	if ((rc = pdb__epoch_current(t, &base, &at)) != 0)
		return rc == PDB_ENOTFOUND ? 0 : rc;
	struct since s = { .name = name };
	if ((rc = pdb_walk_events(t, at, now, since_one, &s)) != 0)
		return rc;
	if (s.last && base + s.last > *stamp)
		*stamp = base + s.last;
	return 0;
}
