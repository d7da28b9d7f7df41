/* OpenSSL's reason for a failure, as text for an error message. */
#ifndef CH_SSLERR_H
#define CH_SSLERR_H

#include <stddef.h>

/** Take the earliest error from this thread's OpenSSL error queue, write
 * its text into buf (len bytes, truncated to fit) and empty the queue, so
 * that a later failure does not report this one.  Returns buf, or none
 * (which the caller owns) when the queue held no error. */
const char *ch_ssl_reason(char *buf, size_t len, const char *none);

#endif
