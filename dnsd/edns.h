/* EDNS options dnsd adds to its answers (edns.c). */
#ifndef DNSD_EDNS_H
#define DNSD_EDNS_H

#include "internal.h"

/* Add to answer out (*outlen bytes, cap the buffer) of query q (qlen
 * bytes) from c the options it calls for: NSID when q's OPT asks and e
 * has one; EDE 20 "Not Authoritative" to a refusal of a name outside the
 * zones.  Only to an answer with an OPT as its last record (not after a
 * TSIG), only within the size the client takes; else out is unchanged. */
void dnsd__edns_finish(const dnsd_engine *e, const uint8_t *q, size_t qlen,
                       const struct dnsd_client *c, uint8_t *out, size_t cap, size_t *outlen);

#endif
