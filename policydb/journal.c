/* The journal: what each commit changed, with the values from before it,
 * written in the commit's own transaction (see "the journal" in
 * policydb.h).
 *
 * It lives in meta, not in a database of its own: a store made before it
 * then opens as it is, and a reader that opened such a store read-only
 * sees the journal as soon as a writer starts one (a named database
 * created after a reader opened the environment stays unknown to it).
 *     "journal/" serial(u64 BE) 0(u32 BE)  -> commit header: flags, count
 *     "journal/" serial(u64 BE) n(u32 BE)  -> item n (1..count)
 *     "journal-max"                        -> u32, the serials kept
 * Every commit writes a header, so a serial with a header and no items
 * changed nothing, and a serial without one is outside the journal.
 *
 * Members, overrides and the community are recorded as they change, each
 * once per commit (a set in memory).  pdb_w_clear drops them all, so a
 * commit that clears records nothing as it goes: at its end it compares
 * the store with a snapshot taken before the clear, which is the state
 * before the commit since this writer holds the write lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void pdb__journal_key(uint8_t buf[PDB__JOURNAL_KEY_LEN], uint64_t serial, uint32_t item)
{
	memcpy(buf, PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN);
	pdb__put_be64(buf + PDB__JOURNAL_PREFIX_LEN, serial);
	pdb__put_be32(buf + PDB__JOURNAL_PREFIX_LEN + 8, item);
}

static int max_get(MDB_txn *txn, MDB_dbi meta, uint32_t *max)
{
	return pdb__meta_u32(txn, meta, PDB__JOURNAL_MAX_KEY, PDB_JOURNAL_MAX_DEFAULT, max);
}

/* ---- the set of what this commit recorded ---- */

static void seen_reset(struct pdb__seen *s)
{
	if (s->slot)
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
	s->n = 0;
	s->arena_len = 0;
}

static int seen_grow(struct pdb__seen *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	struct pdb__seen_slot *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slot[i].len)
			continue;
		size_t j = s->slot[i].hash & (cap - 1);
		while (slot[j].len)
			j = (j + 1) & (cap - 1);
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

/* Add key (never empty) to the set: 0 if added, 1 if it was there. */
static int seen_add(struct pdb__seen *s, const char *key, size_t len)
{
	uint64_t h = pdb_fnv1a64(key, len);
	size_t i;

	if ((s->n + 1) * 2 > s->cap && seen_grow(s) != 0)
		return -ENOMEM;
	for (i = h & (s->cap - 1); s->slot[i].len; i = (i + 1) & (s->cap - 1)) {
		const struct pdb__seen_slot *e = &s->slot[i];
		if (e->hash == h && e->len == len && memcmp(s->arena + e->off, key, len) == 0)
			return 1;
	}
	if (len > s->arena_cap - s->arena_len) {
		size_t cap = s->arena_cap ? s->arena_cap : 16384;
		while (len > cap - s->arena_len)
			cap *= 2;
		char *a = realloc(s->arena, cap);
		if (!a)
			return -ENOMEM;
		s->arena = a;
		s->arena_cap = cap;
	}
	memcpy(s->arena + s->arena_len, key, len);
	s->slot[i] = (struct pdb__seen_slot){ h, (uint32_t)s->arena_len, (uint32_t)len };
	s->arena_len += len;
	s->n++;
	return 0;
}

/* ---- writing ---- */

int pdb__journal_begin(pdb_wtxn *w, uint64_t serial)
{
	struct pdb__journal *j = &w->j;
	uint32_t max;
	int rc;

	j->serial = serial;
	j->off = j->everything = j->cleared = false;
	j->before = NULL;
	j->next = 1;
	j->bytes = 0;
	seen_reset(&j->seen);
	if ((rc = max_get(w->t.txn, w->t.db->meta, &max)) != 0)
		return rc;
	j->off = max == 0;
	return 0;
}

/* Drop the items recorded so far and keep only the marker: the commit is
 * too large for readers to gain from following it item by item. */
static int overflow(pdb_wtxn *w)
{
	struct pdb__journal *j = &w->j;
	uint8_t kb[PDB__JOURNAL_KEY_LEN];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	MDB_cursor *cur;
	uint64_t serial;
	uint32_t item;
	int rc;

	j->everything = true;
	pdb__journal_key(kb, j->serial, 1);
	if ((rc = mdb_cursor_open(w->t.txn, w->t.db->meta, &cur)) != 0)
		return pdb__lmdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (pdb__journal_key_split(&k, &serial, &item) != 1 || serial != j->serial)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

/* Record one item with its before-image (NULL: absent), unless this
 * commit recorded the same one already. */
static int record(pdb_wtxn *w, uint8_t kind, pdb_str name, pdb_str other, const MDB_val *before)
{
	struct pdb__journal *j = &w->j;
	char key[2 * PDB_NAME_MAX + 3];
	uint8_t kb[PDB__JOURNAL_KEY_LEN];
	struct pdb__change_rec c = { .kind = kind, .name = name, .other = other };
	size_t klen, len;
	int rc;

	if (j->off || j->everything)
		return 0;
	/* Names come from keys of the store, which damage can lengthen. */
	if (name.len > PDB_NAME_MAX || other.len > PDB_NAME_MAX)
		return PDB_ECORRUPT;
	key[0] = (char)kind;
	memcpy(key + 1, name.p, name.len);
	key[1 + name.len] = '\0';
	memcpy(key + 2 + name.len, other.p, other.len);
	klen = 2 + (size_t)name.len + other.len;
	if ((rc = seen_add(&j->seen, key, klen)) != 0)
		return rc < 0 ? rc : 0;
	/* What the journal says changed is what moves a member's stamp. */
	if (kind == PDB_CHANGE_COMMUNITY)
		rc = pdb__stamp_all(w);
	else if ((rc = pdb__stamp(w, name.p, name.len)) == 0 && other.len)
		rc = pdb__stamp(w, other.p, other.len);
	if (rc != 0)
		return rc;
	if (before) {
		c.existed = true;
		c.before = before->mv_data;
		c.before_len = before->mv_size;
	}
	if ((rc = pdb__change_encode(&c, j->buf, sizeof(j->buf), &len)) != 0)
		return rc;
	if (j->next > PDB_JOURNAL_ITEMS_MAX || len > PDB_JOURNAL_BYTES_MAX - j->bytes)
		return overflow(w);
	pdb__journal_key(kb, j->serial, j->next);
	MDB_val k = pdb__val(kb, sizeof(kb)), v = pdb__val(j->buf, len);
	if ((rc = pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0))) != 0)
		return rc;
	j->next++;
	j->bytes += len;
	return 0;
}

static bool same(const MDB_val *a, const MDB_val *b)
{
	return a->mv_size == b->mv_size && memcmp(a->mv_data, b->mv_data, a->mv_size) == 0;
}

static const pdb_str none = { "", 0 };

static pdb_str str_of_val(const MDB_val *v)
{
	return (pdb_str){ v->mv_data, (uint16_t)v->mv_size };
}

/* The item of a stored value that changes from have (NULL: absent) to
 * after (NULL: absent): none if both are the same. */
static int record_change(pdb_wtxn *w, uint8_t kind, pdb_str name, pdb_str other,
                         const MDB_val *have, const MDB_val *after)
{
	if (have && after ? same(have, after) : !have && !after)
		return 0;
	return record(w, kind, name, other, have);
}

int pdb__journal_member(pdb_wtxn *w, const char *name, const MDB_val *after, bool append)
{
	MDB_val k = pdb__key(name), v;
	int rc = MDB_NOTFOUND;

	if (w->j.off || w->j.everything || w->j.cleared)
		return 0;
	if (!append && (rc = mdb_get(w->t.txn, w->t.db->member, &k, &v)) != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	return record_change(w, PDB_CHANGE_MEMBER, str_of_val(&k), none, rc == 0 ? &v : NULL, after);
}

/* The two names of an override key "a\0b". */
static void override_names(const MDB_val *k, pdb_str *a, pdb_str *b)
{
	const char *p = k->mv_data, *nul = memchr(p, '\0', k->mv_size);
	size_t la = nul ? (size_t)(nul - p) : k->mv_size;

	*a = (pdb_str){ p, (uint16_t)la };
	*b = nul ? (pdb_str){ nul + 1, (uint16_t)(k->mv_size - la - 1) } : none;
}

int pdb__journal_override(pdb_wtxn *w, const MDB_val *key, const MDB_val *after)
{
	MDB_val k = *key, v;
	pdb_str a, b;
	int rc;

	if (w->j.off || w->j.everything || w->j.cleared)
		return 0;
	if ((rc = mdb_get(w->t.txn, w->t.db->override, &k, &v)) != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	override_names(key, &a, &b);
	return record_change(w, PDB_CHANGE_OVERRIDE, a, b, rc == 0 ? &v : NULL, after);
}

int pdb__journal_community(pdb_wtxn *w, const MDB_val *after)
{
	MDB_val k = pdb__key("community"), v;
	int rc;

	if (w->j.off || w->j.everything || w->j.cleared)
		return 0;
	if ((rc = mdb_get(w->t.txn, w->t.db->meta, &k, &v)) != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	return record_change(w, PDB_CHANGE_COMMUNITY, none, none, rc == 0 ? &v : NULL, after);
}

int pdb__journal_clear(pdb_wtxn *w)
{
	struct pdb__journal *j = &w->j;

	if (j->off || j->everything || j->cleared)
		return 0;
	j->cleared = true;
	/* MDB_NOTLS lets this thread hold a snapshot beside its write
	 * transaction.  Without one (no reader slot left) the commit is
	 * recorded as "everything changed", which is never wrong. */
	if (mdb_txn_begin(w->t.db->env, NULL, MDB_RDONLY, &j->before) != 0) {
		j->before = NULL;
		return overflow(w);
	}
	return 0;
}

/* Compare one database before the clear (j->before) and now, in key order
 * (a merge: both cursors walk the same key order), and record what
 * differs; items this commit recorded before the clear stay as they are. */
static int diff_db(pdb_wtxn *w, MDB_dbi dbi, uint8_t kind)
{
	MDB_cursor *a = NULL, *b = NULL;
	MDB_val ka, va, kb, vb;
	int ra, rb, rc = 0;

	if ((ra = mdb_cursor_open(w->j.before, dbi, &a)) != 0 ||
	    (rb = mdb_cursor_open(w->t.txn, dbi, &b)) != 0) {
		rc = pdb__lmdb_err(ra ? ra : rb);
		goto out;
	}
	ra = mdb_cursor_get(a, &ka, &va, MDB_FIRST);
	rb = mdb_cursor_get(b, &kb, &vb, MDB_FIRST);
	while ((ra == 0 || rb == 0) && rc == 0 && !w->j.everything) {
		int c = ra ? 1 : rb ? -1 : mdb_cmp(w->t.txn, dbi, &ka, &kb);
		const MDB_val *k = c <= 0 ? &ka : &kb;
		pdb_str n1 = str_of_val(k), n2 = none;
		if (kind == PDB_CHANGE_OVERRIDE)
			override_names(k, &n1, &n2);
		rc = record_change(w, kind, n1, n2, c <= 0 ? &va : NULL, c >= 0 ? &vb : NULL);
		if (c <= 0)
			ra = mdb_cursor_get(a, &ka, &va, MDB_NEXT);
		if (c >= 0)
			rb = mdb_cursor_get(b, &kb, &vb, MDB_NEXT);
	}
	if (rc == 0 && ra != 0 && ra != MDB_NOTFOUND)
		rc = pdb__lmdb_err(ra);
	if (rc == 0 && rb != 0 && rb != MDB_NOTFOUND)
		rc = pdb__lmdb_err(rb);
out:
	if (a)
		mdb_cursor_close(a);
	if (b)
		mdb_cursor_close(b);
	return rc;
}

static int diff_community(pdb_wtxn *w)
{
	MDB_val k = pdb__key("community"), va, vb;
	int ra = mdb_get(w->j.before, w->t.db->meta, &k, &va);
	int rb = mdb_get(w->t.txn, w->t.db->meta, &k, &vb);

	if ((ra && ra != MDB_NOTFOUND) || (rb && rb != MDB_NOTFOUND))
		return pdb__lmdb_err(ra && ra != MDB_NOTFOUND ? ra : rb);
	return record_change(w, PDB_CHANGE_COMMUNITY, none, none, ra ? NULL : &va, rb ? NULL : &vb);
}

/* Forget the records of serials up to cutoff: the oldest come first, so
 * this reads only what it deletes and the first key it keeps. */
static int prune(pdb_wtxn *w, uint64_t cutoff)
{
	MDB_val k = pdb__val(PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN), v;
	MDB_cursor *cur;
	uint64_t serial;
	uint32_t item;
	int rc, in;

	if ((rc = mdb_cursor_open(w->t.txn, w->t.db->meta, &cur)) != 0)
		return pdb__lmdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* A key of the wrong length is pdb_verify's to report; it
		 * sorts among the others and goes the same way. */
		if ((in = pdb__journal_key_split(&k, &serial, &item)) == 0)
			break;
		if (in == 1 && serial > cutoff)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

int pdb__journal_commit(pdb_wtxn *w)
{
	struct pdb__journal *j = &w->j;
	struct pdb__commit_rec h = { 0 };
	uint8_t kb[PDB__JOURNAL_KEY_LEN], hb[64];
	uint32_t max;
	size_t len;
	int rc;

	if ((rc = max_get(w->t.txn, w->t.db->meta, &max)) != 0)
		return rc;
	/* Not known item by item: every member's stamp moves. */
	if ((max == 0 || j->off || j->everything) && (rc = pdb__stamp_all(w)) != 0)
		return rc;
	if (max == 0)
		return prune(w, j->serial);
	/* Recording was off while the body ran, and this commit set a bound:
	 * what it changed is not known item by item. */
	if (j->off)
		j->off = false, j->everything = true;
	if (j->cleared && !j->everything &&
	    ((rc = diff_db(w, w->t.db->member, PDB_CHANGE_MEMBER)) != 0 ||
	     (rc = diff_db(w, w->t.db->override, PDB_CHANGE_OVERRIDE)) != 0 ||
	     (rc = diff_community(w)) != 0))
		return rc;
	h.flags = j->everything ? PDB__COMMIT_EVERYTHING : 0;
	h.count = j->everything ? 0 : j->next - 1;
	if ((rc = pdb__commit_encode(&h, hb, sizeof(hb), &len)) != 0)
		return rc;
	pdb__journal_key(kb, j->serial, 0);
	MDB_val k = pdb__val(kb, sizeof(kb)), v = pdb__val(hb, len);
	if ((rc = pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0))) != 0)
		return rc;
	return j->serial > max ? prune(w, j->serial - max) : 0;
}

void pdb__journal_end(pdb_wtxn *w)
{
	if (w->j.before)
		mdb_txn_abort(w->j.before);
	w->j.before = NULL;
}

void pdb__journal_free(pdb_wtxn *w)
{
	pdb__journal_end(w);
	free(w->j.seen.slot);
	free(w->j.seen.arena);
	memset(&w->j.seen, 0, sizeof(w->j.seen));
}

int pdb_w_journal_max(pdb_wtxn *w, uint32_t max)
{
	uint8_t b[4];

	if (!w)
		return -EINVAL;
	pdb__put_be32(b, max);
	MDB_val k = pdb__key(PDB__JOURNAL_MAX_KEY), v = pdb__val(b, 4);
	return pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &v, 0));
}

/* ---- reading ---- */

int pdb_journal_max(pdb_txn *t, uint32_t *max)
{
	if (!t || !max)
		return -EINVAL;
	return max_get(t->txn, t->db->meta, max);
}

/* The header of serial's commit: 0, PDB_ENOTFOUND, PDB_ECORRUPT. */
static int header_get(pdb_txn *t, uint64_t serial, struct pdb__commit_rec *h)
{
	uint8_t kb[PDB__JOURNAL_KEY_LEN];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	int rc;

	pdb__journal_key(kb, serial, 0);
	if ((rc = pdb__lmdb_err(mdb_get(t->txn, t->db->meta, &k, &v))) != 0)
		return rc;
	return pdb__commit_decode(v.mv_data, v.mv_size, h);
}

/* The oldest serial the journal leads from to cur: down from cur while
 * each commit has a header without the marker.  The headers are a short
 * run (journal-max of them), found by key without reading the items. */
static int oldest(pdb_txn *t, uint64_t cur, uint64_t floor, uint64_t *out)
{
	struct pdb__commit_rec h;
	uint64_t s = cur;
	int rc = 0;

	while (s > floor && (rc = header_get(t, s, &h)) == 0 && !(h.flags & PDB__COMMIT_EVERYTHING))
		s--;
	if (rc != 0 && rc != PDB_ENOTFOUND)
		return rc;
	*out = s;
	return 0;
}

int pdb_journal_oldest(pdb_txn *t, uint64_t *serial)
{
	uint64_t cur;
	int rc;

	if (!t || !serial)
		return -EINVAL;
	if ((rc = pdb_serial(t, &cur)) != 0)
		return rc;
	return oldest(t, cur, 0, serial);
}

struct walk_state {
	pdb_change_fn fn;
	void *arg;
	uint64_t serial;      /* of the header last seen */
	uint32_t expect, have;
	char name[PDB_NAME_MAX + 1], other[PDB_NAME_MAX + 1];
};

static int walk_item(struct walk_state *s, uint64_t serial, const MDB_val *v)
{
	struct pdb__change_rec r;
	struct pdb_change c;

	if (serial != s->serial || pdb__change_decode(v->mv_data, v->mv_size, &r) != 0)
		return PDB_ECORRUPT;
	s->have++;
	/* Absent names decode as NULL pointers of length 0. */
	if (r.name.len)
		memcpy(s->name, r.name.p, r.name.len);
	s->name[r.name.len] = '\0';
	if (r.other.len)
		memcpy(s->other, r.other.p, r.other.len);
	s->other[r.other.len] = '\0';
	c = (struct pdb_change){
		.serial = serial, .kind = (enum pdb_change_kind)r.kind,
		.name = s->name, .other = s->other, .existed = r.existed,
		.before = r.existed ? r.before : NULL, .before_len = r.before_len,
		.override_before = r.kind == PDB_CHANGE_OVERRIDE && r.existed
		                   ? (enum pdb_override)r.before[0] : PDB_OVERRIDE_NONE,
	};
	return s->fn(s->arg, &c);
}

int pdb_changes_since(pdb_txn *t, uint64_t serial, pdb_change_fn fn, void *arg)
{
	struct walk_state s = { .fn = fn, .arg = arg };
	uint8_t kb[PDB__JOURNAL_KEY_LEN];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	MDB_cursor *cur;
	uint64_t now, from, ks;
	uint32_t item;
	int rc, mrc, in;

	if (!t || !fn)
		return -EINVAL;
	if ((rc = pdb_serial(t, &now)) != 0)
		return rc;
	if (serial > now)
		return PDB_ETOOOLD;
	if ((rc = oldest(t, now, serial, &from)) != 0)
		return rc;
	if (from > serial)
		return PDB_ETOOOLD;
	if (serial == now)
		return 0;
	pdb__journal_key(kb, serial + 1, 0);
	if ((rc = pdb__lmdb_err(mdb_cursor_open(t->txn, t->db->meta, &cur))) != 0)
		return rc;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((in = pdb__journal_key_split(&k, &ks, &item)) == 0)
			break;
		if (in < 0 || ks > now) {
			rc = PDB_ECORRUPT;
		} else if (item == 0) {
			struct pdb__commit_rec h;
			/* The commit before is complete: as many items as said. */
			if (s.have != s.expect || pdb__commit_decode(v.mv_data, v.mv_size, &h) != 0)
				rc = PDB_ECORRUPT;
			else
				s.serial = ks, s.expect = h.count, s.have = 0;
		} else {
			rc = walk_item(&s, ks, &v);
		}
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return pdb__lmdb_err(mrc);
	return s.have == s.expect ? 0 : PDB_ECORRUPT;
}
