/* The text of a scrape: growth past any first buffer, and the family
 * names the two formats want. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_text_grows_past_its_first_buffer(void **state)
{
	struct ch_text t = { 0 };
	(void)state;
	for (int i = 0; i < 2000; i++)
		ch_metric_sample(&t, "x_total", "a=\"b\"", (uint64_t)i);
	assert_false(t.failed);
	assert_non_null(strstr(t.buf, "x_total{a=\"b\"} 1999\n"));
	assert_int_equal(t.len, strlen(t.buf));
	free(t.buf);
}

static void test_counter_family_loses_total_only_in_openmetrics(void **state)
{
	struct ch_text prom = { 0 }, om = { .openmetrics = true };
	(void)state;
	ch_metric_family(&prom, "q_total", "counter", "Q.");
	ch_metric_family(&om, "q_total", "counter", "Q.");
	ch_metric_family(&om, "open", "gauge", "Open.");
	assert_string_equal(prom.buf, "# TYPE q_total counter\n# HELP q_total Q.\n");
	assert_string_equal(om.buf, "# TYPE q counter\n# HELP q Q.\n"
	                            "# TYPE open gauge\n# HELP open Open.\n");
	free(prom.buf);
	free(om.buf);
}

static void test_sample_without_labels(void **state)
{
	struct ch_text t = { 0 };
	(void)state;
	ch_metric_sample(&t, "serial", NULL, 18446744073709551615ull);
	assert_string_equal(t.buf, "serial 18446744073709551615\n");
	free(t.buf);
}

static void test_counter_add_and_get(void **state)
{
	uint64_t c = 0;
	(void)state;
	ch_counter_add(&c, 2);
	ch_counter_add(&c, 40);
	assert_int_equal(ch_counter_get(&c), 42);
	ch_gauge_set(&c, 7);
	assert_int_equal(ch_counter_get(&c), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_grows_past_its_first_buffer),
		cmocka_unit_test(test_counter_family_loses_total_only_in_openmetrics),
		cmocka_unit_test(test_sample_without_labels),
		cmocka_unit_test(test_counter_add_and_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
