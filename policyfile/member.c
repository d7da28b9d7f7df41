/* The keys of one member, as the policy file and `policyctl set` give
 * them: targets, addresses, pins, the policy, the expiry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "date.h"
#include "internal.h"

/* "host:port", or a mapping {host, port, priority, weight}. */
static int cur_target(struct pf__yp *y, const char *what, unsigned index, struct pdb_target *t)
{
	unsigned seen = 0;
	unsigned long v;
	int rc;

	t->priority = (uint16_t)index;  /* listed order is preference order */
	t->weight = 0;
	t->port = 0;
	t->host = (pdb_str){ 0 };
	if (y->ev.type == YAML_SCALAR_EVENT) {
		char host[1024], n[PDB_NAME_MAX + 1];
		const char *s = pf__cur_text(y), *colon = strrchr(s, ':');
		char *end;
		if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
			return pf__fail(y, "%s '%s' needs a port, as in xmpp.example.org:5269", what, s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end || errno || v == 0 || v > 65535)
			return pf__fail(y, "%s '%s' has a bad port (1 to 65535)", what, s);
		if (pf__name_in(y, host, "target host", n))
			return -1;
		t->port = (uint16_t)v;
		return pf__keep(y, n, strlen(n), &t->host);
	}
	if (pf__cur_map(y, what))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		if (!strcmp(y->key, "host")) {
			if (pf__once(y, &seen, 1) || pf__cur_name(y, "target host", &t->host))
				return -1;
		} else if (!strcmp(y->key, "port")) {
			if (pf__once(y, &seen, 2) || pf__cur_uint(y, "port", 65535, &v))
				return -1;
			if (v == 0)
				return pf__fail(y, "port must be from 1 to 65535");
			t->port = (uint16_t)v;
		} else if (!strcmp(y->key, "priority") || !strcmp(y->key, "weight")) {
			bool prio = y->key[0] == 'p';
			if (pf__once(y, &seen, prio ? 4 : 8) || pf__cur_uint(y, y->key, 65535, &v))
				return -1;
			*(prio ? &t->priority : &t->weight) = (uint16_t)v;
		} else {
			return pf__unknown_key(y, what, "host, port, priority, weight");
		}
	}
	if (rc == 0 && !t->host.len)
		return pf__fail(y, "%s has no host", what);
	if (rc == 0 && !t->port)
		return pf__fail(y, "%s needs a port", what);
	return rc;
}

static int target_list(struct pf__yp *y, const char *what, struct pdb_target *t, uint8_t *n)
{
	int rc;

	if (pf__cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = pf__seq_next(y)) == 1) {
		if (*n >= PDB_MAX_TARGETS)
			return pf__fail(y, "more than %d %s", PDB_MAX_TARGETS, what);
		if (cur_target(y, "a target", *n, &t[*n]))
			return -1;
		(*n)++;
	}
	return rc;
}

/* Within ::ffff:0:0/96.  dnsd listens on IPv6-only sockets, so a querier
 * that asks over IPv4 has an IPv4 source and never one of these: refused
 * rather than rewritten, so that export shows what the file said. */
static bool addr_v4_mapped(const struct pdb_addr *a)
{
	static const uint8_t head[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return a->family == 6 && a->prefix >= 96 && memcmp(a->bytes, head, 12) == 0;
}

static int addr_list(struct pf__yp *y, const char *what, bool prefixes, struct pdb_addr *a,
                     uint8_t *n, unsigned max)
{
	int rc;

	if (pf__cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = pf__seq_next(y)) == 1) {
		const char *s;
		if (pf__cur_scalar(y, "an address", &s))
			return -1;
		if (*n >= max)
			return pf__fail(y, "more than %u %s", max, what);
		if (pdb_addr_parse(s, prefixes, &a[*n]) != 0)
			return pf__fail(y, "bad %s '%s': %s", prefixes ? "prefix" : "address", s,
			            prefixes ? "expected 192.0.2.0/24 or 2001:db8::/32, host bits zero"
			                     : "expected an IPv4 or IPv6 address");
		if (prefixes && addr_v4_mapped(&a[*n])) {
			struct pdb_addr v4 = { .family = 4, .prefix = (uint8_t)(a[*n].prefix - 96) };
			char want[64];
			memcpy(v4.bytes, a[*n].bytes + 12, 4);
			pdb_addr_format(&v4, want, sizeof(want));
			return pf__fail(y, "querier '%s' is an IPv4-mapped IPv6 prefix, which never matches "
			            "(IPv4 queriers are seen as IPv4): write %s%s instead", s, want,
			            v4.prefix == 32 ? "/32" : "");
		}
		(*n)++;
	}
	return rc;
}

/* A pin: the SHA-256 of a SubjectPublicKeyInfo, in base64 (as
 * `openssl ... | base64` prints it) or in hex. */
static int pin_list(struct pf__yp *y, struct pdb_member *m, uint8_t store[PDB_MAX_PINS][PDB_PIN_LEN])
{
	int rc;

	if (pf__cur_seq(y, "pins"))
		return -1;
	m->npins = 0;
	while ((rc = pf__seq_next(y)) == 1) {
		const char *s;
		size_t n;
		uint8_t *out;
		if (pf__cur_scalar(y, "a pin", &s))
			return -1;
		if (m->npins >= PDB_MAX_PINS)
			return pf__fail(y, "more than %d pins", PDB_MAX_PINS);
		out = store[m->npins];
		n = strlen(s);
		if (n == 64 && strspn(s, "0123456789abcdefABCDEF") == 64) {
			for (size_t i = 0; i < 32; i++) {
				char h[3] = { s[2 * i], s[2 * i + 1], 0 };
				out[i] = (uint8_t)strtoul(h, NULL, 16);
			}
		} else {
			uint8_t buf[48];
			if (n != 44 || s[43] != '=' || s[42] == '=' ||
			    EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != 33)
				return pf__fail(y, "bad pin '%s': expected a SHA-256 in base64 (44 characters) or hex (64)", s);
			memcpy(out, buf, 32);
		}
		m->pins[m->npins++] = out;
	}
	return rc;
}

/* One key of a policy (min-peer-level, require-tags, forbid-tags): 1 if
 * it was one and is read, 0 if it is some other key, -1 on error. */
int pf__policy_key(struct pf__yp *y, struct pdb_policy *p, unsigned *seen)
{
	if (!strcmp(y->key, "min-peer-level")) {
		if (pf__once(y, seen, 1) || pf__cur_level(y, "min-peer-level", &p->min_peer_level))
			return -1;
		p->set |= PDB_POLICY_MIN_LEVEL;
	} else if (!strcmp(y->key, "require-tags")) {
		if (pf__once(y, seen, 2) || pf__tag_list(y, "require-tags", p->require, &p->nrequire))
			return -1;
		p->set |= PDB_POLICY_REQUIRE;
	} else if (!strcmp(y->key, "forbid-tags")) {
		if (pf__once(y, seen, 4) || pf__tag_list(y, "forbid-tags", p->forbid, &p->nforbid))
			return -1;
		p->set |= PDB_POLICY_FORBID;
	} else {
		return 0;
	}
	return 1;
}

int pf__policy_map(struct pf__yp *y, const char *what, struct pdb_policy *p)
{
	unsigned seen = 0;
	int rc;

	if (pf__cur_map(y, what))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		int k = pf__policy_key(y, p, &seen);
		if (k < 0)
			return -1;
		if (k == 0)
			return pf__unknown_key(y, what, "min-peer-level, require-tags, forbid-tags");
	}
	return rc;
}

int pf_parse_not_after(const char *s, int64_t *out)
{
	int64_t t;

	if (ch_date_parse(s, &t) == 0) {
		*out = t + 86400;   /* valid through the whole day */
		return 0;
	}
	if (ch_instant_parse(s, &t) == 0) {
		*out = t + 1;       /* valid through that second */
		return 0;
	}
	return -EINVAL;
}

const char pf__member_keys[] = "level, tags, status, not-after, targets, tls-targets, "
                                  "addresses, queriers, pins, contact, note, policy";

/* One key of a member; the value is the current event. */
int pf__member_field(struct pf__yp *y, struct pdb_member *m, unsigned *seen,
                        uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN])
{
	const char *k = y->key, *s;

	if (!strcmp(k, "level"))
		return pf__once(y, seen, 1 << 0) || pf__cur_level(y, "level", &m->level) ? -1 : 0;
	if (!strcmp(k, "tags"))
		return pf__once(y, seen, 1 << 1) || pf__tag_list(y, "tags", m->tags, &m->ntags) ? -1 : 0;
	if (!strcmp(k, "status")) {
		if (pf__once(y, seen, 1 << 2) || pf__cur_scalar(y, "status", &s))
			return -1;
		for (int i = PDB_ACTIVE; i <= PDB_REVOKED; i++)
			if (!strcmp(s, pdb_status_name((enum pdb_status)i))) {
				m->status = (enum pdb_status)i;
				return 0;
			}
		return pf__fail(y, "status must be active, suspended or revoked, not '%s'", s);
	}
	if (!strcmp(k, "not-after")) {
		if (pf__once(y, seen, 1 << 3) || pf__cur_scalar(y, "not-after", &s))
			return -1;
		if (!strcmp(s, "none") || !strcmp(s, "")) {
			m->not_after = 0;
			return 0;
		}
		if (pf_parse_not_after(s, &m->not_after) != 0)
			return pf__fail(y, "not-after must be a date like 2027-12-31 or 2027-12-31T12:00:00Z, not '%s'", s);
		return 0;
	}
	if (!strcmp(k, "targets"))
		return pf__once(y, seen, 1 << 4) || target_list(y, "targets", m->targets, &m->ntargets) ? -1 : 0;
	if (!strcmp(k, "tls-targets"))
		return pf__once(y, seen, 1 << 5) ||
		       target_list(y, "tls-targets", m->tls_targets, &m->ntls_targets) ? -1 : 0;
	if (!strcmp(k, "addresses"))
		return pf__once(y, seen, 1 << 6) ||
		       addr_list(y, "addresses", false, m->addrs, &m->naddrs, PDB_MAX_ADDRS) ? -1 : 0;
	if (!strcmp(k, "queriers"))
		return pf__once(y, seen, 1 << 7) ||
		       addr_list(y, "queriers", true, m->queriers, &m->nqueriers, PDB_MAX_QUERIERS) ? -1 : 0;
	if (!strcmp(k, "pins"))
		return pf__once(y, seen, 1 << 8) || pin_list(y, m, pins) ? -1 : 0;
	if (!strcmp(k, "contact"))
		return pf__once(y, seen, 1 << 9) || pf__cur_text_value(y, "contact", &m->contact) ? -1 : 0;
	if (!strcmp(k, "note"))
		return pf__once(y, seen, 1 << 10) || pf__cur_text_value(y, "note", &m->note) ? -1 : 0;
	if (!strcmp(k, "policy"))
		return pf__once(y, seen, 1 << 11) || pf__policy_map(y, "policy", &m->policy) ? -1 : 0;
	return PF__NOT_A_MEMBER_KEY;
}

