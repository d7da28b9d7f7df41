/* The decision: every rule, the order they are tried in, and symmetry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "policydb.h"

#define NOW 1800000000  /* 2027-01-15 */

static struct pdb_community community;

static int setup(void **state)
{
	pdb_community_init(&community);
	community.dflt.set = PDB_POLICY_MIN_LEVEL;
	community.dflt.min_peer_level = 1;
	return 0;
}

/* Decide both ways round; they must agree on everything but b. */
static struct pdb_decision decide(const char *a, const struct pdb_member *ma, const char *b,
                                  const struct pdb_member *mb, enum pdb_override ov, int64_t now)
{
	struct pdb_decision d, r;

	pdb_decide_records(&community, a, ma, b, mb, ov, now, &d);
	pdb_decide_records(&community, b, mb, a, ma, ov, now, &r);
	assert_int_equal(d.outcome, r.outcome);
	assert_int_equal(d.rule, r.rule);
	assert_string_equal(d.subject, r.subject);
	assert_string_equal(d.other, r.other);
	return d;
}

static void expect(struct pdb_decision d, enum pdb_outcome o, enum pdb_rule rule, const char *subject)
{
	if (d.outcome != o || d.rule != rule)
		fail_msg("got %s %s, expected %s %s", pdb_outcome_name(d.outcome),
		         pdb_rule_name(d.rule), pdb_outcome_name(o), pdb_rule_name(rule));
	if (subject)
		assert_string_equal(d.subject, subject);
}

static void test_unknown(void **state)
{
	struct pdb_member a, sus;

	fixture_member(&a, 3, NULL, NULL);
	fixture_member(&sus, 3, NULL, NULL);
	sus.status = PDB_SUSPENDED;
	expect(decide("a.example", &a, "b.example", NULL, 0, NOW), PDB_UNKNOWN,
	       PDB_RULE_UNKNOWN_MEMBER, "b.example");
	/* Unknown comes first, even before a suspended other side... */
	expect(decide("a.example", &sus, "b.example", NULL, 0, NOW), PDB_UNKNOWN,
	       PDB_RULE_UNKNOWN_MEMBER, "b.example");
	/* ...and before any override. */
	expect(decide("a.example", &a, "b.example", NULL, PDB_OVERRIDE_ALLOW, NOW), PDB_UNKNOWN,
	       PDB_RULE_UNKNOWN_MEMBER, "b.example");
	/* Both unknown: the first in canonical order is named. */
	expect(decide("z.example", NULL, "b.example", NULL, 0, NOW), PDB_UNKNOWN,
	       PDB_RULE_UNKNOWN_MEMBER, "b.example");
}

static void test_not_active(void **state)
{
	struct pdb_member a, b;

	fixture_member(&a, 3, NULL, NULL);
	fixture_member(&b, 3, NULL, NULL);
	b.status = PDB_SUSPENDED;
	struct pdb_decision d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_NOT_ACTIVE, "b.example");
	assert_int_equal(d.status, PDB_SUSPENDED);
	b.status = PDB_REVOKED;
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_NOT_ACTIVE, "b.example");
	assert_int_equal(d.status, PDB_REVOKED);
	/* An allow override does not bring back a member that is not active. */
	expect(decide("a.example", &a, "b.example", &b, PDB_OVERRIDE_ALLOW, NOW), PDB_DENY,
	       PDB_RULE_NOT_ACTIVE, "b.example");
	/* Not active is tried before expiry. */
	b.status = PDB_SUSPENDED;
	a.not_after = NOW - 1;
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_DENY, PDB_RULE_NOT_ACTIVE,
	       "b.example");
}

static void test_expired(void **state)
{
	struct pdb_member a, b;

	fixture_member(&a, 3, NULL, NULL);
	fixture_member(&b, 3, NULL, NULL);
	b.not_after = NOW + 1;
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);
	/* not_after is the first second no longer valid. */
	b.not_after = NOW;
	struct pdb_decision d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_EXPIRED, "b.example");
	assert_int_equal(d.not_after, NOW);
	expect(decide("a.example", &a, "b.example", &b, PDB_OVERRIDE_ALLOW, NOW), PDB_DENY,
	       PDB_RULE_EXPIRED, "b.example");
}

static void test_overrides(void **state)
{
	struct pdb_member hi, lo;

	fixture_member(&hi, 3, NULL, NULL);
	hi.policy.set = PDB_POLICY_MIN_LEVEL;
	hi.policy.min_peer_level = 3;
	fixture_member(&lo, 1, NULL, NULL);
	expect(decide("a.example", &hi, "b.example", &lo, 0, NOW), PDB_DENY, PDB_RULE_LEVEL, "b.example");
	/* An allow override wins over policy. */
	expect(decide("a.example", &hi, "b.example", &lo, PDB_OVERRIDE_ALLOW, NOW), PDB_ALLOW,
	       PDB_RULE_OVERRIDE_ALLOW, "a.example");
	/* A deny override wins over a policy that allows. */
	expect(decide("a.example", &hi, "b.example", &hi, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);
	expect(decide("a.example", &hi, "b.example", &hi, PDB_OVERRIDE_DENY, NOW), PDB_DENY,
	       PDB_RULE_OVERRIDE_DENY, "a.example");
}

static void test_level(void **state)
{
	struct pdb_member a, b;
	struct pdb_decision d;

	/* The community default (min 1) refuses level 0. */
	fixture_member(&a, 3, NULL, NULL);
	fixture_member(&b, 0, NULL, NULL);
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_LEVEL, "b.example");
	assert_int_equal(d.level, 0);
	assert_int_equal(d.min_level, 1);
	/* A member's own minimum replaces the default: a accepts level 0, and
	 * b (under the default) accepts a's level 3. */
	a.policy.set = PDB_POLICY_MIN_LEVEL;
	a.policy.min_peer_level = 0;
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);
	/* b's own minimum judges a. */
	b.policy.set = PDB_POLICY_MIN_LEVEL;
	b.policy.min_peer_level = 4;
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_LEVEL, "a.example");
	assert_int_equal(d.min_level, 4);
	/* Exactly the minimum is enough. */
	fixture_member(&b, 2, NULL, NULL);
	a.policy.min_peer_level = 2;
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);
	a.policy.min_peer_level = 3;
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_LEVEL, "b.example");
	assert_int_equal(d.min_level, 3);
}

static void test_tags(void **state)
{
	struct pdb_member a, b;
	struct pdb_decision d;
	char why[256];

	fixture_member(&a, 3, "auth:pki", NULL);
	a.policy.set = PDB_POLICY_REQUIRE;
	a.policy.require[a.policy.nrequire++] = pdb_str_of("auth:pki");
	fixture_member(&b, 3, "auth:password", NULL);
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_MISSING_TAG, "b.example");
	assert_int_equal(d.tag.len, 8);
	pdb_decision_explain(&d, why, sizeof(why));
	assert_non_null(strstr(why, "b.example lacks the tag auth:pki that a.example requires"));

	b.tags[b.ntags++] = pdb_str_of("auth:pki");
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);

	a.policy.set |= PDB_POLICY_FORBID;
	a.policy.forbid[a.policy.nforbid++] = pdb_str_of("auth:password");
	d = decide("a.example", &a, "b.example", &b, 0, NOW);
	expect(d, PDB_DENY, PDB_RULE_FORBIDDEN_TAG, "b.example");
	pdb_decision_explain(&d, why, sizeof(why));
	assert_non_null(strstr(why, "auth:password"));

	/* The default's tag rules apply to a member that set none. */
	community.dflt.set |= PDB_POLICY_REQUIRE;
	community.dflt.require[community.dflt.nrequire++] = pdb_str_of("member:verified");
	fixture_member(&a, 3, "member:verified", NULL);
	fixture_member(&b, 3, NULL, NULL);
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_DENY, PDB_RULE_MISSING_TAG,
	       "b.example");
	/* Now b has the tag and a has not: b's default policy refuses a. */
	b.tags[b.ntags++] = pdb_str_of("member:verified");
	fixture_member(&a, 3, NULL, NULL);
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_DENY, PDB_RULE_MISSING_TAG,
	       "a.example");
	/* b's own, empty, require list replaces the default's. */
	b.policy.set = PDB_POLICY_REQUIRE;
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_ALLOW, PDB_RULE_POLICY_OK, NULL);
}

/* Within one rule, the side first in byte order is judged first: level
 * fails on both sides here, and the same side is named either way round. */
static void test_precedence_between_sides(void **state)
{
	struct pdb_member a, b;

	fixture_member(&a, 1, NULL, NULL);
	a.policy.set = PDB_POLICY_MIN_LEVEL;
	a.policy.min_peer_level = 3;
	fixture_member(&b, 1, NULL, NULL);
	b.policy.set = PDB_POLICY_MIN_LEVEL;
	b.policy.min_peer_level = 3;
	/* a.example's policy judges b.example first. */
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_DENY, PDB_RULE_LEVEL, "b.example");
	/* Level is tried before tags on the same side. */
	a.policy.set |= PDB_POLICY_REQUIRE;
	a.policy.require[a.policy.nrequire++] = pdb_str_of("x:y");
	expect(decide("a.example", &a, "b.example", &b, 0, NOW), PDB_DENY, PDB_RULE_LEVEL, "b.example");
}

/* Every combination of a few statuses, levels, overrides and times: the
 * decision never depends on the order of the two names. */
static void test_symmetry_grid(void **state)
{
	static const enum pdb_override ovs[] = { PDB_OVERRIDE_NONE, PDB_OVERRIDE_ALLOW,
	                                         PDB_OVERRIDE_DENY };
	struct pdb_member m[6];
	const char *names[6] = { "a.example", "b.example", "c.example", "d.example", "e.example",
	                         "f.example" };
	size_t n = 0;

	fixture_member(&m[0], 3, "auth:pki", NULL);
	fixture_member(&m[1], 1, "auth:password", NULL);
	fixture_member(&m[2], 2, "auth:pki", "x:y");
	m[2].policy.set = PDB_POLICY_FORBID;
	m[2].policy.forbid[m[2].policy.nforbid++] = pdb_str_of("auth:password");
	fixture_member(&m[3], 3, NULL, NULL);
	m[3].status = PDB_SUSPENDED;
	fixture_member(&m[4], 2, NULL, NULL);
	m[4].not_after = NOW;
	fixture_member(&m[5], 0, NULL, NULL);
	for (int i = 0; i < 7; i++)
		for (int j = 0; j < 7; j++)
			for (int o = 0; o < 3; o++) {
				if (i == j)
					continue;
				decide(i < 6 ? names[i] : "u.example", i < 6 ? &m[i] : NULL,
				       j < 6 ? names[j] : "v.example", j < 6 ? &m[j] : NULL, ovs[o], NOW);
				n++;
			}
	assert_int_equal(n, 7 * 6 * 3);
}

static void test_targets_are_bs(void **state)
{
	struct pdb_member a, b;
	struct pdb_decision d;

	fixture_member(&a, 3, NULL, NULL);
	fixture_full_member(&b);
	b.status = PDB_ACTIVE;
	b.not_after = 0;
	b.policy.set = 0;
	pdb_decide_records(&community, "a.example", &a, "b.example", &b, 0, NOW, &d);
	assert_int_equal(d.outcome, PDB_ALLOW);
	assert_true(d.b_known);
	assert_int_equal(d.b.ntargets, 2);
	assert_int_equal(d.b.targets[0].port, 5269);
	pdb_decide_records(&community, "a.example", &a, "c.example", NULL, 0, NOW, &d);
	assert_false(d.b_known);
}

/* The policy rules alone, as the policy push applies a member's local
 * policy: without a default an unset field asks nothing; with one, the
 * default fills what the policy left out; the rule that failed is told. */
static void test_policy_meets_alone(void **state)
{
	struct pdb_policy own = { 0 };
	struct pdb_member peer;
	struct pdb_decision d;

	(void)state;
	fixture_member(&peer, 1, "auth:pki", NULL);
	assert_true(pdb_policy_meets(&own, NULL, &peer, NULL));
	assert_false(pdb_policy_meets(&own, &community.dflt, &(struct pdb_member){ .level = 0 }, NULL));

	own.set = PDB_POLICY_MIN_LEVEL;
	own.min_peer_level = 2;
	memset(&d, 0, sizeof(d));
	assert_false(pdb_policy_meets(&own, NULL, &peer, &d));
	assert_int_equal(d.rule, PDB_RULE_LEVEL);
	assert_int_equal(d.level, 1);
	assert_int_equal(d.min_level, 2);
	assert_null(d.subject);   /* the names are the caller's */

	own.min_peer_level = 1;
	own.set |= PDB_POLICY_FORBID;
	own.forbid[own.nforbid++] = pdb_str_of("auth:pki");
	assert_false(pdb_policy_meets(&own, NULL, &peer, &d));
	assert_int_equal(d.rule, PDB_RULE_FORBIDDEN_TAG);
	assert_true(pdb_str_eq(d.tag, pdb_str_of("auth:pki")));
	/* A policy that gives forbid-tags replaces the default's list, even
	 * when empty; the default's require list still applies. */
	own.nforbid = 0;
	community.dflt.set |= PDB_POLICY_REQUIRE;
	community.dflt.require[community.dflt.nrequire++] = pdb_str_of("member:verified");
	assert_false(pdb_policy_meets(&own, &community.dflt, &peer, &d));
	assert_int_equal(d.rule, PDB_RULE_MISSING_TAG);
	assert_true(pdb_policy_meets(&own, NULL, &peer, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_unknown, setup),
		cmocka_unit_test_setup(test_not_active, setup),
		cmocka_unit_test_setup(test_expired, setup),
		cmocka_unit_test_setup(test_overrides, setup),
		cmocka_unit_test_setup(test_level, setup),
		cmocka_unit_test_setup(test_tags, setup),
		cmocka_unit_test_setup(test_precedence_between_sides, setup),
		cmocka_unit_test_setup(test_symmetry_grid, setup),
		cmocka_unit_test_setup(test_targets_are_bs, setup),
		cmocka_unit_test_setup(test_policy_meets_alone, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
