/* From a complete stream header to a verdict, and the verdict to bytes.
 * No I/O here: the server feeds it, the unit tests and the fuzzer too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "cfg.h"
#include "internal.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"

const char *xmppd_cond_name(enum xmppd_cond c)
{
	static const char *const names[] = {
		"", "bad-namespace-prefix", "connection-timeout", "host-unknown",
		"improper-addressing", "internal-server-error", "invalid-from",
		"invalid-namespace", "not-well-formed", "policy-violation",
		"remote-connection-failed", "resource-constraint", "restricted-xml",
		"see-other-host", "unsupported-stanza-type", "unsupported-version",
	};
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "undefined-condition";
}

static void refuse(struct xmppd_verdict *v, enum xmppd_cond c, const char *outcome,
                   const char *rule, const char *text)
{
	v->cond = c;
	v->outcome = outcome;
	v->rule = rule;
	snprintf(v->text, sizeof(v->text), "%s", text);
}

/* The checks on the header itself, before the store is read. */
static bool header_ok(const struct xmppd_header *h, struct xmppd_verdict *v)
{
	const char *why;

	if (!h->has_to) {
		refuse(v, XMPPD_COND_HOST_UNKNOWN, "error", "no-to", "the stream header has no 'to'");
		return false;
	}
	if (pdb_name_normalise(h->to, v->to, &why) != 0) {
		v->to[0] = '\0';
		refuse(v, XMPPD_COND_HOST_UNKNOWN, "error", "bad-to", "'to' is not a domain name");
		return false;
	}
	/* RFC 6120 4.7.5: no version means a pre-1.0 peer, which knows no
	 * see-other-host. */
	if (!h->has_version || h->version_major != 1) {
		refuse(v, XMPPD_COND_UNSUPPORTED_VERSION, "error", "version",
		       "this service speaks XMPP 1.0 only");
		return false;
	}
	if (!h->has_from) {
		refuse(v, XMPPD_COND_IMPROPER_ADDRESSING, "error", "no-from",
		       "the stream header has no 'from'");
		return false;
	}
	if (pdb_name_normalise(h->from, v->from, &why) != 0) {
		v->from[0] = '\0';
		refuse(v, XMPPD_COND_INVALID_FROM, "error", "bad-from", "'from' is not a domain name");
		return false;
	}
	return true;
}

/* Has the peer proven it is 'from'?  Only asked when the community wants
 * a certificate; m is from's record (NULL if unknown). */
static bool identity_proven(const struct xmppd_peer *p, const struct pdb_member *m)
{
	if (!p->tls || !p->cert_checked)
		return false;
	if (p->cert_valid_for_from)
		return true;
	return m && p->has_spki && pdb_member_pinned(m, p->spki);
}

/* b's targets in the order to use them: priority ascending, then weight
 * descending (SRV semantics without the randomness). */
static void order_targets(const struct pdb_member *b, bool direct_tls, struct xmppd_verdict *v)
{
	const struct pdb_target *t, *tls, *sorted[PDB_MAX_TARGETS];
	unsigned n = pdb_member_targets(b, false, &t);
	unsigned ntls = pdb_member_targets(b, true, &tls);

	if (direct_tls && ntls) {
		t = tls;
		n = ntls;
	}
	if (n > PDB_MAX_TARGETS)
		n = PDB_MAX_TARGETS;
	for (unsigned i = 0; i < n; i++) {   /* insertion sort: stable, n <= 16 */
		unsigned j = i;
		while (j > 0 && (sorted[j - 1]->priority > t[i].priority ||
		                 (sorted[j - 1]->priority == t[i].priority &&
		                  sorted[j - 1]->weight < t[i].weight))) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = &t[i];
	}
	for (unsigned i = 0; i < n; i++) {
		memcpy(v->targets[i].host, sorted[i]->host.p, sorted[i]->host.len);
		v->targets[i].host[sorted[i]->host.len] = '\0';
		v->targets[i].port = sorted[i]->port;
	}
	v->ntargets = n;
}

void xmppd__deny_text(const struct pdb_community *c, const struct pdb_decision *d,
                      struct xmppd_verdict *v)
{
	if (c->deny_text == PDB_DENY_TEXT_RULE)
		pdb_decision_explain(d, v->text, sizeof(v->text));
	else if (d->outcome == PDB_UNKNOWN)
		snprintf(v->text, sizeof(v->text), "not a member of this federation");
	else
		snprintf(v->text, sizeof(v->text), "refused by the federation policy");
}

int xmppd_decide_in(pdb_txn *txn, const struct xmppd_header *h, const struct xmppd_peer *peer,
                    enum xmppd_mode mode, int64_t now, struct xmppd_verdict *v)
{
	struct pdb_community c;
	struct pdb_member from_rec;
	struct pdb_decision d;
	int rc;

	if (!v)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	if (!txn || !h || !peer) {
		refuse(v, XMPPD_COND_INTERNAL_SERVER_ERROR, "error", "internal", "");
		return -EINVAL;
	}
	if (!header_ok(h, v))
		return 0;
	rc = pdb_get_community(txn, &c);
	if (rc == PDB_ENOTFOUND) {
		pdb_community_init(&c);
		rc = 0;
	}
	/* With certificates required, nothing about the store is revealed to a
	 * peer that has not proven who it is, not even membership. */
	if (rc == 0 && c.identity == PDB_IDENTITY_CERTIFICATE && mode == XMPPD_REDIRECT) {
		rc = pdb_get_member(txn, v->from, &from_rec);
		bool known = rc == 0;
		if (rc == PDB_ENOTFOUND)
			rc = 0;
		if (rc == 0 && !identity_proven(peer, known ? &from_rec : NULL)) {
			refuse(v, XMPPD_COND_POLICY_VIOLATION, "deny", "identity-not-proven", "");
			snprintf(v->text, sizeof(v->text),
			         !peer->tls ? "this federation needs TLS and a certificate for %s"
			                    : "the certificate is not valid for %s and matches none of its pins",
			         v->from);
			return 0;
		}
	}
	if (rc == 0)
		rc = pdb_decide(txn, v->from, v->to, now, &d);
	if (rc != 0) {
		refuse(v, XMPPD_COND_INTERNAL_SERVER_ERROR, "error", "store", "");
		return rc;
	}
	v->outcome = pdb_outcome_name(d.outcome);
	v->rule = pdb_rule_name(d.rule);
	if (d.outcome == PDB_UNKNOWN) {
		v->cond = XMPPD_COND_HOST_UNKNOWN;
		xmppd__deny_text(&c, &d, v);
	} else if (d.outcome == PDB_DENY) {
		v->cond = XMPPD_COND_POLICY_VIOLATION;
		xmppd__deny_text(&c, &d, v);
	} else {
		order_targets(&d.b, peer->direct_tls, v);
		if (v->ntargets == 0) {
			refuse(v, XMPPD_COND_REMOTE_CONNECTION_FAILED, "allow", "no-targets", "");
			snprintf(v->text, sizeof(v->text), "%s publishes no server to connect to", v->to);
		} else if (mode == XMPPD_RELAY) {
			v->relay = true;
		} else {
			v->cond = XMPPD_COND_SEE_OTHER_HOST;
			cfg_hostport(v->targets[0].host, v->targets[0].port, v->target, sizeof(v->target));
		}
	}
	return 0;
}

int xmppd_decide(pdb_t *db, const struct xmppd_header *h, const struct xmppd_peer *peer,
                 enum xmppd_mode mode, int64_t now, struct xmppd_verdict *v)
{
	pdb_txn *txn;
	int rc;

	if (!v)
		return -EINVAL;
	if (!db) {
		memset(v, 0, sizeof(*v));
		refuse(v, XMPPD_COND_INTERNAL_SERVER_ERROR, "error", "internal", "");
		return -EINVAL;
	}
	if ((rc = pdb_read_begin(db, &txn)) != 0) {
		memset(v, 0, sizeof(*v));
		refuse(v, XMPPD_COND_INTERNAL_SERVER_ERROR, "error", "store", "");
		return rc;
	}
	rc = xmppd_decide_in(txn, h, peer, mode, now, v);
	pdb_read_end(txn);
	return rc;
}

/* ---- rendering ---- */

struct out {
	char *p;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Character data and attribute values (quoted with '). */
static void escaped(struct out *o, const char *s)
{
	for (;;) {
		/* names and texts are mostly plain: copy the runs whole */
		size_t run = strcspn(s, "<>&'\"");
		put(o, s, run);
		s += run;
		if (!*s)
			return;
		switch (*s++) {
		case '<':  puts_(o, "&lt;"); break;
		case '>':  puts_(o, "&gt;"); break;
		case '&':  puts_(o, "&amp;"); break;
		case '\'': puts_(o, "&apos;"); break;
		case '"':  puts_(o, "&quot;"); break;
		}
	}
}

static void stream_header(struct out *o, const struct xmppd_verdict *v)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[12];
	char id[sizeof(rnd) * 2 + 1];

	/* The id only has to be unpredictable (RFC 6120 4.7.3): bytes of
	 * OpenSSL's DRBG, drawn a few hundred streams' worth at a time, as
	 * each call costs more than the rest of the answer. */
	static __thread uint8_t pool[1024];
	static __thread size_t left;
	if (left < sizeof(rnd)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			memset(pool, 0, sizeof(pool));
		left = sizeof(pool);
	}
	memcpy(rnd, pool + sizeof(pool) - left, sizeof(rnd));
	/* Never the same bytes twice, whatever the caller does with them. */
	memset(pool + sizeof(pool) - left, 0, sizeof(rnd));
	left -= sizeof(rnd);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id[sizeof(id) - 1] = '\0';
	puts_(o, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='"
	         NS_STREAMS "'");
	if (v->to[0]) {
		puts_(o, " from='");
		escaped(o, v->to);
		puts_(o, "'");
	}
	if (v->from[0]) {
		puts_(o, " to='");
		escaped(o, v->from);
		puts_(o, "'");
	}
	puts_(o, " id='");
	puts_(o, id);
	puts_(o, "' version='1.0'>");
}

static int finish(struct out *o)
{
	if (o->full || o->len >= o->cap)
		return -ENOSPC;
	o->p[o->len] = '\0';
	return (int)o->len;
}

int xmppd_render_error(const struct xmppd_verdict *v, bool header_sent, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };
	const char *name;

	if (!v || !buf || !cap)
		return -EINVAL;
	name = xmppd_cond_name(v->cond == XMPPD_COND_NONE ? XMPPD_COND_INTERNAL_SERVER_ERROR
	                                                  : v->cond);
	if (!header_sent)
		stream_header(&o, v);
	puts_(&o, "<stream:error><");
	puts_(&o, name);
	puts_(&o, " xmlns='" NS_ERRORS "'");
	if (v->cond == XMPPD_COND_SEE_OTHER_HOST) {
		puts_(&o, ">");
		escaped(&o, v->target);
		puts_(&o, "</");
		puts_(&o, name);
		puts_(&o, ">");
	} else {
		puts_(&o, "/>");
	}
	if (v->text[0]) {
		puts_(&o, "<text xmlns='" NS_ERRORS "'>");
		escaped(&o, v->text);
		puts_(&o, "</text>");
	}
	puts_(&o, "</stream:error></stream:stream>");
	return finish(&o);
}

int xmppd_render_features(const struct xmppd_verdict *v, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };

	if (!v || !buf || !cap)
		return -EINVAL;
	stream_header(&o, v);
	puts_(&o, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
	          "<required/></starttls></stream:features>");
	return finish(&o);
}
