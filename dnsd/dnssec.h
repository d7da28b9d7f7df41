/*
 * DNSSEC keys of dnsd: the key files, which key is published and which
 * signs at a given time, and the records made from them (DNSKEY, DS, CDS,
 * CDNSKEY).  The signing itself is the signer's; nothing here signs.
 *
 * Keys are read from one directory holding K<zone>.+<alg>+<tag>.key and
 * .private pairs as ldns-keygen and dnssec-keygen write them.  The keys
 * named for the community zone's apex sign every apex dnsd serves (the
 * community zone and each member's delegated apex), unless the directory
 * holds keys named for that apex, which then replace them there.
 *
 * Errors are ints: 0, a negative errno, or DNSD_EKEY (dnsd.h).
 */
#ifndef DNSD_DNSSEC_H
#define DNSD_DNSSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ldns/ldns.h>

#include "dnsd.h"

/* Keys for one name at most: the DNSKEY RRset of an apex. */
#define DNSD_KEYS_PER_ZONE 8
/* Active keys of one kind (ZSK or KSK) at one time, at most. */
#define DNSD_KEYS_ACTIVE 4

typedef struct dnsd_keyset dnsd_keyset;

/** Load every K*.key/.private pair in dir.
 *
 * Each pair must hold one DNSKEY of the zone, algorithm and tag its file
 * name says, flags 256 (ZSK) or 257 (KSK; with no ZSK beside it, a CSK),
 * algorithm 15 (Ed25519) or 13 (ECDSA P-256 SHA-256), and the private key
 * of that very public key.  A .private file must be a regular file owned
 * by the user dnsd runs as (effective uid) that neither its group nor
 * others may read or write (mode 0600 or 0400): a key others could read
 * may be in other hands, and signing with it would vouch for whatever they
 * sign; such a file is refused, not warned about.
 * Timing fields (Publish, Activate, Inactive, Delete, SyncPublish,
 * SyncDelete) are read from the .private file's "Publish: 20261127120000"
 * lines, else from the .key file's "; Publish: 20261127120000 (...)"
 * comments; a key without them is published and active from the start.
 * At most DNSD_KEYS_PER_ZONE keys per zone; at least one key in all.
 *
 * Returns 0 and *out (free with dnsd_keyset_free); DNSD_EKEY with
 * "FILE: why" or "FILE:LINE: why" in err (a .key without .private or the
 * other way round, a file that cannot be read, a bad record or field, an
 * algorithm other than 13 or 15, a private key that does not match);
 * -ENOMEM; -EINVAL for NULL arguments.  *out is NULL on error. */
int dnsd_keyset_load(const char *dir, dnsd_keyset **out, char *err, size_t errlen);
/** Free the keys, private keys included.  NULL is fine. */
void dnsd_keyset_free(dnsd_keyset *ks);

/* One key, owned by the keyset. */
struct dnsd_key {
	/* The private key; its EVP_PKEY is what signs, shared read-only by
	 * every worker thread (each sets up its own contexts with it).  Its
	 * pubkey owner is the file's zone, its flags and key tag are the
	 * DNSKEY's; a signer of another apex sets the owner
	 * (ldns_key_set_pubkey_owner) and the validity period. */
	ldns_key *priv;
	/* Its DNSKEY record, owner the file's zone: re-own it when
	 * publishing at another apex (dnsd_keys_dnskey_rrset does). */
	ldns_rr *dnskey;
	uint16_t tag;
	uint8_t alg;
	bool ksk;                    /* SEP bit set (flags 257) */
	/* The timing fields, Unix time; 0: not set. */
	int64_t publish, activate, inactive, del;
	int64_t sync_publish, sync_delete;   /* CDS/CDNSKEY (RFC 7344) */
	const char *file;            /* the .key file's path, for messages */
};

/** The number of keys and key i (0 <= i < n) of ks, in the order of
 * their file names; NULL past the end. */
size_t dnsd_keyset_count(const dnsd_keyset *ks);
const struct dnsd_key *dnsd_keyset_key(const dnsd_keyset *ks, size_t i);

/* The keys of one apex at one time.  The pointers are into the keyset. */
struct dnsd_zone_keys {
	const struct dnsd_key *published[DNSD_KEYS_PER_ZONE];  /* the DNSKEY RRset */
	size_t npublished;
	/* Active: sign every RRset but DNSKEY (a CSK, or a KSK while no ZSK
	 * is active, is here too). */
	const struct dnsd_key *zsk[DNSD_KEYS_ACTIVE];
	size_t nzsk;
	/* Active: sign the DNSKEY RRset, CDS and CDNSKEY (a CSK is here too;
	 * so is a ZSK while no KSK is active). */
	const struct dnsd_key *ksk[DNSD_KEYS_ACTIVE];
	size_t nksk;
	/* The KSKs and CSKs whose DS should be at the parent: published and
	 * active, or inside SyncPublish..SyncDelete where those are set.
	 * Their CDS and CDNSKEY are published, and `dnsd --print-ds` prints
	 * their DS. */
	const struct dnsd_key *cds[DNSD_KEYS_ACTIVE];
	size_t ncds;
	/* The next time after now at which any of this changes; 0: never.
	 * Answers built from it hold until then at most. */
	int64_t next_change;
};

/** A key's state at time now.  Published: its Publish time has come
 * (or is unset) and its Delete time has not.  Active: published, its
 * Activate time has come (or is unset) and its Inactive time has not. */
bool dnsd_key_published(const struct dnsd_key *k, int64_t now);
bool dnsd_key_active(const struct dnsd_key *k, int64_t now);

/** The keys for the zone with this apex at time now: the keys named for
 * apex if ks has any, else those named for community_apex (may be NULL).
 * Returns 0 with *out filled; DNSD_EKEY when no key applies to the apex,
 * when none of them is active at now (the zone would go out unsigned), or
 * when more than DNSD_KEYS_ACTIVE of a kind are active (out is filled
 * all the same, next_change included, so that a caller can say when it
 * would be fine); -EINVAL for NULL ks, apex or out. */
int dnsd_keyset_at(const dnsd_keyset *ks, const ldns_rdf *apex, const ldns_rdf *community_apex,
                   int64_t now, struct dnsd_zone_keys *out);

/** A signing key for ldns_sign_public with k's private key (shared, not
 * copied), k's algorithm, flags and tag, and apex as its owner (the RRSIG
 * signer name): one per apex and per thread, since the inception and
 * expiration the caller sets (ldns_key_set_inception/_expiration) live in
 * it.  Returns 0 and *out (free it with ldns_key_deep_free, which leaves
 * k's key alone); -ENOMEM; -EINVAL for NULL arguments or a key without
 * an OpenSSL private key. */
int dnsd_key_signer(const struct dnsd_key *k, const ldns_rdf *apex, ldns_key **out);

/** The DNSKEY RRset of apex: zk's published keys, owner apex, TTL ttl.
 * Returns 0 and *out, a new list the caller frees with
 * ldns_rr_list_deep_free; -ENOMEM; -EINVAL for NULL arguments. */
int dnsd_keys_dnskey_rrset(const struct dnsd_zone_keys *zk, const ldns_rdf *apex, uint32_t ttl,
                           ldns_rr_list **out);
/** The CDS (SHA-256, digest type 2) and CDNSKEY RRsets of apex (RFC
 * 7344, 8078) for zk's cds keys, owner apex, TTL ttl; both empty when
 * there is none (the apex then has neither record).  Returns 0 with two
 * new lists the caller frees with ldns_rr_list_deep_free; -ENOMEM;
 * -EINVAL for NULL arguments.  On error neither is set. */
int dnsd_keys_cds_rrsets(const struct dnsd_zone_keys *zk, const ldns_rdf *apex, uint32_t ttl,
                         ldns_rr_list **cds, ldns_rr_list **cdnskey);
/** The DS record (SHA-256, digest type 2) of k as a key of apex, TTL that
 * of k's DNSKEY record.  Returns 0 and *out (the caller frees it with
 * ldns_rr_free); -ENOMEM; -EINVAL for NULL arguments. */
int dnsd_keys_ds(const struct dnsd_key *k, const ldns_rdf *apex, ldns_rr **out);

/* ---- keys against what dnsd serves (dnssec_apex.c) ---- */

/** Load c's dnssec: keys (nothing when it has none: *out NULL) and check
 * that at time now every apex of zones, and every name a key is made for,
 * has an active key: a zone served unsigned by mistake is an error at
 * start, not a surprise for validators.  The community zone's apex is read
 * from db.  Returns 0 and *out (dnsd_keyset_free), or DNSD_EKEY with why
 * in err; -ENOMEM, a store error; -EINVAL for NULL arguments. */
int dnsd_dnssec_keys_open(const struct dnsd_config *c, const dnsd_zones *zones, pdb_t *db,
                          int64_t now, dnsd_keyset **out, char *err, size_t errlen);

/** Print to f the DS records (SHA-256) the parent of apex should hold at
 * now, one per line in master file form: for apex (text, a trailing dot
 * and case do not matter), or for every apex when it is NULL (each zone's,
 * then _xmpp-server._tcp. and _xmpps-server._tcp. of each member outside
 * the community zone).  The keys are its KSKs and CSKs that are active
 * (or inside SyncPublish..SyncDelete).  Returns 0; DNSD_EKEY with why in
 * err for a name that is no apex dnsd answers at, or an apex without such
 * a key; a store error; -ENOMEM; -EINVAL for NULL arguments. */
int dnsd_dnssec_print_ds(FILE *f, const dnsd_keyset *ks, const dnsd_zones *zones, pdb_t *db,
                         const char *apex, int64_t now, char *err, size_t errlen);

#endif
