/* pf_strerror: the words for this library's errors. */
#include <string.h>

#include "policyfile.h"

const char *pf_strerror(int err)
{
	switch (err) {
	case 0:           return "success";
	case PF_EINVALID: return "not a valid policy file or value";
	}
	if (pdb_err_is_pdb(err))
		return pdb_strerror(err);
	if (pdb_err_is_errno(err))
		return strerror(-err);
	return "unknown error";
}
