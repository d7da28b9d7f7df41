/* TLSA records (RFC 6698; for XMPP's SRV targets, RFC 7673), synthesised
 * inside the community zone:
 *  - at _<port>._tcp.<host> for a member's SRV target <host>:<port> that
 *    lies at or below the member's own name in the zone: 3 1 1 with each
 *    of the member's pins (SHA-256 of the SubjectPublicKeyInfo).  A member
 *    speaks for its own names only, so that no member can publish keys
 *    for another's host;
 *  - at _<port>._tcp.<clearinghouse host> for each port of each
 *    clearinghouse of the community: 3 1 1 with the configured pins
 *    (dnssec: tlsa-cert, tlsa-pin).
 * They are plain records, given with and without DO; _tcp.<host> above
 * them exists as an empty non-terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

#define PIN_LEN 32
_Static_assert(PIN_LEN == PDB_PIN_LEN, "a TLSA 3 1 1 digest is a policy pin");

/* ---- the configured pins ---- */

/* SHA-256 of the DER SubjectPublicKeyInfo of the first certificate of a
 * PEM file: what `openssl x509 -pubkey | openssl pkey -pubin -outform DER
 * | sha256sum` prints. */
static int cert_pin(const char *path, uint8_t out[PIN_LEN], char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	X509 *cert;
	unsigned char *der = NULL;
	unsigned len = 0;
	int n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return DNSD_ECONFIG;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert) {
		snprintf(err, errlen, "%s: not a PEM certificate", path);
		return DNSD_ECONFIG;
	}
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	X509_free(cert);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL) || len != PIN_LEN) {
		OPENSSL_free(der);
		snprintf(err, errlen, "%s: its public key cannot be digested", path);
		return DNSD_ECONFIG;
	}
	OPENSSL_free(der);
	return 0;
}

/* A pin as the policy file takes it: hex (64 digits) or base64 (44). */
static int pin_parse(const char *s, uint8_t out[PIN_LEN])
{
	size_t n = strlen(s);
	uint8_t buf[48];

	if (n == 2 * PIN_LEN && strspn(s, "0123456789abcdefABCDEF") == n) {
		for (size_t i = 0; i < PIN_LEN; i++) {
			char h[3] = { s[2 * i], s[2 * i + 1], 0 };
			out[i] = (uint8_t)strtoul(h, NULL, 16);
		}
		return 0;
	}
	/* 32 bytes are 44 characters with one '=' of padding: EVP_DecodeBlock
	 * counts the padding as a zero byte. */
	if (n != 44 || s[43] != '=' || s[42] == '=' ||
	    EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != PIN_LEN + 1)
		return -EINVAL;
	memcpy(out, buf, PIN_LEN);
	return 0;
}

int dnsd_config_tlsa_pins(const struct dnsd_config *c, uint8_t pins[][32], size_t *n, char *err,
                          size_t errlen)
{
	int rc;

	if (!c || !pins || !n || !err || !errlen)
		return -EINVAL;
	*n = 0;
	if (c->dnssec.tlsa_cert) {
		if ((rc = cert_pin(c->dnssec.tlsa_cert, pins[*n], err, errlen)) != 0)
			return rc;
		(*n)++;
	}
	if (c->dnssec.tlsa_pin) {
		if (pin_parse(c->dnssec.tlsa_pin, pins[*n]) != 0) {
			snprintf(err, errlen, "dnssec: tlsa-pin '%s' is not a SHA-256 in hex (64 digits) "
			         "or base64 (44 characters)", c->dnssec.tlsa_pin);
			return DNSD_ECONFIG;
		}
		(*n)++;
	}
	return 0;
}

int dnsd_engine_set_tlsa(dnsd_engine *e, const uint8_t pins[][32], size_t n)
{
	if (!e || n > DNSD_TLSA_PINS_MAX || (n && !pins))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		memcpy(e->tlsa_pins[i], pins[i], PIN_LEN);
	e->ntlsa_pins = n;
	/* Cached answers were made without these records. */
	e->zones_gen++;
	return 0;
}

/* ---- names ---- */

/* _<port>._tcp.<host>: port 1..65535 in decimal without leading zeros
 * (port 0 for _tcp.<host>); host normalised.  False for anything else. */
static bool tlsa_name(const ldns_rdf *qname, unsigned *port, char host[PDB_NAME_MAX + 1])
{
	const uint8_t *w = ldns_rdf_data(qname);
	char buf[DNSD_NAME_TEXT_MAX];
	bool ok = false;

	/* Every query comes here first: most names are not ours by their
	 * first label (_1 to _9, or _tcp), with no copy made. */
	size_t len = ldns_rdf_size(qname);
	bool port_label = len > 3 && w[0] >= 2 && w[1] == '_' && w[2] >= '1' && w[2] <= '9';
	bool tcp_label = len > 5 && w[0] == 4 && strncasecmp((const char *)w + 1, "_tcp", 4) == 0;
	if (!port_label && !tcp_label)
		return false;
	char *s = dnsd__name_text(qname, buf), *p = s;
	if (!s)
		return false;
	*port = 0;
	if (p[0] == '_' && p[1] >= '1' && p[1] <= '9') {
		unsigned v = 0;
		for (p++; *p >= '0' && *p <= '9' && v <= 65535; p++)
			v = v * 10 + (unsigned)(*p - '0');
		if (*p != '.' || v > 65535)
			goto out;
		*port = v;
		p++;
	}
	if (strncmp(p, "_tcp.", 5) == 0)
		ok = pdb_name_normalise(p + 5, host, NULL) == 0;
out:
	if (s != buf)
		free(s);
	return ok;
}

static bool str_is(pdb_str a, const char *b)
{
	return a.len == strlen(b) && memcmp(a.p, b, a.len) == 0;
}

/* ---- the records ---- */

struct pins {
	const uint8_t *v[PDB_MAX_PINS + DNSD_TLSA_PINS_MAX];
	size_t n;
};

static void pins_add(struct pins *p, const uint8_t *pin)
{
	for (size_t i = 0; i < p->n; i++)
		if (memcmp(p->v[i], pin, PIN_LEN) == 0)
			return;   /* one record per digest: an RRset has no duplicates */
	if (p->n < sizeof(p->v) / sizeof(p->v[0]))
		p->v[p->n++] = pin;
}

static bool port_is(unsigned want, uint16_t port)
{
	return port && (want == 0 || want == port);
}

/* Pins of the clearinghouse hosts for host:port (port 0: any). */
static void clearinghouse_pins(struct dnsd_query *x, const char *host, unsigned port,
                               struct pins *out)
{
	const dnsd_engine *e = x->e;

	for (unsigned i = 0; e->ntlsa_pins && i < x->c->nch; i++) {
		const struct pdb_clearinghouse *ch = &x->c->ch[i];
		if (!str_is(ch->host, host) || !(port_is(port, ch->port) || port_is(port, ch->tls_port)))
			continue;
		for (size_t j = 0; j < e->ntlsa_pins; j++)
			pins_add(out, e->tlsa_pins[j]);
	}
}

static bool lists_target(const struct pdb_member *m, const char *host, unsigned port)
{
	for (int tls = 0; tls < 2; tls++) {
		const struct pdb_target *t;
		unsigned n = pdb_member_targets(m, tls, &t);
		for (unsigned i = 0; i < n; i++)
			if (str_is(t[i].host, host) && port_is(port, t[i].port))
				return true;
	}
	return false;
}

/* The member whose name is host or its closest ancestor in the zone:
 * rc 0 with *m and *owner (a suffix of host), PDB_ENOTFOUND, or a store
 * error. */
static int owner_member(struct dnsd_query *x, const char *host, struct pdb_member *m,
                        const char **owner)
{
	const char *name = host;

	while (dnsd__policy_in_zone(name, x->c->zone) && strlen(name) > x->c->zone.len) {
		int rc;
		if (x->member_fixed && strcmp(name, x->member_name) == 0) {
			rc = x->member_given ? 0 : PDB_ENOTFOUND;
			if (x->member_given)
				*m = *x->member_given;
		} else {
			rc = pdb_get_member(x->txn, name, m);
		}
		*owner = name;
		if (rc != PDB_ENOTFOUND)
			return rc;
		name = strchr(name, '.') + 1;   /* in the zone: a dot follows */
	}
	return PDB_ENOTFOUND;
}

/* Pins of the member that owns host, if it lists host:port (port 0:
 * any) as a target and is valid now. */
static int member_pins(struct dnsd_query *x, const char *host, unsigned port, struct pins *out)
{
	struct pdb_member m;
	const char *owner;
	int rc = owner_member(x, host, &m, &owner);

	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (!pdb_member_valid_at(&m, x->now) || !lists_target(&m, host, port))
		return 0;
	/* Its pins go when its membership ends. */
	int64_t end = pdb_member_valid_until(&m);
	if (end && x->now < end && (!x->until || end < x->until))
		x->until = end;
	for (unsigned i = 0; i < m.npins; i++)
		pins_add(out, m.pins[i]);
	return 0;
}

static ldns_rr *tlsa_rr(const ldns_rdf *owner, uint32_t ttl, const uint8_t *pin)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *f[4] = {
		ldns_native2rdf_int8(LDNS_RDF_TYPE_CERTIFICATE_USAGE, 3),   /* DANE-EE */
		ldns_native2rdf_int8(LDNS_RDF_TYPE_SELECTOR, 1),            /* SPKI */
		ldns_native2rdf_int8(LDNS_RDF_TYPE_MATCHING_TYPE, 1),       /* SHA-256 */
		ldns_rdf_new_frm_data(LDNS_RDF_TYPE_HEX, PIN_LEN, pin),
	};
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (!rr || !o || !f[0] || !f[1] || !f[2] || !f[3]) {
		for (int i = 0; i < 4; i++)
			ldns_rdf_deep_free(f[i]);
		ldns_rdf_deep_free(o);
		ldns_rr_free(rr);
		return NULL;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TLSA);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	for (int i = 0; i < 4; i++)
		ldns_rr_push_rdf(rr, f[i]);
	return rr;
}

/* ---- the names, for transfers ---- */

static int name_call(const char *host, unsigned port, int (*fn)(void *, const ldns_rdf *),
                     void *arg)
{
	char buf[PDB_NAME_MAX + 16];
	ldns_rdf *owner;
	int rc;

	snprintf(buf, sizeof(buf), "_%u._tcp.%s.", port, host);
	if (!(owner = ldns_dname_new_frm_str(buf)))
		return -ENOMEM;
	rc = fn(arg, owner);
	ldns_rdf_deep_free(owner);
	return rc;
}

/* Has an earlier target of m (before index i of list tls) host:port? */
static bool seen_before(const struct pdb_member *m, int tls, unsigned i, pdb_str host,
                        uint16_t port)
{
	for (int l = 0; l <= tls; l++) {
		const struct pdb_target *t;
		unsigned n = pdb_member_targets(m, l, &t);
		for (unsigned j = 0; j < n && (l < tls || j < i); j++)
			if (t[j].port == port && t[j].host.len == host.len &&
			    memcmp(t[j].host.p, host.p, host.len) == 0)
				return true;
	}
	return false;
}

int dnsd__tlsa_names(struct dnsd_query *x, const char *member, const struct pdb_member *m,
                     int (*fn)(void *arg, const ldns_rdf *owner), void *arg)
{
	char host[PDB_NAME_MAX + 1];
	int rc = 0;

	if (!x->c)
		return 0;
	if (!member) {
		for (unsigned i = 0; x->e->ntlsa_pins && rc == 0 && i < x->c->nch; i++) {
			const struct pdb_clearinghouse *ch = &x->c->ch[i];
			snprintf(host, sizeof(host), "%.*s", ch->host.len, ch->host.p);
			if (!dnsd__policy_in_zone(host, x->c->zone))
				continue;
			if (ch->port)
				rc = name_call(host, ch->port, fn, arg);
			if (rc == 0 && ch->tls_port && ch->tls_port != ch->port)
				rc = name_call(host, ch->tls_port, fn, arg);
		}
		return rc;
	}
	if (!m->npins || !dnsd__policy_in_zone(member, x->c->zone))
		return 0;
	for (int tls = 0; tls < 2 && rc == 0; tls++) {
		const struct pdb_target *t;
		unsigned n = pdb_member_targets(m, tls, &t);
		for (unsigned i = 0; i < n && rc == 0; i++) {
			struct pdb_member owner_m;
			const char *owner;
			snprintf(host, sizeof(host), "%.*s", t[i].host.len, t[i].host.p);
			if (!dnsd__policy_in_zone(host, pdb_str_of(member)) ||
			    seen_before(m, tls, i, t[i].host, t[i].port))
				continue;
			/* A member deeper down owns the name: it is its to give. */
			rc = owner_member(x, host, &owner_m, &owner);
			if (rc == 0 && strcmp(owner, member) != 0)
				continue;
			if (rc == PDB_ENOTFOUND)
				rc = 0;
			if (rc == 0)
				rc = name_call(host, t[i].port, fn, arg);
		}
	}
	return rc;
}

int dnsd__tlsa_answer(struct dnsd_query *x, const struct dnsd_zone *z, bool *done)
{
	char host[PDB_NAME_MAX + 1];
	struct pins pins = { .n = 0 };
	unsigned port;
	int rc;

	*done = false;
	if (!x->c || !z || z != x->community || !tlsa_name(x->qname, &port, host) ||
	    !dnsd__policy_in_zone(host, x->c->zone))
		return 0;
	/* Which member's pins hold here is read from members above the host,
	 * any of which a commit may add or change. */
	dnsd__query_depends_all(x);
	clearinghouse_pins(x, host, port, &pins);
	if ((rc = member_pins(x, host, port, &pins)) != 0)
		return rc;
	if (pins.n == 0)
		return 0;   /* static data, or NXDOMAIN */
	bool records = port && (x->qtype == LDNS_RR_TYPE_TLSA || x->qtype == LDNS_RR_TYPE_ANY);
	/* Other types at a TLSA name, and _tcp.<host>: the zone file's data
	 * if it has any, else the name exists with no such records. */
	if (!records && dnsd__zone_name(z, x->qname))
		return 0;
	*done = true;
	if (!records) {
		dnsd__add_soa(x, z, LDNS_SECTION_AUTHORITY, NULL);
		return 0;
	}
	for (size_t i = 0; i < pins.n; i++) {
		ldns_rr *rr = tlsa_rr(x->qname, x->c->ttl, pins.v[i]);
		if (!rr)
			return -ENOMEM;
		ldns_pkt_push_rr(x->r, LDNS_SECTION_ANSWER, rr);
	}
	return 0;
}
