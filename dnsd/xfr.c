/* Zone transfers (RFC 5936 AXFR, RFC 1995 IXFR): the zone of a view,
 * rendered as a sequence of messages, SOA first and last.
 *
 * A transfer holds its own snapshot of the store for its whole length, so
 * that what it sends is one serial's data however long the client takes,
 * and renders only a few messages ahead of what the connection has sent:
 * the zone of a large community is never whole in memory.  Every record
 * the policy synthesises comes from the code that answers queries
 * (dnsd__policy_answer, dnsd__tlsa_answer), asked as a querier of the transfer's view, so a
 * transferred zone and the answers to queries cannot differ.
 *
 * Zones: the community zone (its file's records, the SRV records of
 * every member inside it, and the TLSA records of their targets and of
 * the clearinghouse hosts), every other zone file, each member outside the
 * community zone as two zones of its own (_xmpp-server._tcp.<member> and
 * _xmpps-server._tcp.<member>: SOA, NS, SRV, as queries give them), and
 * the catalog zone (RFC 9432, version 2) that lists the community zone and
 * those member zones. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Rendered ahead of the connection: enough to keep a socket busy. */
#define FILL_MSGS 8
/* Room a message keeps for its TSIG record (hmac-sha512, long key name). */
#define TSIG_ROOM 400
/* Static names rendered per step: a step never holds the loop for long. */
#define STATIC_BATCH 256
/* The EDNS payload of refusals, as query.c offers. */
#define EDNS_PAYLOAD 1232
/* RFC 8914: the option, and the code for "Prohibited". */
#define EDE_OPTION 15
#define EDE_PROHIBITED 18
/* Stops a walk of the store early; no store error is positive. */
#define WALK_STOP 1
/* A difference that touches more names than this is sent whole. */
#define IXFR_NAMES_MAX 4096

enum xfr_kind { XFR_ZONE, XFR_APEX, XFR_CATALOG };
enum xfr_phase { PH_SOA_FIRST, PH_STATIC, PH_MEMBERS, PH_REMOVED, PH_SOA_LAST, PH_DONE };

struct dnsd_xfr {
	dnsd_engine *e;
	unsigned zones_gen;
	struct dnsd_client client;
	int64_t now;
	struct dnsd_tsig_ctx tsig;
	bool single;                  /* one message only (UDP): no AXFR */
	bool edns;                    /* the request had an OPT */
	uint16_t udp_size;            /* what the client takes over UDP */
	uint16_t id;
	bool rd, cd;
	ldns_rr *question;            /* owned */
	const ldns_rdf *qname;        /* in question */

	/* The snapshot and what it implies. */
	pdb_txn *txn;
	uint64_t serial;
	uint64_t served;              /* the policy part of SOA serials */
	uint64_t apex_stamp;          /* XFR_APEX: the policy part of its own */
	uint32_t grace;               /* the store's removed-grace */
	bool have_c;
	struct pdb_community c;       /* its strings point into cbuf */
	uint8_t cbuf[PDB_RECORD_MAX];
	const struct dnsd_zone *community;
	const char *view;             /* the view's member, NULL: default view */
	char view_buf[PDB_NAME_MAX + 1];

	/* What is transferred, and how far it has come. */
	enum xfr_kind kind;
	const struct dnsd_zone *zone; /* XFR_ZONE */
	ldns_rr *soa;                 /* owned: first and last */
	enum xfr_phase phase;
	ldns_rbnode_t *node;          /* the static names still to go */
	bool walked;                  /* last holds the last member done */
	char last[PDB_NAME_MAX + 1];
	unsigned walk_budget;         /* messages the current walk may still fill */
	bool ch_tlsa_done;            /* the clearinghouse hosts' TLSA are out */

	/* The message being filled, and those rendered, each behind its
	 * two-byte length as TCP frames it. */
	struct dnsd__wire *w;
	bool open;                    /* w holds a message begun */
	unsigned nqueued;
	uint8_t *q;
	size_t qlen, qhead, qcap;
	int err;                      /* the first error rendering met */
	ldns_rr_list *collect;        /* a query of the catalog: records go here */
};

/* ---- messages ---- */

static ldns_pkt *msg_new(const struct dnsd_xfr *x)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *q = ldns_rr_clone(x->question);

	if (!p || !q) {
		ldns_pkt_free(p);
		ldns_rr_free(q);
		return NULL;
	}
	ldns_pkt_set_id(p, x->id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_rd(p, x->rd);
	ldns_pkt_set_cd(p, x->cd);
	ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	return p;
}

static int queue_room(struct dnsd_xfr *x, size_t n)
{
	if (x->qcap - x->qlen >= n)
		return 0;
	size_t cap = x->qcap ? x->qcap : 4 * DNSD_XFR_MSG;
	while (cap - x->qlen < n)
		cap *= 2;
	uint8_t *q = realloc(x->q, cap);
	if (!q)
		return -ENOMEM;
	x->q = q;
	x->qcap = cap;
	return 0;
}

/* Queue a rendered message (n bytes at w), signed when the conversation
 * is: each message covers the MAC of the one before (RFC 8945 5.3.1). */
static int queue_wire(struct dnsd_xfr *x, const uint8_t *w, size_t n, const uint8_t *ede,
                      size_t ede_len)
{
	int rc;

	if ((rc = queue_room(x, 2 + n + ede_len + TSIG_ROOM)) != 0)
		return rc;
	uint8_t *m = x->q + x->qlen + 2;
	memcpy(m, w, n);
	if (ede_len) {
		/* The OPT is the last record, with no options yet: its rdata
		 * length is the message's last two bytes. */
		memcpy(m + n, ede, ede_len);
		ldns_write_uint16(m + n - 2, (uint16_t)ede_len);
		n += ede_len;
	}
	if (x->tsig.key || x->tsig.error) {
		if ((rc = dnsd_tsig_sign(&x->tsig, m, &n, n + TSIG_ROOM, x->now)) != 0)
			return rc;
	}
	if (n > DNSD_MSG_MAX)
		return -EMSGSIZE;
	x->q[x->qlen] = (uint8_t)(n >> 8);
	x->q[x->qlen + 1] = (uint8_t)n;
	x->qlen += 2 + n;
	x->nqueued++;
	return 0;
}

static int queue_pkt(struct dnsd_xfr *x, const ldns_pkt *p, const uint8_t *ede, size_t ede_len)
{
	uint8_t *w = NULL;
	size_t n = 0;
	int rc;

	if (ldns_pkt2wire(&w, p, &n) != LDNS_STATUS_OK)
		rc = -ENOMEM;
	else
		rc = queue_wire(x, w, n, ede, ede_len);
	free(w);
	return rc;
}

/* Render the message being filled, if it holds anything. */
static int flush(struct dnsd_xfr *x)
{
	if (!x->open || x->w->ancount == 0)
		return 0;
	x->open = false;
	if (x->walk_budget)
		x->walk_budget--;
	return queue_wire(x, x->w->buf, x->w->len, NULL, 0);
}

/* Add rr to the transfer, starting a new message when the current one
 * would pass DNSD_XFR_MSG.  The size is counted uncompressed, so a
 * message never comes out larger. */
static int put(struct dnsd_xfr *x, const ldns_rr *rr)
{
	size_t size;
	int rc;

	if (x->collect) {
		ldns_rr *c = ldns_rr_clone(rr);
		if (!c || !ldns_rr_list_push_rr(x->collect, c)) {
			ldns_rr_free(c);
			return -ENOMEM;
		}
		return 0;
	}
	size = dnsd__wire_rr_max(rr);
	if (size > DNSD_MSG_MAX - LDNS_HEADER_SIZE - (PDB_NAME_MAX + 6) - TSIG_ROOM)
		return -EMSGSIZE;
	if (x->open && x->w->len + size > DNSD_XFR_MSG && (rc = flush(x)) != 0)
		return rc;
	if (!x->open) {
		dnsd__wire_start(x->w, x->id, (uint8_t)((x->rd ? 0x01 : 0) | (x->cd ? 0x10 : 0)),
		                 x->qname, ldns_rr_get_type(x->question));
		x->open = true;
	}
	dnsd__wire_put(x->w, rr);
	return 0;
}

/* As put, for a record of the caller's own, which it takes. */
static int emit(struct dnsd_xfr *x, ldns_rr *rr)
{
	int rc;

	if (!rr)
		return -ENOMEM;
	rc = put(x, rr);
	ldns_rr_free(rr);
	return rc;
}

/* The only message: a refusal or an error (rcode), with EDE
 * "Prohibited" when ede and the request had EDNS, or the SOA alone. */
static int reply_one(struct dnsd_xfr *x, ldns_pkt_rcode rcode, bool ede, bool tc)
{
	static const char text[] = "zone transfer not allowed";
	uint8_t opt[4 + 2 + sizeof(text) - 1];
	ldns_pkt *p = msg_new(x);
	int rc;

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	ldns_pkt_set_aa(p, rcode == LDNS_RCODE_NOERROR);
	ldns_pkt_set_tc(p, tc);
	if (rcode == LDNS_RCODE_NOERROR && !tc)
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, ldns_rr_clone(x->soa));
	if (x->edns)
		ldns_pkt_set_edns_udp_size(p, EDNS_PAYLOAD);
	ede = ede && x->edns;
	if (ede) {
		ldns_write_uint16(opt, EDE_OPTION);
		ldns_write_uint16(opt + 2, (uint16_t)(sizeof(opt) - 4));
		ldns_write_uint16(opt + 4, EDE_PROHIBITED);
		memcpy(opt + 6, text, sizeof(text) - 1);
	}
	rc = queue_pkt(x, p, ede ? opt : NULL, ede ? sizeof(opt) : 0);
	ldns_pkt_free(p);
	x->phase = PH_DONE;
	return rc;
}

/* ---- the records ---- */

/* What the query code synthesises for q: the TLSA names, or the rest of
 * the policy's. */
static int synth_answer(struct dnsd_query *q, const struct dnsd_zone *z, bool *done)
{
	if (q->qtype == LDNS_RR_TYPE_TLSA)
		return dnsd__tlsa_answer(q, z, done);
	return dnsd__policy_answer(q, z, done);
}

/* A query of the transfer's view and snapshot, answered into a scratch
 * packet the caller frees. */
static void query_init(struct dnsd_xfr *x, struct dnsd_query *q, const ldns_rdf *qname,
                       ldns_rr_type t)
{
	memset(q, 0, sizeof(*q));
	q->e = x->e;
	q->txn = x->txn;
	q->client = &x->client;
	q->view_fixed = true;
	q->view_member = x->view;
	q->qname = qname;
	q->qtype = t;
	q->serial = x->serial;
	q->served = x->served;
	q->grace = x->grace;
	q->c = x->have_c ? &x->c : NULL;
	q->community = x->community;
	q->now = x->now;
}

/* What a query of type t for qname gets from the policy (z: the zone the
 * name is in, NULL outside every zone), its answer section's records of
 * type t emitted (or, with out, the first handed back instead). */
static int synth(struct dnsd_xfr *x, const ldns_rdf *qname, ldns_rr_type t,
                 const struct dnsd_zone *z, ldns_rr **out)
{
	struct dnsd_query q;
	bool done = false;
	int rc;

	query_init(x, &q, qname, t);
	if (!(q.r = ldns_pkt_new()))
		return -ENOMEM;
	rc = synth_answer(&q, z, &done);
	const ldns_rr_list *an = ldns_pkt_answer(q.r);
	for (size_t i = 0; rc == 0 && done && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) != t)
			continue;
		if (out) {
			*out = ldns_rr_clone(rr);
			rc = *out ? 0 : -ENOMEM;
			break;
		}
		rc = put(x, rr);
	}
	ldns_pkt_free(q.r);
	return rc;
}

/* The SOA of a zone file, with the serial queries give. */
static ldns_rr *zone_soa(struct dnsd_xfr *x, const struct dnsd_zone *z)
{
	struct dnsd_query q;
	ldns_rr *soa = NULL;

	query_init(x, &q, z->apex, LDNS_RR_TYPE_SOA);
	if (!(q.r = ldns_pkt_new()))
		return NULL;
	dnsd__add_soa(&q, z, LDNS_SECTION_ANSWER, NULL);
	if (ldns_pkt_ancount(q.r) == 1)
		soa = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_answer(q.r), 0));
	ldns_pkt_free(q.r);
	return soa;
}

static ldns_rdf *srv_name(const char *member, bool tls)
{
	char buf[PDB_NAME_MAX + 32];

	snprintf(buf, sizeof(buf), "%s._tcp.%s.", tls ? "_xmpps-server" : "_xmpp-server", member);
	return ldns_dname_new_frm_str(buf);
}

/* Is name (in the community zone) a member's SRV name, which the policy
 * answers for whatever the file holds there? */
static int hidden_by_policy(struct dnsd_xfr *x, const ldns_rdf *name, bool *hidden)
{
	struct policy_name pn;
	struct pdb_member m;
	int rc;

	*hidden = false;
	if (x->zone != x->community || !x->have_c)
		return 0;
	dnsd__policy_classify(name, &pn);
	if (pn.kind != NAME_SRV || !dnsd__policy_in_zone(pn.member, x->c.zone))
		return 0;
	rc = pdb_get_member(x->txn, pn.member, &m);
	*hidden = rc == 0;
	return rc == PDB_ENOTFOUND ? 0 : rc;
}

/* The zone file's records, STATIC_BATCH names a step, in the tree's
 * (canonical) order; the apex SOA is sent first and last instead. */
static int step_static(struct dnsd_xfr *x)
{
	int rc = 0;

	if (!x->node)
		x->node = ldns_rbtree_first(x->zone->z->names);
	for (unsigned i = 0; i < STATIC_BATCH && rc == 0 && x->node != LDNS_RBTREE_NULL; i++) {
		const ldns_dnssec_name *n = x->node->data;
		bool hidden = false;
		x->node = ldns_rbtree_next(x->node);
		if ((rc = hidden_by_policy(x, n->name, &hidden)) != 0 || hidden)
			continue;
		for (const ldns_dnssec_rrsets *s = n->rrsets; s && rc == 0; s = s->next) {
			if (s->type == LDNS_RR_TYPE_SOA)
				continue;
			for (const ldns_dnssec_rrs *r = s->rrs; r && rc == 0; r = r->next)
				rc = put(x, r->rr);
		}
	}
	if (rc == 0 && x->node == LDNS_RBTREE_NULL)
		x->phase = x->zone == x->community && x->have_c ? PH_MEMBERS : PH_SOA_LAST;
	return rc;
}

/* ---- the catalog (RFC 9432) ---- */

/* A record from its text form: the catalog's few fixed records. */
static ldns_rr *rr_text(const char *text)
{
	ldns_rr *rr = NULL;

	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return NULL;
	return rr;
}

/* A member zone's entry: the label is a hash of the zone's name, stable
 * across serials and restarts (RFC 9432 4.1 lets the producer choose it),
 * so a secondary sees a zone come and go, never renamed. */
static int catalog_entry(struct dnsd_xfr *x, const char *zone)
{
	char buf[2 * PDB_NAME_MAX + 64];

	snprintf(buf, sizeof(buf), "z%016llx.zones.%s. 0 IN PTR %s.",
	         (unsigned long long)pdb_fnv1a64(zone, strlen(zone)), x->e->xfr_acl->catalog, zone);
	return emit(x, rr_text(buf));
}

static int catalog_member(struct dnsd_xfr *x, const char *member)
{
	char zone[PDB_NAME_MAX + 32];
	int rc;

	snprintf(zone, sizeof(zone), "_xmpp-server._tcp.%s", member);
	if ((rc = catalog_entry(x, zone)) != 0)
		return rc;
	snprintf(zone, sizeof(zone), "_xmpps-server._tcp.%s", member);
	return catalog_entry(x, zone);
}

static ldns_rr *catalog_soa(struct dnsd_xfr *x)
{
	struct dnsd_query q;
	uint32_t serial = (uint32_t)x->served;

	/* It moves with the community zone's: with every commit and every
	 * reload that changed the zone file. */
	query_init(x, &q, NULL, LDNS_RR_TYPE_SOA);
	if (x->community)
		serial = dnsd__zone_serial(&q, x->community);
	char buf[PDB_NAME_MAX + 80];
	snprintf(buf, sizeof(buf), "%s. 0 IN SOA invalid. invalid. %u 3600 600 2147483646 0",
	         x->e->xfr_acl->catalog, serial);
	return rr_text(buf);
}

/* The TLSA records at owner, as a query of the community zone gets them. */
static int tlsa_each(void *arg, const ldns_rdf *owner)
{
	struct dnsd_xfr *x = arg;
	return synth(x, owner, LDNS_RR_TYPE_TLSA, x->community, NULL);
}

/* The TLSA records of member (m as the snapshot has it), or with member
 * NULL of the clearinghouse hosts. */
static int member_tlsa(struct dnsd_xfr *x, const char *member, const struct pdb_member *m)
{
	struct dnsd_query q;

	query_init(x, &q, NULL, LDNS_RR_TYPE_TLSA);
	return dnsd__tlsa_names(&q, member, m, tlsa_each, x);
}

/* ---- the members, walked in slices ----
 * Each slice renders a few messages, then stops the walk; the next one
 * resumes after the last name done. */

static int member_each(void *arg, const char *name, const void *rec, size_t len)
{
	struct dnsd_xfr *x = arg;
	int rc = 0;

	if (x->walk_budget == 0)
		return WALK_STOP;
	bool inside = dnsd__policy_in_zone(name, x->c.zone);
	if (x->kind == XFR_CATALOG) {
		if (!inside)
			rc = catalog_member(x, name);
	} else if (inside) {
		struct pdb_member m;
		for (int tls = 0; tls < 2 && rc == 0; tls++) {
			ldns_rdf *owner = srv_name(name, tls);
			rc = owner ? synth(x, owner, LDNS_RR_TYPE_SRV, x->community, NULL) : -ENOMEM;
			ldns_rdf_deep_free(owner);
		}
		if (rc == 0 && (rc = pdb_member_decode(rec, len, &m)) == 0)
			rc = member_tlsa(x, name, &m);
	}
	snprintf(x->last, sizeof(x->last), "%s", name);
	x->walked = true;
	return rc;
}

static int step_members(struct dnsd_xfr *x)
{
	int rc;

	if (x->kind == XFR_APEX) {
		if ((rc = synth(x, x->qname, LDNS_RR_TYPE_NS, NULL, NULL)) == 0 &&
		    (rc = synth(x, x->qname, LDNS_RR_TYPE_SRV, NULL, NULL)) == 0)
			x->phase = PH_SOA_LAST;
		return rc;
	}
	if (x->kind == XFR_ZONE && !x->ch_tlsa_done) {
		x->ch_tlsa_done = true;
		if ((rc = member_tlsa(x, NULL, NULL)) != 0)
			return rc;
	}
	if (!x->walked && x->kind == XFR_CATALOG && x->community) {
		char zone[PDB_NAME_MAX + 1];
		snprintf(zone, sizeof(zone), "%.*s", x->c.zone.len, x->c.zone.p);
		if ((rc = catalog_entry(x, zone)) != 0)
			return rc;
	}
	x->walk_budget = x->collect ? UINT_MAX : FILL_MSGS;
	rc = pdb_walk_member_records_after(x->txn, x->walked ? x->last : NULL, member_each, x);
	if (rc == 0)
		x->phase = x->kind == XFR_CATALOG ? PH_REMOVED : PH_SOA_LAST;
	return rc == WALK_STOP ? 0 : rc;
}

/* Removed members whose apex zones dnsd still answers for (the grace
 * period): they stay in the catalog as long, so that secondaries go on
 * serving what dnsd serves, and drop them when dnsd does. */
static int removed_each(void *arg, const char *name, int64_t when)
{
	struct dnsd_xfr *x = arg;

	if (dnsd__policy_in_zone(name, x->c.zone) ||
	    x->now - when >= (int64_t)x->grace)
		return 0;
	return catalog_member(x, name);
}

static int step_removed(struct dnsd_xfr *x)
{
	int rc = 0;

	if (x->have_c)
		rc = pdb_walk_removed(x->txn, removed_each, x);
	if (rc == 0)
		x->phase = PH_SOA_LAST;
	return rc;
}

static int step(struct dnsd_xfr *x)
{
	int rc = 0;

	switch (x->phase) {
	case PH_SOA_FIRST:
		rc = emit(x, ldns_rr_clone(x->soa));
		if (rc == 0 && x->kind == XFR_CATALOG) {
			char buf[PDB_NAME_MAX + 32];
			snprintf(buf, sizeof(buf), "%s. 0 IN NS invalid.", x->e->xfr_acl->catalog);
			if ((rc = emit(x, rr_text(buf))) == 0) {
				snprintf(buf, sizeof(buf), "version.%s. 0 IN TXT \"2\"", x->e->xfr_acl->catalog);
				rc = emit(x, rr_text(buf));
			}
		}
		x->phase = x->kind == XFR_ZONE ? PH_STATIC : PH_MEMBERS;
		break;
	case PH_STATIC:
		rc = step_static(x);
		break;
	case PH_MEMBERS:
		rc = step_members(x);
		break;
	case PH_REMOVED:
		rc = step_removed(x);
		break;
	case PH_SOA_LAST:
		if (x->collect)
			;   /* a query: the SOA once */
		else if ((rc = emit(x, ldns_rr_clone(x->soa))) == 0)
			rc = flush(x);
		x->phase = PH_DONE;
		break;
	case PH_DONE:
		break;
	}
	return rc;
}

/* ---- the conversation ---- */

static int snapshot(struct dnsd_xfr *x)
{
	struct pdb_community tmp;
	size_t len;
	int rc;

	int64_t next;

	if ((rc = pdb_read_begin(x->e->db, &x->txn)) != 0 || (rc = pdb_serial(x->txn, &x->serial)) != 0 ||
	    (rc = pdb_served_serial(x->txn, x->now, &x->served, &next)) != 0 ||
	    (rc = pdb_removed_grace(x->txn, &x->grace)) != 0)
		return rc;
	rc = pdb_get_community(x->txn, &tmp);
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc != 0 || (rc = pdb_community_encode(&tmp, x->cbuf, sizeof(x->cbuf), &len)) != 0 ||
	    (rc = pdb_community_decode(x->cbuf, len, &x->c)) != 0)
		return rc;
	char zone[PDB_NAME_MAX + 1];
	snprintf(zone, sizeof(zone), "%.*s", x->c.zone.len, x->c.zone.p);
	x->community = dnsd__zone_by_name(x->e->zones, zone);
	x->have_c = true;
	return 0;
}

/* Which zone the question names, and its SOA: false if dnsd has no such
 * zone to give. */
static int find_zone(struct dnsd_xfr *x, bool *found)
{
	const dnsd_xfr_acl *acl = x->e->xfr_acl;
	struct policy_name pn;
	int rc;

	*found = false;
	if (acl->catalog_name && ldns_dname_compare(x->qname, acl->catalog_name) == 0) {
		x->kind = XFR_CATALOG;
		x->soa = catalog_soa(x);
		*found = true;
		return x->soa ? 0 : -ENOMEM;
	}
	const dnsd_zones *zs = x->e->zones;
	for (size_t i = 0; i < zs->n; i++) {
		if (ldns_dname_compare(x->qname, zs->v[i].apex) == 0) {
			x->kind = XFR_ZONE;
			x->zone = &zs->v[i];
			x->soa = zone_soa(x, x->zone);
			*found = true;
			return x->soa ? 0 : -ENOMEM;
		}
	}
	if (!x->have_c || !x->community)
		return 0;
	dnsd__policy_classify(x->qname, &pn);
	if (pn.kind != NAME_SRV || dnsd__policy_in_zone(pn.member, x->c.zone) ||
	    dnsd__zone_find(zs, x->qname))
		return 0;
	/* A member's apex is a zone while queries get an SOA there: a
	 * member, or one removed within the grace period. */
	x->kind = XFR_APEX;
	struct dnsd_query q;
	query_init(x, &q, x->qname, LDNS_RR_TYPE_SOA);
	if ((rc = dnsd__apex_stamp(&q, pn.member, &x->apex_stamp)) != 0 ||
	    (rc = synth(x, x->qname, LDNS_RR_TYPE_SOA, NULL, &x->soa)) != 0)
		return rc;
	*found = x->soa != NULL;
	return 0;
}

/* A query for a name in the catalog zone, from a client allowed to
 * transfer it: the catalog rendered whole (it is small: two records a
 * member outside the community zone), and the records at the name. */
static int answer_catalog(struct dnsd_xfr *x, ldns_rr_type qtype)
{
	ldns_pkt *p;
	bool exists = false, any = false;
	int rc = 0;

	x->kind = XFR_CATALOG;
	if (!(x->collect = ldns_rr_list_new()) || !(x->soa = catalog_soa(x)))
		return -ENOMEM;
	x->phase = PH_SOA_FIRST;
	while (rc == 0 && x->phase != PH_DONE)
		rc = step(x);
	if (rc || !(p = msg_new(x)))
		return rc ? rc : -ENOMEM;
	for (size_t i = 0; i < ldns_rr_list_rr_count(x->collect); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(x->collect, i);
		const ldns_rdf *owner = ldns_rr_owner(rr);
		bool here = ldns_dname_compare(owner, x->qname) == 0;
		exists = exists || here || ldns_dname_is_subdomain(owner, x->qname);
		if (here && (qtype == ldns_rr_get_type(rr) || qtype == LDNS_RR_TYPE_ANY)) {
			ldns_rr *c = ldns_rr_clone(rr);
			if (c)
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, c);
			any = true;
		}
	}
	if (!any) {
		ldns_pkt_set_rcode(p, exists ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(x->soa));
	}
	if (x->edns)
		ldns_pkt_set_edns_udp_size(p, EDNS_PAYLOAD);
	rc = queue_pkt(x, p, NULL, 0);
	ldns_pkt_free(p);
	x->phase = PH_DONE;
	return rc;
}

/* ---- IXFR from the journal (RFC 1995) ----
 * The difference between the client's version and ours, condensed into
 * one (RFC 1995 4): for each member name the journal says changed, and
 * each whose not-after passed since, its SRV records as the client's
 * version gives them (the older record, at the time that version was
 * served) against those the snapshot gives now, both from the code that
 * answers queries. */

struct ixfr_name {
	const char *name;             /* malloc'd */
	bool current;                 /* no commit changed it: the snapshot's record */
	bool existed;
	const void *before;           /* into the snapshot */
	size_t before_len;
};

struct ixfr {
	struct dnsd_xfr *x;
	int64_t old_at;               /* when the client's version was served */
	struct ixfr_name *v;
	size_t n, cap;
	const char *apex_member;      /* XFR_APEX: the member whose zone it is */
};

static void ixfr_free(struct ixfr *d)
{
	for (size_t i = 0; i < d->n; i++)
		free((char *)d->v[i].name);
	free(d->v);
}

/* A member whose answers changed since the client's version, with its
 * record as the client has it: WALK_STOP when only the whole zone will do. */
static int ixfr_name_add(struct ixfr *d, const char *member, bool current, bool existed,
                         const void *before, size_t before_len)
{
	const char *view = d->x->view;

	if (view && strcmp(member, view) == 0)
		return WALK_STOP;
	/* An apex zone holds its own member's records only. */
	if (d->apex_member ? strcmp(member, d->apex_member) != 0
	                   : !dnsd__policy_in_zone(member, d->x->c.zone))
		return 0;
	/* The first change after the client's version holds the record as
	 * the client has it. */
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, member) == 0)
			return 0;
	if (d->n == IXFR_NAMES_MAX)
		return WALK_STOP;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct ixfr_name *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	char *name = strdup(member);
	if (!name)
		return -ENOMEM;
	d->v[d->n++] = (struct ixfr_name){ name, current, existed, before, before_len };
	return 0;
}

/* Each change: WALK_STOP when only the whole zone will do. */
static int ixfr_change(void *arg, const struct pdb_change *c)
{
	struct ixfr *d = arg;
	const char *view = d->x->view;

	switch (c->kind) {
	case PDB_CHANGE_COMMUNITY:
		return WALK_STOP;
	case PDB_CHANGE_OVERRIDE:
		/* The default view decides nothing; a keyed view decides
		 * between its member and each other one. */
		if (view && (strcmp(c->name, view) == 0 || strcmp(c->other, view) == 0))
			return WALK_STOP;
		return 0;
	case PDB_CHANGE_MEMBER:
		break;
	default:
		return WALK_STOP;
	}
	return ixfr_name_add(d, c->name, false, c->existed, c->before, c->before_len);
}

/* Each time event since the client's version: its member's answers
 * changed with no commit, from its record as the snapshot has it unless
 * a commit changed that too (then the journal gave it first). */
static int ixfr_event(void *arg, int64_t when, enum pdb_event_kind kind, const char *name)
{
	(void)when, (void)kind;
	return ixfr_name_add(arg, name, true, false, NULL, 0);
}

/* The records of type t at owner (in zone z, NULL: a member's apex
 * outside every zone), into list: as the snapshot has them, or with old
 * at time at for member's record as it was (old->existed false: absent;
 * old->current: as the snapshot has it). */
static int synth_into(struct dnsd_xfr *x, const struct dnsd_zone *z, const ldns_rdf *owner,
                      ldns_rr_type t, const struct ixfr_name *old, int64_t at,
                      ldns_rr_list *list)
{
	struct dnsd_query q;
	struct pdb_member m;
	bool done = false;
	int rc;

	query_init(x, &q, owner, t);
	if (old)
		q.now = at;
	if (old && !old->current) {
		q.member_fixed = true;
		q.member_name = old->name;
		if (old->existed) {
			if ((rc = pdb_member_decode(old->before, old->before_len, &m)) != 0)
				return rc;
			q.member_given = &m;
		}
	}
	if (!(q.r = ldns_pkt_new()))
		return -ENOMEM;
	rc = synth_answer(&q, z, &done);
	const ldns_rr_list *an = ldns_pkt_answer(q.r);
	for (size_t i = 0; rc == 0 && done && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) != t)
			continue;
		ldns_rr *c = ldns_rr_clone(rr);
		if (!c || !ldns_rr_list_push_rr(list, c)) {
			ldns_rr_free(c);
			rc = -ENOMEM;
		}
	}
	ldns_pkt_free(q.r);
	return rc;
}

/* TLSA names of one member, old and new, each once. */
struct tlsa_names {
	ldns_rdf *v[4 * PDB_MAX_TARGETS];
	size_t n;
};

static int tlsa_name_add(void *arg, const ldns_rdf *owner)
{
	struct tlsa_names *t = arg;

	for (size_t i = 0; i < t->n; i++)
		if (ldns_dname_compare(t->v[i], owner) == 0)
			return 0;
	if (t->n == sizeof(t->v) / sizeof(t->v[0]))
		return WALK_STOP;
	return (t->v[t->n++] = ldns_rdf_clone(owner)) ? 0 : -ENOMEM;
}

/* Is there a member above name in the community zone?  The TLSA names
 * below a member that comes or goes change hands with it. */
static int member_above(struct dnsd_xfr *x, const char *name, bool *yes)
{
	struct pdb_member m;
	const char *p = strchr(name, '.');

	*yes = false;
	for (; p && dnsd__policy_in_zone(p + 1, x->c.zone) && strlen(p + 1) > x->c.zone.len;
	     p = strchr(p + 1, '.')) {
		int rc = pdb_get_member(x->txn, p + 1, &m);
		if (rc == 0) {
			*yes = true;
			return 0;
		}
		if (rc != PDB_ENOTFOUND)
			return rc;
	}
	return 0;
}

static int rr_minus(const ldns_rr_list *a, const ldns_rr_list *b, ldns_rr_list *out);

/* The TLSA records of one changed member's names, before and now. */
static int ixfr_tlsa_diff(struct dnsd_xfr *x, const struct ixfr_name *old, int64_t old_at,
                          ldns_rr_list *del, ldns_rr_list *add)
{
	struct tlsa_names names = { .n = 0 };
	struct pdb_member was, is;
	struct dnsd_query q;
	bool exists, above = false;
	int rc = 0;

	query_init(x, &q, NULL, LDNS_RR_TYPE_TLSA);
	q.member_fixed = true;
	q.member_name = old->name;
	if (old->existed && (rc = pdb_member_decode(old->before, old->before_len, &was)) == 0) {
		q.member_given = &was;
		rc = dnsd__tlsa_names(&q, old->name, &was, tlsa_name_add, &names);
	}
	if (rc == 0 && (rc = pdb_get_member(x->txn, old->name, &is)) == 0) {
		query_init(x, &q, NULL, LDNS_RR_TYPE_TLSA);
		rc = dnsd__tlsa_names(&q, old->name, &is, tlsa_name_add, &names);
	}
	exists = rc == 0;
	if (rc == PDB_ENOTFOUND)
		rc = 0;
	if (rc == 0 && exists != old->existed && (rc = member_above(x, old->name, &above)) == 0 &&
	    above)
		rc = WALK_STOP;
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		ldns_rr_list *a = ldns_rr_list_new(), *b = ldns_rr_list_new();
		if (!a || !b)
			rc = -ENOMEM;
		else if ((rc = synth_into(x, x->community, names.v[i], LDNS_RR_TYPE_TLSA, old, old_at,
		                          a)) == 0 &&
		         (rc = synth_into(x, x->community, names.v[i], LDNS_RR_TYPE_TLSA, NULL, 0,
		                          b)) == 0 &&
		         (rc = rr_minus(a, b, del)) == 0)
			rc = rr_minus(b, a, add);
		ldns_rr_list_deep_free(a);
		ldns_rr_list_deep_free(b);
	}
	for (size_t i = 0; i < names.n; i++)
		ldns_rdf_deep_free(names.v[i]);
	return rc;
}

static bool rr_in(const ldns_rr *rr, const ldns_rr_list *l)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_compare(rr, ldns_rr_list_rr(l, i)) == 0)
			return true;
	return false;
}

/* What is in a and not in b, cloned onto out. */
static int rr_minus(const ldns_rr_list *a, const ldns_rr_list *b, ldns_rr_list *out)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(a); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(a, i);
		if (rr_in(rr, b))
			continue;
		ldns_rr *c = ldns_rr_clone(rr);
		if (!c || !ldns_rr_list_push_rr(out, c)) {
			ldns_rr_free(c);
			return -ENOMEM;
		}
	}
	return 0;
}

/* The deleted and added records of the community zone; WALK_STOP when a
 * name the difference touches has records of the zone file, which the
 * policy hides while the member exists. */
static int ixfr_zone_diff(struct dnsd_xfr *x, const struct ixfr *d, ldns_rr_list *del,
                          ldns_rr_list *add)
{
	int rc = 0;

	for (size_t i = 0; i < d->n && rc == 0; i++) {
		for (int tls = 0; tls < 2 && rc == 0; tls++) {
			ldns_rdf *owner = srv_name(d->v[i].name, tls);
			ldns_rr_list *was = ldns_rr_list_new(), *is = ldns_rr_list_new();
			const ldns_dnssec_name *fn = owner ? dnsd__zone_name(x->community, owner) : NULL;
			if (!owner || !was || !is)
				rc = -ENOMEM;
			else if (fn && fn->rrsets)
				rc = WALK_STOP;
			else if ((rc = synth_into(x, x->community, owner, LDNS_RR_TYPE_SRV, &d->v[i],
			                          d->old_at, was)) == 0 &&
			         (rc = synth_into(x, x->community, owner, LDNS_RR_TYPE_SRV, NULL, 0,
			                          is)) == 0 &&
			         (rc = rr_minus(was, is, del)) == 0)
				rc = rr_minus(is, was, add);
			ldns_rr_list_deep_free(was);
			ldns_rr_list_deep_free(is);
			ldns_rdf_deep_free(owner);
		}
		if (rc == 0)
			rc = ixfr_tlsa_diff(x, &d->v[i], d->old_at, del, add);
	}
	return rc;
}

/* The deleted and added records of a member's apex zone: its SRV records,
 * as the client's version gave them and as they are; its SOA and NS are
 * the community zone's in both. */
static int ixfr_apex_diff(struct dnsd_xfr *x, const struct ixfr *d, ldns_rr_list *del,
                          ldns_rr_list *add)
{
	ldns_rr_list *was, *is;
	int rc;

	if (d->n == 0)
		return 0;
	was = ldns_rr_list_new();
	is = ldns_rr_list_new();
	if (!was || !is)
		rc = -ENOMEM;
	else if ((rc = synth_into(x, NULL, x->qname, LDNS_RR_TYPE_SRV, &d->v[0], d->old_at,
	                          was)) == 0 &&
	         (rc = synth_into(x, NULL, x->qname, LDNS_RR_TYPE_SRV, NULL, 0, is)) == 0 &&
	         (rc = rr_minus(was, is, del)) == 0)
		rc = rr_minus(is, was, add);
	ldns_rr_list_deep_free(was);
	ldns_rr_list_deep_free(is);
	return rc;
}

static int put_list(struct dnsd_xfr *x, const ldns_rr_list *l)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < ldns_rr_list_rr_count(l); i++)
		rc = put(x, ldns_rr_list_rr(l, i));
	return rc;
}

/* Remember that zone z, as loaded, was transferred at policy serial
 * serial: an IXFR from an older version may span a reload, whose serial
 * base differs.  Every worker's transfers mark the shared zone. */
static void zone_mark(const struct dnsd_zone *z, uint64_t serial)
{
	uint64_t *mark = (uint64_t *)&z->xfr_mark;
	uint64_t cur = __atomic_load_n(mark, __ATOMIC_ACQUIRE);

	while (cur == 0 || cur > serial + 1) {
		if (__atomic_compare_exchange_n(mark, &cur, serial + 1, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			break;
	}
}

/* Was policy serial old served with zone z as loaded now? */
static bool zone_served_at(const struct dnsd_zone *z, uint64_t old)
{
	uint64_t cur = __atomic_load_n(&z->xfr_mark, __ATOMIC_ACQUIRE);

	return cur && old + 1 >= cur;
}

/* The IXFR answer from the client's serial theirs, queued: 0 with
 * *whole false, or *whole true when the whole zone is to be sent. */
static int ixfr_from(struct dnsd_xfr *x, uint32_t theirs, bool *whole)
{
	uint32_t ours = ldns_rdf2native_int32(ldns_rr_rdf(x->soa, 2));
	uint32_t back = ours - theirs;
	unsigned max = x->e->journal_max_set ? x->e->journal_max : DNSD_JOURNAL_MAX_DEFAULT;
	struct ixfr d = { .x = x };
	uint64_t old_serial;
	/* An apex zone's serial is its own stamp's, not the served one. */
	uint64_t top = x->kind == XFR_APEX ? x->apex_stamp : x->served;
	ldns_rr_list *del = NULL, *add = NULL;
	struct policy_name pn;
	int rc;

	*whole = true;
	if (!x->have_c || !x->community || x->kind == XFR_CATALOG ||
	    (x->kind == XFR_ZONE && x->zone != x->community))
		return 0;
	if (back > max || back > top || !zone_served_at(x->community, top - back))
		return 0;
	if (x->kind == XFR_APEX) {
		dnsd__policy_classify(x->qname, &pn);
		d.apex_member = pn.member;
	}
	/* The client's version: a commit, and the time events after it that
	 * it was served with; the difference is what commits changed since,
	 * and what events changed since that time. */
	rc = pdb_served_find(x->txn, top - back, x->now, &old_serial, &d.old_at);
	if (rc == 0)
		rc = pdb_changes_since(x->txn, old_serial, ixfr_change, &d);
	if (rc == 0)
		rc = pdb_walk_events(x->txn, d.old_at, x->now, ixfr_event, &d);
	if (rc == PDB_ETOOOLD || rc == WALK_STOP) {
		ixfr_free(&d);
		return 0;
	}
	if (rc == 0 && (!(del = ldns_rr_list_new()) || !(add = ldns_rr_list_new())))
		rc = -ENOMEM;
	if (rc == 0 && x->kind == XFR_ZONE)
		rc = ixfr_zone_diff(x, &d, del, add);
	else if (rc == 0)
		rc = ixfr_apex_diff(x, &d, del, add);
	size_t members = 0, nrr = del && add ? ldns_rr_list_rr_count(del) + ldns_rr_list_rr_count(add) : 0;
	if (rc == 0 && (rc = pdb_member_count(x->txn, &members)) == 0 && nrr > 2 * members)
		rc = WALK_STOP;   /* larger than the zone: send the zone */
	ldns_rr *old_soa = rc == 0 ? ldns_rr_clone(x->soa) : NULL;
	if (rc == 0 && !old_soa)
		rc = -ENOMEM;
	if (rc == 0) {
		ldns_rdf_deep_free(ldns_rr_set_rdf(old_soa, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32,
		                                                                   theirs), 2));
		*whole = false;
		if ((rc = put(x, x->soa)) == 0 && (rc = put(x, old_soa)) == 0 &&
		    (rc = put_list(x, del)) == 0 && (rc = put(x, x->soa)) == 0 &&
		    (rc = put_list(x, add)) == 0 && (rc = put(x, x->soa)) == 0)
			rc = flush(x);
		x->phase = PH_DONE;
	}
	if (rc == WALK_STOP)
		rc = 0;
	ldns_rr_free(old_soa);
	ldns_rr_list_deep_free(del);
	ldns_rr_list_deep_free(add);
	ixfr_free(&d);
	return rc;
}

/* RFC 1982: is serial a before b? */
static bool serial_before(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}

/* Decide what the request gets; the first messages are queued or the
 * full transfer is set going. */
static int start(struct dnsd_xfr *x, const ldns_pkt *p, const uint8_t *q, size_t qlen)
{
	const ldns_rr_type qtype = ldns_rr_get_type(x->question);
	const struct dnsd__xfr_rule *rule;
	bool found;
	int rc;

	rc = dnsd_tsig_verify(x->e->keys, q, qlen, x->now, &x->tsig);
	if (rc == -EBADMSG)
		return reply_one(x, LDNS_RCODE_FORMERR, false, false);
	if (rc)
		return rc;
	if (x->tsig.error)
		return reply_one(x, LDNS_RCODE_NOTAUTH, false, false);
	if (ldns_rr_get_class(x->question) != LDNS_RR_CLASS_IN)
		return reply_one(x, LDNS_RCODE_REFUSED, false, false);
	if (!(rule = dnsd__xfr_acl_match(x->e->xfr_acl, x->e->keys, &x->client, x->tsig.key)))
		return reply_one(x, LDNS_RCODE_REFUSED, true, false);
	if (rule->has_view) {
		snprintf(x->view_buf, sizeof(x->view_buf), "%s", rule->view);
		x->view = x->view_buf;
	}
	if (qtype != LDNS_RR_TYPE_AXFR && qtype != LDNS_RR_TYPE_IXFR) {
		if ((rc = snapshot(x)) != 0)
			return rc;
		return answer_catalog(x, qtype);
	}
	/* An IXFR names the client's version in its authority section
	 * (RFC 1995 3); an AXFR has none. */
	const ldns_rr_list *ns = ldns_pkt_authority(p);
	const ldns_rr *have = ldns_rr_list_rr_count(ns) == 1 ? ldns_rr_list_rr(ns, 0) : NULL;
	if (qtype == LDNS_RR_TYPE_IXFR && (!have || ldns_rr_get_type(have) != LDNS_RR_TYPE_SOA ||
	                                   ldns_rr_rd_count(have) != 7))
		return reply_one(x, LDNS_RCODE_FORMERR, false, false);
	if ((rc = snapshot(x)) != 0 || (rc = find_zone(x, &found)) != 0)
		return rc;
	if (!found)
		return reply_one(x, LDNS_RCODE_NOTAUTH, false, false);
	if (x->community)
		zone_mark(x->community, x->served);
	if (qtype == LDNS_RR_TYPE_IXFR) {
		uint32_t theirs = ldns_rdf2native_int32(ldns_rr_rdf(have, 2));
		uint32_t ours = ldns_rdf2native_int32(ldns_rr_rdf(x->soa, 2));
		/* A client that is current (or ahead) gets our SOA alone; an
		 * older one the difference from the journal, or the whole zone
		 * AXFR-style where that cannot be had (RFC 1995 4).  Over UDP
		 * only a difference that fits one message is sent, else TC sends
		 * the client to TCP. */
		if (!serial_before(theirs, ours))
			return reply_one(x, LDNS_RCODE_NOERROR, false, false);
		struct dnsd_tsig_ctx tsig = x->tsig;
		bool whole;
		if ((rc = ixfr_from(x, theirs, &whole)) != 0)
			return rc;
		if (!whole && (!x->single || (x->nqueued == 1 && x->qlen - 2 <= x->udp_size)))
			return 0;
		x->qlen = x->qhead = 0;
		x->nqueued = 0;
		x->tsig = tsig;
		if (x->single)
			return reply_one(x, LDNS_RCODE_NOERROR, false, true);
	} else if (x->single) {
		return reply_one(x, LDNS_RCODE_FORMERR, false, false);
	}
	x->phase = PH_SOA_FIRST;
	return 0;
}

int dnsd__xfr_new(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                  bool single, dnsd_xfr **out)
{
	dnsd_xfr *x;
	ldns_pkt *p = NULL;
	int rc;

	*out = NULL;
	if (ldns_wire2pkt(&p, q, qlen) != LDNS_STATUS_OK)
		return 0;   /* malformed: dnsd_answer says FORMERR */
	if (!(x = calloc(1, sizeof(*x)))) {
		ldns_pkt_free(p);
		return -ENOMEM;
	}
	x->e = e;
	x->zones_gen = e->zones_gen;
	x->client = *c;
	x->single = single;
	x->now = (int64_t)time(NULL);
	x->edns = ldns_pkt_edns(p);
	x->udp_size = x->edns && ldns_pkt_edns_udp_size(p) > 512 ? ldns_pkt_edns_udp_size(p) : 512;
	x->id = ldns_pkt_id(p);
	x->rd = ldns_pkt_rd(p);
	x->cd = ldns_pkt_cd(p);
	x->phase = PH_DONE;
	x->question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(p), 0));
	if (!x->question || !(x->w = malloc(sizeof(*x->w)))) {
		rc = -ENOMEM;
	} else {
		dnsd__wire_init(x->w);
		x->qname = ldns_rr_owner(x->question);
		rc = start(x, p, q, qlen);
	}
	ldns_pkt_free(p);
	if (rc) {
		dnsd_xfr_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* Render messages until FILL_MSGS are waiting or the zone is done. */
static int fill(struct dnsd_xfr *x)
{
	int rc = 0;

	while (rc == 0 && x->phase != PH_DONE && x->nqueued < FILL_MSGS)
		rc = step(x);
	return rc;
}

int dnsd_xfr_next(dnsd_xfr *x, uint8_t *out, size_t cap, size_t *len)
{
	int rc;

	if (!x || !out || !len || cap < DNSD_MSG_MAX)
		return -EINVAL;
	*len = 0;
	if (x->err)
		return x->err;
	if (x->zones_gen != x->e->zones_gen)
		return x->err = -ESTALE;
	if (x->qhead == x->qlen) {
		x->qhead = x->qlen = 0;
		x->nqueued = 0;
		if ((rc = fill(x)) != 0)
			return x->err = rc;
		if (x->qlen == 0)
			return 0;
	}
	size_t n = (size_t)x->q[x->qhead] << 8 | x->q[x->qhead + 1];
	memcpy(out, x->q + x->qhead + 2, n);
	*len = n;
	x->qhead += 2 + n;
	return x->qhead < x->qlen || x->phase != PH_DONE ? 1 : 0;
}

void dnsd_xfr_free(dnsd_xfr *x)
{
	if (!x)
		return;
	pdb_read_end(x->txn);
	ldns_rr_free(x->question);
	ldns_rr_free(x->soa);
	free(x->w);
	ldns_rr_list_deep_free(x->collect);
	free(x->q);
	free(x);
}

bool dnsd__xfr_is_catalog(const dnsd_engine *e, const uint8_t *q, size_t qlen)
{
	const ldns_rdf *cat = e->xfr_acl ? e->xfr_acl->catalog_name : NULL;
	size_t off = LDNS_HEADER_SIZE, clen;

	if (!cat || qlen < LDNS_HEADER_SIZE || LDNS_QDCOUNT(q) != 1)
		return false;
	clen = ldns_rdf_size(cat);
	/* Each suffix of the question's name (uncompressed: a question has
	 * nothing before it to point to), against the catalog's name, which
	 * is in lower case. */
	while (off < qlen && q[off] <= 63) {
		if (qlen - off >= clen && q[off] == ldns_rdf_data(cat)[0]) {
			size_t i = 0;
			for (; i < clen; i++) {
				uint8_t c = q[off + i];
				if (c >= 'A' && c <= 'Z')
					c = (uint8_t)(c + 32);
				if (c != ldns_rdf_data(cat)[i])
					break;
			}
			if (i == clen)
				return true;
		}
		if (q[off] == 0)
			break;
		off += 1u + q[off];
	}
	return false;
}

int dnsd__xfr_answer_one(dnsd_engine *e, const uint8_t *q, size_t qlen,
                         const struct dnsd_client *c, uint8_t *out, size_t cap, size_t *outlen)
{
	dnsd_xfr *x = NULL;
	int rc;

	*outlen = 0;
	if ((rc = dnsd__xfr_new(e, q, qlen, c, true, &x)) != 0 || !x)
		return rc;
	uint8_t *msg = e->scratch;
	size_t n = 0;
	rc = dnsd_xfr_next(x, msg, DNSD_MSG_MAX, &n);
	if (rc >= 0 && n <= cap) {
		memcpy(out, msg, n);
		*outlen = n;
	}
	dnsd_xfr_free(x);
	return rc < 0 ? rc : 0;
}

void dnsd_engine_set_journal_max(dnsd_engine *e, unsigned max)
{
	if (e) {
		e->journal_max = max;
		e->journal_max_set = true;
	}
}
