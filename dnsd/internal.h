/* Internal to dnsd's core: shared by zone.c, query.c, policy.c, net.c. */
#ifndef DNSD_INTERNAL_H
#define DNSD_INTERNAL_H

#include <ldns/ldns.h>
#include <errno.h>
#include <pthread.h>

#include "dnsd.h"
#include "stats.h"

struct dnsd_zone {
	ldns_dnssec_zone *z;
	const ldns_rdf *apex;          /* owner of the SOA */
	ldns_dnssec_rrsets *soa, *ns;  /* at the apex */
	/* The serial it is served with, before the policy serial is added
	 * (community zone): the file's own serial, moved on by
	 * dnsd_zones_follow when a reload changed the data but not it. */
	uint32_t serial_base;
	uint64_t digest;               /* of its records, in no order: serial.c */
	/* 1 + the oldest policy serial a transfer was served at with this
	 * zone as loaded (0: none yet): an IXFR from before it may span a
	 * reload.  Written only with atomic builtins (xfr.c), by any worker. */
	uint64_t xfr_mark;
};

struct dnsd_zones {
	struct dnsd_zone *v;
	size_t n;
};

struct dnsd_query;

/* Step over the name at *off in message m (len bytes), checking it
 * (wire.c): labels of at most 63 bytes, 255 in all, compression pointers
 * that point back only (RFC 1035 4.1.4).  If out is not NULL the name is
 * written there uncompressed and in lower case, *outlen its length. */
bool dnsd__name_read(const uint8_t *m, size_t len, size_t *off, uint8_t *out, size_t *outlen);

/* The presentation form of name, in lower case and with its final dot, as
 * ldns_rdf2str and tolower write it (wire.c): in buf when it needs no
 * escape, the common case and no allocation, else in a string the caller
 * frees (when the result is not buf).  NULL: out of memory. */
#define DNSD_NAME_TEXT_MAX (LDNS_MAX_DOMAINLEN + 1)
char *dnsd__name_text(const ldns_rdf *name, char buf[DNSD_NAME_TEXT_MAX]);
/* The name text (len bytes, without its final dot) says, as
 * ldns_dname_new_frm_str reads it with that dot, made by hand when it is
 * plain labels (the normalised names of policy).  NULL: not a name, or out
 * of memory.  The caller frees it (ldns_rdf_deep_free). */
ldns_rdf *dnsd__name_from_text(const char *text, size_t len);
/* Is name at or below apex (both whole wire names), case aside?  What
 * ldns_dname_compare and ldns_dname_is_subdomain say together, without a
 * copy: this runs for every name an answer holds. */
bool dnsd__name_at_or_below(const ldns_rdf *name, const ldns_rdf *apex);

/* The file's SOA serial and the digest of the records, for a zone just
 * read (serial.c). */
void dnsd__zone_stamp(struct dnsd_zone *z);
/* The SOA serial answers give for zone z (serial.c); at a member's apex
 * (x->apex_member), that apex zone's own. */
uint32_t dnsd__zone_serial(const struct dnsd_query *x, const struct dnsd_zone *z);
/* The policy part of the SOA serial of member's apex zones, as x's view
 * sees them: the newest stamp of the member and of the view's member
 * (pdb_member_stamp).  Returns 0 or a store error. */
int dnsd__apex_stamp(const struct dnsd_query *x, const char *member, uint64_t *stamp);

/* The zone whose apex is the longest suffix of name, or NULL. */
const struct dnsd_zone *dnsd__zone_find(const dnsd_zones *zs, const ldns_rdf *name);
/* The zone with this apex (text, no trailing dot needed), or NULL. */
const struct dnsd_zone *dnsd__zone_by_name(const dnsd_zones *zs, const char *apex);
/* The name in the zone's tree (with its rrsets; none for an empty
 * non-terminal), or NULL if the zone has no such name. */
ldns_dnssec_name *dnsd__zone_name(const struct dnsd_zone *z, const ldns_rdf *name);

/* Which view a source address falls in, remembered per address. */
#define DNSD_MEMO_SIZE 4096
struct dnsd_memo {
	uint8_t family;               /* 0: empty slot */
	uint8_t addr[16];
	int32_t view;                 /* index into views.v, or -1: no view */
};

/* ---- what a cached answer depends on (epoch.c) ---- */

/* The members (by dnsd__name_key) an answer read: the one its name speaks
 * for and, in a view, the querier.  An answer that read more, or that
 * shows the policy serial (the community zone's SOA), depends on "all". */
#define DNSD_DEPS_NAMES 2
struct dnsd_cache_deps {
	uint64_t serial;              /* the policy serial it was rendered at */
	uint64_t served;              /* and the served serial (pdb_served_serial) */
	uint64_t names[DNSD_DEPS_NAMES];
	uint8_t n;
	bool all;                     /* any commit or time event changes it */
};

/* The last serial that changed each member, by dnsd__name_key. */
struct dnsd__changed_slot {
	uint64_t key, serial;         /* key 0: empty */
};
struct dnsd__changed {
	struct dnsd__changed_slot *slot;  /* a power of two of them, or NULL */
	size_t span;                  /* (slots - 1) * sizeof(*slot): a byte mask */
	size_t n;
};

uint64_t dnsd__name_key(const char *name);
void dnsd__changed_free(struct dnsd__changed *t);

/* What one policy serial (and one set of zones) implies.  Brought from
 * serial to serial by what the journal says each commit changed, rebuilt
 * when the zones move; everything in it is the engine's own memory, never
 * the store's, which may change once a snapshot ends. */
struct dnsd_epoch {
	uint64_t version;             /* pdb_snapshot_version it was built from */
	uint64_t serial;              /* 0: nothing built yet */
	/* The served policy serial (pdb_served_serial): it moves without a
	 * commit when a time event passes, at next_event (0: none known). */
	uint64_t served;
	int64_t next_event;
	uint32_t grace;               /* the store's removed-grace */
	unsigned zones_gen;
	bool have_c;
	struct pdb_community c;       /* its strings point into cbuf */
	uint8_t cbuf[PDB_RECORD_MAX];
	const struct dnsd_zone *community;  /* the zone of c, if served */
	bool views_built;             /* the view map was at serial, once since refresh */
	uint64_t views_gen;           /* the view map's gen last seen */
	struct dnsd_memo memo[DNSD_MEMO_SIZE];
	/* An answer rendered before all_serial no longer holds, nor one that
	 * read a member changed after it was rendered. */
	uint64_t all_serial;
	struct dnsd__changed changed;
};

/* ---- DNSSEC: online signing (sign.c), denial of existence (nsec.c), the
 * keys of an apex (zonekeys.c, below both and the answer builders) ----
 * With keys set, an answer to a query with DO=1 is signed when it is
 * rendered, before it goes into the answer cache: RRSIGs beside each
 * RRset the zone is authoritative for, and minimally covering NSEC
 * records (RFC 4470) for NXDOMAIN, NODATA and insecure referrals. */
#include "dnssec.h"

/* The engine's signing settings (dnsd_engine_set_dnssec). */
struct dnsd__dnssec {
	const dnsd_keyset *keys;      /* borrowed; NULL: nothing is signed */
	uint32_t validity;            /* RRSIG expiration - now */
	uint32_t inception_offset;    /* now - RRSIG inception */
	uint32_t refresh;             /* re-sign this long before expiration */
};

/* What a worker's signing keeps between answers (sign.c): OpenSSL state
 * per key, the signatures made lately.  Made at the first signed answer;
 * emptied by dnsd_engine_set_dnssec, freed with the engine (NULL is
 * fine). */
struct dnsd__signer;
void dnsd__signer_free(struct dnsd__signer *g);

/* The engine's clock, Unix seconds: time(NULL) unless a test set one. */
int64_t dnsd__now(const dnsd_engine *e);
/* Read the time from now(arg) instead (tests); NULL: time(NULL) again. */
void dnsd__engine_set_clock(dnsd_engine *e, int64_t (*now)(void *arg), void *arg);

/* A batch of queries, every one of them received already, is about to be
 * answered (net.c, per recvmmsg): the store's version (has anything been
 * committed since the epoch?) and the clock are read once for the batch,
 * not once per query, until dnsd__batch_end.  Answering them all at the
 * moment the batch begins is what answering each as it came would give:
 * a commit seen later than that came after every one of them. */
void dnsd__batch_begin(dnsd_engine *e);
void dnsd__batch_end(dnsd_engine *e);
/* Within a batch, before its queries are answered, each is read once
 * (dnsd__prepare, in the answer cache's section below). */

/* The answer being built holds until t at most (zonekeys.c). */
void dnsd__hold_until(struct dnsd_query *x, int64_t t);

/* Does the response to x go out signed: keys set and DO=1 asked? */
bool dnsd__signing(const struct dnsd_query *x);
/* The keys of the zone with this apex at x->now: 0, or DNSD_EKEY when the
 * apex is not signed (no key applies or none is active). */
int dnsd__zone_keys(const struct dnsd_query *x, const ldns_rdf *apex, struct dnsd_zone_keys *zk);
/* At a signed apex, answer a DNSKEY, CDS or CDNSKEY query with the
 * keyset's records (TTL ttl) and return true; false for any other query
 * or when the RRset asked for does not exist there. */
bool dnsd__answer_apex_keys(struct dnsd_query *x, const ldns_rdf *apex, uint32_t ttl);
/* Add the denial of existence the response needs, then an RRSIG (one per
 * active key) after every RRset the server is authoritative for.  Call
 * only when dnsd__signing(x).  Sets x->until to the earliest time a
 * signature must be renewed.  Returns 0 or -ENOMEM. */
int dnsd__sign_response(struct dnsd_query *x);

/* The apex of the out-of-zone member zone (_xmpp-server._tcp.<member>,
 * _xmpps-server._tcp.<member>) at or above name, as a new rdf the caller
 * frees; NULL if name is in no such zone (policy.c). */
ldns_rdf *dnsd__policy_apex_of(const struct dnsd_query *x, const ldns_rdf *name);
/* What the policy makes of a name in zone z (NULL: outside every zone). */
enum dnsd_policy_exists {
	DNSD_PX_NONE,      /* not the policy's: the zone's data decides */
	DNSD_PX_NX,        /* does not exist */
	DNSD_PX_ENT,       /* exists, with no records (_tcp.<member>, <member>) */
	DNSD_PX_SRV,       /* SRV records */
	DNSD_PX_APEX,      /* a member's apex: SOA, NS */
	DNSD_PX_APEX_SRV,  /* a member's apex: SOA, NS, SRV */
};
/* Returns 0 with *what, or a policy store error. */
int dnsd__policy_exists(struct dnsd_query *x, const struct dnsd_zone *z, const ldns_rdf *name,
                        enum dnsd_policy_exists *what);

/* The highest delegation (NS, not at the apex) at or above name in z, or
 * NULL (answer.c). */
ldns_dnssec_name *dnsd__zone_cut(const struct dnsd_zone *z, const ldns_rdf *name);

/* RFC 4470's epsilon functions, on uncompressed lower-case wire names
 * below a zone's apex.  before: a name just before name in canonical
 * order (RFC 4034 6.1), with nothing that may exist between the two but
 * names of no host's syntax; *is_parent is set when that name is name's
 * parent itself (name's first label is \000).  after: a name just after
 * name and everything below it.  Both write at most 255 bytes to out and
 * return the length, or 0 if name is not a valid name of two labels or
 * more. */
size_t dnsd__nsec_before(const uint8_t *name, size_t len, uint8_t *out, bool *is_parent);
size_t dnsd__nsec_after(const uint8_t *name, size_t len, uint8_t *out);
/* Add the NSEC records the response x->r needs (NXDOMAIN, NODATA, an
 * insecure referral) to its authority section, or answer a query of type
 * NSEC.  Returns 0, -ENOMEM, or a policy store error. */
int dnsd__nsec_deny(struct dnsd_query *x);
/* Bring the epoch to serial (e->txn's): the changes since its own, from
 * the journal; everything counts as changed when the journal does not
 * reach back, or the zones moved.  Returns 0 or a store error. */
int dnsd__epoch_refresh(dnsd_engine *e, uint64_t serial);
/* The views moved (follow said so): every answer in a view is stale. */
void dnsd__epoch_views_moved(struct dnsd_epoch *ep);
/* Does an answer of deps d still hold in the (current) epoch? */
bool dnsd__epoch_holds(const struct dnsd_epoch *ep, const struct dnsd_cache_deps *d);

struct dnsd_cache;

/* The view map: members' queriers, who a resolver speaks for (policy.c),
 * an engine's own or shared by the engines of all threads.  An engine
 * answering in views holds the lock for reading from the snapshot to the
 * answer (dnsd__views_build to dnsd__views_done), so the map stays at its
 * serial meanwhile; an engine whose serial is newer follows it there under
 * the lock for writing. */
struct dnsd_views {
	pthread_rwlock_t lock;
	struct pdb_addr_map map;
	/* Bumped whenever a lookup may answer otherwise: every engine then
	 * drops the answers it gave in views, and its remembered views. */
	uint64_t gen;
};

struct dnsd_engine {
	const dnsd_zones *zones;
	unsigned zones_gen;           /* bumped by dnsd_engine_set_zones */
	pdb_t *db;
	pdb_txn *txn;                 /* reset between queries */
	struct dnsd_epoch epoch;
	struct dnsd_views *views;     /* own_views, or shared (borrowed) */
	struct dnsd_views *own_views;
	bool views_held;              /* the read lock, for this query */
	struct dnsd_cache *cache;
	const struct dnsd_tsig_keys *keys;  /* borrowed; NULL: none */
	const dnsd_xfr_acl *xfr_acl;  /* borrowed; NULL: no transfers */
	/* IXFR: how many policy serials back differences are given (0 until
	 * set: DNSD_JOURNAL_MAX_DEFAULT). */
	bool journal_max_set;
	unsigned journal_max;
	/* TLSA 3 1 1 of the clearinghouse hosts (tlsa.c). */
	uint8_t tlsa_pins[DNSD_TLSA_PINS_MAX][32];
	size_t ntlsa_pins;
	struct dnsd__dnssec dnssec;   /* see dnsd_engine_set_dnssec */
	struct dnsd__signer *signer;  /* NULL until the first signed answer */
	int64_t (*clock)(void *arg);  /* NULL: time(NULL) */
	void *clock_arg;
	/* Between dnsd__batch_begin and dnsd__batch_end: the store's version
	 * and the clock as they were when the batch's queries were all in. */
	bool in_batch;
	uint64_t batch_version;
	int64_t batch_now;
	uint8_t scratch[DNSD_MSG_MAX];  /* a whole response, before it is fitted */
	struct dnsd__wire *wire;      /* where answer_full renders */
	struct dnsd_stats stats;      /* this engine's counters, for /metrics */
	/* NSID (edns.c): sent to queries that ask; nsid_len 0: none. */
	uint8_t nsid[DNSD_NSID_MAX];
	size_t nsid_len;
};

/* One query being answered. */
struct dnsd_query {
	dnsd_engine *e;
	pdb_txn *txn;                 /* the snapshot answers come from */
	const struct dnsd_client *client;
	/* A transfer gives the view its access rule names, not the one of the
	 * client's address: view_member is the member whose resolvers' view
	 * it is, NULL for the default view (a querier that is no member). */
	bool view_fixed;
	const char *view_member;
	/* An IXFR's older version of a member: with member_fixed, the policy
	 * answers for member_name from member_given (NULL: no such member)
	 * instead of the snapshot's record, the rest of the store as it is. */
	bool member_fixed;
	const char *member_name;
	const struct pdb_member *member_given;
	ldns_pkt *q, *r;
	const ldns_rdf *qname;        /* as asked: its case is kept */
	ldns_rr_type qtype;
	uint64_t serial;
	uint64_t served;              /* the policy part of SOA serials */
	uint32_t grace;               /* the store's removed-grace */
	/* Answering at or below this member's own apex zone, outside the
	 * community zone (NULL: not): its SOA serial is its own. */
	const char *apex_member;
	const struct pdb_community *c;      /* NULL: no community loaded */
	const struct dnsd_zone *community;  /* the zone of c, if served */
	int64_t now;
	/* The answer holds until this Unix time, and not only until the next
	 * commit or reload (a member's not-after, the end of a removed
	 * member's grace): the cache keeps it no longer.  0: no such end. */
	int64_t until;
	enum dnsd_outcome outcome;    /* for the metrics: what the policy made of it */
	struct dnsd_cache_deps deps;  /* what the answer read (epoch.c) */
};

/* The answer being built read member (a normalised name), or something
 * every commit may change. */
void dnsd__query_depends(struct dnsd_query *x, const char *member);
void dnsd__query_depends_all(struct dnsd_query *x);

/* The view map at the epoch's serial, followed there if it is behind, its
 * read lock held until dnsd__views_done.  Returns 0, DNSD__EVIEWS_AHEAD
 * (another engine brought it past the epoch: take a newer snapshot and
 * try again; nothing is held), -ENOMEM, or a store error. */
#define DNSD__EVIEWS_AHEAD (-EAGAIN)
int dnsd__views_build(dnsd_engine *e);
/* Let go of the view map, if held. */
void dnsd__views_done(dnsd_engine *e);
/* The index of the view the client falls in, or -1.  With the map held
 * (dnsd__views_build), always; else, from the addresses remembered or a
 * lookup when the map is still at the epoch's serial, and otherwise
 * DNSD__VIEW_UNKNOWN. */
#define DNSD__VIEW_UNKNOWN (-2)
int32_t dnsd__view_of(dnsd_engine *e, const struct dnsd_client *c);
/* A view map of one engine's own, or shared: 0 or -ENOMEM. */
int dnsd__views_init(struct dnsd_views *v);
void dnsd__views_fini(struct dnsd_views *v);

/* ---- the answer cache (cache.c) ----
 * Whole rendered responses, keyed by the zones' generation, the querier's
 * view, the lower-cased qname, qtype, and the EDNS and DO flags of the
 * query; whether one still holds after a commit its deps say. */
struct dnsd_cache_key {
	unsigned zones_gen;
	int32_t view;                 /* -1: no view, or views do not matter */
	uint16_t qtype;
	uint8_t edns, do_bit;
	/* Four bytes, not one: the name starts 16 bytes in, on a word of
	 * the key, so the words it is hashed by are those it was written by. */
	uint32_t qname_len;
	uint8_t qname[255];           /* wire form, lower case */
};

/* A cache of at most budget bytes (at least DNSD_CACHE_SIZE_MIN), or NULL
 * (too small a budget, no memory). */
struct dnsd_cache *dnsd__cache_new(size_t budget);
void dnsd__cache_free(struct dnsd_cache *c);
/* What c holds now, in bytes as its budget counts them. */
size_t dnsd__cache_bytes(const struct dnsd_cache *c);
/* The set (of its ways) that k falls in, for tests that fill one. */
size_t dnsd__cache_set_index(const struct dnsd_cache *c, const struct dnsd_cache_key *k);
/* Ask the CPU for the memory a lookup of k will read, without waiting
 * for it: dnsd__cache_touch_set for k's set, returning k's hash, then (once
 * that has had time to come) dnsd__cache_touch_entry for the entry of
 * that hash, if the set holds one.  Neither changes the cache. */
uint64_t dnsd__cache_touch_set(const struct dnsd_cache *c, const struct dnsd_cache_key *k);
void dnsd__cache_touch_entry(const struct dnsd_cache *c, uint64_t hash);
/* The response stored under k, or NULL; *len receives its length, *until
 * the time it holds until (0: no end) and *deps what it depends on (the
 * caller checks both), and *outcome the policy outcome it was stored with
 * (enum dnsd_outcome), for the metrics. */
const uint8_t *dnsd__cache_get(struct dnsd_cache *c, const struct dnsd_cache_key *k, size_t *len,
                               int64_t *until, const struct dnsd_cache_deps **deps,
                               uint8_t *outcome);
/* Store a copy of a response that holds until until (0: no end) and
 * while deps hold, in place of one of the same key; on failure the cache
 * just misses later. */
void dnsd__cache_put(struct dnsd_cache *c, const struct dnsd_cache_key *k, const uint8_t *wire,
                     size_t len, int64_t until, const struct dnsd_cache_deps *deps,
                     uint8_t outcome);

/* Get the cached response as dnsd__cache_get does, for a key whose hash
 * the caller has (dnsd__cache_touch_set returned it). */
const uint8_t *dnsd__cache_get_hashed(struct dnsd_cache *c, const struct dnsd_cache_key *k,
                                      uint64_t hash, size_t *len, int64_t *until,
                                      const struct dnsd_cache_deps **deps, uint8_t *outcome);

/* What a plain query says (query.c's fast path parses it by hand).
 * Anything unusual (compression in the question, more than one additional
 * record, an EDNS version other than 0, a class other than IN) is left to
 * the full parser.  The qname goes straight into the cache key, in lower
 * case; the fields of the key that depend on the engine (the zones'
 * generation, the view) are filled in when the cache is asked. */
struct plain_query {
	struct dnsd_cache_key key;
	uint16_t qtype;
	size_t qname_len;             /* wire length, from offset 12 */
	bool edns, do_bit;
	uint16_t payload;
};

/* A query of a batch, read before any query of the batch is answered. */
struct dnsd_prepared {
	uint64_t hash;                /* of p.key; 0: not prepared */
	struct plain_query p;
};

/* Within a batch, before its queries are answered: if query q (qlen
 * bytes) from c would be answered from the cache without a snapshot, parse
 * it into *pq, make its cache key, ask the CPU for the cache set the key
 * falls in, and set pq->hash to the key's hash; otherwise set pq->hash to
 * 0.  Then dnsd__prefetch_entry with that hash asks for the entry.  A
 * batch's queries all first, then their entries: the misses are waited
 * for side by side, not one by one while answering.  Neither changes the
 * cache. */
void dnsd__prepare(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                   struct dnsd_prepared *pq);
void dnsd__prefetch_entry(dnsd_engine *e, uint64_t hash);
/* dnsd_answer for the query q from c that dnsd__prepare read into *pq:
 * the same answer, without parsing the query or hashing its key again
 * unless what the key depends on moved since (a commit answered in between
 * that moved c's view, new zones), when the key is made anew.  *pq is the
 * answer's scratch and changes.  A pq->hash of 0 is dnsd_answer itself. */
int dnsd__answer_prepared(dnsd_engine *e, const uint8_t *q, size_t qlen,
                          const struct dnsd_client *c, struct dnsd_prepared *pq, uint8_t *out,
                          size_t cap, size_t *outlen);

/* If qname is one the policy store speaks for, answer it into x->r and
 * set *done.  Returns 0 or a policy store error. */
int dnsd__policy_answer(struct dnsd_query *x, const struct dnsd_zone *z, bool *done);

/* If x->qname is a TLSA name of the community zone z (_<port>._tcp.<host>,
 * or _tcp.<host> above one) with records from a member's pins or the
 * clearinghouse's, answer it into x->r and set *done (tlsa.c; asked
 * before dnsd__policy_answer).  Returns 0,
 * a policy store error or -ENOMEM. */
int dnsd__tlsa_answer(struct dnsd_query *x, const struct dnsd_zone *z, bool *done);
/* For transfers: fn(arg, owner) for each TLSA name member (normalised)
 * may have records at, as record m has it: its in-zone targets at or below
 * its name that no member deeper down owns, each host:port once, if it
 * has pins; with member NULL, the clearinghouse hosts' names (when pins
 * are configured).  Whether records are there now is the query's to say
 * (x: the transfer's snapshot, view and fixed member).  Returns 0, what fn
 * returned, a store error or -ENOMEM. */
int dnsd__tlsa_names(struct dnsd_query *x, const char *member, const struct pdb_member *m,
                     int (*fn)(void *arg, const ldns_rdf *owner), void *arg);

/* What a name is to the policy store (policy.c). */
enum dnsd_name_kind {
	NAME_OTHER,   /* nothing the policy speaks for */
	NAME_SRV,     /* _xmpp-server._tcp.<member> or _xmpps-server._tcp.<member> */
	NAME_TCP,     /* _tcp.<member>: exists because the SRV name is below it */
	NAME_MEMBER,  /* <member> itself: the same */
};

struct policy_name {
	enum dnsd_name_kind kind;
	bool tls;                           /* _xmpps-server */
	char member[PDB_NAME_MAX + 1];      /* normalised */
};

void dnsd__policy_classify(const ldns_rdf *qname, struct policy_name *pn);
/* Is name (normalised text) at or below zone? */
bool dnsd__policy_in_zone(const char *name, pdb_str zone);

/* The zone's own data for x->qname: records, a referral, NODATA or
 * NXDOMAIN (answer.c). */
void dnsd__answer_static(struct dnsd_query *x, const struct dnsd_zone *z);

/* Helpers the answer builders share (answer.c). */
void dnsd__add_rrset(ldns_pkt *r, ldns_pkt_section s, const ldns_dnssec_rrsets *set,
                     const ldns_rdf *owner);
void dnsd__add_soa(struct dnsd_query *x, const struct dnsd_zone *z, ldns_pkt_section s,
                   const ldns_rdf *owner);
void dnsd__add_addresses(struct dnsd_query *x, const ldns_rdf *host);

/* ---- TSIG (tsig.c), RFC 8945 ----
 * Keys come from the configuration's keys: records; HMAC is OpenSSL's.
 * Secrets are never printed and are wiped when the table is freed. */
typedef struct dnsd_tsig_keys dnsd_tsig_keys;
struct dnsd_tsig_key;   /* opaque: name (canonical wire form), algorithm, secret */

/* TSIG errors (RFC 8945 3), in the TSIG record's Error field. */
enum { DNSD_TSIG_BADSIG = 16, DNSD_TSIG_BADKEY = 17, DNSD_TSIG_BADTIME = 18 };
/* The fudge dnsd signs with, in seconds. */
#define DNSD_TSIG_FUDGE 300
/* The shortest secret a key may have, in bytes: 128 bits, so that one
 * signed message caught on the wire does not let the secret be found by
 * trying every shorter one offline. */
#define DNSD_TSIG_SECRET_MIN 16
/* The longest, in bytes (longer than any HMAC block, which would hash it). */
#define DNSD_TSIG_SECRET_MAX 256

/* Build the key table from n keys: records (fields DNSD_KEY_NAME,
 * DNSD_KEY_ALGORITHM, DNSD_KEY_SECRET; path names the file in messages).
 * Each needs a name that is a domain name other than the root, unique
 * (case-insensitively); an algorithm among hmac-sha1, hmac-sha224,
 * hmac-sha256, hmac-sha384, hmac-sha512; a secret in base64 (RFC 4648,
 * with padding) of DNSD_TSIG_SECRET_MIN to DNSD_TSIG_SECRET_MAX bytes.
 * n may be 0 (an empty table: every signed request then gets BADKEY).
 * Returns 0 and *out (free with dnsd_tsig_keys_free); DNSD_ECONFIG with
 * "FILE:LINE:COL: why" in err (never the secret); -EINVAL for NULL
 * arguments; -ENOMEM. */
int dnsd_tsig_keys_new(const struct cfg_record *recs, size_t n, const char *path,
                       dnsd_tsig_keys **out, char *err, size_t errlen);
/* Free the table, wiping the secrets.  NULL is fine. */
void dnsd_tsig_keys_free(dnsd_tsig_keys *keys);
/* A key by its configured name (as in transfer:/notify:; case and a
 * trailing dot do not matter), or NULL.  keys may be NULL. */
const struct dnsd_tsig_key *dnsd_tsig_key_find(const dnsd_tsig_keys *keys, const char *name);
/* The key's name as configured, for logs. */
const char *dnsd_tsig_key_name(const struct dnsd_tsig_key *key);

/* One signed conversation: a request and its response message(s), or an
 * outgoing NOTIFY and its reply.  Zero it before signing a request of our
 * own (with key set); dnsd_tsig_verify fills it for a request received. */
struct dnsd_tsig_ctx {
	const struct dnsd_tsig_key *key;   /* NULL: unsigned (or BADKEY) */
	uint8_t mac[64];
	size_t mac_len;                    /* the last MAC, which the next message covers */
	unsigned msgs;                     /* messages signed (or replies verified) so far */
	uint16_t error;                    /* TSIG error to answer with (BADSIG...), 0 none */
	uint64_t time_signed;
	uint16_t fudge, orig_id;
	/* The request's key name and algorithm (wire form, lower case), which
	 * an error response repeats even for a key dnsd does not know. */
	uint8_t name[255], alg[255];
	size_t name_len, alg_len;
};

/* Verify the TSIG record of request q (qlen bytes), if any, at Unix time
 * now (RFC 8945 5.2: key, then MAC, then time).  keys may be NULL.
 * Returns 0 with ctx filled: ctx->key NULL and ctx->error 0 for an
 * unsigned request; ctx->error DNSD_TSIG_BADKEY (unknown key or
 * algorithm), DNSD_TSIG_BADSIG or DNSD_TSIG_BADTIME when the check failed
 * (the caller answers NOTAUTH and calls dnsd_tsig_sign, which signs or
 * not as RFC 8945 5.3.2 says); on success ctx->key is the key and
 * ctx->mac the request's MAC.  -EBADMSG (answer FORMERR) for a malformed
 * message or TSIG, or a MAC longer than the algorithm's or shorter than
 * 10 bytes or half of it (RFC 8945 5.2.2.1); -EINVAL for NULL q or ctx. */
int dnsd_tsig_verify(const dnsd_tsig_keys *keys, const uint8_t *q, size_t qlen, int64_t now,
                     struct dnsd_tsig_ctx *ctx);
/* Append the TSIG record to msg (*len bytes in a buffer of cap): for a
 * response or the next message of a multi-message response, covering
 * ctx's previous MAC (RFC 8945 5.3, 5.3.1: after the first, the previous
 * MAC, the message and the timers only); or for a request of ours
 * (NOTIFY: ctx->msgs 0, no previous MAC).  With ctx->error BADKEY or
 * BADSIG the record is unsigned (no MAC; RFC 8945 5.3.2); with BADTIME it
 * is signed and carries the server's time.  Does nothing for an unsigned
 * ctx (no key, no error).  Updates ARCOUNT, *len and ctx (mac, msgs).
 * Returns 0; -ENOSPC if it does not fit (msg unchanged); -EINVAL for NULL
 * arguments or a message shorter than a header; -ENOMEM if OpenSSL fails. */
int dnsd_tsig_sign(struct dnsd_tsig_ctx *ctx, uint8_t *msg, size_t *len, size_t cap, int64_t now);
/* Verify signed requests with keys (borrowed; it must outlive the engine
 * or the next call; NULL: no keys, every signed request gets BADKEY). */
void dnsd_engine_set_keys(dnsd_engine *e, const dnsd_tsig_keys *keys);
/* The bytes dnsd_tsig_sign will append for ctx (0 for an unsigned ctx):
 * the room a response must leave. */
size_t dnsd_tsig_space(const struct dnsd_tsig_ctx *ctx);
/* Verify a reply to a request signed with ctx (a NOTIFY's answer), or
 * the next message of a multi-message reply, and move ctx on.  Returns 0
 * with ctx->error 0 when it checks out, or set to DNSD_TSIG_BADSIG,
 * DNSD_TSIG_BADTIME, or the error the peer put in its TSIG (BADKEY...);
 * -EBADMSG for a malformed message or one without TSIG, or signed with
 * another key; -EINVAL for NULL arguments or a ctx without key. */
int dnsd_tsig_verify_reply(struct dnsd_tsig_ctx *ctx, const uint8_t *m, size_t len, int64_t now);

/* ---- transfers (xfr_acl.c, xfr.c) ---- */

struct dnsd__xfr_rule {
	char key[256];                /* "": any request, signed or not */
	bool has_addr;
	struct pdb_addr addr;
	bool has_view;
	char view[PDB_NAME_MAX + 1];  /* the member whose view it is */
};

struct dnsd_xfr_acl {
	struct dnsd__xfr_rule *v;
	size_t n;
	char catalog[PDB_NAME_MAX + 1];   /* "": no catalog zone */
	ldns_rdf *catalog_name;
};

/* The first rule that lets client c, whose request was signed with key
 * (NULL: unsigned) out of keys, transfer; NULL if none does. */
const struct dnsd__xfr_rule *dnsd__xfr_acl_match(const dnsd_xfr_acl *acl,
                                                 const dnsd_tsig_keys *keys,
                                                 const struct dnsd_client *c,
                                                 const struct dnsd_tsig_key *key);

/* Answer an AXFR or IXFR that came over UDP, or through dnsd_answer: one
 * message, TC when the whole zone would be needed (IXFR), FORMERR for an
 * AXFR of an allowed client (RFC 5936 4.2 defines AXFR over TCP only). */
/* A message being written (render.c): names compressed against the
 * suffixes already written, found by hash. */
#define DNSD_WIRE_SLOTS 4096
struct dnsd__wire_slot {
	uint32_t hash;
	uint16_t off;
	uint16_t gen;                 /* the message it is of: others are stale */
};
struct dnsd__wire {
	size_t len;
	uint16_t ancount;
	uint16_t gen;                 /* of the message being written */
	unsigned nslots;
	struct dnsd__wire_slot slot[DNSD_WIRE_SLOTS];
	uint8_t buf[DNSD_MSG_MAX];
};

/* Make w, fresh from malloc, ready for its first message. */
void dnsd__wire_init(struct dnsd__wire *w);
/* Start a transfer's response to query id: flags2 is the query's third and
 * fourth header bytes (RD, CD are kept) packed as byte 2 | byte 3. */
void dnsd__wire_start(struct dnsd__wire *w, uint16_t id, uint8_t flags2, const ldns_rdf *qname,
                      uint16_t qtype);
/* The most rr can take, uncompressed: what the caller checks room for. */
size_t dnsd__wire_rr_max(const ldns_rr *rr);
/* Append rr to the answer section. */
void dnsd__wire_put(struct dnsd__wire *w, const ldns_rr *rr);
/* Write all of p into w->buf (w->len bytes), as ldns_pkt2wire would: its
 * header, sections and EDNS (its raw data as the OPT's rdata).  Returns 0;
 * -EMSGSIZE if it may not fit in DNSD_MSG_MAX bytes (a record is let in
 * only with room for it uncompressed); -ENOTSUP for a packet with a list
 * of ldns's EDNS options or a TSIG, which dnsd adds on the wire, not to
 * packets. */
int dnsd__wire_pkt(struct dnsd__wire *w, const ldns_pkt *p);

/* A transfer conversation for query q (well formed, AXFR or IXFR, or a
 * query of a catalog name), its first message decided; single: one
 * message only, as over UDP.  *out NULL if ldns cannot parse q. */
int dnsd__xfr_new(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                  bool single, dnsd_xfr **out);
/* Is the question of q a name in the catalog zone?  Such queries are
 * answered only to those that may transfer the catalog, by
 * dnsd__xfr_answer_one. */
bool dnsd__xfr_is_catalog(const dnsd_engine *e, const uint8_t *q, size_t qlen);
/* Answer IXFR with differences only as far as max policy serials back;
 * older versions get the whole zone. */
void dnsd_engine_set_journal_max(dnsd_engine *e, unsigned max);
int dnsd__xfr_answer_one(dnsd_engine *e, const uint8_t *q, size_t qlen,
                         const struct dnsd_client *c, uint8_t *out, size_t cap, size_t *outlen);

#endif
