/* The stream reader: what it accepts, what it refuses and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xmppd.h"

#define HEAD "<?xml version='1.0'?><stream:stream xmlns='jabber:server' " \
             "xmlns:stream='http://etherx.jabber.org/streams' "

/* Feed s in pieces of step bytes until an event; return it. */
static enum xmppd_event run(xmppd_reader *r, const char *s, size_t step)
{
	size_t n = strlen(s), off = 0, used;
	enum xmppd_event ev = XMPPD_EV_MORE;

	while (off < n || ev != XMPPD_EV_MORE) {
		size_t k = n - off < step ? n - off : step;
		ev = xmppd_reader_feed(r, s + off, k, &used);
		off += used;
		if (ev != XMPPD_EV_MORE)
			return ev;
		if (off >= n)
			break;
	}
	return ev;
}

static void test_header_whole_and_byte_by_byte(void **state)
{
	const char *s = HEAD "from='a.example' to='B.Example' version='1.0'>";
	for (size_t step = 1; step <= strlen(s); step += strlen(s) - 1) {
		xmppd_reader *r;
		assert_int_equal(xmppd_reader_new(8192, &r), 0);
		assert_int_equal(run(r, s, step), XMPPD_EV_HEADER);
		const struct xmppd_header *h = xmppd_reader_header(r);
		assert_non_null(h);
		assert_true(h->has_from && h->has_to && h->has_version);
		assert_string_equal(h->from, "a.example");
		assert_string_equal(h->to, "B.Example");
		assert_int_equal(h->version_major, 1);
		xmppd_reader_free(r);
	}
}

static void test_starttls_after_header(void **state)
{
	xmppd_reader *r;
	assert_int_equal(xmppd_reader_new(8192, &r), 0);
	const char *s = HEAD "to='b.example' version='1.0'>"
	                "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	size_t used, n = strlen(s);
	assert_int_equal(xmppd_reader_feed(r, s, n, &used), XMPPD_EV_HEADER);
	assert_int_equal(used, n);  /* expat holds the rest */
	assert_int_equal(xmppd_reader_feed(r, s + used, 0, &used), XMPPD_EV_STARTTLS);
	/* a fresh stream after TLS */
	assert_int_equal(xmppd_reader_reset(r), 0);
	assert_null(xmppd_reader_header(r));
	assert_int_equal(run(r, HEAD "to='c.example' version='1.0'>", 7), XMPPD_EV_HEADER);
	assert_string_equal(xmppd_reader_header(r)->to, "c.example");
	/* some other element, then the end of the stream */
	assert_int_equal(run(r, "<db:result xmlns:db='jabber:server:dialback'>x</db:result>", 5),
	                 XMPPD_EV_ELEMENT);
	assert_int_equal(run(r, "</stream:stream>", 3), XMPPD_EV_CLOSED);
	xmppd_reader_free(r);
}

struct bad {
	const char *name, *text;
	enum xmppd_cond cond;
};

static const struct bad bad[] = {
	{ "garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", XMPPD_COND_NOT_WELL_FORMED },
	{ "http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", XMPPD_COND_NOT_WELL_FORMED },
	{ "client-namespace", "<stream:stream xmlns='jabber:client' "
	  "xmlns:stream='http://etherx.jabber.org/streams' to='b.example' version='1.0'>",
	  XMPPD_COND_INVALID_NAMESPACE },
	{ "no-default-namespace", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	  "to='b.example' version='1.0'>", XMPPD_COND_INVALID_NAMESPACE },
	{ "wrong-stream-namespace", "<stream:stream xmlns='jabber:server' "
	  "xmlns:stream='http://example.com/streams' to='b.example'>", XMPPD_COND_INVALID_NAMESPACE },
	{ "not-a-stream", "<html xmlns='jabber:server'>", XMPPD_COND_INVALID_NAMESPACE },
	{ "unbound-prefix", "<stream:stream xmlns='jabber:server' to='b.example'>",
	  XMPPD_COND_BAD_NAMESPACE_PREFIX },
	{ "doctype", "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	  "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
	  "<stream:stream xmlns='jabber:server'>", XMPPD_COND_RESTRICTED_XML },
	{ "external-entity", "<!DOCTYPE s SYSTEM 'file:///etc/passwd'><s/>",
	  XMPPD_COND_RESTRICTED_XML },
	{ "comment", "<!-- hi --><stream:stream>", XMPPD_COND_RESTRICTED_XML },
	{ "pi", "<?evil x?><stream:stream>", XMPPD_COND_RESTRICTED_XML },
	{ "entity-ref", HEAD "to='&foo;'>", XMPPD_COND_RESTRICTED_XML },
	{ "bad-version", HEAD "to='b.example' version='one'>", XMPPD_COND_UNSUPPORTED_VERSION },
	{ "bad-utf8", HEAD "to='b.\xff\xfe'>", XMPPD_COND_NOT_WELL_FORMED },
	{ "nul", HEAD "to='b\0", XMPPD_COND_NOT_WELL_FORMED },
};

static void test_bad_input(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 1; step <= 4096; step *= 4096) {
			xmppd_reader *r;
			const char *why = NULL;
			size_t n = !strcmp(bad[i].name, "nul") ? strlen(bad[i].text) + 1 : strlen(bad[i].text);
			char *copy = malloc(n + 1);
			memcpy(copy, bad[i].text, n);
			copy[n] = '\0';
			assert_int_equal(xmppd_reader_new(8192, &r), 0);
			enum xmppd_event ev = XMPPD_EV_MORE;
			for (size_t off = 0, used; off < n && ev == XMPPD_EV_MORE; off += used) {
				size_t k = n - off < step ? n - off : step;
				ev = xmppd_reader_feed(r, copy + off, k, &used);
			}
			if (ev != XMPPD_EV_ERROR)
				fail_msg("%s (step %zu): event %d, not an error", bad[i].name, step, ev);
			if (xmppd_reader_error(r, &why) != bad[i].cond)
				fail_msg("%s: %s (%s), wanted %s", bad[i].name,
				         xmppd_cond_name(xmppd_reader_error(r, NULL)), why,
				         xmppd_cond_name(bad[i].cond));
			assert_non_null(why);
			/* an error sticks */
			assert_int_equal(xmppd_reader_feed(r, "<a/>", 4, NULL), XMPPD_EV_ERROR);
			xmppd_reader_free(r);
			free(copy);
		}
	}
}

static void test_budget(void **state)
{
	xmppd_reader *r;
	const char *why;
	size_t used;
	/* a 1 MB attribute: refused once the budget is spent, not buffered */
	size_t n = 1 << 20;
	char *big = malloc(n);
	memset(big, 'a', n);
	memcpy(big, HEAD "to='", strlen(HEAD "to='"));

	assert_int_equal(xmppd_reader_new(4096, &r), 0);
	assert_int_equal(xmppd_reader_feed(r, big, n, &used), XMPPD_EV_MORE);
	assert_int_equal(used, 4096);
	assert_int_equal(xmppd_reader_feed(r, big + used, n - used, &used), XMPPD_EV_ERROR);
	assert_int_equal(xmppd_reader_error(r, &why), XMPPD_COND_POLICY_VIOLATION);
	assert_non_null(strstr(why, "too long"));
	xmppd_reader_free(r);
	free(big);
}

static void test_long_names(void **state)
{
	char s[4096];
	xmppd_reader *r;

	snprintf(s, sizeof(s), HEAD "from='%01100d' to='b.example' version='1.0'>", 0);
	assert_int_equal(xmppd_reader_new(8192, &r), 0);
	assert_int_equal(run(r, s, 4096), XMPPD_EV_ERROR);
	assert_int_equal(xmppd_reader_error(r, NULL), XMPPD_COND_INVALID_FROM);
	xmppd_reader_free(r);
}

/* A freed reader is kept and made new for the next stream: nothing of
 * the stream before may show through, not a name, not an error, not the
 * budget used, nor a namespace declared. */
static void test_reused_reader_starts_clean(void **state)
{
	const char *first = HEAD "from='a.example' to='b.example' version='1.0'>";
	const char *good = "<?xml version='1.0'?><stream:stream "
	                   "xmlns:stream='http://etherx.jabber.org/streams' to='c.example' "
	                   "version='1.0'>";
	xmppd_reader *r;

	(void)state;
	for (int round = 0; round < 40; round++) {   /* past the pool's size */
		assert_int_equal(xmppd_reader_new(8192, &r), 0);
		assert_int_equal(run(r, first, 7), XMPPD_EV_HEADER);
		assert_int_equal(run(r, "<x:y/>", 7), XMPPD_EV_ERROR);
		xmppd_reader_free(r);
		assert_int_equal(xmppd_reader_new(8192, &r), 0);
		/* No default namespace this time: the one before must not count. */
		assert_int_equal(run(r, good, 3), XMPPD_EV_ERROR);
		assert_int_equal(xmppd_reader_error(r, NULL), XMPPD_COND_INVALID_NAMESPACE);
		xmppd_reader_free(r);
		assert_int_equal(xmppd_reader_new(60, &r), 0);
		assert_int_equal(run(r, first, 5), XMPPD_EV_ERROR);   /* a smaller budget holds */
		xmppd_reader_free(r);
		assert_int_equal(xmppd_reader_new(8192, &r), 0);
		assert_int_equal(run(r, HEAD "to='d.example' version='1.0'>", 11), XMPPD_EV_HEADER);
		const struct xmppd_header *h = xmppd_reader_header(r);
		assert_false(h->has_from);
		assert_string_equal(h->to, "d.example");
		xmppd_reader_free(r);
	}
	xmppd_reader_pool_drain();
}

/* A header is read first without namespaces when it is in the plain form;
 * every other form is judged by the namespace parser from its first byte.
 * Either way the reader must say what a namespace-aware reader says: the
 * prefix and the declarations decide, not the spelling. */
static void test_plain_and_namespaced_headers_read_alike(void **state)
{
	static const struct {
		const char *text;
		enum xmppd_event ev;
		enum xmppd_cond cond;   /* for XMPPD_EV_ERROR */
		const char *to;         /* for XMPPD_EV_HEADER */
	} cases[] = {
		/* another prefix for the streams namespace, and xml:lang */
		{ "<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams' "
		  "xml:lang='en' to='b.example' version='1.0'>", XMPPD_EV_HEADER, 0, "b.example" },
		/* a namespaced 'to' is not the stream's */
		{ HEAD "xmlns:x='urn:x' x:to='evil.example' to='b.example' version='1.0'>",
		  XMPPD_EV_HEADER, 0, "b.example" },
		{ HEAD "y:to='evil.example' to='b.example' version='1.0'>", XMPPD_EV_ERROR,
		  XMPPD_COND_BAD_NAMESPACE_PREFIX, NULL },
		/* the prefix bound to something else, or undeclared */
		{ "<stream:stream xmlns='jabber:server' xmlns:stream='urn:other' to='b.example'>",
		  XMPPD_EV_ERROR, XMPPD_COND_INVALID_NAMESPACE, NULL },
		{ "<stream:stream xmlns='jabber:server' xmlns:stream='' to='b.example'>",
		  XMPPD_EV_ERROR, XMPPD_COND_NOT_WELL_FORMED, NULL },
		{ HEAD "xmlns:xml='urn:x' to='b.example'>", XMPPD_EV_ERROR,
		  XMPPD_COND_NOT_WELL_FORMED, NULL },
		/* names that are XML but not namespace-well-formed */
		{ "<stream:stream:x xmlns='jabber:server' "
		  "xmlns:stream='http://etherx.jabber.org/streams' to='b.example'>",
		  XMPPD_EV_ERROR, XMPPD_COND_NOT_WELL_FORMED, NULL },
		{ HEAD "a:b:c='1' to='b.example'>", XMPPD_EV_ERROR, XMPPD_COND_NOT_WELL_FORMED, NULL },
		/* the same local name twice in one namespace */
		{ HEAD "xmlns:p='urn:x' xmlns:q='urn:x' p:a='1' q:a='2' to='b.example'>",
		  XMPPD_EV_ERROR, XMPPD_COND_NOT_WELL_FORMED, NULL },
		/* a stream that ends in its own start tag */
		{ HEAD "to='b.example' version='1.0'/>", XMPPD_EV_CLOSED, 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 1; step <= 4096; step *= 4096) {
			xmppd_reader *r;
			assert_int_equal(xmppd_reader_new(8192, &r), 0);
			enum xmppd_event ev = run(r, cases[i].text, step);
			if (ev != cases[i].ev)
				fail_msg("case %zu (step %zu): event %d, wanted %d", i, step, ev, cases[i].ev);
			if (ev == XMPPD_EV_ERROR && xmppd_reader_error(r, NULL) != cases[i].cond)
				fail_msg("case %zu (step %zu): %s", i, step,
				         xmppd_cond_name(xmppd_reader_error(r, NULL)));
			if (ev == XMPPD_EV_HEADER)
				assert_string_equal(xmppd_reader_header(r)->to, cases[i].to);
			xmppd_reader_free(r);
		}
	}
}

/* The rest of a stream read after a plain header (STARTTLS offered): the
 * namespace parser takes over behind the header, which is not told twice. */
/* Regression (fuzz_stream): a feed of no bytes to a reader that had kept
 * none added zero to its null buffer, which is undefined (UBSan says
 * so).  Nothing fed is nothing kept, and the header that follows reads as
 * ever. */
static void test_empty_feed_before_any_byte_keeps_nothing(void **state)
{
	const char *s = HEAD "from='a.example' to='b.example' version='1.0'>";
	xmppd_reader *r;
	size_t used = 1;

	(void)state;
	xmppd_reader_pool_drain();   /* a new reader, not one that kept bytes before */
	assert_int_equal(xmppd_reader_new(8192, &r), 0);
	assert_int_equal(xmppd_reader_feed(r, s, 0, &used), XMPPD_EV_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(run(r, s, strlen(s)), XMPPD_EV_HEADER);
	assert_string_equal(xmppd_reader_header(r)->from, "a.example");
	xmppd_reader_free(r);
}

static void test_plain_header_then_starttls_in_one_read(void **state)
{
	const char *s = "<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams' "
	                "to='b.example' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	                "<x:y/>";
	xmppd_reader *r;
	size_t used;

	(void)state;
	assert_int_equal(xmppd_reader_new(8192, &r), 0);
	assert_int_equal(xmppd_reader_feed(r, s, strlen(s), &used), XMPPD_EV_HEADER);
	assert_int_equal(xmppd_reader_feed(r, NULL, 0, &used), XMPPD_EV_STARTTLS);
	/* an unbound prefix after it is seen with namespaces */
	assert_int_equal(xmppd_reader_feed(r, NULL, 0, &used), XMPPD_EV_ERROR);
	assert_int_equal(xmppd_reader_error(r, NULL), XMPPD_COND_BAD_NAMESPACE_PREFIX);
	xmppd_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_whole_and_byte_by_byte),
		cmocka_unit_test(test_starttls_after_header),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_reused_reader_starts_clean),
		cmocka_unit_test(test_plain_and_namespaced_headers_read_alike),
		cmocka_unit_test(test_plain_header_then_starttls_in_one_read),
		cmocka_unit_test(test_empty_feed_before_any_byte_keeps_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
