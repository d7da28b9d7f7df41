/* What one engine counts, for the metrics endpoint (stats.c).  Each
 * engine's thread is the only writer of its counters (ch_counter_add);
 * the scrape thread sums every engine's. */
#ifndef DNSD_STATS_H
#define DNSD_STATS_H

#include <stdint.h>

#include "metrics.h"

/* What the policy made of a query for a member's SRV name. */
enum dnsd_outcome {
	DNSD_OUTCOME_NONE,       /* not a policy answer */
	DNSD_OUTCOME_CH_ONLY,    /* the clearinghouse only */
	DNSD_OUTCOME_FALLBACK,   /* the clearinghouse, then the member's hosts */
	DNSD_OUTCOME_UNKNOWN,    /* no such member: NXDOMAIN, or REFUSED outside the zones */
	DNSD_OUTCOME_INACTIVE,   /* suspended or expired */
	DNSD_OUTCOME_REMOVED,    /* removed, within the grace of its delegations */
	DNSD_OUTCOME_N
};

/* Query types counted by name; the rest are "other". */
#define DNSD_STATS_QTYPES 20
/* RCODEs 0 to 15 by name, BADVERS (16), and "other". */
#define DNSD_STATS_RCODES 18

struct dnsd_stats {
	uint64_t queries[2];                  /* by transport: UDP, TCP */
	uint64_t qtype[DNSD_STATS_QTYPES];
	uint64_t rcode[DNSD_STATS_RCODES];
	uint64_t outcome[DNSD_OUTCOME_N];
	uint64_t cache_hits, cache_misses;
	uint64_t tcp_accepted, tcp_refused;   /* connections (the main thread's engine) */
	uint64_t tcp_open;                    /* gauge */
	uint64_t serial;                      /* gauge: the store serial last answered from */
};

/* Count one answered query: its transport, type, the RCODE of the
 * response (wire, len bytes: none counted if len is 0) and the outcome. */
void dnsd__stats_query(struct dnsd_stats *s, bool tcp, uint16_t qtype, const uint8_t *wire,
                       size_t len, enum dnsd_outcome outcome);

#endif
