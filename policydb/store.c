/* The store: one LMDB environment with four named databases.
 *   meta      "format" -> u32, "serial" -> u64, "community" -> record,
 *             "removed/" name -> u64 time, "removed-prune-due" -> u64,
 *             "journal/" serial (u64 BE) item (u32 BE) -> journal record
 *             (item 0: the commit's header), "journal-max" -> u32
 *             (journal.c says why these live in meta)
 *   member    name -> member record
 *   override  "a\0b" (a < b) -> 1 byte
 *   audit     serial (u64, big-endian) -> audit record
 * LMDB gives one writer, many readers, and atomic commits; this file adds
 * the format check, the serial, the audit entry of every commit, and the
 * growth of the map when it fills up. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define DEFAULT_MAP_MAX  ((size_t)64 << 30)


/* Translate an LMDB result at the call site, as every caller needs it. */
int pdb__lmdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:        return 0;
	case MDB_NOTFOUND:       return PDB_ENOTFOUND;
	case MDB_MAP_FULL:       return PDB_EMAPFULL;
	case MDB_READERS_FULL:   return PDB_EREADERS;
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
	case MDB_VERSION_MISMATCH: return PDB_ENOTSTORE;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:  return PDB_ECORRUPT;
	}
	if (rc > 0)
		return -rc;   /* LMDB passes errno values through */
	if (rc > -4096)
		return rc;    /* already a negative errno: -EAGAIN from a retry loop */
	return PDB_ELMDB;
}

/* LMDB reports a short write, which is what a full device gives, as EIO:
 * when the store's file system has no room left, say so instead. */
int pdb__commit_err(pdb_t *db, int rc)
{
	struct statvfs vfs;
	int fd;

	rc = pdb__lmdb_err(rc);
	if (rc != -EIO || mdb_env_get_fd(db->env, &fd) != 0 || fstatvfs(fd, &vfs) != 0)
		return rc;
	/* bavail for an ordinary user, bfree for root, who may use the
	 * reserve: a short write leaves the one that applied at about zero. */
	if (vfs.f_bavail < 16 || vfs.f_bfree < 16)
		return -ENOSPC;
	return rc;
}

/* ---- opening ---- */

int pdb__open_check_dir(const char *dir, unsigned flags)
{
	struct stat st;
	char path[4096];

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || !(flags & PDB_CREATE))
			return -errno;
		if (mkdir(dir, 0750) != 0)
			return -errno;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (access(dir, (flags & PDB_RDONLY) ? R_OK | X_OK : R_OK | W_OK | X_OK) != 0)
		return -errno;
	if (flags & PDB_CREATE)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? PDB_ENOTSTORE : -errno;
	if (!S_ISREG(st.st_mode))
		return PDB_ENOTSTORE;
	return 0;
}

/* LMDB opened MDB_RDONLY on a read-only file system goes on without its
 * lock file, and so without the reader table that keeps a writer from
 * reusing pages a reader still uses: readers then crash under commits.
 * So every opener needs lock.mdb writable, or a directory to make it in.
 * faccessat, not open: closing a descriptor of lock.mdb would drop the
 * locks LMDB holds on it, should this process have the store open. */
int pdb__open_check_lock(const char *dir)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/lock.mdb", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) == 0)
		return 0;
	if (errno == ENOENT && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	return errno == EROFS || errno == EACCES || errno == EPERM || errno == ENOENT
	       ? PDB_ELOCKFILE : -errno;
}

static int open_dbis(pdb_t *db, bool create)
{
	MDB_txn *txn;
	unsigned f = create ? MDB_CREATE : 0;
	int rc = mdb_txn_begin(db->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return pdb__lmdb_err(rc);
	if ((rc = mdb_dbi_open(txn, "meta", f, &db->meta)) ||
	    (rc = mdb_dbi_open(txn, "member", f, &db->member)) ||
	    (rc = mdb_dbi_open(txn, "override", f, &db->override)) ||
	    (rc = mdb_dbi_open(txn, "audit", f, &db->audit))) {
		mdb_txn_abort(txn);
		/* A named database that is missing, or a main-database key that
		 * is not one: this environment belongs to something else. */
		return rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE ? PDB_ENOTSTORE : pdb__lmdb_err(rc);
	}
	/* Check the format in the same snapshot that opened the handles. */
	MDB_val k = pdb__key("format"), v;
	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc == 0) {
		uint32_t fmt;
		if (v.mv_size != 4) {
			rc = PDB_ENOTSTORE;
		} else {
			const uint8_t *b = v.mv_data;
			fmt = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
			rc = fmt > PDB_FORMAT_VERSION ? PDB_ENEWER : fmt == 0 ? PDB_ENOTSTORE : 0;
		}
	} else if (rc == MDB_NOTFOUND) {
		rc = create ? 0 : PDB_ENOTSTORE;
	} else {
		rc = pdb__lmdb_err(rc);
	}
	/* Commit even a read-only transaction: an aborted one would close
	 * the handles it opened. */
	if (rc == 0)
		rc = pdb__lmdb_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	return rc;
}

int pdb_open(const char *dir, unsigned flags, const struct pdb_limits *lim, pdb_t **out)
{
	pdb_t *db;
	size_t map_size = lim && lim->map_size ? lim->map_size : DEFAULT_MAP_SIZE;
	size_t map_max = lim && lim->map_max ? lim->map_max : DEFAULT_MAP_MAX;
	int rc;

	if (!dir || !out || (flags & ~(PDB_RDONLY | PDB_CREATE)) ||
	    ((flags & PDB_RDONLY) && (flags & PDB_CREATE)))
		return -EINVAL;
	*out = NULL;
	if ((rc = pdb__open_check_dir(dir, flags)) != 0 || (rc = pdb__open_check_lock(dir)) != 0)
		return rc;
	if (!(db = calloc(1, sizeof(*db))))
		return -ENOMEM;
	db->rdonly = flags & PDB_RDONLY;
	db->map_max = map_max < map_size ? map_size : map_max;
	pthread_rwlock_init(&db->maplock, NULL);
	if ((rc = mdb_env_create(&db->env)) != 0) {
		free(db);
		return pdb__lmdb_err(rc);
	}
	mdb_env_set_maxdbs(db->env, 8);
	/* Every snapshot holds two reader slots (see read_settle). */
	mdb_env_set_maxreaders(db->env, PDB_MAX_SNAPSHOTS * 2);
	mdb_env_set_mapsize(db->env, map_size);
	/* NOTLS: a read transaction belongs to its object, not to a thread, so
	 * a daemon can keep one per worker and reset/renew it per query. */
	rc = mdb_env_open(db->env, dir, MDB_NOTLS | (db->rdonly ? MDB_RDONLY : 0), 0640);
	/* Slots left by killed processes are freed at every open, not only
	 * when the table is full: a daemon restarted after a crash would
	 * otherwise leave the next opener one restart closer to the limit. */
	if (rc == 0)
		rc = mdb_reader_check(db->env, NULL);
	if (rc == 0)
		rc = open_dbis(db, flags & PDB_CREATE);
	else
		rc = pdb__lmdb_err(rc);
	if (rc != 0) {
		pdb_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

int pdb_reader_check(pdb_t *db, int *dead)
{
	int n = 0, rc;

	if (!db)
		return -EINVAL;
	rc = mdb_reader_check(db->env, &n);
	if (dead)
		*dead = rc == 0 ? n : 0;
	return pdb__lmdb_err(rc);
}

void pdb_close(pdb_t *db)
{
	if (!db)
		return;
	mdb_env_close(db->env);
	pthread_rwlock_destroy(&db->maplock);
	explicit_bzero(db->audit_key, sizeof(db->audit_key));   /* the key does not outlive the handle */
	free(db);
}

/* ---- reading ---- */

/* Make sure a fresh snapshot is the one it claims to be.
 *
 * LMDB 0.9 takes the newest published transaction id, then copies that
 * commit's meta page.  A reader delayed between the two for a whole commit
 * can find the page already being rewritten by the commit after next (the
 * writer alternates between two meta pages), so it copies a torn or a
 * too-new root, and its next snapshot goes back by one commit.  Readers in
 * other processes made this visible in our tests.
 *
 * The writer starts a commit only after publishing the one before, so if
 * the newest published id is still ours once the copy is done, no commit
 * after next had begun during it.  The published id is what a new read
 * transaction takes, so a second, probe transaction reads it.  (The meta
 * pages themselves are no guide: the writer writes one before publishing
 * it.)  Returns 0, -EAGAIN when writers outpace every try, or an LMDB
 * code for the caller to translate. */
#define SETTLE_TRIES 1000

static int read_settle(pdb_txn *t)
{
	for (int i = 0; i < SETTLE_TRIES; i++) {
		int rc = t->probe ? mdb_txn_renew(t->probe)
		                  : mdb_txn_begin(t->db->env, NULL, MDB_RDONLY, &t->probe);
		if (rc != 0)
			return rc;
		size_t published = mdb_txn_id(t->probe);
		mdb_txn_reset(t->probe);
		if (published == mdb_txn_id(t->txn))
			return 0;
		mdb_txn_reset(t->txn);
		if ((rc = mdb_txn_renew(t->txn)) != 0)
			return rc;
	}
	return -EAGAIN;
}

static void read_abort(pdb_txn *t)
{
	if (t->txn)
		mdb_txn_abort(t->txn);
	if (t->probe)
		mdb_txn_abort(t->probe);
	t->txn = t->probe = NULL;
}

void pdb__adopt_map_size(pdb_t *db)
{
	pthread_rwlock_wrlock(&db->maplock);
	mdb_env_set_mapsize(db->env, 0);
	pthread_rwlock_unlock(&db->maplock);
}

/* Begin a read snapshot, adopting a map another process has grown, and
 * freeing the slots of dead processes when the reader table is full.  On
 * success the snapshot is active and holds maplock shared. */
static int read_begin(pdb_txn *t)
{
	pdb_t *db = t->db;
	bool resized = false, checked = false;

	for (;;) {
		pthread_rwlock_rdlock(&db->maplock);
		int rc = t->txn ? mdb_txn_renew(t->txn) : mdb_txn_begin(db->env, NULL, MDB_RDONLY, &t->txn);
		if (rc == 0)
			rc = read_settle(t);
		if (rc == 0) {
			t->active = true;
			return 0;
		}
		read_abort(t);
		pthread_rwlock_unlock(&db->maplock);
		if (rc == MDB_MAP_RESIZED && !resized) {
			resized = true;
			pdb__adopt_map_size(db);
		} else if (rc == MDB_READERS_FULL && !checked) {
			int dead = 0;
			checked = true;
			if (mdb_reader_check(db->env, &dead) != 0 || dead == 0)
				return PDB_EREADERS;
		} else {
			return pdb__lmdb_err(rc);
		}
	}
}

int pdb_read_begin(pdb_t *db, pdb_txn **out)
{
	pdb_txn *t;
	int rc;

	if (!db || !out)
		return -EINVAL;
	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	t->db = db;
	if ((rc = read_begin(t)) != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void pdb_read_end(pdb_txn *t)
{
	if (!t)
		return;
	read_abort(t);
	if (t->active)
		pthread_rwlock_unlock(&t->db->maplock);
	free(t);
}

void pdb_read_reset(pdb_txn *t)
{
	if (!t || !t->active)
		return;
	mdb_txn_reset(t->txn);
	t->active = false;
	pthread_rwlock_unlock(&t->db->maplock);
}

int pdb_read_renew(pdb_txn *t)
{
	if (!t || t->active)
		return -EINVAL;
	/* A failed renew left no transaction: read_begin makes a new one. */
	return read_begin(t);
}

int pdb__meta_u32(MDB_txn *txn, MDB_dbi meta, const char *key, uint32_t dflt, uint32_t *out)
{
	MDB_val k = pdb__key(key), v;
	int rc = mdb_get(txn, meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return pdb__lmdb_err(rc);
	if (v.mv_size != 4)
		return PDB_ECORRUPT;
	*out = pdb__get_be32(v.mv_data);
	return 0;
}

uint64_t pdb_version(pdb_t *db)
{
	MDB_envinfo info;

	/* The newer of the two meta pages: a commit is seen here as soon as
	 * its meta page is written, possibly before a new snapshot would show
	 * it, which makes a caller look again, never miss a change. */
	if (!db || mdb_env_info(db->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

uint64_t pdb_snapshot_version(pdb_txn *t)
{
	return t && t->txn ? (uint64_t)mdb_txn_id(t->txn) : 0;
}

static int get_meta(pdb_txn *t, const char *key, MDB_val *v)
{
	MDB_val k = pdb__key(key);
	return pdb__lmdb_err(mdb_get(t->txn, t->db->meta, &k, v));
}

int pdb_serial(pdb_txn *t, uint64_t *serial)
{
	MDB_val v;
	int rc;

	if (!t || !serial)
		return -EINVAL;
	if ((rc = get_meta(t, "serial", &v)) != 0)
		return rc == PDB_ENOTFOUND ? PDB_ENOTSTORE : rc;
	if (v.mv_size != 8)
		return PDB_ECORRUPT;
	*serial = pdb__get_be64(v.mv_data);
	return 0;
}

int pdb_get_member(pdb_txn *t, const char *name, struct pdb_member *m)
{
	MDB_val k, v;
	int rc;

	if (!t || !name || !m)
		return -EINVAL;
	k = pdb__key(name);
	if (k.mv_size == 0 || k.mv_size > PDB_NAME_MAX)
		return PDB_ENOTFOUND;
	if ((rc = pdb__lmdb_err(mdb_get(t->txn, t->db->member, &k, &v))) != 0)
		return rc;
	return pdb_member_decode(v.mv_data, v.mv_size, m);
}

int pdb_get_community(pdb_txn *t, struct pdb_community *c)
{
	MDB_val v;
	int rc;

	if (!t || !c)
		return -EINVAL;
	if ((rc = get_meta(t, "community", &v)) != 0)
		return rc;
	return pdb_community_decode(v.mv_data, v.mv_size, c);
}

int pdb__override_key(const char *a, const char *b, char buf[2 * PDB_NAME_MAX + 2], MDB_val *k)
{
	size_t la = strlen(a), lb = strlen(b);
	int cmp = strcmp(a, b);

	if (la == 0 || lb == 0 || la > PDB_NAME_MAX || lb > PDB_NAME_MAX || cmp == 0)
		return -EINVAL;
	if (cmp > 0) {
		const char *t = a;
		size_t tl = la;
		a = b, la = lb;
		b = t, lb = tl;
	}
	memcpy(buf, a, la);
	buf[la] = '\0';
	memcpy(buf + la + 1, b, lb);
	*k = pdb__val(buf, la + 1 + lb);
	return 0;
}

int pdb_get_override(pdb_txn *t, const char *a, const char *b, enum pdb_override *ov)
{
	char buf[2 * PDB_NAME_MAX + 2];
	MDB_val k, v;
	int rc;

	if (!t || !a || !b || !ov)
		return -EINVAL;
	*ov = PDB_OVERRIDE_NONE;
	if (pdb__override_key(a, b, buf, &k) != 0)
		return 0;
	rc = pdb__lmdb_err(mdb_get(t->txn, t->db->override, &k, &v));
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != 1 || (*(uint8_t *)v.mv_data != PDB_OVERRIDE_ALLOW &&
	                       *(uint8_t *)v.mv_data != PDB_OVERRIDE_DENY))
		return PDB_ECORRUPT;
	*ov = *(uint8_t *)v.mv_data;
	return 0;
}

int pdb_member_count(pdb_txn *t, size_t *n)
{
	MDB_stat st;
	int rc;

	if (!t || !n)
		return -EINVAL;
	if ((rc = pdb__lmdb_err(mdb_stat(t->txn, t->db->member, &st))) != 0)
		return rc;
	*n = st.ms_entries;
	return 0;
}

int pdb_decide(pdb_txn *t, const char *a, const char *b, int64_t now, struct pdb_decision *out)
{
	struct pdb_community c;
	struct pdb_member ma, mb;
	enum pdb_override ov;
	int rc, ra, rb;

	if (!t || !a || !b || !out)
		return -EINVAL;
	rc = pdb_get_community(t, &c);
	if (rc == PDB_ENOTFOUND)
		pdb_community_init(&c);
	else if (rc)
		return rc;
	ra = pdb_get_member(t, a, &ma);
	rb = pdb_get_member(t, b, &mb);
	if ((ra && ra != PDB_ENOTFOUND) || (rb && rb != PDB_ENOTFOUND))
		return ra && ra != PDB_ENOTFOUND ? ra : rb;
	if ((rc = pdb_get_override(t, a, b, &ov)) != 0)
		return rc;
	pdb_decide_records(&c, a, ra ? NULL : &ma, b, rb ? NULL : &mb, ov, now, out);
	return 0;
}

/* ---- walking ---- */

static int walk(pdb_txn *t, MDB_dbi dbi, MDB_cursor_op first, MDB_cursor_op next,
                size_t skip_back, int (*each)(void *ctx, MDB_val *k, MDB_val *v), void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0)
		return pdb__lmdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, first);
	/* For "the newest N": step back N-1 from the last, then walk forward. */
	for (size_t i = 1; rc == 0 && i < skip_back; i++) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
		if (rc == MDB_NOTFOUND) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
			break;
		}
	}
	while (rc == 0) {
		int r = each(ctx, &k, &v);
		if (r != 0) {
			mdb_cursor_close(cur);
			return r;
		}
		rc = mdb_cursor_get(cur, &k, &v, next);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

struct member_walk {
	pdb_member_fn fn;
	void *arg;
	struct pdb_member m;
};

static int member_each(void *ctx, MDB_val *k, MDB_val *v)
{
	struct member_walk *w = ctx;
	char name[PDB_NAME_MAX + 1];
	int rc;

	if (k->mv_size == 0 || k->mv_size > PDB_NAME_MAX)
		return PDB_ECORRUPT;
	memcpy(name, k->mv_data, k->mv_size);
	name[k->mv_size] = '\0';
	if ((rc = pdb_member_decode(v->mv_data, v->mv_size, &w->m)) != 0)
		return rc;
	return w->fn(w->arg, name, &w->m);
}

int pdb_walk_members(pdb_txn *t, pdb_member_fn fn, void *arg)
{
	struct member_walk *w;
	int rc;

	if (!t || !fn)
		return -EINVAL;
	if (!(w = malloc(sizeof(*w))))
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	rc = walk(t, t->db->member, MDB_FIRST, MDB_NEXT, 0, member_each, w);
	free(w);
	return rc;
}

struct record_walk {
	pdb_record_fn fn;
	void *arg;
};

static int record_each(void *ctx, MDB_val *k, MDB_val *v)
{
	struct record_walk *w = ctx;
	char name[PDB_NAME_MAX + 1];

	if (k->mv_size == 0 || k->mv_size > PDB_NAME_MAX)
		return PDB_ECORRUPT;
	memcpy(name, k->mv_data, k->mv_size);
	name[k->mv_size] = '\0';
	return w->fn(w->arg, name, v->mv_data, v->mv_size);
}

int pdb_walk_member_records(pdb_txn *t, pdb_record_fn fn, void *arg)
{
	return pdb_walk_member_records_after(t, NULL, fn, arg);
}

int pdb_walk_member_records_after(pdb_txn *t, const char *after, pdb_record_fn fn, void *arg)
{
	struct record_walk w = { fn, arg };
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (!t || !fn)
		return -EINVAL;
	if (!after || !*after)
		return walk(t, t->db->member, MDB_FIRST, MDB_NEXT, 0, record_each, &w);
	/* Seek to the first name at or after it, and step over it if it is
	 * there: a long walk in slices costs what it reads, not what it skips. */
	if ((rc = mdb_cursor_open(t->txn, t->db->member, &cur)) != 0)
		return pdb__lmdb_err(rc);
	k = pdb__key(after);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == strlen(after) && memcmp(k.mv_data, after, k.mv_size) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	while (rc == 0) {
		int r = record_each(&w, &k, &v);
		if (r != 0) {
			mdb_cursor_close(cur);
			return r;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : pdb__lmdb_err(rc);
}

struct override_walk {
	pdb_override_fn fn;
	void *arg;
};

/* Split a stored override into its two names (NUL-terminated in buf) and
 * its value.  Returns 0 or PDB_ECORRUPT. */
static int override_split(const MDB_val *k, const MDB_val *v, char buf[2 * PDB_NAME_MAX + 2],
                           const char **b, enum pdb_override *ov)
{
	const char *nul;
	uint8_t o;

	if (k->mv_size < 3 || k->mv_size >= 2 * PDB_NAME_MAX + 2 || v->mv_size != 1)
		return PDB_ECORRUPT;
	memcpy(buf, k->mv_data, k->mv_size);
	buf[k->mv_size] = '\0';
	nul = memchr(buf, '\0', k->mv_size);
	o = *(uint8_t *)v->mv_data;
	if (!nul || nul == buf || nul + 1 == buf + k->mv_size ||
	    (o != PDB_OVERRIDE_ALLOW && o != PDB_OVERRIDE_DENY))
		return PDB_ECORRUPT;
	*b = nul + 1;
	*ov = (enum pdb_override)o;
	return 0;
}

static int override_each(void *ctx, MDB_val *k, MDB_val *v)
{
	struct override_walk *w = ctx;
	char buf[2 * PDB_NAME_MAX + 2];
	const char *b;
	enum pdb_override ov;

	if (override_split(k, v, buf, &b, &ov) != 0)
		return PDB_ECORRUPT;
	return w->fn(w->arg, buf, b, ov);
}

int pdb_walk_overrides(pdb_txn *t, pdb_override_fn fn, void *arg)
{
	struct override_walk w = { fn, arg };

	if (!t || !fn)
		return -EINVAL;
	return walk(t, t->db->override, MDB_FIRST, MDB_NEXT, 0, override_each, &w);
}

struct audit_walk {
	pdb_audit_fn fn;
	void *arg;
};

static int audit_each(void *ctx, MDB_val *k, MDB_val *v)
{
	struct audit_walk *w = ctx;
	struct pdb_audit e;
	int rc;

	if (k->mv_size != 8)
		return PDB_ECORRUPT;
	if ((rc = pdb__audit_decode(v->mv_data, v->mv_size, &e, NULL)) != 0)
		return rc;
	e.serial = pdb__get_be64(k->mv_data);
	return w->fn(w->arg, &e);
}

int pdb_walk_audit(pdb_txn *t, size_t last_n, pdb_audit_fn fn, void *arg)
{
	struct audit_walk w = { fn, arg };

	if (!t || !fn)
		return -EINVAL;
	if (last_n == 0)
		return walk(t, t->db->audit, MDB_FIRST, MDB_NEXT, 0, audit_each, &w);
	return walk(t, t->db->audit, MDB_LAST, MDB_NEXT, last_n, audit_each, &w);
}

/* ---- verifying ---- */

/* LMDB checks neither page contents nor record values: a damaged page is
 * read as it is, so a walk can fault.  The caller runs pdb_verify where a
 * fault cannot hurt (a child process); this code only tries to touch
 * every page a reader could reach and to judge everything it reads. */

struct verify {
	const struct pdb_verify_cb *cb;
	const char *db;
	size_t records, damaged, max_records;
	size_t last_pgno;
	uint64_t sum;   /* of every byte read, so that no read is optimised out */
	size_t prev_len;
	uint8_t prev[512];
	/* The journal commit being walked: its serial, the items its header
	 * counts, those seen. */
	bool jheader;
	uint64_t jserial;
	uint32_t jexpect, jhave;
};

static void verify_damage(struct verify *v, const MDB_val *k, const char *why)
{
	char key[96];
	size_t n = 0, i = 0;

	v->damaged++;
	if (!v->cb || !v->cb->damage)
		return;
	/* Keys are names mostly, but a damaged one can hold anything: at
	 * most 4 bytes per key byte, and room kept for "..." and the NUL. */
	for (; k && i < k->mv_size && n + 4 + 4 < sizeof(key); i++) {
		uint8_t c = ((const uint8_t *)k->mv_data)[i];
		n += (size_t)snprintf(key + n, sizeof(key) - n, c > 32 && c < 127 && c != '\\' ? "%c" : "\\x%02x", c);
	}
	if (k && i < k->mv_size)
		n += (size_t)snprintf(key + n, sizeof(key) - n, "...");
	key[n] = '\0';
	v->cb->damage(v->cb->arg, v->db, key, why);
}

static void verify_touch(struct verify *v, const MDB_val *x)
{
	const volatile uint8_t *p = x->mv_data;
	for (size_t i = 0; i < x->mv_size; i++)
		v->sum += p[i];
}

typedef const char *(*verify_fn)(struct verify *v, const MDB_val *k, const MDB_val *d);

/* The commit whose items were walked last holds as many as its header
 * said: NULL, or why not. */
static const char *verify_journal_count(struct verify *v)
{
	bool ok = !v->jheader || v->jhave == v->jexpect;

	v->jheader = false;
	return ok ? NULL : "a journal commit holds other items than its header counts";
}

static const char *verify_journal(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	struct pdb__commit_rec h;
	struct pdb__change_rec c;
	struct pdb_member m;
	struct pdb_community com;
	uint64_t serial;
	uint32_t item;
	const char *why;

	if (pdb__journal_key_split(k, &serial, &item) != 1)
		return "a journal key is not a serial and an item number";
	if (item == 0) {
		if ((why = verify_journal_count(v)) != NULL)
			return why;
		if (pdb__commit_decode(d->mv_data, d->mv_size, &h) != 0)
			return "a journal commit header does not decode";
		v->jheader = true;
		v->jserial = serial;
		v->jexpect = h.count;
		v->jhave = 0;
		return NULL;
	}
	if (!v->jheader || v->jserial != serial)
		return "a journal item without its commit's header";
	v->jhave++;
	if (pdb__change_decode(d->mv_data, d->mv_size, &c) != 0)
		return "a journal item does not decode";
	if (c.existed && c.kind == PDB_CHANGE_MEMBER &&
	    pdb_member_decode(c.before, c.before_len, &m) != 0)
		return "a journal item's member record does not decode";
	if (c.existed && c.kind == PDB_CHANGE_COMMUNITY &&
	    pdb_community_decode(c.before, c.before_len, &com) != 0)
		return "a journal item's community record does not decode";
	return NULL;
}

static const char *verify_meta(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	struct pdb_community c;
	const uint8_t *b = d->mv_data;

	if (k->mv_size >= PDB__JOURNAL_PREFIX_LEN &&
	    !memcmp(k->mv_data, PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN))
		return verify_journal(v, k, d);
	if (k->mv_size == 6 && !memcmp(k->mv_data, "format", 6)) {
		if (d->mv_size != 4 || b[0] || b[1] || b[2] || !b[3] || b[3] > PDB_FORMAT_VERSION)
			return "not a format version this software writes";
	} else if (k->mv_size == 6 && !memcmp(k->mv_data, "serial", 6)) {
		if (d->mv_size != 8)
			return "a serial is 8 bytes";
	} else if (k->mv_size == 9 && !memcmp(k->mv_data, "community", 9)) {
		if (pdb_community_decode(d->mv_data, d->mv_size, &c) != 0)
			return "the community record does not decode";
	} else if (k->mv_size > PDB__REMOVED_PREFIX_LEN &&
	           !memcmp(k->mv_data, PDB__REMOVED_PREFIX, PDB__REMOVED_PREFIX_LEN)) {
		size_t n = k->mv_size - PDB__REMOVED_PREFIX_LEN;
		if (n > PDB_NAME_MAX ||
		    !pdb__name_plausible((const char *)k->mv_data + PDB__REMOVED_PREFIX_LEN, n))
			return "a removal whose key is not a domain name";
		if (d->mv_size != 8)
			return "a removal's time is 8 bytes";
	} else if (k->mv_size == strlen(PDB__REMOVED_DUE_KEY) &&
	           !memcmp(k->mv_data, PDB__REMOVED_DUE_KEY, k->mv_size)) {
		if (d->mv_size != 8)
			return "the next prune's time is 8 bytes";
	} else if (k->mv_size == strlen(PDB__JOURNAL_MAX_KEY) &&
	           !memcmp(k->mv_data, PDB__JOURNAL_MAX_KEY, k->mv_size)) {
		if (d->mv_size != 4)
			return "journal-max is 4 bytes";
	}
	return NULL;
}

static const char *verify_member(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	struct pdb_member m;

	if (k->mv_size == 0 || k->mv_size > PDB_NAME_MAX || !pdb__name_plausible(k->mv_data, k->mv_size))
		return "the key is not a domain name";
	if (pdb_member_decode(d->mv_data, d->mv_size, &m) != 0)
		return "the member record does not decode";
	return NULL;
}

static const char *verify_override(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	char buf[2 * PDB_NAME_MAX + 2];
	const char *b;
	enum pdb_override ov;

	if (override_split(k, d, buf, &b, &ov) != 0 || strcmp(buf, b) >= 0 ||
	    !pdb__name_plausible(buf, strlen(buf)) || !pdb__name_plausible(b, strlen(b)))
		return "not an override of two names in order";
	return NULL;
}

static const char *verify_audit(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	struct pdb_audit e;

	if (k->mv_size != 8)
		return "an audit key is a serial of 8 bytes";
	if (pdb__audit_decode(d->mv_data, d->mv_size, &e, NULL) != 0)
		return "the audit record does not decode";
	return NULL;
}

/* The main database: one entry per named database, its 48-byte header. */
static const char *verify_main(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	return d->mv_size == 48 ? NULL : "not a database header";
}

/* The free list: a transaction id -> a count and that many page numbers,
 * each inside the file. */
static const char *verify_free(struct verify *v, const MDB_val *k, const MDB_val *d)
{
	const size_t *ids = d->mv_data;

	if (k->mv_size != sizeof(size_t) || d->mv_size < sizeof(size_t) ||
	    d->mv_size % sizeof(size_t) || ids[0] != d->mv_size / sizeof(size_t) - 1)
		return "not a list of free pages";
	for (size_t i = 1; i <= ids[0]; i++)
		if (ids[i] < 2 || ids[i] > v->last_pgno)
			return "a free page number outside the file";
	return NULL;
}

/* Keys in the order LMDB keeps them: byte-wise, a prefix first.  A key
 * that breaks it was damaged, or its page was. */
static bool verify_in_order(struct verify *v, const MDB_val *k, bool integer_keys)
{
	bool ok = true;
	size_t n = k->mv_size < sizeof(v->prev) ? k->mv_size : sizeof(v->prev);

	if (v->records > 1) {
		if (integer_keys && k->mv_size == sizeof(size_t) && v->prev_len == sizeof(size_t)) {
			size_t a, b;
			memcpy(&a, v->prev, sizeof(a));
			memcpy(&b, k->mv_data, sizeof(b));
			ok = a < b;
		} else if (!integer_keys) {
			size_t m = n < v->prev_len ? n : v->prev_len;
			int c = memcmp(v->prev, k->mv_data, m);
			ok = c < 0 || (c == 0 && v->prev_len < n);
		}
	}
	memcpy(v->prev, k->mv_data, n);
	v->prev_len = n;
	return ok;
}

static int verify_db(pdb_txn *t, struct verify *v, const char *name, MDB_dbi dbi, verify_fn check)
{
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, d;
	size_t before = v->records;
	int rc;

	v->db = name;
	v->prev_len = 0;
	if (v->cb && v->cb->at)
		v->cb->at(v->cb->arg, name);
	/* LMDB's own words for what it found wrong with a page. */
	if ((rc = mdb_stat(t->txn, dbi, &st)) != 0 || (rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0) {
		verify_damage(v, NULL, mdb_strerror(rc));
		return rc == ENOMEM ? -ENOMEM : 0;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		const char *why;
		if (++v->records > v->max_records) {
			verify_damage(v, NULL, "more records than the file can hold: the tree has a loop");
			break;
		}
		verify_touch(v, &k);
		verify_touch(v, &d);
		if ((why = check(v, &k, &d)) != NULL)
			verify_damage(v, &k, why);
		else if (!verify_in_order(v, &k, dbi == 0))
			verify_damage(v, &k, "out of order: a key or its page is damaged");
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		verify_damage(v, NULL, mdb_strerror(rc));
	else if (rc == MDB_NOTFOUND && v->records - before != st.ms_entries)
		verify_damage(v, NULL, "its header counts other records than it holds");
	return 0;
}

int pdb_verify(pdb_t *db, const struct pdb_verify_cb *cb, size_t *records)
{
	const struct { const char *name; verify_fn check; } dbs[] = {
		{ "free list", verify_free }, { "main", verify_main }, { "meta", verify_meta },
		{ "member", verify_member }, { "override", verify_override },
		{ "audit", verify_audit },
	};
	MDB_envinfo info;
	MDB_stat est;
	struct verify *v;
	int rc = 0;

	if (!db)
		return -EINVAL;
	if (!(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	v->cb = cb;
	mdb_env_stat(db->env, &est);
	/* A snapshot per database: LMDB fails a transaction for good at the
	 * first damaged page, and the other databases are worth walking. */
	for (size_t i = 0; rc == 0 && i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		MDB_dbi dbi[] = { 0, 0, db->meta, db->member, db->override, db->audit };
		pdb_txn *t;
		if ((rc = pdb_read_begin(db, &t)) != 0)
			break;
		/* The file's size as of the newest commit, read after the
		 * snapshot began, so never smaller than the snapshot's. */
		mdb_env_info(db->env, &info);
		v->last_pgno = info.me_last_pgno;
		/* Every record takes a node header and a byte of key at least. */
		v->max_records = v->records + (info.me_last_pgno + 1) * est.ms_psize / 9;
		if (i == 1 && (rc = pdb__lmdb_err(mdb_dbi_open(t->txn, NULL, 0, &dbi[1]))) != 0) {
			pdb_read_end(t);
			break;
		}
		rc = verify_db(t, v, dbs[i].name, dbi[i], dbs[i].check);
		/* The last journal commit is counted after the walk. */
		if (rc == 0 && dbs[i].check == verify_meta && verify_journal_count(v) != NULL)
			verify_damage(v, NULL, "the last journal commit holds other items than its header counts");
		pdb_read_end(t);
	}
	if (records)
		*records = v->records;
	if (rc == 0 && v->damaged)
		rc = PDB_ECORRUPT;
	free(v);
	return rc;
}

/* ---- backing up ---- */

int pdb_backup(pdb_t *db, const char *path)
{
	char tmp[4096];
	int fd, rc;

	if (!db || !path || !*path)
		return -EINVAL;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (access(path, F_OK) == 0)
		return -EEXIST;
	/* Written aside and linked into place: a backup cut short by a
	 * crash or a full disk never takes the name, and link() will not
	 * replace a file made meanwhile. */
	if ((fd = mkstemp(tmp)) < 0)
		return -errno;
	rc = pdb__lmdb_err(mdb_env_copyfd2(db->env, fd, MDB_CP_COMPACT));
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && link(tmp, path) != 0)
		rc = -errno;
	unlink(tmp);
	return rc;
}
