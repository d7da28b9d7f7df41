/* Response rate limiting, inside dnsd's core (rrl.c): the table net.c
 * consults for each UDP answer, and what the unit tests reach. */
#ifndef DNSD_RRL_H
#define DNSD_RRL_H

#include "internal.h"

/* The kind of an answer: part of the bucket key, as in Knot DNS's and
 * NSD's limiting, so that a flood of one kind does not starve another. */
enum dnsd_rrl_class {
	DNSD_RRL_POSITIVE,   /* records for the name: keyed by qname */
	DNSD_RRL_NXDOMAIN,   /* keyed by the zone (the SOA's owner) */
	DNSD_RRL_NODATA,     /* keyed by the zone */
	DNSD_RRL_REFERRAL,   /* keyed by the zone cut */
	DNSD_RRL_ERROR,      /* REFUSED, FORMERR, SERVFAIL...: one bucket per prefix */
	DNSD_RRL_ANY,        /* qtype ANY: keyed by qname */
	DNSD_RRL_LARGE,      /* an answer of DNSD_RRL_LARGE_SIZE bytes or more */
};

/* Answers at least this big are a kind of their own: the ones worth the
 * most to an amplification attack. */
#define DNSD_RRL_LARGE_SIZE 1024

enum dnsd_rrl_verdict {
	DNSD_RRL_PASS,       /* send the answer */
	DNSD_RRL_DROP,       /* send nothing */
	DNSD_RRL_SLIP,       /* send it truncated (dnsd__rrl_truncate) */
};

typedef struct dnsd_rrl dnsd_rrl;

/* Slots in each table: a power of two.  At 16 bytes a slot, 1 MiB. */
#define DNSD_RRL_SLOTS (1u << 16)

/* A table of slots buckets (a power of two, at least 8) for conf (copied).
 * Returns 0, -EINVAL, -ENOMEM. */
int dnsd__rrl_new(const struct dnsd_rrl_conf *conf, size_t slots, dnsd_rrl **out);
void dnsd__rrl_free(dnsd_rrl *r);

/* The kind of response resp (len bytes, as dnsd_answer wrote it) and the
 * name its bucket is keyed by (uncompressed, lower case, into name,
 * *name_len; 0 for none).  False if resp is too malformed to say. */
bool dnsd__rrl_classify(const uint8_t *resp, size_t len, enum dnsd_rrl_class *cls, uint8_t *name,
                        size_t *name_len);

/* May response resp to client c go out, at now_ms (any monotonic clock in
 * milliseconds)?  Charges its bucket.  e (may be NULL) is asked, only for
 * an answer over the limit, whether c is a member's querier, when the
 * configuration exempts those.  Counts into the table's stats. */
enum dnsd_rrl_verdict dnsd__rrl_check(dnsd_rrl *r, dnsd_engine *e, const struct dnsd_client *c,
                                      const uint8_t *resp, size_t len, uint64_t now_ms);

/* Cut response resp (len bytes) down, in place, to an empty truncated
 * one: header with TC, the question, and its OPT if it had one.  Returns
 * the new length. */
size_t dnsd__rrl_truncate(uint8_t *resp, size_t len);

/* The table's counters (the caller reads them as dnsd.h says). */
const struct dnsd_rrl_stats *dnsd__rrl_stats(const dnsd_rrl *r);

#endif
