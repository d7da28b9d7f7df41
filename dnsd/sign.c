/* Online signing: an answer to a query with DO=1 is signed as it is
 * rendered, RRset by RRset, with the keys active at its apex now (RFC
 * 4034, 4035).  The rendered bytes go into the answer cache with the
 * signatures in them, held no longer than the refresh time before the
 * earliest expiration and the next key event, so a cached answer costs
 * what an unsigned one does and is never served expired.
 *
 * A cache miss pays for the signatures, so each worker keeps what makes
 * them cheaper (struct dnsd__signer): OpenSSL contexts set up once per
 * key, where ldns would set up one per signature, and the signatures it
 * made lately, by the exact data they cover: the SOA of every negative
 * answer, the NSEC of a wildcard, the clearinghouse's addresses are the
 * same RRsets answer after answer, and are signed once per refresh time.
 * The keys are shared by every worker thread and by every apex: nothing
 * of a signature's owner or validity is set on them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "internal.h"

/* The longest signature: Ed25519's, and P-256's as r||s (RFC 6605 4). */
#define SIG_MAX 64
/* The signature cache: SIGCACHE_SETS sets of SIGCACHE_WAYS, the least
 * recently used of a set replaced.  Signed data longer than
 * SIGCACHE_DATA_MAX (the RRSIG fields and the RRset) is signed each time:
 * the RRsets answers share are a few records, and a slot holds the data
 * to compare exactly. */
#define SIGCACHE_SETS 64
#define SIGCACHE_WAYS 4
#define SIGCACHE_DATA_MAX 512
/* RFC 4034 3.1: where the algorithm, expiration, inception and key tag
 * lie in the RRSIG RDATA, and how long its fields before the signer's
 * name are. */
#define RRSIG_ALG_OFF 2
#define RRSIG_TIMES_OFF 8
#define RRSIG_TAG_OFF 16
#define RRSIG_FIXED_LEN 18

/* One signature made lately.  The data it covers is kept with both
 * times zero: the same RRset under the same key at another time is the
 * same entry. */
struct sig_entry {
	const struct dnsd_key *key;   /* NULL: empty */
	uint64_t hash;                /* of data */
	uint64_t used;                /* the signer's tick when last used */
	int64_t made;                 /* the time it was made */
	int64_t until;                /* reused before this time only */
	uint32_t inception, expiration;
	uint16_t len;
	uint8_t siglen;
	uint8_t sig[SIG_MAX];
	uint8_t data[SIGCACHE_DATA_MAX];
};

/* A key's OpenSSL state, set up at its first signature on this thread. */
struct key_ctx {
	const struct dnsd_key *key;
	EVP_MD_CTX *md;               /* Ed25519: EVP_DigestSign */
	EVP_PKEY_CTX *pk;             /* ECDSA: EVP_PKEY_sign of a digest */
};

static void key_ctx_clear(struct key_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	EVP_PKEY_CTX_free(c->pk);
	c->md = NULL;
	c->pk = NULL;
}

/* One record of the RRset being signed, in canonical form in rrs. */
struct rr_pos {
	const uint8_t *rdata;
	size_t off, len, rdlen;
};

/* What one worker's signing keeps from one answer to the next: the
 * engine's, freed with it, emptied when its keys or settings change. */
struct dnsd__signer {
	struct key_ctx *kc;
	size_t nkc;
	EVP_MD *sha256;               /* fetched once (ECDSA) */
	EVP_MD_CTX *digest;
	ldns_buffer *rrs;             /* the RRset's records, canonical */
	ldns_buffer *data;            /* what one signature covers */
	struct rr_pos *pos;
	size_t npos;
	uint64_t tick;
	struct sig_entry cache[SIGCACHE_SETS][SIGCACHE_WAYS];
};

void dnsd__signer_free(struct dnsd__signer *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nkc; i++)
		key_ctx_clear(&g->kc[i]);
	free(g->kc);
	EVP_MD_free(g->sha256);
	EVP_MD_CTX_free(g->digest);
	if (g->rrs)
		ldns_buffer_free(g->rrs);
	if (g->data)
		ldns_buffer_free(g->data);
	free(g->pos);
	free(g);
}

static struct dnsd__signer *signer_new(void)
{
	struct dnsd__signer *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	/* Grown by ldns as records need; this is enough for most. */
	g->rrs = ldns_buffer_new(1024);
	g->data = ldns_buffer_new(1024);
	g->digest = EVP_MD_CTX_new();
	if (!g->rrs || !g->data || !g->digest) {
		dnsd__signer_free(g);
		return NULL;
	}
	return g;
}

int dnsd_engine_set_dnssec(dnsd_engine *e, const dnsd_keyset *keys, uint32_t validity,
                           uint32_t inception_offset, uint32_t refresh)
{
	if (!e || (keys && (validity == 0 || refresh >= validity)))
		return -EINVAL;
	e->dnssec.keys = keys;
	e->dnssec.validity = validity;
	e->dnssec.inception_offset = inception_offset;
	e->dnssec.refresh = refresh;
	/* The signatures kept were made with the old settings, and the keys
	 * they name may be freed once every worker has moved on. */
	dnsd__signer_free(e->signer);
	e->signer = NULL;
	/* Answers cached unsigned must not be served as if signed, nor the
	 * other way round: they are all of another generation now. */
	e->zones_gen++;
	return 0;
}

/* ---- signing RRsets ---- */

/* The keys of the apexes one response touches (rarely more than two). */
#define SIGNER_APEXES 4

struct answer_signing {
	struct dnsd_query *x;
	uint32_t inception, expiration;
	struct {
		ldns_rdf *apex;            /* lower case */
		int rc;
		struct dnsd_zone_keys zk;
	} memo[SIGNER_APEXES];
	size_t nmemo;
};

static const struct dnsd_zone_keys *signer_keys(struct answer_signing *s, ldns_rdf *apex)
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

/* ---- signatures ---- */

static struct key_ctx *key_ctx_of(struct dnsd__signer *g, const struct dnsd_key *k)
{
	for (size_t i = 0; i < g->nkc; i++)
		if (g->kc[i].key == k)
			return &g->kc[i];
	struct key_ctx *v = realloc(g->kc, (g->nkc + 1) * sizeof(*v));
	if (!v)
		return NULL;
	g->kc = v;
	v[g->nkc] = (struct key_ctx){ .key = k };
	return &v[g->nkc++];
}

/* Set up the contexts k signs with on this thread: the provider fetch and
 * key setup OpenSSL does here are most of what a signature costs beside
 * the arithmetic, so they are done once.  Returns 0, or -EINVAL when
 * OpenSSL will not sign with the key (c is then left clear). */
static int key_ctx_init(struct dnsd__signer *g, struct key_ctx *c)
{
	EVP_PKEY *pkey = ldns_key_evp_key(c->key->priv);
	bool ok;

	key_ctx_clear(c);
	if (!pkey)
		return -EINVAL;
	if (c->key->alg == LDNS_ED25519) {
		ok = (c->md = EVP_MD_CTX_new()) &&
		     EVP_DigestSignInit(c->md, NULL, NULL, NULL, pkey) == 1;
	} else {
		ok = (g->sha256 || (g->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) &&
		     (c->pk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) &&
		     EVP_PKEY_sign_init(c->pk) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(c->pk, g->sha256) == 1;
	}
	if (!ok) {
		key_ctx_clear(c);
		return -EINVAL;
	}
	return 0;
}

/* OpenSSL's DER signature as r||s, each 32 bytes (RFC 6605 4). */
static size_t ecdsa_raw(const uint8_t *der, size_t len, uint8_t out[SIG_MAX])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	size_t n = 0;

	if (!sig)
		return 0;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32)
		n = 64;
	ECDSA_SIG_free(sig);
	return n;
}

static size_t sign_ecdsa(struct dnsd__signer *g, struct key_ctx *c, const uint8_t *data,
                         size_t len, uint8_t out[SIG_MAX])
{
	uint8_t dgst[EVP_MAX_MD_SIZE], der[128];
	unsigned dlen = 0;
	size_t derlen = sizeof(der);

	if (EVP_DigestInit_ex2(g->digest, g->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(g->digest, data, len) != 1 ||
	    EVP_DigestFinal_ex(g->digest, dgst, &dlen) != 1 ||
	    EVP_PKEY_sign(c->pk, der, &derlen, dgst, dlen) != 1)
		return 0;
	return ecdsa_raw(der, derlen, out);
}

/* The signature of data (len bytes) by k into out; its length, or 0 when
 * OpenSSL could not make it. */
static size_t key_sign(struct dnsd__signer *g, const struct dnsd_key *k, const uint8_t *data,
                       size_t len, uint8_t out[SIG_MAX])
{
	struct key_ctx *c = key_ctx_of(g, k);

	if (!c)
		return 0;
	if (!c->md && !c->pk && key_ctx_init(g, c) != 0)
		return 0;
	if (k->alg != LDNS_ED25519)
		return sign_ecdsa(g, c, data, len, out);
	size_t n = SIG_MAX;
	if (EVP_DigestSign(c->md, out, &n, data, len) == 1)
		return n;
	/* An OpenSSL that takes one EVP_DigestSign per initialisation: once
	 * more, set up anew. */
	n = SIG_MAX;
	if (key_ctx_init(g, c) != 0 || EVP_DigestSign(c->md, out, &n, data, len) != 1)
		return 0;
	return n;
}

/* ---- the signed data ---- */

static int rdata_cmp(const void *a, const void *b)
{
	const struct rr_pos *x = a, *y = b;
	size_t n = x->rdlen < y->rdlen ? x->rdlen : y->rdlen;
	int c = memcmp(x->rdata, y->rdata, n);

	if (c)
		return c;
	return x->rdlen < y->rdlen ? -1 : x->rdlen > y->rdlen;
}

/* Append set to g->data in canonical form and order (RFC 4034 6.2, 6.3),
 * every TTL the first record's.  Returns 0 or -ENOMEM. */
static int put_canonical_rrset(struct dnsd__signer *g, const ldns_rr_list *set, uint32_t ttl)
{
	size_t n = ldns_rr_list_rr_count(set);

	if (n > g->npos) {
		struct rr_pos *v = realloc(g->pos, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->pos = v;
		g->npos = n;
	}
	ldns_buffer_clear(g->rrs);
	for (size_t i = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(set, i);
		size_t off = ldns_buffer_position(g->rrs);
		if (ldns_rr2buffer_wire_canonical(g->rrs, rr, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK ||
		    !ldns_buffer_status_ok(g->rrs))
			return -ENOMEM;
		size_t ttl_off = off + ldns_rdf_size(ldns_rr_owner(rr)) + 4;
		ldns_buffer_write_u32_at(g->rrs, ttl_off, ttl);
		g->pos[i] = (struct rr_pos){
			.off = off,
			.len = ldns_buffer_position(g->rrs) - off,
			.rdlen = ldns_buffer_read_u16_at(g->rrs, ttl_off + 4),
		};
	}
	/* The buffer may have moved while it grew. */
	for (size_t i = 0; i < n; i++)
		g->pos[i].rdata = ldns_buffer_at(g->rrs, g->pos[i].off + g->pos[i].len - g->pos[i].rdlen);
	qsort(g->pos, n, sizeof(*g->pos), rdata_cmp);
	if (!ldns_buffer_reserve(g->data, ldns_buffer_position(g->rrs)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ldns_buffer_write(g->data, ldns_buffer_at(g->rrs, g->pos[i].off), g->pos[i].len);
	return ldns_buffer_status_ok(g->data) ? 0 : -ENOMEM;
}

/* g->data: the RRSIG RDATA without its signature (RFC 4034 3.1.8.1),
 * algorithm, times and key tag zero as each key sets them, then set.
 * Returns 0 or -ENOMEM. */
static int build_signed_data(struct dnsd__signer *g, const ldns_rr_list *set, const ldns_rr *first,
                             const ldns_rdf *signer)
{
	ldns_buffer *b = g->data;
	uint32_t ttl = ldns_rr_ttl(first);

	ldns_buffer_clear(b);
	if (!ldns_buffer_reserve(b, RRSIG_FIXED_LEN + ldns_rdf_size(signer)))
		return -ENOMEM;
	ldns_buffer_write_u16(b, (uint16_t)ldns_rr_get_type(first));
	ldns_buffer_write_u8(b, 0);    /* algorithm */
	ldns_buffer_write_u8(b, owner_labels(ldns_rr_owner(first)));
	ldns_buffer_write_u32(b, ttl);
	ldns_buffer_write_u32(b, 0);   /* expiration */
	ldns_buffer_write_u32(b, 0);   /* inception */
	ldns_buffer_write_u16(b, 0);   /* key tag */
	ldns_buffer_write(b, ldns_rdf_data(signer), ldns_rdf_size(signer));
	return put_canonical_rrset(g, set, ttl);
}

/* The fields of g->data that are k's, the times zero. */
static void signed_data_key(struct dnsd__signer *g, const struct dnsd_key *k)
{
	uint8_t *d = ldns_buffer_begin(g->data);

	d[RRSIG_ALG_OFF] = k->alg;
	memset(d + RRSIG_TIMES_OFF, 0, 8);
	ldns_write_uint16(d + RRSIG_TAG_OFF, k->tag);
}

/* ---- the signature cache ---- */

static struct sig_entry *cache_find(struct dnsd__signer *g, const struct dnsd_key *k,
                                    uint64_t hash, const uint8_t *data, size_t len)
{
	struct sig_entry *set = g->cache[hash % SIGCACHE_SETS];

	for (size_t i = 0; i < SIGCACHE_WAYS; i++)
		if (set[i].key == k && set[i].hash == hash && set[i].len == len &&
		    memcmp(set[i].data, data, len) == 0)
			return &set[i];
	return NULL;
}

/* The slot a new signature of hash goes into: an empty one, else the
 * least recently used of its set. */
static struct sig_entry *cache_victim(struct dnsd__signer *g, uint64_t hash)
{
	struct sig_entry *set = g->cache[hash % SIGCACHE_SETS], *v = &set[0];

	for (size_t i = 0; i < SIGCACHE_WAYS; i++) {
		if (!set[i].key)
			return &set[i];
		if (set[i].used < v->used)
			v = &set[i];
	}
	return v;
}

/* The RRSIG record: owner, class and TTL of first, RDATA the signed
 * data's fields with their times, then the signature. */
static ldns_rr *rrsig_new(const ldns_rr *first, const uint8_t *fields, size_t flen,
                          uint32_t inception, uint32_t expiration, const uint8_t *sig,
                          size_t siglen)
{
	uint8_t w[2 + RRSIG_FIXED_LEN + LDNS_MAX_DOMAINLEN + 1 + SIG_MAX];
	size_t rdlen = flen + siglen, pos = 0;
	ldns_rr *rr;
	ldns_rdf *owner;

	if (rdlen + 2 > sizeof(w))
		return NULL;
	ldns_write_uint16(w, (uint16_t)rdlen);
	memcpy(w + 2, fields, flen);
	ldns_write_uint32(w + 2 + RRSIG_TIMES_OFF, expiration);
	ldns_write_uint32(w + 2 + RRSIG_TIMES_OFF + 4, inception);
	memcpy(w + 2 + flen, sig, siglen);
	if (!(rr = ldns_rr_new()))
		return NULL;
	if (!(owner = ldns_rdf_clone(ldns_rr_owner(first)))) {
		ldns_rr_free(rr);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_RRSIG);
	ldns_rr_set_class(rr, ldns_rr_get_class(first));
	ldns_rr_set_ttl(rr, ldns_rr_ttl(first));
	if (ldns_wire2rdf(rr, w, rdlen + 2, &pos) != LDNS_STATUS_OK) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

/* One RRSIG by key k over the data build_signed_data left, for the RRset
 * whose first record is first: one made lately over the very same data
 * if it is still good to give, else a new one.  flen: the length of the
 * RRSIG's fields in the data; zk_next: the next key event of the
 * signer's keys (0: none).  NULL when out of memory or the key cannot
 * sign. */
static ldns_rr *sign_one(struct answer_signing *s, const ldns_rr *first, size_t flen,
                         const struct dnsd_key *k, int64_t zk_next)
{
	struct dnsd__signer *g = s->x->e->signer;
	const struct dnsd__dnssec *d = &s->x->e->dnssec;
	int64_t now = s->x->now;

	signed_data_key(g, k);
	uint8_t *data = ldns_buffer_begin(g->data);
	size_t len = ldns_buffer_position(g->data);
	uint64_t hash = pdb_fnv1a64(data, len);
	struct sig_entry *e = len <= SIGCACHE_DATA_MAX ? cache_find(g, k, hash, data, len) : NULL;

	g->tick++;
	/* Made before now (a clock set back makes no signature valid from
	 * the future), and not yet due for renewal nor past a key event. */
	if (e && e->made <= now && now < e->until) {
		e->used = g->tick;
		dnsd__hold_until(s->x, e->until);
		return rrsig_new(first, data, flen, e->inception, e->expiration, e->sig, e->siglen);
	}
	uint8_t sig[SIG_MAX];
	ldns_write_uint32(data + RRSIG_TIMES_OFF, s->expiration);
	ldns_write_uint32(data + RRSIG_TIMES_OFF + 4, s->inception);
	size_t siglen = key_sign(g, k, data, len, sig);
	if (!siglen)
		return NULL;
	if (len <= SIGCACHE_DATA_MAX) {
		if (!e)
			e = cache_victim(g, hash);
		*e = (struct sig_entry){
			.key = k, .hash = hash, .used = g->tick, .made = now,
			.until = now + (int64_t)d->validity - (int64_t)d->refresh,
			.inception = s->inception, .expiration = s->expiration,
			.len = (uint16_t)len, .siglen = (uint8_t)siglen,
		};
		if (zk_next && zk_next < e->until)
			e->until = zk_next;
		memcpy(e->sig, sig, siglen);
		memcpy(e->data, data, len);
		memset(e->data + RRSIG_TIMES_OFF, 0, 8);
	}
	return rrsig_new(first, data, flen, s->inception, s->expiration, sig, siglen);
}

/* Push the RRSIGs of set (records of one owner and type, as in the
 * packet) to out.  Returns 0 or -ENOMEM; an RRset of no signed zone
 * gets none. */
static int sign_rrset(struct answer_signing *s, const ldns_rr_list *set, ldns_rr_list *out)
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
	const ldns_rdf *signame = NULL;
	for (size_t i = 0; i < s->nmemo; i++)
		if (&s->memo[i].zk == zk)
			signame = s->memo[i].apex;
	if (nkeys && build_signed_data(s->x->e->signer, set, first, signame) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < nkeys && rc == 0; i++) {
		ldns_rr *sig = sign_one(s, first, RRSIG_FIXED_LEN + ldns_rdf_size(signame), keys[i],
		                        zk->next_change);
		if (!sig || !ldns_rr_list_push_rr(out, sig)) {
			ldns_rr_free(sig);
			rc = -ENOMEM;
		}
	}
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
static int sign_section(struct answer_signing *s, ldns_pkt_section sec)
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
	struct answer_signing s = { .x = x };
	int rc;

	if ((rc = dnsd__nsec_deny(x)) != 0)
		return rc;
	/* RFC 4034 3.1.5: serial arithmetic; the cast wraps in 2106. */
	s.inception = (uint32_t)(x->now - (int64_t)d->inception_offset);
	s.expiration = (uint32_t)(x->now + (int64_t)d->validity);
	if (!x->e->signer && !(x->e->signer = signer_new()))
		return -ENOMEM;
	rc = sign_section(&s, LDNS_SECTION_ANSWER);
	if (rc == 0)
		rc = sign_section(&s, LDNS_SECTION_AUTHORITY);
	if (rc == 0)
		rc = sign_section(&s, LDNS_SECTION_ADDITIONAL);
	/* Served from the cache until refresh before the signatures expire,
	 * then rendered and signed again (a signature reused from an earlier
	 * answer has held it to its own, earlier, refresh time already). */
	dnsd__hold_until(x, x->now + (int64_t)d->validity - (int64_t)d->refresh);
	for (size_t i = 0; i < s.nmemo; i++)
		ldns_rdf_deep_free(s.memo[i].apex);
	return rc;
}
