/* Names, tags and addresses: the forms the store keys on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policydb.h"

static void accepts(const char *in, const char *want)
{
	char out[PDB_NAME_MAX + 1];
	const char *why = NULL;
	int rc = pdb_name_normalise(in, out, &why);

	if (rc != 0)
		fail_msg("'%s' refused: %s", in, why);
	assert_string_equal(out, want);
}

static void refuses(const char *in, const char *why_part)
{
	char out[PDB_NAME_MAX + 1];
	const char *why = NULL;

	assert_int_equal(pdb_name_normalise(in, out, &why), PDB_EBADNAME);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("'%s': expected a reason with '%s', got '%s'", in, why_part, why);
}

static void test_name_forms(void **state)
{
	accepts("alpha.fed.example", "alpha.fed.example");
	accepts("Alpha.FED.Example.", "alpha.fed.example");
	accepts("xn--bcher-kva.example", "xn--bcher-kva.example");
	accepts("Bücher.example", "xn--bcher-kva.example");
	accepts("a-b.c-d.example", "a-b.c-d.example");
	accepts("1.example", "1.example");
}

static void test_name_limits(void **state)
{
	char label63[64], label64[65], name253[254], name254[255];

	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	char buf[128];
	snprintf(buf, sizeof(buf), "%s.example", label63);
	accepts(buf, buf);
	snprintf(buf, sizeof(buf), "%s.example", label64);
	refuses(buf, "63");

	/* 253 characters: 3 x 63-char labels, dots, and a final 59-char label. */
	memset(name253, 'a', sizeof(name253));
	name253[63] = name253[127] = name253[191] = '.';
	name253[253] = '\0';
	accepts(name253, name253);
	memset(name254, 'a', sizeof(name254));
	name254[63] = name254[127] = name254[191] = '.';
	name254[254] = '\0';
	refuses(name254, "253");
}

static void test_name_refused(void **state)
{
	refuses("", "empty");
	refuses("example", "single label");
	refuses("a..example", "empty label");
	refuses(".example", "empty label");
	refuses("example..", "empty label");
	refuses("-a.example", "hyphen");
	refuses("a-.example", "hyphen");
	refuses("a_b.example", "character");
	refuses("a b.example", "character");
	refuses("xn--zz-zzz-zzzzz.example", "A-label");
	refuses("xn--abc.example", "A-label");
	refuses("192.0.2.1", "all-numeric");
	refuses("\xff\xfe.example", "internationalised");
	assert_int_equal(pdb_name_normalise(NULL, (char[PDB_NAME_MAX + 1]){ 0 }, NULL), -EINVAL);
}

static void test_tags(void **state)
{
	char out[PDB_TAG_MAX + 1];
	const char *why;
	char long_tag[80];

	assert_int_equal(pdb_tag_normalise("Industry:Finance", out, &why), 0);
	assert_string_equal(out, "industry:finance");
	assert_int_equal(pdb_tag_normalise("clearance/secret_2.a-b", out, &why), 0);
	assert_int_equal(pdb_tag_normalise("", out, &why), PDB_EBADTAG);
	assert_int_equal(pdb_tag_normalise("has space", out, &why), PDB_EBADTAG);
	memset(long_tag, 'a', 64);
	long_tag[64] = '\0';
	assert_int_equal(pdb_tag_normalise(long_tag, out, &why), PDB_EBADTAG);
	long_tag[63] = '\0';
	assert_int_equal(pdb_tag_normalise(long_tag, out, &why), 0);
}

static void test_addresses(void **state)
{
	struct pdb_addr a;
	char buf[64];
	uint8_t in4[4] = { 192, 0, 2, 77 }, out4[4] = { 192, 0, 3, 1 };
	uint8_t in6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x40, 0xff };

	assert_int_equal(pdb_addr_parse("192.0.2.0/24", true, &a), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(a.prefix, 24);
	assert_true(pdb_addr_in(&a, 4, in4));
	assert_false(pdb_addr_in(&a, 4, out4));
	assert_false(pdb_addr_in(&a, 6, in6));
	pdb_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.0/24");

	assert_int_equal(pdb_addr_parse("2001:db8:40::/48", true, &a), 0);
	assert_true(pdb_addr_in(&a, 6, in6));
	assert_int_equal(pdb_addr_parse("2001:db8::10", false, &a), 0);
	pdb_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::10");

	/* Host bits set, a prefix where none is allowed, junk. */
	assert_int_equal(pdb_addr_parse("192.0.2.1/24", true, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("192.0.2.0/24", false, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("192.0.2.0/33", true, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("192.0.2.0/", true, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("192.0.2.0/-1", true, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("192.0.2", false, &a), -EINVAL);
	assert_int_equal(pdb_addr_parse("host.example", false, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_forms),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_name_refused),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
