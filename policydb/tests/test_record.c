/* The record codec: what is encoded decodes to the same thing, and
 * anything truncated, flipped or foreign is refused, never read past. */
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
#include "policydb.h"

static void assert_str(pdb_str got, const char *want)
{
	assert_int_equal(got.len, strlen(want));
	assert_memory_equal(got.p, want, got.len);
}

static void test_member_round_trip(void **state)
{
	struct pdb_member m, d;
	uint8_t buf[PDB_RECORD_MAX], again[PDB_RECORD_MAX];
	size_t len, len2;

	fixture_full_member(&m);
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(pdb_member_decode(buf, len, &d), 0);
	assert_int_equal(d.status, PDB_SUSPENDED);
	assert_int_equal(d.level, 3);
	assert_int_equal(d.not_after, 1830297600);
	assert_int_equal(d.ntags, 2);
	assert_str(d.tags[1], "auth:pki");
	assert_int_equal(d.ntargets, 2);
	assert_str(d.targets[1].host, "xmpp2.alpha.fed.example");
	assert_int_equal(d.targets[1].weight, 40);
	assert_int_equal(d.ntls_targets, 1);
	assert_int_equal(d.tls_targets[0].port, 5223);
	assert_int_equal(d.naddrs, 2);
	assert_int_equal(d.addrs[1].family, 6);
	assert_int_equal(d.nqueriers, 1);
	assert_int_equal(d.queriers[0].prefix, 24);
	assert_int_equal(d.npins, 1);
	assert_memory_equal(d.pins[0], m.pins[0], PDB_PIN_LEN);
	assert_str(d.contact, "ops@alpha.fed.example");
	assert_str(d.note, "a note, with UTF-8: \xc3\xa9");
	assert_int_equal(d.policy.set, m.policy.set);
	assert_int_equal(d.policy.min_peer_level, 2);
	assert_str(d.policy.forbid[0], "auth:password");
	/* Encoding is canonical: the decoded record encodes to the same bytes,
	 * which is what lets load compare records byte for byte. */
	assert_int_equal(pdb_member_encode(&d, again, sizeof(again), &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
}

static void test_community_round_trip(void **state)
{
	struct pdb_community c, d;
	uint8_t buf[PDB_RECORD_MAX];
	size_t len;

	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.ch[c.nch++] = (struct pdb_clearinghouse){ pdb_str_of("ch.fed.example"), 5269, 5270 };
	c.fallback = PDB_FALLBACK_NEVER;
	c.inactive = PDB_INACTIVE_NXDOMAIN;
	c.identity = PDB_IDENTITY_CERTIFICATE;
	c.deny_text = PDB_DENY_TEXT_RULE;
	c.ttl = 30;
	c.levels[c.nlevels++] = (struct pdb_level_name){ 1, pdb_str_of("basic") };
	c.levels[c.nlevels++] = (struct pdb_level_name){ 3, pdb_str_of("pki-2fa") };
	c.dflt.set = PDB_POLICY_MIN_LEVEL;
	c.dflt.min_peer_level = 1;
	assert_int_equal(pdb_community_encode(&c, buf, sizeof(buf), &len), 0);
	assert_int_equal(pdb_community_decode(buf, len, &d), 0);
	assert_str(d.zone, "fed.example");
	assert_int_equal(d.nch, 1);
	assert_int_equal(d.ch[0].tls_port, 5270);
	assert_int_equal(d.fallback, PDB_FALLBACK_NEVER);
	assert_int_equal(d.inactive, PDB_INACTIVE_NXDOMAIN);
	assert_int_equal(d.identity, PDB_IDENTITY_CERTIFICATE);
	assert_int_equal(d.deny_text, PDB_DENY_TEXT_RULE);
	assert_int_equal(d.ttl, 30);
	assert_int_equal(d.nlevels, 2);
	assert_str(pdb_level_name(&d, 3), "pki-2fa");
	assert_int_equal(pdb_level_name(&d, 2).len, 0);
	assert_int_equal(d.dflt.min_peer_level, 1);
}

static void test_encode_refuses(void **state)
{
	struct pdb_member m;
	uint8_t buf[PDB_RECORD_MAX];
	size_t len;

	/* Not normalised: upper case and a trailing dot are the caller's job. */
	fixture_member(&m, 1, "Auth:PKI", NULL);
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), PDB_EBADTAG);
	fixture_member(&m, 1, NULL, NULL);
	m.targets[m.ntargets++] = (struct pdb_target){ pdb_str_of("Host.Example."), 5269, 0, 0 };
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), PDB_EBADNAME);
	fixture_member(&m, 1, NULL, NULL);
	m.targets[m.ntargets++] = (struct pdb_target){ pdb_str_of("host.example"), 0, 0, 0 };
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	/* Too small a buffer is a limit, never an overflow. */
	fixture_full_member(&m);
	assert_int_equal(pdb_member_encode(&m, buf, 40, &len), PDB_ELIMIT);
	fixture_member(&m, 1, NULL, NULL);
	m.ntags = PDB_MAX_TAGS + 1;
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), PDB_ELIMIT);
}

static void test_truncated_refused(void **state)
{
	struct pdb_member m, d;
	uint8_t buf[PDB_RECORD_MAX];
	size_t len;

	fixture_full_member(&m);
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), 0);
	for (size_t cut = 0; cut < len; cut++) {
		/* A copy of exactly cut bytes, so that ASan sees any read past. */
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, buf, cut);
		if (pdb_member_decode(p, cut, &d) != PDB_ECORRUPT)
			fail_msg("a record cut to %zu of %zu bytes was accepted", cut, len);
		free(p);
	}
}

static void test_flipped_refused(void **state)
{
	struct pdb_member m, d;
	uint8_t buf[PDB_RECORD_MAX];
	size_t len;

	fixture_full_member(&m);
	assert_int_equal(pdb_member_encode(&m, buf, sizeof(buf), &len), 0);
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (pdb_member_decode(buf, len, &d) != PDB_ECORRUPT)
				fail_msg("a record with bit %u of byte %zu flipped was accepted", bit, i);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(pdb_member_decode(buf, len, &d), 0);
}

/* The record trailer, as record.c computes it, so that the tests can make
 * records that pass the check and must still be refused for what is in
 * them. */
static size_t seal(uint8_t *b, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	b[n] = 255;
	b[n + 1] = 0;
	b[n + 2] = 4;
	b[n + 3] = (uint8_t)(h >> 24);
	b[n + 4] = (uint8_t)(h >> 16);
	b[n + 5] = (uint8_t)(h >> 8);
	b[n + 6] = (uint8_t)h;
	return n + 7;
}

static void test_foreign_refused(void **state)
{
	struct pdb_member d;
	struct pdb_community c;
	uint8_t b[64];
	size_t n;
	/* kind M, version 1, status 0, level 1 */
	const uint8_t base[] = { 'M', 1, 1, 0, 1, 0, 2, 0, 1, 1 };

	memcpy(b, base, sizeof(base));
	n = seal(b, sizeof(base));
	assert_int_equal(pdb_member_decode(b, n, &d), 0);
	/* The right bytes read as another kind. */
	assert_int_equal(pdb_community_decode(b, n, &c), PDB_ECORRUPT);
	/* A newer record version. */
	memcpy(b, base, sizeof(base));
	b[1] = 2;
	n = seal(b, sizeof(base));
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	/* An unknown field. */
	memcpy(b, base, sizeof(base));
	b[sizeof(base)] = 99, b[sizeof(base) + 1] = 0, b[sizeof(base) + 2] = 0;
	n = seal(b, sizeof(base) + 3);
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	/* A status out of range. */
	memcpy(b, base, sizeof(base));
	b[5] = 7;
	n = seal(b, sizeof(base));
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	/* The level given twice. */
	memcpy(b, base, sizeof(base));
	memcpy(b + sizeof(base), base + 6, 4);
	n = seal(b, sizeof(base) + 4);
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	/* A target whose host is not a name: tag 5, port, priority, weight, host. */
	memcpy(b, base, sizeof(base));
	const uint8_t target[] = { 5, 0, 10, 0x14, 0x95, 0, 0, 0, 0, 'a', '.', '.', 'b' };
	memcpy(b + sizeof(base), target, sizeof(target));
	n = seal(b, sizeof(base) + sizeof(target));
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	/* No status and level at all. */
	b[0] = 'M', b[1] = 1;
	n = seal(b, 2);
	assert_int_equal(pdb_member_decode(b, n, &d), PDB_ECORRUPT);
	assert_int_equal(pdb_member_decode(NULL, 0, &d), PDB_ECORRUPT);
}

/* The one FNV-1a both daemons and the record trailer use: the published
 * test vectors, so that the trailer of stored records never changes. */
static void test_fnv1a_published_vectors(void **state)
{
	(void)state;
	assert_int_equal(pdb_fnv1a32(NULL, 0), 0x811c9dc5u);
	assert_int_equal(pdb_fnv1a32("a", 1), 0xe40c292cu);
	assert_int_equal(pdb_fnv1a32("foobar", 6), 0xbf9cf968u);
	assert_true(pdb_fnv1a64(NULL, 0) == 0xcbf29ce484222325u);
	assert_true(pdb_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cu);
	assert_true(pdb_fnv1a64("foobar", 6) == 0x85944171f73967e8u);
}

/* What the daemons read of a member, through the accessors. */
static void test_member_accessors(void **state)
{
	static const uint8_t pin[PDB_PIN_LEN] = { 1, 2, 3 }, other[PDB_PIN_LEN] = { 1, 2, 4 };
	struct pdb_member m;
	const struct pdb_target *t;

	(void)state;
	pdb_member_init(&m);
	assert_true(pdb_member_valid_at(&m, 1000));
	assert_int_equal(pdb_member_valid_until(&m), 0);
	m.not_after = 2000;
	assert_true(pdb_member_valid_at(&m, 1999));
	assert_false(pdb_member_valid_at(&m, 2000));
	assert_int_equal(pdb_member_valid_until(&m), 2000);
	m.status = PDB_SUSPENDED;
	assert_false(pdb_member_valid_at(&m, 1000));
	assert_int_equal(pdb_member_valid_until(&m), 0);

	m.ntargets = 2;
	m.ntls_targets = 1;
	assert_int_equal(pdb_member_targets(&m, false, &t), 2);
	assert_ptr_equal(t, m.targets);
	assert_int_equal(pdb_member_targets(&m, true, &t), 1);
	assert_ptr_equal(t, m.tls_targets);

	assert_false(pdb_member_pinned(&m, pin));
	m.pins[0] = pin;
	m.npins = 1;
	assert_true(pdb_member_pinned(&m, pin));
	assert_false(pdb_member_pinned(&m, other));
	assert_false(pdb_member_pinned(&m, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_round_trip),
		cmocka_unit_test(test_community_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_truncated_refused),
		cmocka_unit_test(test_flipped_refused),
		cmocka_unit_test(test_foreign_refused),
		cmocka_unit_test(test_fnv1a_published_vectors),
		cmocka_unit_test(test_member_accessors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
