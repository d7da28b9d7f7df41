/* From a header to a verdict to bytes, against a real store. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "xmppd.h"

static char dir[256];
static pdb_t *db;
static const uint8_t pin[PDB_PIN_LEN] = { 7, 7, 7 };

static struct pdb_community community;

static int put_all(pdb_wtxn *w, void *arg)
{
	struct pdb_member a, b, c, s;
	int rc;
	(void)arg;

	fixture_member(&a, 3, "auth:pki", NULL);
	a.targets[a.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp9.a.example"), 5269, 20, 0 };
	a.targets[a.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp2.a.example"), 5269, 10, 10 };
	a.targets[a.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp1.a.example"), 5299, 10, 90 };
	a.tls_targets[a.ntls_targets++] = (struct pdb_target){ pdb_str_of("tls.a.example"), 5223, 0, 0 };
	a.pins[a.npins++] = pin;
	fixture_member(&b, 3, "auth:pki", NULL);
	b.targets[b.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp.b.example"), 5269, 0, 0 };
	fixture_member(&c, 1, "auth:pw", NULL);     /* below everyone's minimum */
	c.targets[c.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp.c.example"), 5269, 0, 0 };
	fixture_member(&s, 3, "auth:pki", NULL);     /* allowed, but no targets */
	if ((rc = pdb_w_put_community(w, &community)) || (rc = pdb_w_put_member(w, "a.example", &a)) ||
	    (rc = pdb_w_put_member(w, "b.example", &b)) || (rc = pdb_w_put_member(w, "c.example", &c)) ||
	    (rc = pdb_w_put_member(w, "s.example", &s)))
		return rc;
	return 0;
}

static void load(enum pdb_identity id, enum pdb_deny_text dt)
{
	pdb_community_init(&community);
	community.zone = pdb_str_of("fed.example");
	community.ch[community.nch++] = (struct pdb_clearinghouse){ pdb_str_of("ch.example"), 5269, 0 };
	community.dflt.set = PDB_POLICY_MIN_LEVEL;
	community.dflt.min_peer_level = 2;
	community.identity = id;
	community.deny_text = dt;
	assert_int_equal(pdb_write(db, "test", put_all, NULL, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(db = fixture_store_new(dir, sizeof(dir), "xmppd-test"));
	load(PDB_IDENTITY_CLAIM, PDB_DENY_TEXT_GENERIC);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, dir);
}

static struct xmppd_header header(const char *from, const char *to)
{
	struct xmppd_header h = { .has_version = true, .version_major = 1 };
	if (from) {
		h.has_from = true;
		snprintf(h.from, sizeof(h.from), "%s", from);
	}
	if (to) {
		h.has_to = true;
		snprintf(h.to, sizeof(h.to), "%s", to);
	}
	return h;
}

static struct xmppd_verdict verdict(const char *from, const char *to, const struct xmppd_peer *p,
                                    enum xmppd_mode mode)
{
	struct xmppd_header h = header(from, to);
	struct xmppd_peer none = { 0 };
	struct xmppd_verdict v;
	assert_int_equal(xmppd_decide(db, &h, p ? p : &none, mode, 1700000000, &v), 0);
	return v;
}

static void test_allow_redirects_to_the_best_target(void **state)
{
	struct xmppd_verdict v = verdict("B.example.", "a.example", NULL, XMPPD_REDIRECT);
	assert_int_equal(v.cond, XMPPD_COND_SEE_OTHER_HOST);
	assert_string_equal(v.target, "xmpp1.a.example:5299");  /* priority 10, weight 90 */
	assert_string_equal(v.from, "b.example");
	assert_string_equal(v.outcome, "allow");
	assert_string_equal(v.rule, "policy-ok");

	struct xmppd_peer direct = { .tls = true, .direct_tls = true };
	v = verdict("b.example", "a.example", &direct, XMPPD_REDIRECT);
	assert_string_equal(v.target, "tls.a.example:5223");
}

static void test_relay_lists_targets_in_order(void **state)
{
	struct xmppd_verdict v = verdict("b.example", "a.example", NULL, XMPPD_RELAY);
	assert_true(v.relay);
	assert_int_equal(v.ntargets, 3);
	assert_string_equal(v.targets[0].host, "xmpp1.a.example");
	assert_string_equal(v.targets[1].host, "xmpp2.a.example");
	assert_string_equal(v.targets[2].host, "xmpp9.a.example");
}

static void test_deny_unknown_and_no_targets(void **state)
{
	struct xmppd_verdict v = verdict("c.example", "a.example", NULL, XMPPD_REDIRECT);
	assert_int_equal(v.cond, XMPPD_COND_POLICY_VIOLATION);
	assert_string_equal(v.rule, "level");
	assert_string_equal(v.text, "refused by the federation policy");
	v = verdict("nobody.example", "a.example", NULL, XMPPD_RELAY);
	assert_int_equal(v.cond, XMPPD_COND_HOST_UNKNOWN);
	assert_false(v.relay);
	assert_string_equal(v.outcome, "unknown");
	v = verdict("a.example", "s.example", NULL, XMPPD_REDIRECT);
	assert_int_equal(v.cond, XMPPD_COND_REMOTE_CONNECTION_FAILED);
	assert_string_equal(v.rule, "no-targets");
}

static void test_deny_text_rule(void **state)
{
	load(PDB_IDENTITY_CLAIM, PDB_DENY_TEXT_RULE);
	struct xmppd_verdict v = verdict("c.example", "a.example", NULL, XMPPD_REDIRECT);
	load(PDB_IDENTITY_CLAIM, PDB_DENY_TEXT_GENERIC);
	assert_int_equal(v.cond, XMPPD_COND_POLICY_VIOLATION);
	assert_non_null(strstr(v.text, "level"));
	/* the text is escaped on the wire */
	char buf[2048];
	strcpy(v.text, "tag <auth:pw> & 'x'");
	assert_true(xmppd_render_error(&v, true, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ">tag &lt;auth:pw&gt; &amp; &apos;x&apos;</text>"));
}

static void test_header_errors(void **state)
{
	static const struct { const char *from, *to; enum xmppd_cond cond; const char *rule; } t[] = {
		{ "b.example", NULL, XMPPD_COND_HOST_UNKNOWN, "no-to" },
		{ "b.example", "a..example", XMPPD_COND_HOST_UNKNOWN, "bad-to" },
		{ NULL, "a.example", XMPPD_COND_IMPROPER_ADDRESSING, "no-from" },
		{ "b example", "a.example", XMPPD_COND_INVALID_FROM, "bad-from" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xmppd_verdict v = verdict(t[i].from, t[i].to, NULL, XMPPD_REDIRECT);
		assert_int_equal(v.cond, t[i].cond);
		assert_string_equal(v.rule, t[i].rule);
		assert_string_equal(v.outcome, "error");
	}
	struct xmppd_header h = header("b.example", "a.example");
	struct xmppd_peer p = { 0 };
	struct xmppd_verdict v;
	h.has_version = false;
	xmppd_decide(db, &h, &p, XMPPD_REDIRECT, 0, &v);
	assert_int_equal(v.cond, XMPPD_COND_UNSUPPORTED_VERSION);
}

static void test_identity_certificate(void **state)
{
	load(PDB_IDENTITY_CERTIFICATE, PDB_DENY_TEXT_GENERIC);
	struct xmppd_peer plain = { 0 };
	struct xmppd_peer valid = { .tls = true, .cert_checked = true, .cert_valid_for_from = true };
	struct xmppd_peer pinned = { .tls = true, .cert_checked = true, .has_spki = true };
	struct xmppd_peer other = { .tls = true, .cert_checked = true, .has_spki = true };
	memcpy(pinned.spki, pin, PDB_PIN_LEN);
	memset(other.spki, 1, PDB_PIN_LEN);

	struct xmppd_verdict v = verdict("b.example", "a.example", &plain, XMPPD_REDIRECT);
	assert_int_equal(v.cond, XMPPD_COND_POLICY_VIOLATION);
	assert_string_equal(v.rule, "identity-not-proven");
	assert_non_null(strstr(v.text, "needs TLS"));
	/* an unknown claim learns nothing more than a known one */
	v = verdict("nobody.example", "a.example", &plain, XMPPD_REDIRECT);
	assert_string_equal(v.rule, "identity-not-proven");
	v = verdict("b.example", "a.example", &valid, XMPPD_REDIRECT);
	assert_int_equal(v.cond, XMPPD_COND_SEE_OTHER_HOST);
	v = verdict("a.example", "b.example", &pinned, XMPPD_REDIRECT);  /* a's own pin */
	assert_int_equal(v.cond, XMPPD_COND_SEE_OTHER_HOST);
	v = verdict("a.example", "b.example", &other, XMPPD_REDIRECT);
	assert_string_equal(v.rule, "identity-not-proven");
	assert_non_null(strstr(v.text, "not valid for a.example"));
	/* relay mode: the real server authenticates the peer itself */
	v = verdict("b.example", "a.example", &plain, XMPPD_RELAY);
	assert_true(v.relay);
	load(PDB_IDENTITY_CLAIM, PDB_DENY_TEXT_GENERIC);
}

static void test_render(void **state)
{
	struct xmppd_verdict v = verdict("b.example", "a.example", NULL, XMPPD_REDIRECT);
	char buf[2048];
	int n = xmppd_render_error(&v, false, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_true(!strncmp(buf, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	                          "xmlns:stream='http://etherx.jabber.org/streams' from='a.example' "
	                          "to='b.example' id='", 141));
	assert_non_null(strstr(buf, "' version='1.0'><stream:error><see-other-host "
	                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>xmpp1.a.example:5299"
	                            "</see-other-host></stream:error></stream:stream>"));
	assert_int_equal(xmppd_render_error(&v, false, buf, 100), -ENOSPC);
	/* a bad 'to' is not echoed */
	v = verdict("b.example", "a..example", NULL, XMPPD_REDIRECT);
	n = xmppd_render_error(&v, false, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_null(strstr(buf, "from='"));
	assert_non_null(strstr(buf, "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
	n = xmppd_render_features(&v, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
	                            "<required/></starttls></stream:features>"));
}

/* xmppd_strerror keeps to the ranges of policydb.h, as dnsd_strerror. */
static void test_strerror_follows_the_error_ranges(void **state)
{
	(void)state;
	assert_string_equal(xmppd_strerror(PDB_ECORRUPT), pdb_strerror(PDB_ECORRUPT));
	assert_string_equal(xmppd_strerror(-ECONNREFUSED), uv_strerror(-ECONNREFUSED));
	assert_string_equal(xmppd_strerror(-1000), "unknown error");
	assert_string_equal(xmppd_strerror(-2001), "unknown error");
	assert_string_equal(xmppd_strerror(-4095), "unknown error");
	assert_string_not_equal(xmppd_strerror(XMPPD_ETLS), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_redirects_to_the_best_target),
		cmocka_unit_test(test_relay_lists_targets_in_order),
		cmocka_unit_test(test_deny_unknown_and_no_targets),
		cmocka_unit_test(test_deny_text_rule),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_identity_certificate),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_strerror_follows_the_error_ranges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
