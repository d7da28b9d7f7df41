/* The presentation form dnsd writes itself (dnsd__name_text) is the one
 * ldns writes, lower-cased: policy decides on that text, so a name must
 * never read as another, whatever its bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "internal.h"

/* ldns's text for name, lower-cased as dnsd did before writing its own. */
static char *ldns_text(const ldns_rdf *name)
{
	char *s = ldns_rdf2str(name);

	assert_non_null(s);
	for (char *p = s; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	return s;
}

static void same_as_ldns(const uint8_t *wire, size_t len)
{
	ldns_rdf *name = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len, wire);
	char buf[DNSD_NAME_TEXT_MAX], *mine, *theirs;

	assert_non_null(name);
	mine = dnsd__name_text(name, buf);
	theirs = ldns_text(name);
	assert_non_null(mine);
	assert_string_equal(mine, theirs);
	if (mine != buf)
		free(mine);
	free(theirs);
	ldns_rdf_deep_free(name);
}

static void test_plain_names_are_written_without_ldns(void **state)
{
	static const uint8_t srv[] = "\x0c_xmpp-server\x04_TCP\x03M01\x05" "bench\x07" "example";
	ldns_rdf *name = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, sizeof(srv), srv);
	char buf[DNSD_NAME_TEXT_MAX];

	(void)state;
	assert_non_null(name);
	assert_ptr_equal(dnsd__name_text(name, buf), buf);
	assert_string_equal(buf, "_xmpp-server._tcp.m01.bench.example.");
	ldns_rdf_deep_free(name);
	same_as_ldns(srv, sizeof(srv));
	same_as_ldns((const uint8_t *)"", 1);   /* the root: "." */
}

/* Regression guard: a label holding a dot, or any byte presentation format
 * escapes, must not come out as a plain name (\x01a\x01. and a.. differ, and
 * "a.b" as one label is not the two labels a and b). */
static void test_names_that_need_escapes_read_as_ldns_writes_them(void **state)
{
	static const uint8_t dot[] = "\x03" "a.b\x07" "example";
	static const uint8_t odd[] = "\x05" "a\\b;(\x04" "\x00\x20\xff)\x02" "Ex";

	(void)state;
	same_as_ldns(dot, sizeof(dot));
	same_as_ldns(odd, sizeof(odd));
}

/* Random names, a third of their bytes from the whole range. */
static void test_random_names_read_as_ldns_writes_them(void **state)
{
	static const char plain[] = "abcXYZ019-_";
	uint8_t wire[LDNS_MAX_DOMAINLEN];
	uint32_t x = 2463534242u;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned labels = 1 + x % 6;
		for (unsigned l = 0; l < labels; l++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			size_t n = 1 + x % 63;
			if (len + 1 + n + 1 > sizeof(wire))
				break;
			wire[len++] = (uint8_t)n;
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				wire[len++] = x % 3 ? (uint8_t)plain[x % (sizeof(plain) - 1)] : (uint8_t)(x >> 8);
			}
		}
		wire[len++] = 0;
		same_as_ldns(wire, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names_are_written_without_ldns),
		cmocka_unit_test(test_names_that_need_escapes_read_as_ldns_writes_them),
		cmocka_unit_test(test_random_names_read_as_ldns_writes_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
