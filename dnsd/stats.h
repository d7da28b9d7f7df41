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
	uint64_t qtype[DNSD_STATS_QTYPES];     /* slot 0: other types */
	uint64_t rcode[DNSD_STATS_RCODES];
	uint64_t outcome[DNSD_OUTCOME_N];
	uint64_t cache_hits, cache_misses;
	uint64_t tcp_accepted, tcp_refused;   /* connections (the main thread's engine) */
	uint64_t tcp_open;                    /* gauge */
	uint64_t serial;                      /* gauge: the store serial last answered from */
};

/* The slot of each query type below 256 (all those counted by name are);
 * slot 0, "other", for the rest (stats.c). */
extern const uint8_t dnsd__stats_qtype_slot[256];
/* The full RCODE of a response whose OPT may carry extended bits. */
unsigned dnsd__stats_rcode_ext(const uint8_t *wire, size_t len);

/* Count one answered query: its transport, type, the RCODE of the
 * response (wire, len bytes: none counted if len is 0; with ext, the
 * extended bits are looked for in its OPT) and the outcome.  Inline: it
 * is on every query's path, a table lookup and four adds. */
static inline void dnsd__stats_query(struct dnsd_stats *s, bool tcp, uint16_t qtype,
                                     const uint8_t *wire, size_t len, bool ext,
                                     enum dnsd_outcome outcome)
{
	ch_counter_add(&s->queries[tcp], 1);
	ch_counter_add(&s->qtype[qtype < 256 ? dnsd__stats_qtype_slot[qtype] : 0], 1);
	if (len >= 12)
		ch_counter_add(&s->rcode[ext ? dnsd__stats_rcode_ext(wire, len) : (wire[3] & 0x0fu)], 1);
	if (outcome != DNSD_OUTCOME_NONE)
		ch_counter_add(&s->outcome[outcome], 1);
}

#endif
