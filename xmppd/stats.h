/* What xmppd counts, for the metrics endpoint (stats.c).  The server's
 * loop thread is the only writer (ch_counter_add); the scrape thread
 * reads. */
#ifndef XMPPD_STATS_H
#define XMPPD_STATS_H

#include <stdint.h>

#include "metrics.h"

/* Pairs of outcome and rule counted apart; the rules are a fixed set of
 * the policy's and of the stream errors', so this is never reached. */
#define XMPPD_STATS_PAIRS 64

struct xmppd_verdict;

struct xmppd_stats {
	struct {
		const char *outcome, *rule;   /* static strings, set before npairs counts them */
		uint64_t n;
	} streams[XMPPD_STATS_PAIRS];
	uint32_t npairs;
	uint64_t streams_other;           /* past XMPPD_STATS_PAIRS */
	uint64_t redirects;               /* see-other-host said */
	uint64_t relays_opened, relays_closed;
	uint64_t bytes_relayed;
	uint64_t tls_ok, tls_failed;      /* handshakes on our side */
	uint64_t cut_for_room;            /* set-up connections cut at conn-max */
};

/* Count one decision (or stream error) as logged. */
void xmppd__stats_decision(struct xmppd_stats *s, const struct xmppd_verdict *v);

#endif
