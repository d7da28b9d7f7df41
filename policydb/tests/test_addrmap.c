/* The address map: the trie against a brute-force scan on random
 * prefixes of both families, overlapping, added and removed; and a map
 * followed through the journal against one built afresh. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

/* ---- the trie against a scan ---- */

#define NPAIRS 3000

struct pair {
	struct pdb_addr p;
	char name[32];
	bool in;
};

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Prefixes from a small pool of roots, so that many overlap and nest. */
static void random_prefix(struct pdb_addr *a)
{
	static const uint8_t roots[3][16] = { { 10, 1 }, { 192, 0, 2 }, { 0x20, 0x01, 0x0d, 0xb8 } };
	unsigned r = rnd() % 3, bits;

	memset(a, 0, sizeof(*a));
	a->family = r == 2 ? 6 : 4;
	bits = a->family == 4 ? 32 : 128;
	memcpy(a->bytes, roots[r], 16);
	/* Random bits below the root, few of them so that prefixes collide. */
	for (unsigned i = 12; i < bits && i < 40; i++)
		if (rnd() % 3 == 0)
			a->bytes[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	a->prefix = (uint8_t)(rnd() % 4 == 0 ? bits : 8 + rnd() % (bits - 7 < 33 ? bits - 7 : 33));
	if (a->prefix > bits)
		a->prefix = (uint8_t)bits;
	for (unsigned i = a->prefix; i < 128; i++)
		a->bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

/* The old way: every pair, the longest, the first name among equals. */
static const char *scan(const struct pair *v, size_t n, int family, const uint8_t *addr)
{
	const struct pair *best = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].in || !pdb_addr_in(&v[i].p, family, addr))
			continue;
		if (!best || v[i].p.prefix > best->p.prefix ||
		    (v[i].p.prefix == best->p.prefix && strcmp(v[i].name, best->name) < 0))
			best = &v[i];
	}
	return best ? best->name : NULL;
}

static bool same_pair(const struct pair *a, const struct pair *b)
{
	return a->p.family == b->p.family && a->p.prefix == b->p.prefix &&
	       memcmp(a->p.bytes, b->p.bytes, 16) == 0 && strcmp(a->name, b->name) == 0;
}

static void check_lookups(const struct pdb_addr_map *m, const struct pair *v, size_t n)
{
	for (int k = 0; k < 2000; k++) {
		struct pdb_addr a;
		uint8_t addr[16];
		/* An address near a listed prefix, or anywhere in its root. */
		random_prefix(&a);
		memcpy(addr, a.bytes, 16);
		for (unsigned i = a.prefix; i < (a.family == 4 ? 32u : 128u); i++)
			if (rnd() & 1)
				addr[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		const char *want = scan(v, n, a.family, addr);
		const char *got = pdb_addr_map_member(m, pdb_addr_map_find(m, a.family, addr));
		if (!want)
			assert_null(got);
		else
			assert_string_equal(got, want);
	}
}

/* A random prefix for a random one of 500 names, not in the map yet. */
static void random_pair(struct pair *v)
{
	random_prefix(&v->p);
	snprintf(v->name, sizeof(v->name), "m%u.example", rnd() % 500);
	v->in = false;
}

/* Add v[i] to m, which must say whether an equal pair among v[0..n) was
 * in already (1) or not (0).  Returns 1 when the map holds one pair more. */
static size_t add_checked(struct pdb_addr_map *m, struct pair *v, size_t n, size_t i)
{
	bool dup = false;

	for (size_t j = 0; j < n && !dup; j++)
		dup = v[j].in && same_pair(&v[j], &v[i]);
	assert_int_equal(pdb_addr_map_add(m, &v[i].p, v[i].name), dup ? 1 : 0);
	v[i].in = v[i].in || !dup;
	return !dup;
}

/* Remove every pair still in: the map is empty after, down to its roots. */
static void remove_all(struct pdb_addr_map *m, struct pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].in)
			assert_int_equal(pdb_addr_map_remove(m, &v[i].p, v[i].name), 0);
	assert_int_equal(m->n, 0);
	assert_int_equal(m->root[0], 0);
	assert_int_equal(m->root[1], 0);
	pdb_addr_map_free(m);
}

static void test_trie_matches_scan(void **state)
{
	static struct pair v[NPAIRS];
	struct pdb_addr_map m = { 0 };
	size_t held = 0;

	(void)state;
	for (size_t i = 0; i < NPAIRS; i++) {
		random_pair(&v[i]);
		held += add_checked(&m, v, i, i);
	}
	assert_int_equal(m.n, held);
	check_lookups(&m, v, NPAIRS);
	/* Remove a random half, then every other: the trie prunes as it goes. */
	for (size_t i = 0; i < NPAIRS; i++) {
		if (!v[i].in || rnd() % 2)
			continue;
		assert_int_equal(pdb_addr_map_remove(&m, &v[i].p, v[i].name), 0);
		assert_int_equal(pdb_addr_map_remove(&m, &v[i].p, v[i].name), PDB_ENOTFOUND);
		v[i].in = false;
		held--;
	}
	assert_int_equal(m.n, held);
	check_lookups(&m, v, NPAIRS);
	/* Put some back: ids freed before are taken again. */
	for (size_t i = 0; i < NPAIRS; i += 3)
		(void)add_checked(&m, v, NPAIRS, i);
	check_lookups(&m, v, NPAIRS);
	remove_all(&m, v, NPAIRS);
}

/* As a map is followed: adds and removes in any order, the lookups
 * checked against the scan all along, so that a prune or an index taken
 * again from the free list that leaves a wrong link shows at once. */
static void test_trie_interleaved_matches_scan(void **state)
{
	static struct pair v[NPAIRS];
	struct pdb_addr_map m = { 0 };
	size_t held = 0;

	(void)state;
	for (size_t i = 0; i < NPAIRS; i++)
		random_pair(&v[i]);
	for (unsigned step = 1; step <= 30000; step++) {
		size_t i = rnd() % NPAIRS;
		if (v[i].in) {
			assert_int_equal(pdb_addr_map_remove(&m, &v[i].p, v[i].name), 0);
			v[i].in = false;
			held--;
		} else {
			held += add_checked(&m, v, NPAIRS, i);
		}
		assert_int_equal(m.n, held);
		if (step % 1500 == 0)
			check_lookups(&m, v, NPAIRS);
	}
	check_lookups(&m, v, NPAIRS);
	remove_all(&m, v, NPAIRS);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* A node used to be an allocation of its own with two child pointers and
 * 16 key bytes, indexed again by pointer and id, and each member of a
 * prefix another allocation: about 200 bytes a prefix, per thread of dnsd
 * (a million members with a querier each cost it 50 MB a map).  Distinct
 * /24s, one member each, as most communities have. */
static void test_trie_memory_per_prefix_is_small(void **state)
{
	enum { N = 50000 };
	struct pdb_addr_map m = { 0 };
	char name[32];
	size_t before = heap_in_use(), per;

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		struct pdb_addr p = { .family = 4, .prefix = 24 };
		p.bytes[0] = 10;
		p.bytes[1] = (uint8_t)(i >> 8);
		p.bytes[2] = (uint8_t)i;
		snprintf(name, sizeof(name), "m%07u.bench.example", i);
		assert_int_equal(pdb_addr_map_add(&m, &p, name), 0);
	}
	per = (heap_in_use() - before) / N;
	print_message("address map: %zu bytes a prefix\n", per);
	pdb_addr_map_free(&m);
	if (per == 0)
		skip();   /* another allocator (a sanitizer's): glibc's counts nothing */
	assert_true(per <= 128);
}

static void test_trie_arguments(void **state)
{
	struct pdb_addr_map m = { 0 };
	struct pdb_addr p, bad;
	const uint8_t a[4] = { 192, 0, 2, 1 };

	(void)state;
	assert_int_equal(pdb_addr_parse("192.0.2.0/24", true, &p), 0);
	bad = p;
	bad.prefix = 33;
	assert_int_equal(pdb_addr_map_add(&m, &bad, "a.example"), -EINVAL);
	bad.family = 5;
	bad.prefix = 8;
	assert_int_equal(pdb_addr_map_add(&m, &bad, "a.example"), -EINVAL);
	assert_int_equal(pdb_addr_map_add(NULL, &p, "a.example"), -EINVAL);
	assert_int_equal(pdb_addr_map_add(&m, &p, NULL), -EINVAL);
	assert_int_equal(pdb_addr_map_remove(&m, &p, "a.example"), PDB_ENOTFOUND);
	/* /0 holds every address of its family, and only of it. */
	assert_int_equal(pdb_addr_parse("0.0.0.0/0", true, &p), 0);
	assert_int_equal(pdb_addr_map_add(&m, &p, "all.example"), 0);
	assert_string_equal(pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, a)), "all.example");
	assert_int_equal(pdb_addr_map_find(&m, 6, (const uint8_t *)"0123456789abcdef"), -1);
	assert_int_equal(pdb_addr_map_find(&m, 5, a), -1);
	pdb_addr_map_free(&m);
}

/* ---- following the journal ---- */

static char path[256];
static pdb_t *db;

static int setup(void **state)
{
	(void)state;
	db = fixture_store_new(path, sizeof(path), "pdb-addrmap");
	return db ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, path);
}

/* A batch of random edits to members m0..m59: queriers and addresses
 * from a small pool, removals, and members that change nothing. */
static int random_edits(pdb_wtxn *w, void *arg)
{
	unsigned n = *(unsigned *)arg;
	struct pdb_member m;
	char name[32];
	int rc;

	for (unsigned k = 0; k < n; k++) {
		snprintf(name, sizeof(name), "m%u.example", rnd() % 60);
		if (rnd() % 5 == 0) {
			rc = pdb_w_del_member(w, name);
			if (rc != 0 && rc != PDB_ENOTFOUND)
				return rc;
			continue;
		}
		fixture_member(&m, (uint8_t)(rnd() % 3), NULL, NULL);
		unsigned nq = rnd() % 3, na = rnd() % 3;
		for (unsigned i = 0; i < nq; i++)
			random_prefix(&m.queriers[m.nqueriers++]);
		for (unsigned i = 0; i < na; i++) {
			random_prefix(&m.addrs[m.naddrs]);
			m.addrs[m.naddrs].prefix = m.addrs[m.naddrs].family == 4 ? 32 : 128;
			m.naddrs++;
		}
		if ((rc = pdb_w_put_member(w, name, &m)) != 0)
			return rc;
	}
	return 0;
}

static void same_answers(const struct pdb_addr_map *a, const struct pdb_addr_map *b)
{
	for (int k = 0; k < 3000; k++) {
		struct pdb_addr p;
		random_prefix(&p);
		for (unsigned i = p.prefix; i < 128; i++)
			if (rnd() & 1)
				p.bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		const char *x = pdb_addr_map_member(a, pdb_addr_map_find(a, p.family, p.bytes));
		const char *y = pdb_addr_map_member(b, pdb_addr_map_find(b, p.family, p.bytes));
		if (!y)
			assert_null(x);
		else
			assert_string_equal(x, y);
	}
	assert_int_equal(a->n, b->n);
}

static void test_follow_matches_rebuild(void **state)
{
	struct pdb_addr_map q = { 0 }, a = { 0 }, fresh = { 0 };
	pdb_txn *t;
	bool changed;

	(void)state;
	for (int round = 0; round < 40; round++) {
		/* Several commits between two follows, some of them touching
		 * the same member twice. */
		for (int c = 0, n = 1 + (int)(rnd() % 4); c < n; c++) {
			unsigned edits = 1 + rnd() % 6;
			assert_int_equal(pdb_write(db, "edit", random_edits, &edits, NULL), 0);
		}
		assert_int_equal(pdb_read_begin(db, &t), 0);
		assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, &changed), 0);
		assert_int_equal(pdb_addr_map_follow(&a, t, PDB_LIST_ADDRESSES, NULL), 0);
		assert_int_equal(pdb_addr_map_build(&fresh, t, PDB_LIST_QUERIERS), 0);
		same_answers(&q, &fresh);
		assert_int_equal(pdb_addr_map_build(&fresh, t, PDB_LIST_ADDRESSES), 0);
		same_answers(&a, &fresh);
		/* Nothing new: nothing changes. */
		assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, &changed), 0);
		assert_false(changed);
		pdb_read_end(t);
	}
	pdb_addr_map_free(&q);
	pdb_addr_map_free(&a);
	pdb_addr_map_free(&fresh);
}

static int put_level(pdb_wtxn *w, void *arg)
{
	struct pdb_member m;
	int rc;

	(void)arg;
	if ((rc = pdb_get_member(pdb_w_txn(w), "m1.example", &m)) == PDB_ENOTFOUND)
		fixture_member(&m, 0, NULL, NULL);
	else if (rc)
		return rc;
	m.level = (uint8_t)((m.level + 1) % 3);
	return pdb_w_put_member(w, "m1.example", &m);
}

/* A commit that changes no querier says so: dnsd keeps its views. */
static void test_follow_level_change_is_no_view_change(void **state)
{
	struct pdb_addr_map q = { 0 };
	pdb_txn *t;
	bool changed;

	(void)state;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, &changed), 0);
	assert_true(changed);
	pdb_read_end(t);
	assert_int_equal(pdb_write(db, "level", put_level, NULL, NULL), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, &changed), 0);
	assert_false(changed);
	pdb_read_end(t);
	pdb_addr_map_free(&q);
}

static int set_journal_off(pdb_wtxn *w, void *arg)
{
	(void)arg;
	return pdb_w_journal_max(w, 0);
}

/* Past the journal's reach the map is built again, and says so. */
static void test_follow_rebuilds_when_too_old(void **state)
{
	struct pdb_addr_map q = { 0 }, fresh = { 0 };
	unsigned edits = 20;
	pdb_txn *t;
	bool changed;

	(void)state;
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, NULL), 0);
	pdb_read_end(t);
	assert_int_equal(pdb_write(db, "off", set_journal_off, NULL, NULL), 0);
	assert_int_equal(pdb_write(db, "edit", random_edits, &edits, NULL), 0);
	assert_int_equal(pdb_read_begin(db, &t), 0);
	assert_int_equal(pdb_addr_map_follow(&q, t, PDB_LIST_QUERIERS, &changed), 0);
	assert_true(changed);
	assert_int_equal(pdb_addr_map_build(&fresh, t, PDB_LIST_QUERIERS), 0);
	same_answers(&q, &fresh);
	pdb_read_end(t);
	pdb_addr_map_free(&q);
	pdb_addr_map_free(&fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trie_matches_scan),
		cmocka_unit_test(test_trie_interleaved_matches_scan),
		cmocka_unit_test(test_trie_memory_per_prefix_is_small),
		cmocka_unit_test(test_trie_arguments),
		cmocka_unit_test_setup_teardown(test_follow_matches_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_level_change_is_no_view_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_rebuilds_when_too_old, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
