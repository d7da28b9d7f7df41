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
#define PDB__RECORD_VERSION 1

/* The longest audit text (command, change) kept. */
#define PDB__AUDIT_TEXT_MAX (PDB_TEXT_MAX * 4)

int pdb__audit_encode(const struct pdb_audit *e, uint8_t *buf, size_t cap, size_t *len);
int pdb__audit_decode(const void *buf, size_t len, struct pdb_audit *e);

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
};

struct pdb_txn {
	pdb_t *db;
	MDB_txn *txn;
	MDB_txn *probe;   /* read snapshots only: see read_settle() in store.c */
	bool active;      /* read snapshots only: holds maplock shared */
};

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

static inline void pdb__put_be64(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline uint64_t pdb__get_be64(const uint8_t b[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

#endif
