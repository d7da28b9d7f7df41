/* The records synthesised from the policy store (docs/architecture.md,
 * "What dnsd synthesises"):
 * _xmpp-server._tcp.<member> and _xmpps-server._tcp.<member> SRV with the
 * clearinghouse first and the member's own hosts as a fallback, given to
 * whom the community's fallback setting and the querier's view allow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The SRV priority of the member's own targets: after every clearinghouse
 * (priority 0), keeping their order among themselves. */
#define FALLBACK_PRIORITY 10

/* Classify qname.  Label text is compared without regard to case. */
void dnsd__policy_classify(const ldns_rdf *qname, struct policy_name *pn)
{
	static const struct { const char *prefix; enum dnsd_name_kind kind; bool tls; } forms[] = {
		{ "_xmpp-server._tcp.", NAME_SRV, false },
		{ "_xmpps-server._tcp.", NAME_SRV, true },
		{ "_tcp.", NAME_TCP, false },
		{ "", NAME_MEMBER, false },
	};
	char buf[DNSD_NAME_TEXT_MAX], *s = dnsd__name_text(qname, buf);

	pn->kind = NAME_OTHER;
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i].prefix);
		if (strncmp(s, forms[i].prefix, n) != 0)
			continue;
		if (pdb_name_normalise(s + n, pn->member, NULL) == 0) {
			pn->kind = forms[i].kind;
			pn->tls = forms[i].tls;
		}
		break;
	}
	if (s != buf)
		free(s);
}

bool dnsd__policy_in_zone(const char *name, pdb_str zone)
{
	size_t n = strlen(name);
	return zone.len && n >= zone.len && memcmp(name + n - zone.len, zone.p, zone.len) == 0 &&
	       (n == zone.len || name[n - zone.len - 1] == '.');
}

/* ---- views: which member a querier's source address speaks for ---- */

int dnsd__views_init(struct dnsd_views *v)
{
	pthread_rwlockattr_t a;
	int rc;

	memset(v, 0, sizeof(*v));
	/* A thread that must follow the map waits for the answers in
	 * progress, not for every answer begun after it asked. */
	if (pthread_rwlockattr_init(&a) != 0)
		return -ENOMEM;
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&v->lock, &a);
	pthread_rwlockattr_destroy(&a);
	return rc == 0 ? 0 : -ENOMEM;
}

void dnsd__views_fini(struct dnsd_views *v)
{
	pdb_addr_map_free(&v->map);
	pthread_rwlock_destroy(&v->lock);
}

int dnsd_views_new(dnsd_views **out)
{
	dnsd_views *v;

	if (!out)
		return -EINVAL;
	if (!(v = malloc(sizeof(*v))))
		return -ENOMEM;
	if (dnsd__views_init(v) != 0) {
		free(v);
		return -ENOMEM;
	}
	*out = v;
	return 0;
}

void dnsd_views_free(dnsd_views *v)
{
	if (!v)
		return;
	dnsd__views_fini(v);
	free(v);
}

/* Built on the first query that needs them (a walk over every member),
 * then brought to each new serial by the first engine there, from the
 * members the journal says changed.  When a lookup may answer otherwise,
 * every answer given in a view is stale, and so are the remembered views
 * of addresses: each engine learns it from the gen. */
int dnsd__views_build(dnsd_engine *e)
{
	struct dnsd_epoch *ep = &e->epoch;
	struct dnsd_views *v = e->views;
	bool moved;
	int rc;

	if (e->views_held)
		return 0;
	for (;;) {
		pthread_rwlock_rdlock(&v->lock);
		if (v->map.built && v->map.serial == ep->serial)
			break;
		if (v->map.built && v->map.serial > ep->serial) {
			pthread_rwlock_unlock(&v->lock);
			return DNSD__EVIEWS_AHEAD;
		}
		pthread_rwlock_unlock(&v->lock);
		pthread_rwlock_wrlock(&v->lock);
		rc = 0;
		if (!v->map.built || v->map.serial < ep->serial) {
			rc = pdb_addr_map_follow(&v->map, e->txn, PDB_LIST_QUERIERS, &moved);
			/* A follow that failed half way rebuilds next time. */
			if (rc != 0 || moved)
				v->gen++;
		}
		pthread_rwlock_unlock(&v->lock);
		if (rc != 0)
			return rc;
	}
	if (v->gen != ep->views_gen) {
		dnsd__epoch_views_moved(ep);
		ep->views_gen = v->gen;
	}
	ep->views_built = true;
	e->views_held = true;
	return 0;
}

void dnsd__views_done(dnsd_engine *e)
{
	if (e->views_held) {
		e->views_held = false;
		pthread_rwlock_unlock(&e->views->lock);
	}
}

/* The memo's slot for an address: a multiply or two over its words, not a
 * byte-wise hash, since the memo is asked on every cached answer. */
static size_t memo_slot(const struct dnsd_client *c)
{
	const uint64_t k = 0x9e3779b97f4a7c15ull;
	uint64_t a, b = 0;

	if (c->family == 4) {
		uint32_t w;
		memcpy(&w, c->addr, 4);
		a = w;
	} else {
		memcpy(&a, c->addr, 8);
		memcpy(&b, c->addr + 8, 8);
	}
	return (size_t)(((a ^ b * k) * k) >> 40) & (DNSD_MEMO_SIZE - 1);
}

static bool memo_is(const struct dnsd_memo *m, const struct dnsd_client *c)
{
	if (m->family != c->family)
		return false;
	return c->family == 4 ? memcmp(m->addr, c->addr, 4) == 0 : memcmp(m->addr, c->addr, 16) == 0;
}

/* The view of an address: the longest matching prefix, remembered per
 * address so a busy resolver costs one probe, not a walk of the trie.
 * -1: none. */
int32_t dnsd__view_of(dnsd_engine *e, const struct dnsd_client *c)
{
	struct dnsd_epoch *ep = &e->epoch;
	struct dnsd_views *v = e->views;
	size_t alen = c->family == 4 ? 4 : 16;
	struct dnsd_memo *m = &ep->memo[memo_slot(c)];
	int32_t best;

	if (memo_is(m, c))
		return m->view;
	if (!e->views_held) {
		/* Only a map at the epoch's serial and gen gives the views the
		 * cached answers were keyed with. */
		pthread_rwlock_rdlock(&v->lock);
		bool same = v->map.built && v->map.serial == ep->serial && v->gen == ep->views_gen;
		best = same ? (int32_t)pdb_addr_map_find(&v->map, c->family, c->addr) : 0;
		pthread_rwlock_unlock(&v->lock);
		if (!same)
			return DNSD__VIEW_UNKNOWN;
	} else {
		best = (int32_t)pdb_addr_map_find(&v->map, c->family, c->addr);
	}
	m->family = (uint8_t)c->family;
	memcpy(m->addr, c->addr, alen);
	m->view = best;
	return best;
}

/* A member that is valid now stops being so at its not-after. */
static void hold_while_valid(struct dnsd_query *x, const struct pdb_member *m)
{
	int64_t end = pdb_member_valid_until(m);

	if (end && x->now < end)
		dnsd__hold_until(x, end);
}

/* May this querier have the member's own hosts? */
static int fallback_allowed(struct dnsd_query *x, const char *member, bool *allowed)
{
	struct pdb_decision d;
	const char *q;
	int rc;

	*allowed = false;
	switch (x->c->fallback) {
	case PDB_FALLBACK_NEVER:
		return 0;
	case PDB_FALLBACK_ALWAYS:
		*allowed = true;
		return 0;
	case PDB_FALLBACK_ALLOWED:
		break;
	}
	if (x->view_fixed) {
		/* A transfer: the view is the one its access rule names. */
		if (!(q = x->view_member))
			return 0;
	} else {
		if ((rc = dnsd__views_build(x->e)) != 0)
			return rc;
		/* A querier that is no known member never gets the fallback. */
		int32_t view = dnsd__view_of(x->e, x->client);
		if (view < 0)
			return 0;
		if (!(q = pdb_addr_map_member(&x->e->views->map, view)))
			return 0;
	}
	/* The decision reads the querier, and the override of the pair. */
	dnsd__query_depends(x, q);
	struct pdb_member qm;
	bool have_qm = false;
	if (x->member_fixed && strcmp(member, x->member_name) == 0) {
		/* The given version of member, against the querier as stored. */
		enum pdb_override ov;
		rc = pdb_get_member(x->txn, q, &qm);
		if (rc != 0 && rc != PDB_ENOTFOUND)
			return rc;
		have_qm = rc == 0;
		if ((rc = pdb_get_override(x->txn, q, member, &ov)) != 0)
			return rc;
		pdb_decide_records(x->c, q, have_qm ? &qm : NULL, member, x->member_given, ov,
		                   x->now, &d);
	} else {
		if ((rc = pdb_decide(x->txn, q, member, x->now, &d)) != 0)
			return rc;
		have_qm = pdb_get_member(x->txn, q, &qm) == 0;
	}
	/* The decision turns when the querier's membership ends, too. */
	if (have_qm)
		hold_while_valid(x, &qm);
	*allowed = d.outcome == PDB_ALLOW;
	return 0;
}

/* ---- records ---- */

static ldns_rr *srv(const ldns_rdf *owner, uint32_t ttl, uint16_t prio, uint16_t weight,
                    uint16_t port, pdb_str host)
{
	ldns_rdf *target;
	ldns_rr *rr;

	if (!(target = dnsd__name_from_text(host.p, host.len)) || !(rr = ldns_rr_new())) {
		ldns_rdf_deep_free(target);
		return NULL;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_SRV);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, prio));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, weight));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, port));
	ldns_rr_push_rdf(rr, target);
	return rr;
}

static void push_srv(struct dnsd_query *x, ldns_rr *rr)
{
	if (!rr)
		return;
	ldns_pkt_push_rr(x->r, LDNS_SECTION_ANSWER, rr);
	dnsd__add_addresses(x, ldns_rr_rdf(rr, 3));
}

static int add_srv(struct dnsd_query *x, const struct policy_name *pn, const struct pdb_member *m,
                   bool active)
{
	bool fallback = false;
	int rc;

	for (unsigned i = 0; i < x->c->nch; i++) {
		uint16_t port = pn->tls ? x->c->ch[i].tls_port : x->c->ch[i].port;
		if (port)
			push_srv(x, srv(x->qname, x->c->ttl, 0, 0, port, x->c->ch[i].host));
	}
	if (!active)
		return 0;
	x->outcome = DNSD_OUTCOME_CH_ONLY;
	if ((rc = fallback_allowed(x, pn->member, &fallback)) != 0 || !fallback)
		return rc;
	x->outcome = DNSD_OUTCOME_FALLBACK;
	const struct pdb_target *t;
	unsigned n = pdb_member_targets(m, pn->tls, &t);
	for (unsigned i = 0; i < n; i++) {
		unsigned prio = FALLBACK_PRIORITY + t[i].priority;
		push_srv(x, srv(x->qname, x->c->ttl, (uint16_t)(prio > 65535 ? 65535 : prio),
		                t[i].weight, t[i].port, t[i].host));
	}
	/* No targets listed: RFC 6120 3.2.2 says connect to the domain itself
	 * on 5269; say so explicitly.  Direct TLS has no default port. */
	if (n == 0 && !pn->tls)
		push_srv(x, srv(x->qname, x->c->ttl, FALLBACK_PRIORITY, 0, 5269, pdb_str_of(pn->member)));
	return 0;
}

/* ---- a member outside the community zone ----
 * It delegates _xmpp-server._tcp.<member> (and _xmpps-) to us; we answer
 * there as at an apex, with an SOA and NS made from the community zone's. */

static void add_apex_soa(struct dnsd_query *x, ldns_pkt_section s)
{
	dnsd__add_soa(x, x->community, s, x->qname);
}

static void add_apex_ns(struct dnsd_query *x)
{
	dnsd__add_rrset(x->r, LDNS_SECTION_ANSWER, x->community->ns, x->qname);
	for (const ldns_dnssec_rrs *r = x->community->ns->rrs; r; r = r->next)
		dnsd__add_addresses(x, ldns_rr_rdf(r->rr, 0));
}

/* The apex of a member we give no SRV for (inactive under "inactive:
 * nxdomain", or removed not long ago): an empty zone, whose SOA and NS
 * still exist, since the member's zone delegates the name to us and a
 * resolver that finds no SOA and NS there calls the delegation lame. */
static void answer_empty_apex(struct dnsd_query *x)
{
	if (dnsd__answer_apex_keys(x, x->qname, ldns_rr_ttl(x->community->soa->rrs->rr)))
		return;
	switch (x->qtype) {
	case LDNS_RR_TYPE_SOA:
	case LDNS_RR_TYPE_ANY:   /* RFC 8482: one RRset that exists */
		add_apex_soa(x, LDNS_SECTION_ANSWER);
		break;
	case LDNS_RR_TYPE_NS:
		add_apex_ns(x);
		break;
	default:
		add_apex_soa(x, LDNS_SECTION_AUTHORITY);
		break;
	}
}

/* Was member removed from the policy less than the grace period ago?
 * Then its delegations still point at us and the apex is still ours. */
static int removed_lately(struct dnsd_query *x, const char *member, bool *yes)
{
	int64_t when;
	int rc;

	*yes = false;
	if (x->grace == 0)
		return 0;
	rc = pdb_get_removed(x->txn, member, &when);
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	*yes = x->now - when < (int64_t)x->grace;
	if (*yes)
		dnsd__hold_until(x, when + (int64_t)x->grace);
	return 0;
}

/* The member record of name: the given older version of an IXFR's
 * member (x->member_fixed), else the snapshot's.  0 or PDB_ENOTFOUND,
 * or a store error. */
static int member_read(struct dnsd_query *x, const char *name, struct pdb_member *m)
{
	if (x->member_fixed && strcmp(name, x->member_name) == 0) {
		if (!x->member_given)
			return PDB_ENOTFOUND;
		*m = *x->member_given;
		return 0;
	}
	return pdb_get_member(x->txn, name, m);
}

/* ---- the answers ---- */

static int answer_srv_name(struct dnsd_query *x, const struct policy_name *pn,
                           const struct pdb_member *m, bool apex)
{
	bool active = pdb_member_valid_at(m, x->now);
	const struct dnsd_zone *soa_zone = x->community;

	hold_while_valid(x, m);
	if (!active)
		x->outcome = DNSD_OUTCOME_INACTIVE;
	if (!active && x->c->inactive == PDB_INACTIVE_NXDOMAIN) {
		if (apex) {
			answer_empty_apex(x);
			return 0;
		}
		ldns_pkt_set_rcode(x->r, LDNS_RCODE_NXDOMAIN);
		dnsd__add_soa(x, soa_zone, LDNS_SECTION_AUTHORITY, NULL);
		return 0;
	}
	if (x->qtype == LDNS_RR_TYPE_SRV || x->qtype == LDNS_RR_TYPE_ANY) {
		int rc = add_srv(x, pn, m, active);
		/* No clearinghouse port for this service and no fallback for
		 * this querier: no SRV at all, which is NODATA, and NODATA
		 * says so with the SOA (RFC 2308 2.2). */
		if (rc == 0 && ldns_pkt_ancount(x->r) == 0) {
			if (apex)
				add_apex_soa(x, LDNS_SECTION_AUTHORITY);
			else
				dnsd__add_soa(x, soa_zone, LDNS_SECTION_AUTHORITY, NULL);
		}
		return rc;
	}
	if (apex && dnsd__answer_apex_keys(x, x->qname, ldns_rr_ttl(soa_zone->soa->rrs->rr)))
		return 0;
	if (apex && x->qtype == LDNS_RR_TYPE_SOA) {
		add_apex_soa(x, LDNS_SECTION_ANSWER);
		return 0;
	}
	if (apex && x->qtype == LDNS_RR_TYPE_NS) {
		add_apex_ns(x);
		return 0;
	}
	/* The name exists; the type does not: NODATA. */
	if (apex)
		add_apex_soa(x, LDNS_SECTION_AUTHORITY);
	else
		dnsd__add_soa(x, soa_zone, LDNS_SECTION_AUTHORITY, NULL);
	return 0;
}

/* Below a member's delegated SRV apex (outside our zones): the name does
 * not exist, and the apex's SOA says so.  Returns 0 or a store error. */
static int answer_below_apex(struct dnsd_query *x, bool *done)
{
	ldns_rdf *up = ldns_dname_left_chop(x->qname);
	struct policy_name pn;
	struct pdb_member m;
	bool removed = false;
	int rc = 0;

	/* It reads members named by any of the parents. */
	dnsd__query_depends_all(x);
	/* Labels are at most 127 levels deep; stop at the first apex. */
	while (up && ldns_dname_label_count(up) > 3) {
		dnsd__policy_classify(up, &pn);
		if (pn.kind == NAME_SRV && !dnsd__policy_in_zone(pn.member, x->c->zone)) {
			rc = pdb_get_member(x->txn, pn.member, &m);
			if (rc == PDB_ENOTFOUND && (rc = removed_lately(x, pn.member, &removed)) == 0 &&
			    !removed)
				rc = PDB_ENOTFOUND;
			if (rc == 0) {
				ldns_pkt_set_rcode(x->r, LDNS_RCODE_NXDOMAIN);
				x->apex_member = pn.member;
				dnsd__add_soa(x, x->community, LDNS_SECTION_AUTHORITY, up);
				x->apex_member = NULL;
				*done = true;
			}
			rc = rc == PDB_ENOTFOUND ? 0 : rc;
			break;
		}
		ldns_rdf *next = ldns_dname_left_chop(up);
		ldns_rdf_deep_free(up);
		up = next;
	}
	ldns_rdf_deep_free(up);
	return rc;
}

int dnsd__policy_answer(struct dnsd_query *x, const struct dnsd_zone *z, bool *done)
{
	struct policy_name pn;
	struct pdb_member m;
	int rc;

	*done = false;
	/* Without a community, or without its zone, nothing is synthesised. */
	if (!x->c || !x->community)
		return 0;
	if (z && z != x->community)
		return 0;
	dnsd__policy_classify(x->qname, &pn);
	if (pn.kind == NAME_OTHER)
		return z ? 0 : answer_below_apex(x, done);
	bool inside = dnsd__policy_in_zone(pn.member, x->c->zone);
	/* Outside every zone we serve, only a member's delegated SRV apex is
	 * ours; inside the community zone, a member's SRV names and the names
	 * above them are. */
	if (!z && (pn.kind != NAME_SRV || inside))
		return 0;
	dnsd__query_depends(x, pn.member);
	rc = member_read(x, pn.member, &m);
	if (rc == PDB_ENOTFOUND && !z) {
		bool removed;
		if ((rc = removed_lately(x, pn.member, &removed)) != 0)
			return rc;
		*done = removed;
		x->outcome = removed ? DNSD_OUTCOME_REMOVED : DNSD_OUTCOME_UNKNOWN;
		if (removed) {
			x->apex_member = pn.member;
			answer_empty_apex(x);
			x->apex_member = NULL;
		}
		return 0;
	}
	if (rc == PDB_ENOTFOUND) {
		if (pn.kind == NAME_SRV)
			x->outcome = DNSD_OUTCOME_UNKNOWN;
		return 0;   /* static data, or NXDOMAIN */
	}
	if (rc)
		return rc;
	*done = true;
	if (pn.kind == NAME_SRV && !z) {
		x->apex_member = pn.member;
		rc = answer_srv_name(x, &pn, &m, true);
		x->apex_member = NULL;
		return rc;
	}
	if (pn.kind == NAME_SRV)
		return answer_srv_name(x, &pn, &m, false);
	/* _tcp.<member> or <member>: static data wins if there is any. */
	if (dnsd__zone_name(z, x->qname)) {
		*done = false;
		return 0;
	}
	dnsd__add_soa(x, z, LDNS_SECTION_AUTHORITY, NULL);
	return 0;
}

/* ---- what exists, for the denial of existence (nsec.c) ---- */

ldns_rdf *dnsd__policy_apex_of(const struct dnsd_query *x, const ldns_rdf *name)
{
	struct policy_name pn;
	ldns_rdf *d;

	if (!x->c || !x->community || dnsd__zone_find(x->e->zones, name))
		return NULL;
	d = ldns_rdf_clone(name);
	/* An apex has three labels at least: _xmpp-server, _tcp, the member. */
	while (d && ldns_dname_label_count(d) >= 3) {
		dnsd__policy_classify(d, &pn);
		if (pn.kind == NAME_SRV && !dnsd__policy_in_zone(pn.member, x->c->zone))
			return d;
		ldns_rdf *up = ldns_dname_left_chop(d);
		ldns_rdf_deep_free(d);
		d = up;
	}
	ldns_rdf_deep_free(d);
	return NULL;
}

/* Does an SRV answer at a member's name hold any record?  The
 * clearinghouse's own targets are there whenever one has the port; the
 * member's own hosts only for an active member.  Which querier gets them
 * does not change whether the RRset exists. */
static bool srv_exists(const struct dnsd_query *x, const struct policy_name *pn, bool active)
{
	for (unsigned i = 0; i < x->c->nch; i++)
		if (pn->tls ? x->c->ch[i].tls_port : x->c->ch[i].port)
			return true;
	return active && x->c->fallback != PDB_FALLBACK_NEVER;
}

/* The same decisions as dnsd__policy_answer, without answering. */
int dnsd__policy_exists(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *name,
                        enum dnsd_policy_exists *what)
{
	struct policy_name pn;
	struct pdb_member m;
	int rc;

	*what = DNSD_PX_NONE;
	if (!x->c || !x->community || (z && z != x->community))
		return 0;
	dnsd__policy_classify(name, &pn);
	if (pn.kind == NAME_OTHER)
		return 0;
	/* The denial built from this (nsec.c) holds only while the member
	 * does not change. */
	dnsd__query_depends(x, pn.member);
	bool inside = dnsd__policy_in_zone(pn.member, x->c->zone);
	if (!z && (pn.kind != NAME_SRV || inside))
		return 0;
	rc = member_read(x, pn.member, &m);
	if (rc == PDB_ENOTFOUND && !z) {
		bool removed;
		if ((rc = removed_lately(x, pn.member, &removed)) != 0)
			return rc;
		*what = removed ? DNSD_PX_APEX : DNSD_PX_NONE;
		return 0;
	}
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (pn.kind == NAME_SRV) {
		bool active = pdb_member_valid_at(&m, x->now);
		bool has_srv = srv_exists(x, &pn, active);
		if (!active && x->c->inactive == PDB_INACTIVE_NXDOMAIN)
			*what = z ? DNSD_PX_NX : DNSD_PX_APEX;
		else if (!z)
			*what = has_srv ? DNSD_PX_APEX_SRV : DNSD_PX_APEX;
		else
			*what = has_srv ? DNSD_PX_SRV : DNSD_PX_ENT;
		return 0;
	}
	*what = dnsd__zone_name(z, name) ? DNSD_PX_NONE : DNSD_PX_ENT;
	return 0;
}
