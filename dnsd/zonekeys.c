/* What the answer builders, the denial and the signer all need of the
 * DNSSEC settings, below all three: the engine's clock, whether an answer
 * goes out signed, the keys of an apex now, and the records made of them
 * at an apex (DNSKEY, CDS, CDNSKEY). */
#include <time.h>

#include "internal.h"

/* The answer being built changes by itself at time t, with no commit. */
void dnsd__hold_until(struct dnsd_query *x, int64_t t)
{
	if (!x->until || t < x->until)
		x->until = t;
}

int64_t dnsd__now(const dnsd_engine *e)
{
	if (e->in_batch)
		return e->batch_now;
	return e->clock ? e->clock(e->clock_arg) : (int64_t)time(NULL);
}

void dnsd__engine_set_clock(dnsd_engine *e, int64_t (*now)(void *arg), void *arg)
{
	e->clock = now;
	e->clock_arg = arg;
}

bool dnsd__signing(const struct dnsd_query *x)
{
	return x->e->dnssec.keys && ldns_pkt_edns(x->q) && ldns_pkt_edns_do(x->q);
}

int dnsd__zone_keys(const struct dnsd_query *x, const ldns_rdf *apex, struct dnsd_zone_keys *zk)
{
	const ldns_rdf *community = x->community ? x->community->apex : NULL;
	int rc;

	if (!x->e->dnssec.keys)
		return DNSD_EKEY;
	/* An apex whose keys cannot sign goes out unsigned (the start-up
	 * checks keep that from happening to a configured one). */
	rc = dnsd_keyset_at(x->e->dnssec.keys, apex, community, x->now, zk);
	if (rc != 0)
		return rc;
	return zk->nzsk && zk->nksk ? 0 : DNSD_EKEY;
}

static void set_owner(ldns_rr *rr, const ldns_rdf *owner)
{
	ldns_rdf *old = ldns_rr_owner(rr);
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rdf_deep_free(old);
}

bool dnsd__answer_apex_keys(struct dnsd_query *x, const ldns_rdf *apex, uint32_t ttl)
{
	struct dnsd_zone_keys zk;
	ldns_rr_list *cds = NULL, *cdnskey = NULL, *l = NULL;

	if (x->qtype != LDNS_RR_TYPE_DNSKEY && x->qtype != LDNS_RR_TYPE_CDS &&
	    x->qtype != LDNS_RR_TYPE_CDNSKEY)
		return false;
	if (dnsd__zone_keys(x, apex, &zk) != 0)
		return false;
	if (zk.next_change)
		dnsd__hold_until(x, zk.next_change);
	if (x->qtype == LDNS_RR_TYPE_DNSKEY) {
		if (dnsd_keys_dnskey_rrset(&zk, apex, ttl, &l) != 0)
			return false;
	} else {
		if (dnsd_keys_cds_rrsets(&zk, apex, ttl, &cds, &cdnskey) != 0)
			return false;
		l = x->qtype == LDNS_RR_TYPE_CDS ? cds : cdnskey;
		ldns_rr_list_deep_free(x->qtype == LDNS_RR_TYPE_CDS ? cdnskey : cds);
	}
	size_t n = ldns_rr_list_rr_count(l);
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		set_owner(rr, x->qname);   /* as asked, like every answer */
		ldns_pkt_push_rr(x->r, LDNS_SECTION_ANSWER, rr);
	}
	ldns_rr_list_free(l);   /* the records now belong to the packet */
	return n > 0;
}
