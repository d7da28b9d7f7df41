/* Internal to dnsd's core: shared by zone.c, query.c, policy.c, net.c. */
#ifndef DNSD_INTERNAL_H
#define DNSD_INTERNAL_H

#include <ldns/ldns.h>

#include "dnsd.h"

struct dnsd_zone {
	ldns_dnssec_zone *z;
	const ldns_rdf *apex;          /* owner of the SOA */
	ldns_dnssec_rrsets *soa, *ns;  /* at the apex */
};

struct dnsd_zones {
	struct dnsd_zone *v;
	size_t n;
};

/* The zone whose apex is the longest suffix of name, or NULL. */
const struct dnsd_zone *dnsd__zone_find(const dnsd_zones *zs, const ldns_rdf *name);
/* The zone with this apex (text, no trailing dot needed), or NULL. */
const struct dnsd_zone *dnsd__zone_by_name(const dnsd_zones *zs, const char *apex);
/* The name in the zone's tree (with its rrsets; none for an empty
 * non-terminal), or NULL if the zone has no such name. */
ldns_dnssec_name *dnsd__zone_name(const struct dnsd_zone *z, const ldns_rdf *name);

/* A querier prefix and the member it serves: the views of dnsd. */
struct dnsd_view {
	struct pdb_addr prefix;
	char member[PDB_NAME_MAX + 1];
};

struct dnsd_engine {
	const dnsd_zones *zones;
	pdb_t *db;
	pdb_txn *txn;                 /* reset between queries */
	uint64_t views_serial;        /* the serial the views were built at */
	struct dnsd_view *views;
	size_t nviews, views_cap;
};

/* One query being answered. */
struct dnsd_query {
	dnsd_engine *e;
	const struct dnsd_client *client;
	ldns_pkt *q, *r;
	const ldns_rdf *qname;        /* as asked: its case is kept */
	ldns_rr_type qtype;
	uint64_t serial;
	struct pdb_community c;       /* valid when have_c */
	bool have_c;
	const struct dnsd_zone *community;  /* the zone of c, if served */
	int64_t now;
};

/* If qname is one the policy store speaks for, answer it into x->r and
 * set *done.  Returns 0 or a policy store error. */
int dnsd__policy_answer(struct dnsd_query *x, const struct dnsd_zone *z, bool *done);

/* Helpers the answer builders share (query.c). */
void dnsd__add_rrset(ldns_pkt *r, ldns_pkt_section s, const ldns_dnssec_rrsets *set,
                     const ldns_rdf *owner);
void dnsd__add_soa(struct dnsd_query *x, const struct dnsd_zone *z, ldns_pkt_section s,
                   const ldns_rdf *owner);
void dnsd__add_addresses(struct dnsd_query *x, const ldns_rdf *host);
uint32_t dnsd__soa_serial(const struct dnsd_query *x);

#endif
