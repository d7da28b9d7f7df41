/* The metrics of dnsd: counted per engine (per thread) on the query path
 * with plain adds, summed over every engine at scrape time. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Slot 0 is every type not named here. */
static const char *const qnames[DNSD_STATS_QTYPES] = {
	"other", "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "DS", "RRSIG", "NSEC",
	"DNSKEY", "TLSA", "CDS", "CDNSKEY", "IXFR", "AXFR", "ANY",
};

const uint8_t dnsd__stats_qtype_slot[256] = {
	[LDNS_RR_TYPE_A] = 1,       [LDNS_RR_TYPE_NS] = 2,     [LDNS_RR_TYPE_CNAME] = 3,
	[LDNS_RR_TYPE_SOA] = 4,     [LDNS_RR_TYPE_PTR] = 5,    [LDNS_RR_TYPE_MX] = 6,
	[LDNS_RR_TYPE_TXT] = 7,     [LDNS_RR_TYPE_AAAA] = 8,   [LDNS_RR_TYPE_SRV] = 9,
	[LDNS_RR_TYPE_DS] = 10,     [LDNS_RR_TYPE_RRSIG] = 11, [LDNS_RR_TYPE_NSEC] = 12,
	[LDNS_RR_TYPE_DNSKEY] = 13, [LDNS_RR_TYPE_TLSA] = 14,  [LDNS_RR_TYPE_CDS] = 15,
	[LDNS_RR_TYPE_CDNSKEY] = 16, [LDNS_RR_TYPE_IXFR] = 17, [LDNS_RR_TYPE_AXFR] = 18,
	[LDNS_RR_TYPE_ANY] = 19,
};

static const char *const rcodes[DNSD_STATS_RCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
	"BADVERS", "other",
};

static const char *const outcomes[DNSD_OUTCOME_N] = {
	NULL, "clearinghouse_only", "with_fallback", "unknown", "inactive", "removed",
};

/* The full RCODE of a response: the header's four bits and, when it has
 * an OPT, the eight above them from its TTL field (RFC 6891 6.1.3). */
unsigned dnsd__stats_rcode_ext(const uint8_t *wire, size_t len)
{
	unsigned rc = LDNS_RCODE_WIRE(wire);
	size_t off = LDNS_HEADER_SIZE;
	unsigned counts = (unsigned)LDNS_QDCOUNT(wire) + LDNS_ANCOUNT(wire) + LDNS_NSCOUNT(wire);
	unsigned ar = LDNS_ARCOUNT(wire);

	if (ar == 0)
		return rc;
	for (unsigned i = 0; i < counts + ar; i++) {
		if (!dnsd__name_read(wire, len, &off, NULL, NULL))
			return rc;
		if (i < (unsigned)LDNS_QDCOUNT(wire)) {
			off += 4;
			continue;
		}
		if (off + 10 > len)
			return rc;
		uint16_t type = (uint16_t)(wire[off] << 8 | wire[off + 1]);
		if (i >= counts && type == LDNS_RR_TYPE_OPT) {
			rc |= (unsigned)wire[off + 4] << 4;
			break;
		}
		off += 10 + (size_t)(wire[off + 8] << 8 | wire[off + 9]);
	}
	return rc < 17 ? rc : DNSD_STATS_RCODES - 1;
}

/* The sum of one counter over every engine, by its offset in the stats. */
static uint64_t sum(dnsd_engine *const *e, size_t n, size_t off)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += ch_counter_get((const uint64_t *)((const char *)&e[i]->stats + off));
	return total;
}

#define SUM(field) sum(engines, n, offsetof(struct dnsd_stats, field))

static void render_by(struct ch_text *t, dnsd_engine *const *engines, size_t n, const char *name,
                      const char *label, const char *const *words, size_t nwords, size_t base)
{
	char labels[64];
	for (size_t i = 0; i < nwords; i++) {
		if (!words[i])
			continue;
		uint64_t v = sum(engines, n, base + i * sizeof(uint64_t));
		snprintf(labels, sizeof(labels), "%s=\"%s\"", label, words[i]);
		ch_metric_sample(t, name, labels, v);
	}
}

void dnsd_metrics_render(dnsd_engine *const *engines, size_t n, const struct dnsd_rrl_stats *rrl,
                         struct ch_text *t)
{
	uint64_t serial = 0;

	if (!engines || !t)
		return;

	ch_metric_family(t, "dnsd_queries_total", "counter", "Queries answered, by transport.");
	ch_metric_sample(t, "dnsd_queries_total", "transport=\"udp\"", SUM(queries[0]));
	ch_metric_sample(t, "dnsd_queries_total", "transport=\"tcp\"", SUM(queries[1]));
	ch_metric_family(t, "dnsd_queries_by_type_total", "counter", "Queries, by query type.");
	render_by(t, engines, n, "dnsd_queries_by_type_total", "type", qnames, DNSD_STATS_QTYPES,
	          offsetof(struct dnsd_stats, qtype));
	ch_metric_family(t, "dnsd_responses_total", "counter", "Responses, by RCODE.");
	render_by(t, engines, n, "dnsd_responses_total", "rcode", rcodes, DNSD_STATS_RCODES,
	          offsetof(struct dnsd_stats, rcode));
	ch_metric_family(t, "dnsd_policy_answers_total", "counter",
	                 "Answers for members' SRV names, by what the policy made of them.");
	render_by(t, engines, n, "dnsd_policy_answers_total", "outcome", outcomes, DNSD_OUTCOME_N,
	          offsetof(struct dnsd_stats, outcome));
	ch_metric_family(t, "dnsd_cache_hits_total", "counter", "Answers served from the answer cache.");
	ch_metric_sample(t, "dnsd_cache_hits_total", NULL, SUM(cache_hits));
	ch_metric_family(t, "dnsd_cache_misses_total", "counter", "Answers rendered anew.");
	ch_metric_sample(t, "dnsd_cache_misses_total", NULL, SUM(cache_misses));
	ch_metric_family(t, "dnsd_tcp_connections_total", "counter",
	                 "TCP connections, accepted or refused at tcp-max.");
	ch_metric_sample(t, "dnsd_tcp_connections_total", "result=\"accepted\"", SUM(tcp_accepted));
	ch_metric_sample(t, "dnsd_tcp_connections_total", "result=\"refused\"", SUM(tcp_refused));
	ch_metric_family(t, "dnsd_tcp_connections_open", "gauge", "TCP connections open now.");
	ch_metric_sample(t, "dnsd_tcp_connections_open", NULL, SUM(tcp_open));
	for (size_t i = 0; i < n; i++) {
		uint64_t s = ch_counter_get(&engines[i]->stats.serial);
		serial = s > serial ? s : serial;
	}
	if (rrl) {
		ch_metric_family(t, "dnsd_rrl_answers_total", "counter",
		                 "UDP answers rate limiting held back: dropped, sent truncated "
		                 "(slipped), or let go from an exempt source.");
		ch_metric_sample(t, "dnsd_rrl_answers_total", "action=\"dropped\"", rrl->dropped);
		ch_metric_sample(t, "dnsd_rrl_answers_total", "action=\"slipped\"", rrl->slipped);
		ch_metric_sample(t, "dnsd_rrl_answers_total", "action=\"exempted\"", rrl->exempted);
	}
	ch_metric_family(t, "dnsd_policy_serial", "gauge",
	                 "The newest policy store serial any thread has answered from.");
	ch_metric_sample(t, "dnsd_policy_serial", NULL, serial);
}
