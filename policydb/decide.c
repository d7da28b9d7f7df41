/* The decision: may a federate with b?  A pure function of the two
 * records, their override, the community default and the time.  Every
 * rule is tried on the two names in canonical order, so that decide(a, b)
 * and decide(b, a) agree on the outcome and on the rule that fired. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policydb.h"

struct side {
	const char *name;
	const struct pdb_member *m;
};

static bool has_tag(const struct pdb_member *m, pdb_str tag)
{
	for (unsigned i = 0; i < m->ntags; i++)
		if (pdb_str_eq(m->tags[i], tag))
			return true;
	return false;
}

/* The policy in force: p's own fields, dflt's for the ones p did not give
 * (none at all without a default). */
static const struct pdb_policy *field(const struct pdb_policy *p, const struct pdb_policy *dflt,
                                      uint8_t bit)
{
	static const struct pdb_policy none;

	if (p->set & bit)
		return p;
	return dflt ? dflt : &none;
}

bool pdb_policy_meets(const struct pdb_policy *own, const struct pdb_policy *dflt,
                      const struct pdb_member *peer, struct pdb_decision *d)
{
	const struct pdb_policy *p = field(own, dflt, PDB_POLICY_MIN_LEVEL);
	uint8_t min = (p->set & PDB_POLICY_MIN_LEVEL) ? p->min_peer_level : 0;

	if (peer->level < min) {
		if (d) {
			d->rule = PDB_RULE_LEVEL;
			d->level = peer->level;
			d->min_level = min;
		}
		return false;
	}
	p = field(own, dflt, PDB_POLICY_REQUIRE);
	for (unsigned i = 0; i < p->nrequire; i++) {
		if (!has_tag(peer, p->require[i])) {
			if (d) {
				d->rule = PDB_RULE_MISSING_TAG;
				d->tag = p->require[i];
			}
			return false;
		}
	}
	p = field(own, dflt, PDB_POLICY_FORBID);
	for (unsigned i = 0; i < p->nforbid; i++) {
		if (has_tag(peer, p->forbid[i])) {
			if (d) {
				d->rule = PDB_RULE_FORBIDDEN_TAG;
				d->tag = p->forbid[i];
			}
			return false;
		}
	}
	return true;
}

/* Does peer meet owner's policy?  On failure fill the rule into d. */
static bool meets(const struct pdb_community *c, struct side owner, struct side peer,
                  struct pdb_decision *d)
{
	d->subject = peer.name;
	d->other = owner.name;
	return pdb_policy_meets(&owner.m->policy, &c->dflt, peer.m, d);
}

static void fire(struct pdb_decision *d, enum pdb_outcome o, enum pdb_rule r,
                 const char *subject, const char *other)
{
	d->outcome = o;
	d->rule = r;
	d->subject = subject;
	d->other = other;
}

void pdb_decide_records(const struct pdb_community *c,
                        const char *a, const struct pdb_member *ma,
                        const char *b, const struct pdb_member *mb,
                        enum pdb_override ov, int64_t now,
                        struct pdb_decision *d)
{
	struct side s[2] = { { a, ma }, { b, mb } };

	memset(d, 0, offsetof(struct pdb_decision, b));
	d->b_known = mb != NULL;
	if (mb && mb != &d->b)
		d->b = *mb;
	if (strcmp(a, b) > 0) {
		struct side t = s[0];
		s[0] = s[1];
		s[1] = t;
	}

	for (int i = 0; i < 2; i++) {
		if (!s[i].m) {
			fire(d, PDB_UNKNOWN, PDB_RULE_UNKNOWN_MEMBER, s[i].name, s[!i].name);
			return;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (s[i].m->status != PDB_ACTIVE) {
			fire(d, PDB_DENY, PDB_RULE_NOT_ACTIVE, s[i].name, s[!i].name);
			d->status = s[i].m->status;
			return;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (s[i].m->not_after && now >= s[i].m->not_after) {
			fire(d, PDB_DENY, PDB_RULE_EXPIRED, s[i].name, s[!i].name);
			d->not_after = s[i].m->not_after;
			return;
		}
	}
	if (ov == PDB_OVERRIDE_DENY) {
		fire(d, PDB_DENY, PDB_RULE_OVERRIDE_DENY, s[0].name, s[1].name);
		return;
	}
	if (ov == PDB_OVERRIDE_ALLOW) {
		fire(d, PDB_ALLOW, PDB_RULE_OVERRIDE_ALLOW, s[0].name, s[1].name);
		return;
	}
	/* s[0]'s policy judges s[1] first, then the other way round. */
	if (!meets(c, s[0], s[1], d) || !meets(c, s[1], s[0], d)) {
		d->outcome = PDB_DENY;
		return;
	}
	fire(d, PDB_ALLOW, PDB_RULE_POLICY_OK, s[0].name, s[1].name);
}

const char *pdb_outcome_name(enum pdb_outcome o)
{
	static const char *const names[] = { "allow", "deny", "unknown" };
	return (unsigned)o < 3 ? names[o] : "?";
}

const char *pdb_rule_name(enum pdb_rule r)
{
	static const char *const names[] = {
		"unknown-member", "not-active", "expired", "override-deny",
		"override-allow", "level", "missing-tag", "forbidden-tag", "policy-ok",
	};
	return (unsigned)r <= PDB_RULE_POLICY_OK ? names[r] : "?";
}

int pdb_decision_explain(const struct pdb_decision *d, char *buf, size_t len)
{
	const char *s = d->subject ? d->subject : "?", *o = d->other ? d->other : "?";

	switch (d->rule) {
	case PDB_RULE_UNKNOWN_MEMBER:
		return snprintf(buf, len, "%s is not a member of the community", s);
	case PDB_RULE_NOT_ACTIVE:
		return snprintf(buf, len, "%s is %s", s, pdb_status_name(d->status));
	case PDB_RULE_EXPIRED: {
		char date[32];
		time_t t = (time_t)d->not_after - 1;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		return snprintf(buf, len, "%s's membership ended after %s", s, date);
	}
	case PDB_RULE_OVERRIDE_DENY:
		return snprintf(buf, len, "an override denies %s <-> %s", s, o);
	case PDB_RULE_OVERRIDE_ALLOW:
		return snprintf(buf, len, "an override allows %s <-> %s", s, o);
	case PDB_RULE_LEVEL:
		return snprintf(buf, len, "%s has level %u, below the minimum %u that %s accepts",
		                s, d->level, d->min_level, o);
	case PDB_RULE_MISSING_TAG:
		return snprintf(buf, len, "%s lacks the tag %.*s that %s requires",
		                s, d->tag.len, d->tag.p, o);
	case PDB_RULE_FORBIDDEN_TAG:
		return snprintf(buf, len, "%s has the tag %.*s that %s forbids",
		                s, d->tag.len, d->tag.p, o);
	case PDB_RULE_POLICY_OK:
		return snprintf(buf, len, "%s and %s each meet the other's policy", s, o);
	}
	return snprintf(buf, len, "?");
}
