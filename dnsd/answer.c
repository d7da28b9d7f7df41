/* The answers built with ldns: the zone's own data (answer_static), and
 * the pieces every answer uses (RRsets with the owner as asked, the SOA
 * of a negative answer, the addresses of targets). */
#include <string.h>

#include "internal.h"

/* ---- building blocks ---- */

static void rr_set_owner(ldns_rr *rr, const ldns_rdf *owner)
{
	ldns_rdf *old = ldns_rr_owner(rr);
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rdf_deep_free(old);
}

void dnsd__add_rrset(ldns_pkt *r, ldns_pkt_section s, const ldns_dnssec_rrsets *set,
                     const ldns_rdf *owner)
{
	for (const ldns_dnssec_rrs *rrs = set ? set->rrs : NULL; rrs; rrs = rrs->next) {
		ldns_rr *rr = ldns_rr_clone(rrs->rr);
		/* The owner as asked, so that the answer matches the question
		 * byte for byte and compresses against it. */
		if (owner)
			rr_set_owner(rr, owner);
		ldns_pkt_push_rr(r, s, rr);
	}
}

/* The SOA for the authority section of a negative answer: its TTL is the
 * smaller of its own and its minimum field (RFC 2308 section 3); the
 * serial is the one served (serial.c). */
void dnsd__add_soa(struct dnsd_query *x, const struct dnsd_zone *z, ldns_pkt_section s,
                   const ldns_rdf *owner)
{
	ldns_rr *rr = ldns_rr_clone(z->soa->rrs->rr);
	uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));

	if (owner)
		rr_set_owner(rr, owner);
	if (s == LDNS_SECTION_AUTHORITY && min < ldns_rr_ttl(rr))
		ldns_rr_set_ttl(rr, min);
	ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32,
	                                                              dnsd__zone_serial(x, z)), 2));
	ldns_pkt_push_rr(x->r, s, rr);
}

/* Is an RRset of owner and type in the additional section already? */
static bool additional_has(const ldns_pkt *r, const ldns_rdf *owner, ldns_rr_type type)
{
	const ldns_rr_list *l = ldns_pkt_additional(r);

	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		if (ldns_rr_get_type(rr) == type && ldns_dname_compare(ldns_rr_owner(rr), owner) == 0)
			return true;
	}
	return false;
}

static void add_address_rrset(struct dnsd_query *x, ldns_dnssec_name *n, const ldns_rdf *host,
                              ldns_rr_type type)
{
	/* Two targets on one host: its addresses once, or they would count
	 * twice against the size of the answer, and one RRset would be given
	 * as two. */
	if (!additional_has(x->r, host, type))
		dnsd__add_rrset(x->r, LDNS_SECTION_ADDITIONAL, ldns_dnssec_name_find_rrset(n, type), NULL);
}

/* A and AAAA of host from whichever zone has it, for the additional
 * section: the caller then needs no second query. */
void dnsd__add_addresses(struct dnsd_query *x, const ldns_rdf *host)
{
	const struct dnsd_zone *z = dnsd__zone_find(x->e->zones, host);
	ldns_dnssec_name *n = z ? dnsd__zone_name(z, host) : NULL;

	if (!n)
		return;
	add_address_rrset(x, n, host, LDNS_RR_TYPE_A);
	add_address_rrset(x, n, host, LDNS_RR_TYPE_AAAA);
}

/* ---- static answers ---- */

/* The closest delegation between the apex and name, if any: a referral. */
ldns_dnssec_name *dnsd__zone_cut(const struct dnsd_zone *z, const ldns_rdf *name)
{
	ldns_rdf *d = ldns_rdf_clone(name);
	ldns_dnssec_name *cut = NULL;

	while (d && ldns_dname_compare(d, z->apex) != 0) {
		ldns_dnssec_name *n = dnsd__zone_name(z, d);
		if (n && ldns_dnssec_name_find_rrset(n, LDNS_RR_TYPE_NS))
			cut = n;   /* keep going: the highest cut wins */
		ldns_rdf *up = ldns_dname_left_chop(d);
		ldns_rdf_deep_free(d);
		d = up;
	}
	ldns_rdf_deep_free(d);
	return cut;
}

static void answer_referral(struct dnsd_query *x, ldns_dnssec_name *cut)
{
	ldns_dnssec_rrsets *ns = ldns_dnssec_name_find_rrset(cut, LDNS_RR_TYPE_NS);

	ldns_pkt_set_aa(x->r, false);
	dnsd__add_rrset(x->r, LDNS_SECTION_AUTHORITY, ns, NULL);
	for (const ldns_dnssec_rrs *r = ns->rrs; r; r = r->next)
		dnsd__add_addresses(x, ldns_rr_rdf(r->rr, 0));
}

static void answer_nxdomain(struct dnsd_query *x, const struct dnsd_zone *z)
{
	ldns_pkt_set_rcode(x->r, LDNS_RCODE_NXDOMAIN);
	dnsd__add_soa(x, z, LDNS_SECTION_AUTHORITY, NULL);
}

static void answer_nodata(struct dnsd_query *x, const struct dnsd_zone *z)
{
	dnsd__add_soa(x, z, LDNS_SECTION_AUTHORITY, NULL);
}

/* Targets of NS, SRV and MX records get their addresses added. */
static void add_target_addresses(struct dnsd_query *x, const ldns_dnssec_rrsets *set)
{
	int field = set->type == LDNS_RR_TYPE_NS ? 0 : set->type == LDNS_RR_TYPE_MX ? 1 :
	            set->type == LDNS_RR_TYPE_SRV ? 3 : -1;

	for (const ldns_dnssec_rrs *r = set->rrs; field >= 0 && r; r = r->next)
		dnsd__add_addresses(x, ldns_rr_rdf(r->rr, (size_t)field));
}

void dnsd__answer_static(struct dnsd_query *x, const struct dnsd_zone *z)
{
	ldns_dnssec_name *cut = dnsd__zone_cut(z, x->qname), *n;
	ldns_dnssec_rrsets *set;

	/* DS belongs to the parent side of a cut (RFC 4035 3.1.4.1): the
	 * delegation point answers it itself, NODATA when there is none. */
	if (cut && !(x->qtype == LDNS_RR_TYPE_DS &&
	             ldns_dname_compare(ldns_dnssec_name_name(cut), x->qname) == 0)) {
		answer_referral(x, cut);
		return;
	}
	if (ldns_dname_compare(x->qname, z->apex) == 0 &&
	    dnsd__answer_apex_keys(x, z->apex, ldns_rr_ttl(z->soa->rrs->rr)))
		return;
	if (!(n = dnsd__zone_name(z, x->qname))) {
		answer_nxdomain(x, z);
		return;
	}
	if (x->qtype == LDNS_RR_TYPE_ANY) {
		/* RFC 8482: one RRset is enough, and the cheapest to give. */
		set = n->rrsets;
	} else {
		set = ldns_dnssec_name_find_rrset(n, x->qtype);
		if (!set)
			set = ldns_dnssec_name_find_rrset(n, LDNS_RR_TYPE_CNAME);
	}
	if (!set) {
		answer_nodata(x, z);
		return;
	}
	if (set->type == LDNS_RR_TYPE_SOA) {
		dnsd__add_soa(x, z, LDNS_SECTION_ANSWER, x->qname);
		return;
	}
	dnsd__add_rrset(x->r, LDNS_SECTION_ANSWER, set, x->qname);
	add_target_addresses(x, set);
}

