/* Online signing: an answer to a query with DO=1 is signed as it is
 * rendered, RRset by RRset, with the keys active at its apex now (RFC
 * 4034, 4035).  The rendered bytes go into the answer cache with the
 * signatures in them, held no longer than the refresh time before the
 * earliest expiration and the next key event, so a cached answer costs
 * what an unsigned one does and is never served expired.  The signature
 * itself is ldns's (ldns_sign_public_buffer, OpenSSL); the RRSIG is
 * assembled here because the keys are shared by every worker thread and
 * by every apex, so neither their owner nor their validity period may be
 * set on them as ldns_sign_public would. */
#include <errno.h>
#include <string.h>

#include "internal.h"

int dnsd_engine_set_dnssec(dnsd_engine *e, const dnsd_keyset *keys, uint32_t validity,
                           uint32_t inception_offset, uint32_t refresh)
{
	if (!e || (keys && (validity == 0 || refresh >= validity)))
		return -EINVAL;
	e->dnssec.keys = keys;
	e->dnssec.validity = validity;
	e->dnssec.inception_offset = inception_offset;
	e->dnssec.refresh = refresh;
	/* Answers cached unsigned must not be served as if signed, nor the
	 * other way round: they are all of another generation now. */
	e->zones_gen++;
	return 0;
}

/* ---- signing RRsets ---- */

/* The keys of the apexes one response touches (rarely more than two). */
#define SIGNER_APEXES 4

struct signer {
	struct dnsd_query *x;
	uint32_t inception, expiration;
	struct {
		ldns_rdf *apex;            /* lower case */
		int rc;
		struct dnsd_zone_keys zk;
	} memo[SIGNER_APEXES];
	size_t nmemo;
	ldns_buffer *buf;
};

static const struct dnsd_zone_keys *signer_keys(struct signer *s, ldns_rdf *apex)
{
	size_t i;

	for (i = 0; i < s->nmemo; i++)
		if (ldns_dname_compare(s->memo[i].apex, apex) == 0)
			break;
	if (i == s->nmemo) {
		if (i == SIGNER_APEXES) {
			ldns_rdf_deep_free(apex);
			return NULL;
		}
		s->memo[i].apex = apex;
		s->memo[i].rc = dnsd__zone_keys(s->x, apex, &s->memo[i].zk);
		s->nmemo++;
		if (s->memo[i].rc == 0 && s->memo[i].zk.next_change)
			dnsd__hold_until(s->x, s->memo[i].zk.next_change);
	} else {
		ldns_rdf_deep_free(apex);
	}
	return s->memo[i].rc == 0 ? &s->memo[i].zk : NULL;
}

/* The apex whose keys sign an RRset of owner and type found in section
 * sec, as a new lower-case rdf; NULL for what the server does not sign:
 * a delegation's NS and the glue below it (RFC 4035 2.2), and names of no
 * zone of ours. */
static ldns_rdf *signer_apex(const struct dnsd_query *x, const ldns_rdf *owner, ldns_rr_type type)
{
	ldns_rdf *apex = dnsd__policy_apex_of(x, owner);
	const struct dnsd_zone *z;

	if (!apex) {
		if (!(z = dnsd__zone_find(x->e->zones, owner)))
			return NULL;
		if (type == LDNS_RR_TYPE_NS && ldns_dname_compare(owner, z->apex) != 0)
			return NULL;
		ldns_dnssec_name *cut = dnsd__zone_cut(z, owner);
		/* Below a cut, or at it: the child's data, except the parent's
		 * NSEC and DS there. */
		if (cut && !((type == LDNS_RR_TYPE_NSEC || type == LDNS_RR_TYPE_DS) &&
		             ldns_dname_compare(ldns_dnssec_name_name(cut), owner) == 0))
			return NULL;
		apex = ldns_rdf_clone(z->apex);
	} else if (type == LDNS_RR_TYPE_NS && ldns_dname_compare(owner, apex) != 0) {
		ldns_rdf_deep_free(apex);
		return NULL;
	}
	if (apex)
		ldns_dname2canonical(apex);
	return apex;
}

/* Labels of the owner for the RRSIG: the root and a wildcard's "*" do
 * not count (RFC 4034 3.1.3). */
static uint8_t owner_labels(const ldns_rdf *owner)
{
	uint8_t n = ldns_dname_label_count(owner);
	const uint8_t *w = ldns_rdf_data(owner);

	if (n && w[0] == 1 && w[1] == '*')
		n--;
	return n;
}

/* One RRSIG over set (already in canonical form and order) by key k;
 * NULL when out of memory or the key cannot sign. */
static ldns_rr *sign_one(struct signer *s, const ldns_rr_list *canon, const ldns_rr *first,
                         const ldns_rdf *apex, const struct dnsd_key *k)
{
	ldns_rr *sig = ldns_rr_new_frm_type(LDNS_RR_TYPE_RRSIG);
	uint32_t ttl = ldns_rr_ttl(first);
	ldns_rdf *b64;

	if (!sig)
		return NULL;
	ldns_rr_set_owner(sig, ldns_rdf_clone(ldns_rr_owner(first)));
	ldns_rr_set_class(sig, ldns_rr_get_class(first));
	ldns_rr_set_ttl(sig, ttl);
	ldns_rr_rrsig_set_typecovered(sig, ldns_native2rdf_int16(LDNS_RDF_TYPE_TYPE,
	                                                         ldns_rr_get_type(first)));
	ldns_rr_rrsig_set_algorithm(sig, ldns_native2rdf_int8(LDNS_RDF_TYPE_ALG, k->alg));
	ldns_rr_rrsig_set_labels(sig, ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8,
	                                                   owner_labels(ldns_rr_owner(first))));
	ldns_rr_rrsig_set_origttl(sig, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, ttl));
	ldns_rr_rrsig_set_expiration(sig, ldns_native2rdf_int32(LDNS_RDF_TYPE_TIME, s->expiration));
	ldns_rr_rrsig_set_inception(sig, ldns_native2rdf_int32(LDNS_RDF_TYPE_TIME, s->inception));
	ldns_rr_rrsig_set_keytag(sig, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, k->tag));
	ldns_rr_rrsig_set_signame(sig, ldns_rdf_clone(apex));
	ldns_buffer_clear(s->buf);
	/* RFC 4034 3.1.8.1: the RRSIG's RDATA without the signature, then
	 * the RRset in canonical form. */
	if (ldns_rrsig2buffer_wire(s->buf, sig) != LDNS_STATUS_OK ||
	    ldns_rr_list2buffer_wire(s->buf, canon) != LDNS_STATUS_OK ||
	    !(b64 = ldns_sign_public_buffer(s->buf, k->priv))) {
		ldns_rr_free(sig);
		return NULL;
	}
	ldns_rr_rrsig_set_sig(sig, b64);
	return sig;
}

/* Push the RRSIGs of set (records of one owner and type, as in the
 * packet) to out.  Returns 0 or -ENOMEM; an RRset of no signed zone
 * gets none. */
static int sign_rrset(struct signer *s, const ldns_rr_list *set, ldns_rr_list *out)
{
	const ldns_rr *first = ldns_rr_list_rr(set, 0);
	ldns_rr_type type = ldns_rr_get_type(first);
	ldns_rdf *apex = signer_apex(s->x, ldns_rr_owner(first), type);
	const struct dnsd_zone_keys *zk;
	const struct dnsd_key *keys[2 * DNSD_KEYS_ACTIVE];
	size_t nkeys = 0;
	int rc = 0;

	if (!apex || !(zk = signer_keys(s, apex)))
		return 0;   /* apex now belongs to the memo, or was freed */
	/* DNSKEY by the KSKs; CDS and CDNSKEY by both kinds, so that the
	 * parent's checks (RFC 7344 4.1) pass with either key in its DS; the
	 * rest by the ZSKs.  A CSK is in both lists: once is enough. */
	if (type != LDNS_RR_TYPE_DNSKEY)
		for (size_t i = 0; i < zk->nzsk; i++)
			keys[nkeys++] = zk->zsk[i];
	if (type == LDNS_RR_TYPE_DNSKEY || type == LDNS_RR_TYPE_CDS || type == LDNS_RR_TYPE_CDNSKEY)
		for (size_t i = 0; i < zk->nksk; i++) {
			bool dup = false;
			for (size_t j = 0; j < nkeys; j++)
				dup |= keys[j] == zk->ksk[i];
			if (!dup)
				keys[nkeys++] = zk->ksk[i];
		}
	ldns_rr_list *canon = ldns_rr_list_clone(set);
	if (!canon)
		return -ENOMEM;
	for (size_t i = 0; i < ldns_rr_list_rr_count(canon); i++) {
		ldns_rr *rr = ldns_rr_list_rr(canon, i);
		ldns_rr_set_ttl(rr, ldns_rr_ttl(first));
		ldns_rr2canonical(rr);
	}
	ldns_rr_list_sort(canon);
	const ldns_rdf *signame = NULL;
	for (size_t i = 0; i < s->nmemo; i++)
		if (&s->memo[i].zk == zk)
			signame = s->memo[i].apex;
	for (size_t i = 0; i < nkeys && rc == 0; i++) {
		ldns_rr *sig = sign_one(s, canon, first, signame, keys[i]);
		if (!sig || !ldns_rr_list_push_rr(out, sig)) {
			ldns_rr_free(sig);
			rc = -ENOMEM;
		}
	}
	ldns_rr_list_deep_free(canon);
	return rc;
}

static bool same_rrset(const ldns_rr *a, const ldns_rr *b)
{
	return ldns_rr_get_type(a) == ldns_rr_get_type(b) &&
	       ldns_rr_get_class(a) == ldns_rr_get_class(b) &&
	       ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b)) == 0;
}

/* Rebuild one section with each RRset's records together, followed by
 * their RRSIGs: a cut of the additional section then drops a signature
 * only with its RRset. */
static int sign_section(struct signer *s, ldns_pkt_section sec)
{
	ldns_pkt *r = s->x->r;
	ldns_rr_list *in = sec == LDNS_SECTION_ANSWER ? ldns_pkt_answer(r) :
	                   sec == LDNS_SECTION_AUTHORITY ? ldns_pkt_authority(r) :
	                   ldns_pkt_additional(r);
	size_t n = ldns_rr_list_rr_count(in);
	ldns_rr_list *out = ldns_rr_list_new(), *set = ldns_rr_list_new();
	bool *taken = calloc(n ? n : 1, sizeof(*taken));
	int rc = out && set && taken ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (taken[i])
			continue;
		ldns_rr *rr = ldns_rr_list_rr(in, i);
		ldns_rr_list_set_rr_count(set, 0);
		for (size_t j = i; j < n; j++) {
			if (!taken[j] && same_rrset(rr, ldns_rr_list_rr(in, j))) {
				taken[j] = true;
				ldns_rr_list_push_rr(set, ldns_rr_list_rr(in, j));
				ldns_rr_list_push_rr(out, ldns_rr_list_rr(in, j));
			}
		}
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG)
			rc = sign_rrset(s, set, out);
	}
	if (rc == 0) {
		/* The records moved to out; the old list goes, not them. */
		ldns_rr_list_free(in);
		if (sec == LDNS_SECTION_ANSWER) {
			ldns_pkt_set_answer(r, out);
			ldns_pkt_set_ancount(r, (uint16_t)ldns_rr_list_rr_count(out));
		} else if (sec == LDNS_SECTION_AUTHORITY) {
			ldns_pkt_set_authority(r, out);
			ldns_pkt_set_nscount(r, (uint16_t)ldns_rr_list_rr_count(out));
		} else {
			ldns_pkt_set_additional(r, out);
			ldns_pkt_set_arcount(r, (uint16_t)ldns_rr_list_rr_count(out));
		}
		out = NULL;
	} else if (out) {
		/* Keep the records in the packet; drop only the signatures. */
		for (size_t i = 0; i < ldns_rr_list_rr_count(out); i++) {
			ldns_rr *o = ldns_rr_list_rr(out, i);
			bool ours = true;
			for (size_t j = 0; j < n && ours; j++)
				ours = ldns_rr_list_rr(in, j) != o;
			if (ours)
				ldns_rr_free(o);
		}
		ldns_rr_list_free(out);
	}
	ldns_rr_list_free(set);
	free(taken);
	return rc;
}

int dnsd__sign_response(struct dnsd_query *x)
{
	const struct dnsd__dnssec *d = &x->e->dnssec;
	struct signer s = { .x = x };
	int rc;

	if ((rc = dnsd__nsec_deny(x)) != 0)
		return rc;
	/* RFC 4034 3.1.5: serial arithmetic; the cast wraps in 2106. */
	s.inception = (uint32_t)(x->now - (int64_t)d->inception_offset);
	s.expiration = (uint32_t)(x->now + (int64_t)d->validity);
	if (!(s.buf = ldns_buffer_new(LDNS_MAX_PACKETLEN)))
		return -ENOMEM;
	rc = sign_section(&s, LDNS_SECTION_ANSWER);
	if (rc == 0)
		rc = sign_section(&s, LDNS_SECTION_AUTHORITY);
	if (rc == 0)
		rc = sign_section(&s, LDNS_SECTION_ADDITIONAL);
	/* Served from the cache until refresh before the signatures expire,
	 * then rendered and signed again. */
	dnsd__hold_until(x, x->now + (int64_t)d->validity - (int64_t)d->refresh);
	for (size_t i = 0; i < s.nmemo; i++)
		ldns_rdf_deep_free(s.memo[i].apex);
	ldns_buffer_free(s.buf);
	return rc;
}
