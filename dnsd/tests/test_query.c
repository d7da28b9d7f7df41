/* dnsd_answer's arguments, and a plain query without EDNS (run this under
 * valgrind --tool=memcheck: nothing indeterminate may be read). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"

static const uint8_t query[] = {
	0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	2, 'c', 'h', 3, 'f', 'e', 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
};

static int setup(void **state)
{
	struct fixture *f = malloc(sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fixture_open(f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_close(*state);
	free(*state);
	return 0;
}

/* Regression: the engine's scratch buffer was taken from e before e was
 * checked (UBSan: member access within null pointer). */
static void test_answer_null_engine_is_einval(void **state)
{
	static uint8_t out[DNSD_MSG_MAX];
	struct dnsd_client c = { .family = 4, .addr = { 127, 0, 0, 1 } };
	size_t n = 1;

	assert_int_equal(dnsd_answer(NULL, query, sizeof(query), &c, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(dnsd_answer((dnsd_engine *)*state, NULL, 0, &c, out, sizeof(out), &n), -EINVAL);
}

/* Regression: a plain query without EDNS left its payload indeterminate. */
static void test_answer_plain_query_without_edns(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[1232];
	struct dnsd_client c = { .family = 4, .addr = { 127, 0, 0, 1 } };
	size_t n = 0;

	/* Twice: once built, once from the cache. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(dnsd_answer(f->engine, query, sizeof(query), &c, out, sizeof(out), &n), 0);
		assert_true(n > sizeof(query) && n <= 512);
		assert_int_equal(out[3] & 0x0f, 0);               /* NOERROR */
		assert_int_equal(out[7], 1);                      /* one answer */
		assert_int_equal(out[10] << 8 | out[11], 0);      /* and no OPT */
	}
}

/* Regression: dnsd_strerror took -1000 for a policydb code and anything
 * down to -4095 for libuv's, so that xmppd's -3001 read as a resolver
 * failure.  Now each range goes where policydb.h says. */
static void test_strerror_minus_1000_and_foreign_codes_are_unknown(void **state)
{
	(void)state;
	assert_string_equal(dnsd_strerror(-1000), "unknown error");
	assert_string_equal(dnsd_strerror(-3001), "unknown error");
	assert_string_equal(dnsd_strerror(-2003), "unknown error");
	assert_string_equal(dnsd_strerror(PDB_ENOTFOUND), pdb_strerror(PDB_ENOTFOUND));
	assert_string_equal(dnsd_strerror(PDB_ELOCKFILE), pdb_strerror(PDB_ELOCKFILE));
	assert_string_equal(dnsd_strerror(-EADDRINUSE), uv_strerror(-EADDRINUSE));
	assert_string_not_equal(dnsd_strerror(DNSD_EZONE), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answer_null_engine_is_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_plain_query_without_edns, setup, teardown),
		cmocka_unit_test(test_strerror_minus_1000_and_foreign_codes_are_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
