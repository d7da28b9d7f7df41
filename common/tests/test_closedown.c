/* The close-down count both servers share. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "closedown.h"

static int called;

static void done(void *arg)
{
	called += *(int *)arg;
}

static void test_ends_when_the_last_is_released(void **state)
{
	struct ch_closedown d = { 0 };
	int one = 1;
	(void)state;

	d.open = 2;                                 /* say, a listener and a connection */
	assert_false(ch_closedown_release(&d));     /* not closing: never the end */
	d.open++;
	assert_int_equal(ch_closedown_start(&d, done, &one), 0);
	assert_int_equal(ch_closedown_start(&d, done, &one), -EALREADY);
	assert_false(ch_closedown_release(&d));
	assert_false(ch_closedown_release(&d));
	assert_true(ch_closedown_release(&d));      /* the hold of the start, last */
	assert_ptr_equal(d.cb, done);
	d.cb(d.arg);
	assert_int_equal(called, 1);
	assert_false(ch_closedown_release(&d));     /* nothing left to release */
}

static void test_nothing_open(void **state)
{
	struct ch_closedown d = { 0 };
	(void)state;

	assert_int_equal(ch_closedown_start(&d, NULL, NULL), 0);
	assert_true(ch_closedown_release(&d));
	assert_int_equal(ch_closedown_start(NULL, NULL, NULL), -EINVAL);
	assert_false(ch_closedown_release(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ends_when_the_last_is_released),
		cmocka_unit_test(test_nothing_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
