/* Answering one query: query_process -> answer_query -> answer_static or
 * the policy answers of policy.c -> render, with the protocol manners of
 * RFC 1034/1035, 6891 (EDNS), 2308 (negative answers) and 8482 (ANY). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* RFC 8020 / DNS flag day 2020: the UDP payload we offer and accept. */
#define EDNS_PAYLOAD 1232

int dnsd_engine_new(const dnsd_zones *zones, pdb_t *db, dnsd_engine **out)
{
	dnsd_engine *e;
	int rc;

	if (!zones || !db || !out)
		return -EINVAL;
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->zones = zones;
	e->db = db;
	if ((rc = pdb_read_begin(db, &e->txn)) != 0) {
		free(e);
		return rc;
	}
	pdb_read_reset(e->txn);
	*out = e;
	return 0;
}

void dnsd_engine_free(dnsd_engine *e)
{
	if (!e)
		return;
	pdb_read_end(e->txn);
	free(e->views);
	free(e);
}

void dnsd_engine_set_zones(dnsd_engine *e, const dnsd_zones *zones)
{
	if (e && zones)
		e->zones = zones;
}

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

uint32_t dnsd__soa_serial(const struct dnsd_query *x)
{
	/* RFC 1982 serials are 32 bits; the policy serial starts at a Unix
	 * time and counts commits, so it fits until 2106. */
	return (uint32_t)x->serial;
}

/* The SOA for the authority section of a negative answer: its TTL is the
 * smaller of its own and its minimum field (RFC 2308 section 3); the
 * community zone's serial is the policy serial. */
void dnsd__add_soa(struct dnsd_query *x, const struct dnsd_zone *z, ldns_pkt_section s,
                   const ldns_rdf *owner)
{
	ldns_rr *rr = ldns_rr_clone(z->soa->rrs->rr);
	uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));

	if (owner)
		rr_set_owner(rr, owner);
	if (s == LDNS_SECTION_AUTHORITY && min < ldns_rr_ttl(rr))
		ldns_rr_set_ttl(rr, min);
	if (x->have_c && x->community == z)
		ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32,
		                                                              dnsd__soa_serial(x)), 2));
	ldns_pkt_push_rr(x->r, s, rr);
}

/* A and AAAA of host from whichever zone has it, for the additional
 * section: the caller then needs no second query. */
void dnsd__add_addresses(struct dnsd_query *x, const ldns_rdf *host)
{
	const struct dnsd_zone *z = dnsd__zone_find(x->e->zones, host);
	ldns_dnssec_name *n = z ? dnsd__zone_name(z, host) : NULL;

	if (!n)
		return;
	dnsd__add_rrset(x->r, LDNS_SECTION_ADDITIONAL, ldns_dnssec_name_find_rrset(n, LDNS_RR_TYPE_A), NULL);
	dnsd__add_rrset(x->r, LDNS_SECTION_ADDITIONAL, ldns_dnssec_name_find_rrset(n, LDNS_RR_TYPE_AAAA), NULL);
}

/* ---- static answers ---- */

/* The closest delegation between the apex and name, if any: a referral. */
static ldns_dnssec_name *find_cut(const struct dnsd_zone *z, const ldns_rdf *name)
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

static void answer_static(struct dnsd_query *x, const struct dnsd_zone *z)
{
	ldns_dnssec_name *cut = find_cut(z, x->qname), *n;
	ldns_dnssec_rrsets *set;

	if (cut) {
		answer_referral(x, cut);
		return;
	}
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

/* ---- the pipeline ---- */

/* Take a fresh snapshot of the policy: every query sees the newest
 * commit, so a change is in the very next answer. */
static int policy_snapshot(struct dnsd_query *x)
{
	int rc;

	if ((rc = pdb_read_renew(x->e->txn)) != 0)
		return rc;
	if ((rc = pdb_serial(x->e->txn, &x->serial)) != 0)
		return rc;
	rc = pdb_get_community(x->e->txn, &x->c);
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	x->have_c = true;
	char zone[PDB_NAME_MAX + 1];
	snprintf(zone, sizeof(zone), "%.*s", x->c.zone.len, x->c.zone.p);
	x->community = dnsd__zone_by_name(x->e->zones, zone);
	return 0;
}

static int answer_query(struct dnsd_query *x)
{
	const struct dnsd_zone *z = dnsd__zone_find(x->e->zones, x->qname);
	bool done = false;
	int rc;

	ldns_pkt_set_aa(x->r, true);
	if ((rc = dnsd__policy_answer(x, z, &done)) != 0 || done)
		return rc;
	if (!z) {
		ldns_pkt_set_aa(x->r, false);
		ldns_pkt_set_rcode(x->r, LDNS_RCODE_REFUSED);
		return 0;
	}
	answer_static(x, z);
	return 0;
}

/* An answer to a message too broken to parse: its header only. */
static size_t header_reply(const uint8_t *q, uint8_t rcode, uint8_t *out)
{
	memset(out, 0, LDNS_HEADER_SIZE);
	memcpy(out, q, 2);                        /* ID */
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
	out[3] = rcode & 0x0f;
	return LDNS_HEADER_SIZE;
}

/* The largest response the client takes over UDP (RFC 6891 6.2.5). */
static size_t udp_limit(const ldns_pkt *q)
{
	size_t n = ldns_pkt_edns(q) ? ldns_pkt_edns_udp_size(q) : 512;
	if (n < 512)
		n = 512;
	return n > EDNS_PAYLOAD ? EDNS_PAYLOAD : n;
}

static ldns_pkt *new_response(const ldns_pkt *q)
{
	ldns_pkt *r = ldns_pkt_new();

	if (!r)
		return NULL;
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(r, ldns_pkt_rd(q));
	ldns_pkt_set_cd(r, ldns_pkt_cd(q));
	ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
	if (ldns_pkt_edns(q)) {
		ldns_pkt_set_edns_udp_size(r, EDNS_PAYLOAD);
		ldns_pkt_set_edns_do(r, ldns_pkt_edns_do(q));
	}
	return r;
}

/* Render r into out; over UDP, an answer that does not fit becomes its
 * header and question with TC=1 (RFC 2181 9), and the client retries over
 * TCP. */
static int render(struct dnsd_query *x, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t limit = x->client->tcp ? DNSD_MSG_MAX : udp_limit(x->q), n;
	uint8_t *wire = NULL;

	if (limit > cap)
		limit = cap;
	if (ldns_pkt2wire(&wire, x->r, &n) != LDNS_STATUS_OK)
		return -ENOMEM;
	if (n > limit) {
		ldns_pkt *t = new_response(x->q);
		free(wire);
		wire = NULL;
		if (!t)
			return -ENOMEM;
		ldns_pkt_set_aa(t, ldns_pkt_aa(x->r));
		ldns_pkt_set_rcode(t, ldns_pkt_get_rcode(x->r));
		ldns_pkt_set_tc(t, true);
		ldns_status st = ldns_pkt2wire(&wire, t, &n);
		ldns_pkt_free(t);
		if (st != LDNS_STATUS_OK || n > limit) {
			free(wire);
			return -ENOMEM;
		}
	}
	memcpy(out, wire, n);
	*outlen = n;
	free(wire);
	return 0;
}

int dnsd_answer(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                uint8_t *out, size_t cap, size_t *outlen)
{
	struct dnsd_query x = { .e = e, .client = c };
	int rc = 0;

	if (!e || !q || !c || !out || !outlen || cap < 512)
		return -EINVAL;
	*outlen = 0;
	/* Too short to carry an ID, or a response: silence (RFC 1035 4.1.1;
	 * answering responses invites loops). */
	if (qlen < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q))
		return 0;
	if (LDNS_OPCODE_WIRE(q) != LDNS_PACKET_QUERY) {
		*outlen = header_reply(q, LDNS_RCODE_NOTIMPL, out);
		return 0;
	}
	if (LDNS_QDCOUNT(q) != 1 || LDNS_ANCOUNT(q) != 0 || LDNS_NSCOUNT(q) != 0 ||
	    ldns_wire2pkt(&x.q, q, qlen) != LDNS_STATUS_OK) {
		*outlen = header_reply(q, LDNS_RCODE_FORMERR, out);
		return 0;
	}
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(x.q), 0);
	x.qname = ldns_rr_owner(question);
	x.qtype = ldns_rr_get_type(question);
	x.now = (int64_t)time(NULL);
	if (!(x.r = new_response(x.q))) {
		ldns_pkt_free(x.q);
		return -ENOMEM;
	}
	if (ldns_pkt_edns(x.q) && ldns_pkt_edns_version(x.q) > 0) {
		/* RFC 6891 6.1.3: BADVERS, extended RCODE 16. */
		ldns_pkt_set_edns_extended_rcode(x.r, 1);
	} else if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) {
		ldns_pkt_set_rcode(x.r, LDNS_RCODE_REFUSED);
	} else if (x.qtype == LDNS_RR_TYPE_AXFR || x.qtype == LDNS_RR_TYPE_IXFR) {
		ldns_pkt_set_rcode(x.r, LDNS_RCODE_REFUSED);
	} else if ((rc = policy_snapshot(&x)) == 0) {
		rc = answer_query(&x);
	}
	pdb_read_reset(e->txn);
	if (rc != 0) {
		/* The store failed: say so rather than guess. */
		ldns_pkt_free(x.r);
		x.r = new_response(x.q);
		if (x.r)
			ldns_pkt_set_rcode(x.r, LDNS_RCODE_SERVFAIL);
	}
	int rrc = x.r ? render(&x, out, cap, outlen) : -ENOMEM;
	ldns_pkt_free(x.r);
	ldns_pkt_free(x.q);
	return rc ? rc : rrc;
}
