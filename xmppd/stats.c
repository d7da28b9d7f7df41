/* The metrics of xmppd: counted on the loop thread, read at scrape. */
#include <stdio.h>
#include <string.h>

#include "conn.h"

void xmppd__stats_decision(struct xmppd_stats *s, const struct xmppd_verdict *v)
{
	const char *outcome = v->outcome ? v->outcome : "error";
	const char *rule = v->rule ? v->rule : "-";
	uint32_t n = s->npairs, i;

	if (!v->relay && v->cond == XMPPD_COND_SEE_OTHER_HOST)
		ch_counter_add(&s->redirects, 1);
	for (i = 0; i < n; i++)
		if (strcmp(s->streams[i].outcome, outcome) == 0 && strcmp(s->streams[i].rule, rule) == 0)
			break;
	if (i == n) {
		if (n == XMPPD_STATS_PAIRS) {
			ch_counter_add(&s->streams_other, 1);
			return;
		}
		/* The strings are in place before the scrape thread can see
		 * the new pair. */
		s->streams[n].outcome = outcome;
		s->streams[n].rule = rule;
		__atomic_store_n(&s->npairs, n + 1, __ATOMIC_RELEASE);
	}
	ch_counter_add(&s->streams[i].n, 1);
}

/* A label value from our own fixed words: the rule names are policy and
 * stream-error words, which need no escaping; anything else is "-". */
static const char *label_word(const char *w)
{
	return strspn(w, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(w) ? w : "-";
}

void xmppd_metrics_render(xmppd_server *srv, struct ch_text *t)
{
	const struct xmppd_stats *s;
	char labels[160];

	if (!srv || !t)
		return;
	s = &srv->stats;
	uint32_t n = __atomic_load_n(&s->npairs, __ATOMIC_ACQUIRE);
	ch_metric_family(t, "xmppd_streams_total", "counter",
	                 "Streams decided or ended with a stream error, by outcome and rule.");
	for (uint32_t i = 0; i < n; i++) {
		snprintf(labels, sizeof(labels), "outcome=\"%s\",rule=\"%s\"",
		         label_word(s->streams[i].outcome), label_word(s->streams[i].rule));
		ch_metric_sample(t, "xmppd_streams_total", labels, ch_counter_get(&s->streams[i].n));
	}
	if (ch_counter_get(&s->streams_other))
		ch_metric_sample(t, "xmppd_streams_total", "outcome=\"other\",rule=\"other\"",
		                 ch_counter_get(&s->streams_other));
	ch_metric_family(t, "xmppd_redirects_total", "counter", "see-other-host answers given.");
	ch_metric_sample(t, "xmppd_redirects_total", NULL, ch_counter_get(&s->redirects));
	uint64_t opened = ch_counter_get(&s->relays_opened), closed = ch_counter_get(&s->relays_closed);
	ch_metric_family(t, "xmppd_relays_opened_total", "counter", "Relayed streams spliced.");
	ch_metric_sample(t, "xmppd_relays_opened_total", NULL, opened);
	ch_metric_family(t, "xmppd_relays_open", "gauge", "Relayed streams open now.");
	ch_metric_sample(t, "xmppd_relays_open", NULL, opened >= closed ? opened - closed : 0);
	ch_metric_family(t, "xmppd_relayed_bytes_total", "counter",
	                 "Bytes carried by relays, both ways.");
	ch_metric_sample(t, "xmppd_relayed_bytes_total", NULL, ch_counter_get(&s->bytes_relayed));
	ch_metric_family(t, "xmppd_tls_handshakes_total", "counter",
	                 "TLS handshakes with peers, by result.");
	ch_metric_sample(t, "xmppd_tls_handshakes_total", "result=\"ok\"", ch_counter_get(&s->tls_ok));
	ch_metric_sample(t, "xmppd_tls_handshakes_total", "result=\"failed\"",
	                 ch_counter_get(&s->tls_failed));
	ch_metric_family(t, "xmppd_connections_cut_total", "counter",
	                 "Connections being set up that were cut to make room at conn-max.");
	ch_metric_sample(t, "xmppd_connections_cut_total", NULL, ch_counter_get(&s->cut_for_room));
}
