/* dnsd_strerror: one sentence for every error the core returns, by the
 * ranges of policydb.h. */
#include <uv.h>

#include "dnsd.h"

const char *dnsd_strerror(int err)
{
	switch (err) {
	case 0:            return "success";
	case DNSD_EZONE:   return "a zone file could not be read or is not valid";
	case DNSD_EADDR:   return "not an address to listen on (use 192.0.2.1:53 or [2001:db8::1]:53)";
	case DNSD_ECONFIG: return "the configuration file is not valid";
	case DNSD_EKEY:    return "a DNSSEC key could not be read or is not valid, or no key is active";
	}
	if (pdb_err_is_pdb(err))
		return pdb_strerror(err);
	if (pdb_err_is_errno(err))
		return uv_strerror(err);
	return "unknown error";
}
