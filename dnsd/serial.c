/* The SOA serials dnsd serves.
 *
 * A zone's served serial is its file's serial plus, for the community
 * zone, the served policy serial (pdb_served_serial: the commit serial
 * plus the time events, such as a not-after, passed so far), both mod
 * 2^32 (RFC 1982).  A sum rather than
 * either alone: every policy commit moves it by one, and so does every
 * bump of the file's serial, as with any primary, so that caches and
 * secondaries learn of a change from either side and it never goes back
 * when only one side moves.  A reload whose records changed while the
 * file's serial did not move forward would still leave the serial as it
 * was; dnsd_zones_follow then moves it on by itself and says so. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* RFC 1982: a is past b (not equal) in serial number arithmetic. */
static bool serial_after(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;
	return d != 0 && d < 0x80000000u;
}

static uint32_t file_serial(const struct dnsd_zone *z)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(z->soa->rrs->rr, 2));
}

/* FNV-1a, then a finaliser so that sums of hashes mix well. */
static uint64_t rr_hash(const uint8_t *p, size_t n)
{
	uint64_t h = pdb_fnv1a64(p, n);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return h;
}

/* The records in no particular order: ldns's order of RRsets within a
 * name may follow the file's, which is no change of data.  A sum keeps a
 * record given twice apart from one given once. */
static uint64_t zone_digest(const struct dnsd_zone *z)
{
	uint64_t sum = 0;

	for (ldns_rbnode_t *node = ldns_rbtree_first(z->z->names); node != LDNS_RBTREE_NULL;
	     node = ldns_rbtree_next(node)) {
		const ldns_dnssec_name *name = node->data;
		for (const ldns_dnssec_rrsets *set = name->rrsets; set; set = set->next) {
			for (const ldns_dnssec_rrs *r = set->rrs; r; r = r->next) {
				uint8_t *wire = NULL;
				size_t n = 0;
				if (ldns_rr2wire(&wire, r->rr, LDNS_SECTION_ANSWER, &n) == LDNS_STATUS_OK)
					sum += rr_hash(wire, n);
				else
					sum += 1;   /* out of memory: a change at worst */
				free(wire);
			}
		}
	}
	return sum;
}

void dnsd__zone_stamp(struct dnsd_zone *z)
{
	z->serial_base = file_serial(z);
	z->digest = zone_digest(z);
}

int dnsd__apex_stamp(const struct dnsd_query *x, const char *member, uint64_t *stamp)
{
	uint64_t view = 0;
	int rc;

	if ((rc = pdb_member_stamp(x->txn, member, x->now, stamp)) != 0)
		return rc;
	/* A keyed view's member decides what every apex gives in its view. */
	if (x->view_fixed && x->view_member &&
	    (rc = pdb_member_stamp(x->txn, x->view_member, x->now, &view)) != 0)
		return rc;
	if (view > *stamp)
		*stamp = view;
	return 0;
}

uint32_t dnsd__zone_serial(const struct dnsd_query *x, const struct dnsd_zone *z)
{
	uint32_t s = z->serial_base;
	uint64_t stamp;

	if (!x->c || x->community != z)
		return s;
	/* Each apex zone moves only when its own answers can have: a commit
	 * to another member does not send its secondaries a transfer.  A
	 * store error falls back to the community zone's, which is never
	 * behind it. */
	if (x->apex_member && dnsd__apex_stamp(x, x->apex_member, &stamp) == 0)
		return s + (uint32_t)stamp;
	return s + (uint32_t)x->served;
}

static void follow_one(struct dnsd_zone *n, const struct dnsd_zone *p, bool *stale)
{
	/* What an operator's bump of the file's serial adds to what dnsd
	 * added on its own before. */
	uint32_t next = p->serial_base + (file_serial(n) - file_serial(p));
	bool changed = n->digest != p->digest;

	*stale = false;
	if (changed && !serial_after(next, p->serial_base)) {
		next = p->serial_base + 1;
		*stale = true;
	} else if (!changed && serial_after(p->serial_base, next)) {
		next = p->serial_base;
	}
	n->serial_base = next;
}

int dnsd_zones_follow(dnsd_zones *next, const dnsd_zones *prev, char *stale, size_t len)
{
	size_t used = 0;
	int count = 0;

	if (!next || !prev || (len && !stale))
		return -EINVAL;
	if (len)
		stale[0] = '\0';
	for (size_t i = 0; i < next->n; i++) {
		struct dnsd_zone *n = &next->v[i];
		bool moved;

		for (size_t j = 0; j < prev->n; j++) {
			if (ldns_dname_compare(n->apex, prev->v[j].apex) != 0)
				continue;
			follow_one(n, &prev->v[j], &moved);
			if (!moved)
				break;
			count++;
			char *apex = ldns_rdf2str(n->apex);
			if (used < len) {
				int k = snprintf(stale + used, len - used, "%s%s", used ? " " : "",
				                 apex ? apex : "?");
				used += k > 0 ? (size_t)k : 0;
			}
			free(apex);
			break;
		}
	}
	return count;
}
