/* The store: open and its errors, writes and the audit log, readers in
 * other processes, a newer format, a full map. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"
#include "policydb.h"

static char dir[256];

static int make_dir(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/pdb-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

/* Processes a test started to hold reader slots: killed by the teardown
 * if a failed assertion left them behind. */
static pid_t holders[16];
static int nholders;

static void kill_holders(void)
{
	for (int i = 0; i < nholders; i++) {
		if (holders[i] > 0) {
			kill(holders[i], SIGKILL);
			waitpid(holders[i], NULL, 0);
		}
	}
	nholders = 0;
}

static int remove_dir(void **state)
{
	char cmd[320];

	kill_holders();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static pdb_t *open_new(const struct pdb_limits *lim)
{
	pdb_t *db = NULL;
	assert_int_equal(pdb_open(dir, PDB_CREATE, lim, &db), 0);
	assert_int_equal(pdb_init(db, "test init"), 0);
	return db;
}

struct put_arg {
	const char *prefix;
	unsigned from, count;
};

/* Put count members named PREFIX-N.example, each with a note that makes
 * its record large, to fill maps quickly. */
static int put_many(pdb_wtxn *w, void *arg)
{
	const struct put_arg *a = arg;
	char name[64], note[PDB_TEXT_MAX];
	struct pdb_member m;
	int rc;

	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	for (unsigned i = a->from; i < a->from + a->count; i++) {
		fixture_member(&m, (uint8_t)(i % 4), "auth:pki", NULL);
		m.note = pdb_str_of(note);
		snprintf(name, sizeof(name), "%s-%06u.example", a->prefix, i);
		if ((rc = pdb_w_put_member(w, name, &m)) != 0)
			return rc;
	}
	return pdb_w_change(w, "put %u members", a->count);
}

static uint64_t serial_of(pdb_t *db)
{
	pdb_txn *t;
	uint64_t s = 0;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_serial(t, &s), 0);
	pdb_read_end(t);
	return s;
}

static size_t count_of(pdb_t *db)
{
	pdb_txn *t;
	size_t n = 0;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_member_count(t, &n), 0);
	pdb_read_end(t);
	return n;
}

static void test_open_errors(void **state)
{
	char path[320];
	pdb_t *db = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(pdb_open(path, 0, NULL, &db), -ENOENT);
	assert_int_equal(pdb_open(path, PDB_RDONLY, NULL, &db), -ENOENT);
	/* An empty directory is not a store. */
	assert_int_equal(pdb_open(dir, 0, NULL, &db), PDB_ENOTSTORE);
	/* A file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", dir);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_int_equal(pdb_open(path, 0, NULL, &db), -ENOTDIR);
	/* A data.mdb that is not LMDB at all. */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	assert_int_equal(write(fd, "this is not a database, just some bytes", 39), 39);
	close(fd);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), PDB_ENOTSTORE);
	assert_null(db);
	assert_int_equal(pdb_open(NULL, 0, NULL, &db), -EINVAL);
	assert_int_equal(pdb_open(dir, PDB_RDONLY | PDB_CREATE, NULL, &db), -EINVAL);
}

/* An LMDB environment that belongs to something else. */
static void test_foreign_lmdb(void **state)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 3, "key" }, v = { 5, "value" };
	pdb_t *db = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(pdb_open(dir, 0, NULL, &db), PDB_ENOTSTORE);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), PDB_ENOTSTORE);
}

/* Raw LMDB access to the store's named databases, to plant what a newer
 * version or a disk error would leave. */
static void raw_put(const char *dbname, const char *key, const void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, dbname, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_newer_format_refused(void **state)
{
	static const uint8_t v2[4] = { 0, 0, 0, PDB_FORMAT_VERSION + 1 };
	pdb_t *db = open_new(NULL);

	pdb_close(db);
	raw_put("meta", "format", v2, 4);
	db = NULL;
	assert_int_equal(pdb_open(dir, 0, NULL, &db), PDB_ENEWER);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), PDB_ENEWER);
	assert_int_equal(pdb_open(dir, PDB_CREATE, NULL, &db), PDB_ENEWER);
	assert_null(db);
	assert_non_null(strstr(pdb_strerror(PDB_ENEWER), "newer"));
}

static void test_corrupt_record_refused(void **state)
{
	struct pdb_member m;
	struct pdb_decision d;
	pdb_txn *t;
	pdb_t *db = open_new(NULL);

	pdb_close(db);
	raw_put("member", "bad.example", "M\1garbage", 9);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_get_member(t, "bad.example", &m), PDB_ECORRUPT);
	assert_int_equal(pdb_decide(t, "bad.example", "other.example", 0, &d), PDB_ECORRUPT);
	pdb_read_end(t);
	pdb_close(db);
}

static int write_pair(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	int rc;

	fixture_member(&m, 3, "auth:pki", NULL);
	if ((rc = pdb_w_put_member(w, "a.example", &m)) != 0 ||
	    (rc = pdb_w_put_member(w, "b.example", &m)) != 0 ||
	    (rc = pdb_w_put_member(w, "c.example", &m)) != 0 ||
	    (rc = pdb_w_put_override(w, "b.example", "a.example", PDB_OVERRIDE_DENY)) != 0 ||
	    (rc = pdb_w_put_override(w, "c.example", "b.example", PDB_OVERRIDE_ALLOW)) != 0)
		return rc;
	return pdb_w_change(w, "two members");
}

static int delete_b(pdb_wtxn *w, void *arg)
{
	return pdb_w_del_member(w, "b.example");
}

static int fail_midway(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	fixture_member(&m, 1, NULL, NULL);
	pdb_w_put_member(w, "d.example", &m);
	return -ECANCELED;
}

static int count_override(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	(*(int *)arg)++;
	return 0;
}

struct audit_seen {
	int n;
	uint64_t last;
	char change[128];
};

static int audit_entry(void *arg, const struct pdb_audit *e)
{
	struct audit_seen *s = arg;
	assert_true(e->serial > s->last);
	s->last = e->serial;
	s->n++;
	snprintf(s->change, sizeof(s->change), "%.*s", e->change.len, e->change.p);
	assert_true(e->user.len > 0);
	assert_true(e->time > 0);
	return 0;
}

static void test_write_read_audit(void **state)
{
	pdb_t *db = open_new(NULL);
	uint64_t s0 = serial_of(db), s1, s2;
	enum pdb_override ov;
	struct pdb_decision d;
	struct audit_seen seen = { 0 };
	int n = 0;
	pdb_txn *t;

	assert_int_equal(pdb_write(db, "test pair", write_pair, NULL, &s1), 0);
	assert_int_equal(s1, s0 + 1);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_get_override(t, "a.example", "b.example", &ov), 0);
	assert_int_equal(ov, PDB_OVERRIDE_DENY);
	assert_int_equal(pdb_decide(t, "b.example", "a.example", 0, &d), 0);
	assert_int_equal(d.rule, PDB_RULE_OVERRIDE_DENY);
	assert_int_equal(pdb_decide(t, "a.example", "c.example", 0, &d), 0);
	assert_int_equal(d.rule, PDB_RULE_POLICY_OK);
	pdb_read_end(t);

	/* A write that fails leaves nothing behind, not even its serial. */
	assert_int_equal(pdb_write(db, "test fail", fail_midway, NULL, NULL), -ECANCELED);
	assert_int_equal(serial_of(db), s1);
	assert_int_equal(count_of(db), 3);

	/* Deleting a member takes its overrides with it. */
	assert_int_equal(pdb_write(db, "test delete", delete_b, NULL, &s2), 0);
	assert_int_equal(s2, s1 + 1);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_walk_overrides(t, count_override, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pdb_walk_audit(t, 0, audit_entry, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.last, s2);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pdb_walk_audit(t, 2, audit_entry, &seen), 0);
	assert_int_equal(seen.n, 2);
	pdb_read_end(t);
	assert_int_equal(pdb_write(db, "again", delete_b, NULL, NULL), PDB_ENOTFOUND);
	pdb_close(db);

	/* Read-only handles cannot write. */
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), 0);
	assert_int_equal(pdb_write(db, "ro", write_pair, NULL, NULL), PDB_ERDONLY);
	pdb_close(db);
	/* A store is initialised once. */
	assert_int_equal(pdb_open(dir, PDB_CREATE, NULL, &db), 0);
	assert_int_equal(pdb_init(db, "again"), PDB_EEXIST);
	pdb_close(db);
}

/* A map that cannot grow: the write that does not fit fails whole. */
static int write_addresses(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	int rc;

	fixture_member(&m, 1, NULL, NULL);
	pdb_addr_parse("192.0.2.0/24", true, &m.queriers[m.nqueriers++]);
	pdb_addr_parse("192.0.2.10", false, &m.addrs[m.naddrs++]);
	if ((rc = pdb_w_put_member(w, "wide.example", &m)) != 0)
		return rc;
	fixture_member(&m, 1, NULL, NULL);
	pdb_addr_parse("192.0.2.128/25", true, &m.queriers[m.nqueriers++]);
	pdb_addr_parse("2001:db8::1", false, &m.addrs[m.naddrs++]);
	return pdb_w_put_member(w, "narrow.example", &m);
}

static void test_addr_map(void **state)
{
	pdb_t *db = open_new(NULL);
	struct pdb_addr_map m = { 0 };
	const uint8_t low[4] = { 192, 0, 2, 10 }, high[4] = { 192, 0, 2, 200 };
	const uint8_t other[4] = { 198, 51, 100, 1 };
	uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	pdb_txn *t;

	v6[15] = 1;
	assert_int_equal(pdb_write(db, "addresses", write_addresses, NULL, NULL), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	/* queriers: the longest prefix wins, wherever it is listed */
	assert_int_equal(pdb_addr_map_build(&m, t, PDB_LIST_QUERIERS), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, low)), "wide.example");
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, high)), "narrow.example");
	assert_int_equal(pdb_addr_map_find(&m, 4, other), -1);
	assert_int_equal(pdb_addr_map_find(&m, 6, v6), -1);
	/* addresses: rebuilt in place, the old entries gone */
	assert_int_equal(pdb_addr_map_build(&m, t, PDB_LIST_ADDRESSES), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 6, v6)), "narrow.example");
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, low)), "wide.example");
	assert_int_equal(pdb_addr_map_find(&m, 4, high), -1);
	/* the same through the accessor, which says no for no entry */
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 6, v6)), "narrow.example");
	assert_null(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, high)));
	assert_null(pdb_addr_map_member(&m, 1000));
	assert_null(pdb_addr_map_member(NULL, 0));
	pdb_read_end(t);
	pdb_addr_map_free(&m);
	assert_int_equal(m.n, 0);
	assert_int_equal(pdb_addr_map_find(&m, 4, low), -1);
	pdb_close(db);
}

static void test_map_full(void **state)
{
	struct pdb_limits lim = { .map_size = 1 << 20, .map_max = 1 << 20 };
	struct put_arg small = { "small", 0, 10 }, big = { "big", 0, 2000 };
	pdb_t *db = open_new(&lim);
	uint64_t s;

	assert_int_equal(pdb_write(db, "small", put_many, &small, &s), 0);
	assert_int_equal(pdb_write(db, "big", put_many, &big, NULL), PDB_EMAPFULL);
	assert_int_equal(serial_of(db), s);
	assert_int_equal(count_of(db), 10);
	pdb_close(db);
	/* Reopened, it is exactly as it was. */
	assert_int_equal(pdb_open(dir, PDB_RDONLY, &lim, &db), 0);
	assert_int_equal(serial_of(db), s);
	assert_int_equal(count_of(db), 10);
	pdb_close(db);
}

/* A map that may grow: the same write succeeds after the map doubles. */
static void test_map_grows(void **state)
{
	struct pdb_limits lim = { .map_size = 1 << 20, .map_max = 64 << 20 };
	struct put_arg big = { "big", 0, 2000 };
	struct stat st;
	char path[320];
	pdb_t *db = open_new(&lim);

	assert_int_equal(pdb_write(db, "big", put_many, &big, NULL), 0);
	assert_int_equal(count_of(db), 2000);
	pdb_close(db);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > (1 << 20));
	/* A reader with the old, smaller map size still reads it all. */
	assert_int_equal(pdb_open(dir, PDB_RDONLY, &lim, &db), 0);
	assert_int_equal(count_of(db), 2000);
	pdb_close(db);
}

/* ---- several processes ---- */

static int set_note_to_serial(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	char note[32];
	uint64_t s;
	int rc;

	if ((rc = pdb_serial(pdb_w_txn(w), &s)) != 0)
		return rc;
	/* The serial this commit will get. */
	snprintf(note, sizeof(note), "%llu", (unsigned long long)(s + 1));
	fixture_member(&m, (uint8_t)(s % 200), NULL, NULL);
	m.note = pdb_str_of(note);
	if ((rc = pdb_w_put_member(w, "a.example", &m)) != 0 ||
	    (rc = pdb_w_put_member(w, "z.example", &m)) != 0)
		return rc;
	return 0;
}

/* A reader process: each snapshot must be one whole commit (both members
 * carry the snapshot's serial), and serials never go back.  Regression:
 * with LMDB's own snapshot alone, a reader delayed inside mdb_txn_renew
 * saw serials go back by one (24 of 60 runs with both cores busy); see
 * read_settle() in store.c.  Returns the
 * exit status for the parent. */
static int reader_process(uint64_t last_serial)
{
	pdb_t *db;
	pdb_txn *t;
	uint64_t prev = 0;
	time_t deadline = time(NULL) + 60;

	if (pdb_open(dir, PDB_RDONLY, NULL, &db) != 0 || pdb_read_begin(db, &t) != 0)
		return 10;
	pdb_read_reset(t);
	while (prev < last_serial && time(NULL) < deadline) {
		struct pdb_member a, z;
		uint64_t s;
		char want[32];
		if (pdb_read_renew(t) != 0 || pdb_serial(t, &s) != 0)
			return 11;
		if (s < prev) {
			fprintf(stderr, "serial %llu after %llu\n", (unsigned long long)s,
			        (unsigned long long)prev);
			return 12;
		}
		prev = s;
		if (pdb_get_member(t, "a.example", &a) == 0) {
			if (pdb_get_member(t, "z.example", &z) != 0)
				return 13;
			snprintf(want, sizeof(want), "%llu", (unsigned long long)s);
			if (a.note.len != strlen(want) || memcmp(a.note.p, want, a.note.len) ||
			    !pdb_str_eq(a.note, z.note))
				return 14;
		}
		pdb_read_reset(t);
	}
	pdb_read_end(t);
	pdb_close(db);
	return prev == last_serial ? 0 : 15;
}

static void test_readers_and_writer(void **state)
{
	enum { READERS = 3, COMMITS = 300 };
	pdb_t *db = open_new(NULL);
	uint64_t first = serial_of(db), last = first + COMMITS;
	pid_t pids[READERS];

	pdb_close(db);
	for (int i = 0; i < READERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(reader_process(last));
	}
	/* The writer is a process of its own too, as policyctl would be. */
	pid_t writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {
		if (pdb_open(dir, 0, NULL, &db) != 0)
			_exit(20);
		for (int i = 0; i < COMMITS; i++)
			if (pdb_write(db, "writer", set_note_to_serial, NULL, NULL) != 0)
				_exit(21);
		pdb_close(db);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(writer, &status, 0), writer);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("reader %d failed with code %d", i, WEXITSTATUS(status));
	}
}

/* A reader that keeps its handle open sees a commit at its very next
 * read transaction: no reopen, no wait. */
static void test_next_read_sees_commit(void **state)
{
	int to_child[2], to_parent[2];
	pdb_t *db = open_new(NULL);

	pdb_close(db);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t want, got;
		pdb_txn *t;
		close(to_child[1]);
		close(to_parent[0]);
		if (pdb_open(dir, PDB_RDONLY, NULL, &db) != 0)
			_exit(1);
		while (read(to_child[0], &want, sizeof(want)) == sizeof(want)) {
			if (pdb_read_begin(db, &t) != 0 || pdb_serial(t, &got) != 0)
				_exit(2);
			pdb_read_end(t);
			if (write(to_parent[1], &got, sizeof(got)) != sizeof(got))
				_exit(3);
		}
		pdb_close(db);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	assert_int_equal(pdb_open(dir, 0, NULL, &db), 0);
	for (int i = 0; i < 50; i++) {
		uint64_t s, seen;
		assert_int_equal(pdb_write(db, "commit", set_note_to_serial, NULL, &s), 0);
		assert_int_equal(write(to_child[1], &s, sizeof(s)), sizeof(s));
		assert_int_equal(read(to_parent[0], &seen, sizeof(seen)), sizeof(seen));
		assert_int_equal(seen, s);
	}
	close(to_child[1]);
	pdb_close(db);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(to_parent[0]);
}

/* A process that takes reader slots until none is left (or max snapshots),
 * tells how many it holds, and waits to be killed. */
static pid_t fill_readers(int max)
{
	int fds[2];
	int held = 0;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pdb_t *db;
		pdb_txn *t;
		close(fds[0]);
		if (pdb_open(dir, PDB_RDONLY, NULL, &db) != 0)
			_exit(1);
		while (held < max && pdb_read_begin(db, &t) == 0)
			held++;
		if (write(fds[1], &held, sizeof(held)) != sizeof(held))
			_exit(2);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_true(nholders < (int)(sizeof(holders) / sizeof(holders[0])));
	holders[nholders++] = pid;
	assert_int_equal(read(fds[0], &held, sizeof(held)), sizeof(held));
	close(fds[0]);
	return pid;
}

static void kill_wait(pid_t pid)
{
	int status;
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	for (int i = 0; i < nholders; i++)
		if (holders[i] == pid)
			holders[i] = 0;
}

/* Every slot held by processes that were then SIGKILLed: nothing freed
 * them, so the store could not be opened again, not even to write. */
static void test_reader_slots_of_killed_processes_freed_at_open(void **state)
{
	pdb_t *db = open_new(NULL);
	pdb_txn *t;

	pdb_close(db);
	/* A process that keeps the store open, as a running dnsd does: the
	 * first opener of an unused store resets the reader table, so
	 * without one the dead slots would be cleared for the wrong reason. */
	fill_readers(1);
	for (int round = 0; round < 3; round++) {
		pid_t a = fill_readers(200), b = fill_readers(PDB_MAX_SNAPSHOTS);
		kill_wait(a);
		kill_wait(b);
	}
	assert_int_equal(pdb_open(dir, 0, NULL, &db), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	pdb_read_end(t);
	assert_int_equal(pdb_write(db, "after the kills", set_note_to_serial, NULL, NULL), 0);
	pdb_close(db);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), 0);
	pdb_close(db);
}

/* A daemon that was started before the others died: its next snapshot
 * finds the table full, frees the dead slots and goes on. */
static void test_reader_slots_freed_when_table_full(void **state)
{
	pdb_t *db = open_new(NULL);
	pdb_txn *t;
	int dead = -1;

	pid_t filler = fill_readers(PDB_MAX_SNAPSHOTS);
	/* Live holders: still full, and the error says what may be wrong. */
	assert_int_equal(pdb_read_begin(db, &t), PDB_EREADERS);
	assert_non_null(strstr(pdb_strerror(PDB_EREADERS), "stale slots of killed processes"));
	kill_wait(filler);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	pdb_read_end(t);
	/* and on a timer: nothing left to free, then one more dead process */
	assert_int_equal(pdb_reader_check(db, &dead), 0);
	assert_int_equal(dead, 0);
	kill_wait(fill_readers(3));
	assert_int_equal(pdb_reader_check(db, &dead), 0);
	assert_int_equal(dead, 3 * 2);   /* slots: two per snapshot */
	assert_int_equal(pdb_reader_check(NULL, &dead), -EINVAL);
	pdb_close(db);
}

struct damage_seen {
	int n;
	char db[32], key[96];
};

static void note_damage(void *arg, const char *db, const char *key, const char *why)
{
	struct damage_seen *d = arg;
	if (d->n++ == 0) {
		snprintf(d->db, sizeof(d->db), "%s", db);
		snprintf(d->key, sizeof(d->key), "%s", key);
	}
}

/* A record that readers refuse is found by a walk of the whole store,
 * and named; a compacted backup of a sound store is sound too. */
static void test_verify_finds_bad_record_and_backup_is_sound(void **state)
{
	struct damage_seen seen = { 0 };
	struct pdb_verify_cb cb = { NULL, note_damage, &seen };
	struct put_arg a = { "m", 0, 50 };
	char copy[300], cdir[300];
	size_t records = 0;
	pdb_t *db = open_new(NULL);

	assert_int_equal(pdb_write(db, "put", put_many, &a, NULL), 0);
	assert_int_equal(pdb_verify(db, &cb, &records), 0);
	assert_int_equal(seen.n, 0);
	assert_true(records >= 50);
	snprintf(copy, sizeof(copy), "%s/backup.mdb", dir);
	assert_int_equal(pdb_backup(db, copy), 0);
	assert_int_equal(pdb_backup(db, copy), -EEXIST);
	pdb_close(db);

	raw_put("member", "bad.example", "M\1garbage", 9);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), 0);
	assert_int_equal(pdb_verify(db, &cb, NULL), PDB_ECORRUPT);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.db, "member");
	assert_string_equal(seen.key, "bad.example");
	pdb_close(db);

	/* the backup, as a store of its own */
	snprintf(cdir, sizeof(cdir), "%s/restored", dir);
	assert_int_equal(mkdir(cdir, 0700), 0);
	char data[320];
	snprintf(data, sizeof(data), "%s/data.mdb", cdir);
	assert_int_equal(rename(copy, data), 0);
	assert_int_equal(pdb_open(cdir, PDB_RDONLY, NULL, &db), 0);
	seen.n = 0;
	assert_int_equal(pdb_verify(db, &cb, NULL), 0);
	assert_int_equal(count_of(db), 50);
	pdb_close(db);
}

struct names_seen {
	char first[64];
	unsigned n, stop_at;
};

static int note_name(void *arg, const char *name, const void *rec, size_t len)
{
	struct names_seen *s = arg;

	(void)rec, (void)len;
	if (s->n == 0)
		snprintf(s->first, sizeof(s->first), "%s", name);
	return ++s->n == s->stop_at ? 7 : 0;
}

/* A walk in slices resumes after the last name done: after a name there
 * is, after one between two, after the last, and from the start. */
static void test_walk_member_records_after(void **state)
{
	struct put_arg a = { "w", 0, 5 };
	struct names_seen s = { .n = 0 };
	pdb_t *db = open_new(NULL);
	pdb_txn *t;

	(void)state;
	assert_int_equal(pdb_write(db, "put", put_many, &a, NULL), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_walk_member_records_after(t, NULL, note_name, &s), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.first, "w-000000.example");
	s = (struct names_seen){ .n = 0 };
	assert_int_equal(pdb_walk_member_records_after(t, "w-000001.example", note_name, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.first, "w-000002.example");
	s = (struct names_seen){ .n = 0 };
	assert_int_equal(pdb_walk_member_records_after(t, "w-000001.examplf", note_name, &s), 0);
	assert_string_equal(s.first, "w-000002.example");
	s = (struct names_seen){ .n = 0 };
	assert_int_equal(pdb_walk_member_records_after(t, "w-000004.example", note_name, &s), 0);
	assert_int_equal(s.n, 0);
	s = (struct names_seen){ .stop_at = 2 };
	assert_int_equal(pdb_walk_member_records_after(t, "", note_name, &s), 7);
	assert_int_equal(s.n, 2);
	pdb_read_end(t);
	pdb_close(db);
}

static int clear_all(pdb_wtxn *w, void *arg)
{
	(void)arg;
	return pdb_w_clear(w);
}

/* Removals live in meta beside the serial: verify checks them too, and a
 * sound one (kept by a delete) is no damage. */
static void test_verify_checks_removals(void **state)
{
	struct damage_seen seen = { 0 };
	struct pdb_verify_cb cb = { NULL, note_damage, &seen };
	struct put_arg a = { "m", 0, 3 };
	pdb_t *db = open_new(NULL);

	(void)state;
	assert_int_equal(pdb_write(db, "put", put_many, &a, NULL), 0);
	assert_int_equal(pdb_write(db, "clear", clear_all, NULL, NULL), 0);
	assert_int_equal(pdb_verify(db, &cb, NULL), 0);
	assert_int_equal(seen.n, 0);
	pdb_close(db);

	raw_put("meta", "removed/gone.example", "\1\2\3", 3);
	assert_int_equal(pdb_open(dir, PDB_RDONLY, NULL, &db), 0);
	assert_int_equal(pdb_verify(db, &cb, NULL), PDB_ECORRUPT);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.db, "meta");
	assert_string_equal(seen.key, "removed/gone.example");
	pdb_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_errors, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_foreign_lmdb, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_newer_format_refused, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_corrupt_record_refused, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_write_read_audit, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_addr_map, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_map_full, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_map_grows, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_readers_and_writer, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_next_read_sees_commit, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_slots_of_killed_processes_freed_at_open, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_reader_slots_freed_when_table_full, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_verify_finds_bad_record_and_backup_is_sound, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_verify_checks_removals, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_walk_member_records_after, make_dir, remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
