/* The engine on its own: bytes in, bytes out, no socket.  The answer
 * cache, commits, views under "fallback: allowed", UDP truncation and the
 * EDNS payload limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "fixture.h"

/* Eight hosts of member a, each with four A and four AAAA records: the
 * additional section of a's SRV answer is far larger than the answer
 * section.  big holds one TXT RRset of about 900 bytes: more than plain
 * DNS takes, less than EDNS does. */
static const char zone_head[] =
	"$ORIGIN fed.example.\n$TTL 3600\n"
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
	"@ IN NS ns1\nns1 IN A 192.0.2.1\nch IN A 192.0.2.5\n";

#define NHOSTS 8
#define NBIG 15
/* Names q...q\227x (0 to NHIGH - 1 q's): a byte above 127, which is no
 * letter and has no case, at every offset of an eight-byte step. */
#define NHIGH 16

static char zone_text[16384];

static void make_zone(void)
{
	size_t n = (size_t)snprintf(zone_text, sizeof(zone_text), "%s", zone_head);

	for (int h = 0; h < NHOSTS; h++)
		for (int i = 0; i < 4; i++)
			n += (size_t)snprintf(zone_text + n, sizeof(zone_text) - n,
			                      "h%d.a IN A 198.18.%d.%d\nh%d.a IN AAAA 2001:db8:%d::%d\n",
			                      h, h, i + 1, h, h, i + 1);
	for (int i = 0; i < NBIG; i++)
		n += (size_t)snprintf(zone_text + n, sizeof(zone_text) - n,
		                      "big IN TXT \"%02d-%050d\"\n", i, 0);
	for (int at = 0; at < NHIGH; at++)
		n += (size_t)snprintf(zone_text + n, sizeof(zone_text) - n, "%.*s\\227x IN A 192.0.2.7\n",
		                      at, "qqqqqqqqqqqqqqqq");
}

/* ---- the policy ---- */

static char hosts[NHOSTS][32];

/* Members a, b and c; b's and c's resolvers are their views.  b may reach
 * a, c may not (an override), so under "fallback: allowed" only b's
 * resolver learns a's own hosts. */
static int load_policy(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;
	struct pdb_member m;
	uint16_t port = *(const uint16_t *)arg;
	int rc;

	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.nch = 1;
	c.ch[0].host = pdb_str_of("ch.fed.example");
	c.ch[0].port = 5269;
	c.fallback = PDB_FALLBACK_ALLOWED;
	if ((rc = pdb_w_put_community(w, &c)) != 0)
		return rc;

	pdb_member_init(&m);
	m.ntargets = NHOSTS;
	for (int h = 0; h < NHOSTS; h++) {
		snprintf(hosts[h], sizeof(hosts[h]), "h%d.a.fed.example", h);
		m.targets[h].host = pdb_str_of(hosts[h]);
		m.targets[h].port = port;
		m.targets[h].priority = (uint16_t)h;
	}
	if ((rc = pdb_w_put_member(w, "a.fed.example", &m)) != 0)
		return rc;

	pdb_member_init(&m);
	m.nqueriers = 1;
	if ((rc = pdb_addr_parse("203.0.113.0/24", true, &m.queriers[0])) != 0 ||
	    (rc = pdb_w_put_member(w, "b.fed.example", &m)) != 0)
		return rc;
	if ((rc = pdb_addr_parse("2001:db8:c::/48", true, &m.queriers[0])) != 0 ||
	    (rc = pdb_w_put_member(w, "c.fed.example", &m)) != 0)
		return rc;
	return pdb_w_put_override(w, "a.fed.example", "c.fed.example", PDB_OVERRIDE_DENY);
}

static int setup(void **state)
{
	struct fixture *f = malloc(sizeof(*f));
	uint16_t port = 5269;

	assert_non_null(f);
	make_zone();
	assert_int_equal(fixture_open_zone(f, zone_text), 0);
	assert_int_equal(pdb_write(f->db, "test", load_policy, &port, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_close(*state);
	free(*state);
	return 0;
}

/* ---- queries and replies ---- */

struct q_opts {
	uint16_t id;
	bool rd;
	bool edns;
	uint16_t payload;
};

/* A query for name (dotted, its case kept) and type into q; its length. */
static size_t make_query(uint8_t *q, const char *name, uint16_t type, const struct q_opts *o)
{
	size_t n = LDNS_HEADER_SIZE;

	memset(q, 0, LDNS_HEADER_SIZE);
	q[0] = (uint8_t)(o->id >> 8);
	q[1] = (uint8_t)o->id;
	q[2] = o->rd ? 0x01 : 0;
	q[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		q[n++] = (uint8_t)l;
		memcpy(q + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;   /* IN */
	if (o->edns) {
		q[11] = 1;
		q[n++] = 0;                          /* root */
		q[n++] = 0;
		q[n++] = LDNS_RR_TYPE_OPT;
		q[n++] = (uint8_t)(o->payload >> 8);
		q[n++] = (uint8_t)o->payload;
		memset(q + n, 0, 6);                 /* ext-rcode, version, flags, rdlen */
		n += 6;
	}
	return n;
}

static const struct dnsd_client udp4 = { .family = 4, .addr = { 192, 0, 2, 99 } };
static const struct dnsd_client tcp4 = { .family = 4, .addr = { 192, 0, 2, 99 }, .tcp = true };

static size_t ask(dnsd_engine *e, const char *name, uint16_t type, const struct q_opts *o,
                  const struct dnsd_client *c, uint8_t *out)
{
	uint8_t q[512];
	size_t qlen = make_query(q, name, type, o), n = 0;

	assert_int_equal(dnsd_answer(e, q, qlen, c, out, DNSD_MSG_MAX, &n), 0);
	assert_true(n >= LDNS_HEADER_SIZE);
	return n;
}

#define ANCOUNT(m) ((unsigned)((m)[6] << 8 | (m)[7]))
#define ARCOUNT(m) ((unsigned)((m)[10] << 8 | (m)[11]))
#define TC(m) (((m)[2] & 0x02) != 0)

/* The SRV records of a reply whose priority says they are the member's
 * own hosts (the clearinghouse's is 0). */
static unsigned fallback_srvs(const uint8_t *m, size_t len)
{
	ldns_pkt *p = NULL;
	unsigned n = 0;

	assert_int_equal(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SRV &&
		    ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) != 0)
			n++;
	}
	ldns_pkt_free(p);
	return n;
}

/* How many records of owner and type the list holds. */
static size_t count_rrset(const ldns_rr_list *l, const ldns_rr *like)
{
	size_t n = 0;

	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		if (ldns_rr_get_type(rr) == ldns_rr_get_type(like) &&
		    ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(like)) == 0)
			n++;
	}
	return n;
}

/* Every RRset in cut's additional section is there whole, as in full's;
 * the answer sections are the same. */
static void assert_whole_rrsets(const uint8_t *cut, size_t cut_len, const uint8_t *full,
                                size_t full_len)
{
	ldns_pkt *c = NULL, *f = NULL;

	assert_int_equal(ldns_wire2pkt(&c, cut, cut_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_wire2pkt(&f, full, full_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_rr_list_compare(ldns_pkt_answer(c), ldns_pkt_answer(f)), 0);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_additional(c)); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_additional(c), i);
		assert_int_equal(count_rrset(ldns_pkt_additional(c), rr),
		                 count_rrset(ldns_pkt_additional(f), rr));
	}
	ldns_pkt_free(c);
	ldns_pkt_free(f);
}

/* ---- the cache ---- */

/* A cached answer is the answer a fresh engine gives, byte for byte, made
 * the query's own: its ID, its RD bit, its qname's case. */
static void test_cached_answer_equals_fresh_one_with_query_id_and_case(void **state)
{
	struct fixture *f = *state;
	static uint8_t first[DNSD_MSG_MAX], again[DNSD_MSG_MAX], fresh[DNSD_MSG_MAX];
	struct q_opts o = { .id = 0x1111 };
	dnsd_engine *e2;
	size_t n1, n2, n3;

	n1 = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &tcp4, first);
	assert_int_equal(ANCOUNT(first), 1);   /* the clearinghouse: no view */
	n2 = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &tcp4, again);
	assert_int_equal(n2, n1);
	assert_memory_equal(again, first, n1);

	/* Another ID, RD set, the name in other case: from the cache. */
	const char *mixed = "_XMPP-Server._TCP.A.Fed.EXAMPLE";
	struct q_opts o2 = { .id = 0xbeef, .rd = true };
	n2 = ask(f->engine, mixed, LDNS_RR_TYPE_SRV, &o2, &tcp4, again);
	assert_int_equal(dnsd_engine_new(f->zones, f->db, &e2), 0);
	n3 = ask(e2, mixed, LDNS_RR_TYPE_SRV, &o2, &tcp4, fresh);
	dnsd_engine_free(e2);
	assert_int_equal(n2, n3);
	assert_memory_equal(again, fresh, n2);
	assert_int_equal(again[0] << 8 | again[1], 0xbeef);
	assert_true(again[2] & 0x01);
	assert_memory_equal(again + LDNS_HEADER_SIZE + 1, "_XMPP-Server", 12);
	/* Beyond the header and the question, the same bytes as the first. */
	assert_int_equal(n2, n1);
	assert_memory_equal(again + 3, first + 3, 9);
	size_t qend = LDNS_HEADER_SIZE + strlen(mixed) + 2 + 4;
	assert_memory_equal(again + qend, first + qend, n1 - qend);
}

/* The cache folds the case of ASCII letters only: 0xc3 and 0xe3 differ
 * by the same bit as 'C' and 'c', yet are different names (RFC 4343 3),
 * here one that exists and one that does not, at every offset of the
 * eight-byte steps of the folding; letters there fold. */
static void test_cache_key_folds_ascii_letters_only(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[DNSD_MSG_MAX];
	struct q_opts o = { .id = 1 };
	char name[64];

	for (int at = 0; at < NHIGH; at++) {
		snprintf(name, sizeof(name), "%.*s\xe3x.fed.example", at, "qqqqqqqqqqqqqqqq");
		ask(f->engine, name, LDNS_RR_TYPE_A, &o, &tcp4, out);
		assert_int_equal(ANCOUNT(out), 1);
		snprintf(name, sizeof(name), "%.*s\xc3x.fed.example", at, "qqqqqqqqqqqqqqqq");
		ask(f->engine, name, LDNS_RR_TYPE_A, &o, &tcp4, out);
		assert_int_equal(LDNS_RCODE_WIRE(out), LDNS_RCODE_NXDOMAIN);
		assert_memory_equal(out + LDNS_HEADER_SIZE + 1, name, (size_t)at + 2);
		snprintf(name, sizeof(name), "%.*s\xe3X.FED.Example", at, "QqQqQqQqQqQqQqQq");
		ask(f->engine, name, LDNS_RR_TYPE_A, &o, &tcp4, out);
		assert_int_equal(ANCOUNT(out), 1);
		assert_memory_equal(out + LDNS_HEADER_SIZE + 1, name, (size_t)at + 2);
	}
}

/* A name of 255 bytes on the wire, the most there may be (RFC 1035
 * 3.1), is read (and refused: it is no zone's); one of 256 is malformed. */
static void test_qname_of_255_bytes_is_read_256_is_formerr(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[DNSD_MSG_MAX];
	struct q_opts o = { .id = 9 };
	char name[300];
	const char *l63 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

	/* 3 x (1 + 63) + (1 + 61) + the root: 255 bytes. */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	ask(f->engine, name, LDNS_RR_TYPE_A, &o, &tcp4, out);
	assert_int_equal(LDNS_RCODE_WIRE(out), LDNS_RCODE_REFUSED);
	assert_int_equal(out[5], 1);   /* the question, read */
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", l63, l63, l63, l63);
	ask(f->engine, name, LDNS_RR_TYPE_A, &o, &tcp4, out);
	assert_int_equal(LDNS_RCODE_WIRE(out), LDNS_RCODE_FORMERR);
}

/* A commit is in the very next answer, cached or not. */
static void test_commit_changes_the_next_answer(void **state)
{
	struct fixture *f = *state;
	static uint8_t before[DNSD_MSG_MAX], after[DNSD_MSG_MAX];
	static const struct dnsd_client b_view = { .family = 4, .addr = { 203, 0, 113, 9 }, .tcp = true };
	struct q_opts o = { .id = 7 };
	uint16_t port = 5299;
	size_t n1, n2;

	n1 = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &b_view, before);
	assert_int_equal(fallback_srvs(before, n1), NHOSTS);
	n2 = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &b_view, after);
	assert_int_equal(n2, n1);
	assert_memory_equal(after, before, n1);   /* cached */

	assert_int_equal(pdb_write(f->db, "test", load_policy, &port, NULL), 0);
	n2 = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &b_view, after);
	assert_int_equal(n2, n1);
	assert_memory_not_equal(after, before, n1);
	/* The port of the first fallback target, 5299 now. */
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, after, n2), LDNS_STATUS_OK);
	const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 1);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)), 5299);
	ldns_pkt_free(p);

	/* The community zone's SOA serial moves with the policy serial. */
	n1 = ask(f->engine, "fed.example", LDNS_RR_TYPE_SOA, &o, &tcp4, before);
	assert_int_equal(pdb_write(f->db, "test", load_policy, &port, NULL), 0);
	n2 = ask(f->engine, "fed.example", LDNS_RR_TYPE_SOA, &o, &tcp4, after);
	assert_int_equal(n2, n1);
	assert_memory_not_equal(after, before, n1);
}

/* ---- views ---- */

/* Under "fallback: allowed" only a resolver of a member allowed to reach
 * a gets a's own hosts; no view, or the view of a denied member, gets the
 * clearinghouse alone.  Asked in turn, so the cache keeps them apart. */
static void test_views_give_fallback_only_to_allowed_member_resolver(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[DNSD_MSG_MAX];
	static const struct dnsd_client b_view = { .family = 4, .addr = { 203, 0, 113, 9 }, .tcp = true };
	static const struct dnsd_client c_view = {
		.family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, [15] = 1 }, .tcp = true };
	static const struct dnsd_client b_like_v6 = {
		.family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0d, [15] = 1 }, .tcp = true };
	struct q_opts o = { .id = 1 };
	size_t n;

	for (int round = 0; round < 2; round++) {
		n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &b_view, out);
		assert_int_equal(fallback_srvs(out, n), NHOSTS);
		assert_int_equal(ANCOUNT(out), NHOSTS + 1);
		n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &tcp4, out);
		assert_int_equal(fallback_srvs(out, n), 0);
		assert_int_equal(ANCOUNT(out), 1);
		n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &c_view, out);
		assert_int_equal(fallback_srvs(out, n), 0);
		assert_int_equal(ANCOUNT(out), 1);
		n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o, &b_like_v6, out);
		assert_int_equal(fallback_srvs(out, n), 0);
	}
}

/* ---- UDP truncation and EDNS ---- */

/* Too large for UDP, with an answer section that fits: whole RRsets of
 * the additional section go, the answer stays, and TC is not set. */
static void test_udp_drops_additional_rrsets_before_setting_tc(void **state)
{
	struct fixture *f = *state;
	static uint8_t full[DNSD_MSG_MAX], out[DNSD_MSG_MAX];
	static const struct dnsd_client b_tcp = { .family = 4, .addr = { 203, 0, 113, 9 }, .tcp = true };
	static const struct dnsd_client b_udp = { .family = 4, .addr = { 203, 0, 113, 9 } };
	struct q_opts plain = { .id = 2 }, edns = { .id = 2, .edns = true, .payload = 1232 };
	size_t nf, n;

	nf = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &plain, &b_tcp, full);
	assert_true(nf > 1232);
	assert_int_equal(ARCOUNT(full), NHOSTS * 8 + 1);   /* and ch's A */
	assert_false(TC(full));

	n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &plain, &b_udp, out);
	assert_true(n <= 512);
	assert_false(TC(out));
	assert_int_equal(ANCOUNT(out), NHOSTS + 1);
	assert_true(ARCOUNT(out) < ARCOUNT(full));
	assert_whole_rrsets(out, n, full, nf);

	/* With EDNS: more of the additional section, still not all; the
	 * OPT stays. */
	nf = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &edns, &b_tcp, full);
	n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &edns, &b_udp, out);
	assert_true(n > 512 && n <= 1232);
	assert_false(TC(out));
	assert_int_equal(ANCOUNT(out), NHOSTS + 1);
	assert_true(ARCOUNT(out) < ARCOUNT(full));
	assert_whole_rrsets(out, n, full, nf);
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	assert_true(ldns_pkt_edns(p));
	ldns_pkt_free(p);
}

/* An answer section that does not fit: TC, and nothing but the header,
 * the question and the OPT; over TCP, or with room enough, no TC. */
static void test_udp_sets_tc_only_when_answer_does_not_fit(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[DNSD_MSG_MAX];
	struct q_opts plain = { .id = 3 }, edns = { .id = 3, .edns = true, .payload = 1232 };
	size_t n;

	n = ask(f->engine, "big.fed.example", LDNS_RR_TYPE_TXT, &plain, &udp4, out);
	assert_true(TC(out));
	assert_true(n <= 512);
	assert_int_equal(ANCOUNT(out), 0);
	assert_int_equal(ARCOUNT(out), 0);

	n = ask(f->engine, "big.fed.example", LDNS_RR_TYPE_TXT, &edns, &udp4, out);
	assert_false(TC(out));
	assert_true(n > 512 && n <= 1232);
	assert_int_equal(ANCOUNT(out), NBIG);

	n = ask(f->engine, "big.fed.example", LDNS_RR_TYPE_TXT, &plain, &tcp4, out);
	assert_false(TC(out));
	assert_true(n > 512);
	assert_int_equal(ANCOUNT(out), NBIG);

	/* And TC again for the plain UDP query, now from the cache. */
	n = ask(f->engine, "big.fed.example", LDNS_RR_TYPE_TXT, &plain, &udp4, out);
	assert_true(TC(out));
	assert_true(n <= 512);
	assert_int_equal(ANCOUNT(out), 0);
}

/* The payload a client offers is taken between 512 and our own 1232
 * (RFC 6891 6.2.5), which is what our OPT offers back. */
static void test_edns_payload_is_held_between_512_and_1232(void **state)
{
	struct fixture *f = *state;
	static uint8_t out[DNSD_MSG_MAX];
	static const struct dnsd_client b_udp = { .family = 4, .addr = { 203, 0, 113, 9 } };
	static const struct { uint16_t offered; size_t limit; } cases[] = {
		{ 100, 512 }, { 512, 512 }, { 800, 800 }, { 1232, 1232 }, { 4096, 1232 }, { 65535, 1232 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct q_opts o = { .id = 4, .edns = true, .payload = cases[i].offered };
		size_t n = ask(f->engine, "_xmpp-server._tcp.a.fed.example", LDNS_RR_TYPE_SRV, &o,
		               &b_udp, out);
		ldns_pkt *p = NULL;
		assert_true(n <= cases[i].limit);
		/* The additional section is large: what is left is close to the limit. */
		assert_true(n + 200 > cases[i].limit);
		assert_false(TC(out));
		assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
		assert_true(ldns_pkt_edns(p));
		assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
		ldns_pkt_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cached_answer_equals_fresh_one_with_query_id_and_case,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_key_folds_ascii_letters_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qname_of_255_bytes_is_read_256_is_formerr, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_commit_changes_the_next_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_views_give_fallback_only_to_allowed_member_resolver,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_drops_additional_rrsets_before_setting_tc, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_udp_sets_tc_only_when_answer_does_not_fit, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_edns_payload_is_held_between_512_and_1232, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
