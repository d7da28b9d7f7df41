/* Transfers on their own, without a socket: the transfer: rules as the
 * configuration gives them, and the messages of an AXFR of a community
 * larger than one message, read one by one as a connection would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "fixture.h"

#define MEMBERS 3000

static int load_policy(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;
	struct pdb_member m;
	char name[64];
	int rc;

	(void)arg;
	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.nch = 1;
	c.ch[0].host = pdb_str_of("ch.fed.example");
	c.ch[0].port = 5269;
	c.ch[0].tls_port = 5270;
	if ((rc = pdb_w_put_community(w, &c)) != 0)
		return rc;
	for (int i = 0; i < MEMBERS; i++) {
		pdb_member_init(&m);
		snprintf(name, sizeof(name), "m%05d.fed.example", i);
		if ((rc = pdb_w_put_member(w, name, &m)) != 0)
			return rc;
	}
	pdb_member_init(&m);
	return pdb_w_put_member(w, "outside.example", &m);
}

struct xfr_fixture {
	struct fixture f;
	struct dnsd_config conf;
	dnsd_xfr_acl *acl;
	uint8_t out[DNSD_MSG_MAX];
};

/* A record of the transfer: list, as the configuration reader leaves it. */
static void rule(struct dnsd_config *c, const char *key, const char *addr, const char *view)
{
	struct cfg_record *r = &c->transfer[c->ntransfer++];

	memset(r, 0, sizeof(*r));
	r->v[DNSD_TRANSFER_KEY] = key ? strdup(key) : NULL;
	r->v[DNSD_TRANSFER_ADDRESS] = addr ? strdup(addr) : NULL;
	r->v[DNSD_TRANSFER_VIEW] = view ? strdup(view) : NULL;
	r->line = c->ntransfer + 1;
	r->column = 5;
}

static int setup(void **state)
{
	struct xfr_fixture *x = calloc(1, sizeof(*x));
	char err[256];

	assert_non_null(x);
	assert_int_equal(fixture_open(&x->f), 0);
	assert_int_equal(pdb_write(x->f.db, "test", load_policy, NULL, NULL), 0);
	rule(&x->conf, NULL, "127.0.0.1/32", NULL);
	x->conf.catalog = strdup("catalog.fed.example");
	assert_int_equal(dnsd_xfr_acl_new(&x->conf, "dnsd.yaml", &x->acl, err, sizeof(err)), 0);
	dnsd_engine_set_transfer(x->f.engine, x->acl);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct xfr_fixture *x = *state;

	fixture_close(&x->f);
	dnsd_xfr_acl_free(x->acl);
	dnsd_config_free(&x->conf);
	free(x);
	return 0;
}

static size_t make_query(uint8_t *q, const char *zone, ldns_rr_type type, uint16_t id)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;
	size_t n = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, zone, type, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	assert_int_equal(ldns_pkt2wire(&w, p, &n), LDNS_STATUS_OK);
	memcpy(q, w, n);
	free(w);
	ldns_pkt_free(p);
	return n;
}

static const struct dnsd_client local = { .family = 4, .addr = { 127, 0, 0, 1 }, .tcp = true };
static const struct dnsd_client stranger = { .family = 4, .addr = { 10, 9, 8, 7 }, .tcp = true };

static void test_axfr_is_soa_records_soa_in_bounded_messages_with_the_query_id(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_AXFR, 0x4242), n;
	dnsd_xfr *t = NULL;
	unsigned msgs = 0, srv = 0, soa = 0, total = 0;
	int more;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &local, &t), 0);
	assert_non_null(t);
	do {
		ldns_pkt *p = NULL;
		more = dnsd_xfr_next(t, x->out, sizeof(x->out), &n);
		assert_true(more >= 0);
		assert_true(n > 0 && n <= DNSD_XFR_MSG);
		assert_int_equal(ldns_wire2pkt(&p, x->out, n), LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt_id(p), 0x4242);
		assert_true(ldns_pkt_qr(p) && ldns_pkt_aa(p));
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		const ldns_rr_list *an = ldns_pkt_answer(p);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++, total++) {
			ldns_rr_type type = ldns_rr_get_type(ldns_rr_list_rr(an, i));
			if (type == LDNS_RR_TYPE_SOA) {
				/* first and last, nowhere else */
				assert_true(total == 0 || (!more && i == ldns_rr_list_rr_count(an) - 1));
				soa++;
			}
			srv += type == LDNS_RR_TYPE_SRV;
		}
		ldns_pkt_free(p);
		msgs++;
	} while (more);
	dnsd_xfr_free(t);
	assert_int_equal(soa, 2);
	assert_int_equal(srv, 2 * MEMBERS);   /* the member outside is a zone of its own */
	assert_true(msgs > 4);
}

static void test_axfr_freed_mid_transfer_leaks_nothing(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_AXFR, 1), n;
	dnsd_xfr *t = NULL;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &local, &t), 0);
	assert_int_equal(dnsd_xfr_next(t, x->out, sizeof(x->out), &n), 1);
	assert_int_equal(dnsd_xfr_next(t, x->out, sizeof(x->out), &n), 1);
	dnsd_xfr_free(t);   /* the sanitizer build finds what would be left */
}

static void test_axfr_refused_to_a_client_no_rule_allows(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_AXFR, 7), n;
	dnsd_xfr *t = NULL;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &stranger, &t), 0);
	assert_non_null(t);
	assert_int_equal(dnsd_xfr_next(t, x->out, sizeof(x->out), &n), 0);
	assert_int_equal(LDNS_RCODE_WIRE(x->out), LDNS_RCODE_REFUSED);
	assert_int_equal(LDNS_ANCOUNT(x->out), 0);
	dnsd_xfr_free(t);
}

static void test_other_queries_are_no_transfer(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_SOA, 7);
	dnsd_xfr *t = (dnsd_xfr *)q;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &local, &t), 0);
	assert_null(t);
}

static void test_zone_reload_ends_a_transfer(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_AXFR, 1), n;
	dnsd_xfr *t = NULL;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &local, &t), 0);
	assert_int_equal(dnsd_xfr_next(t, x->out, sizeof(x->out), &n), 1);
	dnsd_engine_set_zones(x->f.engine, x->f.zones);   /* a reload, as far as it knows */
	assert_int_equal(dnsd_xfr_next(t, x->out, sizeof(x->out), &n), -ESTALE);
	dnsd_xfr_free(t);
}

/* ---- IXFR from the journal ---- */

static int del_member(pdb_wtxn *w, void *arg)
{
	return pdb_w_del_member(w, arg);
}

/* The records of a whole transfer, message by message. */
static ldns_rr_list *transfer(struct xfr_fixture *x, const uint8_t *q, size_t qlen)
{
	ldns_rr_list *all = ldns_rr_list_new();
	dnsd_xfr *t = NULL;
	size_t n;
	int more;

	assert_int_equal(dnsd_xfr_begin(x->f.engine, q, qlen, &local, &t), 0);
	assert_non_null(t);
	do {
		ldns_pkt *p = NULL;
		more = dnsd_xfr_next(t, x->out, sizeof(x->out), &n);
		assert_true(more >= 0 && n > 0);
		assert_int_equal(ldns_wire2pkt(&p, x->out, n), LDNS_STATUS_OK);
		ldns_rr_list *an = ldns_rr_list_clone(ldns_pkt_answer(p));
		assert_non_null(an);
		ldns_rr_list_push_rr_list(all, an);   /* takes the records, not the list */
		ldns_rr_list_free(an);
		ldns_pkt_free(p);
	} while (more);
	dnsd_xfr_free(t);
	return all;
}

static size_t ixfr_query(uint8_t *q, const ldns_rr *soa)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;
	size_t n = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, "fed.example.", LDNS_RR_TYPE_IXFR,
	                                            LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(soa));
	assert_int_equal(ldns_pkt2wire(&w, p, &n), LDNS_STATUS_OK);
	memcpy(q, w, n);
	free(w);
	ldns_pkt_free(p);
	return n;
}

static void test_ixfr_member_removed_gives_only_its_srv_deletions(void **state)
{
	struct xfr_fixture *x = *state;
	uint8_t q[512];
	size_t qlen = make_query(q, "fed.example.", LDNS_RR_TYPE_AXFR, 1);
	ldns_rr_list *before = transfer(x, q, qlen);
	const ldns_rr *old_soa = ldns_rr_list_rr(before, 0);
	char gone[] = "m00007.fed.example";

	assert_int_equal(pdb_write(x->f.db, "test", del_member, gone, NULL), 0);
	qlen = ixfr_query(q, old_soa);
	ldns_rr_list *diff = transfer(x, q, qlen);
	/* SOA new, SOA old, two SRV deleted, SOA new, nothing added, SOA new. */
	assert_int_equal(ldns_rr_list_rr_count(diff), 6);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(diff, 1)), LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(diff, 1), 2)),
	                 ldns_rdf2native_int32(ldns_rr_rdf(old_soa, 2)));
	for (size_t i = 2; i < 4; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(diff, i);
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_SRV);
		assert_non_null(strstr(owner, "._tcp.m00007.fed.example."));
		free(owner);
	}
	ldns_rr_list_deep_free(diff);
	ldns_rr_list_deep_free(before);
}

/* ---- the rules as read from the file ---- */

static void check_bad(const char *key, const char *addr, const char *view, const char *why)
{
	struct dnsd_config c = { 0 };
	dnsd_xfr_acl *acl = (dnsd_xfr_acl *)&c;
	char err[256] = "";

	c.keys[0].v[DNSD_KEY_NAME] = strdup("xfr-knot");
	c.nkeys = 1;
	rule(&c, key, addr, view);
	assert_int_equal(dnsd_xfr_acl_new(&c, "dnsd.yaml", &acl, err, sizeof(err)), DNSD_ECONFIG);
	assert_null(acl);
	assert_non_null(strstr(err, "dnsd.yaml:2:5: transfer: "));
	assert_non_null(strstr(err, why));
	dnsd_config_free(&c);
}

static void test_transfer_rules_checked_with_file_line_column(void **state)
{
	struct dnsd_config c = { 0 };
	dnsd_xfr_acl *acl = NULL;
	char err[256];

	(void)state;
	check_bad("xfr-bind", NULL, NULL, "no such key");
	check_bad(NULL, "192.0.2.1/24", NULL, "not an address");
	check_bad(NULL, "192.0.2.0/24", "not a name", "view");
	check_bad(NULL, NULL, "delta.fed.example", "needs a key");
	c.keys[0].v[DNSD_KEY_NAME] = strdup("xfr-knot");
	c.nkeys = 1;
	rule(&c, "xfr-knot", "2001:db8::/32", "delta.fed.example");
	assert_int_equal(dnsd_xfr_acl_new(&c, "dnsd.yaml", &acl, err, sizeof(err)), 0);
	assert_non_null(acl);
	dnsd_xfr_acl_free(acl);
	dnsd_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_axfr_is_soa_records_soa_in_bounded_messages_with_the_query_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_axfr_freed_mid_transfer_leaks_nothing, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_axfr_refused_to_a_client_no_rule_allows, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_other_queries_are_no_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zone_reload_ends_a_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ixfr_member_removed_gives_only_its_srv_deletions,
		                                setup, teardown),
		cmocka_unit_test(test_transfer_rules_checked_with_file_line_column),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
