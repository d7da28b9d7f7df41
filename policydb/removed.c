/* Reading the removals of members that the writer keeps in meta (see
 * "removed members" in policydb.h). */
#include <errno.h>
#include <string.h>

#include "internal.h"

int pdb__removed_key(const char *name, char buf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1],
                     MDB_val *k)
{
	size_t n = strlen(name);

	if (n == 0 || n > PDB_NAME_MAX)
		return -EINVAL;
	memcpy(buf, PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN);
	memcpy(buf + PDB__REMOVED_PREFIX_LEN, name, n);
	*k = pdb__val(buf, PDB__REMOVED_PREFIX_LEN + n);
	return 0;
}

static int removed_time(const MDB_val *v, int64_t *when)
{
	if (v->mv_size != 8)
		return PDB_ECORRUPT;
	*when = (int64_t)pdb__get_be64(v->mv_data);
	return 0;
}

int pdb_get_removed(pdb_txn *t, const char *name, int64_t *when)
{
	char buf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1];
	MDB_val k, v;
	int rc;

	if (!t || !name || !when)
		return -EINVAL;
	if (pdb__removed_key(name, buf, &k) != 0)
		return PDB_ENOTFOUND;
	if ((rc = pdb__lmdb_err(mdb_get(t->txn, t->db->meta, &k, &v))) != 0)
		return rc;
	return removed_time(&v, when);
}

int pdb_walk_removed(pdb_txn *t, pdb_removed_fn fn, void *arg)
{
	MDB_val k = pdb__val(PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN), v;
	char name[PDB_NAME_MAX + 1];
	MDB_cursor *cur;
	int64_t when;
	int rc, mrc;

	if (!t || !fn)
		return -EINVAL;
	if ((rc = pdb__lmdb_err(mdb_cursor_open(t->txn, t->db->meta, &cur))) != 0)
		return rc;
	rc = 0;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t n = k.mv_size - PDB__REMOVED_PREFIX_LEN;
		/* Keys sort byte-wise: the first without the prefix ends them. */
		if (k.mv_size <= PDB__REMOVED_PREFIX_LEN ||
		    memcmp(k.mv_data, PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN) != 0)
			break;
		if (n > PDB_NAME_MAX || removed_time(&v, &when) != 0) {
			rc = PDB_ECORRUPT;
			break;
		}
		memcpy(name, (const char *)k.mv_data + PDB__REMOVED_PREFIX_LEN, n);
		name[n] = '\0';
		rc = fn(arg, name, when);
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	return mrc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(mrc);
}
