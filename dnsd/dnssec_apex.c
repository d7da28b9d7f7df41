/* The keys against what dnsd serves: every apex it answers at (each
 * zone's, each out-of-zone member's two SRV apexes) must have an active
 * key when it starts, and each has a DS for its parent. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnssec.h"
#include "internal.h"

static const char *const srv_prefixes[] = { "_xmpp-server._tcp.", "_xmpps-server._tcp." };

/* The community zone's apex from the store, or NULL with *out NULL when
 * no community is loaded. */
static int community_apex(pdb_txn *txn, ldns_rdf **out)
{
	struct pdb_community c;
	char buf[PDB_NAME_MAX + 2];
	int rc = pdb_get_community(txn, &c);

	*out = NULL;
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	snprintf(buf, sizeof(buf), "%.*s.", c.zone.len, c.zone.p);
	return (*out = ldns_dname_new_frm_str(buf)) ? 0 : -ENOMEM;
}

static int check_apex(const dnsd_keyset *ks, const ldns_rdf *apex, const ldns_rdf *community,
                      int64_t now, char *err, size_t errlen)
{
	struct dnsd_zone_keys zk;
	int rc = dnsd_keyset_at(ks, apex, community, now, &zk);
	char *name;

	if (rc != DNSD_EKEY)
		return rc;
	name = ldns_rdf2str(apex);
	if (zk.npublished == 0 && zk.next_change == 0)
		snprintf(err, errlen, "no DNSSEC key for %s (nor for the community zone)",
		         name ? name : "?");
	else if (zk.nzsk == 0)
		snprintf(err, errlen, "no DNSSEC key for %s is active now%s", name ? name : "?",
		         zk.next_change ? " (one will be later: see its Activate time)" : "");
	else
		snprintf(err, errlen, "more than %d DNSSEC keys of a kind for %s are active at once",
		         DNSD_KEYS_ACTIVE, name ? name : "?");
	free(name);
	return DNSD_EKEY;
}

int dnsd_dnssec_keys_open(const struct dnsd_config *c, const dnsd_zones *zones, pdb_t *db,
                          int64_t now, dnsd_keyset **out, char *err, size_t errlen)
{
	dnsd_keyset *ks = NULL;
	ldns_rdf *community = NULL;
	pdb_txn *txn = NULL;
	int rc;

	if (!c || !zones || !db || !out || !err || !errlen)
		return -EINVAL;
	*out = NULL;
	if (!c->dnssec.keys)
		return 0;
	if ((rc = dnsd_keyset_load(c->dnssec.keys, &ks, err, errlen)) != 0)
		return rc;
	if ((rc = pdb_read_begin(db, &txn)) == 0)
		rc = community_apex(txn, &community);
	pdb_read_end(txn);
	/* Each zone's apex, and each name keys are made for: the member apexes
	 * that have no keys of their own take the community's, checked with
	 * the community zone's. */
	for (size_t i = 0; rc == 0 && i < zones->n; i++)
		rc = check_apex(ks, zones->v[i].apex, community, now, err, errlen);
	for (size_t i = 0; rc == 0 && i < dnsd_keyset_count(ks); i++)
		rc = check_apex(ks, ldns_rr_owner(dnsd_keyset_key(ks, i)->dnskey), community, now, err,
		                errlen);
	ldns_rdf_deep_free(community);
	if (rc) {
		if (rc != DNSD_EKEY)
			snprintf(err, errlen, "%s", dnsd_strerror(rc));
		dnsd_keyset_free(ks);
		return rc;
	}
	*out = ks;
	return 0;
}

/* ---- DS ---- */

struct ds_walk {
	FILE *f;
	const dnsd_keyset *ks;
	ldns_rdf *community;
	pdb_str zone;
	int64_t now;
	char *err;
	size_t errlen;
};

static int print_apex(struct ds_walk *w, const ldns_rdf *apex)
{
	struct dnsd_zone_keys zk;
	int rc = check_apex(w->ks, apex, w->community, w->now, w->err, w->errlen);

	if (rc)
		return rc;
	dnsd_keyset_at(w->ks, apex, w->community, w->now, &zk);
	if (zk.ncds == 0) {
		char *name = ldns_rdf2str(apex);
		snprintf(w->err, w->errlen, "%s has no active KSK or CSK whose DS the parent should "
		         "hold", name ? name : "?");
		free(name);
		return DNSD_EKEY;
	}
	for (size_t i = 0; i < zk.ncds; i++) {
		ldns_rr *ds;
		if ((rc = dnsd_keys_ds(zk.cds[i], apex, &ds)) != 0)
			return rc;
		ldns_rr_print(w->f, ds);
		ldns_rr_free(ds);
	}
	return 0;
}

static int print_text(struct ds_walk *w, const char *text)
{
	ldns_rdf *apex = ldns_dname_new_frm_str(text);
	int rc;

	if (!apex)
		return -ENOMEM;
	rc = print_apex(w, apex);
	ldns_rdf_deep_free(apex);
	return rc;
}

/* A member outside the community zone delegates its two SRV names to us:
 * both are apexes. */
static int member_apexes(void *arg, const char *name, const struct pdb_member *m)
{
	struct ds_walk *w = arg;
	char buf[PDB_NAME_MAX + 32];
	int rc = 0;
	(void)m;

	if (dnsd__policy_in_zone(name, w->zone))
		return 0;
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		snprintf(buf, sizeof(buf), "%s%s.", srv_prefixes[i], name);
		rc = print_text(w, buf);
	}
	return rc;
}

/* Is text (lower case, no trailing dot) an apex we answer at? */
static int is_apex(pdb_txn *txn, const dnsd_zones *zones, pdb_str zone, const char *text,
                   bool *yes)
{
	char member[PDB_NAME_MAX + 1];
	struct pdb_member m;

	*yes = dnsd__zone_by_name(zones, text) != NULL;
	for (size_t i = 0; !*yes && i < 2; i++) {
		size_t n = strlen(srv_prefixes[i]);
		if (strncmp(text, srv_prefixes[i], n) != 0 ||
		    pdb_name_normalise(text + n, member, NULL) != 0 ||
		    dnsd__policy_in_zone(member, zone))
			continue;
		int rc = pdb_get_member(txn, member, &m);
		if (rc && rc != PDB_ENOTFOUND)
			return rc;
		*yes = rc == 0;
	}
	return 0;
}

int dnsd_dnssec_print_ds(FILE *f, const dnsd_keyset *ks, const dnsd_zones *zones, pdb_t *db,
                         const char *apex, int64_t now, char *err, size_t errlen)
{
	struct ds_walk w = { f, ks, NULL, { NULL, 0 }, now, err, errlen };
	struct pdb_community c;
	pdb_txn *txn = NULL;
	char text[PDB_NAME_MAX + 32];
	int rc;

	if (!f || !ks || !zones || !db || !err || !errlen)
		return -EINVAL;
	if ((rc = pdb_read_begin(db, &txn)) != 0)
		return rc;
	if ((rc = pdb_get_community(txn, &c)) == 0)
		w.zone = c.zone;
	else if (rc == PDB_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = community_apex(txn, &w.community);
	if (rc == 0 && apex) {
		size_t n = strlen(apex);
		bool yes = false;
		while (n && apex[n - 1] == '.')
			n--;
		snprintf(text, sizeof(text), "%.*s", (int)n, apex);
		for (char *p = text; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if ((rc = is_apex(txn, zones, w.zone, text, &yes)) == 0 && !yes) {
			snprintf(err, errlen, "%s is not an apex dnsd answers at (a zone's, or "
			         "_xmpp-server._tcp. or _xmpps-server._tcp. of a member outside the "
			         "community zone)", apex);
			rc = DNSD_EKEY;
		}
		if (rc == 0) {
			strcat(text, ".");
			rc = print_text(&w, text);
		}
	} else if (rc == 0) {
		for (size_t i = 0; rc == 0 && i < zones->n; i++)
			rc = print_apex(&w, zones->v[i].apex);
		if (rc == 0)
			rc = pdb_walk_members(txn, member_apexes, &w);
	}
	ldns_rdf_deep_free(w.community);
	pdb_read_end(txn);
	if (rc && rc != DNSD_EKEY)
		snprintf(err, errlen, "%s", dnsd_strerror(rc));
	return rc;
}
