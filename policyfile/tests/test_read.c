/* The policy file reader, `set`'s one key and the local policy: what is
 * read, and that every refusal says file, line and column. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "policyfile.h"

static const char *sample_path;   /* zones/fed.example.policy.yaml */

static void test_read_sample(void **state)
{
	struct policy_file pf;
	struct pdb_member m;
	char err[512] = "";

	(void)state;
	assert_int_equal(pf_read(sample_path, &pf, NULL, NULL, err, sizeof(err)), 0);
	assert_true(pf.nmembers >= 2);
	for (size_t i = 1; i < pf.nmembers; i++)
		assert_true(strcmp(pf_name(&pf, i - 1), pf_name(&pf, i)) < 0);
	assert_string_equal(pf_name(&pf, 0), "alpha.fed.example");
	assert_int_equal(pdb_member_decode(pf_record(&pf, 0), pf.members[0].rec_len, &m), 0);
	assert_int_equal(m.level, 3);
	assert_int_equal(m.ntags, 2);
	assert_int_equal(m.not_after, 1830297600);   /* through 2027-12-31 */
	assert_int_equal(m.policy.set, PDB_POLICY_MIN_LEVEL | PDB_POLICY_REQUIRE | PDB_POLICY_FORBID);
	assert_true(pf.community.zone.len == 11 && !memcmp(pf.community.zone.p, "fed.example", 11));
	assert_true(pf.noverrides > 0);
	pf_free(&pf);
}

/* Each case: a file, the code, and what the message must hold. */
static void test_read_refusals_say_where(void **state)
{
	static const struct { const char *text, *where; } bad[] = {
		{ HELPER_COMMUNITY "members:\n  a.example: {level: 1}\n  A.example: {level: 2}\n",
		  ":6:3: member 'a.example' is listed twice (first at line 5)" },
		{ HELPER_COMMUNITY "members:\n  a.example: {level: 1, colour: blue}\n",
		  ":5:25: unknown key 'colour' in a member" },
		{ HELPER_COMMUNITY "members:\n  a.example: {level: 256}\n",
		  ":5:22: level must be a whole number from 0 to 255, not '256'" },
		{ HELPER_COMMUNITY "members:\n  a.example: {tags: [x:y]}\n",
		  ":5:3: member 'a.example' has no level" },
		{ HELPER_COMMUNITY "members:\n  a.example: &x {level: 1}\n  b.example: *x\n",
		  ":6:14: YAML aliases" },
		{ HELPER_COMMUNITY "members:\n  a.example: {level: 1}\noverrides:\n  - deny: [a.example, b.example]\n",
		  ":7:5: override names 'b.example', which is not a member" },
		{ "members: {}\n", ": the policy file has no community section" },
		{ HELPER_COMMUNITY "members:\n  a.example: {level: 1, not-after: 2027-02-30}\n",
		  "not-after must be a date like 2027-12-31" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy_file pf;
		char path[256], err[512] = "";
		assert_int_equal(helper_file(bad[i].text, path, sizeof(path)), 0);
		assert_int_equal(pf_read(path, &pf, NULL, NULL, err, sizeof(err)), PF_EINVALID);
		if (strncmp(err, path, strlen(path)) || !strstr(err, bad[i].where))
			fail_msg("case %zu: '%s' is not '%s%s...'", i, err, path, bad[i].where);
		pf_free(&pf);
		unlink(path);
	}
}

static void test_read_missing_file_is_errno(void **state)
{
	struct policy_file pf;
	char err[512] = "";

	(void)state;
	assert_int_equal(pf_read("/nonexistent/policy.yaml", &pf, NULL, NULL, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/policy.yaml: "));
	pf_free(&pf);
	assert_string_equal(pf_strerror(PF_EINVALID), "not a valid policy file or value");
	assert_string_equal(pf_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(pf_strerror(PDB_ENOTFOUND), pdb_strerror(PDB_ENOTFOUND));
	assert_string_equal(pf_strerror(PF_E_LAST), "unknown error");
	assert_true(PF_EINVALID < -3999);   /* below policydb's, dnsd's and xmppd's ranges */
}

static void test_parse_not_after(void **state)
{
	int64_t t = 7;

	(void)state;
	assert_int_equal(pf_parse_not_after("2027-12-31", &t), 0);
	assert_int_equal(t, 1830297600);           /* 2028-01-01T00:00:00Z */
	assert_int_equal(pf_parse_not_after("2027-12-31T12:00:00Z", &t), 0);
	assert_int_equal(t, 1830297600 - 43200 + 1);
	t = 7;
	assert_int_equal(pf_parse_not_after("2027-02-29", &t), -EINVAL);
	assert_int_equal(pf_parse_not_after("tomorrow", &t), -EINVAL);
	assert_int_equal(t, 7);
}

/* ---- set ---- */

static int set(struct pdb_member *m, struct pf_scratch *s, const char *key, const char *value,
               char *err, size_t errlen)
{
	err[0] = '\0';
	return pf_set_member_key(m, key, value, s, err, errlen);
}

static void test_set_keys(void **state)
{
	static struct pf_scratch s;
	struct pdb_member m;
	char err[512];

	(void)state;
	pdb_member_init(&m);
	assert_int_equal(set(&m, &s, "level", "3", err, sizeof(err)), 0);
	assert_int_equal(m.level, 3);
	assert_int_equal(set(&m, &s, "tags", "[auth:pki, Industry:Finance]", err, sizeof(err)), 0);
	assert_int_equal(m.ntags, 2);
	assert_true(pdb_str_eq(m.tags[1], pdb_str_of("industry:finance")));
	assert_int_equal(set(&m, &s, "targets", "[a.example:5269, {host: b.example, port: 5270}]",
	                     err, sizeof(err)), 0);
	assert_int_equal(m.ntargets, 2);
	assert_int_equal(m.targets[1].port, 5270);
	/* A policy key changes its own field and keeps the others. */
	assert_int_equal(set(&m, &s, "require-tags", "[auth:pki]", err, sizeof(err)), 0);
	assert_int_equal(set(&m, &s, "min-peer-level", "2", err, sizeof(err)), 0);
	assert_int_equal(m.policy.set, PDB_POLICY_MIN_LEVEL | PDB_POLICY_REQUIRE);
	assert_int_equal(m.policy.nrequire, 1);
	assert_int_equal(m.policy.min_peer_level, 2);
	assert_int_equal(set(&m, &s, "note", "moved: see ticket #12", err, sizeof(err)), 0);
	assert_true(pdb_str_eq(m.note, pdb_str_of("moved: see ticket #12")));
	assert_int_equal(set(&m, &s, "not-after", "", err, sizeof(err)), 0);
	assert_int_equal(m.not_after, 0);
}

static void test_set_refusals(void **state)
{
	static const struct { const char *key, *value, *why; } bad[] = {
		{ "colour", "blue", "unknown key 'colour' in a member (known: level," },
		{ "level", "256", "level must be a whole number from 0 to 255, not '256'" },
		{ "level", "", "level must be a whole number from 0 to 255, not ''" },
		{ "targets", "[xmpp.gamma.example]", "a target 'xmpp.gamma.example' needs a port" },
		{ "addresses", "[192.0.2.300]", "bad address '192.0.2.300'" },
		{ "tags", "auth:pki", "tags must be a list, like [a, b]" },
		{ "level", "'1", "YAML syntax error" },
		{ "contact", "a\x01", "contact must be UTF-8 text without control characters" },
		{ "note", "\xff", "note must be UTF-8 text without control characters" },
		{ "note", "\xc0\xaf", "note must be UTF-8 text without control characters" },
	};
	static struct pf_scratch s;
	struct pdb_member m;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pdb_member_init(&m);
		assert_int_equal(set(&m, &s, bad[i].key, bad[i].value, err, sizeof(err)), PF_EINVALID);
		/* A typed value has no file to point into. */
		if (strcmp(err, bad[i].why) && strncmp(err, bad[i].why, strlen(bad[i].why)))
			fail_msg("case %zu: '%s' does not begin with '%s'", i, err, bad[i].why);
	}
	assert_int_equal(pf_set_member_key(&m, NULL, "1", &s, err, sizeof(err)), -EINVAL);
}

/* set used to print the note into a double-quoted YAML scalar and parse it
 * again, which folded each line break into a space. */
static void test_set_note_line_breaks_kept_not_folded(void **state)
{
	static struct pf_scratch s;
	struct pdb_member m;
	char err[512];

	(void)state;
	pdb_member_init(&m);
	assert_int_equal(set(&m, &s, "note", "two\nlines, \"quoted\" \\ and\ttab", err, sizeof(err)), 0);
	assert_true(pdb_str_eq(m.note, pdb_str_of("two\nlines, \"quoted\" \\ and\ttab")));
}

/* A second YAML document after the value was ignored: "1\n---\n2" set
 * level 1 without a word. */
static void test_set_second_document_refused(void **state)
{
	static struct pf_scratch s;
	struct pdb_member m;
	char err[512];

	(void)state;
	pdb_member_init(&m);
	assert_int_equal(set(&m, &s, "level", "1\n---\n2", err, sizeof(err)), PF_EINVALID);
	assert_string_equal(err, "one KEY VALUE at a time");
	assert_int_equal(set(&m, &s, "level", "1\n...\n", err, sizeof(err)), 0);
}

/* ---- the local policy ---- */

static void test_read_local(void **state)
{
	struct pf_local lp;
	char path[256], err[512] = "";

	(void)state;
	assert_int_equal(helper_file("min-peer-level: 2\nrequire-tags: [auth:pki]\n"
	                             "allow: [Partner.example]\ndeny: [rival.example]\n",
	                             path, sizeof(path)), 0);
	assert_int_equal(pf_read_local(path, &lp, err, sizeof(err)), 0);
	assert_int_equal(lp.policy.min_peer_level, 2);
	assert_int_equal(lp.policy.nrequire, 1);
	assert_int_equal(lp.nallow, 1);
	assert_string_equal(lp.allow[0], "partner.example");
	assert_int_equal(lp.ndeny, 1);
	pf_local_free(&lp);
	unlink(path);

	assert_int_equal(helper_file("allow: [a.example]\ndeny: [a.example]\n", path, sizeof(path)), 0);
	assert_int_equal(pf_read_local(path, &lp, err, sizeof(err)), PF_EINVALID);
	assert_non_null(strstr(err, "'a.example' is both allowed and denied"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	pf_local_free(&lp);
	unlink(path);

	assert_int_equal(pf_read_local("/nonexistent/local.yaml", &lp, err, sizeof(err)), -ENOENT);
	pf_local_free(&lp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_sample),
		cmocka_unit_test(test_read_refusals_say_where),
		cmocka_unit_test(test_read_missing_file_is_errno),
		cmocka_unit_test(test_parse_not_after),
		cmocka_unit_test(test_set_keys),
		cmocka_unit_test(test_set_refusals),
		cmocka_unit_test(test_set_note_line_breaks_kept_not_folded),
		cmocka_unit_test(test_set_second_document_refused),
		cmocka_unit_test(test_read_local),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s SAMPLE_POLICY_FILE\n", argv[0]);
		return 2;
	}
	sample_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
