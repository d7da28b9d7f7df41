/* Commits and the answer cache: a commit leaves the answers it did not
 * change in the cache, and no answer it changed is served again; the
 * views follow the journal (queriers added, moved, removed), decisions
 * follow levels and overrides, and past the journal everything is new. */
#include <errno.h>
#include <malloc.h>
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

/* The SRV records of an answer (n bytes) that are the member's own hosts
 * (the clearinghouse's have priority 0); -1 for NXDOMAIN. */
static int own_in(const uint8_t *out, size_t n)
{
	ldns_pkt *p = NULL;
	int own = 0;

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

/* The query for member's _xmpp-server name, into q; returns its length. */
static size_t srv_query(uint8_t *q, const char *member)
{
	char name[300];

	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", member);
	return make_query(q, name, LDNS_RR_TYPE_SRV);
}

/* The SRV records a querier gets for member's _xmpp-server name that are
 * the member's own hosts; -1 for NXDOMAIN. */
static int own_srvs(struct fixture *f, const char *member, const struct dnsd_client *c)
{
	static uint8_t out[DNSD_MSG_MAX];
	uint8_t q[512];
	size_t qlen = srv_query(q, member), n = 0;

	assert_int_equal(dnsd_answer(f->engine, q, qlen, c, out, DNSD_MSG_MAX, &n), 0);
	return own_in(out, n);
}

/* A query of a batch read with the batch (dnsd__prepare) into *pq;
 * returns the key's hash, or 0 when it was not prepared. */
static uint64_t prepare(struct fixture *f, const uint8_t *q, size_t qlen,
                        const struct dnsd_client *c, struct dnsd_prepared *pq)
{
	dnsd__batch_begin(f->engine);
	dnsd__prepare(f->engine, q, qlen, c, pq);
	dnsd__batch_end(f->engine);
	return pq->hash;
}

/* The answer to a query prepare() read, into out; returns its length. */
static size_t answer_prepared(struct fixture *f, const uint8_t *q, size_t qlen,
                              const struct dnsd_client *c, struct dnsd_prepared *pq, uint8_t *out)
{
	size_t n = 0;

	dnsd__batch_begin(f->engine);
	assert_int_equal(dnsd__answer_prepared(f->engine, q, qlen, c, pq, out, DNSD_MSG_MAX, &n), 0);
	dnsd__batch_end(f->engine);
	return n;
}

/* b_res asks for member's SRV, which names the member's own host once
 * (cached so), the query is read with its batch, edits are committed, and
 * then it is answered: how often the answer names the member's own host. */
static int own_after_commit(struct fixture *f, const char *member, const struct edit *edits)
{
	static uint8_t out[DNSD_MSG_MAX];
	struct dnsd_prepared pq;
	uint8_t q[512];
	size_t qlen = srv_query(q, member);

	assert_int_equal(own_srvs(f, member, &b_res), 1);
	assert_true(prepare(f, q, qlen, &b_res, &pq) != 0);
	commit(f, edits);
	return own_in(out, answer_prepared(f, q, qlen, &b_res, &pq, out));
}

/* The query for name and type, into q, and the cache key the engine
 * makes of it for querier c.  Returns the query's length. */
static size_t key_as(struct fixture *f, const char *name, uint16_t type,
                     const struct dnsd_client *c, uint8_t *q, struct dnsd_cache_key *k)
{
	dnsd_engine *e = f->engine;
	size_t qlen = make_query(q, name, type);

	memset(k, 0, sizeof(*k));
	k->zones_gen = e->zones_gen;
	k->view = e->epoch.views_built ? dnsd__view_of(e, c) : -1;
	k->qtype = type;
	k->qname_len = (uint8_t)(qlen - LDNS_HEADER_SIZE - 4);
	memcpy(k->qname, q + LDNS_HEADER_SIZE, k->qname_len);
	return qlen;
}

/* Is the answer to name and type, for querier c, in the cache and
 * holding? */
static bool cached_as(struct fixture *f, const char *name, uint16_t type,
                      const struct dnsd_client *c)
{
	const struct dnsd_cache_deps *deps;
	struct dnsd_cache_key k;
	uint8_t q[512];
	int64_t until;
	uint8_t outcome;
	size_t len;

	key_as(f, name, type, c, q, &k);
	return dnsd__cache_get(f->engine->cache, &k, &len, &until, &deps, &outcome) &&
	       dnsd__epoch_holds(&f->engine->epoch, deps);
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

/* ---- the cache's own size ---- */

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* The cache had 262,144 slots whatever its answers weighed: a thread
 * filled with signed answers (several times an unsigned one) took well
 * over 100 MB, and nothing could set it lower.  Made with a budget, it
 * holds no more than that, evicting as answers come, and still answers
 * what it was given last. */
static void test_cache_stays_within_its_byte_budget(void **state)
{
	enum { BUDGET = 1 << 20, N = 20000, LEN = 700 };
	struct dnsd_cache_deps deps = { .serial = 1 };
	struct dnsd_cache_key k = { .qtype = 33, .qname_len = 24 };
	static uint8_t wire[LEN];
	size_t before = heap_in_use(), len, grown;
	const struct dnsd_cache_deps *got_deps;
	int64_t until;
	uint8_t outcome;
	struct dnsd_cache *c;

	(void)state;
	assert_non_null(c = dnsd__cache_new(BUDGET));
	for (unsigned i = 0; i < N; i++) {
		snprintf((char *)k.qname, sizeof(k.qname), "m%07u.fed.example.....", i);
		wire[0] = (uint8_t)i;
		dnsd__cache_put(c, &k, wire, LEN, 0, &deps, 0);
	}
	grown = heap_in_use() - before;
	assert_non_null(dnsd__cache_get(c, &k, &len, &until, &got_deps, &outcome));
	assert_int_equal(len, LEN);
	/* What the cache counts, whatever the allocator. */
	assert_true(dnsd__cache_bytes(c) <= BUDGET);
	assert_true(dnsd__cache_bytes(c) > BUDGET / 2);
	dnsd__cache_free(c);
	print_message("cache of a %d-byte budget: %zu bytes of heap\n", BUDGET, grown);
	if (grown == 0)
		skip();   /* another allocator (a sanitizer's): glibc's counts nothing */
	assert_true(grown <= BUDGET + BUDGET / 16);
}

/* The table of changed members took 2 MB in every thread at the first
 * commit, whatever it changed.  Now it grows with what changed: a commit
 * of one member costs a few KB, and one of 1,500 members still tells
 * exactly which answers no longer hold. */
static void test_changed_table_grows_with_what_changed(void **state)
{
	enum { MANY = 1500 };
	struct fixture *f = *state;
	const struct edit level_of_d[] = { MEMBER("d.fed.example", 2, NONE, NULL), END };
	const struct edit d_again[] = { MEMBER("d.fed.example", 3, NONE, NULL), END };
	static char names[MANY][32];
	static struct edit many[MANY + 1];
	size_t before, grown;

	assert_int_equal(own_srvs(f, "a.fed.example", &nobody), 0);
	catch_up(f);
	before = heap_in_use();
	commit(f, level_of_d);
	catch_up(f);
	grown = heap_in_use() - before;
	print_message("one member changed: %zu bytes more heap\n", grown);
	assert_true(grown < 256 * 1024 || before == 0);
	assert_true(cached(f, "a.fed.example", &nobody));

	for (unsigned i = 0; i < MANY; i++) {
		snprintf(names[i], sizeof(names[i]), "m%04u.fed.example", i);
		many[i] = (struct edit)MEMBER(names[i], 1, NONE, NULL);
	}
	many[MANY] = (struct edit)END;
	commit(f, many);
	catch_up(f);
	assert_true(f->engine->epoch.changed.span / 16 + 1 >= 2 * MANY);
	assert_true(cached(f, "a.fed.example", &nobody));
	commit(f, d_again);
	(void)own_srvs(f, "a.fed.example", &nobody);
	assert_false(cached(f, "d.fed.example", &nobody));
	assert_true(cached(f, "a.fed.example", &nobody));
}

/* Every thread built a view map of its own: at 1,000,000 members with a
 * querier each, 26 MB a thread.  Engines now share one: the first at a
 * new serial brings it there, and every other sees that it moved (its
 * answers in views and its remembered views go), as if it had followed
 * the map itself; one whose snapshot is older than the map is told to
 * take a newer one. */
static void test_engines_share_one_view_map_and_each_sees_it_move(void **state)
{
	struct fixture *f = *state;
	const struct edit deny_ac[] = { OVERRIDE("a.fed.example", "c.fed.example", PDB_OVERRIDE_DENY),
	                                END };
	const struct edit c_narrow[] = { MEMBER("c.fed.example", 1, NONE, "203.0.113.0/28"), END };
	const struct edit c_none[] = { MEMBER("c.fed.example", 1, NONE, NULL), END };
	dnsd_engine *e1 = f->engine, *e2;
	dnsd_views *v;

	assert_int_equal(dnsd_views_new(&v), 0);
	assert_int_equal(dnsd_engine_new(f->zones, f->db, &e2), 0);
	dnsd_engine_share_views(e1, v);
	dnsd_engine_share_views(e2, v);
	commit(f, deny_ac);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	f->engine = e2;
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	/* One map, b's and c's prefixes once. */
	assert_int_equal(v->map.n, 2);
	assert_int_equal(e1->views, e2->views);

	/* e1 moves the map; e2, which remembers b's resolver and has its
	 * answer cached, sees it moved. */
	commit(f, c_narrow);
	f->engine = e1;
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	f->engine = e2;
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 0);
	assert_true(cached(f, "a.fed.example", &b_res));

	/* The other way round; and e1, whose epoch is older than the map
	 * now, is told so instead of reading it, then answers from a newer
	 * snapshot. */
	commit(f, c_none);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_int_equal(dnsd__views_build(e1), DNSD__EVIEWS_AHEAD);
	assert_false(e1->views_held);
	f->engine = e1;
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	assert_true(cached(f, "a.fed.example", &b_res));
	assert_int_equal(v->map.n, 1);   /* b's prefix alone */
	f->engine = e2;
	assert_true(cached(f, "a.fed.example", &b_res));
	f->engine = e1;

	dnsd_engine_free(e2);
	dnsd_views_free(v);
}

static void test_cache_size_parse(void **state)
{
	size_t n;
	char err[160];

	(void)state;
	assert_int_equal(dnsd_cache_size_parse("64M", &n, err, sizeof(err)), 0);
	assert_int_equal(n, (size_t)64 << 20);
	assert_int_equal(dnsd_cache_size_parse("2G", &n, err, sizeof(err)), 0);
	assert_int_equal(n, (size_t)2 << 30);
	assert_int_equal(dnsd_cache_size_parse("1048576", &n, err, sizeof(err)), 0);
	assert_int_equal(n, (size_t)1 << 20);
	assert_int_equal(dnsd_cache_size_parse("1023K", &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1023K"));
	assert_int_equal(dnsd_cache_size_parse("65G", &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_cache_size_parse("64MB", &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_cache_size_parse("-64M", &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_cache_size_parse("M", &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_cache_size_parse("99999999999999999999M", &n, err, sizeof(err)),
	                 -EINVAL);
}

/* An engine given a cache of its own size answers from it as before. */
static void test_engine_cache_size_set(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(dnsd_engine_set_cache_size(f->engine, 1000), -EINVAL);
	assert_int_equal(dnsd_engine_set_cache_size(NULL, (size_t)8 << 20), -EINVAL);
	assert_int_equal(dnsd_engine_set_cache_size(f->engine, (size_t)8 << 20), 0);
	assert_int_equal(dnsd__cache_bytes(f->engine->cache), (size_t)32768 * 16);
}

/* ---- the cache's sets ---- */

/* Regression: the cache had four ways a set, and the 13,000 answers of
 * the benchmark's mix put five keys in one of its sets: their answers took
 * each other's place in turn, and every query of theirs was rendered, and
 * signed, anew.  Five answers under five keys of one set all stay. */
static void test_cache_keeps_five_answers_that_share_a_set(void **state)
{
	struct dnsd_cache *c = dnsd__cache_new(DNSD_CACHE_SIZE_MIN);
	struct dnsd_cache_deps deps = { .serial = 1 };
	const struct dnsd_cache_deps *got;
	struct dnsd_cache_key k;
	uint8_t wire[16], outcome, names[5][5];
	int64_t until;
	size_t len, set = 0;
	unsigned found = 0;

	(void)state;
	assert_non_null(c);
	memset(&k, 0, sizeof(k));
	k.view = -1;
	k.qtype = LDNS_RR_TYPE_SRV;
	k.qname_len = 5;
	/* Five three-letter names that fall in one set of the smallest cache
	 * (of 512 sets: about 34 of the 17,576 names a set). */
	for (unsigned n = 0; n < 26 * 26 * 26 && found < 5; n++) {
		const uint8_t name[5] = { 3, (uint8_t)('a' + n / 676), (uint8_t)('a' + n / 26 % 26),
		                          (uint8_t)('a' + n % 26), 0 };
		memcpy(k.qname, name, 5);
		if (found == 0)
			set = dnsd__cache_set_index(c, &k);
		if (dnsd__cache_set_index(c, &k) == set)
			memcpy(names[found++], name, 5);
	}
	assert_int_equal(found, 5);
	for (uint8_t i = 0; i < 5; i++) {
		memcpy(k.qname, names[i], 5);
		memset(wire, i, sizeof(wire));
		dnsd__cache_put(c, &k, wire, sizeof(wire), 0, &deps, 0);
	}
	for (uint8_t i = 0; i < 5; i++) {
		memcpy(k.qname, names[i], 5);
		const uint8_t *hit = dnsd__cache_get(c, &k, &len, &until, &got, &outcome);
		assert_non_null(hit);
		assert_int_equal(len, sizeof(wire));
		assert_int_equal(hit[0], i);
	}
	dnsd__cache_free(c);
}

/* A batch's prefetch asks for the set of the very key the answer is
 * cached under, and only when the answer would come from the cache with
 * no snapshot: not for a response, not for a NOTIFY, not after a commit.
 * It changes nothing. */
static void test_prefetch_asks_for_the_key_the_answer_is_cached_under(void **state)
{
	struct fixture *f = *state;
	const struct edit level_of_d[] = { MEMBER("d.fed.example", 2, NONE, NULL), END };
	struct dnsd_prepared pq;
	struct dnsd_cache_key k;
	uint8_t q[512];
	uint64_t h;

	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
	size_t qlen = key_as(f, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &b_res, q, &k);
	h = prepare(f, q, qlen, &b_res, &pq);
	assert_true(h != 0);
	assert_true(h == dnsd__cache_touch_set(f->engine->cache, &k));
	dnsd__prefetch_entry(f->engine, h);
	q[2] = 0x80;
	assert_true(prepare(f, q, qlen, &b_res, &pq) == 0);
	assert_true(pq.hash == 0);
	q[2] = LDNS_PACKET_NOTIFY << 3;
	assert_true(prepare(f, q, qlen, &b_res, &pq) == 0);
	assert_true(cached(f, "a.fed.example", &b_res));
	q[2] = 0;
	commit(f, level_of_d);
	assert_true(prepare(f, q, qlen, &b_res, &pq) == 0);
	assert_int_equal(own_srvs(f, "a.fed.example", &b_res), 1);
}

/* A query read with its batch gets, byte for byte, the answer it would
 * get read on its own: cached or not, member or not, in a view or not. */
static void test_prepared_query_gets_the_answer_of_one_read_alone(void **state)
{
	struct fixture *f = *state;
	const char *members[] = { "a.fed.example", "b.fed.example", "nosuch.fed.example" };
	const struct dnsd_client *clients[] = { &b_res, &c_res, &nobody };
	static uint8_t alone[DNSD_MSG_MAX], read[DNSD_MSG_MAX];
	struct dnsd_prepared pq;
	uint8_t q[512];

	for (int round = 0; round < 2; round++) {   /* the second from the cache */
		for (size_t m = 0; m < sizeof(members) / sizeof(*members); m++) {
			for (size_t c = 0; c < sizeof(clients) / sizeof(*clients); c++) {
				size_t qlen = srv_query(q, members[m]), n = 0;
				prepare(f, q, qlen, clients[c], &pq);
				size_t got = answer_prepared(f, q, qlen, clients[c], &pq, read);
				assert_int_equal(dnsd_answer(f->engine, q, qlen, clients[c], alone,
				                             DNSD_MSG_MAX, &n), 0);
				assert_true(got > 0);
				assert_int_equal(got, n);
				assert_memory_equal(read, alone, n);
			}
		}
	}
	/* The second round was read with its key made. */
	size_t qlen = srv_query(q, "a.fed.example");
	assert_true(prepare(f, q, qlen, &b_res, &pq) != 0);
}

/* Read with its batch, answered after a commit (one that another query of
 * the batch brought the engine to): the commit is seen.  Before: the
 * member's record changed, the querier's view stayed. */
static void test_prepared_query_sees_a_commit_before_its_answer(void **state)
{
	struct fixture *f = *state;
	const struct edit b_wants_2[] = { MEMBER("b.fed.example", 1, 2, "203.0.113.0/24"), END };

	assert_int_equal(own_after_commit(f, "a.fed.example", b_wants_2), 0);
}

/* The same when the commit moved the querier into another view: the key
 * read with the batch was made for the old view, whose cached answer still
 * holds for that view, and must not be the one served. */
static void test_prepared_query_follows_its_querier_into_another_view(void **state)
{
	struct fixture *f = *state;
	const struct edit deny_ac[] = { OVERRIDE("a.fed.example", "c.fed.example", PDB_OVERRIDE_DENY),
	                                END };
	const struct edit c_narrow[] = { MEMBER("c.fed.example", 1, NONE, "203.0.113.0/28"), END };

	commit(f, deny_ac);
	/* 203.0.113.9 now falls in c's narrower prefix, and c may not. */
	assert_int_equal(own_after_commit(f, "a.fed.example", c_narrow), 0);
}

/* The same when new zones came in between: the key read with the batch
 * was made for the old zones, whose answer stays in the cache under it. */
static void test_prepared_query_is_answered_from_the_zones_of_its_answer(void **state)
{
	struct fixture *f = *state;
	static const char moved[] = "$ORIGIN fed.example.\n$TTL 3600\n"
	                            "@ IN SOA ns1 hostmaster 2 7200 3600 1209600 60\n"
	                            "@ IN NS ns1\nns1 IN A 192.0.2.1\nch IN A 192.0.2.6\n";
	static uint8_t out[DNSD_MSG_MAX];
	const char *files[1] = { f->zone };
	struct dnsd_prepared pq;
	dnsd_zones *zones;
	ldns_pkt *p = NULL;
	char err[256];
	uint8_t q[512];
	size_t qlen = make_query(q, "ch.fed.example", LDNS_RR_TYPE_A), n = 0;
	FILE *fp;

	assert_int_equal(dnsd_answer(f->engine, q, qlen, &b_res, out, DNSD_MSG_MAX, &n), 0);
	assert_true(prepare(f, q, qlen, &b_res, &pq) != 0);
	assert_non_null(fp = fopen(f->zone, "w"));
	assert_true(fputs(moved, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(dnsd_zones_load(files, 1, &zones, err, sizeof(err)), 0);
	dnsd_engine_set_zones(f->engine, zones);
	dnsd_zones_free(f->zones);
	f->zones = zones;
	n = answer_prepared(f, q, qlen, &b_res, &pq, out);
	assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 1);
	ldns_rr *a = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(a, 0)), ((uint8_t[]){ 192, 0, 2, 6 }), 4);
	ldns_pkt_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_stays_within_its_byte_budget),
		cmocka_unit_test(test_cache_size_parse),
		cmocka_unit_test_setup_teardown(test_engines_share_one_view_map_and_each_sees_it_move,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_table_grows_with_what_changed, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_engine_cache_size_set, setup, teardown),
		cmocka_unit_test(test_cache_keeps_five_answers_that_share_a_set),
		cmocka_unit_test_setup_teardown(test_prepared_query_gets_the_answer_of_one_read_alone,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_query_sees_a_commit_before_its_answer,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_query_follows_its_querier_into_another_view,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_query_is_answered_from_the_zones_of_its_answer,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_asks_for_the_key_the_answer_is_cached_under,
		                                setup, teardown),
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
