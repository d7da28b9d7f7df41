/* Internal to libpolicydb: shared between the record codec and the store. */
#ifndef POLICYDB_INTERNAL_H
#define POLICYDB_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <string.h>

#include "policydb.h"

/* Record kinds: the first byte of every stored value. */
#define PDB__KIND_MEMBER    'M'
#define PDB__KIND_COMMUNITY 'C'
#define PDB__KIND_AUDIT     'A'
#define PDB__KIND_CHANGE    'J'   /* a journal item */
#define PDB__KIND_COMMIT    'K'   /* a journal commit header */
#define PDB__RECORD_VERSION 1

/* The longest audit text (command, change) kept. */
#define PDB__AUDIT_TEXT_MAX (PDB_TEXT_MAX * 4)

/* The MAC of an entry's first n bytes (audit.c): 0 or an error. */
typedef int pdb__audit_mac_fn(void *arg, const uint8_t *p, size_t n,
                              uint8_t mac[PDB_AUDIT_HASH_LEN]);
/* mac NULL: an entry without a MAC.  e->serial is not stored (it is the
 * key), nor e->mac (mac makes it). */
int pdb__audit_encode(const struct pdb_audit *e, pdb__audit_mac_fn *mac, void *mac_arg,
                      uint8_t *buf, size_t cap, size_t *len);
/* *mac_at (may be NULL): where the MAC field begins, the length it
 * covers; 0 when the entry has none. */
int pdb__audit_decode(const void *buf, size_t len, struct pdb_audit *e, size_t *mac_at);
/* Append the chained (and, with a key, keyed) entry of the commit being
 * written, and move the head (audit.c). */
int pdb__audit_append(pdb_wtxn *w, uint64_t serial, const char *command);
/* The meta key of the audit log's head. */
#define PDB__AUDIT_HEAD_KEY "audit-head"

/* A journal item as stored (journal.c): kind is a pdb_change_kind; names
 * empty where the kind has none; the strings and before point into the
 * buffer decoded. */
struct pdb__change_rec {
	uint8_t kind;
	pdb_str name, other;
	bool existed;
	const uint8_t *before;
	size_t before_len;
};
/* The longest item: a whole member record and two names, framed. */
#define PDB__CHANGE_MAX (PDB_RECORD_MAX + 2 * PDB_NAME_MAX + 64)

/* A commit's header in the journal: how many items it recorded. */
#define PDB__COMMIT_EVERYTHING 0x1   /* over the bound: no items */
struct pdb__commit_rec {
	uint8_t flags;
	uint32_t count;
};

int pdb__change_encode(const struct pdb__change_rec *c, uint8_t *buf, size_t cap, size_t *len);
int pdb__change_decode(const void *buf, size_t len, struct pdb__change_rec *c);
int pdb__commit_encode(const struct pdb__commit_rec *h, uint8_t *buf, size_t cap, size_t *len);
int pdb__commit_decode(const void *buf, size_t len, struct pdb__commit_rec *h);

/* A cheap structural check of a stored name: the write side did the full
 * one with pdb_name_normalise(). */
bool pdb__name_plausible(const char *p, size_t len);

/* ---- the store's insides, shared by store.c (open, read) and write.c ---- */

struct pdb {
	MDB_env *env;
	MDB_dbi meta, member, override, audit;
	bool rdonly;
	size_t map_max;
	/* Held shared by every active transaction of this process, and
	 * exclusively to change the map size, which LMDB allows only while no
	 * transaction of the process is active. */
	pthread_rwlock_t maplock;
	/* The audit key (pdb_audit_key_set), when has_audit_key. */
	bool has_audit_key;
	uint8_t audit_key[PDB_AUDIT_KEY_LEN];
};

struct pdb_txn {
	pdb_t *db;
	MDB_txn *txn;
	MDB_txn *probe;   /* read snapshots only: see read_settle() in store.c */
	bool active;      /* read snapshots only: holds maplock shared */
};

/* The items a commit has recorded, by kind and name: an open-addressing
 * set, so that a second touch keeps the first before-image. */
struct pdb__seen {
	struct pdb__seen_slot { uint64_t hash; uint32_t off, len; } *slot;
	size_t cap, n;            /* cap: a power of two, or 0 */
	char *arena;              /* the keys, back to back */
	size_t arena_len, arena_cap;
};

/* The journal of the commit being written (journal.c). */
struct pdb__journal {
	uint64_t serial;          /* the serial this commit will have */
	bool off;                 /* journal-max was 0: nothing recorded */
	bool everything;          /* over the bound: a marker, no items */
	bool cleared;             /* pdb_w_clear ran: the end compares */
	MDB_txn *before;          /* after a clear: the snapshot before it */
	uint32_t next;            /* number of the next item (0: the header) */
	size_t bytes;             /* of the items recorded */
	struct pdb__seen seen;
	uint8_t buf[PDB__CHANGE_MAX];
};

/* The time events of one commit (events.c). */
struct pdb__events {
	bool on;                  /* pdb__events_begin ran */
	uint32_t grace;           /* removed-grace, in seconds */
	uint64_t offset;          /* this commit's: the last one's + events since */
	uint64_t served;          /* the served serial it makes: serial + offset */
};

struct pdb_wtxn {
	struct pdb_txn t;
	int64_t now;              /* the commit's time: audit and removals */
	size_t change_len;
	char change[PDB__AUDIT_TEXT_MAX + 1];
	struct pdb__journal j;
	struct pdb__events ev;
};

/* Called by write.c (events.c).  Before the body, prev the serial of the
 * last commit (0: none): counts the events passed since it, and builds
 * the index of a store made before it. */
int pdb__events_begin(pdb_wtxn *w, uint64_t prev, uint64_t serial);
/* The time of a member record's event (its not-after while active), 0 for
 * none or a record that does not decode. */
int64_t pdb__member_event(const void *rec, size_t len);
/* A member's event moves from before to after (0: none). */
int pdb__events_member(pdb_wtxn *w, const char *name, int64_t before, int64_t after);
/* A removal's time changes from before to after (INT64_MIN: none). */
int pdb__events_removed(pdb_wtxn *w, const char *name, int64_t before, int64_t after);
/* After the body: the epoch of serial, and the pruning of what the
 * journal's max serials no longer reach. */
int pdb__events_commit(pdb_wtxn *w, uint64_t serial, uint32_t max);
/* The served serial the snapshot's commit made, and its time:
 * PDB_ENOTFOUND for a commit made before the index. */
int pdb__epoch_current(pdb_txn *t, uint64_t *base, int64_t *at);

/* Stamps (stamps.c): name's answers change in this commit, or at served
 * serial served (a time event); every member's may; name leaves for good. */
int pdb__stamp(pdb_wtxn *w, const char *name, size_t len);
int pdb__stamp_at(pdb_wtxn *w, const char *name, size_t len, uint64_t served);
int pdb__stamp_all(pdb_wtxn *w);
int pdb__stamp_forget(pdb_wtxn *w, const char *name, size_t len);
/* name's stamp (len 0: the store-wide one): 0, PDB_ENOTFOUND, PDB_ECORRUPT. */
int pdb__stamp_get(pdb_txn *t, const char *name, size_t len, uint64_t *stamp);

/* The journal lives in meta under this prefix, then the serial (u64) and
 * the item's number (u32), both big-endian: the oldest sort first, so
 * pruning deletes from the front.  Number 0 is the commit's header. */
#define PDB__JOURNAL_PREFIX "journal/"
#define PDB__JOURNAL_PREFIX_LEN (sizeof(PDB__JOURNAL_PREFIX) - 1)
#define PDB__JOURNAL_KEY_LEN (PDB__JOURNAL_PREFIX_LEN + 12)
/* The meta key of the journal-max setting (u32). */
#define PDB__JOURNAL_MAX_KEY "journal-max"

/* Called by write.c around and inside a commit (journal.c). */
int pdb__journal_begin(pdb_wtxn *w, uint64_t serial);
/* Before name's record changes to after (NULL: removed).  append: after
 * the record was put with MDB_APPEND, which proved it was not stored
 * before; nothing is looked up. */
int pdb__journal_member(pdb_wtxn *w, const char *name, const MDB_val *after, bool append);
/* Before the override of key (as pdb__override_key) changes to after
 * (NULL: removed). */
int pdb__journal_override(pdb_wtxn *w, const MDB_val *key, const MDB_val *after);
/* Before the community record changes to after (NULL: removed). */
int pdb__journal_community(pdb_wtxn *w, const MDB_val *after);
/* Before pdb_w_clear drops everything. */
int pdb__journal_clear(pdb_wtxn *w);
/* After the body: the differences of a clear, the header, the pruning. */
int pdb__journal_commit(pdb_wtxn *w);
/* After the commit or abort: ends the snapshot a clear took. */
void pdb__journal_end(pdb_wtxn *w);
/* Frees the set's memory. */
void pdb__journal_free(pdb_wtxn *w);
/* The journal key of (serial, item) into buf. */
void pdb__journal_key(uint8_t buf[PDB__JOURNAL_KEY_LEN], uint64_t serial, uint32_t item);

/* Removed members live in meta under this prefix and the name, each with
 * the Unix time of its removal as a big-endian u64: no new database, so
 * stores made before them open as they are, read-only handles included. */
#define PDB__REMOVED_PREFIX "removed/"
#define PDB__REMOVED_PREFIX_LEN (sizeof(PDB__REMOVED_PREFIX) - 1)
/* The meta key holding when the next prune of removals is due (u64 Unix
 * time), so that a commit does not scan them all when none can have
 * expired (write.c). */
#define PDB__REMOVED_DUE_KEY "removed-prune-due"

/* The meta key of name's removal, into buf.  -EINVAL for an empty or too
 * long name. */
int pdb__removed_key(const char *name, char buf[PDB__REMOVED_PREFIX_LEN + PDB_NAME_MAX + 1],
                     MDB_val *k);
/* Keep name's removal at time when (write.c).  For tests that need an old
 * removal; the writer itself stamps the commit's time. */
int pdb__w_put_removed(pdb_wtxn *w, const char *name, int64_t when);

/* Adopt a map size another process has set (after MDB_MAP_RESIZED).  The
 * calling thread must have no active transaction. */
void pdb__adopt_map_size(pdb_t *db);

/* Translate an LMDB result into a pdb error. */
int pdb__lmdb_err(int rc);
/* The same for the result of a commit: -ENOSPC for a full device, which
 * LMDB itself reports as EIO. */
int pdb__commit_err(pdb_t *db, int rc);
/* The override key of {a, b}: the smaller name, a NUL, the larger.
 * -EINVAL for an empty, too long or identical pair. */
int pdb__override_key(const char *a, const char *b, char buf[2 * PDB_NAME_MAX + 2], MDB_val *k);

static inline MDB_val pdb__val(const void *p, size_t n)
{
	return (MDB_val){ .mv_size = n, .mv_data = (void *)p };
}

static inline MDB_val pdb__key(const char *s) { return pdb__val(s, strlen(s)); }

/* A store setting of the meta database kept as a big-endian 32-bit
 * number under key: *out receives it, or dflt if it was never set.
 * Returns 0, PDB_ECORRUPT (not 4 bytes), PDB_ELMDB. */
int pdb__meta_u32(MDB_txn *txn, MDB_dbi meta, const char *key, uint32_t dflt, uint32_t *out);

static inline void pdb__put_be64(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void pdb__put_be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

static inline uint32_t pdb__get_be32(const uint8_t b[4])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t pdb__get_be64(const uint8_t b[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* A meta key under the journal's prefix: 1 with its serial and item
 * number, 0 for a key that is not the journal's, PDB_ECORRUPT for one
 * under the prefix of another length.  Inline: the reader (journal.c) and
 * pdb_verify (store.c) both need it, and neither file calls the other. */
static inline int pdb__journal_key_split(const MDB_val *k, uint64_t *serial, uint32_t *item)
{
	const uint8_t *p = k->mv_data;

	if (k->mv_size < PDB__JOURNAL_PREFIX_LEN ||
	    memcmp(p, PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN) != 0)
		return 0;
	if (k->mv_size != PDB__JOURNAL_KEY_LEN)
		return PDB_ECORRUPT;
	*serial = pdb__get_be64(p + PDB__JOURNAL_PREFIX_LEN);
	*item = pdb__get_be32(p + PDB__JOURNAL_PREFIX_LEN + 8);
	return 1;
}

/* The checks pdb_open() makes before opening (store.c), which
 * pdb_check_access() makes for a process that already has the store open:
 * the directory (and data.mdb unless PDB_CREATE), and lock.mdb. */
int pdb__open_check_dir(const char *dir, unsigned flags);
int pdb__open_check_lock(const char *dir);

#endif
