/* pf_strerror: the words for this library's errors. */
#include "policyfile.h"

const char *pf_strerror(int err)
{
	switch (err) {
	case PF_EINVALID: return "not a valid policy file or value";
	}
	return pdb_strerror(err);
}
