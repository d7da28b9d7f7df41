/* Per-member stamps: the served serial (see "served serials" in
 * policydb.h) at which each member's answers last changed, so that a
 * member's own apex zone can carry a serial of its own, which moves only
 * when its answers can have moved.
 *
 * In meta, like the journal:
 *     "stamp/" name  -> u64 BE: the served serial of its last change
 *     "stamp-all"    -> u64 BE: the last change that may touch every
 *                       member's answers (community settings, the grace,
 *                       a commit whose items the journal did not keep)
 * A member's change is what the journal records for it (an override
 * stamps both its names); a member's time event is stamped by the next
 * commit with the served serial it passed at, and readers add the events
 * since the commit themselves (events.c, pdb_member_stamp).  The stamp of
 * a removal lives until the removal is pruned. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define STAMP_PREFIX "stamp/"
#define STAMP_PREFIX_LEN (sizeof(STAMP_PREFIX) - 1)
#define STAMP_ALL_KEY "stamp-all"

static size_t stamp_key(char buf[STAMP_PREFIX_LEN + PDB_NAME_MAX], const char *name, size_t len)
{
	memcpy(buf, STAMP_PREFIX, STAMP_PREFIX_LEN);
	memcpy(buf + STAMP_PREFIX_LEN, name, len);
	return STAMP_PREFIX_LEN + len;
}

static int put_u64(pdb_wtxn *w, MDB_val k, uint64_t v)
{
	uint8_t b[8];

	pdb__put_be64(b, v);
	MDB_val d = pdb__val(b, 8);
	return pdb__lmdb_err(mdb_put(w->t.txn, w->t.db->meta, &k, &d, 0));
}

static int get_u64(MDB_txn *txn, MDB_dbi meta, MDB_val k, uint64_t *v)
{
	MDB_val d;
	int rc = pdb__lmdb_err(mdb_get(txn, meta, &k, &d));

	if (rc != 0)
		return rc;
	if (d.mv_size != 8)
		return PDB_ECORRUPT;
	*v = pdb__get_be64(d.mv_data);
	return 0;
}

int pdb__stamp_at(pdb_wtxn *w, const char *name, size_t len, uint64_t served)
{
	char kb[STAMP_PREFIX_LEN + PDB_NAME_MAX];

	if (!w->ev.on || len == 0 || len > PDB_NAME_MAX)
		return 0;
	return put_u64(w, pdb__val(kb, stamp_key(kb, name, len)), served);
}

int pdb__stamp(pdb_wtxn *w, const char *name, size_t len)
{
	return pdb__stamp_at(w, name, len, w->ev.served);
}

int pdb__stamp_all(pdb_wtxn *w)
{
	if (!w->ev.on)
		return 0;
	return put_u64(w, pdb__key(STAMP_ALL_KEY), w->ev.served);
}

int pdb__stamp_forget(pdb_wtxn *w, const char *name, size_t len)
{
	char kb[STAMP_PREFIX_LEN + PDB_NAME_MAX];
	int rc;

	if (len == 0 || len > PDB_NAME_MAX)
		return 0;
	MDB_val k = pdb__val(kb, stamp_key(kb, name, len));
	rc = pdb__lmdb_err(mdb_del(w->t.txn, w->t.db->meta, &k, NULL));
	return rc == PDB_ENOTFOUND ? 0 : rc;
}

int pdb__stamp_get(pdb_txn *t, const char *name, size_t len, uint64_t *stamp)
{
	char kb[STAMP_PREFIX_LEN + PDB_NAME_MAX];

	if (len == 0)
		return get_u64(t->txn, t->db->meta, pdb__key(STAMP_ALL_KEY), stamp);
	if (len > PDB_NAME_MAX)
		return PDB_ENOTFOUND;
	return get_u64(t->txn, t->db->meta, pdb__val(kb, stamp_key(kb, name, len)), stamp);
}
