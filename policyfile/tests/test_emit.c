/* The emitter: what export and show write must read back, through the
 * policy file reader, to the very same records. */
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
#include <jansson.h>

#include "../../policydb/tests/fixtures.h"
#include "emit.h"
#include "helpers.h"
#include "policyfile.h"

static const char *sample_path;   /* zones/fed.example.policy.yaml */

static void test_emit_not_after_forms(void **state)
{
	char buf[32];

	(void)state;
	emit_not_after(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	emit_not_after(1830297600, buf, sizeof(buf));   /* through 2027-12-31 */
	assert_string_equal(buf, "2027-12-31");
	emit_not_after(1830297600 - 43200 + 1, buf, sizeof(buf));
	assert_string_equal(buf, "2027-12-31T12:00:00Z");
}

/* Text into a policy file: the community, then text indented as members. */
static int as_policy_file(const char *members, char *path, size_t len)
{
	size_t n = strlen(HELPER_COMMUNITY) + 2 * strlen(members) + 64;
	char *text = malloc(n), *p;
	int rc;

	if (!text)
		return -1;
	p = text + sprintf(text, "%smembers:\n", HELPER_COMMUNITY);
	for (const char *s = members; *s; s++) {
		if (s == members || s[-1] == '\n')
			p += sprintf(p, "  ");
		*p++ = *s;
	}
	*p = '\0';
	rc = helper_file(text, path, len);
	free(text);
	return rc;
}

static void assert_same_record(const struct policy_file *pf, size_t i, const struct pdb_member *m)
{
	uint8_t want[PDB_RECORD_MAX];
	size_t len;

	assert_int_equal(pdb_member_encode(m, want, sizeof(want), &len), 0);
	assert_int_equal(pf->members[i].rec_len, len);
	assert_memory_equal(pf_record(pf, i), want, len);
}

static void test_emit_member_reads_back_the_same(void **state)
{
	struct pdb_member m;
	struct policy_file pf;
	char *text = NULL, path[256], err[512] = "";
	size_t len = 0;
	FILE *out;

	(void)state;
	fixture_full_member(&m);
	m.note = pdb_str_of("two\nlines, \"quoted\", UTF-8: \xc3\xa9");
	assert_non_null(out = open_memstream(&text, &len));
	assert_int_equal(emit_member_yaml(out, "alpha.fed.example", &m), 0);
	assert_int_equal(fclose(out), 0);
	assert_non_null(strstr(text, "alpha.fed.example:\n  level: 3\n"));
	assert_int_equal(as_policy_file(text, path, sizeof(path)), 0);
	if (pf_read(path, &pf, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("%s\n%s", err, text);
	assert_int_equal(pf.nmembers, 1);
	assert_string_equal(pf_name(&pf, 0), "alpha.fed.example");
	assert_same_record(&pf, 0, &m);
	pf_free(&pf);
	unlink(path);
	free(text);
}

static int load(pdb_wtxn *w, void *arg)
{
	const struct policy_file *pf = arg;
	int rc = pdb_w_put_community(w, &pf->community);

	for (size_t i = 0; rc == 0 && i < pf->nmembers; i++)
		rc = pdb_w_put_member_raw(w, pf_name(pf, i), pf_record(pf, i), pf->members[i].rec_len,
		                          true);
	for (size_t i = 0; rc == 0 && i < pf->noverrides; i++)
		rc = pdb_w_put_override(w, pf->overrides[i].a, pf->overrides[i].b, pf->overrides[i].ov);
	return rc;
}

/* The sample community into a store, exported as YAML and read again:
 * the same community, members and overrides; and as JSON, the same names. */
static void test_emit_policy_reads_back_the_same(void **state)
{
	struct policy_file pf, back;
	char dir[256], path[256], err[512] = "";
	json_t *j, *c1, *c2;
	json_error_t je;
	pdb_txn *txn;
	pdb_t *db;
	FILE *out;

	(void)state;
	assert_int_equal(pf_read(sample_path, &pf, NULL, NULL, err, sizeof(err)), 0);
	assert_non_null(db = fixture_store_new(dir, sizeof(dir), "test_emit"));
	assert_int_equal(pdb_write(db, "test load", load, &pf, NULL), 0);
	assert_int_equal(pdb_read_begin(db, &txn), 0);

	assert_int_equal(helper_file("", path, sizeof(path)), 0);
	assert_non_null(out = fopen(path, "w"));
	assert_int_equal(emit_policy_yaml(out, txn), 0);
	assert_int_equal(fclose(out), 0);
	if (pf_read(path, &back, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(back.nmembers, pf.nmembers);
	for (size_t i = 0; i < pf.nmembers; i++) {
		assert_string_equal(pf_name(&back, i), pf_name(&pf, i));
		assert_int_equal(back.members[i].rec_len, pf.members[i].rec_len);
		assert_memory_equal(pf_record(&back, i), pf_record(&pf, i), pf.members[i].rec_len);
	}
	assert_int_equal(back.noverrides, pf.noverrides);
	for (size_t i = 0; i < pf.noverrides; i++) {
		assert_string_equal(back.overrides[i].a, pf.overrides[i].a);
		assert_string_equal(back.overrides[i].b, pf.overrides[i].b);
		assert_int_equal(back.overrides[i].ov, pf.overrides[i].ov);
	}
	c1 = emit_community_json(&pf.community);
	c2 = emit_community_json(&back.community);
	assert_true(json_equal(c1, c2));
	json_decref(c1);
	json_decref(c2);
	pf_free(&back);

	assert_non_null(out = fopen(path, "w"));
	assert_int_equal(emit_policy_json(out, txn), 0);
	assert_int_equal(fclose(out), 0);
	assert_non_null(j = json_load_file(path, 0, &je));
	assert_int_equal(json_object_size(json_object_get(j, "members")), pf.nmembers);
	for (size_t i = 0; i < pf.nmembers; i++)
		assert_non_null(json_object_get(json_object_get(j, "members"), pf_name(&pf, i)));
	assert_int_equal(json_array_size(json_object_get(j, "overrides")), pf.noverrides);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "community"), "zone")),
	                    "fed.example");
	json_decref(j);

	unlink(path);
	pdb_read_end(txn);
	assert_int_equal(fixture_store_remove(db, dir), 0);
	pf_free(&pf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emit_not_after_forms),
		cmocka_unit_test(test_emit_member_reads_back_the_same),
		cmocka_unit_test(test_emit_policy_reads_back_the_same),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s SAMPLE_POLICY_FILE\n", argv[0]);
		return 2;
	}
	sample_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
