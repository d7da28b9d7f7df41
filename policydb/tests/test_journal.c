/* The journal: what each commit changed, with its before-images; a whole
 * load recorded by what differs; the everything-changed marker; pruning;
 * PDB_ETOOOLD; reconstructing an older record; aborted commits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "internal.h"

static char path[256];
static pdb_t *db;

static int setup(void **state)
{
	(void)state;
	db = fixture_store_new(path, sizeof(path), "pdb-journal");
	return db ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, path);
}

/* ---- what the tests write ---- */

/* The record of a member of level, encoded: the same bytes the store keeps. */
static size_t member_rec(uint8_t level, uint8_t *buf)
{
	struct pdb_member m;
	size_t len = 0;

	fixture_member(&m, level, "auth:pki", NULL);
	assert_int_equal(pdb_member_encode(&m, buf, PDB_RECORD_MAX, &len), 0);
	return len;
}

struct op {
	const char *name;     /* put or delete */
	int level;            /* < 0: delete */
	const char *a, *b;    /* an override to set */
	enum pdb_override ov;
	int community_ttl;    /* > 0: set the community with this ttl */
	int fail;             /* non-zero: abort the commit with this */
};

static int run_ops(pdb_wtxn *w, void *arg)
{
	const struct op *o = arg;
	struct pdb_member m;
	int rc;

	for (; o->name || o->a || o->community_ttl || o->fail; o++) {
		if (o->fail)
			return o->fail;
		if (o->community_ttl) {
			struct pdb_community c;
			pdb_community_init(&c);
			c.zone = pdb_str_of("fed.example");
			c.ttl = (uint32_t)o->community_ttl;
			rc = pdb_w_put_community(w, &c);
		} else if (o->a) {
			rc = pdb_w_put_override(w, o->a, o->b, o->ov);
		} else if (o->level < 0) {
			rc = pdb_w_del_member(w, o->name);
		} else {
			fixture_member(&m, (uint8_t)o->level, "auth:pki", NULL);
			rc = pdb_w_put_member(w, o->name, &m);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static uint64_t commit(const struct op *ops)
{
	uint64_t serial = 0;
	assert_int_equal(pdb_write(db, "test", run_ops, (void *)ops, &serial), 0);
	return serial;
}

static uint64_t current_serial(void)
{
	pdb_txn *t;
	uint64_t s = 0;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_serial(t, &s), 0);
	pdb_read_end(t);
	return s;
}

/* ---- what the journal says ---- */

#define MAX_SEEN 256

struct item {
	uint64_t serial;
	enum pdb_change_kind kind;
	char name[PDB_NAME_MAX + 1], other[PDB_NAME_MAX + 1];
	bool existed;
	size_t before_len;
	uint8_t before[512];
	enum pdb_override ov;
};

struct seen {
	size_t n, total;
	struct item v[MAX_SEEN];
};

static int collect(void *arg, const struct pdb_change *c)
{
	struct seen *s = arg;

	s->total++;
	if (s->n == MAX_SEEN)
		return 0;
	struct item *i = &s->v[s->n++];
	i->serial = c->serial;
	i->kind = c->kind;
	snprintf(i->name, sizeof(i->name), "%s", c->name);
	snprintf(i->other, sizeof(i->other), "%s", c->other);
	i->existed = c->existed;
	i->before_len = c->before_len;
	assert_true(c->before_len <= sizeof(i->before));
	assert_true(c->existed == (c->before != NULL));
	if (c->before_len)
		memcpy(i->before, c->before, c->before_len);
	i->ov = c->override_before;
	return 0;
}

static int since(uint64_t serial, struct seen *s)
{
	pdb_txn *t;
	int rc;

	memset(s, 0, sizeof(*s));
	assert_int_equal(pdb_read_begin(db, &t), 0);
	rc = pdb_changes_since(t, serial, collect, s);
	pdb_read_end(t);
	return rc;
}

static uint64_t oldest(void)
{
	pdb_txn *t;
	uint64_t s = 0;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_journal_oldest(t, &s), 0);
	pdb_read_end(t);
	return s;
}

static void assert_member_item(const struct item *i, const char *name, int level_before)
{
	uint8_t rec[PDB_RECORD_MAX];

	assert_int_equal(i->kind, PDB_CHANGE_MEMBER);
	assert_string_equal(i->name, name);
	assert_string_equal(i->other, "");
	if (level_before < 0) {
		assert_false(i->existed);
		assert_int_equal(i->before_len, 0);
		return;
	}
	assert_true(i->existed);
	size_t len = member_rec((uint8_t)level_before, rec);
	assert_int_equal(i->before_len, len);
	assert_memory_equal(i->before, rec, len);
}

/* ---- the tests ---- */

static void test_put_del_recorded_with_before_images(void **state)
{
	struct seen s;
	(void)state;

	uint64_t s0 = current_serial();
	uint64_t s1 = commit((struct op[]){ { .name = "a.example", .level = 1 },
	                                    { .name = "b.example", .level = 2 }, { 0 } });
	/* Touched twice: the first before-image, from before the commit. */
	uint64_t s2 = commit((struct op[]){ { .name = "a.example", .level = 5 },
	                                    { .name = "a.example", .level = 6 },
	                                    { .name = "b.example", .level = -1 }, { 0 } });
	/* The same bytes again: no change. */
	uint64_t s3 = commit((struct op[]){ { .name = "a.example", .level = 6 }, { 0 } });

	assert_int_equal(s2, s1 + 1);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.v[0].serial, s1);
	assert_member_item(&s.v[0], "a.example", -1);
	assert_member_item(&s.v[1], "b.example", -1);
	assert_int_equal(s.v[2].serial, s2);
	assert_member_item(&s.v[2], "a.example", 1);
	assert_member_item(&s.v[3], "b.example", 2);

	assert_int_equal(since(s2, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(since(s3, &s), 0);
	assert_int_equal(s.n, 0);
}

/* A bulk put in key order without a clear: each new name is an item; a
 * broken promise (a name that is stored) is refused and recorded as
 * nothing, even when the body goes on and commits. */
static int append_two(pdb_wtxn *w, void *arg)
{
	uint8_t rec[PDB_RECORD_MAX];
	size_t len = member_rec(3, rec);
	int rc;

	(void)arg;
	if ((rc = pdb_w_put_member_raw(w, "b.example", rec, len, true)) != 0)
		return rc;
	assert_int_equal(pdb_w_put_member_raw(w, "a.example", rec, len, true), -EINVAL);
	return 0;
}

static void test_failed_append_records_nothing(void **state)
{
	struct seen s;
	(void)state;

	commit((struct op[]){ { .name = "a.example", .level = 1 }, { 0 } });
	uint64_t s0 = current_serial();
	assert_int_equal(pdb_write(db, "append", append_two, NULL, NULL), 0);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.total, 1);
	assert_member_item(&s.v[0], "b.example", -1);
}

static void test_override_changes_recorded(void **state)
{
	struct seen s;
	(void)state;

	commit((struct op[]){ { .name = "a.example", .level = 1 }, { .name = "b.example", .level = 1 },
	                      { .name = "c.example", .level = 1 }, { 0 } });
	uint64_t s0 = current_serial();
	/* Given in either order, recorded as the pair in byte order. */
	commit((struct op[]){ { .a = "b.example", .b = "a.example", .ov = PDB_OVERRIDE_ALLOW },
	                      { .a = "a.example", .b = "c.example", .ov = PDB_OVERRIDE_DENY }, { 0 } });
	commit((struct op[]){ { .a = "a.example", .b = "b.example", .ov = PDB_OVERRIDE_DENY },
	                      { .a = "b.example", .b = "c.example", .ov = PDB_OVERRIDE_NONE }, { 0 } });
	/* Removing a member removes its overrides: each is recorded. */
	commit((struct op[]){ { .name = "a.example", .level = -1 }, { 0 } });

	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.v[0].kind, PDB_CHANGE_OVERRIDE);
	assert_string_equal(s.v[0].name, "a.example");
	assert_string_equal(s.v[0].other, "b.example");
	assert_false(s.v[0].existed);
	assert_int_equal(s.v[0].ov, PDB_OVERRIDE_NONE);
	assert_string_equal(s.v[1].other, "c.example");
	assert_false(s.v[1].existed);
	/* The removal of an override that is not there is no change. */
	assert_int_equal(s.v[2].serial, s0 + 2);
	assert_true(s.v[2].existed);
	assert_int_equal(s.v[2].ov, PDB_OVERRIDE_ALLOW);
	assert_int_equal(s.v[3].serial, s0 + 3);
	assert_member_item(&s.v[3], "a.example", 1);
	for (int i = 4; i < 6; i++) {
		assert_int_equal(s.v[i].kind, PDB_CHANGE_OVERRIDE);
		assert_int_equal(s.v[i].serial, s0 + 3);
		assert_string_equal(s.v[i].name, "a.example");
		assert_true(s.v[i].existed);
	}
	assert_string_equal(s.v[4].other, "b.example");
	assert_int_equal(s.v[4].ov, PDB_OVERRIDE_DENY);
	assert_string_equal(s.v[5].other, "c.example");
	assert_int_equal(s.v[5].ov, PDB_OVERRIDE_DENY);
}

static void test_community_change_recorded(void **state)
{
	struct pdb_community c;
	struct seen s;
	(void)state;

	uint64_t s0 = current_serial();
	commit((struct op[]){ { .community_ttl = 60 }, { 0 } });
	commit((struct op[]){ { .community_ttl = 60 }, { 0 } });   /* the same: no change */
	commit((struct op[]){ { .community_ttl = 300 }, { 0 } });

	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[0].kind, PDB_CHANGE_COMMUNITY);
	assert_string_equal(s.v[0].name, "");
	assert_false(s.v[0].existed);
	assert_int_equal(s.v[1].serial, s0 + 3);
	assert_true(s.v[1].existed);
	assert_int_equal(pdb_community_decode(s.v[1].before, s.v[1].before_len, &c), 0);
	assert_int_equal(c.ttl, 60);
}

/* A load as policyctl does it: clear, then the whole file in key order. */
struct load {
	unsigned n;          /* members m00000 .. */
	unsigned changed;    /* every changed-th gets another level; 0: none */
	unsigned skip_from;  /* members from here on left out */
	unsigned extra;      /* members past n added */
};

static int do_load(pdb_wtxn *w, void *arg)
{
	const struct load *l = arg;
	uint8_t rec[PDB_RECORD_MAX];
	char name[64];
	struct pdb_community c;
	int rc;

	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	if ((rc = pdb_w_clear(w)) != 0 || (rc = pdb_w_put_community(w, &c)) != 0)
		return rc;
	for (unsigned i = 0; i < l->n + l->extra; i++) {
		if (i >= l->skip_from && i < l->n)
			continue;
		snprintf(name, sizeof(name), "m%06u.example", i);
		size_t len = member_rec(l->changed && i % l->changed == 0 ? 7 : 1, rec);
		if ((rc = pdb_w_put_member_raw(w, name, rec, len, true)) != 0)
			return rc;
	}
	return pdb_w_put_override(w, "m000001.example", "m000002.example", PDB_OVERRIDE_DENY);
}

static void test_load_records_only_what_differs(void **state)
{
	struct seen s;
	(void)state;

	struct load first = { .n = 10000, .skip_from = 10000 };
	assert_int_equal(pdb_write(db, "load", do_load, &first, NULL), 0);
	uint64_t s0 = current_serial();
	/* 1% changed, 5 left out, 5 added; community and override as they were. */
	struct load second = { .n = 10000, .changed = 100, .skip_from = 9995, .extra = 5 };
	assert_int_equal(pdb_write(db, "load", do_load, &second, NULL), 0);

	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.total, 100 + 5 + 5);
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(s.v[i].kind, PDB_CHANGE_MEMBER);
		assert_int_equal(s.v[i].serial, s0 + 1);
	}
	assert_member_item(&s.v[0], "m000000.example", 1);
	assert_member_item(&s.v[1], "m000100.example", 1);
	/* Key order: the changed, then those left out, then those added. */
	assert_member_item(&s.v[99], "m009900.example", 1);
	assert_member_item(&s.v[100], "m009995.example", 1);
	assert_member_item(&s.v[105], "m010000.example", -1);
}

/* A commit before the load that touched a name keeps that name's image
 * from before the commit, not from before the clear. */
static int put_then_load(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	int rc;

	fixture_member(&m, 9, NULL, NULL);
	if ((rc = pdb_w_put_member(w, "m000003.example", &m)) != 0)
		return rc;
	return do_load(w, arg);
}

static void test_load_after_put_in_same_commit_keeps_first_image(void **state)
{
	struct seen s;
	(void)state;

	struct load l = { .n = 10, .skip_from = 10 };
	assert_int_equal(pdb_write(db, "load", do_load, &l, NULL), 0);
	uint64_t s0 = current_serial();
	assert_int_equal(pdb_write(db, "load", put_then_load, &l, NULL), 0);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.n, 1);
	assert_member_item(&s.v[0], "m000003.example", 1);
}

struct many {
	unsigned n;
	uint8_t level;
};

static int put_many(pdb_wtxn *w, void *arg)
{
	const struct many *a = arg;
	struct pdb_member m;
	char name[64];
	int rc;

	fixture_member(&m, a->level, NULL, NULL);
	for (unsigned i = 0; i < a->n; i++) {
		snprintf(name, sizeof(name), "big%06u.example", i);
		if ((rc = pdb_w_put_member(w, name, &m)) != 0)
			return rc;
	}
	return 0;
}

static void test_commit_over_bound_is_everything_changed(void **state)
{
	struct seen s;
	(void)state;

	uint64_t s0 = current_serial();
	struct many n = { PDB_JOURNAL_ITEMS_MAX, 1 };
	assert_int_equal(pdb_write(db, "many", put_many, &n, NULL), 0);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.total, PDB_JOURNAL_ITEMS_MAX);

	n = (struct many){ PDB_JOURNAL_ITEMS_MAX + 1, 2 };
	uint64_t s1 = current_serial();
	assert_int_equal(pdb_write(db, "many", put_many, &n, NULL), 0);
	assert_int_equal(since(s1, &s), PDB_ETOOOLD);
	assert_int_equal(since(s0, &s), PDB_ETOOOLD);
	assert_int_equal(s.total, 0);
	assert_int_equal(oldest(), s1 + 1);

	/* Past the marker the journal goes on. */
	commit((struct op[]){ { .name = "a.example", .level = 1 }, { 0 } });
	assert_int_equal(since(s1 + 1, &s), 0);
	assert_int_equal(s.total, 1);

	/* The marker's items are gone, the store's records are sound. */
	assert_int_equal(pdb_verify(db, NULL, NULL), 0);
}

static int set_max(pdb_wtxn *w, void *arg)
{
	return pdb_w_journal_max(w, *(uint32_t *)arg);
}

static void test_pruned_at_journal_max(void **state)
{
	struct seen s;
	pdb_txn *t;
	uint32_t max = 5, got = 0;
	(void)state;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_journal_max(t, &got), 0);
	assert_int_equal(got, PDB_JOURNAL_MAX_DEFAULT);
	pdb_read_end(t);
	assert_int_equal(pdb_write(db, "max", set_max, &max, NULL), 0);
	for (int i = 0; i < 10; i++)
		commit((struct op[]){ { .name = "a.example", .level = i }, { 0 } });
	uint64_t cur = current_serial();
	assert_int_equal(oldest(), cur - 5);
	assert_int_equal(since(cur - 6, &s), PDB_ETOOOLD);
	assert_int_equal(since(cur - 5, &s), 0);
	assert_int_equal(s.total, 5);
	assert_int_equal(s.v[0].serial, cur - 4);
	assert_member_item(&s.v[0], "a.example", 4);

	/* Kept: 5 headers and 5 items; the rest was pruned. */
	size_t keys = 0;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	MDB_cursor *cur_;
	MDB_val k = pdb__val(PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN), v;
	assert_int_equal(mdb_cursor_open(t->txn, db->meta, &cur_), 0);
	for (int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur_, &k, &v, MDB_NEXT)) {
		if (k.mv_size < PDB__JOURNAL_PREFIX_LEN || memcmp(k.mv_data, PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN))
			break;
		keys++;
	}
	mdb_cursor_close(cur_);
	pdb_read_end(t);
	assert_int_equal(keys, 10);

	/* 0 keeps none. */
	max = 0;
	assert_int_equal(pdb_write(db, "max", set_max, &max, NULL), 0);
	commit((struct op[]){ { .name = "a.example", .level = 20 }, { 0 } });
	cur = current_serial();
	assert_int_equal(oldest(), cur);
	assert_int_equal(since(cur - 1, &s), PDB_ETOOOLD);
	assert_int_equal(since(cur, &s), 0);
	/* Back on: the commit that sets it knows nothing item by item. */
	max = 3;
	assert_int_equal(pdb_write(db, "max", set_max, &max, NULL), 0);
	commit((struct op[]){ { .name = "a.example", .level = 21 }, { 0 } });
	cur = current_serial();
	assert_int_equal(oldest(), cur - 1);
	assert_int_equal(since(cur - 1, &s), 0);
	assert_int_equal(s.total, 1);
	assert_int_equal(pdb_verify(db, NULL, NULL), 0);
}

static void test_too_old_and_too_new_serials(void **state)
{
	struct seen s;
	pdb_txn *t;
	(void)state;

	uint64_t s0 = current_serial();
	/* A store made anew has a journal from its first serial on. */
	assert_int_equal(oldest(), s0 - 1);
	commit((struct op[]){ { .name = "a.example", .level = 1 }, { 0 } });
	assert_int_equal(since(s0 - 2, &s), PDB_ETOOOLD);
	assert_int_equal(since(s0 + 2, &s), PDB_ETOOOLD);
	assert_int_equal(since(s0 + 1, &s), 0);
	assert_int_equal(s.total, 0);
	assert_int_equal(since(s0 - 1, &s), 0);
	assert_int_equal(s.total, 1);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_changes_since(t, s0, NULL, NULL), -EINVAL);
	assert_int_equal(pdb_changes_since(NULL, s0, collect, &s), -EINVAL);
	assert_int_equal(pdb_journal_oldest(t, NULL), -EINVAL);
	pdb_read_end(t);
	assert_string_equal(pdb_strerror(PDB_ETOOOLD),
	                    "the journal does not reach back to that serial; rebuild from the store");
}

/* What a reader with only the newest snapshot does: a name's record at
 * serial N is the before-image of its first change after N, or the
 * current record if it has not changed since. */
static int record_at(uint64_t serial, const char *name, uint8_t *out, size_t *len)
{
	struct seen s;
	pdb_txn *t;
	MDB_val v;
	int rc;

	assert_int_equal(since(serial, &s), 0);
	for (size_t i = 0; i < s.n; i++) {
		if (s.v[i].kind != PDB_CHANGE_MEMBER || strcmp(s.v[i].name, name) != 0)
			continue;
		if (!s.v[i].existed)
			return PDB_ENOTFOUND;
		memcpy(out, s.v[i].before, s.v[i].before_len);
		*len = s.v[i].before_len;
		return 0;
	}
	assert_int_equal(pdb_read_begin(db, &t), 0);
	MDB_val k = pdb__key(name);
	rc = mdb_get(t->txn, db->member, &k, &v);
	if (rc == 0) {
		memcpy(out, v.mv_data, v.mv_size);
		*len = v.mv_size;
	}
	pdb_read_end(t);
	return rc == 0 ? 0 : PDB_ENOTFOUND;
}

static void test_reader_reconstructs_older_record(void **state)
{
	uint8_t want[8][PDB_RECORD_MAX], got[PDB_RECORD_MAX];
	size_t want_len[8], len;
	bool present[8];
	uint64_t serial[8];
	(void)state;

	/* x: absent, level 1, 2, (other names only), removed, 3, 4, 4. */
	const struct op steps[8][3] = {
		{ { .name = "y.example", .level = 1 }, { 0 } },
		{ { .name = "x.example", .level = 1 }, { 0 } },
		{ { .name = "x.example", .level = 2 }, { .name = "y.example", .level = 2 }, { 0 } },
		{ { .name = "y.example", .level = 3 }, { 0 } },
		{ { .name = "x.example", .level = -1 }, { 0 } },
		{ { .name = "x.example", .level = 3 }, { 0 } },
		{ { .name = "x.example", .level = 9 }, { .name = "x.example", .level = 4 }, { 0 } },
		{ { .name = "x.example", .level = 4 }, { 0 } },
	};
	const int level[8] = { -1, 1, 2, 2, -1, 3, 4, 4 };
	for (int i = 0; i < 8; i++) {
		serial[i] = commit(steps[i]);
		present[i] = level[i] >= 0;
		want_len[i] = present[i] ? member_rec((uint8_t)level[i], want[i]) : 0;
	}
	for (int i = 0; i < 8; i++) {
		int rc = record_at(serial[i], "x.example", got, &len);
		if (!present[i]) {
			assert_int_equal(rc, PDB_ENOTFOUND);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(len, want_len[i]);
		assert_memory_equal(got, want[i], len);
	}
}

static void test_aborted_write_leaves_no_record(void **state)
{
	struct seen s;
	pdb_txn *t;
	struct pdb__commit_rec h;
	(void)state;

	uint64_t s0 = current_serial();
	assert_int_equal(pdb_write(db, "fails", run_ops,
	                           (struct op[]){ { .name = "a.example", .level = 1 },
	                                          { .name = "b.example", .level = 1 },
	                                          { .fail = -EIO } }, NULL), -EIO);
	assert_int_equal(current_serial(), s0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	uint8_t kb[PDB__JOURNAL_KEY_LEN];
	MDB_val k = pdb__val(kb, sizeof(kb)), v;
	for (uint32_t item = 0; item < 3; item++) {
		pdb__journal_key(kb, s0 + 1, item);
		assert_int_equal(mdb_get(t->txn, db->meta, &k, &v), MDB_NOTFOUND);
	}
	pdb_read_end(t);
	/* The next commit takes that serial, with its own changes only. */
	uint64_t s1 = commit((struct op[]){ { .name = "c.example", .level = 1 }, { 0 } });
	assert_int_equal(s1, s0 + 1);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.total, 1);
	assert_string_equal(s.v[0].name, "c.example");
	assert_int_equal(pdb_read_begin(db, &t), 0);
	pdb__journal_key(kb, s1, 0);
	assert_int_equal(mdb_get(t->txn, db->meta, &k, &v), 0);
	assert_int_equal(pdb__commit_decode(v.mv_data, v.mv_size, &h), 0);
	assert_int_equal(h.count, 1);
	pdb_read_end(t);
}

/* A body run again after the map grew records its changes once. */
static int put_large(pdb_wtxn *w, void *arg)
{
	char name[64], note[PDB_TEXT_MAX];
	struct pdb_member m;
	int rc;

	(void)arg;
	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	for (unsigned i = 0; i < 2000; i++) {
		fixture_member(&m, 1, NULL, NULL);
		m.note = pdb_str_of(note);
		snprintf(name, sizeof(name), "large%05u.example", i);
		if ((rc = pdb_w_put_member(w, name, &m)) != 0)
			return rc;
	}
	return 0;
}

static void test_retry_after_map_growth_records_once(void **state)
{
	struct pdb_limits lim = { .map_size = 1 << 20, .map_max = 256 << 20 };
	struct seen s;
	(void)state;

	pdb_close(db);
	assert_int_equal(pdb_open(path, 0, &lim, &db), 0);
	uint64_t s0 = current_serial();
	assert_int_equal(pdb_write(db, "large", put_large, NULL, NULL), 0);
	assert_int_equal(since(s0, &s), 0);
	assert_int_equal(s.total, 2000);
	assert_int_equal(pdb_verify(db, NULL, NULL), 0);
}

/* ---- verify ---- */

struct damage {
	int n;
	char why[128];
};

static void note_damage(void *arg, const char *dbname, const char *key, const char *why)
{
	struct damage *d = arg;
	(void)key;
	if (strcmp(dbname, "meta") == 0 && d->n++ == 0)
		snprintf(d->why, sizeof(d->why), "%s", why);
}

struct raw {
	uint64_t serial;
	uint32_t item;
	const void *val;
	size_t len;
};

static int put_raw_journal(pdb_wtxn *w, void *arg)
{
	const struct raw *r = arg;
	uint8_t kb[PDB__JOURNAL_KEY_LEN];

	pdb__journal_key(kb, r->serial, r->item);
	MDB_val k = pdb__val(kb, sizeof(kb)), v = pdb__val(r->val, r->len);
	return mdb_put(pdb_w_txn(w)->txn, db->meta, &k, &v, 0) ? PDB_ELMDB : 0;
}

static void test_verify_checks_journal_records(void **state)
{
	struct damage d = { 0 };
	struct pdb_verify_cb cb = { NULL, note_damage, &d };
	struct seen s;
	(void)state;

	uint64_t s1 = commit((struct op[]){ { .name = "a.example", .level = 1 }, { 0 } });
	commit((struct op[]){ { .name = "a.example", .level = 2 }, { 0 } });
	assert_int_equal(pdb_verify(db, &cb, NULL), 0);
	assert_int_equal(d.n, 0);

	/* An item that is no record. */
	struct raw bad = { s1, 1, "garbage", 7 };
	assert_int_equal(pdb_write(db, "damage", put_raw_journal, &bad, NULL), 0);
	assert_int_equal(pdb_verify(db, &cb, NULL), PDB_ECORRUPT);
	assert_string_equal(d.why, "a journal item does not decode");
	assert_int_equal(since(s1 - 1, &s), PDB_ECORRUPT);

	/* An item more than its header counts. */
	uint8_t rec[PDB__CHANGE_MAX];
	size_t len;
	struct pdb__change_rec c = { .kind = PDB_CHANGE_MEMBER, .name = pdb_str_of("z.example") };
	assert_int_equal(pdb__change_encode(&c, rec, sizeof(rec), &len), 0);
	struct raw good = { s1, 1, rec, len }, extra = { s1, 2, rec, len };
	assert_int_equal(pdb_write(db, "repair", put_raw_journal, &good, NULL), 0);
	assert_int_equal(since(s1 - 1, &s), 0);
	assert_int_equal(pdb_write(db, "damage", put_raw_journal, &extra, NULL), 0);
	d = (struct damage){ 0 };
	assert_int_equal(pdb_verify(db, &cb, NULL), PDB_ECORRUPT);
	assert_string_equal(d.why, "a journal commit holds other items than its header counts");
	assert_int_equal(since(s1 - 1, &s), PDB_ECORRUPT);
}

/* Every truncation of an item and a header is refused, and no byte
 * flipped anywhere makes the decoder read past the record (ASan). */
static void test_damaged_items_refused(void **state)
{
	uint8_t rec[PDB_RECORD_MAX], item[PDB__CHANGE_MAX], copy[PDB__CHANGE_MAX];
	struct pdb__change_rec c = { .kind = PDB_CHANGE_MEMBER, .name = pdb_str_of("a.example"),
	                             .existed = true }, d;
	struct pdb__commit_rec h = { 0, 3 }, hd;
	size_t len, hlen;
	(void)state;

	c.before_len = member_rec(2, rec);
	c.before = rec;
	assert_int_equal(pdb__change_encode(&c, item, sizeof(item), &len), 0);
	assert_int_equal(pdb__change_decode(item, len, &d), 0);
	assert_int_equal(d.before_len, c.before_len);
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, item, n);
		assert_int_equal(pdb__change_decode(copy, n, &d), PDB_ECORRUPT);
	}
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, item, len);
		copy[i] ^= 0x41;
		(void)pdb__change_decode(copy, len, &d);
	}
	assert_int_equal(pdb__commit_encode(&h, copy, sizeof(copy), &hlen), 0);
	assert_int_equal(pdb__commit_decode(copy, hlen, &hd), 0);
	assert_int_equal(hd.count, 3);
	for (size_t n = 0; n < hlen; n++)
		assert_int_equal(pdb__commit_decode(copy, n, &hd), PDB_ECORRUPT);
	/* An item of another kind's shape. */
	c = (struct pdb__change_rec){ .kind = PDB_CHANGE_OVERRIDE, .name = pdb_str_of("a.example") };
	assert_int_equal(pdb__change_encode(&c, item, sizeof(item), &len), 0);
	assert_int_equal(pdb__change_decode(item, len, &d), PDB_ECORRUPT);
}

/* Make the store one written before the journal existed: no journal
 * keys in meta, no setting (a raw transaction, past pdb_write). */
static void drop_journal(void)
{
	MDB_val k = pdb__val(PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN), v;
	MDB_val mk = pdb__key(PDB__JOURNAL_MAX_KEY);
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	assert_int_equal(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_cursor_open(txn, db->meta, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (memcmp(k.mv_data, PDB__JOURNAL_PREFIX, PDB__JOURNAL_PREFIX_LEN) != 0)
			break;
		assert_int_equal(mdb_cursor_del(cur, 0), 0);
	}
	mdb_cursor_close(cur);
	rc = mdb_del(txn, db->meta, &mk, NULL);
	assert_true(rc == 0 || rc == MDB_NOTFOUND);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void test_store_without_journal_opens_and_starts_one(void **state)
{
	struct seen s;
	pdb_t *ro;
	pdb_txn *t;
	uint64_t o;
	(void)state;

	commit((struct op[]){ { .name = "a.example", .level = 1 }, { 0 } });
	drop_journal();
	uint64_t s0 = current_serial();

	assert_int_equal(pdb_open(path, PDB_RDONLY, NULL, &ro), 0);
	assert_int_equal(pdb_read_begin(ro, &t), 0);
	assert_int_equal(pdb_journal_oldest(t, &o), 0);
	assert_int_equal(o, s0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(pdb_changes_since(t, s0 - 1, collect, &s), PDB_ETOOOLD);
	pdb_read_end(t);
	assert_int_equal(pdb_verify(db, NULL, NULL), 0);

	commit((struct op[]){ { .name = "a.example", .level = 2 }, { 0 } });
	/* The read-only handle, opened before the journal began, sees it. */
	assert_int_equal(pdb_read_begin(ro, &t), 0);
	assert_int_equal(pdb_changes_since(t, s0, collect, &s), 0);
	assert_int_equal(s.total, 1);
	assert_member_item(&s.v[0], "a.example", 1);
	assert_int_equal(pdb_changes_since(t, s0 - 1, collect, &s), PDB_ETOOOLD);
	pdb_read_end(t);
	pdb_close(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_del_recorded_with_before_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_append_records_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_changes_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_community_change_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_records_only_what_differs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_after_put_in_same_commit_keeps_first_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_over_bound_is_everything_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pruned_at_journal_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_old_and_too_new_serials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_reconstructs_older_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aborted_write_leaves_no_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_map_growth_records_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_checks_journal_records, setup, teardown),
		cmocka_unit_test(test_damaged_items_refused),
		cmocka_unit_test_setup_teardown(test_store_without_journal_opens_and_starts_one, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
