/* OpenSSL error texts. */
#include <openssl/err.h>

#include "sslerr.h"

const char *ch_ssl_reason(char *buf, size_t len, const char *none)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e || !buf || len == 0)
		return none;
	ERR_error_string_n(e, buf, len);
	return buf;
}
