/* The socket address conversion both daemons share. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "sockaddr.h"

static void addr_of(const char *text, struct ch_addr *a)
{
	struct sockaddr_storage ss;
	assert_int_equal(cfg_addr_parse(text, &ss), 0);
	assert_int_equal(ch_sockaddr_addr((struct sockaddr *)&ss, a), 0);
}

static void test_ipv4(void **state)
{
	struct ch_addr a;
	(void)state;
	addr_of("192.0.2.7:5269", &a);
	assert_int_equal(a.family, 4);
	assert_memory_equal(a.addr, ((uint8_t[]){ 192, 0, 2, 7 }), 4);
	assert_int_equal(ntohs(a.port), 5269);
	assert_int_equal(ch_addr_len(&a), 4);
}

static void test_ipv6(void **state)
{
	struct ch_addr a;
	uint8_t want[16];
	(void)state;
	addr_of("[2001:db8::5]:53", &a);
	inet_pton(AF_INET6, "2001:db8::5", want);
	assert_int_equal(a.family, 6);
	assert_memory_equal(a.addr, want, 16);
	assert_int_equal(ntohs(a.port), 53);
	assert_int_equal(ch_addr_len(&a), 16);
}

static void test_mapped_ipv4_is_ipv4(void **state)
{
	struct ch_addr a;
	(void)state;
	addr_of("[::ffff:198.51.100.9]:1", &a);
	assert_int_equal(a.family, 4);
	assert_memory_equal(a.addr, ((uint8_t[]){ 198, 51, 100, 9 }), 4);
	assert_int_equal(ntohs(a.port), 1);
}

static void test_other_family(void **state)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	struct ch_addr a = { .family = 9 };
	(void)state;
	assert_int_equal(ch_sockaddr_addr((struct sockaddr *)&ss, &a), -EAFNOSUPPORT);
	assert_int_equal(a.family, 0);
	assert_int_equal(ch_sockaddr_addr(NULL, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_mapped_ipv4_is_ipv4),
		cmocka_unit_test(test_other_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
