/* The audit log's key and its check: audit-key, history --verify, and the
 * key every writing command needs once the log is keyed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "policyctl.h"

#define KEY_ENV "CLEARINGHOUSE_AUDIT_KEY"

/* --audit-key, $CLEARINGHOUSE_AUDIT_KEY, or beside the store directory:
 * outside it, so that whoever can replace the store's files need not be
 * able to read the key. */
static int key_path(const struct ctl *c, char *buf, size_t len)
{
	const char *env = getenv(KEY_ENV);
	size_t n;

	if (c->audit_key && *c->audit_key)
		return snprintf(buf, len, "%s", c->audit_key) < (int)len ? 0 : -ENAMETOOLONG;
	if (env && *env)
		return snprintf(buf, len, "%s", env) < (int)len ? 0 : -ENAMETOOLONG;
	n = strlen(c->dir);
	while (n > 1 && c->dir[n - 1] == '/')
		n--;
	return snprintf(buf, len, "%.*s.audit-key", (int)n, c->dir) < (int)len ? 0 : -ENAMETOOLONG;
}

static const char *key_error(int rc)
{
	switch (rc) {
	case -EPERM:  return "others may read it: it must be readable by its owner and group only "
	                     "(chmod 640)";
	case -EINVAL: return "not an audit key file (64 hex digits)";
	default:      return strerror(-rc);
	}
}

/* The key, if its file is there: 1 with the key, 0 without a file,
 * CTL_STORE (said) for a file that cannot be used. */
static int key_load(const struct ctl *c, char *path, size_t len, uint8_t key[PDB_AUDIT_KEY_LEN])
{
	int rc = key_path(c, path, len);

	if (rc == 0)
		rc = pdb_audit_key_read(path, key);
	if (rc == 0)
		return 1;
	if (rc == -ENOENT)
		return 0;
	ctl_err("audit key %s: %s", path, key_error(rc));
	return -CTL_STORE;
}

int ctl_audit_key_use(const struct ctl *c, pdb_t *db)
{
	uint8_t key[PDB_AUDIT_KEY_LEN];
	char path[4096];
	pdb_txn *txn;
	int have = key_load(c, path, sizeof(path), key), keyed;

	if (have < 0)
		return CTL_STORE;
	if (have) {
		pdb_audit_key_set(db, key);
		OPENSSL_cleanse(key, sizeof(key));
		return CTL_OK;
	}
	/* Without the key a keyed log refuses the commit anyway; say why
	 * before any work is done. */
	if (pdb_read_begin(db, &txn) != 0)
		return CTL_OK;
	keyed = pdb_audit_keyed(txn);
	pdb_read_end(txn);
	if (keyed == 1) {
		ctl_err("%s: the audit log is keyed, and writing needs its key %s (--audit-key FILE "
		        "or $" KEY_ENV "): %s", c->dir, path, strerror(ENOENT));
		return CTL_STORE;
	}
	return CTL_OK;
}

int ctl_audit_key_init(const struct ctl *c, pdb_t *db, bool *made, char *path, size_t len)
{
	uint8_t key[PDB_AUDIT_KEY_LEN];
	int have = key_load(c, path, len, key), rc;

	*made = false;
	if (have < 0)
		return CTL_STORE;
	if (!have) {
		if ((rc = pdb_audit_key_make(path, key)) != 0) {
			ctl_err("audit key %s: cannot make it: %s", path, strerror(-rc));
			return CTL_STORE;
		}
		*made = true;
	}
	pdb_audit_key_set(db, key);
	OPENSSL_cleanse(key, sizeof(key));
	return CTL_OK;
}

static int mark_keyed(pdb_wtxn *w, void *arg)
{
	(void)arg;
	return pdb_w_change(w, "the audit log is keyed from this entry on");
}

int cmd_audit_key(struct ctl *c, int argc, char **argv)
{
	char path[4096];
	uint64_t serial;
	pdb_txn *txn;
	pdb_t *db;
	bool made;
	int rc, keyed;

	if ((rc = ctl_nargs(argc, argv, 1, 0)) != CTL_OK)
		return rc;
	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		return rc;
	if ((rc = pdb_read_begin(db, &txn)) != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		pdb_close(db);
		return CTL_STORE;
	}
	keyed = pdb_audit_keyed(txn);
	pdb_read_end(txn);
	pdb_close(db);
	if (keyed < 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(keyed));
		return CTL_STORE;
	}
	if (keyed) {
		if (key_path(c, path, sizeof(path)) != 0)
			return CTL_USAGE;
		printf("the audit log of %s is keyed already (key: %s)\n", c->dir, path);
		return CTL_OK;
	}
	/* ctl_open for writing would ask for the key the log does not have
	 * yet: open without it, and make or read it here. */
	struct ctl bare = *c;
	bare.keyless = true;
	if ((rc = ctl_open(&bare, 0, &db)) != CTL_OK)
		return rc;
	if ((rc = ctl_audit_key_init(c, db, &made, path, sizeof(path))) != CTL_OK) {
		pdb_close(db);
		return rc;
	}
	rc = pdb_write(db, c->cmdline, mark_keyed, NULL, &serial);
	pdb_close(db);
	if (rc != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("the audit log of %s is keyed from serial %llu on with %s%s\n", c->dir,
	       (unsigned long long)serial, path, made ? " (made; mode 0640: give it to the group that "
	       "writes policy, keep it out of backups of the store)" : "");
	return CTL_OK;
}

static void verify_problem(void *arg, uint64_t serial, const char *what)
{
	(void)serial;
	ctl_err("%s: audit log: %s", (const char *)arg, what);
}

int ctl_history_verify(const struct ctl *c)
{
	uint8_t key[PDB_AUDIT_KEY_LEN];
	struct pdb_audit_check o;
	char path[4096];
	pdb_txn *txn;
	pdb_t *db;
	int have, rc;

	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		return rc;
	if ((have = key_load(c, path, sizeof(path), key)) < 0) {
		pdb_close(db);
		return CTL_STORE;
	}
	if ((rc = pdb_read_begin(db, &txn)) == 0) {
		rc = pdb_audit_verify(txn, have ? key : NULL, verify_problem, (void *)c->dir, &o);
		pdb_read_end(txn);
	}
	pdb_close(db);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == PDB_EAUDITKEY) {
		ctl_err("%s: audit key %s is not the key this log was keyed with", c->dir, path);
		return CTL_STORE;
	}
	if (rc == PDB_ETAMPERED) {
		ctl_err("%s: audit log NOT intact: see above", c->dir);
		return CTL_NO;
	}
	if (rc != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	if (o.keyed && !o.macs_checked) {
		ctl_err("%s: the audit log is keyed, and its key %s cannot be read: only the links "
		        "were checked, which a forger can make again", c->dir, path);
		return CTL_STORE;
	}
	printf("%s: audit log intact: %llu entries, %llu to %llu\n", c->dir,
	       (unsigned long long)o.entries, (unsigned long long)o.first, (unsigned long long)o.last);
	if (o.entries && !o.chain_from)
		printf("  every entry is from before the chain (written by an older version): "
		       "nothing is covered until the next commit\n");
	else if (o.entries && o.chain_from != o.first)
		printf("  entries %llu to %llu are from before the chain (written by an older "
		       "version): only the last of them is covered; the chain starts at entry %llu\n",
		       (unsigned long long)o.first, (unsigned long long)o.chain_from - 1,
		       (unsigned long long)o.chain_from);
	if (o.macs_checked)
		printf("  keyed from entry %llu on; every MAC and the head checked with %s\n",
		       (unsigned long long)o.keyed_from, path);
	else
		printf("  links checked; the log is not keyed, so a rewrite that makes the links "
		       "again would not show: key it with 'policyctl audit-key'\n");
	return CTL_OK;
}
