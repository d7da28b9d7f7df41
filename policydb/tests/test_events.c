/* Time events and served serials: the writer indexes each member's
 * not-after and each removal's grace end; readers count those passed since
 * the commit, and find the state behind a served serial. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"
#include "internal.h"

static char dir[256];
static pdb_t *db;

static int setup(void **state)
{
	(void)state;
	assert_non_null(db = fixture_store_new(dir, sizeof(dir), "pdb-events"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, dir);
}

struct expiring {
	const char *name;
	int64_t not_after;   /* 0: none */
};

static int put_expiring(pdb_wtxn *w, void *arg)
{
	const struct expiring *e = arg;
	struct pdb_member m;

	fixture_member(&m, 1, NULL, NULL);
	m.not_after = e->not_after;
	return pdb_w_put_member(w, e->name, &m);
}

static int del_one(pdb_wtxn *w, void *arg)
{
	return pdb_w_del_member(w, arg);
}

static int set_grace(pdb_wtxn *w, void *arg)
{
	return pdb_w_removed_grace(w, *(const uint32_t *)arg);
}

static void put(const char *name, int64_t not_after)
{
	struct expiring e = { name, not_after };
	assert_int_equal(pdb_write(db, "test put", put_expiring, &e, NULL), 0);
}

static void served_at(int64_t now, uint64_t *served, int64_t *next)
{
	pdb_txn *t;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_served_serial(t, now, served, next), 0);
	pdb_read_end(t);
}

struct seen {
	int n;
	int64_t when[8];
	enum pdb_event_kind kind[8];
	char name[8][64];
};

static int seen_one(void *arg, int64_t when, enum pdb_event_kind kind, const char *name)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->when[s->n] = when;
		s->kind[s->n] = kind;
		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
	}
	s->n++;
	return 0;
}

static void events(struct seen *s)
{
	pdb_txn *t;

	memset(s, 0, sizeof(*s));
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_walk_events(t, 0, INT64_MAX, seen_one, s), 0);
	pdb_read_end(t);
}

/* The served serial moves once per passed not-after, with no commit, and
 * says when it moves next. */
static void test_served_serial_counts_passed_not_afters(void **state)
{
	int64_t now = (int64_t)time(NULL), next;
	uint64_t base, s;

	(void)state;
	put("a.example", now + 100);
	put("b.example", now + 200);
	served_at(now, &base, &next);
	assert_int_equal(next, now + 100);
	served_at(now + 99, &s, &next);
	assert_int_equal(s, base);
	served_at(now + 100, &s, &next);
	assert_int_equal(s, base + 1);
	assert_int_equal(next, now + 200);
	served_at(now + 1000, &s, &next);
	assert_int_equal(s, base + 2);
	assert_int_equal(next, 0);
}

/* A not-after changed before it passes leaves no event behind: the
 * served serial does not move for a time that no longer changes anything. */
static void test_changed_not_after_drops_its_event(void **state)
{
	int64_t now = (int64_t)time(NULL);
	struct seen s;

	(void)state;
	put("a.example", now + 100);
	put("a.example", now + 500);
	events(&s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.when[0], now + 500);
	assert_int_equal(s.kind[0], PDB_EVENT_NOT_AFTER);
	assert_string_equal(s.name[0], "a.example");
	put("a.example", 0);
	events(&s);
	assert_int_equal(s.n, 0);
}

/* A removal's grace end is an event, and moves with the store's grace. */
static void test_removal_grace_end_is_an_event(void **state)
{
	uint32_t grace = 50, have;
	struct seen s;
	pdb_txn *t;

	(void)state;
	assert_int_equal(pdb_write(db, "test grace", set_grace, &grace, NULL), 0);
	put("gone.example", 0);
	assert_int_equal(pdb_write(db, "test del", del_one, "gone.example", NULL), 0);
	int64_t when;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_get_removed(t, "gone.example", &when), 0);
	assert_int_equal(pdb_removed_grace(t, &have), 0);
	assert_int_equal(have, 50);
	pdb_read_end(t);
	events(&s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], PDB_EVENT_GRACE_END);
	assert_int_equal(s.when[0], when + 50);
	grace = 80;
	assert_int_equal(pdb_write(db, "test grace", set_grace, &grace, NULL), 0);
	events(&s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.when[0], when + 80);
	/* Back as a member: no grace to end. */
	put("gone.example", 0);
	events(&s);
	assert_int_equal(s.n, 0);
}

/* A commit moves the served serial past every event that passed since
 * the last one, and by one more: it never goes back.  The serial served
 * between the two commits still leads to the older commit and the time
 * of the event. */
static void test_commit_after_event_never_goes_back(void **state)
{
	int64_t now = (int64_t)time(NULL), next, at;
	uint64_t before, after, moved, serial, commit;
	pdb_txn *t;

	(void)state;
	put("a.example", now + 2);
	served_at(now, &before, &next);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_serial(t, &commit), 0);
	pdb_read_end(t);
	/* Bounded: the event is two or three seconds ahead. */
	while ((int64_t)time(NULL) <= now + 2)
		usleep(100000);
	served_at((int64_t)time(NULL), &moved, &next);
	assert_int_equal(moved, before + 1);
	put("b.example", 0);
	served_at((int64_t)time(NULL), &after, &next);
	assert_int_equal(after, moved + 1);

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_served_find(t, moved, (int64_t)time(NULL), &serial, &at), 0);
	assert_int_equal(serial, commit);
	assert_int_equal(at, now + 2);
	assert_int_equal(pdb_served_find(t, before, (int64_t)time(NULL), &serial, &at), 0);
	assert_int_equal(serial, commit);
	assert_true(at <= now);
	assert_int_equal(pdb_served_find(t, after, (int64_t)time(NULL), &serial, &at), 0);
	assert_int_equal(serial, commit + 1);
	/* Never served: past the current one. */
	assert_int_equal(pdb_served_find(t, after + 1, (int64_t)time(NULL), &serial, &at), PDB_ETOOOLD);
	pdb_read_end(t);
}

/* The epochs and past events go with the journal: journal-max 0 keeps
 * only the newest commit's. */
static int journal_off(pdb_wtxn *w, void *arg)
{
	(void)arg;
	return pdb_w_journal_max(w, 0);
}

static void test_epochs_pruned_with_the_journal(void **state)
{
	int64_t now = (int64_t)time(NULL), next, at;
	uint64_t first, serial;
	pdb_txn *t;

	(void)state;
	served_at(now, &first, &next);
	assert_int_equal(pdb_write(db, "test journal", journal_off, NULL, NULL), 0);
	put("a.example", 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_served_find(t, first, now, &serial, &at), PDB_ETOOOLD);
	pdb_read_end(t);
}

static uint64_t stamp_of(const char *name, int64_t now)
{
	uint64_t s;
	pdb_txn *t;

	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_member_stamp(t, name, now, &s), 0);
	pdb_read_end(t);
	return s;
}

static int put_override(pdb_wtxn *w, void *arg)
{
	(void)arg;
	return pdb_w_put_override(w, "a.example", "b.example", PDB_OVERRIDE_DENY);
}

static int put_community(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;

	(void)arg;
	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	return pdb_w_put_community(w, &c);
}

/* A member's stamp moves with its own changes, an override of it, its
 * event, and changes to every member; not with another member's. */
static void test_member_stamp_moves_only_with_its_own_changes(void **state)
{
	int64_t now = (int64_t)time(NULL), next;
	uint64_t a0, b0, served;

	(void)state;
	put("a.example", 0);
	put("b.example", 0);
	a0 = stamp_of("a.example", now);
	b0 = stamp_of("b.example", now);
	served_at(now, &served, &next);
	assert_int_equal(b0, served);
	assert_true(a0 < b0);
	put("c.example", 0);
	assert_int_equal(stamp_of("a.example", now), a0);
	assert_int_equal(stamp_of("b.example", now), b0);
	assert_int_equal(pdb_write(db, "test override", put_override, NULL, NULL), 0);
	served_at(now, &served, &next);
	assert_int_equal(stamp_of("a.example", now), served);
	assert_int_equal(stamp_of("b.example", now), served);
	assert_int_equal(stamp_of("c.example", now), served - 1);
	/* A time event: the served serial it passed at. */
	put("c.example", now + 100);
	served_at(now + 100, &served, &next);
	assert_int_equal(stamp_of("c.example", now + 100), served);
	assert_true(stamp_of("a.example", now + 100) < served);
	/* The community: every member. */
	assert_int_equal(pdb_write(db, "test community", put_community, NULL, NULL), 0);
	served_at(now, &served, &next);
	assert_int_equal(stamp_of("a.example", now), served);
	assert_int_equal(stamp_of("", now), served);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_served_serial_counts_passed_not_afters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_not_after_drops_its_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_grace_end_is_an_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_after_event_never_goes_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epochs_pruned_with_the_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_stamp_moves_only_with_its_own_changes, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
