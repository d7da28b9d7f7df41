/* Writing: one transaction per change, retried from the start on a bigger
 * map when the map fills up, closed by a serial bump and an audit entry. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

pdb_txn *pdb_w_txn(pdb_wtxn *w) { return w ? &w->t : NULL; }

static int put(pdb_wtxn *w, MDB_dbi dbi, MDB_val k, MDB_val v, unsigned flags)
{
	return pdb__lmdb_err(mdb_put(w->t.txn, dbi, &k, &v, flags));
}

static int put_format(pdb_wtxn *w)
{
	uint8_t b[4] = { 0, 0, 0, PDB_FORMAT_VERSION };
	return put(w, w->t.db->meta, pdb__key("format"), pdb__val(b, 4), 0);
}

static int put_serial(pdb_wtxn *w, uint64_t serial)
{
	uint8_t b[8];
	pdb__put_be64(b, serial);
	return put(w, w->t.db->meta, pdb__key("serial"), pdb__val(b, 8), 0);
}

/* Prune at most this often, whatever expires: removals then live at most
 * this much longer than PDB_REMOVED_KEEP. */
#define PRUNE_EVERY 3600

/* The end of name's grace moves with its removal, from the one kept under
 * key k (if any) to when (INT64_MIN: none). */
static int removed_event(pdb_wtxn *w, const char *name, MDB_val *k, int64_t when)
{
	MDB_val v;
	int rc = mdb_get(w->t.txn, w->t.db->meta, k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	int64_t was = rc == 0 && v.mv_size == 8 ? (int64_t)pdb__get_be64(v.mv_data) : INT64_MIN;
	return was == when ? 0 : pdb__events_removed(w, name, was, when);
}

int pdb__w_put_removed(pdb_wtxn *w, const char *name, int64_t when)
{
	char buf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1];
	uint8_t b[8];
	MDB_val k;
	int rc;

	if (!w || !name || pdb__removed_key(name, buf, &k) != 0)
		return -EINVAL;
	if ((rc = removed_event(w, name, &k, when)) != 0)
		return rc;
	pdb__put_be64(b, (uint64_t)when);
	if ((rc = put(w, w->t.db->meta, k, pdb__val(b, 8), 0)) != 0)
		return rc;
	/* A removal dated back may be due before the next planned prune:
	 * plan none, so that this commit prunes. */
	if (when < w->now) {
		MDB_val due = pdb__key(PDB__REMOVED_DUE_KEY);
		rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->meta, &due, NULL));
		return rc == PDB_ENOTFOUND ? 0 : rc;
	}
	return 0;
}

/* A member put again is no longer removed. */
static int forget_removed(pdb_wtxn *w, const char *name)
{
	char buf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1];
	MDB_val k;
	int rc;

	if (pdb__removed_key(name, buf, &k) != 0)
		return -EINVAL;
	if ((rc = removed_event(w, name, &k, INT64_MIN)) != 0)
		return rc;
	rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->meta, &k, NULL));
	return rc == PDB_ENOTFOUND ? 0 : rc;
}

/* Forget removals older than PDB_REMOVED_KEEP, so that a store that sees
 * members come and go does not grow without end.  The scan runs only when
 * the oldest removal kept can have expired (and at most every
 * PRUNE_EVERY seconds): after a reload that removed many members, the
 * commits that follow must not each walk them all. */
static int prune_removed(pdb_wtxn *w)
{
	MDB_val k = pdb__val(PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN), v;
	MDB_val due_k = pdb__key(PDB__REMOVED_DUE_KEY), due_v;
	int64_t oldest = INT64_MAX, due;
	MDB_cursor *cur;
	uint8_t b[8];
	int rc;

	rc = mdb_get(w->t.txn, w->t.db->meta, &due_k, &due_v);
	if (rc == 0 && due_v.mv_size == 8 && (int64_t)pdb__get_be64(due_v.mv_data) > w->now)
		return 0;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	if ((rc = pdb__lmdb_err(mdb_cursor_open(w->t.txn, w->t.db->meta, &cur))) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= PDB__REMOVED_PREFIX_LEN ||
		    memcmp(k.mv_data, PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN) != 0)
			break;
		/* A value that is no time is forgotten too: it cannot be read. */
		int64_t when = v.mv_size == 8 ? (int64_t)pdb__get_be64(v.mv_data) : INT64_MIN;
		if (when > w->now - PDB_REMOVED_KEEP) {
			if (when < oldest)
				oldest = when;
			continue;
		}
		/* Its stamp goes with it: the name is no member's now. */
		char gone[PDB_NAME_MAX];
		size_t n = k.mv_size - PDB__REMOVED_PREFIX_LEN;
		if (n > sizeof(gone))
			n = 0;
		memcpy(gone, (const char *)k.mv_data + PDB__REMOVED_PREFIX_LEN, n);
		if ((rc = mdb_cursor_del(cur, 0)) != 0 || (rc = pdb__stamp_forget(w, gone, n)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND && rc != 0)
		return pdb__lmdb_err(rc);
	/* Removals made from now on expire after the oldest one kept. */
	due = oldest == INT64_MAX ? w->now + PDB_REMOVED_KEEP : oldest + PDB_REMOVED_KEEP;
	if (due < w->now + PRUNE_EVERY)
		due = w->now + PRUNE_EVERY;
	pdb__put_be64(b, (uint64_t)due);
	return put(w, w->t.db->meta, due_k, pdb__val(b, 8), 0);
}

/* Double the map, up to the limit.  Only when this process has no read
 * transaction open: LMDB may not remap under a live snapshot. */
static int grow_map(pdb_t *db)
{
	MDB_envinfo info;
	int rc = PDB_EMAPFULL;

	/* Waits for this process's other snapshots to end: they are short,
	 * and LMDB resizes only with none active. */
	pthread_rwlock_wrlock(&db->maplock);
	mdb_env_info(db->env, &info);
	if (info.me_mapsize < db->map_max) {
		size_t next = info.me_mapsize * 2;
		if (next > db->map_max || next < info.me_mapsize)
			next = db->map_max;
		rc = pdb__lmdb_err(mdb_env_set_mapsize(db->env, next));
	}
	pthread_rwlock_unlock(&db->maplock);
	return rc;
}

/* The body of pdb_write and pdb_init: run fn, bump the serial (or set the
 * first one), audit, commit; on a full map grow and start over. */
static int write_run(pdb_t *db, const char *command, pdb_write_fn fn, void *arg,
                      bool init, uint64_t *serial_out)
{
	pdb_wtxn *w;
	int rc;

	if (!db || !command || (!fn && !init))
		return -EINVAL;
	if (db->rdonly)
		return PDB_ERDONLY;
	if (!(w = malloc(sizeof(*w))))
		return -ENOMEM;
	memset(&w->j.seen, 0, sizeof(w->j.seen));
	w->j.before = NULL;
	for (;;) {
		uint64_t serial = 0;

		w->t.db = db;
		w->now = (int64_t)time(NULL);
		w->ev.on = false;
		w->change_len = 0;
		w->change[0] = '\0';
		pthread_rwlock_rdlock(&db->maplock);
		rc = mdb_txn_begin(db->env, NULL, 0, &w->t.txn);
		if (rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			pthread_rwlock_unlock(&db->maplock);
			pdb__adopt_map_size(db);
			pthread_rwlock_rdlock(&db->maplock);
			rc = mdb_txn_begin(db->env, NULL, 0, &w->t.txn);
		}
		if ((rc = pdb__lmdb_err(rc)) != 0) {
			pthread_rwlock_unlock(&db->maplock);
			break;
		}
		if (init) {
			MDB_val v;
			MDB_val k = pdb__key("format");
			rc = mdb_get(w->t.txn, db->meta, &k, &v) == 0 ? PDB_EEXIST : 0;
			if (rc == 0)
				rc = put_format(w);
			serial = (uint64_t)w->now;
			if (rc == 0)
				rc = pdb_w_change(w, "initialised the store (format %d)", PDB_FORMAT_VERSION);
			if (rc == 0)
				rc = pdb__journal_begin(w, serial);
			if (rc == 0)
				rc = pdb__events_begin(w, 0, serial);
		} else {
			rc = pdb_serial(&w->t, &serial);
			serial++;
			if (rc == 0)
				rc = pdb__journal_begin(w, serial);
			if (rc == 0)
				rc = pdb__events_begin(w, serial - 1, serial);
			if (rc == 0)
				rc = fn(w, arg);
			if (rc == 0)
				rc = prune_removed(w);
		}
		if (rc == 0)
			rc = pdb__journal_commit(w);
		uint32_t max = 0;
		if (rc == 0)
			rc = pdb_journal_max(&w->t, &max);
		if (rc == 0)
			rc = pdb__events_commit(w, serial, max);
		if (rc == 0)
			rc = put_serial(w, serial);
		if (rc == 0)
			rc = pdb__audit_append(w, serial, command);
		if (rc == 0) {
			rc = pdb__commit_err(db, mdb_txn_commit(w->t.txn));
		} else {
			mdb_txn_abort(w->t.txn);
		}
		w->t.txn = NULL;
		pdb__journal_end(w);
		pthread_rwlock_unlock(&db->maplock);
		if (rc == 0 && serial_out)
			*serial_out = serial;
		if (rc != PDB_EMAPFULL || grow_map(db) != 0)
			break;
	}
	pdb__journal_free(w);
	free(w);
	return rc;
}

int pdb_init(pdb_t *db, const char *command)
{
	return write_run(db, command, NULL, NULL, true, NULL);
}

int pdb_write(pdb_t *db, const char *command, pdb_write_fn fn, void *arg, uint64_t *serial_out)
{
	return write_run(db, command, fn, arg, false, serial_out);
}

int pdb_w_change(pdb_wtxn *w, const char *fmt, ...)
{
	size_t room;
	va_list ap;
	int n;

	if (!w || !fmt)
		return -EINVAL;
	if (w->change_len >= PDB__AUDIT_TEXT_MAX)
		return 0;
	if (w->change_len > 0)
		w->change[w->change_len++] = ';', w->change[w->change_len] = '\0';
	room = PDB__AUDIT_TEXT_MAX + 1 - w->change_len;
	va_start(ap, fmt);
	n = vsnprintf(w->change + w->change_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= room) {
		w->change_len = PDB__AUDIT_TEXT_MAX;
		memcpy(w->change + PDB__AUDIT_TEXT_MAX - 3, "...", 3);
	} else {
		w->change_len += (size_t)n;
	}
	return 0;
}

int pdb_w_put_member(pdb_wtxn *w, const char *name, const struct pdb_member *m)
{
	uint8_t *rec;
	size_t len;
	int rc;

	if (!w || !name || !m)
		return -EINVAL;
	if (!(rec = malloc(PDB_RECORD_MAX)))
		return -ENOMEM;
	rc = pdb_member_encode(m, rec, PDB_RECORD_MAX, &len);
	if (rc == 0)
		rc = pdb_w_put_member_raw(w, name, rec, len, false);
	free(rec);
	return rc;
}

int pdb_w_put_member_raw(pdb_wtxn *w, const char *name, const void *rec, size_t len, bool append)
{
	struct pdb_member m;
	int rc;

	if (!w || !name || !rec)
		return -EINVAL;
	if (!pdb__name_plausible(name, strlen(name)))
		return PDB_EBADNAME;
	if (pdb_member_decode(rec, len, &m) != 0)
		return -EINVAL;
	MDB_val k = pdb__key(name), v = pdb__val(rec, len), old;
	int64_t was = 0;
	if (!append) {
		if ((rc = mdb_get(w->t.txn, w->t.db->member, &k, &old)) == 0)
			was = pdb__member_event(old.mv_data, old.mv_size);
		else if (rc != MDB_NOTFOUND)
			return pdb__lmdb_err(rc);
	}
	if ((rc = pdb__events_member(w, name, was, pdb_member_valid_until(&m))) != 0)
		return rc;
	/* The record before is read before it is replaced; under APPEND
	 * there is none, and the item waits until the put has shown that. */
	if (!append && (rc = pdb__journal_member(w, name, &v, false)) != 0)
		return rc;
	rc = mdb_put(w->t.txn, w->t.db->member, &k, &v, append ? MDB_APPEND : 0);
	/* KEYEXIST under APPEND: the name does not sort after the last one. */
	if (rc != 0)
		return rc == MDB_KEYEXIST ? -EINVAL : pdb__lmdb_err(rc);
	if (append && (rc = pdb__journal_member(w, name, &v, true)) != 0)
		return rc;
	return forget_removed(w, name);
}


int pdb_w_del_member(pdb_wtxn *w, const char *name)
{
	MDB_val k;
	MDB_cursor *cur;
	MDB_val ck, cv;
	int rc;

	if (!w || !name)
		return -EINVAL;
	k = pdb__key(name);
	if ((rc = mdb_get(w->t.txn, w->t.db->member, &k, &ck)) != 0 && rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	if (rc == 0 && (rc = pdb__events_member(w, name, pdb__member_event(ck.mv_data, ck.mv_size),
	                                        0)) != 0)
		return rc;
	if ((rc = pdb__journal_member(w, name, NULL, false)) != 0 ||
	    (rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->member, &k, NULL))) != 0 ||
	    (rc = pdb__w_put_removed(w, name, w->now)) != 0)
		return rc;
	/* Its overrides go with it: an override on a name that is no member
	 * would come back to life if the name were added again. */
	if ((rc = pdb__lmdb_err(mdb_cursor_open(w->t.txn, w->t.db->override, &cur))) != 0)
		return rc;
	size_t nl = k.mv_size;
	for (rc = mdb_cursor_get(cur, &ck, &cv, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT)) {
		const char *p = ck.mv_data, *nul = memchr(p, '\0', ck.mv_size);
		if (!nul)
			continue;
		size_t la = (size_t)(nul - p), lb = ck.mv_size - la - 1;
		if ((la == nl && memcmp(p, name, nl) == 0) ||
		    (lb == nl && memcmp(nul + 1, name, nl) == 0)) {
			if ((rc = pdb__journal_override(w, &ck, NULL)) != 0) {
				mdb_cursor_close(cur);
				return rc;
			}
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

int pdb_w_put_override(pdb_wtxn *w, const char *a, const char *b, enum pdb_override ov)
{
	char buf[2 * PDB_NAME_MAX + 2];
	MDB_val k;
	uint8_t v = (uint8_t)ov;
	int rc;

	if (!w || !a || !b || ov > PDB_OVERRIDE_DENY)
		return -EINVAL;
	if (pdb__override_key(a, b, buf, &k) != 0)
		return -EINVAL;
	MDB_val nv = pdb__val(&v, 1);
	if ((rc = pdb__journal_override(w, &k, ov == PDB_OVERRIDE_NONE ? NULL : &nv)) != 0)
		return rc;
	if (ov == PDB_OVERRIDE_NONE) {
		rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->override, &k, NULL));
		return rc == PDB_ENOTFOUND ? 0 : rc;
	}
	return put(w, w->t.db->override, k, pdb__val(&v, 1), 0);
}

int pdb_w_put_community(pdb_wtxn *w, const struct pdb_community *c)
{
	uint8_t *rec;
	size_t len;
	int rc;

	if (!w || !c)
		return -EINVAL;
	if (!(rec = malloc(PDB_RECORD_MAX)))
		return -ENOMEM;
	rc = pdb_community_encode(c, rec, PDB_RECORD_MAX, &len);
	if (rc == 0) {
		MDB_val nv = pdb__val(rec, len);
		rc = pdb__journal_community(w, &nv);
	}
	if (rc == 0)
		rc = put(w, w->t.db->meta, pdb__key("community"), pdb__val(rec, len), 0);
	free(rec);
	return rc;
}

static int clear_keep_removal(void *arg, const char *name, const void *rec, size_t len)
{
	pdb_wtxn *w = arg;
	int rc = pdb__events_member(w, name, pdb__member_event(rec, len), 0);

	return rc ? rc : pdb__w_put_removed(w, name, w->now);
}

int pdb_w_clear(pdb_wtxn *w)
{
	MDB_val k = pdb__key("community");
	int rc;

	if (!w)
		return -EINVAL;
	if ((rc = pdb__journal_clear(w)) != 0 ||
	    (rc = pdb_walk_member_records(&w->t, clear_keep_removal, w)) != 0 ||
	    (rc = pdb__lmdb_err(mdb_drop(w->t.txn, w->t.db->member, 0))) != 0 ||
	    (rc = pdb__lmdb_err(mdb_drop(w->t.txn, w->t.db->override, 0))) != 0)
		return rc;
	rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->meta, &k, NULL));
	return rc == PDB_ENOTFOUND ? 0 : rc;
}
