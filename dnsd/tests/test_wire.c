/* What dnsd writes by hand where it once asked ldns: the presentation form
 * of a name (dnsd__name_text), which policy decides on, so a name must
 * never read as another whatever its bytes; and whole responses
 * (dnsd__wire_pkt), which must read back as the packet they came from. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Same text as ldns; true if dnsd wrote it itself (no escape needed). */
static bool same_as_ldns(const uint8_t *wire, size_t len)
{
	ldns_rdf *name = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len, wire);
	char buf[DNSD_NAME_TEXT_MAX], *mine, *theirs;

	assert_non_null(name);
	mine = dnsd__name_text(name, buf);
	theirs = ldns_text(name);
	assert_non_null(mine);
	assert_string_equal(mine, theirs);
	bool own = mine == buf;
	if (!own)
		free(mine);
	free(theirs);
	ldns_rdf_deep_free(name);
	return own;
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
	assert_true(same_as_ldns(srv, sizeof(srv)));
	assert_true(same_as_ldns((const uint8_t *)"", 1));   /* the root: "." */
}

/* Regression guard: a label holding a dot, or any byte presentation format
 * escapes, must not come out as a plain name (\x01a\x01. and a.. differ, and
 * "a.b" as one label is not the two labels a and b). */
static void test_names_that_need_escapes_read_as_ldns_writes_them(void **state)
{
	static const uint8_t dot[] = "\x03" "a.b\x07" "example";
	static const uint8_t odd[] = "\x05" "a\\b;(\x04" "\x00\x20\xff)\x02" "Ex";

	(void)state;
	assert_false(same_as_ldns(dot, sizeof(dot)));
	assert_false(same_as_ldns(odd, sizeof(odd)));
}

/* Random names: half of them of plain bytes only, up to the longest
 * labels and names, which dnsd writes itself; the others with a byte from
 * the whole range now and then, most of which ldns writes. */
static void test_random_names_read_as_ldns_writes_them(void **state)
{
	static const char plain[] = "abcXYZ019-_";
	uint8_t wire[LDNS_MAX_DOMAINLEN];
	uint32_t x = 2463534242u;
	int own = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		bool only_plain = round % 2 == 0;
		size_t len = 0;
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned labels = 1 + x % 6;
		for (unsigned l = 0; l < labels; l++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			size_t n = x % 4 == 0 ? 63 : 1 + x % 63;
			if (len + 3 > sizeof(wire))
				break;   /* no room for a label of one byte and the root */
			if (len + 1 + n + 1 > sizeof(wire))
				n = sizeof(wire) - len - 2;   /* a name of 255 bytes */
			wire[len++] = (uint8_t)n;
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				wire[len++] = only_plain || x % 10 ? (uint8_t)plain[x % (sizeof(plain) - 1)]
				                                   : (uint8_t)(x >> 8);
			}
		}
		wire[len++] = 0;
		own += same_as_ldns(wire, len);
	}
	assert_true(own >= 10000);   /* the plain half at least */
}

/* ---- names from text, and below others ---- */

/* Text of plain labels, with now and then a byte ldns escapes or reads
 * otherwise, an empty label, an overlong one, or a final dot. */
static size_t random_text(uint32_t *x, char *text, size_t cap)
{
	static const char plain[] = "abcXYZ019-_";
	static const char odd[] = ".\\;() \"";
	size_t n = 0;

	*x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
	unsigned labels = 1 + *x % 5;
	for (unsigned l = 0; l < labels && n + 70 < cap; l++) {
		*x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
		size_t len = *x % 67;   /* 0, and past 63, now and then */
		for (size_t i = 0; i < len; i++) {
			*x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
			text[n++] = *x % 40 ? plain[*x % (sizeof(plain) - 1)] : odd[*x % (sizeof(odd) - 1)];
		}
		if (l + 1 < labels)
			text[n++] = '.';
	}
	text[n] = 0;
	return n;
}

static void test_names_from_text_are_ldns_names(void **state)
{
	char text[400], dotted[402];
	uint32_t x = 1234567u;
	int made = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = random_text(&x, text, sizeof(text));
		ldns_rdf *mine = dnsd__name_from_text(text, n);
		snprintf(dotted, sizeof(dotted), "%s.", text);
		ldns_rdf *theirs = ldns_dname_new_frm_str(dotted);
		assert_int_equal(mine != NULL, theirs != NULL);
		if (mine) {
			assert_int_equal(ldns_rdf_size(mine), ldns_rdf_size(theirs));
			assert_memory_equal(ldns_rdf_data(mine), ldns_rdf_data(theirs), ldns_rdf_size(mine));
			made++;
		}
		ldns_rdf_deep_free(mine);
		ldns_rdf_deep_free(theirs);
	}
	assert_true(made > 1000);
	ldns_rdf *root = dnsd__name_from_text("", 0);
	assert_non_null(root);
	assert_int_equal(ldns_rdf_size(root), 1);
	ldns_rdf_deep_free(root);
}

static void test_at_or_below_is_what_ldns_says(void **state)
{
	static const char *names[] = { ".", "example.", "EXAMPLE.", "a.example.", "A.Example.",
	                               "b.a.example.", "xample.", "aexample.", "a.example.org.",
	                               "org.", "example.org.", "\\001.example.", "a\\.b.example.",
	                               "b.example." };
	const size_t n = sizeof(names) / sizeof(names[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			ldns_rdf *a = ldns_dname_new_frm_str(names[i]), *b = ldns_dname_new_frm_str(names[j]);
			assert_non_null(a);
			assert_non_null(b);
			bool theirs = ldns_dname_compare(a, b) == 0 || ldns_dname_is_subdomain(a, b);
			if (dnsd__name_at_or_below(a, b) != theirs)
				fail_msg("%s below %s: ldns says %d", names[i], names[j], theirs);
			ldns_rdf_deep_free(a);
			ldns_rdf_deep_free(b);
		}
	}
}

/* ---- responses ---- */

static ldns_rr *rr_of(const char *text)
{
	ldns_rr *rr = NULL;

	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
	return rr;
}

/* ldns's text of a packet, in lower case: compression may give a later
 * name the case of the earlier one it points to, as ldns's own does. */
static char *pkt_text(const ldns_pkt *p)
{
	static const char *const drop[] = { ";; query time", ";; when", ";; msg size", ";; server" };
	char *s = ldns_pkt2str(p), *out, *o;

	assert_non_null(s);
	assert_non_null(out = o = malloc(strlen(s) + 1));
	for (char *line = s, *end; *line; line = end) {
		bool keep = true;
		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		for (char *c = line; c < end; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		/* What differs by nature between a packet made and one read. */
		for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
			keep &= strncmp(line, drop[i], strlen(drop[i])) != 0;
		if (keep) {
			memcpy(o, line, (size_t)(end - line));
			o += end - line;
		}
	}
	*o = 0;
	free(s);
	return out;
}

/* One writer for every test, as an engine keeps one: each message finds
 * the names of those before it still in the table, to be ignored. */
static struct dnsd__wire *writer(void)
{
	static struct dnsd__wire w;
	static bool ready;

	if (!ready)
		dnsd__wire_init(&w);
	ready = true;
	return &w;
}

/* p written by dnsd reads back as p, byte for byte as ldns writes it: the
 * same names compressed, to the same places, and only where RFC 3597 4
 * lets a name in rdata be (an SRV's target never is, RFC 2782). */
static void reads_back(const ldns_pkt *p)
{
	struct dnsd__wire *w = writer();
	uint8_t *theirs = NULL;
	size_t theirs_len = 0;
	ldns_pkt *back = NULL;

	assert_int_equal(dnsd__wire_pkt(w, p), 0);
	assert_int_equal(ldns_wire2pkt(&back, w->buf, w->len), LDNS_STATUS_OK);
	char *a = pkt_text(p), *b = pkt_text(back);
	assert_string_equal(b, a);
	assert_int_equal(ldns_pkt2wire(&theirs, p, &theirs_len), LDNS_STATUS_OK);
	assert_int_equal(w->len, theirs_len);
	assert_memory_equal(w->buf, theirs, w->len);
	free(theirs);
	free(a);
	free(b);
	ldns_pkt_free(back);
}

static ldns_pkt *response(const char *qname, ldns_rr_type qtype)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *q = ldns_rr_new();
	ldns_rdf *name = ldns_dname_new_frm_str(qname);

	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(name);
	ldns_rr_set_owner(q, name);
	ldns_rr_set_type(q, qtype);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	ldns_pkt_set_id(p, 0xbeef);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_rd(p, true);
	return p;
}

static void test_an_srv_answer_reads_back_with_edns(void **state)
{
	ldns_pkt *p = response("_xmpp-server._tcp.M01.Bench.example.", LDNS_RR_TYPE_SRV);

	(void)state;
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
	                 rr_of("_xmpp-server._tcp.m01.bench.example. 60 IN SRV 0 0 5269 ch.bench.example."));
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
	                 rr_of("_xmpp-server._tcp.m01.bench.example. 60 IN SRV 10 0 5269 xmpp.m01.bench.example."));
	ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr_of("ch.bench.example. 3600 IN A 192.0.2.5"));
	ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr_of("ch.bench.example. 3600 IN AAAA 2001:db8::5"));
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_do(p, true);
	reads_back(p);
	ldns_pkt_free(p);
}

static void test_nxdomain_nodata_and_badvers_read_back(void **state)
{
	const char *soa = "bench.example. 3600 IN SOA ns.bench.example. hostmaster.bench.example. "
	                  "7 3600 600 86400 60";
	ldns_pkt *p = response("nobody.bench.example.", LDNS_RR_TYPE_A);

	(void)state;
	ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr_of(soa));
	reads_back(p);
	ldns_pkt_free(p);
	p = response("bench.example.", LDNS_RR_TYPE_MX);
	ldns_pkt_set_cd(p, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr_of("bench.example. 60 IN MX 10 mail.bench.example."));
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr_of("bench.example. 60 IN NS ns.bench.example."));
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr_of(soa));
	ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL,
	                 rr_of("ns.bench.example. 60 IN TXT \"a\\\"b\" \"\""));
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_extended_rcode(p, 1);
	reads_back(p);
	ldns_pkt_free(p);
}

/* Records drawn at random from names that share suffixes, in several
 * cases, over every section, many in one message. */
static void test_random_responses_read_back(void **state)
{
	static const char *names[] = { "a.example.", "B.a.example.", "b.A.example.", "x.b.a.example.",
	                               "example.", "other.test.", "sub.other.test.", "A.EXAMPLE." };
	/* Each type, and what comes before and after the name it names. */
	static const char *types[][2] = { { "A 192.0.2.1", NULL }, { "NS ", "" }, { "CNAME ", "" },
	                                   { "MX 5 ", "" }, { "SRV 1 2 3 ", "" }, { "TXT \"", "\"" },
	                                   { "PTR ", "" }, { "AAAA 2001:db8::1", NULL } };
	uint32_t x = 88172645u;

	(void)state;
	for (int round = 0; round < 300; round++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		ldns_pkt *p = response(names[x % 8], LDNS_RR_TYPE_ANY);
		unsigned n = x % 40;
		for (unsigned i = 0; i < n; i++) {
			char text[300], rdata[100];
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			const char *const *t = types[x % 8];
			snprintf(rdata, sizeof(rdata), "%s%s%s", t[0], t[1] ? names[(x >> 3) % 8] : "",
			         t[1] ? t[1] : "");
			snprintf(text, sizeof(text), "%s %u IN %s", names[(x >> 6) % 8], x >> 20, rdata);
			ldns_pkt_push_rr(p, (ldns_pkt_section)(LDNS_SECTION_ANSWER + (x >> 9) % 3),
			                 rr_of(text));
		}
		if (x & 0x8000)
			ldns_pkt_set_edns_udp_size(p, 4096);
		reads_back(p);
		ldns_pkt_free(p);
	}
}

/* Names are remembered by generation, not cleared: after the 16-bit
 * generation wraps, no name of an old message may be pointed to. */
static void test_the_writer_forgets_old_names_across_its_generations(void **state)
{
	ldns_pkt *old = response("old.example.", LDNS_RR_TYPE_MX), *p;

	(void)state;
	ldns_pkt_push_rr(old, LDNS_SECTION_ANSWER, rr_of("old.example. 60 IN MX 1 mx.old.example."));
	for (int i = 0; i < 70000; i++)
		assert_int_equal(dnsd__wire_pkt(writer(), old), 0);
	ldns_pkt_free(old);
	p = response("new.example.", LDNS_RR_TYPE_NS);
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr_of("new.example. 60 IN NS mx.old.example."));
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr_of("new.example. 60 IN NS ns.new.example."));
	reads_back(p);
	ldns_pkt_free(p);
}

/* A name first written past 16,383 bytes cannot be pointed to (a pointer
 * has 14 bits): it is written whole each time, as ldns does. */
static void test_names_past_16k_are_written_whole(void **state)
{
	ldns_pkt *p = response("big.example.", LDNS_RR_TYPE_TXT);
	char text[600];

	(void)state;
	snprintf(text, sizeof(text), "big.example. 60 IN TXT \"%0250d\"", 0);
	for (int i = 0; i < 80; i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr_of(text));
	for (int i = 0; i < 3; i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr_of("late.example. 60 IN NS ns.late.example."));
	reads_back(p);
	assert_true(writer()->len > 20000);
	ldns_pkt_free(p);
}

/* EDNS data set on a packet goes out as the OPT record's rdata. */
static void test_edns_data_goes_out_as_the_opt_rdata(void **state)
{
	static const uint8_t nsid[] = { 0, 3, 0, 2, 'c', 'h' };
	ldns_pkt *p = response("bench.example.", LDNS_RR_TYPE_SOA);

	(void)state;
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, sizeof(nsid), nsid));
	reads_back(p);
	ldns_pkt_free(p);
}

/* A packet that cannot fit is refused, not written past the buffer. */
static void test_a_response_too_large_is_refused(void **state)
{
	static struct dnsd__wire w;
	ldns_pkt *p = response("big.example.", LDNS_RR_TYPE_TXT);
	char text[600];

	(void)state;
	memset(text, 0, sizeof(text));
	strcpy(text, "big.example. 60 IN TXT \"");
	memset(text + strlen(text), 'x', 250);
	strcat(text, "\"");
	for (int i = 0; i < 300; i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr_of(text));
	dnsd__wire_init(&w);
	assert_int_equal(dnsd__wire_pkt(&w, p), -EMSGSIZE);
	ldns_pkt_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names_are_written_without_ldns),
		cmocka_unit_test(test_names_that_need_escapes_read_as_ldns_writes_them),
		cmocka_unit_test(test_random_names_read_as_ldns_writes_them),
		cmocka_unit_test(test_names_from_text_are_ldns_names),
		cmocka_unit_test(test_at_or_below_is_what_ldns_says),
		cmocka_unit_test(test_an_srv_answer_reads_back_with_edns),
		cmocka_unit_test(test_nxdomain_nodata_and_badvers_read_back),
		cmocka_unit_test(test_random_responses_read_back),
		cmocka_unit_test(test_the_writer_forgets_old_names_across_its_generations),
		cmocka_unit_test(test_names_past_16k_are_written_whole),
		cmocka_unit_test(test_edns_data_goes_out_as_the_opt_rdata),
		cmocka_unit_test(test_a_response_too_large_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
