/* Static zone data, read with ldns from master files.  Names are kept in
 * ldns's tree, which compares names case-insensitively. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void zone__free(struct dnsd_zone *z)
{
	if (z->z)
		ldns_dnssec_zone_deep_free(z->z);
	memset(z, 0, sizeof(*z));
}

static int zone__load(const char *file, struct dnsd_zone *z, char *err, size_t errlen)
{
	FILE *fp = fopen(file, "r");
	int line = 0;
	ldns_status st;

	if (!fp) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return DNSD_EZONE;
	}
	st = ldns_dnssec_zone_new_frm_fp_l(&z->z, fp, NULL, 3600, LDNS_RR_CLASS_IN, &line);
	fclose(fp);
	if (st != LDNS_STATUS_OK) {
		z->z = NULL;
		snprintf(err, errlen, "%s:%d: %s", file, line, ldns_get_errorstr_by_id(st));
		return DNSD_EZONE;
	}
	if (!z->z->soa || !z->z->soa->rrsets || !(z->soa = ldns_dnssec_name_find_rrset(z->z->soa, LDNS_RR_TYPE_SOA))) {
		snprintf(err, errlen, "%s: no SOA record", file);
		return DNSD_EZONE;
	}
	if (z->soa->rrs->next) {
		snprintf(err, errlen, "%s: more than one SOA record", file);
		return DNSD_EZONE;
	}
	z->apex = ldns_rr_owner(z->soa->rrs->rr);
	z->ns = ldns_dnssec_name_find_rrset(z->z->soa, LDNS_RR_TYPE_NS);
	if (!z->ns) {
		snprintf(err, errlen, "%s: no NS records at the apex", file);
		return DNSD_EZONE;
	}
	/* Names with nothing of their own but with names below them exist:
	 * they answer NODATA, not NXDOMAIN. */
	if (ldns_dnssec_zone_add_empty_nonterminals(z->z) != LDNS_STATUS_OK) {
		snprintf(err, errlen, "%s: out of memory", file);
		return DNSD_EZONE;
	}
	dnsd__zone_stamp(z);
	return 0;
}

int dnsd_zones_load(const char *const *files, size_t n, dnsd_zones **out, char *err,
                    size_t errlen)
{
	dnsd_zones *zs;
	int rc = 0;

	if (!files || !out)
		return -EINVAL;
	*out = NULL;
	if (!(zs = calloc(1, sizeof(*zs))) || (n && !(zs->v = calloc(n, sizeof(*zs->v))))) {
		free(zs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = zone__load(files[i], &zs->v[i], err, errlen);
		zs->n = i + 1;
		for (size_t j = 0; rc == 0 && j < i; j++) {
			if (ldns_dname_compare(zs->v[j].apex, zs->v[i].apex) == 0) {
				char *apex = ldns_rdf2str(zs->v[i].apex);
				snprintf(err, errlen, "%s: zone %s is already loaded from %s", files[i],
				         apex ? apex : "?", files[j]);
				free(apex);
				rc = DNSD_EZONE;
			}
		}
	}
	if (rc) {
		dnsd_zones_free(zs);
		return rc;
	}
	*out = zs;
	return 0;
}

void dnsd_zones_free(dnsd_zones *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->n; i++)
		zone__free(&zs->v[i]);
	free(zs->v);
	free(zs);
}

size_t dnsd_zones_count(const dnsd_zones *zs)
{
	return zs ? zs->n : 0;
}

const struct dnsd_zone *dnsd__zone_find(const dnsd_zones *zs, const ldns_rdf *name)
{
	const struct dnsd_zone *best = NULL;

	for (size_t i = 0; i < zs->n; i++) {
		const struct dnsd_zone *z = &zs->v[i];
		if (ldns_dname_compare(name, z->apex) != 0 && !ldns_dname_is_subdomain(name, z->apex))
			continue;
		if (!best || ldns_dname_label_count(z->apex) > ldns_dname_label_count(best->apex))
			best = z;
	}
	return best;
}

const struct dnsd_zone *dnsd__zone_by_name(const dnsd_zones *zs, const char *apex)
{
	ldns_rdf *d = ldns_dname_new_frm_str(apex);
	const struct dnsd_zone *z = NULL;

	for (size_t i = 0; d && i < zs->n; i++)
		if (ldns_dname_compare(d, zs->v[i].apex) == 0)
			z = &zs->v[i];
	ldns_rdf_deep_free(d);
	return z;
}

ldns_dnssec_name *dnsd__zone_name(const struct dnsd_zone *z, const ldns_rdf *name)
{
	ldns_rbnode_t *node = ldns_rbtree_search(z->z->names, name);
	return node ? (ldns_dnssec_name *)node->data : NULL;
}
