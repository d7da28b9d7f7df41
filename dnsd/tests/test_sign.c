/* Online signing and denial of existence (sign.c, nsec.c), through the
 * engine: keys made by ldns-keygen at test time, a clock the test moves,
 * every signature checked with ldns against the zone's DNSKEY RRset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "fixture.h"
#include "internal.h"

#define VALIDITY 1209600u
#define INCEPTION 3600u
#define REFRESH 432000u
/* 2026-11-18: any fixed time the keys are active at. */
#define T0 1795000000

/* A delegation (sub) with glue, and eight hosts of member a: its SRV
 * answer with the fallback is larger than UDP takes. */
static const char zone_head[] =
	"$ORIGIN fed.example.\n$TTL 3600\n"
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
	"@ IN NS ns1\nns1 IN A 192.0.2.1\nch IN A 192.0.2.5\nch IN AAAA 2001:db8::5\n"
	"sub IN NS ns.sub\nns.sub IN A 192.0.2.53\n";

#define NHOSTS 8
static char zone_text[8192];
static char hosts[NHOSTS][40];

struct ctx {
	struct fixture f;
	char keydir[128];
	dnsd_keyset *ks;
	int64_t now;
	ldns_rr_list *apex_keys;     /* DNSKEY RRset of fed.example */
};

static int64_t fake_now(void *arg)
{
	return ((const struct ctx *)arg)->now;
}

/* Members: a (in the zone, eight hosts, fallback always given), gamma
 * (outside: its _xmpp-server._tcp apex is ours). */
static int load_policy(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;
	struct pdb_member m;
	int rc;

	(void)arg;
	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.nch = 1;
	c.ch[0].host = pdb_str_of("ch.fed.example");
	c.ch[0].port = 5269;
	c.fallback = PDB_FALLBACK_ALWAYS;
	if ((rc = pdb_w_put_community(w, &c)) != 0)
		return rc;
	pdb_member_init(&m);
	m.ntargets = NHOSTS;
	for (int h = 0; h < NHOSTS; h++) {
		snprintf(hosts[h], sizeof(hosts[h]), "host%d.a.fed.example", h);
		m.targets[h].host = pdb_str_of(hosts[h]);
		m.targets[h].port = 5269;
		m.targets[h].priority = (uint16_t)h;
	}
	if ((rc = pdb_w_put_member(w, "a.fed.example", &m)) != 0)
		return rc;
	pdb_member_init(&m);
	return pdb_w_put_member(w, "gamma.example", &m);
}

static void make_zone(unsigned addrs_per_host)
{
	size_t n = (size_t)snprintf(zone_text, sizeof(zone_text), "%s", zone_head);

	for (int h = 0; h < NHOSTS; h++)
		for (unsigned i = 0; i < addrs_per_host; i++)
			n += (size_t)snprintf(zone_text + n, sizeof(zone_text) - n,
			                      "host%d.a IN A 198.18.%d.%u\nhost%d.a IN AAAA 2001:db8:%d::%u\n",
			                      h, h, i + 1, h, h, i + 1);
}

static void keygen(const char *dir, const char *alg, bool ksk)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cd '%s' && ldns-keygen -a %s %s fed.example >/dev/null && "
	         "rm -f *.ds && chmod 600 *.private", dir, alg, ksk ? "-k" : "");
	assert_int_equal(system(cmd), 0);
}

static void set_keys(struct ctx *c)
{
	char err[512] = "";

	if (dnsd_keyset_load(c->keydir, &c->ks, err, sizeof(err)) != 0)
		fail_msg("keys: %s", err);
	assert_int_equal(dnsd_engine_set_dnssec(c->f.engine, c->ks, VALIDITY, INCEPTION, REFRESH), 0);
}

/* alg for ldns-keygen; csk: one KSK alone (it signs everything). */
static int setup_with(void **state, const char *alg, bool csk, unsigned addrs_per_host)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	make_zone(addrs_per_host);
	assert_int_equal(fixture_open_zone(&c->f, zone_text), 0);
	assert_int_equal(pdb_write(c->f.db, "test", load_policy, NULL, NULL), 0);
	snprintf(c->keydir, sizeof(c->keydir), "%s/keys", c->f.dir);
	assert_int_equal(mkdir(c->keydir, 0700), 0);
	keygen(c->keydir, alg, true);
	if (!csk)
		keygen(c->keydir, alg, false);
	c->now = T0;
	dnsd__engine_set_clock(c->f.engine, fake_now, c);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, "ED25519", false, 1);
}

static int setup_p256(void **state)
{
	return setup_with(state, "ECDSAP256SHA256", true, 1);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	ldns_rr_list_deep_free(c->apex_keys);
	fixture_close(&c->f);
	dnsd_keyset_free(c->ks);
	free(c);
	return 0;
}

/* ---- asking ---- */

struct q {
	bool edns, do_bit;
	bool tcp;
};

/* The engine's answer to name/type, as bytes (len) and parsed. */
static ldns_pkt *ask_wire(struct ctx *c, const char *name, ldns_rr_type type, struct q o,
                          uint8_t *out, size_t *len)
{
	struct dnsd_client cl = { .family = 4, .addr = { 192, 0, 2, 99 }, .tcp = o.tcp };
	ldns_pkt *q = NULL, *r = NULL;
	uint8_t *w = NULL;
	size_t wlen = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 0x4242);
	if (o.edns || o.do_bit) {
		ldns_pkt_set_edns_udp_size(q, 1232);
		ldns_pkt_set_edns_do(q, o.do_bit);
	}
	assert_int_equal(ldns_pkt2wire(&w, q, &wlen), LDNS_STATUS_OK);
	assert_int_equal(dnsd_answer(c->f.engine, w, wlen, &cl, out, DNSD_MSG_MAX, len), 0);
	assert_int_equal(ldns_wire2pkt(&r, out, *len), LDNS_STATUS_OK);
	free(w);
	ldns_pkt_free(q);
	return r;
}

static ldns_pkt *ask(struct ctx *c, const char *name, ldns_rr_type type)
{
	static uint8_t out[DNSD_MSG_MAX];
	size_t len;

	return ask_wire(c, name, type, (struct q){ .do_bit = true, .tcp = true }, out, &len);
}

static ldns_rdf *dname(const char *s)
{
	ldns_rdf *d = ldns_dname_new_frm_str(s);
	assert_non_null(d);
	return d;
}

/* The DNSKEY RRset of apex, its own signature checked by the KSK. */
static ldns_rr_list *apex_keys(struct ctx *c, const char *apex)
{
	ldns_pkt *p = ask(c, apex, LDNS_RR_TYPE_DNSKEY);
	ldns_rr_list *keys = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_DNSKEY, LDNS_SECTION_ANSWER);
	ldns_rr_list *sigs = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER);

	assert_non_null(keys);
	assert_non_null(sigs);
	assert_int_equal(ldns_rr_list_rr_count(keys), dnsd_keyset_count(c->ks));
	for (size_t i = 0; i < ldns_rr_list_rr_count(sigs); i++)
		assert_int_equal(ldns_verify_rrsig_keylist_time(keys, ldns_rr_list_rr(sigs, i), keys,
		                                                (time_t)c->now, NULL),
		                 LDNS_STATUS_OK);
	ldns_rr_list_deep_free(sigs);
	ldns_pkt_free(p);
	return keys;
}

/* The records of section s with this owner and type (RRSIG: covering
 * type), as a new list of clones. */
static ldns_rr_list *rrset_of(const ldns_rr_list *s, const ldns_rdf *owner, ldns_rr_type type,
                              bool sigs)
{
	ldns_rr_list *l = ldns_rr_list_new();

	for (size_t i = 0; i < ldns_rr_list_rr_count(s); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(s, i);
		bool is_sig = ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG;
		ldns_rr_type t = is_sig ? ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr))
		                        : ldns_rr_get_type(rr);
		if (is_sig == sigs && t == type && ldns_dname_compare(ldns_rr_owner(rr), owner) == 0)
			ldns_rr_list_push_rr(l, ldns_rr_clone(rr));
	}
	return l;
}

/* Every RRset of section s that is not in unsigned_ok has RRSIGs (and
 * every RRSIG its RRset), each valid at now by keys, with the engine's
 * window: made now if fresh, else at any time before now that leaves
 * now before its refresh time.  Returns how many RRsets were checked. */
static size_t verify_section_made(struct ctx *c, const ldns_rr_list *s, const ldns_rr_list *keys,
                                  const char *signer, bool fresh)
{
	ldns_rdf *sname = dname(signer);
	size_t checked = 0;

	for (size_t i = 0; i < ldns_rr_list_rr_count(s); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(s, i);
		bool is_sig = ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG;
		ldns_rr_type t = is_sig ? ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr))
		                        : ldns_rr_get_type(rr);
		ldns_rr_list *set = rrset_of(s, ldns_rr_owner(rr), t, false);
		ldns_rr_list *sigs = rrset_of(s, ldns_rr_owner(rr), t, true);
		if (!ldns_rr_list_rr_count(set) || !ldns_rr_list_rr_count(sigs))
			fail_msg("%s of type %u at record %zu without %s", is_sig ? "RRSIG" : "RRset", t, i,
			         is_sig ? "its RRset" : "RRSIG");
		if (!is_sig && ldns_rr_list_rr(set, 0) && ldns_rr_compare(ldns_rr_list_rr(set, 0), rr) == 0) {
			for (size_t j = 0; j < ldns_rr_list_rr_count(sigs); j++) {
				const ldns_rr *sig = ldns_rr_list_rr(sigs, j);
				int64_t inc = ldns_rdf2native_time_t(ldns_rr_rrsig_inception(sig));
				int64_t exp = ldns_rdf2native_time_t(ldns_rr_rrsig_expiration(sig));
				assert_int_equal(exp - inc, VALIDITY + INCEPTION);
				if (fresh)
					assert_int_equal(inc, c->now - INCEPTION);
				else
					assert_true(inc <= c->now - INCEPTION && c->now < exp - REFRESH);
				/* The TTL signed is the RRset's (RFC 4034 3.1.4). */
				assert_int_equal(ldns_rdf2native_int32(ldns_rr_rrsig_origttl(sig)),
				                 ldns_rr_ttl(rr));
				assert_int_equal(ldns_dname_compare(ldns_rr_rrsig_signame(sig), sname), 0);
				assert_int_equal(ldns_verify_rrsig_keylist_time(set, sig, keys, (time_t)c->now,
				                                                NULL),
				                 LDNS_STATUS_OK);
			}
			checked++;
		}
		ldns_rr_list_deep_free(set);
		ldns_rr_list_deep_free(sigs);
	}
	ldns_rdf_deep_free(sname);
	return checked;
}

static size_t verify_section(struct ctx *c, const ldns_rr_list *s, const ldns_rr_list *keys,
                             const char *signer)
{
	return verify_section_made(c, s, keys, signer, true);
}

/* The NSEC records of the authority section. */
static ldns_rr_list *nsecs(const ldns_pkt *p, ldns_pkt_section s)
{
	ldns_rr_list *l = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_NSEC, s);
	return l ? l : ldns_rr_list_new();
}

static bool covered(const ldns_rr_list *n, const char *name)
{
	ldns_rdf *d = dname(name);
	bool yes = false;

	for (size_t i = 0; i < ldns_rr_list_rr_count(n); i++)
		yes |= ldns_nsec_covers_name(ldns_rr_list_rr(n, i), d);
	ldns_rdf_deep_free(d);
	return yes;
}

/* The types in an NSEC's bitmap, as "A AAAA RRSIG NSEC". */
static void bitmap_text(const ldns_rr *nsec, char *out, size_t cap)
{
	ldns_rdf *b = ldns_nsec_get_bitmap(nsec);
	char *s;

	assert_non_null(b);
	assert_non_null(s = ldns_rdf2str(b));
	snprintf(out, cap, "%s", s);
	/* ldns ends the list with a space. */
	for (size_t n = strlen(out); n && out[n - 1] == ' '; n--)
		out[n - 1] = '\0';
	free(s);
}

/* ---- RFC 4470's epsilon functions ---- */

static void test_epsilon_names_are_just_before_and_after(void **state)
{
	static const char *const names[] = {
		"foo.fed.example.", "a.fed.example.", "_tcp.a.fed.example.", "*.fed.example.",
		"\\[.fed.example.", "\\000.fed.example.", "ab\\000.fed.example.",
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc.fed.example.",
	};
	uint8_t b[255], a[255];
	bool parent;
	ldns_rdf *zone = dname("fed.example.");

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ldns_rdf *n = dname(names[i]);
		ldns_rdf *below = dname("\\255\\255.x.y");
		ldns_rdf *deep = ldns_dname_cat_clone(below, n);
		size_t bl = dnsd__nsec_before(ldns_rdf_data(n), ldns_rdf_size(n), b, &parent);
		size_t al = dnsd__nsec_after(ldns_rdf_data(n), ldns_rdf_size(n), a);
		assert_true(bl > 0 && al > 0);
		ldns_rdf *before = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, bl, b);
		ldns_rdf *after = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, al, a);
		/* before < name < everything below it < after, all in the zone. */
		assert_true(ldns_dname_compare(before, n) < 0);
		assert_true(ldns_dname_compare(n, after) < 0);
		assert_true(ldns_dname_compare(deep, after) < 0);
		assert_true(ldns_dname_is_subdomain(after, zone));
		assert_true(parent ? ldns_dname_compare(before, zone) == 0
		                   : ldns_dname_is_subdomain(before, zone));
		ldns_rdf_deep_free(n);
		ldns_rdf_deep_free(below);
		ldns_rdf_deep_free(deep);
		ldns_rdf_deep_free(before);
		ldns_rdf_deep_free(after);
	}
	ldns_rdf_deep_free(zone);
}

/* Canonical order compares lower case: a byte moved into A-Z would sort
 * as a-z, far from where it was meant to be. */
static void test_epsilon_never_makes_an_upper_case_byte(void **state)
{
	uint8_t b[255];
	bool parent;
	ldns_rdf *n = dname("\\[.fed.example.");   /* '[' - 1 is 'Z' */

	(void)state;
	size_t bl = dnsd__nsec_before(ldns_rdf_data(n), ldns_rdf_size(n), b, &parent);
	assert_true(bl > 2);
	assert_int_equal(b[1], '@');
	assert_int_equal(dnsd__nsec_before((const uint8_t *)"\0", 1, b, &parent), 0);
	ldns_rdf_deep_free(n);
}

/* ---- denial of existence ---- */

/* NXDOMAIN: one NSEC covers the qname, one the wildcard at the closest
 * encloser; neither covers a name that exists; all signed. */
static void test_nxdomain_covers_next_closer_and_wildcard_only(void **state)
{
	struct ctx *c = *state;
	static const char *const existing[] = {
		"fed.example.", "ch.fed.example.", "ns1.fed.example.", "sub.fed.example.",
		"a.fed.example.", "_tcp.a.fed.example.", "_xmpp-server._tcp.a.fed.example.",
		"host0.a.fed.example.",
	};
	static const struct { const char *q, *nc, *wild; } cases[] = {
		{ "nope.fed.example.", "nope.fed.example.", "*.fed.example." },
		{ "x.y.nope.fed.example.", "nope.fed.example.", "*.fed.example." },
		{ "zz._tcp.a.fed.example.", "zz._tcp.a.fed.example.", "*._tcp.a.fed.example." },
	};

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ldns_pkt *p = ask(c, cases[i].q, LDNS_RR_TYPE_A);
		ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
		assert_int_equal(ldns_rr_list_rr_count(n), 2);
		assert_true(covered(n, cases[i].q));
		assert_true(covered(n, cases[i].nc));
		assert_true(covered(n, cases[i].wild));
		for (size_t j = 0; j < sizeof(existing) / sizeof(existing[0]); j++)
			if (covered(n, existing[j]))
				fail_msg("%s: an NSEC covers %s, which exists", cases[i].q, existing[j]);
		/* SOA and two NSEC RRsets, each signed. */
		assert_int_equal(verify_section(c, ldns_pkt_authority(p), c->apex_keys, "fed.example."), 3);
		ldns_rr_list_deep_free(n);
		ldns_pkt_free(p);
	}
}

/* Regression: an NSEC went out with no type bitmap (ldns gives a new
 * NSEC only its first field), which resolvers took for FORMERR.  NODATA
 * carries the NSEC of the name with exactly the types there. */
static void test_nodata_nsec_has_the_type_bitmap_of_the_name(void **state)
{
	struct ctx *c = *state;
	static const struct { const char *q; ldns_rr_type t; const char *owner, *bits, *signer; } cases[] = {
		{ "ch.fed.example.", LDNS_RR_TYPE_TXT, "ch.fed.example.", "A AAAA RRSIG NSEC",
		  "fed.example." },
		/* empty non-terminals of the policy */
		{ "_tcp.a.fed.example.", LDNS_RR_TYPE_A, "_tcp.a.fed.example.", "RRSIG NSEC",
		  "fed.example." },
		{ "a.fed.example.", LDNS_RR_TYPE_SRV, "a.fed.example.", "RRSIG NSEC", "fed.example." },
		{ "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_A, "_xmpp-server._tcp.a.fed.example.",
		  "SRV RRSIG NSEC", "fed.example." },
		/* apexes: the zone's and a member's */
		{ "fed.example.", LDNS_RR_TYPE_A, "fed.example.", "NS SOA RRSIG NSEC DNSKEY CDS CDNSKEY",
		  "fed.example." },
		{ "_xmpp-server._tcp.gamma.example.", LDNS_RR_TYPE_A, "_xmpp-server._tcp.gamma.example.",
		  "NS SOA SRV RRSIG NSEC DNSKEY CDS CDNSKEY", "_xmpp-server._tcp.gamma.example." },
	};
	char bits[256];

	set_keys(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ldns_rr_list *keys = apex_keys(c, cases[i].signer);
		ldns_pkt *p = ask(c, cases[i].q, cases[i].t);
		ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
		ldns_rdf *owner = dname(cases[i].owner);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_int_equal(ldns_pkt_ancount(p), 0);
		assert_int_equal(ldns_rr_list_rr_count(n), 1);
		assert_int_equal(ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(n, 0)), owner), 0);
		bitmap_text(ldns_rr_list_rr(n, 0), bits, sizeof(bits));
		if (strcmp(bits, cases[i].bits) != 0)
			fail_msg("%s: bitmap '%s', not '%s'", cases[i].q, bits, cases[i].bits);
		/* The NSEC TTL is the negative TTL: min(SOA TTL, minimum). */
		assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(n, 0)), 60);
		assert_int_equal(verify_section(c, ldns_pkt_authority(p), keys, cases[i].signer), 2);
		ldns_rdf_deep_free(owner);
		ldns_rr_list_deep_free(n);
		ldns_rr_list_deep_free(keys);
		ldns_pkt_free(p);
	}
}

/* Regression: DS at a delegation point got a referral to the child, which
 * has no DS to give (RFC 4035 3.1.4.1: the parent answers it).  Now
 * NODATA, proven by the NSEC of the cut: NS, no DS, no SOA. */
static void test_ds_at_delegation_is_answered_by_the_parent(void **state)
{
	struct ctx *c = *state;
	char bits[256];

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask(c, "sub.fed.example.", LDNS_RR_TYPE_DS);
	ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_rr_list_rr_count(n), 1);
	bitmap_text(ldns_rr_list_rr(n, 0), bits, sizeof(bits));
	assert_string_equal(bits, "NS RRSIG NSEC");
	assert_int_equal(verify_section(c, ldns_pkt_authority(p), c->apex_keys, "fed.example."), 2);
	ldns_rr_list_deep_free(n);
	ldns_pkt_free(p);
}

/* A referral proves the delegation insecure: the NSEC of the cut, signed;
 * the NS and the glue, which are the child's, are not. */
static void test_referral_carries_signed_nsec_of_the_cut_only(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask(c, "www.sub.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
	ldns_rr_list *sigs = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANY);
	ldns_rdf *cut = dname("sub.fed.example.");

	assert_false(ldns_pkt_aa(p));
	assert_int_equal(ldns_rr_list_rr_count(n), 1);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(n, 0)), cut), 0);
	assert_non_null(sigs);
	assert_int_equal(ldns_rr_list_rr_count(sigs), 1);
	assert_int_equal(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(ldns_rr_list_rr(sigs, 0))),
	                 LDNS_RR_TYPE_NSEC);
	ldns_rr_list *set = rrset_of(ldns_pkt_authority(p), cut, LDNS_RR_TYPE_NSEC, false);
	assert_int_equal(ldns_verify_rrsig_keylist_time(set, ldns_rr_list_rr(sigs, 0), c->apex_keys,
	                                                (time_t)c->now, NULL),
	                 LDNS_STATUS_OK);
	ldns_rr_list_deep_free(set);
	ldns_rdf_deep_free(cut);
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(n);
	ldns_pkt_free(p);
}

/* Regression: the TLSA names of the clearinghouse's pins (tlsa.c) had no
 * NSEC: a query of another type there was NODATA without proof, which a
 * validator takes as bogus.  Their NSEC has TLSA; _tcp above them is an
 * empty non-terminal and the closest encloser of a port with no TLSA. */
static void test_tlsa_names_are_in_the_denial(void **state)
{
	struct ctx *c = *state;
	static const uint8_t pin[1][32] = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 } };
	char bits[256];

	set_keys(c);
	assert_int_equal(dnsd_engine_set_tlsa(c->f.engine, pin, 1), 0);
	c->apex_keys = apex_keys(c, "fed.example.");
	static const struct { const char *q, *bits; } cases[] = {
		{ "_5269._tcp.ch.fed.example.", "RRSIG NSEC TLSA" },
		{ "_tcp.ch.fed.example.", "RRSIG NSEC" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ldns_pkt *p = ask(c, cases[i].q, LDNS_RR_TYPE_A);
		ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_int_equal(ldns_rr_list_rr_count(n), 1);
		bitmap_text(ldns_rr_list_rr(n, 0), bits, sizeof(bits));
		assert_string_equal(bits, cases[i].bits);
		assert_int_equal(verify_section(c, ldns_pkt_authority(p), c->apex_keys, "fed.example."), 2);
		ldns_rr_list_deep_free(n);
		ldns_pkt_free(p);
	}
	ldns_pkt *p = ask(c, "_443._tcp.ch.fed.example.", LDNS_RR_TYPE_TLSA);
	ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_true(covered(n, "*._tcp.ch.fed.example."));
	assert_false(covered(n, "_5269._tcp.ch.fed.example."));
	ldns_rr_list_deep_free(n);
	ldns_pkt_free(p);
}

/* A query of type NSEC gets the name's NSEC as an answer. */
static void test_nsec_query_answers_the_nsec_of_the_name(void **state)
{
	struct ctx *c = *state;
	char bits[256];

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask(c, "ch.fed.example.", LDNS_RR_TYPE_NSEC);
	ldns_rr_list *n = nsecs(p, LDNS_SECTION_ANSWER);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_rr_list_rr_count(n), 1);
	assert_int_equal(ldns_pkt_nscount(p), 0);
	bitmap_text(ldns_rr_list_rr(n, 0), bits, sizeof(bits));
	assert_string_equal(bits, "A AAAA RRSIG NSEC");
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	ldns_rr_list_deep_free(n);
	ldns_pkt_free(p);
}

/* ---- signatures ---- */

/* Every RRset of a positive answer is signed with the window asked for,
 * by the right apex: the community zone's, a member's own apex; and a
 * record changed after signing fails, so the check can fail. */
static void test_signatures_verify_with_the_apex_keys(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask(c, "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	assert_true(verify_section(c, ldns_pkt_additional(p), c->apex_keys, "fed.example.") >= 2);

	ldns_rdf *owner = dname("_xmpp-server._tcp.a.fed.example.");
	ldns_rr_list *set = rrset_of(ldns_pkt_answer(p), owner, LDNS_RR_TYPE_SRV, false);
	ldns_rr_list *sigs = rrset_of(ldns_pkt_answer(p), owner, LDNS_RR_TYPE_SRV, true);
	ldns_rr *rr = ldns_rr_list_rr(set, 0);
	ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 5270), 2));
	assert_int_not_equal(ldns_verify_rrsig_keylist_time(set, ldns_rr_list_rr(sigs, 0),
	                                                    c->apex_keys, (time_t)c->now, NULL),
	                     LDNS_STATUS_OK);
	ldns_rr_list_deep_free(set);
	ldns_rr_list_deep_free(sigs);
	ldns_rdf_deep_free(owner);
	ldns_pkt_free(p);

	ldns_rr_list *gk = apex_keys(c, "_xmpp-server._tcp.gamma.example.");
	p = ask(c, "_xmpp-server._tcp.gamma.example.", LDNS_RR_TYPE_SRV);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), gk,
	                                "_xmpp-server._tcp.gamma.example."), 1);
	ldns_pkt_free(p);
	p = ask(c, "_xmpp-server._tcp.gamma.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), gk,
	                                "_xmpp-server._tcp.gamma.example."), 1);
	ldns_pkt_free(p);
	ldns_rr_list_deep_free(gk);
}

/* The inception of an answer's first RRSIG, or 0. */
static int64_t first_inception(const ldns_pkt *p)
{
	ldns_rr_list *sigs = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER);
	int64_t t = sigs ? (int64_t)ldns_rdf2native_time_t(
	                       ldns_rr_rrsig_inception(ldns_rr_list_rr(sigs, 0))) : 0;

	ldns_rr_list_deep_free(sigs);
	return t;
}

/* A cached signed answer is served as it is until its signatures come
 * within refresh of their expiration, then signed anew; after a long
 * idle time it is never served expired. */
static void test_cached_answer_is_resigned_before_expiry(void **state)
{
	struct ctx *c = *state;
	static uint8_t first[DNSD_MSG_MAX], again[DNSD_MSG_MAX];
	size_t n1, n2;
	struct q o = { .do_bit = true };
	const char *name = "_xmpp-server._tcp.a.fed.example.";

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, first, &n1);
	assert_int_equal(first_inception(p), T0 - INCEPTION);
	ldns_pkt_free(p);

	/* A day later, and just before the refresh time: the same bytes. */
	for (int64_t t = T0 + 86400; t <= T0 + VALIDITY - REFRESH - 1; t += VALIDITY - REFRESH - 86401) {
		c->now = t;
		ldns_pkt_free(ask_wire(c, name, LDNS_RR_TYPE_SRV, o, again, &n2));
		assert_int_equal(n1, n2);
		assert_memory_equal(first, again, n1);
	}
	/* At the refresh time: signed again, valid from now. */
	c->now = T0 + VALIDITY - REFRESH;
	p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, again, &n2);
	assert_int_equal(first_inception(p), c->now - INCEPTION);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	ldns_pkt_free(p);
	/* Long idle, past every expiration: a fresh signature. */
	c->now = T0 + 10 * (int64_t)VALIDITY;
	p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, again, &n2);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	ldns_pkt_free(p);
}

/* The RRSIGs of an answer's SRV RRset. */
static size_t srv_sigs(const ldns_pkt *p)
{
	ldns_rdf *owner = dname("_xmpp-server._tcp.a.fed.example.");
	ldns_rr_list *sigs = rrset_of(ldns_pkt_answer(p), owner, LDNS_RR_TYPE_SRV, true);
	size_t n = ldns_rr_list_rr_count(sigs);

	ldns_rr_list_deep_free(sigs);
	ldns_rdf_deep_free(owner);
	return n;
}

/* A key event (here a second ZSK's Activate, T0 + 1000) ends a cached
 * signed answer as its signatures' refresh time does: from then on it is
 * signed by both ZSKs, though the signatures it had were far from due. */
static void test_cached_answer_ends_at_the_next_key_event(void **state)
{
	struct ctx *c = *state;
	static uint8_t out[DNSD_MSG_MAX];
	size_t n;
	char cmd[512];
	struct q o = { .do_bit = true };
	const char *name = "_xmpp-server._tcp.a.fed.example.";

	/* Published an hour before T0, active 1000 s after it (UTC). */
	snprintf(cmd, sizeof(cmd), "dnssec-keygen -q -K '%s' -a ED25519 -P 20261118100640 "
	         "-A 20261118112320 fed.example >/dev/null && chmod 600 '%s'/*.private", c->keydir,
	         c->keydir);
	assert_int_equal(system(cmd), 0);
	set_keys(c);
	ldns_pkt *p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, out, &n);
	assert_int_equal(srv_sigs(p), 1);
	ldns_pkt_free(p);
	c->now = T0 + 999;
	p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, out, &n);
	assert_int_equal(srv_sigs(p), 1);
	assert_int_equal(first_inception(p), T0 - INCEPTION);   /* from the cache */
	ldns_pkt_free(p);
	c->now = T0 + 1000;
	c->apex_keys = apex_keys(c, "fed.example.");
	assert_int_equal(ldns_rr_list_rr_count(c->apex_keys), 3);
	p = ask_wire(c, name, LDNS_RR_TYPE_SRV, o, out, &n);
	assert_int_equal(srv_sigs(p), 2);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	ldns_pkt_free(p);
}

/* With DO=0, with or without EDNS, answers are byte for byte what they
 * were without keys. */
static void test_do0_answers_unchanged_by_signing(void **state)
{
	struct ctx *c = *state;
	static const struct { const char *name; ldns_rr_type t; } qs[] = {
		{ "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV },
		{ "_xmpp-server._tcp.gamma.example.", LDNS_RR_TYPE_SRV },
		{ "nope.fed.example.", LDNS_RR_TYPE_A },
		{ "ch.fed.example.", LDNS_RR_TYPE_TXT },
		{ "_tcp.a.fed.example.", LDNS_RR_TYPE_A },
		{ "www.sub.fed.example.", LDNS_RR_TYPE_A },
		{ "fed.example.", LDNS_RR_TYPE_SOA },
	};
	static uint8_t before[sizeof(qs) / sizeof(qs[0])][2][DNSD_MSG_MAX], after[DNSD_MSG_MAX];
	size_t len[sizeof(qs) / sizeof(qs[0])][2], n;

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			set_keys(c);
		for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
			for (int edns = 0; edns < 2; edns++) {
				struct q o = { .edns = edns };
				uint8_t *out = pass ? after : before[i][edns];
				ldns_pkt_free(ask_wire(c, qs[i].name, qs[i].t, o, out, pass ? &n : &len[i][edns]));
				if (pass) {
					assert_int_equal(n, len[i][edns]);
					assert_memory_equal(after, before[i][edns], n);
				}
			}
		}
	}
}

/* A member's SRV answer with DO=1, the fallback's eight targets and their
 * addresses, fits the 1232 bytes of UDP without TC: the additional
 * section loses whole RRsets if need be, never the answer's RRSIG. */
static void srv_fits_udp(struct ctx *c)
{
	static uint8_t out[DNSD_MSG_MAX];
	size_t n;
	ldns_rdf *owner = dname("_xmpp-server._tcp.a.fed.example.");

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p = ask_wire(c, "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV,
	                       (struct q){ .do_bit = true }, out, &n);
	assert_true(n <= 1232);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), NHOSTS + 2);
	ldns_rr_list *sigs = rrset_of(ldns_pkt_answer(p), owner, LDNS_RR_TYPE_SRV, true);
	assert_int_equal(ldns_rr_list_rr_count(sigs), 1);
	assert_int_equal(verify_section(c, ldns_pkt_answer(p), c->apex_keys, "fed.example."), 1);
	verify_section(c, ldns_pkt_additional(p), c->apex_keys, "fed.example.");
	ldns_rr_list_deep_free(sigs);
	ldns_rdf_deep_free(owner);
	ldns_pkt_free(p);
}

static void test_signed_srv_fits_udp_ed25519(void **state)
{
	srv_fits_udp(*state);
}

static void test_signed_srv_fits_udp_p256(void **state)
{
	srv_fits_udp(*state);
}

/* Regression: cutting the additional section to fit could keep an
 * address RRset and drop its RRSIG (a cut fell between them), or the
 * other way round.  Every RRset kept comes with its signature. */
static void test_udp_cut_keeps_each_rrsig_with_its_rrset(void **state)
{
	struct ctx *c = *state;
	static uint8_t out[DNSD_MSG_MAX];
	size_t n, total;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	/* Over TCP, whole: far more than UDP takes. */
	ldns_pkt_free(ask_wire(c, "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV,
	                       (struct q){ .do_bit = true, .tcp = true }, out, &total));
	assert_true(total > 1232);
	ldns_pkt *p = ask_wire(c, "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV,
	                       (struct q){ .do_bit = true }, out, &n);
	assert_true(n <= 1232);
	assert_false(ldns_pkt_tc(p));
	assert_true(ldns_pkt_arcount(p) > 0);
	/* verify_section fails on an RRset without RRSIG or the reverse. */
	assert_true(verify_section(c, ldns_pkt_additional(p), c->apex_keys, "fed.example.") > 0);
	ldns_pkt_free(p);
}

/* ---- the signature cache ---- */

/* The RRSIGs in section s over the RRset of this owner and type. */
static ldns_rr_list *sigs_at(const ldns_rr_list *s, const char *owner, ldns_rr_type type)
{
	ldns_rdf *o = dname(owner);
	ldns_rr_list *l = rrset_of(s, o, type, true);

	ldns_rdf_deep_free(o);
	return l;
}

/* The RRSIGs of the authority section's NSEC that covers name. */
static ldns_rr_list *nsec_sigs_covering(const ldns_pkt *p, const char *name)
{
	ldns_rr_list *n = nsecs(p, LDNS_SECTION_AUTHORITY), *l = NULL;
	ldns_rdf *d = dname(name);

	for (size_t i = 0; i < ldns_rr_list_rr_count(n) && !l; i++)
		if (ldns_nsec_covers_name(ldns_rr_list_rr(n, i), d))
			l = rrset_of(ldns_pkt_authority(p), ldns_rr_owner(ldns_rr_list_rr(n, i)),
			             LDNS_RR_TYPE_NSEC, true);
	assert_non_null(l);
	ldns_rdf_deep_free(d);
	ldns_rr_list_deep_free(n);
	return l;
}

static int64_t inception_of(const ldns_rr_list *sigs, size_t i)
{
	return (int64_t)ldns_rdf2native_time_t(ldns_rr_rrsig_inception(ldns_rr_list_rr(sigs, i)));
}

static bool same_rrsigs(const ldns_rr_list *a, const ldns_rr_list *b)
{
	if (ldns_rr_list_rr_count(a) != ldns_rr_list_rr_count(b))
		return false;
	for (size_t i = 0; i < ldns_rr_list_rr_count(a); i++)
		if (ldns_rr_compare(ldns_rr_list_rr(a, i), ldns_rr_list_rr(b, i)) != 0)
			return false;
	return true;
}

/* Two NXDOMAIN answers a day apart share the SOA and the NSEC of the
 * wildcard: their RRSIGs are those of the first answer, byte for byte,
 * and still verify; the NSEC of each name is signed anew. */
static void test_signature_cache_reuses_the_rrsig_of_an_identical_rrset(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *p1 = ask(c, "nope1.fed.example.", LDNS_RR_TYPE_A);
	c->now = T0 + 86400;
	ldns_pkt *p2 = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *soa1 = sigs_at(ldns_pkt_authority(p1), "fed.example.", LDNS_RR_TYPE_SOA);
	ldns_rr_list *soa2 = sigs_at(ldns_pkt_authority(p2), "fed.example.", LDNS_RR_TYPE_SOA);
	ldns_rr_list *w1 = nsec_sigs_covering(p1, "*.fed.example.");
	ldns_rr_list *w2 = nsec_sigs_covering(p2, "*.fed.example.");
	ldns_rr_list *n2 = nsec_sigs_covering(p2, "nope2.fed.example.");

	assert_int_equal(ldns_rr_list_rr_count(soa1), 1);
	assert_true(same_rrsigs(soa1, soa2));
	assert_true(same_rrsigs(w1, w2));
	assert_int_equal(inception_of(soa2, 0), T0 - INCEPTION);
	assert_int_equal(inception_of(n2, 0), c->now - INCEPTION);
	assert_int_equal(verify_section_made(c, ldns_pkt_authority(p2), c->apex_keys, "fed.example.",
	                                     false), 3);
	ldns_rr_list_deep_free(soa1);
	ldns_rr_list_deep_free(soa2);
	ldns_rr_list_deep_free(w1);
	ldns_rr_list_deep_free(w2);
	ldns_rr_list_deep_free(n2);
	ldns_pkt_free(p1);
	ldns_pkt_free(p2);
}

/* A signature is reused until refresh before its expiration, not at it. */
static void test_signature_cache_signs_anew_at_the_refresh_time(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt_free(ask(c, "nope1.fed.example.", LDNS_RR_TYPE_A));
	c->now = T0 + VALIDITY - REFRESH - 1;
	ldns_pkt *p = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(inception_of(soa, 0), T0 - INCEPTION);
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
	c->now = T0 + VALIDITY - REFRESH;
	p = ask(c, "nope3.fed.example.", LDNS_RR_TYPE_A);
	assert_int_equal(verify_section(c, ldns_pkt_authority(p), c->apex_keys, "fed.example."), 3);
	ldns_pkt_free(p);
}

/* An answer that reuses a signature made earlier holds in the answer
 * cache until that signature's refresh time, not a full refresh period
 * from its own rendering: else it would be served with less than refresh
 * left, and past its expiration after a long idle time. */
static void test_answer_with_a_reused_signature_is_cached_until_its_refresh_time(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt_free(ask(c, "nope1.fed.example.", LDNS_RR_TYPE_A));
	c->now = T0 + 86400;
	ldns_pkt *p = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(inception_of(soa, 0), T0 - INCEPTION);   /* reused */
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
	/* Rendered again: the SOA signed anew, the NSEC of nope2 made a day
	 * after it still good; no signature within refresh of expiring. */
	c->now = T0 + VALIDITY - REFRESH;
	p = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(inception_of(soa, 0), c->now - INCEPTION);
	assert_int_equal(verify_section_made(c, ldns_pkt_authority(p), c->apex_keys, "fed.example.",
	                                     false), 3);
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
}

/* The same records under another TTL are another RRset to sign (the TTL
 * is in the signed data), and the same RRset signed by two keys (CDS: by
 * the KSK and the ZSK) has two signatures, each that key's. */
static void test_signature_cache_keeps_ttls_and_keys_apart(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	ldns_pkt *a = ask(c, "fed.example.", LDNS_RR_TYPE_SOA);
	ldns_pkt *n = ask(c, "nope.fed.example.", LDNS_RR_TYPE_SOA);
	ldns_rr_list *sa = sigs_at(ldns_pkt_answer(a), "fed.example.", LDNS_RR_TYPE_SOA);
	ldns_rr_list *sn = sigs_at(ldns_pkt_authority(n), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_list_rr_count(sa), 1);
	assert_int_equal(ldns_rr_list_rr_count(sn), 1);
	assert_int_not_equal(ldns_rdf2native_int32(ldns_rr_rrsig_origttl(ldns_rr_list_rr(sa, 0))),
	                     ldns_rdf2native_int32(ldns_rr_rrsig_origttl(ldns_rr_list_rr(sn, 0))));
	assert_int_equal(verify_section(c, ldns_pkt_answer(a), c->apex_keys, "fed.example."), 1);
	assert_int_equal(verify_section(c, ldns_pkt_authority(n), c->apex_keys, "fed.example."), 3);
	ldns_rr_list_deep_free(sa);
	ldns_rr_list_deep_free(sn);
	ldns_pkt_free(a);
	ldns_pkt_free(n);

	for (int round = 0; round < 2; round++) {
		ldns_pkt *p = ask(c, "fed.example.", LDNS_RR_TYPE_CDS);
		ldns_rr_list *s = sigs_at(ldns_pkt_answer(p), "fed.example.", LDNS_RR_TYPE_CDS);
		assert_int_equal(ldns_rr_list_rr_count(s), 2);
		assert_int_not_equal(ldns_rdf2native_int16(ldns_rr_rrsig_keytag(ldns_rr_list_rr(s, 0))),
		                     ldns_rdf2native_int16(ldns_rr_rrsig_keytag(ldns_rr_list_rr(s, 1))));
		assert_int_equal(verify_section_made(c, ldns_pkt_answer(p), c->apex_keys, "fed.example.",
		                                     round == 0), 1);
		if (round == 1)
			assert_int_equal(inception_of(s, 0), T0 - INCEPTION);
		ldns_rr_list_deep_free(s);
		ldns_pkt_free(p);
		c->now++;   /* and a second later */
	}
}

/* A key event ends every signature kept for the apex: from then on the
 * SOA is signed anew, by each key active then, though the old signature
 * was far from due. */
static void test_signature_cache_ends_at_the_next_key_event(void **state)
{
	struct ctx *c = *state;
	char cmd[512];

	/* Published an hour before T0, active 1000 s after it (UTC). */
	snprintf(cmd, sizeof(cmd), "dnssec-keygen -q -K '%s' -a ED25519 -P 20261118100640 "
	         "-A 20261118112320 fed.example >/dev/null && chmod 600 '%s'/*.private", c->keydir,
	         c->keydir);
	assert_int_equal(system(cmd), 0);
	set_keys(c);
	ldns_pkt_free(ask(c, "nope1.fed.example.", LDNS_RR_TYPE_A));
	c->now = T0 + 999;
	ldns_pkt *p = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_list_rr_count(soa), 1);
	assert_int_equal(inception_of(soa, 0), T0 - INCEPTION);   /* reused */
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
	c->now = T0 + 1000;
	c->apex_keys = apex_keys(c, "fed.example.");
	p = ask(c, "nope3.fed.example.", LDNS_RR_TYPE_A);
	soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_list_rr_count(soa), 2);
	assert_int_equal(verify_section(c, ldns_pkt_authority(p), c->apex_keys, "fed.example."), 3);
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
}

/* New keys or settings (a SIGHUP) empty the signatures kept: the next
 * answer's are made with the new validity, and the old keys, which the
 * daemon frees once every worker has moved on, are not named again. */
static void test_signature_cache_is_emptied_when_the_settings_change(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	ldns_pkt_free(ask(c, "nope1.fed.example.", LDNS_RR_TYPE_A));
	assert_int_equal(dnsd_engine_set_dnssec(c->f.engine, c->ks, 2 * VALIDITY, INCEPTION, REFRESH),
	                 0);
	ldns_pkt *p = ask(c, "nope2.fed.example.", LDNS_RR_TYPE_A);
	ldns_rr_list *soa = sigs_at(ldns_pkt_authority(p), "fed.example.", LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_list_rr_count(soa), 1);
	assert_int_equal(ldns_rdf2native_time_t(ldns_rr_rrsig_expiration(ldns_rr_list_rr(soa, 0))),
	                 c->now + 2 * (int64_t)VALIDITY);
	ldns_rr_list_deep_free(soa);
	ldns_pkt_free(p);
}

/* Every signature field of an RRSIG in p: 64 bytes. */
static void assert_sigs_64(const ldns_pkt *p)
{
	ldns_rr_list *sigs = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANY);

	assert_non_null(sigs);
	for (size_t i = 0; i < ldns_rr_list_rr_count(sigs); i++)
		assert_int_equal(ldns_rdf_size(ldns_rr_rrsig_sig(ldns_rr_list_rr(sigs, i))), 64);
	ldns_rr_list_deep_free(sigs);
}

/* OpenSSL gives an ECDSA signature in DER; an RRSIG holds r and s, 32
 * bytes each (RFC 6605 4), which validators check. */
static void test_ecdsa_rrsig_is_r_and_s_in_64_bytes(void **state)
{
	struct ctx *c = *state;

	set_keys(c);
	c->apex_keys = apex_keys(c, "fed.example.");
	for (int round = 0; round < 2; round++) {   /* signed, then from the signature cache */
		char name[64];
		snprintf(name, sizeof(name), "nope%d.fed.example.", round);
		ldns_pkt *p = ask(c, name, LDNS_RR_TYPE_A);
		assert_sigs_64(p);
		assert_int_equal(verify_section_made(c, ldns_pkt_authority(p), c->apex_keys,
		                                     "fed.example.", round == 0), 3);
		ldns_pkt_free(p);
		c->now++;
	}
	ldns_pkt *p = ask(c, "_xmpp-server._tcp.a.fed.example.", LDNS_RR_TYPE_SRV);
	assert_sigs_64(p);
	ldns_pkt_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epsilon_names_are_just_before_and_after),
		cmocka_unit_test(test_epsilon_never_makes_an_upper_case_byte),
		cmocka_unit_test_setup_teardown(test_nxdomain_covers_next_closer_and_wildcard_only, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_nodata_nsec_has_the_type_bitmap_of_the_name, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ds_at_delegation_is_answered_by_the_parent, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_referral_carries_signed_nsec_of_the_cut_only, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_nsec_query_answers_the_nsec_of_the_name, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_tlsa_names_are_in_the_denial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signatures_verify_with_the_apex_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_answer_is_resigned_before_expiry, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cached_answer_ends_at_the_next_key_event, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_do0_answers_unchanged_by_signing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_srv_fits_udp_ed25519, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_srv_fits_udp_p256, setup_p256, teardown),
		cmocka_unit_test_setup_teardown(test_udp_cut_keeps_each_rrsig_with_its_rrset, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_signature_cache_reuses_the_rrsig_of_an_identical_rrset,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_cache_signs_anew_at_the_refresh_time, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
			test_answer_with_a_reused_signature_is_cached_until_its_refresh_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_cache_keeps_ttls_and_keys_apart, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_signature_cache_ends_at_the_next_key_event, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_signature_cache_is_emptied_when_the_settings_change,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecdsa_rrsig_is_r_and_s_in_64_bytes, setup_p256,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
