/* Response rate limiting: the buckets (rate, burst, slip, prefixes,
 * kinds of answer, collisions) on answers made by hand, at times given by
 * the test; and the configuration of rrl: and nsid:. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "rrl.h"

/* An answer as dnsd writes it: header, question name (wire form), qtype
 * IN, then the records given as raw bytes. */
struct msg {
	uint8_t b[2048];
	size_t len;
};

static void msg_start(struct msg *m, unsigned rcode, bool aa, const char *qname, uint16_t qtype)
{
	memset(m, 0, sizeof(*m));
	m->b[0] = 0x12;
	m->b[1] = 0x34;
	m->b[2] = (uint8_t)(0x80 | (aa ? 0x04 : 0));
	m->b[3] = (uint8_t)rcode;
	m->b[5] = 1;   /* QDCOUNT */
	m->len = 12;
	/* "a.b." -> 1a1b0 */
	const char *p = qname;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		m->b[m->len++] = (uint8_t)n;
		memcpy(m->b + m->len, p, n);
		m->len += n;
		p += n + (dot ? 1 : 0);
	}
	m->b[m->len++] = 0;
	ldns_write_uint16(m->b + m->len, qtype);
	ldns_write_uint16(m->b + m->len + 2, LDNS_RR_CLASS_IN);
	m->len += 4;
}

/* A record owned by the question's name (a pointer to offset 12), of
 * type with rdlen bytes of zeros, into section (6: answer, 8: authority,
 * 10: additional: the header count it bumps). */
static void msg_rr(struct msg *m, int section, uint16_t type, uint16_t rdlen)
{
	m->b[m->len++] = 0xc0;
	m->b[m->len++] = 12;
	ldns_write_uint16(m->b + m->len, type);
	ldns_write_uint16(m->b + m->len + 2, LDNS_RR_CLASS_IN);
	ldns_write_uint32(m->b + m->len + 4, 60);
	ldns_write_uint16(m->b + m->len + 8, rdlen);
	memset(m->b + m->len + 10, 0, rdlen);
	m->len += 10 + rdlen;
	ldns_write_uint16(m->b + section, (uint16_t)(ldns_read_uint16(m->b + section) + 1));
}

/* An OPT record (payload 1232, no options) in the additional section. */
static void msg_opt(struct msg *m)
{
	m->b[m->len++] = 0;
	ldns_write_uint16(m->b + m->len, LDNS_RR_TYPE_OPT);
	ldns_write_uint16(m->b + m->len + 2, 1232);
	memset(m->b + m->len + 4, 0, 6);
	m->len += 10;
	ldns_write_uint16(m->b + 10, (uint16_t)(ldns_read_uint16(m->b + 10) + 1));
}

static struct dnsd_client v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct dnsd_client cl = { .family = 4 };
	cl.addr[0] = a, cl.addr[1] = b, cl.addr[2] = c, cl.addr[3] = d;
	return cl;
}

static dnsd_rrl *table(unsigned rate, unsigned slip, size_t slots)
{
	struct dnsd_rrl_conf conf;
	dnsd_rrl *r;

	dnsd_rrl_conf_default(&conf);
	conf.rate = rate;
	conf.slip = slip;
	assert_int_equal(dnsd__rrl_new(&conf, slots, &r), 0);
	return r;
}

/* Send n answers m to c at time now: how many passed, were dropped,
 * slipped. */
static void burst(dnsd_rrl *r, const struct dnsd_client *c, const struct msg *m, unsigned n,
                  uint64_t now, unsigned *pass, unsigned *drop, unsigned *slip)
{
	*pass = *drop = *slip = 0;
	for (unsigned i = 0; i < n; i++) {
		switch (dnsd__rrl_check(r, NULL, c, m->b, m->len, now)) {
		case DNSD_RRL_PASS: (*pass)++; break;
		case DNSD_RRL_DROP: (*drop)++; break;
		case DNSD_RRL_SLIP: (*slip)++; break;
		}
	}
}

static void test_rrl_rate_then_refill(void **state)
{
	(void)state;
	dnsd_rrl *r = table(20, 2, 1024);
	struct dnsd_client c = v4(192, 0, 2, 1);
	struct msg m;
	unsigned pass, drop, slip;

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	/* A second's worth at once, then the rest limited: slip 2 sends
	 * every second one truncated. */
	burst(r, &c, &m, 100, 1000000, &pass, &drop, &slip);
	assert_int_equal(pass, 20);
	assert_int_equal(slip, 40);
	assert_int_equal(drop, 40);
	/* Half a second later, half a second's worth. */
	burst(r, &c, &m, 100, 1000500, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	/* Long after, a full bucket, no more. */
	burst(r, &c, &m, 100, 9000000, &pass, &drop, &slip);
	assert_int_equal(pass, 20);
	const struct dnsd_rrl_stats *st = dnsd__rrl_stats(r);
	assert_int_equal(st->dropped + st->slipped, 80 + 90 + 80);
	dnsd__rrl_free(r);
}

static void test_rrl_slip_zero_and_one(void **state)
{
	(void)state;
	struct dnsd_client c = v4(192, 0, 2, 1);
	struct msg m;
	unsigned pass, drop, slip;

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	dnsd_rrl *r = table(5, 0, 1024);
	burst(r, &c, &m, 50, 5000, &pass, &drop, &slip);
	assert_int_equal(pass, 5);
	assert_int_equal(slip, 0);
	assert_int_equal(drop, 45);
	dnsd__rrl_free(r);
	r = table(5, 1, 1024);
	burst(r, &c, &m, 50, 5000, &pass, &drop, &slip);
	assert_int_equal(pass, 5);
	assert_int_equal(slip, 45);
	assert_int_equal(drop, 0);
	dnsd__rrl_free(r);
}

static void test_rrl_ipv4_slash24_is_one_bucket(void **state)
{
	(void)state;
	dnsd_rrl *r = table(10, 0, 1024);
	struct dnsd_client a = v4(198, 51, 100, 1), b = v4(198, 51, 100, 254),
	                   other = v4(198, 51, 101, 1);
	struct msg m;
	unsigned pass, drop, slip;

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	burst(r, &a, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	/* Same /24: the bucket is spent. */
	burst(r, &b, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 0);
	/* The next /24 has its own. */
	burst(r, &other, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	dnsd__rrl_free(r);
}

static void test_rrl_ipv6_slash56_is_one_bucket(void **state)
{
	(void)state;
	dnsd_rrl *r = table(10, 0, 1024);
	struct dnsd_client a = { .family = 6 }, b, other;
	struct msg m;
	unsigned pass, drop, slip;

	/* 2001:db8:0:100::1 and 2001:db8:0:1ff::2 share a /56 (2001:db8:0:100::/56);
	 * 2001:db8:0:200::1 is in the next one. */
	static const uint8_t p[7] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x01 };
	memcpy(a.addr, p, 7);
	b = other = a;
	a.addr[15] = 1;
	b.addr[7] = 0xff;
	b.addr[15] = 2;
	other.addr[6] = 0x02;
	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_AAAA);
	msg_rr(&m, 6, LDNS_RR_TYPE_AAAA, 16);
	burst(r, &a, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	burst(r, &b, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 0);
	burst(r, &other, &m, 10, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	dnsd__rrl_free(r);
}

static void test_rrl_kinds_have_their_own_buckets(void **state)
{
	(void)state;
	dnsd_rrl *r = table(10, 0, 1024);
	struct dnsd_client c = v4(192, 0, 2, 1);
	struct msg pos, nx, refused;
	unsigned pass, drop, slip;

	msg_start(&pos, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&pos, 6, LDNS_RR_TYPE_A, 4);
	msg_start(&nx, LDNS_RCODE_NXDOMAIN, true, "nope.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&nx, 8, LDNS_RR_TYPE_SOA, 22);
	msg_start(&refused, LDNS_RCODE_REFUSED, false, "example.org", LDNS_RR_TYPE_A);
	burst(r, &c, &pos, 30, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	burst(r, &c, &nx, 30, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	burst(r, &c, &refused, 30, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 10);
	dnsd__rrl_free(r);
}

static void test_rrl_refusals_of_random_names_share_a_bucket(void **state)
{
	(void)state;
	dnsd_rrl *r = table(10, 0, 1024);
	struct dnsd_client c = v4(192, 0, 2, 1);
	unsigned passed = 0;
	char name[64];
	struct msg m;

	for (unsigned i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "x%u.example.org", i);
		msg_start(&m, LDNS_RCODE_REFUSED, false, name, LDNS_RR_TYPE_A);
		passed += dnsd__rrl_check(r, NULL, &c, m.b, m.len, 1000) == DNSD_RRL_PASS;
	}
	assert_int_equal(passed, 10);
	dnsd__rrl_free(r);
}

static void test_rrl_classify(void **state)
{
	(void)state;
	enum dnsd_rrl_class cls;
	uint8_t name[255];
	size_t len;
	struct msg m;

	msg_start(&m, 0, false, "_tcp.other.example", LDNS_RR_TYPE_SRV);
	msg_rr(&m, 8, LDNS_RR_TYPE_NS, 4);
	assert_true(dnsd__rrl_classify(m.b, m.len, &cls, name, &len));
	assert_int_equal(cls, DNSD_RRL_REFERRAL);
	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_MX);
	msg_rr(&m, 8, LDNS_RR_TYPE_SOA, 22);
	assert_true(dnsd__rrl_classify(m.b, m.len, &cls, name, &len));
	assert_int_equal(cls, DNSD_RRL_NODATA);
	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_ANY);
	msg_rr(&m, 6, LDNS_RR_TYPE_HINFO, 9);
	assert_true(dnsd__rrl_classify(m.b, m.len, &cls, name, &len));
	assert_int_equal(cls, DNSD_RRL_ANY);
	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_TXT);
	msg_rr(&m, 6, LDNS_RR_TYPE_TXT, 1100);
	assert_true(dnsd__rrl_classify(m.b, m.len, &cls, name, &len));
	assert_int_equal(cls, DNSD_RRL_LARGE);
	msg_start(&m, 0, true, "CH.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	assert_true(dnsd__rrl_classify(m.b, m.len, &cls, name, &len));
	assert_int_equal(cls, DNSD_RRL_POSITIVE);
	assert_int_equal(len, 16);
	assert_memory_equal(name, "\2ch\3fed\7example", 16);
	/* Cut short: not classified. */
	assert_false(dnsd__rrl_classify(m.b, m.len - 1, &cls, name, &len));
}

/* A tiny table flooded with many keys (every probed slot busy): the
 * flooding key collides with other busy keys, and must still get no more
 * than its rate through, however the others come and go. */
static void test_rrl_hash_collisions_do_not_let_a_flood_through(void **state)
{
	(void)state;
	dnsd_rrl *r = table(10, 0, 8);
	struct dnsd_client flood = v4(203, 0, 113, 7);
	struct msg m, other;
	unsigned passed = 0;
	char name[64];

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	for (unsigned t = 0; t < 1000; t++) {
		/* In each millisecond: 20 other keys, from other prefixes and
		 * names, then the flooding one 5 times. */
		for (unsigned k = 0; k < 20; k++) {
			struct dnsd_client c = v4(10, (uint8_t)k, (uint8_t)t, 1);
			snprintf(name, sizeof(name), "n%u.fed.example", t * 20 + k);
			msg_start(&other, 0, true, name, LDNS_RR_TYPE_A);
			msg_rr(&other, 6, LDNS_RR_TYPE_A, 4);
			(void)dnsd__rrl_check(r, NULL, &c, other.b, other.len, 5000 + t);
		}
		for (unsigned i = 0; i < 5; i++)
			passed += dnsd__rrl_check(r, NULL, &flood, m.b, m.len, 5000 + t) ==
			          DNSD_RRL_PASS;
	}
	/* 5000 sent in one second: a burst of 10 plus 10 a second, at most. */
	assert_true(passed <= 20);
	dnsd__rrl_free(r);
}

static void test_rrl_rate_zero_and_tcp_pass(void **state)
{
	(void)state;
	dnsd_rrl *r = table(0, 2, 1024);
	struct dnsd_client c = v4(192, 0, 2, 1);
	struct msg m;
	unsigned pass, drop, slip;

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	burst(r, &c, &m, 1000, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 1000);
	dnsd__rrl_free(r);
	r = table(1, 2, 1024);
	c.tcp = true;
	burst(r, &c, &m, 1000, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 1000);
	dnsd__rrl_free(r);
}

static void test_rrl_exempt_prefix(void **state)
{
	(void)state;
	struct dnsd_rrl_conf conf;
	struct dnsd_client in = v4(192, 0, 2, 9), out = v4(192, 0, 3, 9);
	char err[160];
	dnsd_rrl *r;
	struct msg m;
	unsigned pass, drop, slip;

	dnsd_rrl_conf_default(&conf);
	assert_int_equal(dnsd_rrl_conf_parse(&conf, "1", NULL, NULL, "192.0.2.0/24, 2001:db8::/32",
	                                     err, sizeof(err)), 0);
	assert_int_equal(conf.nexempt, 2);
	assert_int_equal(dnsd__rrl_new(&conf, 1024, &r), 0);
	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	burst(r, &in, &m, 100, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 100);
	assert_int_equal(dnsd__rrl_stats(r)->exempted, 99);
	burst(r, &out, &m, 100, 1000, &pass, &drop, &slip);
	assert_int_equal(pass, 1);
	dnsd__rrl_free(r);
}

static void test_rrl_conf_parse(void **state)
{
	(void)state;
	struct dnsd_rrl_conf conf;
	char err[160];

	dnsd_rrl_conf_default(&conf);
	assert_int_equal(conf.rate, DNSD_RRL_RATE_DEFAULT);
	assert_int_equal(conf.slip, DNSD_RRL_SLIP_DEFAULT);
	assert_false(conf.exempt_queriers);
	assert_int_equal(dnsd_rrl_conf_parse(&conf, "0", "1", "true", NULL, err, sizeof(err)), 0);
	assert_int_equal(conf.rate, 0);
	assert_int_equal(conf.slip, 1);
	assert_true(conf.exempt_queriers);
	assert_int_equal(dnsd_rrl_conf_parse(&conf, "-1", NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rate takes a number from 0 to"));
	assert_int_equal(dnsd_rrl_conf_parse(&conf, NULL, "101", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_rrl_conf_parse(&conf, NULL, NULL, "yes", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_rrl_conf_parse(&conf, NULL, NULL, NULL, "192.0.2.1/24", err, sizeof(err)),
	                 -EINVAL);
}

static void test_rrl_truncate_keeps_question_and_opt(void **state)
{
	(void)state;
	struct msg m;
	size_t qend;

	msg_start(&m, 0, true, "ch.fed.example", LDNS_RR_TYPE_A);
	qend = m.len;
	msg_rr(&m, 6, LDNS_RR_TYPE_A, 4);
	msg_rr(&m, 8, LDNS_RR_TYPE_NS, 4);
	msg_opt(&m);
	size_t n = dnsd__rrl_truncate(m.b, m.len);
	assert_int_equal(n, qend + 11);
	assert_true(LDNS_TC_WIRE(m.b));
	assert_int_equal(LDNS_QDCOUNT(m.b), 1);
	assert_int_equal(LDNS_ANCOUNT(m.b), 0);
	assert_int_equal(LDNS_NSCOUNT(m.b), 0);
	assert_int_equal(LDNS_ARCOUNT(m.b), 1);
	assert_int_equal(ldns_read_uint16(m.b + qend + 1), LDNS_RR_TYPE_OPT);
}

static void test_nsid_parse(void **state)
{
	(void)state;
	uint8_t out[DNSD_NSID_MAX];
	size_t len;
	char err[160];

	assert_int_equal(dnsd_nsid_parse("ns1", out, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "ns1", 3);
	assert_int_equal(dnsd_nsid_parse("0x6E7331ff", out, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "ns1\xff", 4);
	assert_int_equal(dnsd_nsid_parse("0x6e7", out, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_nsid_parse("0xzz", out, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_nsid_parse("", out, &len, err, sizeof(err)), -EINVAL);
}

/* A query for qname/A with an OPT, carrying the NSID option if nsid. */
static size_t edns_query(uint8_t *q, const char *qname, bool nsid)
{
	struct msg m;

	msg_start(&m, 0, false, qname, LDNS_RR_TYPE_A);
	m.b[2] = 0;   /* a query */
	msg_opt(&m);
	if (nsid) {
		ldns_write_uint16(m.b + m.len, 3);
		ldns_write_uint16(m.b + m.len + 2, 0);
		m.len += 4;
		ldns_write_uint16(m.b + m.len - 6, 4);   /* the OPT's rdlength */
	}
	memcpy(q, m.b, m.len);
	return m.len;
}

/* The option code of the OPT that ends answer r (n bytes), with its data. */
static bool last_option(const uint8_t *r, size_t n, uint16_t code, const void *data, size_t len)
{
	return n >= 4 + len && ldns_read_uint16(r + n - 4 - len) == code &&
	       ldns_read_uint16(r + n - 2 - len) == len && memcmp(r + n - len, data, len) == 0;
}

static void test_nsid_only_to_queries_that_ask(void **state)
{
	(void)state;
	struct fixture f;
	struct dnsd_client c = v4(192, 0, 2, 1);
	uint8_t q[512], r[DNSD_MSG_MAX];
	size_t qlen, n;

	assert_int_equal(fixture_open(&f), 0);
	assert_int_equal(dnsd_engine_set_nsid(f.engine, (const uint8_t *)"ns1", 3), 0);
	/* Twice each: the second from the cache. */
	for (int i = 0; i < 2; i++) {
		qlen = edns_query(q, "ch.fed.example", true);
		assert_int_equal(dnsd_answer(f.engine, q, qlen, &c, r, sizeof(r), &n), 0);
		assert_int_equal(LDNS_ANCOUNT(r), 1);
		assert_true(last_option(r, n, 3, "ns1", 3));
		qlen = edns_query(q, "ch.fed.example", false);
		assert_int_equal(dnsd_answer(f.engine, q, qlen, &c, r, sizeof(r), &n), 0);
		assert_int_equal(ldns_read_uint16(r + n - 2), 0);   /* an OPT, no options */
	}
	assert_int_equal(dnsd_engine_set_nsid(f.engine, NULL, DNSD_NSID_MAX + 1), -EINVAL);
	fixture_close(&f);
}

static void test_ede_20_on_refusal_outside_the_zones(void **state)
{
	(void)state;
	struct fixture f;
	struct dnsd_client c = v4(192, 0, 2, 1);
	uint8_t q[512], r[DNSD_MSG_MAX];
	static const uint8_t ede20[] = { 0, 20 };
	size_t qlen, n;

	assert_int_equal(fixture_open(&f), 0);
	qlen = edns_query(q, "www.example.org", false);
	assert_int_equal(dnsd_answer(f.engine, q, qlen, &c, r, sizeof(r), &n), 0);
	assert_int_equal(LDNS_RCODE_WIRE(r), LDNS_RCODE_REFUSED);
	assert_true(last_option(r, n, 15, ede20, 2));
	/* NSID too, both. */
	assert_int_equal(dnsd_engine_set_nsid(f.engine, (const uint8_t *)"x", 1), 0);
	qlen = edns_query(q, "www.example.org", true);
	assert_int_equal(dnsd_answer(f.engine, q, qlen, &c, r, sizeof(r), &n), 0);
	assert_true(last_option(r, n, 15, ede20, 2));
	assert_true(last_option(r, n - 6, 3, "x", 1));
	/* In the zone: no EDE. */
	assert_int_equal(dnsd_engine_set_nsid(f.engine, NULL, 0), 0);
	qlen = edns_query(q, "nope.fed.example", false);
	assert_int_equal(dnsd_answer(f.engine, q, qlen, &c, r, sizeof(r), &n), 0);
	assert_int_equal(LDNS_RCODE_WIRE(r), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_read_uint16(r + n - 2), 0);
	fixture_close(&f);
}

/* The server's counters, through dnsd_server_rrl_stats, after a burst
 * over UDP on loopback. */
static void test_server_counts_drops_and_slips(void **state)
{
	(void)state;
	struct fixture f;
	struct dnsd_limits lim = { .rrl_set = true };
	struct dnsd_rrl_stats st = { 0 };
	struct sockaddr_in to = { .sin_family = AF_INET };
	uv_loop_t loop;
	dnsd_server *srv;
	uint8_t q[512], r[2048];
	unsigned port = 0, whole = 0, tc = 0;
	char addr[32];
	int fd;

	assert_int_equal(fixture_open(&f), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	dnsd_rrl_conf_default(&lim.rrl);
	lim.rrl.rate = 5;
	lim.rrl.slip = 2;
	assert_int_equal(dnsd_server_init(&loop, f.engine, &lim, &srv), 0);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int i = 0; i < 50 && !port; i++) {
		port = 20000 + (unsigned)rand() % 30000;
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
		if (dnsd_server_listen(srv, addr, DNSD_LISTEN_UDP) != 0)
			port = 0;
	}
	assert_int_not_equal(port, 0);
	assert_true((fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) >= 0);
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	size_t qlen = edns_query(q, "ch.fed.example", false);
	for (int i = 0; i < 40; i++)
		assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)qlen);
	/* Bounded: at most 2 s of loop turns. */
	for (int i = 0; i < 200; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t n;
		while ((n = recv(fd, r, sizeof(r), 0)) > 0)
			LDNS_TC_WIRE(r) ? tc++ : whole++;
		memset(&st, 0, sizeof(st));
		dnsd_server_rrl_stats(srv, &st);
		if (whole + tc + st.dropped == 40)
			break;
		usleep(10000);
	}
	/* 5 at once, and at most a token or two more while the loop turned. */
	assert_in_range(whole, 5, 7);
	assert_int_equal(st.slipped, tc);
	assert_int_equal(whole + st.slipped + st.dropped, 40);
	assert_in_range(st.slipped, st.dropped - 1, st.dropped + 1);
	close(fd);
	dnsd_server_close(srv, NULL, NULL);
	for (int i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT); i++)
		;
	assert_int_equal(uv_loop_close(&loop), 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rrl_rate_then_refill),
		cmocka_unit_test(test_rrl_slip_zero_and_one),
		cmocka_unit_test(test_rrl_ipv4_slash24_is_one_bucket),
		cmocka_unit_test(test_rrl_ipv6_slash56_is_one_bucket),
		cmocka_unit_test(test_rrl_kinds_have_their_own_buckets),
		cmocka_unit_test(test_rrl_refusals_of_random_names_share_a_bucket),
		cmocka_unit_test(test_rrl_classify),
		cmocka_unit_test(test_rrl_hash_collisions_do_not_let_a_flood_through),
		cmocka_unit_test(test_rrl_rate_zero_and_tcp_pass),
		cmocka_unit_test(test_rrl_exempt_prefix),
		cmocka_unit_test(test_rrl_conf_parse),
		cmocka_unit_test(test_rrl_truncate_keeps_question_and_opt),
		cmocka_unit_test(test_nsid_parse),
		cmocka_unit_test(test_nsid_only_to_queries_that_ask),
		cmocka_unit_test(test_ede_20_on_refusal_outside_the_zones),
		cmocka_unit_test(test_server_counts_drops_and_slips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
