/* Denial of existence without a precomputed chain: minimally covering
 * NSEC records made per answer (RFC 4470, "white lies").  NXDOMAIN stays
 * NXDOMAIN, which operators read as "unknown member": one NSEC covers
 * the next closer name (the qname's ancestor just below the closest
 * encloser), one covers the wildcard at the closest encloser (RFC 4035
 * 3.1.3.2).  NODATA gets the NSEC at the name with the types there; an
 * insecure referral, the NSEC at the cut (NS, no DS).  Each covering NSEC
 * spans only its name and the names below it, so no other name is ever
 * denied, and no chain of the zone can be walked. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* ---- RFC 4470's epsilon functions ---- */

#define NAME_MAX_WIRE 255
#define LABEL_MAX 63

/* Canonical order compares labels in lower case: a byte made by moving
 * another must not fall in A-Z, which would compare as a-z. */
static uint8_t down_one(uint8_t c)
{
	c--;
	return c >= 'A' && c <= 'Z' ? '@' : c;
}

static uint8_t up_one(uint8_t c)
{
	c++;
	return c >= 'A' && c <= 'Z' ? '[' : c;
}

/* Is name a wire name (uncompressed, ending in the root) of len bytes
 * with one label or more before the root? */
static bool wire_ok(const uint8_t *name, size_t len)
{
	size_t off = 0;

	if (len < 2 || len > NAME_MAX_WIRE || name[0] == 0)
		return false;
	while (off < len && name[off] != 0) {
		if (name[off] > LABEL_MAX)
			return false;
		off += 1u + name[off];
	}
	return off == len - 1;
}

/* out = [a label of lab_len bytes: lab] + parent; with a label of one
 * 0xff byte before it if pad. */
static size_t put_name(uint8_t *out, bool pad, const uint8_t *lab, size_t lab_len,
                       const uint8_t *parent, size_t parent_len)
{
	size_t n = 0;

	if (pad) {
		out[n++] = 1;
		out[n++] = 0xff;
	}
	out[n++] = (uint8_t)lab_len;
	memcpy(out + n, lab, lab_len);
	n += lab_len;
	memcpy(out + n, parent, parent_len);
	return n + parent_len;
}

size_t dnsd__nsec_before(const uint8_t *name, size_t len, uint8_t *out, bool *is_parent)
{
	uint8_t lab[LABEL_MAX + 1];

	*is_parent = false;
	if (!wire_ok(name, len))
		return 0;
	size_t l = name[0];
	const uint8_t *parent = name + 1 + l;
	size_t parent_len = len - 1 - l;
	memcpy(lab, name + 1, l);
	if (lab[l - 1] == 0 && l == 1) {
		/* "\000.P" comes right after P: nothing lies between. */
		*is_parent = true;
		memcpy(out, parent, parent_len);
		return parent_len;
	}
	if (lab[l - 1] == 0) {
		/* "ab\000" comes right after "ab" and its subtree, whose last
		 * names all start with 0xff labels. */
		l--;
		return put_name(out, len + 1 <= NAME_MAX_WIRE, lab, l, parent, parent_len);
	}
	lab[l - 1] = down_one(lab[l - 1]);
	/* "foo" -> "fon\377": before "foo", after every label that starts
	 * with "fon" but "fon\377..." (and what is below those). */
	if (l < LABEL_MAX && len + 1 <= NAME_MAX_WIRE) {
		lab[l++] = 0xff;
		return put_name(out, false, lab, l, parent, parent_len);
	}
	return put_name(out, len + 2 <= NAME_MAX_WIRE, lab, l, parent, parent_len);
}

size_t dnsd__nsec_after(const uint8_t *name, size_t len, uint8_t *out)
{
	uint8_t lab[LABEL_MAX + 1];

	if (!wire_ok(name, len))
		return 0;
	size_t l = name[0];
	const uint8_t *parent = name + 1 + l;
	size_t parent_len = len - 1 - l;
	memcpy(lab, name + 1, l);
	/* "foo" -> "foo\000": the first label after "foo" and its subtree. */
	if (l < LABEL_MAX && len + 1 <= NAME_MAX_WIRE) {
		lab[l++] = 0;
		return put_name(out, false, lab, l, parent, parent_len);
	}
	/* No room: the last byte that can go up goes up, the rest is cut. */
	while (l > 0 && lab[l - 1] == 0xff)
		l--;
	if (l == 0)
		return parent_len > 1 ? dnsd__nsec_after(parent, parent_len, out) : 0;
	lab[l - 1] = up_one(lab[l - 1]);
	return put_name(out, false, lab, l, parent, parent_len);
}

/* ---- what exists where ---- */

struct typeset {
	ldns_rr_type t[64];
	size_t n;
};

static void ts_add(struct typeset *ts, ldns_rr_type t)
{
	for (size_t i = 0; i < ts->n; i++)
		if (ts->t[i] == t)
			return;
	if (ts->n < sizeof(ts->t) / sizeof(ts->t[0]))
		ts->t[ts->n++] = t;
}

static bool ts_has(const struct typeset *ts, ldns_rr_type t)
{
	for (size_t i = 0; i < ts->n; i++)
		if (ts->t[i] == t)
			return true;
	return false;
}

/* The keys' records at a signed apex. */
static void apex_key_types(struct dnsd_query *x, const ldns_rdf *apex, struct typeset *ts)
{
	struct dnsd_zone_keys zk;

	if (dnsd__zone_keys(x, apex, &zk) != 0)
		return;
	if (zk.npublished)
		ts_add(ts, LDNS_RR_TYPE_DNSKEY);
	if (zk.ncds) {
		ts_add(ts, LDNS_RR_TYPE_CDS);
		ts_add(ts, LDNS_RR_TYPE_CDNSKEY);
	}
}

/* The TLSA records of the policy at name (tlsa.c), found as the answer
 * to a TLSA query of name would find them, into a packet of its own.
 * *exists: the name is one of them, or above one (_tcp.<host>). */
static int tlsa_types(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *name,
                      struct typeset *ts, bool *exists)
{
	struct dnsd_query t = *x;
	bool done = false;
	int rc;

	*exists = false;
	t.qname = name;
	t.qtype = LDNS_RR_TYPE_TLSA;
	if (!(t.r = ldns_pkt_new()))
		return -ENOMEM;
	rc = dnsd__tlsa_answer(&t, z, &done);
	if (rc == 0 && done) {
		*exists = true;
		if (ldns_pkt_ancount(t.r))
			ts_add(ts, LDNS_RR_TYPE_TLSA);
	}
	x->until = t.until;
	ldns_pkt_free(t.r);
	return rc;
}

/* The types at name, in the zone of apex (z: its static zone; NULL for a
 * member's apex).  Returns 1 if name exists, 0 if not, or a store error. */
static int types_at(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *name,
                    struct typeset *ts)
{
	enum dnsd_policy_exists px;
	ldns_dnssec_name *n;
	bool tlsa = false;
	int rc;

	ts->n = 0;
	if (z && (rc = tlsa_types(x, z, name, ts, &tlsa)) != 0)
		return rc;
	if (tlsa) {
		/* What the zone file has there besides. */
		if ((n = dnsd__zone_name(z, name)))
			for (const ldns_dnssec_rrsets *s = n->rrsets; s; s = s->next)
				ts_add(ts, s->type);
		ts_add(ts, LDNS_RR_TYPE_RRSIG);
		ts_add(ts, LDNS_RR_TYPE_NSEC);
		return 1;
	}
	if ((rc = dnsd__policy_exists(x, z, name, &px)) != 0)
		return rc;
	switch (px) {
	case DNSD_PX_NX:
		return 0;
	case DNSD_PX_ENT:
		break;
	case DNSD_PX_SRV:
		ts_add(ts, LDNS_RR_TYPE_SRV);
		break;
	case DNSD_PX_APEX_SRV:
		ts_add(ts, LDNS_RR_TYPE_SRV);
		/* fall through */
	case DNSD_PX_APEX:
		ts_add(ts, LDNS_RR_TYPE_SOA);
		ts_add(ts, LDNS_RR_TYPE_NS);
		apex_key_types(x, name, ts);
		break;
	case DNSD_PX_NONE:
		if (!z || !(n = dnsd__zone_name(z, name)))
			return 0;
		for (const ldns_dnssec_rrsets *s = n->rrsets; s; s = s->next)
			ts_add(ts, s->type);
		if (ldns_dname_compare(name, z->apex) == 0)
			apex_key_types(x, name, ts);
		break;
	}
	ts_add(ts, LDNS_RR_TYPE_RRSIG);
	ts_add(ts, LDNS_RR_TYPE_NSEC);
	return 1;
}

/* ---- the records ---- */

static ldns_rr *make_nsec(const ldns_rdf *owner, const uint8_t *next, size_t next_len,
                          struct typeset *ts, uint32_t ttl)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *nx = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, next_len, next);
	ldns_rdf *bits = ldns_dnssec_create_nsec_bitmap(ts->t, ts->n, LDNS_RR_TYPE_NSEC);
	ldns_rdf *own = ldns_rdf_clone(owner);

	if (!rr || !nx || !bits || !own) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(nx);
		ldns_rdf_deep_free(bits);
		ldns_rdf_deep_free(own);
		return NULL;
	}
	ldns_rr_set_owner(rr, own);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_NSEC);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	ldns_rr_push_rdf(rr, nx);
	ldns_rr_push_rdf(rr, bits);
	return rr;
}

static ldns_rdf *lower(const ldns_rdf *d)
{
	ldns_rdf *c = ldns_rdf_clone(d);

	if (c)
		ldns_dname2canonical(c);
	return c;
}

static int push(ldns_pkt *r, ldns_pkt_section s, ldns_rr *rr)
{
	if (!rr)
		return -ENOMEM;
	ldns_pkt_push_rr(r, s, rr);
	return 0;
}

/* The NSEC at an existing name: the next name is its first possible
 * child, or, at a delegation, the first name past the delegated subtree,
 * as in a chain of the parent zone, which holds no names below a cut. */
static ldns_rr *nsec_at(const ldns_rdf *owner, struct typeset *ts, uint32_t ttl)
{
	ldns_rdf *l = lower(owner);
	uint8_t next[NAME_MAX_WIRE];
	size_t n = 0;

	if (!l)
		return NULL;
	const uint8_t *w = ldns_rdf_data(l);
	size_t len = ldns_rdf_size(l);
	if (!(ts_has(ts, LDNS_RR_TYPE_NS) && !ts_has(ts, LDNS_RR_TYPE_SOA)) &&
	    len + 2 <= NAME_MAX_WIRE) {
		next[0] = 1;
		next[1] = 0;
		memcpy(next + 2, w, len);
		n = len + 2;
	} else {
		n = dnsd__nsec_after(w, len, next);
	}
	ldns_rdf_deep_free(l);
	return n ? make_nsec(owner, next, n, ts, ttl) : NULL;
}

/* NODATA at x->qname, or the answer to a query of type NSEC there. */
static int deny_type(struct dnsd_query *x, const struct dnsd_zone *z, uint32_t ttl)
{
	struct typeset ts;
	int rc = types_at(x, z, x->qname, &ts);

	if (rc <= 0)
		return rc;
	ldns_rr *nsec = nsec_at(x->qname, &ts, ttl);
	if (!nsec)
		return -ENOMEM;
	if (x->qtype != LDNS_RR_TYPE_NSEC)
		return push(x->r, LDNS_SECTION_AUTHORITY, nsec);
	/* The NSEC asked for exists: an answer, not NODATA. */
	ldns_rr_list_deep_free(ldns_pkt_authority(x->r));
	ldns_pkt_set_authority(x->r, ldns_rr_list_new());
	ldns_pkt_set_nscount(x->r, 0);
	return push(x->r, LDNS_SECTION_ANSWER, nsec);
}

/* An NSEC covering name (lower case) and everything below it, in the
 * zone where ce (name's parent, or an ancestor) exists. */
static int cover(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *name,
                 const ldns_rdf *ce, uint32_t ttl)
{
	uint8_t prev[NAME_MAX_WIRE], next[NAME_MAX_WIRE];
	size_t plen, nlen;
	bool is_parent;
	struct typeset ts = { .n = 0 };
	ldns_rdf *owner;
	int rc;

	plen = dnsd__nsec_before(ldns_rdf_data(name), ldns_rdf_size(name), prev, &is_parent);
	nlen = dnsd__nsec_after(ldns_rdf_data(name), ldns_rdf_size(name), next);
	if (!plen || !nlen)
		return 0;   /* not a name two labels below the root: none of ours */
	if (is_parent) {
		/* The owner is the closest encloser itself: its real types. */
		if ((rc = types_at(x, z, ce, &ts)) < 0)
			return rc;
		if (rc == 0)
			ts.n = 0;
	}
	ts_add(&ts, LDNS_RR_TYPE_RRSIG);
	ts_add(&ts, LDNS_RR_TYPE_NSEC);
	if (!(owner = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, plen, prev)))
		return -ENOMEM;
	rc = push(x->r, LDNS_SECTION_AUTHORITY, make_nsec(owner, next, nlen, &ts, ttl));
	ldns_rdf_deep_free(owner);
	return rc;
}

/* NXDOMAIN: the closest encloser is the nearest ancestor that exists (the
 * apex at the latest); its child towards the qname and its wildcard are
 * covered. */
static int deny_name(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *apex,
                     uint32_t ttl)
{
	ldns_rdf *q = lower(x->qname), *nc = NULL, *ce = NULL, *wild = NULL;
	struct typeset ts;
	int rc = 0;

	if (!q)
		return -ENOMEM;
	nc = ldns_rdf_clone(q);
	while (rc == 0 && nc && ldns_dname_label_count(nc) > ldns_dname_label_count(apex)) {
		ce = ldns_dname_left_chop(nc);
		if (!ce) {
			rc = -ENOMEM;
			break;
		}
		if (ldns_dname_compare(ce, apex) == 0 || (rc = types_at(x, z, ce, &ts)) == 1) {
			rc = 0;
			break;
		}
		ldns_rdf_deep_free(nc);
		nc = ce;
		ce = NULL;
	}
	if (rc == 0 && nc && ce) {
		ldns_rdf *star = ldns_dname_new_frm_str("*");
		wild = star ? ldns_dname_cat_clone(star, ce) : NULL;
		ldns_rdf_deep_free(star);
		rc = wild ? cover(x, z, nc, ce, ttl) : -ENOMEM;
		if (rc == 0 && ldns_dname_compare(wild, nc) != 0)
			rc = cover(x, z, wild, ce, ttl);
	}
	ldns_rdf_deep_free(q);
	ldns_rdf_deep_free(nc);
	ldns_rdf_deep_free(ce);
	ldns_rdf_deep_free(wild);
	return rc;
}

/* A referral: the DS records at the cut, or the NSEC that proves there
 * are none (an insecure delegation). */
static int deny_ds(struct dnsd_query *x, const ldns_rdf *cut)
{
	const struct dnsd_zone *z = dnsd__zone_find(x->e->zones, cut);
	ldns_dnssec_name *n = z ? dnsd__zone_name(z, cut) : NULL;
	ldns_dnssec_rrsets *ds = n ? ldns_dnssec_name_find_rrset(n, LDNS_RR_TYPE_DS) : NULL;
	struct typeset ts = { .n = 0 };

	if (!n)
		return 0;
	if (ds) {
		dnsd__add_rrset(x->r, LDNS_SECTION_AUTHORITY, ds, NULL);
		return 0;
	}
	for (const ldns_dnssec_rrsets *s = n->rrsets; s; s = s->next)
		ts_add(&ts, s->type);
	ts_add(&ts, LDNS_RR_TYPE_RRSIG);
	ts_add(&ts, LDNS_RR_TYPE_NSEC);
	const ldns_rr *soa = z->soa->rrs->rr;
	uint32_t ttl = ldns_rr_ttl(soa), min = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
	return push(x->r, LDNS_SECTION_AUTHORITY, nsec_at(cut, &ts, min < ttl ? min : ttl));
}

int dnsd__nsec_deny(struct dnsd_query *x)
{
	ldns_pkt *r = x->r;
	const ldns_rr_list *auth = ldns_pkt_authority(r);
	const ldns_rr *soa = NULL, *ns = NULL;
	ldns_pkt_rcode rcode = ldns_pkt_get_rcode(r);

	for (size_t i = 0; i < ldns_rr_list_rr_count(auth); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(auth, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
			soa = rr;
		else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS && !ns)
			ns = rr;
	}
	if (!ldns_pkt_aa(r)) {
		if (ns && rcode == LDNS_RCODE_NOERROR && ldns_pkt_ancount(r) == 0)
			return deny_ds(x, ldns_rr_owner(ns));
		return 0;
	}
	if (!soa || (rcode != LDNS_RCODE_NXDOMAIN && rcode != LDNS_RCODE_NOERROR) ||
	    (rcode == LDNS_RCODE_NOERROR && ldns_pkt_ancount(r) != 0))
		return 0;
	/* The SOA's owner is the apex of the zone that denies; its TTL in the
	 * authority section is already min(TTL, minimum): the NSEC's too
	 * (RFC 9077). */
	ldns_rdf *apex = lower(ldns_rr_owner(soa));
	uint32_t ttl = ldns_rr_ttl(soa);
	const struct dnsd_zone *z;
	int rc;

	if (!apex)
		return -ENOMEM;
	z = dnsd__zone_find(x->e->zones, apex);
	if (z && ldns_dname_compare(z->apex, apex) != 0)
		z = NULL;   /* a member's apex below a zone of ours */
	rc = rcode == LDNS_RCODE_NXDOMAIN ? deny_name(x, z, apex, ttl) : deny_type(x, z, ttl);
	ldns_rdf_deep_free(apex);
	return rc;
}
