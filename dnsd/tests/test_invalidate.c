/* Commits and the answer cache: a commit leaves the answers it did not
 * change in the cache, and no answer it changed is served again; the
 * views follow the journal (queriers added, moved, removed), decisions
 * follow levels and overrides, and past the journal everything is new. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "fixture.h"
#include "internal.h"

/* ---- the policy: members a, b, c, d; b's and c's resolvers are views ---- */

static const struct dnsd_client b_res = { .family = 4, .addr = { 203, 0, 113, 9 }, .tcp = true };
static const struct dnsd_client c_res = {
	.family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, [15] = 1 }, .tcp = true };
static const struct dnsd_client nobody = { .family = 4, .addr = { 192, 0, 2, 99 }, .tcp = true };

struct edit {
	const char *name;
	int level;                /* -1: remove the member */
	int min_peer_level;       /* -1: none */
	const char *querier;      /* NULL: none */
	const char *pair;         /* with name: an override instead */
	enum pdb_override ov;
	enum pdb_fallback fallback;   /* with name NULL: the community */
	int journal_max;          /* > 0 with name NULL: set it (1000 + value - 1) */
};

static int put(pdb_wtxn *w, const struct edit *e)
{
	struct pdb_member m;
	int rc;

	if (e->pair)
		return pdb_w_put_override(w, e->name, e->pair, e->ov);
	if (e->level < 0)
		return pdb_w_del_member(w, e->name);
	pdb_member_init(&m);
	m.level = (uint8_t)e->level;
	m.ntargets = 1;
	m.targets[0].host = pdb_str_of("own.example.net");
	m.targets[0].port = 5269;
	if (e->min_peer_level >= 0) {
		m.policy.set = PDB_POLICY_MIN_LEVEL;
		m.policy.min_peer_level = (uint8_t)e->min_peer_level;
	}
	if (e->querier && (rc = pdb_addr_parse(e->querier, true, &m.queriers[m.nqueriers++])) != 0)
		return rc;
	return pdb_w_put_member(w, e->name, &m);
}

static int community(pdb_wtxn *w, enum pdb_fallback f)
{
	struct pdb_community c;

	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.nch = 1;
	c.ch[0].host = pdb_str_of("ch.fed.example");
	c.ch[0].port = 5269;
	c.fallback = f;
	return pdb_w_put_community(w, &c);
}

static int apply(pdb_wtxn *w, void *arg)
{
	const struct edit *e = arg;
	int rc;

	for (; e->name || e->fallback || e->journal_max; e++) {
		if (!e->name && e->journal_max)
			rc = pdb_w_journal_max(w, (uint32_t)e->journal_max - 1);
		else if (!e->name)
			rc = community(w, e->fallback);
		else
			rc = put(w, e);
		if (rc)
			return rc;
	}
	return 0;
}

static void commit(struct fixture *f, const struct edit *edits)
{
	assert_int_equal(pdb_write(f->db, "test", apply, (void *)edits, NULL), 0);
}

#define NONE -1
#define MEMBER(n, l, mpl, q) { .name = (n), .level = (l), .min_peer_level = (mpl), .querier = (q) }
#define REMOVE(n) { .name = (n), .level = -1 }
#define OVERRIDE(a, b, o) { .name = (a), .pair = (b), .ov = (o) }
#define END { .name = NULL }

static int setup(void **state)
{
	struct fixture *f = malloc(sizeof(*f));
	const struct edit first[] = {
		{ NULL, .fallback = PDB_FALLBACK_ALLOWED },
		MEMBER("a.fed.example", 1, NONE, NULL),
		MEMBER("b.fed.example", 1, NONE, "203.0.113.0/24"),
		MEMBER("c.fed.example", 1, NONE, "2001:db8:c::/48"),
		MEMBER("d.fed.example", 1, NONE, NULL),
		END,
	};

	assert_non_null(f);
	assert_int_equal(fixture_open(f), 0);
	commit(f, first);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_close(*state);
	free(*state);
	return 0;
}

/* ---- asking ---- */

static size_t make_query(uint8_t *q, const char *name, uint16_t type)
{
	size_t n = LDNS_HEADER_SIZE;

	memset(q, 0, LDNS_HEADER_SIZE);
	q[1] = 7;
	q[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		q[n++] = (uint8_t)l;
		memcpy(q + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

/* The SRV records a querier gets for member's _xmpp-server name that are
 * the member's own hosts (the clearinghouse's have priority 0); -1 for
 * NXDOMAIN. */
static int own_srvs(struct fixture *f, const char *member, const struct dnsd_client *c)
{
	static uint8_t out[DNSD_MSG_MAX];
	char name[300];
	uint8_t q[512];
	size_t qlen, n = 0;
	ldns_pkt *p = NULL;
	int own = 0;

	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", member);
	qlen = make_query(q, name, LDNS_RR_TYPE_SRV);
	assert_int_equal(dnsd_answer(f->engine, q, qlen, c, out, DNSD_MSG_MAX, &n), 0);
	assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN)
		own = -1;
	for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SRV && ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)))
			own++;
	}
	ldns_pkt_free(p);
	return own;
}

/* Is the answer to name and type, for querier c, in the cache and
 * holding?  The key made as the engine makes it. */
static bool cached_as(struct fixture *f, const char *name, uint16_t type,
                      const struct dnsd_client *c)
{
	dnsd_engine *e = f->engine;
	const struct dnsd_cache_deps *deps;
	struct dnsd_cache_key k;
	uint8_t q[512];
	int64_t until;
	uint8_t outcome;
	size_t len;

	size_t qlen = make_query(q, name, type);
	memset(&k, 0, sizeof(k));
	k.zones_gen = e->zones_gen;
	k.view = e->epoch.views_built ? dnsd__view_of(e, c) : -1;
	k.qtype = type;
	k.qname_len = (uint8_t)(qlen - LDNS_HEADER_SIZE - 4);
	memcpy(k.qname, q + LDNS_HEADER_SIZE, k.qname_len);
	return dnsd__cache_get(e->cache, &k, &len, &until, &deps, &outcome) &&
	       dnsd__epoch_holds(&e->epoch, deps);
}

/* The same for member's SRV name. */
static bool cached(struct fixture *f, const char *member, const struct dnsd_client *c)
{
	char name[300];

	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", member);
	return cached_as(f, name, LDNS_RR_TYPE_SRV, c);
}

/* A query that brings the engine to the newest commit. */
static void catch_up(struct fixture *f)
{
	(void)own_srvs(f, "d.fed.example", &nobody);
}

/* ---- the tests ---- */

/* Before: the serial was in the key, so every commit emptied the cache. */
static void test_commit_keeps_cached_answers_of_members_it_did_not_touch(void **state)
{
	struct fixture *f = *state;
	const struct edit level_of_d[] = { MEMBER("d.fed.example", 2, NONE, NULL), END };

	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 0);
	assert_true(cached(f, "a.fed.example", &b_res));
	commit(f, level_of_d);
	catch_up(f);
	assert_true(cached(f, "a.fed.example", &b_res));
	assert_true(cached(f, "a.fed.example", &nobody));
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	/* d's own answer is rendered anew. */
	assert_false(cached(f, "d.fed.example", &b_res));
}

/* The zone's own records do not move with a commit; an answer that
 * carries the community zone's SOA (whose serial is the policy serial)
 * does, with every commit. */
static void test_static_answer_survives_commit_soa_answer_does_not(void **state)
{
	struct fixture *f = *state;
	const struct edit level_of_d[] = { MEMBER("d.fed.example", 2, NONE, NULL), END };
	static uint8_t out[DNSD_MSG_MAX];
	uint8_t q[512];
	size_t n;

	n = make_query(q, "ch.fed.example", LDNS_RR_TYPE_A);
	assert_int_equal(dnsd_answer(f->engine, q, n, &nobody, out, DNSD_MSG_MAX, &n), 0);
	n = make_query(q, "nowhere.fed.example", LDNS_RR_TYPE_A);
	assert_int_equal(dnsd_answer(f->engine, q, n, &nobody, out, DNSD_MSG_MAX, &n), 0);
	assert_true(cached_as(f, "ch.fed.example", LDNS_RR_TYPE_A, &nobody));
	assert_true(cached_as(f, "nowhere.fed.example", LDNS_RR_TYPE_A, &nobody));
	commit(f, level_of_d);
	catch_up(f);
	assert_true(cached_as(f, "ch.fed.example", LDNS_RR_TYPE_A, &nobody));
	assert_false(cached_as(f, "nowhere.fed.example", LDNS_RR_TYPE_A, &nobody));
}

/* The querier's policy (its record) and the member's level flip the
 * decision in that view: neither answer may stay. */
static void test_level_change_flips_fallback_in_querier_view_at_once(void **state)
{
	struct fixture *f = *state;
	const struct edit b_wants_2[] = { MEMBER("b.fed.example", 1, 2, "203.0.113.0/24"), END };
	const struct edit a_is_2[] = { MEMBER("a.fed.example", 2, NONE, NULL), END };
	const struct edit a_is_0[] = { MEMBER("a.fed.example", 0, NONE, NULL), END };

	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	commit(f, b_wants_2);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	commit(f, a_is_2);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	commit(f, a_is_0);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	/* c's view was not touched by any of it: a level 0 is still
	 * enough for c. */
	assert_int_equal(own_srvs(f, "a.fed.example", &c_res), 1);
}

static void test_override_change_is_seen_in_both_views(void **state)
{
	struct fixture *f = *state;
	const struct edit deny[] = { OVERRIDE("a.fed.example", "b.fed.example", PDB_OVERRIDE_DENY),
	                             END };
	const struct edit lift[] = { OVERRIDE("a.fed.example", "b.fed.example", PDB_OVERRIDE_NONE),
	                             END };

	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_int_equal(own_srvs(f, "a.fed.example", &c_res), 1);
	commit(f, deny);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	assert_int_equal(own_srvs(f, "a.fed.example", &c_res), 1);
	commit(f, lift);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
}

/* A querier prefix added, narrowed into another view, removed: the view
 * of an address moves with it, though the address's view was remembered. */
static void test_queriers_change_moves_view_of_remembered_address(void **state)
{
	struct fixture *f = *state;
	const struct edit deny_ac[] = { OVERRIDE("a.fed.example", "c.fed.example", PDB_OVERRIDE_DENY),
	                                END };
	const struct edit c_narrow[] = { MEMBER("c.fed.example", 1, NONE, "203.0.113.0/28"), END };
	const struct edit c_none[] = { MEMBER("c.fed.example", 1, NONE, NULL), END };
	const struct edit d_adds[] = { MEMBER("d.fed.example", 1, NONE, "192.0.2.0/24"), END };
	const struct edit ab_same[] = { MEMBER("ab.fed.example", 1, 2, "203.0.113.0/24"), END };

	commit(f, deny_ac);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 0);
	/* 203.0.113.9 now falls in c's narrower prefix, and c may not. */
	commit(f, c_narrow);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	commit(f, c_none);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	/* An address of no view gets one. */
	commit(f, d_adds);
	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 1);
	/* The same prefix listed by a member whose name sorts first: the
	 * view is now that member's, though the prefix's entry stays. */
	commit(f, ab_same);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
}

static void test_added_and_removed_member_answers_change_at_once(void **state)
{
	struct fixture *f = *state;
	const struct edit add_e[] = { MEMBER("e.fed.example", 1, NONE, NULL), END };
	const struct edit del_a[] = { REMOVE("a.fed.example"), END };

	assert_int_equal(own_srvs(f, "e.fed.example", &b_res), -1);
	commit(f, add_e);
	assert_int_equal(own_srvs(f, "e.fed.example", &b_res), 1);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	commit(f, del_a);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), -1);
	/* Neither e nor b changed: e as b's view sees it holds. */
	assert_true(cached(f, "e.fed.example", &b_res));
}

/* The community's fallback setting changes every answer. */
static void test_community_change_invalidates_every_answer(void **state)
{
	struct fixture *f = *state;
	const struct edit always[] = { { NULL, .fallback = PDB_FALLBACK_ALWAYS }, END };

	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 0);
	commit(f, always);
	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 1);
}

/* With no journal, a commit is "everything changed": still right. */
static void test_commit_past_journal_renders_every_answer_anew(void **state)
{
	struct fixture *f = *state;
	const struct edit off[] = { { NULL, .journal_max = 1 }, END };
	const struct edit deny[] = { OVERRIDE("a.fed.example", "b.fed.example", PDB_OVERRIDE_DENY),
	                             END };
	const struct edit b_moves[] = { MEMBER("b.fed.example", 1, NONE, "198.51.100.0/24"), END };

	commit(f, off);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_true(cached(f, "a.fed.example", &b_res));
	commit(f, deny);
	catch_up(f);
	assert_false(cached(f, "a.fed.example", &b_res));
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	commit(f, b_moves);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 0);
}

/* ---- the cache's sets ---- */

/* Regression: the cache had four ways a set, and the 13,000 answers of
 * the benchmark's mix put five keys in one of its sets: their answers took
 * each other's place in turn, and every query of theirs was rendered, and
 * signed, anew.  A cache of one set here: five answers under five keys all
 * stay. */
static void test_cache_keeps_five_answers_that_share_a_set(void **state)
{
	struct dnsd_cache *c = dnsd__cache_new(1);
	struct dnsd_cache_deps deps = { .serial = 1 };
	const struct dnsd_cache_deps *got;
	struct dnsd_cache_key k;
	uint8_t wire[16], outcome;
	int64_t until;
	size_t len;

	(void)state;
	assert_non_null(c);
	memset(&k, 0, sizeof(k));
	k.view = -1;
	k.qtype = LDNS_RR_TYPE_SRV;
	k.qname_len = 3;
	for (uint8_t i = 0; i < 5; i++) {
		memcpy(k.qname, (const uint8_t[]){ 1, (uint8_t)('a' + i), 0 }, 3);
		memset(wire, i, sizeof(wire));
		dnsd__cache_put(c, &k, wire, sizeof(wire), 0, &deps, 0);
	}
	for (uint8_t i = 0; i < 5; i++) {
		memcpy(k.qname, (const uint8_t[]){ 1, (uint8_t)('a' + i), 0 }, 3);
		const uint8_t *hit = dnsd__cache_get(c, &k, &len, &until, &got, &outcome);
		assert_non_null(hit);
		assert_int_equal(len, sizeof(wire));
		assert_int_equal(hit[0], i);
	}
	dnsd__cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_keeps_five_answers_that_share_a_set),
		cmocka_unit_test_setup_teardown(test_commit_keeps_cached_answers_of_members_it_did_not_touch,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_answer_survives_commit_soa_answer_does_not,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_change_flips_fallback_in_querier_view_at_once,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_change_is_seen_in_both_views, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_queriers_change_moves_view_of_remembered_address,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_added_and_removed_member_answers_change_at_once,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_community_change_invalidates_every_answer, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_commit_past_journal_renders_every_answer_anew,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
