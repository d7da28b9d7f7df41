/*
 * policydb: the clearinghouse policy store.
 *
 * One LMDB environment (one directory) holds the community settings, the
 * members, the pair overrides, a serial and an audit log.  Any number of
 * reader processes and one writer share it; a reader sees a commit at its
 * next read transaction.
 *
 * Conventions, for every function below:
 *  - Errors are negative ints: a negative errno passed through (-ENOMEM,
 *    -EACCES, -ENOENT, -EINVAL, ...) or one of the PDB_E* codes below -1000.
 *    0 is success.  pdb_strerror() turns any of them into a sentence.
 *  - Arguments are checked first; a NULL where one is not allowed is -EINVAL.
 *  - Names given to lookups must already be normalised by
 *    pdb_name_normalise(); a name that is not is simply not found.
 *  - pdb_str values read from the store point into the store's memory map:
 *    they are NOT NUL-terminated and stay valid only until the transaction
 *    they were read in ends (pdb_read_end, pdb_read_reset, or the end of a
 *    pdb_write callback).  Copy what must live longer.
 */
#ifndef POLICYDB_H
#define POLICYDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -------------------------------------------------------------- */

enum {
	PDB_EBADNAME  = -1001, /* not a valid domain name */
	PDB_ENOTFOUND = -1002, /* no such member, override or setting */
	PDB_ENOTSTORE = -1003, /* the directory is not a policy store */
	PDB_ENEWER    = -1004, /* the store was written by a newer format version */
	PDB_ECORRUPT  = -1005, /* a stored record fails validation */
	PDB_EMAPFULL  = -1006, /* the store reached its size limit; nothing was written */
	PDB_EEXIST    = -1007, /* the store is already initialised */
	PDB_ELIMIT    = -1008, /* a value or list is larger than a record may hold */
	PDB_ERDONLY   = -1009, /* a write on a handle opened read-only */
	PDB_EREADERS  = -1010, /* every reader slot is taken, by live processes
	                          after those of dead ones were freed */
	PDB_ELMDB     = -1011, /* any other LMDB failure */
	PDB_EBADTAG   = -1012, /* not a valid tag */
	PDB_ELOCKFILE = -1013, /* the lock file lock.mdb cannot be written */
	PDB_ETOOOLD   = -1014, /* the journal does not lead from that serial to
	                          the current one: rebuild from the snapshot */
	/* The audit log's (numbered apart from the others' codes, which other
	 * parts of the store add to one by one). */
	PDB_EAUDITKEY = -1020, /* the audit log is keyed and the writer has no
	                          key, or another key than the log's */
	PDB_ETAMPERED = -1021, /* the audit log fails verification */
};

/* Each library of the project keeps its own codes in a range of its own,
 * so that a code handed up through another library is still known for
 * what it is (docs/architecture.md, "Errors"):
 *     -1 ..   -999  a negative errno (libuv's errors are these on Unix)
 *  -1001 ..  -1999  policydb, PDB_E*
 *  -2001 ..  -2999  dnsd, DNSD_E*
 *  -3001 ..  -3999  xmppd, XMPPD_E*
 *  -4001 ..  -4999  policyfile, PF_E*
 *  -5001 ..  -5999  table, TABLE_E*
 * Each library's *_strerror() answers its own codes, hands policydb's to
 * pdb_strerror() and a negative errno to strerror (or libuv's words for
 * it); anything else is "unknown error". */
#define PDB_ERRNO_MIN (-999)
#define PDB_E_FIRST   (-1001)
#define PDB_E_LAST    (-1999)

/** True if err is in the negative errno range. */
static inline bool pdb_err_is_errno(int err)
{
	return err < 0 && err >= PDB_ERRNO_MIN;
}

/** True if err is in policydb's range (PDB_E_FIRST down to PDB_E_LAST). */
static inline bool pdb_err_is_pdb(int err)
{
	return err <= PDB_E_FIRST && err >= PDB_E_LAST;
}

/** Return a static sentence for any error this library returns
 * (PDB_E* or negative errno); "unknown error" for a code outside both
 * ranges.  Never NULL. */
const char *pdb_strerror(int err);

/* ---- limits -------------------------------------------------------------- */

#define PDB_NAME_MAX     253   /* a domain name, without trailing dot */
#define PDB_LABEL_MAX    63
#define PDB_TAG_MAX      63    /* bytes in a tag */
#define PDB_TEXT_MAX     1024  /* bytes in contact or note */
#define PDB_MAX_TAGS     32    /* tags, require-tags, forbid-tags: each */
#define PDB_MAX_TARGETS  16    /* s2s targets, direct-TLS targets, clearinghouses */
#define PDB_MAX_ADDRS    16    /* host addresses */
#define PDB_MAX_QUERIERS 32    /* querier prefixes */
#define PDB_MAX_PINS     8     /* SPKI pins */
#define PDB_PIN_LEN      32    /* SHA-256 */
#define PDB_RECORD_MAX   32768 /* an encoded record never exceeds this */
#define PDB_MAX_SNAPSHOTS 511  /* read transactions open at once, over all
                                  processes that share a store */

/* The on-disk format this build writes and the newest it reads. */
#define PDB_FORMAT_VERSION 1

/* ---- names and tags ------------------------------------------------------ */

/** Validate and normalise a domain name.
 *
 * Takes a NUL-terminated name in UTF-8 (U-labels) or ASCII, with or without
 * a trailing dot.  Writes into out the lower-case A-label form without the
 * trailing dot: labels of 1..63 letters, digits and hyphens, no hyphen at
 * either end of a label, at least two labels, 253 characters at most, and
 * a last label that is not all digits (so an IPv4 address is no name).
 *
 * why, if not NULL, receives a static phrase saying what is wrong
 * ("empty label", "label longer than 63 characters", ...) on PDB_EBADNAME.
 *
 * Returns 0 or PDB_EBADNAME.  -EINVAL if in or out is NULL. */
int pdb_name_normalise(const char *in, char out[PDB_NAME_MAX + 1],
                       const char **why);

/** Validate and normalise a tag: 1..63 bytes of [a-z0-9.:_/-] after
 * folding ASCII upper case to lower case.  Same contract as
 * pdb_name_normalise(); returns 0 or PDB_EBADTAG. */
int pdb_tag_normalise(const char *in, char out[PDB_TAG_MAX + 1],
                      const char **why);

/* ---- hashing -------------------------------------------------------------- */

/** FNV-1a (Fowler, Noll, Vo) over n bytes at p, 32 and 64 bits: cheap and
 * sensitive to every byte and its position.  The 32-bit one is the check
 * sum of every stored record, so it never changes; the daemons use them
 * for their own tables.  p may be NULL when n is 0. */
uint32_t pdb_fnv1a32(const void *p, size_t n);
uint64_t pdb_fnv1a64(const void *p, size_t n);

/* ---- the data model ------------------------------------------------------ */

/** A byte string.  Not NUL-terminated; see the conventions above. */
typedef struct {
	const char *p;
	uint16_t len;
} pdb_str;

/** Make a pdb_str view of a NUL-terminated string (no copy). */
pdb_str pdb_str_of(const char *s);
/** True if the two strings hold the same bytes. */
bool pdb_str_eq(pdb_str a, pdb_str b);

enum pdb_status { PDB_ACTIVE = 0, PDB_SUSPENDED = 1, PDB_REVOKED = 2 };

struct pdb_target {
	pdb_str host;        /* a normalised domain name */
	uint16_t port;       /* 1..65535 */
	uint16_t priority;   /* SRV priority among the member's own targets */
	uint16_t weight;     /* SRV weight */
};

/** An address (prefix == 32 or 128) or a prefix. */
struct pdb_addr {
	uint8_t family;      /* 4 or 6 */
	uint8_t prefix;      /* 0..32 for IPv4, 0..128 for IPv6 */
	uint8_t bytes[16];   /* network order; bits past the prefix are zero */
};

/* Which fields of a pdb_policy were given; the others come from the
 * community default at decision time. */
#define PDB_POLICY_MIN_LEVEL 0x1
#define PDB_POLICY_REQUIRE   0x2
#define PDB_POLICY_FORBID    0x4

/** What a member accepts from its peers. */
struct pdb_policy {
	uint8_t set;             /* PDB_POLICY_* bits */
	uint8_t min_peer_level;
	uint8_t nrequire, nforbid;
	pdb_str require[PDB_MAX_TAGS];   /* a peer must have all of these */
	pdb_str forbid[PDB_MAX_TAGS];    /* a peer must have none of these */
};

struct pdb_member {
	enum pdb_status status;
	uint8_t level;
	int64_t not_after;       /* Unix time of the first second no longer
	                            valid; 0 means no end */
	uint8_t ntags, ntargets, ntls_targets, naddrs, nqueriers, npins;
	pdb_str tags[PDB_MAX_TAGS];
	struct pdb_target targets[PDB_MAX_TARGETS];
	struct pdb_target tls_targets[PDB_MAX_TARGETS];  /* XEP-0368 */
	struct pdb_addr addrs[PDB_MAX_ADDRS];            /* of its hosts */
	struct pdb_addr queriers[PDB_MAX_QUERIERS];      /* resolvers it uses */
	const uint8_t *pins[PDB_MAX_PINS];               /* PDB_PIN_LEN bytes each */
	pdb_str contact, note;
	struct pdb_policy policy;
};

enum pdb_fallback {
	PDB_FALLBACK_NEVER = 0,   /* never publish the real targets */
	PDB_FALLBACK_ALLOWED = 1, /* only to queriers allowed to reach the member */
	PDB_FALLBACK_ALWAYS = 2,
};

/* How dnsd answers for a member that is suspended, revoked or expired. */
enum pdb_inactive {
	PDB_INACTIVE_CLEARINGHOUSE = 0, /* the clearinghouse only, so xmppd can refuse */
	PDB_INACTIVE_NXDOMAIN = 1,
};

/* What xmppd needs before it redirects a peer (or relays it). */
enum pdb_identity {
	PDB_IDENTITY_CLAIM = 0,       /* the stream header's 'from' is enough */
	PDB_IDENTITY_CERTIFICATE = 1, /* TLS, and a certificate valid for 'from'
	                                 (RFC 6125) or matching one of its pins */
};

/* What a policy-violation's <text/> tells the refused peer. */
enum pdb_deny_text {
	PDB_DENY_TEXT_GENERIC = 0, /* "refused by the federation policy" */
	PDB_DENY_TEXT_RULE = 1,    /* the rule that fired, as policyctl check says */
};

struct pdb_clearinghouse {
	pdb_str host;
	uint16_t port;       /* s2s with STARTTLS; 0 = none */
	uint16_t tls_port;   /* direct TLS (XEP-0368); 0 = none */
};

struct pdb_level_name {
	uint8_t level;
	pdb_str name;
};

struct pdb_community {
	pdb_str zone;
	uint8_t nch;
	struct pdb_clearinghouse ch[PDB_MAX_TARGETS];
	enum pdb_fallback fallback;
	enum pdb_inactive inactive;
	enum pdb_identity identity;
	enum pdb_deny_text deny_text;
	uint32_t ttl;
	uint16_t nlevels;                 /* ascending by level, unique */
	struct pdb_level_name levels[256];
	struct pdb_policy dflt;           /* the default member policy */
};

/** Set every count and flag of m to its empty state (no allocation). */
void pdb_member_init(struct pdb_member *m);

/* What the daemons ask of a member, so that they read it through these
 * and not field by field: the layout of struct pdb_member may change with
 * the record format, these do not.  The struct stays public for whoever
 * builds members to store them.  None allocates; m must not be NULL. */

/** True if m is active and, at Unix time now, not past its not-after. */
bool pdb_member_valid_at(const struct pdb_member *m, int64_t now);
/** The Unix time m stops being valid: its not-after if it is active and
 * has one, else 0 (no end while nothing is committed). */
int64_t pdb_member_valid_until(const struct pdb_member *m);
/** m's s2s targets, or with tls its direct-TLS (XEP-0368) targets: the
 * number of them, with *t pointing at the first (into m, valid as long as
 * m and the memory its strings point into). */
unsigned pdb_member_targets(const struct pdb_member *m, bool tls, const struct pdb_target **t);
/** True if spki (PDB_PIN_LEN bytes) is one of m's pins. */
bool pdb_member_pinned(const struct pdb_member *m, const uint8_t *spki);
/** Same for a community: fallback allowed, inactive clearinghouse,
 * identity claim, deny-text generic, ttl 60. */
void pdb_community_init(struct pdb_community *c);

/** Name of a level in the community, or an empty pdb_str. */
pdb_str pdb_level_name(const struct pdb_community *c, uint8_t level);

const char *pdb_status_name(enum pdb_status s);       /* "active", ... */
const char *pdb_fallback_name(enum pdb_fallback f);   /* "never", ... */
const char *pdb_inactive_name(enum pdb_inactive i);   /* "clearinghouse", ... */
const char *pdb_identity_name(enum pdb_identity i);   /* "claim", "certificate" */
const char *pdb_deny_text_name(enum pdb_deny_text t); /* "generic", "rule" */

/* ---- record encoding ------------------------------------------------------ */

/** Encode a member (or community) into buf, at most cap bytes.
 * Every string, count and value is validated first.
 * On success writes the length to *len and returns 0.
 * Errors: PDB_ELIMIT (does not fit in cap, or a list or text too long),
 * PDB_EBADNAME / PDB_EBADTAG (a host or tag is not normalised),
 * -EINVAL (a value out of range, or a NULL argument). */
int pdb_member_encode(const struct pdb_member *m, uint8_t *buf, size_t cap,
                      size_t *len);
int pdb_community_encode(const struct pdb_community *c, uint8_t *buf,
                         size_t cap, size_t *len);

/** Decode and validate a record.  The strings in *m point into buf, which
 * must outlive *m.  Returns 0, or PDB_ECORRUPT for anything truncated,
 * malformed, of another record kind or of a newer record version. */
int pdb_member_decode(const void *buf, size_t len, struct pdb_member *m);
int pdb_community_decode(const void *buf, size_t len, struct pdb_community *c);

/* ---- the decision --------------------------------------------------------- */

enum pdb_outcome { PDB_ALLOW = 0, PDB_DENY = 1, PDB_UNKNOWN = 2 };

/* The rule that fired.  Their names (pdb_rule_name) are stable: logs,
 * scripts and policyctl check print them. */
enum pdb_rule {
	PDB_RULE_UNKNOWN_MEMBER = 0, /* "unknown-member" */
	PDB_RULE_NOT_ACTIVE,         /* "not-active": suspended or revoked */
	PDB_RULE_EXPIRED,            /* "expired": past not-after */
	PDB_RULE_OVERRIDE_DENY,      /* "override-deny" */
	PDB_RULE_OVERRIDE_ALLOW,     /* "override-allow" */
	PDB_RULE_LEVEL,              /* "level": below the other's minimum */
	PDB_RULE_MISSING_TAG,        /* "missing-tag": lacks a required tag */
	PDB_RULE_FORBIDDEN_TAG,      /* "forbidden-tag": has a forbidden tag */
	PDB_RULE_POLICY_OK,          /* "policy-ok": each meets the other's policy */
};

enum pdb_override { PDB_OVERRIDE_NONE = 0, PDB_OVERRIDE_ALLOW = 1,
                    PDB_OVERRIDE_DENY = 2 };

struct pdb_decision {
	enum pdb_outcome outcome;
	enum pdb_rule rule;
	/* The member the rule is about (the unknown, inactive or failing one)
	 * and the other one; for override and policy-ok rules, the two names
	 * in canonical order.  They point at the a and b given. */
	const char *subject, *other;
	pdb_str tag;              /* missing-tag, forbidden-tag */
	uint8_t level, min_level; /* level */
	enum pdb_status status;   /* not-active */
	int64_t not_after;        /* expired */
	/* b's record, whose targets are where to send a; valid only when
	 * b_known, and only as long as the record memory (see conventions). */
	bool b_known;
	struct pdb_member b;
};

/** The decision itself: a pure function of its inputs.
 *
 * a, b: normalised names; ma, mb: their records, NULL for a name that is no
 * member; ov: the override on {a, b}; now: Unix time.  The outcome and rule
 * are the same for (a, b) and (b, a): rules are tried in the order of
 * docs/architecture.md ("The decision"), and within a rule on the two names in canonical
 * (byte-wise) order.  out->b is a copy of *mb when mb is not NULL. */
void pdb_decide_records(const struct pdb_community *c,
                        const char *a, const struct pdb_member *ma,
                        const char *b, const struct pdb_member *mb,
                        enum pdb_override ov, int64_t now,
                        struct pdb_decision *out);

/** The policy rules of the decision alone: does peer meet the policy own,
 * with dflt giving the fields own does not set (NULL: no default, so an
 * unset field asks nothing)?  Only peer's level and tags are read.  Pure,
 * like pdb_decide_records(), which uses it for each side; the policy push
 * uses it to apply a member's local policy to the table.
 *
 * Returns true, or false with d->rule (PDB_RULE_LEVEL, _MISSING_TAG or
 * _FORBIDDEN_TAG) and d->level, d->min_level or d->tag filled in when d is
 * not NULL; d->tag then points into own or dflt.  Nothing else of d is
 * touched. */
bool pdb_policy_meets(const struct pdb_policy *own, const struct pdb_policy *dflt,
                      const struct pdb_member *peer, struct pdb_decision *d);

const char *pdb_outcome_name(enum pdb_outcome o);  /* "allow", "deny", "unknown" */
const char *pdb_rule_name(enum pdb_rule r);

/** Write one human sentence explaining d into buf (NUL-terminated,
 * truncated to len).  Returns what snprintf returns. */
int pdb_decision_explain(const struct pdb_decision *d, char *buf, size_t len);

/* ---- the store ------------------------------------------------------------ */

typedef struct pdb pdb_t;
typedef struct pdb_txn pdb_txn;
typedef struct pdb_wtxn pdb_wtxn;

#define PDB_RDONLY 0x1  /* open for reading only: no write lock taken */
#define PDB_CREATE 0x2  /* create the store (and the directory) if absent */

struct pdb_limits {
	size_t map_size;  /* initial map size in bytes; 0 = default (1 GiB) */
	size_t map_max;   /* the map never grows past this; 0 = default (64 GiB) */
};

/** Open the store in directory dir.
 *
 * flags: PDB_RDONLY or PDB_CREATE (not both), or 0 to open an existing
 * store for writing.  lim may be NULL for the defaults.  With PDB_CREATE an
 * existing store is opened as it is; the caller checks pdb_initialised().
 *
 * On success *out is a handle to free with pdb_close().  One handle per
 * process and store (an LMDB rule); it may be shared by threads, each with
 * its own read transaction.  While a snapshot is active (begun or renewed,
 * not yet reset or ended) its thread must not begin another or write: a
 * map that has to grow waits for every active snapshot of the process.
 *
 * Reader slots left by dead processes are freed (see pdb_reader_check).
 *
 * Errors: -ENOENT (no such directory, or no store in it and no PDB_CREATE),
 * -ENOTDIR, -EACCES, PDB_ENOTSTORE (files that are not a policy store),
 * PDB_EREADERS (every reader slot taken by live processes), PDB_ELOCKFILE
 * (lock.mdb, or the directory to make it in, is not writable: a read-only
 * mount or its modes; every reader needs it to lock), PDB_ENEWER (written by a newer format version), -ENOMEM, PDB_ELMDB. */
int pdb_open(const char *dir, unsigned flags, const struct pdb_limits *lim,
             pdb_t **out);

/* ---- the store's files and their modes ----
 * The store is a directory with data.mdb (the data) and lock.mdb (LMDB's
 * reader table).  A reader opens data.mdb read-only but must write
 * lock.mdb; a writer writes both.  The layout for a group of writers whose
 * members include the daemons' group is pdb_set_group()'s. */

/** Check, as pdb_open() would with flags, that the calling process's
 * user and groups can open the store in dir: for a daemon that opened it
 * before giving up root, and must still be able to after a restart as
 * its user.  Nothing is opened (closing a descriptor of lock.mdb would
 * drop this process's locks on it).  Returns 0 or an error of pdb_open()
 * (-EACCES, -ENOENT, PDB_ENOTSTORE, PDB_ELOCKFILE...); -EINVAL. */
int pdb_check_access(const char *dir, unsigned flags);

/** Find what of the store in dir others may write (mode o+w): the
 * directory, data.mdb or lock.mdb; anyone on the host could change the
 * policy or break the locking.  Returns 0 for none, 1 with the first
 * such path in path (truncated to len), or a negative errno of stat()
 * (a file that does not exist is skipped); -EINVAL. */
int pdb_world_writable(const char *dir, char *path, size_t len);

/** Give the store in dir to group gid: the directory 02770 (set-group-ID,
 * so files LMDB makes later, such as a lock.mdb made anew, are the
 * group's too), data.mdb and lock.mdb 0660, all of them group gid.  Then
 * the group's members (policyctl's users and the daemons' group) read and
 * write, and others have no access.  The owner stays.  Needs root or an
 * owner who is in gid.  Returns 0, -EINVAL, or a negative errno of
 * chown() or chmod() (-EPERM...). */
int pdb_set_group(const char *dir, gid_t gid);

/** Free the reader slots of processes that died holding a snapshot
 * (killed, crashed): LMDB frees them only when asked.  pdb_open() does
 * it, and pdb_read_begin() does when the slots have run out; a long-lived
 * process may call it on a timer too, so that the slots do not run out
 * in the first place.  *dead (may be NULL) receives the number of slots
 * freed (two per snapshot).
 * Returns 0, -EINVAL, or an error as pdb_open(). */
int pdb_reader_check(pdb_t *db, int *dead);

/** What pdb_verify() reports as it goes.  Any member may be NULL. */
struct pdb_verify_cb {
	/* Before each database is walked: "free list", "main", "meta",
	 * "member", "override", "audit".  A caller that watches the walk from
	 * another process learns where a fault happened. */
	void (*at)(void *arg, const char *db);
	/* For each damaged record, or a database that cannot be walked to
	 * its end: key is the record's key in printable form (escaped, cut
	 * short), "" when there is none; why is a static phrase. */
	void (*damage)(void *arg, const char *db, const char *key, const char *why);
	void *arg;
};

/** Walk the whole store in one snapshot: the free list, every named
 * database and every record in it, each value decoded and checked as a
 * reader would, keys in order, counts as the headers say.  LMDB keeps no
 * checksums, so damage is found only where it breaks these rules; and a
 * damaged page can make the walk fault inside LMDB: run this in a process
 * that may die (a child), never in a daemon.
 *
 * *records (may be NULL) receives the number of records walked.
 * Returns 0 for a sound store, PDB_ECORRUPT after reporting damage, or
 * -EINVAL, -ENOMEM and the errors of pdb_read_begin(). */
int pdb_verify(pdb_t *db, const struct pdb_verify_cb *cb, size_t *records);

/** Write a consistent, compacted copy of the store (one snapshot; free
 * pages left out) to the new file path: a data.mdb to put in an empty
 * directory, mode 0600.  It is written aside and linked into place, so the
 * name appears only with the whole copy on disk.
 * Errors: -EEXIST (path exists: never replaced), -EINVAL, -ENAMETOOLONG,
 * other negative errno (-ENOSPC, -EACCES...), PDB_ELMDB. */
int pdb_backup(pdb_t *db, const char *path);

/** Close a handle.  All its transactions must have ended.  NULL is a no-op. */
void pdb_close(pdb_t *db);

/** Mark a newly created store as initialised: writes the format version
 * and a first serial (the current Unix time, so that a store made anew
 * never goes back in serial), and an audit entry.
 * Errors: PDB_EEXIST if it already is, PDB_ERDONLY, PDB_EMAPFULL, PDB_ELMDB. */
int pdb_init(pdb_t *db, const char *command);

/** Begin a read transaction: a consistent snapshot of the newest commit.
 * Snapshots taken one after the other in a process never go back in
 * serial.  *out is freed by pdb_read_end().  When every reader slot is
 * taken, the slots of dead processes are freed and the begin tried once
 * more.  Errors: -ENOMEM, PDB_EREADERS (still full),
 * -EAGAIN (a writer committed faster than a snapshot could settle, a
 * thousand times in a row), PDB_ELMDB. */
int pdb_read_begin(pdb_t *db, pdb_txn **out);
/** End and free a read transaction.  NULL is a no-op. */
void pdb_read_end(pdb_txn *txn);
/** Release a read transaction's snapshot but keep it for pdb_read_renew():
 * the cheap way for a long-lived thread to take a new snapshot per query.
 * Pointers read in the snapshot are invalid after this.  No-op if the
 * transaction is already reset. */
void pdb_read_reset(pdb_txn *txn);
/** Take a new snapshot on a reset transaction.  -EINVAL if it is not
 * reset; otherwise errors as pdb_read_begin. */
int pdb_read_renew(pdb_txn *txn);

/** A number that changes with every commit, read without a transaction:
 * cheap enough to ask per query.  Equal to pdb_snapshot_version() of a
 * snapshot means no commit has happened since that snapshot was taken, so
 * whatever was derived from it still holds.  0 if it cannot be read. */
uint64_t pdb_version(pdb_t *db);
/** The version of the commit a snapshot shows; 0 for NULL. */
uint64_t pdb_snapshot_version(pdb_txn *txn);

/** The serial of the snapshot: bumped by every commit. */
int pdb_serial(pdb_txn *txn, uint64_t *serial);

/** Look up a member.  Errors: PDB_ENOTFOUND, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_get_member(pdb_txn *txn, const char *name, struct pdb_member *m);
/** The community settings.  PDB_ENOTFOUND before the first load. */
int pdb_get_community(pdb_txn *txn, struct pdb_community *c);
/** The override on {a, b} (either order); PDB_OVERRIDE_NONE if there is none. */
int pdb_get_override(pdb_txn *txn, const char *a, const char *b,
                     enum pdb_override *ov);
/** Number of members. */
int pdb_member_count(pdb_txn *txn, size_t *n);

/** Look up a, b, their override and the community, then decide (see
 * pdb_decide_records).  A store with no community yet decides with the
 * defaults of pdb_community_init().  Returns 0 with the decision in *out,
 * or PDB_ECORRUPT / PDB_ELMDB; an unknown name is an outcome, not an error.
 * out->b points into the transaction. */
int pdb_decide(pdb_txn *txn, const char *a, const char *b, int64_t now,
               struct pdb_decision *out);

/* Walkers call fn for each entry in key order until fn returns non-zero,
 * which they then return; 0 after the last entry.  Names passed to fn are
 * NUL-terminated copies valid during the call; records as above. */
typedef int (*pdb_member_fn)(void *arg, const char *name,
                             const struct pdb_member *m);
typedef int (*pdb_override_fn)(void *arg, const char *a, const char *b,
                               enum pdb_override ov);

#define PDB_AUDIT_HASH_LEN 32   /* SHA-256, and HMAC-SHA256 */

struct pdb_audit {
	uint64_t serial;   /* the serial this commit produced */
	int64_t time;      /* Unix time of the commit */
	pdb_str user;      /* the name of the writer's real uid (older
	                      entries: its effective user, and SUDO_USER) */
	pdb_str command;   /* the command line */
	pdb_str change;    /* what changed, in words */
	/* Entries written since the log is chained (see "the audit log's
	 * chain" below); older entries have none of these. */
	bool has_uid, has_loginuid;
	uint32_t uid;      /* the writer's real uid (getuid) */
	uint32_t loginuid; /* its login uid (/proc/self/loginuid), when set */
	pdb_str sudo_user; /* SUDO_USER as the writer's environment claimed it:
	                      unchecked, anyone can set it; len 0 if unset */
	const uint8_t *prev;  /* PDB_AUDIT_HASH_LEN bytes: the hash of the
	                         entry before, or zeros for the first; NULL in
	                         entries from before the chain */
	const uint8_t *mac;   /* PDB_AUDIT_HASH_LEN bytes: the entry's MAC
	                         under the audit key; NULL if written without */
	pdb_str broken;       /* the writer found the log's head not naming the
	                         last entry: what it found; len 0 normally */
};
typedef int (*pdb_audit_fn)(void *arg, const struct pdb_audit *e);

int pdb_walk_members(pdb_txn *txn, pdb_member_fn fn, void *arg);
/** As pdb_walk_members, but fn gets the encoded record, not decoded: for
 * comparing or copying records without the cost of decoding them. */
typedef int (*pdb_record_fn)(void *arg, const char *name, const void *rec, size_t len);
int pdb_walk_member_records(pdb_txn *txn, pdb_record_fn fn, void *arg);
/** As pdb_walk_member_records, from the first name that sorts after
 * after (byte order; NULL or "" walks from the first): a walk done in
 * slices resumes where it stopped, at the cost of one seek. */
int pdb_walk_member_records_after(pdb_txn *txn, const char *after, pdb_record_fn fn, void *arg);
int pdb_walk_overrides(pdb_txn *txn, pdb_override_fn fn, void *arg);
/** Audit entries oldest first; with last_n > 0 only the newest last_n. */
int pdb_walk_audit(pdb_txn *txn, size_t last_n, pdb_audit_fn fn, void *arg);

/* ---- the audit log's chain ------------------------------------------------
 * Every entry holds the SHA-256 of the entry before it (of its serial, 8
 * bytes big-endian, and its stored bytes), so that no entry can be changed,
 * dropped or moved without breaking the link of the one after it.  Links
 * alone stop only someone who does not recompute them: with an audit key
 * (PDB_AUDIT_KEY_LEN random bytes kept OUTSIDE the store, see
 * pdb_audit_key_read), each entry also carries an HMAC-SHA256 of its serial
 * and bytes, and the store keeps a head, the MAC of (key id, the first
 * keyed serial, the last serial, the last entry's hash): without the key an
 * entry cannot be rewritten, nor the tail cut, without the check failing.
 *
 * What cannot be detected: anything done by someone who holds the key (he
 * can rewrite the whole log and its head); the whole store put back to an
 * older copy of itself, head and all (a rollback: compare the serial with
 * one known from elsewhere); entries written before the chain began, except
 * the last of them, which the first chained entry links. */

#define PDB_AUDIT_KEY_LEN 32

/** Give the handle the audit key (PDB_AUDIT_KEY_LEN bytes, copied): from
 * then on each commit's entry is keyed.  Once a log is keyed, a commit
 * without the key, or with another, fails with PDB_EAUDITKEY: an
 * unkeyed entry in a keyed log would be indistinguishable from a forgery.
 * key NULL forgets it.  Returns 0, or -EINVAL for a NULL db. */
int pdb_audit_key_set(pdb_t *db, const uint8_t *key);

/** Read an audit key file: the key in hex (64 digits) and a newline.
 * Refused when others (not owner, not group) may read it, since the key
 * is what makes forging the log hard.  Returns 0 with the key in key,
 * -ENOENT (no such file), -EACCES, -EPERM (readable by others), -EINVAL
 * (not a key file), other negative errno. */
int pdb_audit_key_read(const char *path, uint8_t key[PDB_AUDIT_KEY_LEN]);

/** Make a new random audit key file at path (mode 0640: owner and group;
 * never replaces a file) and return the key in key.  Returns 0, -EEXIST,
 * -EIO (no randomness), other negative errno. */
int pdb_audit_key_make(const char *path, uint8_t key[PDB_AUDIT_KEY_LEN]);

/** Has the log a head, that is, is it keyed?  Returns 1, 0, or an error as
 * pdb_get_member. */
int pdb_audit_keyed(pdb_txn *txn);

/** What pdb_audit_verify found, beside the problems it reported. */
struct pdb_audit_check {
	uint64_t entries;     /* entries walked */
	uint64_t first, last; /* their serials (0 for an empty log) */
	uint64_t chain_from;  /* the first entry with a link; 0 if none */
	uint64_t keyed_from;  /* the first entry with a MAC; 0 if none */
	bool keyed;           /* the log has a head */
	bool macs_checked;    /* a key was given, the log's: MACs and head checked */
};

/** For each problem: the serial of the entry it is about (0 for the log as
 * a whole) and a sentence, valid during the call. */
typedef void (*pdb_audit_problem_fn)(void *arg, uint64_t serial, const char *what);

/** Walk the whole log oldest first and check every link and, with key (or
 * NULL), every MAC and the head: an entry rewritten, dropped, moved to
 * another serial, or written without the key after keyed ones, and a tail
 * cut off (the head names a later entry), are each reported through fn
 * (may be NULL) naming the entry.  The log must also end at the store's
 * serial.  *out (may be NULL) receives what was found.
 * Returns 0 when everything checked holds; PDB_ETAMPERED after reporting
 * problems; PDB_EAUDITKEY when key is not the key the log was keyed with
 * (nothing else is reported then); PDB_ECORRUPT (an entry does not
 * decode), PDB_ELMDB, -EINVAL. */
int pdb_audit_verify(pdb_txn *txn, const uint8_t *key, pdb_audit_problem_fn fn, void *arg,
                     struct pdb_audit_check *out);

/* ---- removed members ------------------------------------------------------
 * The commit that removes a member (pdb_w_del_member, or pdb_w_clear for
 * every member it removes that is not put again before the commit) keeps
 * its name and the time of that commit: readers may go on answering for a
 * name that just left (dnsd keeps a removed member's delegated names alive
 * for a grace period, so that resolvers do not find them lame).  Putting
 * the member again forgets its removal.  Every commit forgets removals
 * older than PDB_REMOVED_KEEP seconds, so that the table holds at most the
 * removals of that period. */

#define PDB_REMOVED_KEEP (90 * 86400)

/** When name was removed.
 *
 * name: a normalised name.  On success *when receives the Unix time of
 * the commit that removed it.  Returns 0, or PDB_ENOTFOUND (never a
 * member, a member again, or removed so long ago that a commit has since
 * forgotten it), PDB_ECORRUPT, PDB_ELMDB; -EINVAL for a NULL argument. */
int pdb_get_removed(pdb_txn *txn, const char *name, int64_t *when);

/** Removed names in key order, with the time of their removal; as the
 * walkers above (name is a NUL-terminated copy valid during the call). */
typedef int (*pdb_removed_fn)(void *arg, const char *name, int64_t when);
int pdb_walk_removed(pdb_txn *txn, pdb_removed_fn fn, void *arg);

/* ---- writing ------------------------------------------------------------ */

/** The body of a write transaction.  It may be called more than once: when
 * the map fills up, everything it did is thrown away, the map grows, and
 * it is called again from the start, so it must not keep state between
 * calls.  Return 0 to commit, anything else to abort with that value. */
typedef int (*pdb_write_fn)(pdb_wtxn *w, void *arg);

/** Run fn in one write transaction, then bump the serial, append one audit
 * entry (now, the OS user, command, and the text given with
 * pdb_w_change()), record what fn changed in the journal (see "the
 * journal" below) and commit.  Either everything fn wrote is committed or
 * nothing is.  *serial_out (may be NULL) receives the new serial.
 *
 * Errors: what fn returned; PDB_ERDONLY; PDB_EMAPFULL when the map would
 * have to grow past map_max; PDB_ENOTSTORE if pdb_init() was never done;
 * PDB_ELMDB, -ENOSPC, -EIO from the commit. */
int pdb_write(pdb_t *db, const char *command, pdb_write_fn fn, void *arg,
              uint64_t *serial_out);

/** The write transaction's own view, for reads inside fn (pdb_get_member,
 * pdb_decide, walkers...).  Do not end it. */
pdb_txn *pdb_w_txn(pdb_wtxn *w);

/** Store a member (replacing one of that name), and forget its removal if
 * it was removed. */
int pdb_w_put_member(pdb_wtxn *w, const char *name, const struct pdb_member *m);
/** Store an already encoded member record (validated again here).
 * append: the caller promises name sorts after every member stored, for a
 * fast bulk load; a broken promise is -EINVAL. */
int pdb_w_put_member_raw(pdb_wtxn *w, const char *name, const void *rec,
                         size_t len, bool append);
/** Remove a member, its overrides with it, and keep its removal (see
 * "removed members" above).  Errors: PDB_ENOTFOUND. */
int pdb_w_del_member(pdb_wtxn *w, const char *name);
/** ov == PDB_OVERRIDE_NONE removes the override. a and b must differ. */
int pdb_w_put_override(pdb_wtxn *w, const char *a, const char *b,
                       enum pdb_override ov);
int pdb_w_put_community(pdb_wtxn *w, const struct pdb_community *c);
/** Remove every member, override and the community settings (not the
 * serial, the audit log nor earlier removals); each member's removal is
 * kept, and forgotten again if the member is put in the same commit. */
int pdb_w_clear(pdb_wtxn *w);
/** Append printf-style text to this commit's audit entry ("what changed").
 * Text past PDB_TEXT_MAX * 4 bytes is cut with "...". */
int pdb_w_change(pdb_wtxn *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- the journal: what each commit changed ----------------------------------
 * Every commit records, in its own transaction, what it changed: each
 * member it put or removed, each override it set or removed (also those
 * removed with their member), and the community settings if they changed,
 * each with its value as it was BEFORE the commit, or "absent".  LMDB keeps
 * no old snapshots; with these before-images a reader holding only the
 * current one can still tell what any changed name was at an older serial
 * (the oldest image after that serial, or the current value if none), and
 * update what it derived from the store (views, address owners, IXFR
 * differences) by what changed instead of walking every member.
 *
 * - A commit that touches a name twice keeps the first before-image, the
 *   one from before the commit.  A put of the very bytes already stored,
 *   or the removal of an override that is not there, is no change.
 * - A commit that clears the store (pdb_w_clear, as a whole load does)
 *   records only the members and overrides whose encoded value differs
 *   from before the commit, byte for byte, and those removed or added.
 * - A commit that changes more than PDB_JOURNAL_ITEMS_MAX items or
 *   PDB_JOURNAL_BYTES_MAX bytes of before-images is recorded as
 *   "everything changed", without items: readers asking across it get
 *   PDB_ETOOOLD and rebuild from the snapshot (dnsd: a full transfer).
 * - The records of the newest journal-max serials are kept (a store
 *   setting, PDB_JOURNAL_MAX_DEFAULT unless set); older ones are pruned by
 *   the commit that makes them too old, at a cost in what it prunes.
 *   journal-max 0 keeps none and records nothing.
 * - Stores made before the journal have none: it starts with the first
 *   commit a version with it makes. */

#define PDB_JOURNAL_MAX_DEFAULT 1000
#define PDB_JOURNAL_ITEMS_MAX   10000
#define PDB_JOURNAL_BYTES_MAX   ((size_t)8 << 20)

enum pdb_change_kind {
	PDB_CHANGE_MEMBER = 'M',
	PDB_CHANGE_OVERRIDE = 'O',
	PDB_CHANGE_COMMUNITY = 'C',
};

/** One changed item of one commit. */
struct pdb_change {
	uint64_t serial;            /* the commit that changed it */
	enum pdb_change_kind kind;
	/* member: its name; override: the two names of the pair, name the
	 * smaller in byte order; community: both "".  NUL-terminated copies,
	 * valid during the callback. */
	const char *name, *other;
	/* false: there was no such member, override or community before the
	 * commit (it was added).  true: before/before_len hold the value as
	 * it was: an encoded member or community record, to decode with
	 * pdb_member_decode() or pdb_community_decode() (it points into the
	 * store: valid as the transaction's other values), and for an
	 * override its value in override_before. */
	bool existed;
	const void *before;
	size_t before_len;
	enum pdb_override override_before;  /* PDB_OVERRIDE_NONE unless existed */
};
typedef int (*pdb_change_fn)(void *arg, const struct pdb_change *c);

/** Walk what the commits after serial up to txn's own changed: by serial,
 * oldest first, and within a commit in the order it made the changes (the
 * differences a clear left at its end, in key order).
 *
 * serial: one a reader saw before (pdb_serial()).  Before calling fn at
 * all, checks that the journal holds every commit after serial and none
 * of them recorded "everything changed"; else returns PDB_ETOOOLD (also
 * for a serial newer than txn's), and the caller rebuilds from the
 * snapshot.  serial equal to txn's is 0 with no call.
 *
 * fn is called once per item until it returns non-zero, which is then
 * returned.  Returns 0 after the last item; -EINVAL for a NULL argument;
 * PDB_ETOOOLD as above; PDB_ECORRUPT for a damaged record (possibly after
 * some calls: the caller discards what it got); PDB_ELMDB. */
int pdb_changes_since(pdb_txn *txn, uint64_t serial, pdb_change_fn fn, void *arg);

/** The oldest serial pdb_changes_since() answers for in txn: the serial
 * before the oldest commit the journal holds, or the newest commit that
 * recorded "everything changed", whichever is newer; txn's own serial when
 * the journal is empty.  Returns 0, -EINVAL, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_journal_oldest(pdb_txn *txn, uint64_t *serial);

/** The journal-max setting: how many serials' records are kept
 * (PDB_JOURNAL_MAX_DEFAULT if never set).  Returns 0, -EINVAL,
 * PDB_ECORRUPT, PDB_ELMDB. */
int pdb_journal_max(pdb_txn *txn, uint32_t *max);

/** Set journal-max from this commit on: the commit prunes to the new
 * bound.  0 keeps no records (and drops those kept).  Returns 0, -EINVAL,
 * PDB_EMAPFULL, PDB_ELMDB. */
int pdb_w_journal_max(pdb_wtxn *w, uint32_t max);

/* ---- served serials: answers that change with time -------------------------
 * Some answers change with no commit: a member's not-after passes, a
 * removed member's grace ends.  The writer keeps an index of these time
 * events, in each commit's own transaction, so that the serial served to
 * secondaries moves when one passes:
 *
 *     served = serial + offset + E
 *
 * where serial is the commit's (pdb_serial()), offset the commit's own
 * (the last commit's offset plus the events that passed between the two
 * commits) and E the number of events with a time in (commit's time, now].
 * A commit thus moves the served serial by one plus the events since the
 * last one, so it never goes back and moves at every commit; the commit
 * serial itself stays one a commit, for the journal and the audit log.
 * An event of a member changed before it passed is dropped with it; one
 * that passed stays as history while the journal reaches back to it.
 * Stores made before the index get it at their next commit; until then
 * served is the serial. */

enum pdb_event_kind {
	PDB_EVENT_NOT_AFTER = 1,     /* an active member's not-after */
	PDB_EVENT_GRACE_END = 2,     /* the end of a removed member's grace */
};

/** The grace of a removed member, by default: a week. */
#define PDB_REMOVED_GRACE_DEFAULT 604800u

/** The served serial of txn's snapshot at Unix time now, and the time of
 * the next event after now in *next (0: none is known), before which the
 * served serial cannot move without a commit.  Reads only the events
 * since the commit.  Returns 0, -EINVAL, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_served_serial(pdb_txn *txn, int64_t now, uint64_t *served, int64_t *next);

/** What served serial served (one pdb_served_serial() gave, at most the
 * current one at now) showed: the commit *serial, at Unix time *at (its
 * state just after the events counted up to it passed).  Returns 0;
 * PDB_ETOOOLD when the epochs kept (as many as journal-max) do not reach
 * back to it, or it was never served; -EINVAL, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_served_find(pdb_txn *txn, uint64_t served, int64_t now, uint64_t *serial, int64_t *at);

/** Events with a time in (after, upto], oldest first (within one second by
 * kind, then name); name is a NUL-terminated copy valid during the call.
 * fn returns non-zero to stop, which is returned.  Returns 0, -EINVAL,
 * PDB_ECORRUPT, PDB_ELMDB. */
typedef int (*pdb_event_fn)(void *arg, int64_t when, enum pdb_event_kind kind, const char *name);
int pdb_walk_events(pdb_txn *txn, int64_t after, int64_t upto, pdb_event_fn fn, void *arg);

/** The served serial at which the answers for member name (its SRV
 * names, its apex zones) last changed, as far as the store can tell: by
 * a commit that the journal says changed the member, an override of it or
 * its removal; by its time event; or by a change that may touch every
 * member (community settings, removed-grace, a commit the journal keeps
 * no items of).  Never more than pdb_served_serial() at now; moves only
 * forward; kept in the store, so the same after a restart.  A store made
 * before stamps gives pdb_served_serial().  name "" gives the store-wide
 * part alone.  Returns 0, -EINVAL, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_member_stamp(pdb_txn *txn, const char *name, int64_t now, uint64_t *stamp);

/** removed-grace: how long after its removal a member's delegated names
 * are still answered (dnsd), in seconds; PDB_REMOVED_GRACE_DEFAULT if never
 * set.  Returns 0, -EINVAL, PDB_ECORRUPT, PDB_ELMDB. */
int pdb_removed_grace(pdb_txn *txn, uint32_t *seconds);

/** Set removed-grace from this commit on (0 to PDB_REMOVED_KEEP), moving
 * the end of every grace still to come.  Returns 0, -EINVAL,
 * PDB_EMAPFULL, PDB_ELMDB. */
int pdb_w_removed_grace(pdb_wtxn *w, uint32_t seconds);

/* ---- addresses ---------------------------------------------------------- */

/** Parse "192.0.2.1", "2001:db8::1", and with allow_prefix "192.0.2.0/24"
 * or "2001:db8::/32".  Bits past the prefix must be zero.  Returns 0 or
 * -EINVAL. */
int pdb_addr_parse(const char *s, bool allow_prefix, struct pdb_addr *out);
/** Format as pdb_addr_parse reads it ("/len" only for a real prefix).
 * buf of at least 50 bytes. */
void pdb_addr_format(const struct pdb_addr *a, char *buf, size_t len);
/** True if addr (family 4 or 6, 4 or 16 bytes) lies inside prefix p. */
bool pdb_addr_in(const struct pdb_addr *p, int family, const uint8_t *addr);

/* ---- which member an address speaks for ------------------------------------
 * An index of every member's queriers (its resolvers: dnsd's views) or
 * addresses (its hosts: xmppd's direct-TLS relay): a binary trie per
 * family, so that a lookup costs the length of the address, and a change
 * of one member costs that member's prefixes.  Built once from a snapshot,
 * then followed from commit to commit through the journal.
 * A zeroed struct is an empty map; the caller owns it and its memory. */

enum pdb_addr_list { PDB_LIST_QUERIERS, PDB_LIST_ADDRESSES };

/* Its fields are the library's: read a map with the functions below. */
struct pdb_addr_map {
	uint8_t *nodes[2];            /* IPv4, IPv6: the nodes, by index */
	uint32_t root[2];             /* index of the root node; 0: none */
	uint32_t used[2], cap[2];     /* indexes handed out (0 is never one), room */
	uint32_t free[2];             /* a node freed, to be taken again; 0: none */
	size_t n;                     /* (prefix, member) pairs held */
	uint64_t serial;              /* of the snapshot it shows */
	bool built;
};

/** Fill m (emptied first) from every member in txn: a walk over all of
 * them, so call it once, then pdb_addr_map_follow.  Returns 0, -ENOMEM,
 * or a walk error (PDB_ECORRUPT, PDB_ELMDB); m is then empty. */
int pdb_addr_map_build(struct pdb_addr_map *m, pdb_txn *txn, enum pdb_addr_list which);

/** Bring m, built from an older snapshot, to txn's: the members the
 * journal says changed since m's serial have their old prefixes taken out
 * and their current ones put in.  Rebuilds from txn when the journal does
 * not reach back that far (PDB_ETOOOLD), when m was never built, or when
 * an earlier follow failed half way.  *changed (may be NULL) is set true
 * when any lookup may now answer otherwise (also after a rebuild).
 * Returns 0, -EINVAL (NULL m or txn, bad which), -ENOMEM, PDB_ECORRUPT,
 * PDB_ELMDB; after an error m is marked to be rebuilt next time. */
int pdb_addr_map_follow(struct pdb_addr_map *m, pdb_txn *txn, enum pdb_addr_list which,
                        bool *changed);

/** Say that member (a normalised name, copied) lists prefix p.  Returns
 * 0, 1 if it already did (nothing changes), -EINVAL for a NULL argument, a
 * family other than 4 or 6 or a prefix longer than the family's, -ENOMEM. */
int pdb_addr_map_add(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member);

/** Say that member no longer lists p.  Returns 0, PDB_ENOTFOUND if it did
 * not, -EINVAL as pdb_addr_map_add. */
int pdb_addr_map_remove(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member);

/** The entry whose prefix holds addr (family 4 or 6, 4 or 16 bytes), the
 * longest if several do: its index, or -1.  Among members listing that
 * same prefix, the first in byte order speaks for it.  An index stays the
 * same entry until m is changed (add, remove, follow, build, free). */
long pdb_addr_map_find(const struct pdb_addr_map *m, int family, const uint8_t *addr);

/** The member of entry i (an index pdb_addr_map_find returned), owned by
 * m and valid until m changes; NULL if there is no such entry. */
const char *pdb_addr_map_member(const struct pdb_addr_map *m, long i);

/** Free m's memory and leave it empty. */
void pdb_addr_map_free(struct pdb_addr_map *m);

#ifdef __cplusplus
}
#endif
#endif /* POLICYDB_H */
