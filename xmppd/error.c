#include <string.h>

#include "xmppd.h"

const char *xmppd_strerror(int err)
{
	switch (err) {
	case 0:             return "no error";
	case XMPPD_EADDR:   return "not an ADDR:PORT with a literal address";
	case XMPPD_ECONFIG: return "the configuration is not valid";
	case XMPPD_ETLS:    return "the certificate, key or CA bundle was refused";
	}
	if (err < -1000 && err > -2000)
		return pdb_strerror(err);
	if (err < 0 && err > -1000)
		return uv_strerror(err) ? uv_strerror(err) : strerror(-err);
	return "unknown error";
}
