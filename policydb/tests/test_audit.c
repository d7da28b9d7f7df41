/* The audit log's chain: links, MACs, the head, and what the writer
 * records about itself.  Forgeries are made the way someone with write
 * access to the store's file would: bytes changed under LMDB, the record's
 * own (unkeyed) check made again. */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"
#include "internal.h"

static char dir[256];
static const uint8_t KEY[PDB_AUDIT_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t OTHER_KEY[PDB_AUDIT_KEY_LEN] = { 42 };

static int make_dir(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/pdb-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	char cmd[320];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int note(pdb_wtxn *w, void *arg)
{
	return pdb_w_change(w, "%s", (const char *)arg);
}

/* A store with init and n more commits, keyed with key (or not); *first
 * receives the init's serial. */
static pdb_t *store_with(const uint8_t *key, int n, uint64_t *first)
{
	pdb_t *db;
	pdb_txn *t;

	assert_int_equal(pdb_open(dir, PDB_CREATE, NULL, &db), 0);
	assert_int_equal(pdb_audit_key_set(db, key), 0);
	assert_int_equal(pdb_init(db, "init"), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pdb_write(db, "edit", note, "a change", NULL), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_serial(t, first), 0);
	pdb_read_end(t);
	*first -= (uint64_t)n;
	return db;
}

struct seen {
	int n;
	uint64_t serial[16];
	char what[16][320];
};

static void seen_problem(void *arg, uint64_t serial, const char *what)
{
	struct seen *s = arg;
	if (s->n < 16) {
		s->serial[s->n] = serial;
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s", what);
	}
	s->n++;
}

static int verify(pdb_t *db, const uint8_t *key, struct seen *s, struct pdb_audit_check *o)
{
	pdb_txn *t;
	int rc;

	memset(s, 0, sizeof(*s));
	assert_int_equal(pdb_read_begin(db, &t), 0);
	rc = pdb_audit_verify(t, key, seen_problem, s, o);
	pdb_read_end(t);
	return rc;
}

/* Was a problem reported about entry serial whose words include word? */
static bool reported(const struct seen *s, uint64_t serial, const char *word)
{
	for (int i = 0; i < s->n && i < 16; i++)
		if (s->serial[i] == serial && strstr(s->what[i], word))
			return true;
	return false;
}

/* ---- raw access, as mdb_dump/mdb_load give it ---- */

static size_t raw_get(pdb_t *db, MDB_dbi dbi, const void *k, size_t klen, uint8_t *buf, size_t cap)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)k }, v;

	assert_int_equal(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_get(txn, dbi, &key, &v), 0);
	assert_true(v.mv_size <= cap);
	memcpy(buf, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return v.mv_size;
}

static void raw_put(pdb_t *db, MDB_dbi dbi, const void *k, size_t klen, const void *p, size_t n)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)k }, v = { n, (void *)p };

	assert_int_equal(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, dbi, &key, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void raw_del(pdb_t *db, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)k };

	assert_int_equal(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static size_t entry_get(pdb_t *db, uint64_t serial, uint8_t *buf, size_t cap)
{
	uint8_t k[8];
	pdb__put_be64(k, serial);
	return raw_get(db, db->audit, k, 8, buf, cap);
}

static void entry_put(pdb_t *db, uint64_t serial, const uint8_t *p, size_t n)
{
	uint8_t k[8];
	pdb__put_be64(k, serial);
	raw_put(db, db->audit, k, 8, p, n);
}

static void entry_del(pdb_t *db, uint64_t serial)
{
	uint8_t k[8];
	pdb__put_be64(k, serial);
	raw_del(db, db->audit, k, 8);
}

/* Make the record's own trailer (an unkeyed FNV-1a) fit its bytes again. */
static void refit_check(uint8_t *p, size_t n)
{
	uint32_t h = pdb_fnv1a32(p, n - 7);
	p[n - 4] = (uint8_t)(h >> 24), p[n - 3] = (uint8_t)(h >> 16);
	p[n - 2] = (uint8_t)(h >> 8), p[n - 1] = (uint8_t)h;
}

/* Change the first occurrence of from into to (as long) in the entry. */
static void forge_entry(pdb_t *db, uint64_t serial, const char *from, const char *to)
{
	uint8_t buf[PDB_RECORD_MAX];
	size_t n = entry_get(db, serial, buf, sizeof(buf));
	uint8_t *at = memmem(buf, n, from, strlen(from));

	assert_non_null(at);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(at, to, strlen(to));
	refit_check(buf, n);
	entry_put(db, serial, buf, n);
}

/* ---- the tests ---- */

static void test_audit_intact_keyed_log_verifies(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);

	assert_int_equal(verify(db, KEY, &s, &o), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(o.entries, 4);
	assert_int_equal(o.first, first);
	assert_int_equal(o.last, first + 3);
	assert_int_equal(o.chain_from, first);
	assert_int_equal(o.keyed_from, first);
	assert_true(o.keyed);
	assert_true(o.macs_checked);
	pdb_close(db);
}

static void test_audit_forged_entry_with_its_check_redone_fails_its_mac(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);

	/* The unkeyed trailer is made again, so only the MAC can tell. */
	forge_entry(db, first + 1, "a change", "a chAnge");
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 1, "fails its MAC"));
	/* ... and the link of the entry after it breaks too. */
	assert_true(reported(&s, first + 2, "does not link"));
	/* Without the key the link still shows it. */
	assert_int_equal(verify(db, NULL, &s, &o), PDB_ETAMPERED);
	assert_false(o.macs_checked);
	assert_true(reported(&s, first + 2, "does not link"));
	pdb_close(db);
}

static void test_audit_forged_entry_without_its_check_redone_is_named(void **state)
{
	uint8_t buf[PDB_RECORD_MAX];
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 2, &first);
	size_t n = entry_get(db, first + 1, buf, sizeof(buf));

	buf[n / 2] ^= 1;
	entry_put(db, first + 1, buf, n);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 1, "does not decode"));
	pdb_close(db);
}

static void test_audit_dropped_entry_is_named(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);

	entry_del(db, first + 1);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 2, "missing"));
	assert_true(reported(&s, first + 2, "does not link"));
	pdb_close(db);
}

static void test_audit_swapped_entries_are_named(void **state)
{
	uint8_t a[PDB_RECORD_MAX], b[PDB_RECORD_MAX];
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);
	size_t na = entry_get(db, first + 1, a, sizeof(a));
	size_t nb = entry_get(db, first + 2, b, sizeof(b));

	entry_put(db, first + 1, b, nb);
	entry_put(db, first + 2, a, na);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 1, "fails its MAC"));
	assert_true(reported(&s, first + 2, "fails its MAC"));
	/* Links alone see it too. */
	assert_int_equal(verify(db, NULL, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 1, "does not link"));
	pdb_close(db);
}

static void test_audit_cut_tail_is_named_by_the_head(void **state)
{
	MDB_txn *txn;
	MDB_val k = pdb__key("serial");
	uint8_t sb[8];
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);

	/* The last entry goes, and the serial is put back to match. */
	entry_del(db, first + 3);
	pdb__put_be64(sb, first + 2);
	MDB_val v = { 8, sb };
	assert_int_equal(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, db->meta, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 3, "dropped"));
	pdb_close(db);
}

static void test_audit_writer_after_a_cut_tail_records_it(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 3, &first);
	uint8_t hb[256];
	size_t hn = raw_get(db, db->meta, PDB__AUDIT_HEAD_KEY, strlen(PDB__AUDIT_HEAD_KEY), hb, sizeof(hb));

	/* Cut the tail, then put back the head of before: a consistent log
	 * to the eye, until the next writer finds the head does not fit. */
	entry_del(db, first + 3);
	raw_put(db, db->meta, PDB__AUDIT_HEAD_KEY, strlen(PDB__AUDIT_HEAD_KEY), hb, hn);
	assert_int_equal(pdb_write(db, "next", note, "after the cut", NULL), 0);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 4, "head named entry"));
	pdb_close(db);
}

static void test_audit_keyed_log_refuses_a_writer_without_the_key(void **state)
{
	uint64_t first, serial;
	pdb_t *db = store_with(KEY, 1, &first);

	assert_int_equal(pdb_audit_key_set(db, NULL), 0);
	assert_int_equal(pdb_write(db, "keyless", note, "x", NULL), PDB_EAUDITKEY);
	assert_int_equal(pdb_audit_key_set(db, OTHER_KEY), 0);
	assert_int_equal(pdb_write(db, "other key", note, "x", NULL), PDB_EAUDITKEY);
	assert_int_equal(pdb_audit_key_set(db, KEY), 0);
	assert_int_equal(pdb_write(db, "the key", note, "x", &serial), 0);
	assert_int_equal(serial, first + 2);
	pdb_close(db);
}

static void test_audit_other_key_is_told_apart_from_tampering(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(KEY, 1, &first);

	assert_int_equal(verify(db, OTHER_KEY, &s, &o), PDB_EAUDITKEY);
	assert_int_equal(s.n, 0);
	pdb_close(db);
}

static void test_audit_unkeyed_log_keyed_later(void **state)
{
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	pdb_t *db = store_with(NULL, 2, &first);

	/* Links only; a key given for a log never keyed is a problem. */
	assert_int_equal(verify(db, NULL, &s, &o), 0);
	assert_false(o.keyed);
	assert_int_equal(o.keyed_from, 0);
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, 0, "no entry is keyed"));
	/* Keyed from the next commit on. */
	assert_int_equal(pdb_audit_key_set(db, KEY), 0);
	assert_int_equal(pdb_write(db, "key", note, "keyed", NULL), 0);
	assert_int_equal(verify(db, KEY, &s, &o), 0);
	assert_int_equal(o.keyed_from, first + 3);
	assert_int_equal(o.chain_from, first);
	/* Stripping the head does not make it an unkeyed log again. */
	raw_del(db, db->meta, PDB__AUDIT_HEAD_KEY, strlen(PDB__AUDIT_HEAD_KEY));
	assert_int_equal(verify(db, NULL, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 3, "no head"));
	pdb_close(db);
}

static void test_audit_old_format_entries_start_the_chain_later(void **state)
{
	uint8_t rec[4096];
	struct pdb_audit old = { .time = 1, .user = pdb_str_of("alice"),
	                         .command = pdb_str_of("policyctl load x") };
	struct pdb_audit_check o;
	struct seen s;
	uint64_t first;
	size_t n;
	pdb_t *db = store_with(NULL, 0, &first);

	/* The init's entry made as an older version wrote it: no link. */
	assert_int_equal(pdb__audit_encode(&old, NULL, NULL, rec, sizeof(rec), &n), 0);
	entry_put(db, first, rec, n);
	assert_int_equal(pdb_audit_key_set(db, KEY), 0);
	assert_int_equal(pdb_write(db, "edit", note, "new", NULL), 0);
	assert_int_equal(verify(db, KEY, &s, &o), 0);
	assert_int_equal(o.chain_from, first + 1);
	/* The last old entry is covered by the first link. */
	forge_entry(db, first, "alice", "bobby");
	assert_int_equal(verify(db, KEY, &s, &o), PDB_ETAMPERED);
	assert_true(reported(&s, first + 1, "does not link"));
	pdb_close(db);
}

static int first_entry(void *arg, const struct pdb_audit *e)
{
	struct pdb_audit *out = arg;
	static char sudo[64], user[64];

	*out = *e;
	snprintf(sudo, sizeof(sudo), "%.*s", e->sudo_user.len, e->sudo_user.p);
	snprintf(user, sizeof(user), "%.*s", e->user.len, e->user.p);
	out->sudo_user = pdb_str_of(sudo);
	out->user = pdb_str_of(user);
	return 1;
}

static void test_audit_records_real_uid_beside_a_claimed_sudo_user(void **state)
{
	struct passwd *pw = getpwuid(getuid());
	struct pdb_audit e;
	uint64_t first;
	pdb_txn *t;
	pdb_t *db;

	setenv("SUDO_USER", "mallory", 1);
	db = store_with(KEY, 0, &first);
	unsetenv("SUDO_USER");
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_walk_audit(t, 1, first_entry, &e), 1);
	pdb_read_end(t);
	assert_true(e.has_uid);
	assert_int_equal(e.uid, getuid());
	/* The claim is kept as a claim, never as the user. */
	assert_string_equal(e.sudo_user.p, "mallory");
	assert_non_null(pw);
	assert_string_equal(e.user.p, pw->pw_name);
	pdb_close(db);
}

static void test_audit_key_file(void **state)
{
	uint8_t key[PDB_AUDIT_KEY_LEN], back[PDB_AUDIT_KEY_LEN];
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(pdb_audit_key_read(path, key), -ENOENT);
	assert_int_equal(pdb_audit_key_make(path, key), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(pdb_audit_key_make(path, back), -EEXIST);
	assert_int_equal(pdb_audit_key_read(path, back), 0);
	assert_memory_equal(key, back, sizeof(key));
	/* Readable by others: refused. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(pdb_audit_key_read(path, back), -EPERM);
	/* Not a key. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(pdb_audit_key_read(path, back), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
		T(test_audit_intact_keyed_log_verifies),
		T(test_audit_forged_entry_with_its_check_redone_fails_its_mac),
		T(test_audit_forged_entry_without_its_check_redone_is_named),
		T(test_audit_dropped_entry_is_named),
		T(test_audit_swapped_entries_are_named),
		T(test_audit_cut_tail_is_named_by_the_head),
		T(test_audit_writer_after_a_cut_tail_records_it),
		T(test_audit_keyed_log_refuses_a_writer_without_the_key),
		T(test_audit_other_key_is_told_apart_from_tampering),
		T(test_audit_unkeyed_log_keyed_later),
		T(test_audit_old_format_entries_start_the_chain_later),
		T(test_audit_records_real_uid_beside_a_claimed_sudo_user),
		T(test_audit_key_file),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
