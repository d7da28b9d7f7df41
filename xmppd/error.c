/* xmppd_strerror: one sentence for every error xmppd returns, by the
 * ranges of policydb.h. */
#include <uv.h>

#include "xmppd.h"

const char *xmppd_strerror(int err)
{
	switch (err) {
	case 0:             return "success";
	case XMPPD_EADDR:   return "not an ADDR:PORT with a literal address";
	case XMPPD_ECONFIG: return "the configuration is not valid";
	case XMPPD_ETLS:    return "the certificate, key or CA bundle was refused";
	}
	if (pdb_err_is_pdb(err))
		return pdb_strerror(err);
	if (pdb_err_is_errno(err))
		return uv_strerror(err);
	return "unknown error";
}
