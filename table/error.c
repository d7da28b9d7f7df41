/* table_strerror: the words for this library's errors. */
#include <string.h>

#include "table.h"

const char *table_strerror(int err)
{
	switch (err) {
	case 0:              return "success";
	case TABLE_EINVALID: return "not a valid policy table";
	case TABLE_EKEY:     return "not an Ed25519 or ECDSA P-256 key";
	case TABLE_ESSL:     return "the OpenSSL library failed";
	case TABLE_EBADSIG:  return "the signature does not match";
	}
	if (pdb_err_is_pdb(err))
		return pdb_strerror(err);
	if (pdb_err_is_errno(err))
		return strerror(-err);
	return "unknown error";
}
