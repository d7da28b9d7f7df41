/* The DNSSEC key loader and the records made from keys (keys.c), on keys
 * that ldns-keygen and dnssec-keygen make at test time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "date.h"
#include "dnssec.h"

struct kdir {
	char path[64];
};

__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void kdir_new(struct kdir *d)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(d->path, sizeof(d->path), "%s/dnsd-keys-XXXXXX", tmp);
	assert_non_null(mkdtemp(d->path));
}

static void kdir_free(struct kdir *d)
{
	run("rm -rf '%s'", d->path);
}

/* A key made by ldns-keygen in d; its stem (K...) into stem. */
static void ldns_keygen(struct kdir *d, const char *alg, bool ksk, const char *zone, char *stem,
                        size_t cap)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "cd '%s' && ldns-keygen -a %s %s %s", d->path, alg,
	         ksk ? "-k" : "", zone);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(stem, (int)cap, p));
	assert_int_equal(pclose(p), 0);
	stem[strcspn(stem, "\n")] = '\0';
	/* ldns-keygen also writes a .ds file: harmless, but not ours. */
	run("rm -f '%s/%s.ds'", d->path, stem);
}

/* A key made by dnssec-keygen in d with extra options (timing). */
static void bind_keygen(struct kdir *d, const char *opts, const char *zone, char *stem,
                        size_t cap)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "dnssec-keygen -q -K '%s' %s %s", d->path, opts, zone);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(stem, (int)cap, p));
	assert_int_equal(pclose(p), 0);
	stem[strcspn(stem, "\n")] = '\0';
}

static dnsd_keyset *load_ok(struct kdir *d)
{
	dnsd_keyset *ks = NULL;
	char err[512] = "";
	int rc = dnsd_keyset_load(d->path, &ks, err, sizeof(err));

	if (rc != 0)
		fail_msg("load: %d %s", rc, err);
	assert_non_null(ks);
	return ks;
}

/* Loading fails with DNSD_EKEY and a message that holds want. */
static void load_fails(struct kdir *d, const char *want)
{
	dnsd_keyset *ks = (dnsd_keyset *)1;
	char err[512] = "";

	assert_int_equal(dnsd_keyset_load(d->path, &ks, err, sizeof(err)), DNSD_EKEY);
	assert_null(ks);
	if (!strstr(err, want))
		fail_msg("error '%s' does not say '%s'", err, want);
}

static ldns_rdf *dname(const char *s)
{
	ldns_rdf *r = ldns_dname_new_frm_str(s);
	assert_non_null(r);
	return r;
}

static int64_t at(const char *iso)
{
	int64_t t;
	assert_int_equal(ch_instant_parse(iso, &t), 0);
	return t;
}

static const struct dnsd_key *by_stem(const dnsd_keyset *ks, const char *stem)
{
	for (size_t i = 0; i < dnsd_keyset_count(ks); i++) {
		const struct dnsd_key *k = dnsd_keyset_key(ks, i);
		if (strstr(k->file, stem))
			return k;
	}
	fail_msg("no key %s", stem);
	return NULL;
}

/* ---- loading and states ---- */

static void test_ldns_keygen_ksk_zsk(void **state)
{
	struct kdir d;
	char ksk[128], zsk[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", ksk, sizeof(ksk));
	ldns_keygen(&d, "ED25519", false, "fed.example", zsk, sizeof(zsk));
	dnsd_keyset *ks = load_ok(&d);
	assert_int_equal(dnsd_keyset_count(ks), 2);
	const struct dnsd_key *k = by_stem(ks, ksk), *z = by_stem(ks, zsk);
	assert_true(k->ksk);
	assert_false(z->ksk);
	assert_int_equal(k->alg, 15);
	assert_int_equal(k->publish, 0);
	assert_int_equal(k->activate, 0);

	ldns_rdf *apex = dname("fed.example.");
	struct dnsd_zone_keys zk;
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, 1800000000, &zk), 0);
	assert_int_equal(zk.npublished, 2);
	assert_int_equal(zk.nzsk, 1);
	assert_ptr_equal(zk.zsk[0], z);
	assert_int_equal(zk.nksk, 1);
	assert_ptr_equal(zk.ksk[0], k);
	assert_int_equal(zk.ncds, 1);
	assert_ptr_equal(zk.cds[0], k);
	assert_int_equal(zk.next_change, 0);
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

static void test_single_ksk_is_csk(void **state)
{
	struct kdir d;
	char csk[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ECDSAP256SHA256", true, "fed.example", csk, sizeof(csk));
	dnsd_keyset *ks = load_ok(&d);
	const struct dnsd_key *k = by_stem(ks, csk);
	assert_int_equal(k->alg, 13);
	ldns_rdf *apex = dname("fed.example.");
	struct dnsd_zone_keys zk;
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, 1800000000, &zk), 0);
	assert_int_equal(zk.nzsk, 1);
	assert_ptr_equal(zk.zsk[0], k);
	assert_int_equal(zk.nksk, 1);
	assert_ptr_equal(zk.ksk[0], k);
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* dnssec-keygen's timing: Publish, Activate, Inactive, Delete. */
static void test_dnssec_keygen_timing_states(void **state)
{
	struct kdir d;
	char ksk[128], zsk[128];
	(void)state;

	kdir_new(&d);
	bind_keygen(&d, "-a ED25519 -f KSK", "fed.example", ksk, sizeof(ksk));
	bind_keygen(&d, "-a ED25519 -P 20300101000000 -A 20300201000000 -I 20300301000000 "
	                "-D 20300401000000", "fed.example", zsk, sizeof(zsk));
	dnsd_keyset *ks = load_ok(&d);
	const struct dnsd_key *z = by_stem(ks, zsk), *k = by_stem(ks, ksk);
	assert_int_equal(z->publish, at("2030-01-01T00:00:00Z"));
	assert_int_equal(z->activate, at("2030-02-01T00:00:00Z"));
	assert_int_equal(z->inactive, at("2030-03-01T00:00:00Z"));
	assert_int_equal(z->del, at("2030-04-01T00:00:00Z"));
	/* dnssec-keygen stamps Publish and Activate with its own time. */
	assert_true(k->publish > 0 && k->activate > 0);

	ldns_rdf *apex = dname("fed.example.");
	struct dnsd_zone_keys zk;
	/* Before Publish: the KSK alone, a CSK meanwhile. */
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, at("2029-12-01T00:00:00Z"), &zk), 0);
	assert_int_equal(zk.npublished, 1);
	assert_ptr_equal(zk.zsk[0], k);
	assert_int_equal(zk.next_change, z->publish);
	/* Published, not yet active. */
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, at("2030-01-15T00:00:00Z"), &zk), 0);
	assert_int_equal(zk.npublished, 2);
	assert_true(dnsd_key_published(z, at("2030-01-15T00:00:00Z")));
	assert_false(dnsd_key_active(z, at("2030-01-15T00:00:00Z")));
	assert_int_equal(zk.nzsk, 1);
	assert_ptr_equal(zk.zsk[0], k);
	assert_int_equal(zk.next_change, z->activate);
	/* Active: it signs, the KSK signs the DNSKEY RRset only. */
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, z->activate, &zk), 0);
	assert_int_equal(zk.nzsk, 1);
	assert_ptr_equal(zk.zsk[0], z);
	assert_int_equal(zk.nksk, 1);
	assert_ptr_equal(zk.ksk[0], k);
	assert_int_equal(zk.next_change, z->inactive);
	/* Inactive, still published until Delete. */
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, z->inactive, &zk), 0);
	assert_int_equal(zk.npublished, 2);
	assert_ptr_equal(zk.zsk[0], k);
	assert_int_equal(zk.next_change, z->del);
	/* Deleted: gone, nothing more to come. */
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, z->del, &zk), 0);
	assert_int_equal(zk.npublished, 1);
	assert_int_equal(zk.next_change, 0);
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* Without timing lines in the .private, the .key's comments count. */
static void test_timing_from_key_comments(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	bind_keygen(&d, "-a ED25519 -P 20300101000000 -A 20300201000000", "fed.example", stem,
	            sizeof(stem));
	assert_int_equal(run("cd '%s' && grep -v -e '^Publish:' -e '^Activate:' -e '^Created:' "
	                     "%s.private > p && cat p > %s.private && rm p",
	                     d.path, stem, stem), 0);
	dnsd_keyset *ks = load_ok(&d);
	const struct dnsd_key *k = by_stem(ks, stem);
	assert_int_equal(k->publish, at("2030-01-01T00:00:00Z"));
	assert_int_equal(k->activate, at("2030-02-01T00:00:00Z"));
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

static void test_no_active_key_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	bind_keygen(&d, "-a ED25519 -f KSK -P 20300101000000 -A 20300201000000", "fed.example",
	            stem, sizeof(stem));
	dnsd_keyset *ks = load_ok(&d);
	ldns_rdf *apex = dname("fed.example.");
	struct dnsd_zone_keys zk;
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, at("2030-01-15T00:00:00Z"), &zk), DNSD_EKEY);
	assert_int_equal(zk.npublished, 1);
	assert_int_equal(zk.next_change, at("2030-02-01T00:00:00Z"));
	assert_int_equal(dnsd_keyset_at(ks, apex, NULL, at("2030-02-01T00:00:00Z"), &zk), 0);
	/* An apex no key is named for, with no community key to fall back on. */
	ldns_rdf *other = dname("other.example.");
	assert_int_equal(dnsd_keyset_at(ks, other, NULL, at("2030-02-01T00:00:00Z"), &zk),
	                 DNSD_EKEY);
	ldns_rdf_deep_free(other);
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* A member apex gets the community's keys, unless keys are named for it. */
static void test_member_apex_keys(void **state)
{
	struct kdir d;
	char ck[128], mk[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", ck, sizeof(ck));
	ldns_keygen(&d, "ED25519", true, "_xmpp-server._tcp.own.example", mk, sizeof(mk));
	dnsd_keyset *ks = load_ok(&d);
	ldns_rdf *community = dname("fed.example.");
	ldns_rdf *a = dname("_xmpp-server._tcp.a.example.");
	ldns_rdf *own = dname("_XMPP-server._tcp.OWN.example.");
	struct dnsd_zone_keys zk;
	assert_int_equal(dnsd_keyset_at(ks, a, community, 1800000000, &zk), 0);
	assert_int_equal(zk.npublished, 1);
	assert_ptr_equal(zk.published[0], by_stem(ks, ck));
	assert_int_equal(dnsd_keyset_at(ks, own, community, 1800000000, &zk), 0);
	assert_int_equal(zk.npublished, 1);
	assert_ptr_equal(zk.published[0], by_stem(ks, mk));

	/* The DNSKEY RRset is the apex's, with the TTL asked for. */
	ldns_rr_list *l = NULL;
	assert_int_equal(dnsd_keyset_at(ks, a, community, 1800000000, &zk), 0);
	assert_int_equal(dnsd_keys_dnskey_rrset(&zk, a, 300, &l), 0);
	assert_int_equal(ldns_rr_list_rr_count(l), 1);
	ldns_rr *rr = ldns_rr_list_rr(l, 0);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_DNSKEY);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(rr), a), 0);
	assert_int_equal(ldns_rr_ttl(rr), 300);
	assert_int_equal(ldns_calc_keytag(rr), by_stem(ks, ck)->tag);
	ldns_rr_list_deep_free(l);
	ldns_rdf_deep_free(community);
	ldns_rdf_deep_free(a);
	ldns_rdf_deep_free(own);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* ---- DS, CDS, CDNSKEY ---- */

/* The DS the tool prints for the key file (first line of its output). */
static ldns_rr *tool_ds(const char *cmd)
{
	char line[512];
	ldns_rr *rr = NULL;
	FILE *p;

	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	assert_int_equal(ldns_rr_new_frm_str(&rr, line, 3600, NULL, NULL), LDNS_STATUS_OK);
	return rr;
}

static void assert_same_rdata(const ldns_rr *a, const ldns_rr *b)
{
	assert_int_equal(ldns_rr_rd_count(a), ldns_rr_rd_count(b));
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b)), 0);
	for (size_t i = 0; i < ldns_rr_rd_count(a); i++)
		assert_int_equal(ldns_rdf_compare(ldns_rr_rdf(a, i), ldns_rr_rdf(b, i)), 0);
}

static void test_ds_matches_the_tools(void **state)
{
	struct kdir d;
	char a[128], b[128], cmd[512];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", a, sizeof(a));
	bind_keygen(&d, "-a ECDSAP256SHA256 -f KSK", "fed.example", b, sizeof(b));
	dnsd_keyset *ks = load_ok(&d);
	ldns_rdf *apex = dname("fed.example.");
	ldns_rr *mine, *theirs;

	assert_int_equal(dnsd_keys_ds(by_stem(ks, a), apex, &mine), 0);
	snprintf(cmd, sizeof(cmd), "cd '%s' && ldns-key2ds -n -2 %s.key", d.path, a);
	theirs = tool_ds(cmd);
	assert_int_equal(ldns_rr_get_type(mine), LDNS_RR_TYPE_DS);
	assert_int_equal(ldns_rdf2native_int8(ldns_rr_rdf(mine, 2)), 2);
	assert_same_rdata(mine, theirs);
	ldns_rr_free(mine);
	ldns_rr_free(theirs);

	assert_int_equal(dnsd_keys_ds(by_stem(ks, b), apex, &mine), 0);
	snprintf(cmd, sizeof(cmd), "dnssec-dsfromkey -2 '%s/%s.key'", d.path, b);
	theirs = tool_ds(cmd);
	assert_same_rdata(mine, theirs);
	ldns_rr_free(mine);
	ldns_rr_free(theirs);
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

static void test_cds_cdnskey_for_active_ksk_only(void **state)
{
	struct kdir d;
	char ksk[128], zsk[128], next[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", ksk, sizeof(ksk));
	ldns_keygen(&d, "ED25519", false, "fed.example", zsk, sizeof(zsk));
	/* A KSK published ahead of its rollover: no CDS for it yet. */
	bind_keygen(&d, "-a ED25519 -f KSK -P 20300101000000 -A 20300201000000", "fed.example",
	            next, sizeof(next));
	dnsd_keyset *ks = load_ok(&d);
	ldns_rdf *apex = dname("_xmpp-server._tcp.a.example.");
	ldns_rdf *community = dname("fed.example.");
	struct dnsd_zone_keys zk;
	ldns_rr_list *cds, *cdnskey;

	assert_int_equal(dnsd_keyset_at(ks, apex, community, at("2030-01-15T00:00:00Z"), &zk), 0);
	assert_int_equal(zk.npublished, 3);
	assert_int_equal(dnsd_keys_cds_rrsets(&zk, apex, 120, &cds, &cdnskey), 0);
	assert_int_equal(ldns_rr_list_rr_count(cds), 1);
	assert_int_equal(ldns_rr_list_rr_count(cdnskey), 1);
	ldns_rr *c = ldns_rr_list_rr(cds, 0), *k = ldns_rr_list_rr(cdnskey, 0), *ds;
	assert_int_equal(ldns_rr_get_type(c), LDNS_RR_TYPE_CDS);
	assert_int_equal(ldns_rr_get_type(k), LDNS_RR_TYPE_CDNSKEY);
	assert_int_equal(ldns_rr_ttl(c), 120);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(k), apex), 0);
	assert_int_equal(dnsd_keys_ds(by_stem(ks, ksk), apex, &ds), 0);
	assert_same_rdata(c, ds);
	assert_int_equal(ldns_rdf_compare(ldns_rr_rdf(k, 3), ldns_rr_rdf(by_stem(ks, ksk)->dnskey, 3)),
	                 0);
	ldns_rr_free(ds);
	ldns_rr_list_deep_free(cds);
	ldns_rr_list_deep_free(cdnskey);

	/* Once it is active, both KSKs' DS belong at the parent. */
	assert_int_equal(dnsd_keyset_at(ks, apex, community, at("2030-02-01T00:00:00Z"), &zk), 0);
	assert_int_equal(zk.ncds, 2);
	assert_int_equal(zk.nksk, 2);
	assert_int_equal(zk.nzsk, 1);
	ldns_rdf_deep_free(apex);
	ldns_rdf_deep_free(community);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* The private key loaded signs what its DNSKEY verifies. */
static void test_private_key_signs(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", false, "fed.example", stem, sizeof(stem));
	bind_keygen(&d, "-a ECDSAP256SHA256", "fed.example", stem, sizeof(stem));
	dnsd_keyset *ks = load_ok(&d);
	for (size_t i = 0; i < dnsd_keyset_count(ks); i++) {
		const struct dnsd_key *k = dnsd_keyset_key(ks, i);
		ldns_rr_list *set = ldns_rr_list_new(), *keys = ldns_rr_list_new(), *good = NULL;
		ldns_key_list *kl = ldns_key_list_new();
		ldns_rr *a = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&a, "ch.fed.example. 60 IN A 192.0.2.5", 0, NULL,
		                                     NULL), LDNS_STATUS_OK);
		ldns_rr_list_push_rr(set, a);
		ldns_rr_list_push_rr(keys, ldns_rr_clone(k->dnskey));
		ldns_key_set_inception(k->priv, 1700000000);
		ldns_key_set_expiration(k->priv, 2000000000);
		ldns_key_list_push_key(kl, k->priv);
		ldns_rr_list *sigs = ldns_sign_public(set, kl);
		assert_non_null(sigs);
		assert_int_equal(ldns_rr_list_rr_count(sigs), 1);
		good = ldns_rr_list_new();
		assert_int_equal(ldns_verify_rrsig_keylist_time(set, ldns_rr_list_rr(sigs, 0), keys,
		                                                1800000000, good),
		                 LDNS_STATUS_OK);
		ldns_rr_list_free(good);
		ldns_rr_list_deep_free(sigs);
		ldns_key_list_set_key_count(kl, 0);
		ldns_key_list_free(kl);
		ldns_rr_list_deep_free(set);
		ldns_rr_list_deep_free(keys);
	}
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* A signer for a member apex: the RRSIG names the apex, and the DNSKEY
 * re-owned there verifies it; the keyset's own key is left as it was. */
static void test_key_signer_for_member_apex(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	bind_keygen(&d, "-a ECDSAP256SHA256", "fed.example", stem, sizeof(stem));
	dnsd_keyset *ks = load_ok(&d);
	ldns_rdf *apex = dname("_xmpp-server._tcp.gamma.example.");
	for (size_t i = 0; i < dnsd_keyset_count(ks); i++) {
		const struct dnsd_key *k = dnsd_keyset_key(ks, i);
		struct dnsd_zone_keys zk = { .published = { k }, .npublished = 1 };
		ldns_rr_list *set = ldns_rr_list_new(), *keys = NULL, *good = ldns_rr_list_new();
		ldns_key_list *kl = ldns_key_list_new();
		ldns_key *signer = NULL;
		ldns_rr *srv = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&srv, "_xmpp-server._tcp.gamma.example. 60 IN SRV "
		                                     "0 0 5269 ch.fed.example.", 0, NULL, NULL),
		                 LDNS_STATUS_OK);
		ldns_rr_list_push_rr(set, srv);
		assert_int_equal(dnsd_key_signer(k, apex, &signer), 0);
		ldns_key_set_inception(signer, 1700000000);
		ldns_key_set_expiration(signer, 2000000000);
		ldns_key_list_push_key(kl, signer);
		ldns_rr_list *sigs = ldns_sign_public(set, kl);
		assert_non_null(sigs);
		ldns_rr *sig = ldns_rr_list_rr(sigs, 0);
		assert_int_equal(ldns_dname_compare(ldns_rr_rrsig_signame(sig), apex), 0);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rrsig_keytag(sig)), k->tag);
		assert_int_equal(dnsd_keys_dnskey_rrset(&zk, apex, 60, &keys), 0);
		assert_int_equal(ldns_verify_rrsig_keylist_time(set, sig, keys, 1800000000, good),
		                 LDNS_STATUS_OK);
		ldns_key_deep_free(signer);
		/* the keyset's key still works, and is still the zone's */
		assert_non_null(ldns_key_evp_key(k->priv));
		assert_int_equal(ldns_dname_compare(ldns_key_pubkey_owner(k->priv),
		                                    ldns_rr_owner(k->dnskey)), 0);
		ldns_rr_list_free(good);
		ldns_rr_list_deep_free(keys);
		ldns_rr_list_deep_free(sigs);
		ldns_key_list_set_key_count(kl, 0);
		ldns_key_list_free(kl);
		ldns_rr_list_deep_free(set);
	}
	ldns_rdf_deep_free(apex);
	dnsd_keyset_free(ks);
	kdir_free(&d);
}

/* ---- errors ---- */

static void test_missing_private_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	run("rm '%s/%s.private'", d.path, stem);
	load_fails(&d, ".private: No such file");
	kdir_free(&d);
}

static void test_private_without_key_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	ldns_keygen(&d, "ED25519", false, "fed.example", stem, sizeof(stem));
	run("rm '%s/%s.key'", d.path, stem);
	load_fails(&d, "no K");
	kdir_free(&d);
}

static void test_group_readable_private_is_refused(void **state)
{
	struct kdir d;
	char stem[128], path[256];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	snprintf(path, sizeof(path), "%s/%s.private", d.path, stem);
	assert_int_equal(chmod(path, 0640), 0);
	load_fails(&d, "chmod 600");
	assert_int_equal(chmod(path, 0604), 0);
	load_fails(&d, "mode 604");
	assert_int_equal(chmod(path, 0400), 0);
	dnsd_keyset_free(load_ok(&d));
	kdir_free(&d);
}

static void test_private_of_another_user_is_refused(void **state)
{
	struct kdir d;
	char stem[128], path[256];
	(void)state;

	if (geteuid() != 0)
		skip();   /* only root can give a file away */
	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	snprintf(path, sizeof(path), "%s/%s.private", d.path, stem);
	assert_int_equal(chown(path, 65534, 65534), 0);
	load_fails(&d, "belongs to uid 65534, not to uid 0 that dnsd runs as");
	kdir_free(&d);
}

static void test_unreadable_private_is_an_error(void **state)
{
	struct kdir d;
	char stem[128], path[256];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	snprintf(path, sizeof(path), "%s/%s.private", d.path, stem);
	if (geteuid() != 0) {
		assert_int_equal(chmod(path, 0), 0);
		load_fails(&d, "Permission denied");
	}
	/* Root reads any mode: a directory in its place cannot be read by anyone. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	load_fails(&d, "not a regular file");
	kdir_free(&d);
}

static void test_bad_key_file_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	run("echo 'fed.example. IN DNSKEY 257 3 15 !!notbase64' > '%s/%s.key'", d.path, stem);
	load_fails(&d, ".key:");
	run("echo 'fed.example. IN A 192.0.2.1' > '%s/%s.key'", d.path, stem);
	load_fails(&d, "not a DNSKEY");
	kdir_free(&d);
}

static void test_bad_private_file_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	run("cd '%s' && printf 'Private-key-format: v1.2\\nAlgorithm: 15 (ED25519)\\n"
	    "PrivateKey: AAAA\\n' > %s.private", d.path, stem);
	load_fails(&d, ".private");
	kdir_free(&d);
}

static void test_mismatched_private_is_an_error(void **state)
{
	struct kdir d;
	char a[128], b[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", a, sizeof(a));
	ldns_keygen(&d, "ED25519", false, "fed.example", b, sizeof(b));
	run("cd '%s' && cat %s.private > %s.private", d.path, b, a);
	load_fails(&d, "not that of the .key file");
	kdir_free(&d);
}

static void test_unsupported_algorithm_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "RSASHA256 -b 1024", true, "fed.example", stem, sizeof(stem));
	load_fails(&d, "algorithm 8 (RSASHA256) is not supported");
	kdir_free(&d);
}

static void test_file_name_must_match_key(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	run("cd '%s' && mv %s.key Kother.example.+015+00001.key && "
	    "mv %s.private Kother.example.+015+00001.private", d.path, stem, stem);
	load_fails(&d, "its file name says other.example");
	kdir_free(&d);
}

static void test_bad_timing_field_is_an_error(void **state)
{
	struct kdir d;
	char stem[128];
	(void)state;

	kdir_new(&d);
	ldns_keygen(&d, "ED25519", true, "fed.example", stem, sizeof(stem));
	run("echo 'Activate: 20301301000000' >> '%s/%s.private'", d.path, stem);
	load_fails(&d, "Activate: '20301301000000' is not a time");
	kdir_free(&d);
}

static void test_empty_or_missing_directory_is_an_error(void **state)
{
	struct kdir d;
	(void)state;

	kdir_new(&d);
	load_fails(&d, "no keys");
	kdir_free(&d);
	load_fails(&d, "No such file");
}

/* ---- the dnssec: settings ---- */

static int read_config(struct kdir *d, const char *text, struct dnsd_config *c, char *err,
                       size_t errlen)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dnsd.yaml", d->path);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	memset(c, 0, sizeof(*c));
	return dnsd_config_read(path, c, err, errlen);
}

static void test_dnssec_config_defaults_and_paths(void **state)
{
	struct kdir d;
	struct dnsd_config c;
	char err[512] = "", want[128];
	(void)state;

	kdir_new(&d);
	assert_int_equal(read_config(&d, "dnssec: {keys: k, tlsa-cert: ch.pem}\n", &c, err,
	                             sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/k", d.path);
	assert_string_equal(c.dnssec.keys, want);
	snprintf(want, sizeof(want), "%s/ch.pem", d.path);
	assert_string_equal(c.dnssec.tlsa_cert, want);
	assert_null(c.dnssec.tlsa_pin);
	assert_int_equal(c.dnssec.validity, DNSD_DNSSEC_VALIDITY_DEFAULT);
	assert_int_equal(c.dnssec.inception_offset, DNSD_DNSSEC_INCEPTION_DEFAULT);
	assert_int_equal(c.dnssec.refresh, DNSD_DNSSEC_REFRESH_DEFAULT);
	dnsd_config_free(&c);
	assert_int_equal(read_config(&d, "dnssec:\n  keys: /k\n  validity: 86400\n"
	                                 "  inception-offset: 0\n  refresh: 43200\n", &c, err,
	                             sizeof(err)), 0);
	assert_string_equal(c.dnssec.keys, "/k");
	assert_int_equal(c.dnssec.validity, 86400);
	assert_int_equal(c.dnssec.inception_offset, 0);
	assert_int_equal(c.dnssec.refresh, 43200);
	dnsd_config_free(&c);
	/* Without dnssec:, DNSSEC is off. */
	assert_int_equal(read_config(&d, "threads: 1\n", &c, err, sizeof(err)), 0);
	assert_null(c.dnssec.keys);
	dnsd_config_free(&c);
	kdir_free(&d);
}

static void test_dnssec_config_refused(void **state)
{
	static const struct { const char *text, *msg; } bad[] = {
		{ "dnssec: {validity: 100}\n", "1:9: dnssec needs keys:" },
		{ "dnssec: {keys: k, refresh: 1209600}\n",
		  "refresh (1209600) must be less than validity (1209600)" },
		{ "dnssec: {keys: k, validity: 3600}\n", "refresh (432000) must be less than validity" },
		{ "dnssec: {keys: k, validity: 0}\n", "validity takes seconds from 2 to 31536000, not '0'" },
		{ "dnssec: {keys: k, inception-offset: -1}\n", "inception-offset takes seconds" },
		{ "dnssec: {keys: k, refresh: 1.5}\n", "refresh takes seconds" },
		{ "dnssec: {keys: k, colour: red}\n", "dnssec has no field 'colour'" },
		{ "dnssec: k\n", "dnssec takes a mapping" },
	};
	struct kdir d;
	struct dnsd_config c;
	char err[512];
	(void)state;

	kdir_new(&d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(read_config(&d, bad[i].text, &c, err, sizeof(err)), DNSD_ECONFIG);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: '%s' does not say '%s'", bad[i].text, err, bad[i].msg);
		dnsd_config_free(&c);
	}
	kdir_free(&d);
}

/* The pin of tlsa-cert is what the openssl pipeline of RFC 6698's
 * examples gives; tlsa-pin takes hex or base64. */
static void test_tlsa_pins_from_config(void **state)
{
	struct kdir d;
	struct dnsd_config c = { 0 };
	uint8_t pins[DNSD_TLSA_PINS_MAX][32];
	char err[512] = "", cert[128], hex[65] = "", cmd[512];
	size_t n;
	FILE *p;
	(void)state;

	kdir_new(&d);
	snprintf(cert, sizeof(cert), "%s/ch.pem", d.path);
	assert_int_equal(run("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
	                     "ec_paramgen_curve:P-256 -nodes -keyout ch.key -out ch.pem -days 2 "
	                     "-subj /CN=ch.fed.example 2>/dev/null", d.path), 0);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin "
	         "-outform DER | sha256sum", cert);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(hex, sizeof(hex), p));
	pclose(p);
	c.dnssec.tlsa_cert = cert;
	c.dnssec.tlsa_pin = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	assert_int_equal(dnsd_config_tlsa_pins(&c, pins, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 32; i++) {
		char h[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		assert_int_equal(pins[0][i], strtoul(h, NULL, 16));
		assert_int_equal(pins[1][i], i);
	}
	c.dnssec.tlsa_pin = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F";
	c.dnssec.tlsa_cert = NULL;
	assert_int_equal(dnsd_config_tlsa_pins(&c, pins, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pins[0][31], 0x1f);
	c.dnssec.tlsa_pin = "0001";
	assert_int_equal(dnsd_config_tlsa_pins(&c, pins, &n, err, sizeof(err)), DNSD_ECONFIG);
	assert_non_null(strstr(err, "tlsa-pin '0001' is not a SHA-256"));
	c.dnssec.tlsa_pin = NULL;
	c.dnssec.tlsa_cert = "/nonexistent/ch.pem";
	assert_int_equal(dnsd_config_tlsa_pins(&c, pins, &n, err, sizeof(err)), DNSD_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/ch.pem: No such file"));
	c.dnssec.tlsa_cert = cert;
	run("echo garbage > '%s'", cert);
	assert_int_equal(dnsd_config_tlsa_pins(&c, pins, &n, err, sizeof(err)), DNSD_ECONFIG);
	assert_non_null(strstr(err, "not a PEM certificate"));
	kdir_free(&d);
}

static void test_null_arguments(void **state)
{
	dnsd_keyset *ks;
	char err[64];
	struct dnsd_zone_keys zk;
	(void)state;

	assert_int_equal(dnsd_keyset_load(NULL, &ks, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_keyset_load("/", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(dnsd_keyset_at(NULL, NULL, NULL, 0, &zk), -EINVAL);
	assert_int_equal(dnsd_keys_ds(NULL, NULL, NULL), -EINVAL);
	dnsd_keyset_free(NULL);
	assert_string_equal(dnsd_strerror(DNSD_EKEY),
	                    "a DNSSEC key could not be read or is not valid, or no key is active");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ldns_keygen_ksk_zsk),
		cmocka_unit_test(test_single_ksk_is_csk),
		cmocka_unit_test(test_dnssec_keygen_timing_states),
		cmocka_unit_test(test_timing_from_key_comments),
		cmocka_unit_test(test_no_active_key_is_an_error),
		cmocka_unit_test(test_member_apex_keys),
		cmocka_unit_test(test_ds_matches_the_tools),
		cmocka_unit_test(test_cds_cdnskey_for_active_ksk_only),
		cmocka_unit_test(test_private_key_signs),
		cmocka_unit_test(test_key_signer_for_member_apex),
		cmocka_unit_test(test_missing_private_is_an_error),
		cmocka_unit_test(test_private_without_key_is_an_error),
		cmocka_unit_test(test_group_readable_private_is_refused),
		cmocka_unit_test(test_private_of_another_user_is_refused),
		cmocka_unit_test(test_unreadable_private_is_an_error),
		cmocka_unit_test(test_bad_key_file_is_an_error),
		cmocka_unit_test(test_bad_private_file_is_an_error),
		cmocka_unit_test(test_mismatched_private_is_an_error),
		cmocka_unit_test(test_unsupported_algorithm_is_an_error),
		cmocka_unit_test(test_file_name_must_match_key),
		cmocka_unit_test(test_bad_timing_field_is_an_error),
		cmocka_unit_test(test_empty_or_missing_directory_is_an_error),
		cmocka_unit_test(test_dnssec_config_defaults_and_paths),
		cmocka_unit_test(test_dnssec_config_refused),
		cmocka_unit_test(test_tlsa_pins_from_config),
		cmocka_unit_test(test_null_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
