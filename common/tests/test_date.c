/* Dates and instants: what is accepted, what is refused, and that a
 * formatted time reads back as itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "date.h"

#define T_2027_01_15 1799971200   /* 2027-01-15T00:00:00Z */

static void test_instant_round_trip(void **state)
{
	char s[CH_INSTANT_LEN];
	int64_t t = 0;

	(void)state;
	ch_instant_format(T_2027_01_15 + 3723, s);
	assert_string_equal(s, "2027-01-15T01:02:03Z");
	assert_int_equal(ch_instant_parse(s, &t), 0);
	assert_int_equal(t, T_2027_01_15 + 3723);
}

static void test_date_round_trip(void **state)
{
	char s[CH_DATE_LEN];
	int64_t t = 0;

	(void)state;
	ch_date_format(T_2027_01_15 + 86399, s);
	assert_string_equal(s, "2027-01-15");
	assert_int_equal(ch_date_parse(s, &t), 0);
	assert_int_equal(t, T_2027_01_15);
}

static void test_refuses_what_is_no_time(void **state)
{
	static const char *const instants[] = {
		"2027-02-30T00:00:00Z",   /* no such day: timegm() would roll over */
		"2027-01-15T24:00:00Z",
		"2027-01-15T00:00:00",    /* no Z */
		"2027-01-15T00:00:00Z ",
		"2027-01-15",
		"1969-12-31T23:59:59Z",   /* before the epoch */
		"",
	};
	static const char *const dates[] = {
		"2027-02-29", "2027-13-01", "2027-01-15T00:00:00Z", "27-01-15", "2027-01-1x", "",
	};
	int64_t t = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++)
		assert_int_equal(ch_instant_parse(instants[i], &t), -EINVAL);
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		assert_int_equal(ch_date_parse(dates[i], &t), -EINVAL);
	assert_int_equal(t, 42);   /* untouched on failure */
	assert_int_equal(ch_date_parse(NULL, &t), -EINVAL);
	assert_int_equal(ch_date_parse("2028-02-29", &t), 0);   /* a leap year */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instant_round_trip),
		cmocka_unit_test(test_date_round_trip),
		cmocka_unit_test(test_refuses_what_is_no_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
