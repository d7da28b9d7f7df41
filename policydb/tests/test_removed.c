/* Removed members: the writer keeps each removal in the commit that
 * removes the member, forgets it when the member comes back, and prunes
 * old ones; readers see them through pdb_get_removed / pdb_walk_removed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fixtures.h"
#include "internal.h"

static char dir[256];
static pdb_t *db;

static int setup(void **state)
{
	(void)state;
	assert_non_null(db = fixture_store_new(dir, sizeof(dir), "pdb-removed"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, dir);
}

/* A list of names, for the bodies below. */
struct names {
	const char *v[8];
	size_t n;
};

static int put_names(pdb_wtxn *w, void *arg)
{
	const struct names *ns = arg;
	struct pdb_member m;
	int rc;

	fixture_member(&m, 1, NULL, NULL);
	for (size_t i = 0; i < ns->n; i++)
		if ((rc = pdb_w_put_member(w, ns->v[i], &m)) != 0)
			return rc;
	return 0;
}

static int del_names(pdb_wtxn *w, void *arg)
{
	const struct names *ns = arg;
	int rc;

	for (size_t i = 0; i < ns->n; i++)
		if ((rc = pdb_w_del_member(w, ns->v[i])) != 0)
			return rc;
	return 0;
}

/* What policyctl load does: everything cleared, then the new set put. */
static int clear_then_put(pdb_wtxn *w, void *arg)
{
	int rc = pdb_w_clear(w);
	return rc ? rc : put_names(w, arg);
}

static int nothing(pdb_wtxn *w, void *arg)
{
	(void)w, (void)arg;
	return 0;
}

static int removed(const char *name, int64_t *when)
{
	pdb_txn *t;
	int64_t dummy;
	int rc;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	rc = pdb_get_removed(t, name, when ? when : &dummy);
	pdb_read_end(t);
	return rc;
}

static void write_names(pdb_write_fn fn, const char *a, const char *b)
{
	struct names ns = { { a, b }, b ? 2 : a ? 1 : 0 };
	assert_int_equal(pdb_write(db, "test", fn, &ns, NULL), 0);
}

static void test_del_member_keeps_its_removal_time(void **state)
{
	int64_t before, when = 0;

	(void)state;
	write_names(put_names, "gone.example", "stays.example");
	assert_int_equal(removed("gone.example", NULL), PDB_ENOTFOUND);
	before = (int64_t)time(NULL);
	write_names(del_names, "gone.example", NULL);
	assert_int_equal(removed("gone.example", &when), 0);
	assert_true(when >= before && when <= (int64_t)time(NULL));
	assert_int_equal(removed("stays.example", NULL), PDB_ENOTFOUND);
	assert_int_equal(removed("never.example", NULL), PDB_ENOTFOUND);
}

static void test_member_put_again_is_no_longer_removed(void **state)
{
	(void)state;
	write_names(put_names, "back.example", NULL);
	write_names(del_names, "back.example", NULL);
	assert_int_equal(removed("back.example", NULL), 0);
	write_names(put_names, "back.example", NULL);
	assert_int_equal(removed("back.example", NULL), PDB_ENOTFOUND);
}

static void test_load_keeps_removal_of_members_left_out(void **state)
{
	(void)state;
	write_names(put_names, "kept.example", "dropped.example");
	write_names(clear_then_put, "kept.example", NULL);
	assert_int_equal(removed("dropped.example", NULL), 0);
	assert_int_equal(removed("kept.example", NULL), PDB_ENOTFOUND);
	/* A later load with the member again forgets it. */
	write_names(clear_then_put, "kept.example", "dropped.example");
	assert_int_equal(removed("dropped.example", NULL), PDB_ENOTFOUND);
}

static int put_old_removals(pdb_wtxn *w, void *arg)
{
	int64_t now = (int64_t)time(NULL);
	int rc;

	(void)arg;
	if ((rc = pdb__w_put_removed(w, "ancient.example", now - PDB_REMOVED_KEEP - 60)) != 0)
		return rc;
	return pdb__w_put_removed(w, "recent.example", now - PDB_REMOVED_KEEP + 3600);
}

static void test_old_removals_pruned_by_the_next_commit(void **state)
{
	(void)state;
	assert_int_equal(pdb_write(db, "test", put_old_removals, NULL, NULL), 0);
	/* The commit that wrote them pruned the ancient one already. */
	assert_int_equal(removed("ancient.example", NULL), PDB_ENOTFOUND);
	assert_int_equal(removed("recent.example", NULL), 0);
	assert_int_equal(pdb_write(db, "test", nothing, NULL, NULL), 0);
	assert_int_equal(removed("recent.example", NULL), 0);
}

struct seen {
	char names[8][PDB_NAME_MAX + 1];
	size_t n, stop_at;
};

static int collect(void *arg, const char *name, int64_t when)
{
	struct seen *s = arg;

	assert_true(when > 0);
	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
	return s->n == s->stop_at ? 42 : 0;
}

static void test_walk_removed_in_order_and_stops(void **state)
{
	struct seen s = { .stop_at = 0 };
	pdb_txn *t;

	(void)state;
	write_names(put_names, "b.example", "a.example");
	write_names(del_names, "b.example", "a.example");
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_walk_removed(t, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "a.example");
	assert_string_equal(s.names[1], "b.example");
	s = (struct seen){ .stop_at = 1 };
	assert_int_equal(pdb_walk_removed(t, collect, &s), 42);
	assert_int_equal(s.n, 1);
	assert_int_equal(pdb_get_removed(t, NULL, NULL), -EINVAL);
	pdb_read_end(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_del_member_keeps_its_removal_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_put_again_is_no_longer_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_keeps_removal_of_members_left_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_removals_pruned_by_the_next_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_removed_in_order_and_stops, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
