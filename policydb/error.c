/* pdb_strerror: one sentence for every error policydb returns. */
#include <errno.h>
#include <string.h>

#include "policydb.h"

const char *pdb_strerror(int err)
{
	switch (err) {
	case 0:             return "success";
	case PDB_EBADNAME:  return "not a valid domain name";
	case PDB_ENOTFOUND: return "not found";
	case PDB_ENOTSTORE: return "not a policy store (run 'policyctl init' to make one)";
	case PDB_ENEWER:    return "the store was written by a newer version of this software";
	case PDB_ECORRUPT:  return "a stored record is corrupt or of a foreign kind";
	case PDB_EMAPFULL:  return "the store reached its size limit; nothing was written";
	case PDB_EEXIST:    return "the store is already initialised";
	case PDB_ELIMIT:    return "a value or list is larger than a record may hold";
	case PDB_ERDONLY:   return "the store was opened read-only";
	case PDB_EREADERS:  return "too many readers: stale slots of killed processes, or maxreaders too small";
	case PDB_ELMDB:     return "the LMDB library failed";
	case PDB_EBADTAG:   return "not a valid tag";
	case PDB_ELOCKFILE: return "the store's lock file lock.mdb is not writable (read-only mount or "
	                           "file modes), and readers cannot lock without it: keep the store "
	                           "directory writable, or make only data.mdb read-only";
	case PDB_ETOOOLD:   return "the journal does not reach back to that serial; rebuild from the store";
	case PDB_EAUDITKEY: return "the audit log is keyed, and this writer has no audit key or another one";
	case PDB_ETAMPERED: return "the audit log fails verification: entries were changed, dropped or moved";
	case -ENOSPC:       return "no space left on the store's device; nothing was written";
	}
	if (pdb_err_is_errno(err))
		return strerror(-err);
	return "unknown error";
}
