/* The policy table reader and the allow-list rules, without files or
 * keys: what table_parse accepts and refuses, and who render_allowed lets
 * in.  The signed path is tested end to end in tests/system/test_table.py. */
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
		assert_int_equal(table_parse(bad[i].text, strlen(bad[i].text), &t, err, sizeof(err)), TABLE_EINVALID);
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

#define TABLE_HEAD "{\"format\": 1, \"zone\": \"fed.example\", \"serial\": 1," \
	" \"made\": \"2027-01-15T00:00:00Z\", \"expires\": \"2027-01-22T00:00:00Z\","

/* strtoul took " 1" and "+1" for level 1, so one level had endless
 * spellings, each a new entry past levels[256]. */
static void test_level_key_sign_space_refused(void **state)
{
	static const char *const keys[] = { " 1", "+1", "1 ", "-0", "0x1", "256", "1000", "", "00" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char text[512];
		struct table t;
		char err[256] = "";
		snprintf(text, sizeof(text), TABLE_HEAD " \"levels\": {\"%s\": \"x\"}, \"members\": {}}",
		         keys[i]);
		assert_int_equal(table_parse(text, strlen(text), &t, err, sizeof(err)), TABLE_EINVALID);
		if (!strstr(err, "levels"))
			fail_msg("key '%s': '%s' lacks 'levels'", keys[i], err);
		table_free(&t);
	}
	const char *ok = TABLE_HEAD " \"levels\": {\"0\": \"a\", \"255\": \"b\"}, \"members\": {}}";
	struct table t;
	char err[256];
	assert_int_equal(table_parse(ok, strlen(ok), &t, err, sizeof(err)), 0);
	assert_int_equal(t.nlevels, 2);
	table_free(&t);
}

/* 300 spellings of level 1 (" 1", "  1", ...) wrote past levels[256]. */
static void test_levels_many_spellings_no_overflow(void **state)
{
	size_t cap = 300 * 320 + 512, n;
	char *text = malloc(cap);
	struct table t;
	char err[256] = "";

	assert_non_null(text);
	n = (size_t)snprintf(text, cap, TABLE_HEAD " \"levels\": {");
	for (int i = 1; i <= 300; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s\"%*s1\": \"x\"", i > 1 ? ", " : "", i, "");
	n += (size_t)snprintf(text + n, cap - n, "}, \"members\": {}}");
	assert_true(n < cap);
	assert_int_equal(table_parse(text, n, &t, err, sizeof(err)), TABLE_EINVALID);
	assert_non_null(strstr(err, "levels"));
	assert_true(t.nlevels <= 256);
	table_free(&t);
	free(text);
}

/* close() is wrapped (see meson.build): the first close of a descriptor
 * after fail_close is set fails with EIO, as NFS can on a late write
 * error, and every close is counted per descriptor. */
static int fail_close;
static int closes[1024];
int __real_close(int fd);
int __wrap_close(int fd);

int __wrap_close(int fd)
{
	if (fd >= 0 && fd < 1024)
		closes[fd]++;
	int rc = __real_close(fd);
	if (fail_close && rc == 0) {
		fail_close = 0;
		errno = EIO;
		return -1;
	}
	return rc;
}

static void test_write_atomic_failed_close_not_closed_twice(void **state)
{
	char dir[] = "/tmp/test_table.XXXXXX", path[64], err[256] = "";

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	memset(closes, 0, sizeof(closes));
	fail_close = 1;
	assert_int_equal(table_file_write_atomic(path, "x", 1, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, strerror(EIO)));
	for (int fd = 0; fd < 1024; fd++)
		if (closes[fd] > 1)
			fail_msg("descriptor %d closed %d times", fd, closes[fd]);
	assert_int_equal(access(path, F_OK), -1);   /* nothing left behind */
	fail_close = 0;
	assert_int_equal(table_file_write_atomic(path, "x", 1, err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* The table's codes are its own: below every other library's range. */
static void test_strerror_ranges(void **state)
{
	(void)state;
	assert_true(TABLE_E_FIRST < PF_E_LAST && TABLE_EBADSIG > TABLE_E_LAST);
	assert_string_equal(table_strerror(TABLE_EBADSIG), "the signature does not match");
	assert_string_equal(table_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(table_strerror(PDB_ECORRUPT), pdb_strerror(PDB_ECORRUPT));
	assert_string_equal(table_strerror(TABLE_E_LAST), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_strerror_ranges),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_level_key_sign_space_refused),
		cmocka_unit_test(test_levels_many_spellings_no_overflow),
		cmocka_unit_test(test_write_atomic_failed_close_not_closed_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
