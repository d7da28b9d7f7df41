/* The policy table reader and the allow-list rules, without files or
 * keys: what table_parse accepts and refuses, and who render_allowed lets
 * in.  The signed path is tested end to end in tests/system/test_table.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"
#include "table.h"

#define NOW 1799971200   /* 2027-01-15T00:00:00Z */

static const char table_text[] =
	"{\"format\": 1, \"zone\": \"fed.example\", \"serial\": 42,"
	" \"made\": \"2027-01-15T00:00:00Z\", \"expires\": \"2027-01-22T00:00:00Z\","
	" \"levels\": {\"1\": \"basic\", \"3\": \"pki-2fa\"},"
	" \"members\": {"
	"  \"me.fed.example\": {\"level\": 3, \"status\": \"active\", \"tags\": [\"auth:pki\"]},"
	"  \"hi.fed.example\": {\"level\": 3, \"status\": \"active\", \"tags\": [\"auth:pki\"]},"
	"  \"lo.fed.example\": {\"level\": 1, \"status\": \"active\", \"tags\": [\"auth:pki\"]},"
	"  \"pw.fed.example\": {\"level\": 3, \"status\": \"active\", \"tags\": [\"auth:password\"]},"
	"  \"old.fed.example\": {\"level\": 3, \"status\": \"active\", \"tags\": [\"auth:pki\"],"
	"                       \"not-after\": \"2027-01-14T23:59:59Z\"},"
	"  \"sus.fed.example\": {\"level\": 3, \"status\": \"suspended\", \"tags\": [\"auth:pki\"]},"
	"  \"bad.fed.example\": {\"level\": 3, \"status\": \"active\", \"tags\": [\"auth:pki\"]}"
	" }}";

static void test_parse(void **state)
{
	struct table t;
	char err[256];

	assert_int_equal(table_parse(table_text, strlen(table_text), &t, err, sizeof(err)), 0);
	assert_string_equal(t.zone, "fed.example");
	assert_int_equal(t.serial, 42);
	assert_int_equal(t.expires - t.made, 7 * 86400);
	assert_int_equal(t.nlevels, 2);
	assert_int_equal(t.nmembers, 7);
	/* sorted, and found by name */
	for (size_t i = 1; i < t.nmembers; i++)
		assert_true(strcmp(t.members[i - 1].name, t.members[i].name) < 0);
	const struct table_member *m = table_find(&t, "old.fed.example");
	assert_non_null(m);
	assert_int_equal(m->not_after, NOW);   /* the first second no longer valid */
	assert_null(table_find(&t, "nobody.example"));
	table_free(&t);
}

static void test_refuses(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "{\"format\": 1, \"format\": 1}", "duplicate" },
		{ "{\"format\": 9}", "newer" },
		{ "{\"format\": \"1\"}", "whole number" },
		{ "[]", "top level" },
		{ "{\"format\": 1, \"zone\": \"fed.example\", \"serial\": -1}", "out of range" },
		{ "{\"format\": 1, \"zone\": \"Fed.Example\", \"serial\": 1}", "zone" },
		{ "{\"format\": 1, \"zone\": \"fed.example\", \"serial\": 1,"
		  " \"made\": \"2027-01-15T00:00:00Z\", \"expires\": \"2027-01-14T00:00:00Z\"}",
		  "before it was made" },
		{ "{\"format\": 1, \"zone\": \"fed.example\", \"serial\": 1,"
		  " \"made\": \"2027-01-15T00:00:00Z\", \"expires\": \"2027-01-22T00:00:00Z\","
		  " \"levels\": {\"01\": \"x\"}, \"members\": {}}", "levels" },
		{ "{\"format\": 1, \"zone\": \"fed.example\", \"serial\": 1,"
		  " \"made\": \"2027-01-15T00:00:00Z\", \"expires\": \"2027-01-22T00:00:00Z\","
		  " \"levels\": {}, \"members\": {\"a.fed.example\": {\"level\": 1,"
		  " \"status\": \"active\", \"tags\": [\"x:y\", \"x:y\"]}}}", "twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct table t;
		char err[256] = "";
		assert_int_equal(table_parse(bad[i].text, strlen(bad[i].text), &t, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
		table_free(&t);
	}
}

static void test_allowed(void **state)
{
	struct table t;
	struct pf_local lp;
	struct allowed a;
	char err[256];
	char allow[2][PDB_NAME_MAX + 1] = { "sus.fed.example", "partner.example" };
	char deny[1][PDB_NAME_MAX + 1] = { "bad.fed.example" };

	assert_int_equal(table_parse(table_text, strlen(table_text), &t, err, sizeof(err)), 0);
	memset(&lp, 0, sizeof(lp));
	lp.policy.set = PDB_POLICY_MIN_LEVEL | PDB_POLICY_FORBID;
	lp.policy.min_peer_level = 2;
	lp.policy.forbid[lp.policy.nforbid++] = pdb_str_of("auth:password");
	lp.allow = allow;
	lp.nallow = 2;
	lp.deny = deny;
	lp.ndeny = 1;
	assert_int_equal(render_allowed(&t, "me.fed.example", &lp, NOW, &a), 0);
	/* hi: meets the policy.  lo: level 1.  pw: a forbidden tag.  old: past
	 * its not-after.  sus: allowed locally but suspended, and the
	 * federation wins.  bad: denied locally.  partner: no member, but an
	 * exception.  me: never in its own list. */
	assert_int_equal(a.n, 2);
	assert_string_equal(a.names[0], "hi.fed.example");
	assert_string_equal(a.names[1], "partner.example");
	allowed_free(&a);
	/* a second earlier, old was still in good standing */
	assert_int_equal(render_allowed(&t, "me.fed.example", &lp, NOW - 1, &a), 0);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.names[1], "old.fed.example");
	allowed_free(&a);
	table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
