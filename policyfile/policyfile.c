/* The policy file reader: a recursive descent over libyaml's event stream,
 * so that a million members never become a document tree in memory.
 * Value parsers work on the current event; every error names the file,
 * line and column of the value at fault. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include <openssl/evp.h>

#include "date.h"
#include "policyfile.h"

#define SCRATCH_MAX PF_SCRATCH_MAX

struct yp {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *file;
	char *err;
	size_t errlen;
	char key[1024];           /* the current mapping key */
	yaml_mark_t key_mark;
	char *scratch;            /* strings of the value being built */
	size_t scratch_len;
};

__attribute__((format(printf, 3, 4)))
static int fail_at(struct yp *y, yaml_mark_t m, const char *fmt, ...)
{
	/* A value typed on the command line has no file to point into. */
	int n = y->file ? snprintf(y->err, y->errlen, "%s:%zu:%zu: ", y->file, m.line + 1, m.column + 1)
	                : snprintf(y->err, y->errlen, "%s", "");
	va_list ap;

	if (n >= 0 && (size_t)n < y->errlen) {
		va_start(ap, fmt);
		vsnprintf(y->err + n, y->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

#define fail(y, ...) fail_at((y), (y)->ev.start_mark, __VA_ARGS__)

static int yp_next(struct yp *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(&y->parser, &y->ev)) {
		/* A key past YAML's 1024-character limit is no key: libyaml
		 * gives up at the ':' after it, far away on the line. */
		if (y->parser.context && strstr(y->parser.context, "simple key") &&
		    y->parser.problem_mark.index - y->parser.context_mark.index > 1024)
			return fail_at(y, y->parser.context_mark, "key too long: YAML allows 1024 "
			               "characters, and a member name has at most %d octets", PDB_NAME_MAX);
		return fail_at(y, y->parser.problem_mark, "YAML syntax error: %s%s%s",
		               y->parser.problem ? y->parser.problem : "unknown",
		               y->parser.context ? " " : "",
		               y->parser.context ? y->parser.context : "");
	}
	y->have_ev = true;
	switch (y->ev.type) {
	case YAML_ALIAS_EVENT:
		/* Aliases let a small file expand without bound. */
		return fail(y, "YAML aliases (*name) are not accepted in a policy file");
	case YAML_SCALAR_EVENT:
		if (strlen((char *)y->ev.data.scalar.value) != y->ev.data.scalar.length)
			return fail(y, "a value contains a NUL character");
		break;
	default:
		break;
	}
	return 0;
}

/* ---- reading values from the current event ---- */

static const char *cur_text(struct yp *y) { return (const char *)y->ev.data.scalar.value; }

static int cur_scalar(struct yp *y, const char *what, const char **s)
{
	*s = "";
	if (y->ev.type != YAML_SCALAR_EVENT)
		return fail(y, "%s must be a single value, not a list or mapping", what);
	*s = cur_text(y);
	return 0;
}

static int cur_map(struct yp *y, const char *what)
{
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return fail(y, "%s must be a mapping (key: value)", what);
	return 0;
}

static int cur_seq(struct yp *y, const char *what)
{
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(y, "%s must be a list, like [a, b]", what);
	return 0;
}

/* Next key of the mapping: 1 with y->key set and the value as the current
 * event, 0 at the end of the mapping. */
static int map_next(struct yp *y)
{
	if (yp_next(y))
		return -1;
	if (y->ev.type == YAML_MAPPING_END_EVENT)
		return 0;
	if (y->ev.type != YAML_SCALAR_EVENT)
		return fail(y, "a key must be a single word, not a list or mapping");
	if (y->ev.data.scalar.length >= sizeof(y->key))
		return fail(y, "key longer than %zu characters", sizeof(y->key) - 1);
	memcpy(y->key, cur_text(y), y->ev.data.scalar.length + 1);
	y->key_mark = y->ev.start_mark;
	return yp_next(y) ? -1 : 1;
}

/* Next item of the list: 1 with the item as the current event, 0 at its end. */
static int seq_next(struct yp *y)
{
	if (yp_next(y))
		return -1;
	return y->ev.type == YAML_SEQUENCE_END_EVENT ? 0 : 1;
}

static int unknown_key(struct yp *y, const char *where, const char *known)
{
	return fail_at(y, y->key_mark, "unknown key '%s' in %s (known: %s)", y->key, where, known);
}

/* Keys seen in one mapping, to refuse a key given twice. */
static int once(struct yp *y, unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return fail_at(y, y->key_mark, "key '%s' is given twice", y->key);
	*seen |= bit;
	return 0;
}

static int cur_uint(struct yp *y, const char *what, unsigned long max, unsigned long *out)
{
	const char *s;
	char *end;

	if (cur_scalar(y, what, &s))
		return -1;
	errno = 0;
	if (*s < '0' || *s > '9')
		return fail(y, "%s must be a whole number from 0 to %lu, not '%s'", what, max, s);
	*out = strtoul(s, &end, 10);
	if (*end || errno || *out > max)
		return fail(y, "%s must be a whole number from 0 to %lu, not '%s'", what, max, s);
	return 0;
}

static int cur_level(struct yp *y, const char *what, uint8_t *out)
{
	unsigned long v;
	if (cur_uint(y, what, 255, &v))
		return -1;
	*out = (uint8_t)v;
	return 0;
}

/* Keep a copy of s in the scratch buffer, for a pdb_str to point at. */
static int keep(struct yp *y, const char *s, size_t n, pdb_str *out)
{
	if (n > UINT16_MAX || SCRATCH_MAX - y->scratch_len < n + 1)
		return fail(y, "too much text in one entry");
	memcpy(y->scratch + y->scratch_len, s, n);
	y->scratch[y->scratch_len + n] = '\0';
	*out = (pdb_str){ y->scratch + y->scratch_len, (uint16_t)n };
	y->scratch_len += n + 1;
	return 0;
}

static int name_in(struct yp *y, const char *s, const char *what, char out[PDB_NAME_MAX + 1])
{
	const char *why;
	if (pdb_name_normalise(s, out, &why) != 0)
		return fail(y, "bad %s '%s': %s", what, s, why);
	return 0;
}

static int cur_name(struct yp *y, const char *what, pdb_str *out)
{
	char n[PDB_NAME_MAX + 1];
	const char *s;
	if (cur_scalar(y, what, &s) || name_in(y, s, what, n))
		return -1;
	return keep(y, n, strlen(n), out);
}

static int cur_text_value(struct yp *y, const char *what, pdb_str *out)
{
	const char *s;
	if (cur_scalar(y, what, &s))
		return -1;
	if (y->ev.data.scalar.length > PDB_TEXT_MAX)
		return fail(y, "%s is longer than %d bytes", what, PDB_TEXT_MAX);
	return keep(y, s, y->ev.data.scalar.length, out);
}

static int tag_list(struct yp *y, const char *what, pdb_str *tags, uint8_t *n)
{
	int rc;

	if (cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = seq_next(y)) == 1) {
		char t[PDB_TAG_MAX + 1];
		const char *s, *why;
		if (cur_scalar(y, "a tag", &s))
			return -1;
		if (pdb_tag_normalise(s, t, &why) != 0)
			return fail(y, "bad tag '%s' in %s: %s", s, what, why);
		if (*n >= PDB_MAX_TAGS)
			return fail(y, "%s has more than %d tags", what, PDB_MAX_TAGS);
		if (keep(y, t, strlen(t), &tags[*n]))
			return -1;
		for (unsigned i = 0; i < *n; i++)
			if (pdb_str_eq(tags[i], tags[*n]))
				return fail(y, "tag '%s' is listed twice in %s", t, what);
		(*n)++;
	}
	return rc;
}

/* "host:port", or a mapping {host, port, priority, weight}. */
static int cur_target(struct yp *y, const char *what, unsigned index, struct pdb_target *t)
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
		const char *s = cur_text(y), *colon = strrchr(s, ':');
		char *end;
		if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
			return fail(y, "%s '%s' needs a port, as in xmpp.example.org:5269", what, s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end || errno || v == 0 || v > 65535)
			return fail(y, "%s '%s' has a bad port (1 to 65535)", what, s);
		if (name_in(y, host, "target host", n))
			return -1;
		t->port = (uint16_t)v;
		return keep(y, n, strlen(n), &t->host);
	}
	if (cur_map(y, what))
		return -1;
	while ((rc = map_next(y)) == 1) {
		if (!strcmp(y->key, "host")) {
			if (once(y, &seen, 1) || cur_name(y, "target host", &t->host))
				return -1;
		} else if (!strcmp(y->key, "port")) {
			if (once(y, &seen, 2) || cur_uint(y, "port", 65535, &v))
				return -1;
			if (v == 0)
				return fail(y, "port must be from 1 to 65535");
			t->port = (uint16_t)v;
		} else if (!strcmp(y->key, "priority") || !strcmp(y->key, "weight")) {
			bool prio = y->key[0] == 'p';
			if (once(y, &seen, prio ? 4 : 8) || cur_uint(y, y->key, 65535, &v))
				return -1;
			*(prio ? &t->priority : &t->weight) = (uint16_t)v;
		} else {
			return unknown_key(y, what, "host, port, priority, weight");
		}
	}
	if (rc == 0 && !t->host.len)
		return fail(y, "%s has no host", what);
	if (rc == 0 && !t->port)
		return fail(y, "%s needs a port", what);
	return rc;
}

static int target_list(struct yp *y, const char *what, struct pdb_target *t, uint8_t *n)
{
	int rc;

	if (cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = seq_next(y)) == 1) {
		if (*n >= PDB_MAX_TARGETS)
			return fail(y, "more than %d %s", PDB_MAX_TARGETS, what);
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

static int addr_list(struct yp *y, const char *what, bool prefixes, struct pdb_addr *a,
                     uint8_t *n, unsigned max)
{
	int rc;

	if (cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = seq_next(y)) == 1) {
		const char *s;
		if (cur_scalar(y, "an address", &s))
			return -1;
		if (*n >= max)
			return fail(y, "more than %u %s", max, what);
		if (pdb_addr_parse(s, prefixes, &a[*n]) != 0)
			return fail(y, "bad %s '%s': %s", prefixes ? "prefix" : "address", s,
			            prefixes ? "expected 192.0.2.0/24 or 2001:db8::/32, host bits zero"
			                     : "expected an IPv4 or IPv6 address");
		if (prefixes && addr_v4_mapped(&a[*n])) {
			struct pdb_addr v4 = { .family = 4, .prefix = (uint8_t)(a[*n].prefix - 96) };
			char want[64];
			memcpy(v4.bytes, a[*n].bytes + 12, 4);
			pdb_addr_format(&v4, want, sizeof(want));
			return fail(y, "querier '%s' is an IPv4-mapped IPv6 prefix, which never matches "
			            "(IPv4 queriers are seen as IPv4): write %s%s instead", s, want,
			            v4.prefix == 32 ? "/32" : "");
		}
		(*n)++;
	}
	return rc;
}

/* A pin: the SHA-256 of a SubjectPublicKeyInfo, in base64 (as
 * `openssl ... | base64` prints it) or in hex. */
static int pin_list(struct yp *y, struct pdb_member *m, uint8_t store[PDB_MAX_PINS][PDB_PIN_LEN])
{
	int rc;

	if (cur_seq(y, "pins"))
		return -1;
	m->npins = 0;
	while ((rc = seq_next(y)) == 1) {
		const char *s;
		size_t n;
		uint8_t *out;
		if (cur_scalar(y, "a pin", &s))
			return -1;
		if (m->npins >= PDB_MAX_PINS)
			return fail(y, "more than %d pins", PDB_MAX_PINS);
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
				return fail(y, "bad pin '%s': expected a SHA-256 in base64 (44 characters) or hex (64)", s);
			memcpy(out, buf, 32);
		}
		m->pins[m->npins++] = out;
	}
	return rc;
}

/* One key of a policy (min-peer-level, require-tags, forbid-tags): 1 if
 * it was one and is read, 0 if it is some other key, -1 on error. */
static int policy_key(struct yp *y, struct pdb_policy *p, unsigned *seen)
{
	if (!strcmp(y->key, "min-peer-level")) {
		if (once(y, seen, 1) || cur_level(y, "min-peer-level", &p->min_peer_level))
			return -1;
		p->set |= PDB_POLICY_MIN_LEVEL;
	} else if (!strcmp(y->key, "require-tags")) {
		if (once(y, seen, 2) || tag_list(y, "require-tags", p->require, &p->nrequire))
			return -1;
		p->set |= PDB_POLICY_REQUIRE;
	} else if (!strcmp(y->key, "forbid-tags")) {
		if (once(y, seen, 4) || tag_list(y, "forbid-tags", p->forbid, &p->nforbid))
			return -1;
		p->set |= PDB_POLICY_FORBID;
	} else {
		return 0;
	}
	return 1;
}

static int policy_map(struct yp *y, const char *what, struct pdb_policy *p)
{
	unsigned seen = 0;
	int rc;

	if (cur_map(y, what))
		return -1;
	while ((rc = map_next(y)) == 1) {
		int k = policy_key(y, p, &seen);
		if (k < 0)
			return -1;
		if (k == 0)
			return unknown_key(y, what, "min-peer-level, require-tags, forbid-tags");
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
	return -1;
}

static const char member_keys[] = "level, tags, status, not-after, targets, tls-targets, "
                                  "addresses, queriers, pins, contact, note, policy";

/* One key of a member; the value is the current event. */
static int member_field(struct yp *y, struct pdb_member *m, unsigned *seen,
                        uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN])
{
	const char *k = y->key, *s;

	if (!strcmp(k, "level"))
		return once(y, seen, 1 << 0) || cur_level(y, "level", &m->level) ? -1 : 0;
	if (!strcmp(k, "tags"))
		return once(y, seen, 1 << 1) || tag_list(y, "tags", m->tags, &m->ntags) ? -1 : 0;
	if (!strcmp(k, "status")) {
		if (once(y, seen, 1 << 2) || cur_scalar(y, "status", &s))
			return -1;
		for (int i = PDB_ACTIVE; i <= PDB_REVOKED; i++)
			if (!strcmp(s, pdb_status_name((enum pdb_status)i))) {
				m->status = (enum pdb_status)i;
				return 0;
			}
		return fail(y, "status must be active, suspended or revoked, not '%s'", s);
	}
	if (!strcmp(k, "not-after")) {
		if (once(y, seen, 1 << 3) || cur_scalar(y, "not-after", &s))
			return -1;
		if (!strcmp(s, "none") || !strcmp(s, "")) {
			m->not_after = 0;
			return 0;
		}
		if (pf_parse_not_after(s, &m->not_after) != 0)
			return fail(y, "not-after must be a date like 2027-12-31 or 2027-12-31T12:00:00Z, not '%s'", s);
		return 0;
	}
	if (!strcmp(k, "targets"))
		return once(y, seen, 1 << 4) || target_list(y, "targets", m->targets, &m->ntargets) ? -1 : 0;
	if (!strcmp(k, "tls-targets"))
		return once(y, seen, 1 << 5) ||
		       target_list(y, "tls-targets", m->tls_targets, &m->ntls_targets) ? -1 : 0;
	if (!strcmp(k, "addresses"))
		return once(y, seen, 1 << 6) ||
		       addr_list(y, "addresses", false, m->addrs, &m->naddrs, PDB_MAX_ADDRS) ? -1 : 0;
	if (!strcmp(k, "queriers"))
		return once(y, seen, 1 << 7) ||
		       addr_list(y, "queriers", true, m->queriers, &m->nqueriers, PDB_MAX_QUERIERS) ? -1 : 0;
	if (!strcmp(k, "pins"))
		return once(y, seen, 1 << 8) || pin_list(y, m, pins) ? -1 : 0;
	if (!strcmp(k, "contact"))
		return once(y, seen, 1 << 9) || cur_text_value(y, "contact", &m->contact) ? -1 : 0;
	if (!strcmp(k, "note"))
		return once(y, seen, 1 << 10) || cur_text_value(y, "note", &m->note) ? -1 : 0;
	if (!strcmp(k, "policy"))
		return once(y, seen, 1 << 11) || policy_map(y, "policy", &m->policy) ? -1 : 0;
	return -2;
}

/* ---- the whole file ---- */

struct reader {
	struct yp y;
	struct policy_file *pf;
	FILE *fp;
	size_t size;
	pf_progress_fn progress;
	void *arg;
	uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN];
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int read_member(struct reader *r, const char *raw_name, yaml_mark_t mark)
{
	struct yp *y = &r->y;
	struct policy_file *pf = r->pf;
	struct pdb_member m;
	char name[PDB_NAME_MAX + 1];
	const char *why;
	unsigned seen = 0;
	size_t nlen, len;
	int rc;

	if (strlen(raw_name) > PDB_NAME_MAX)
		return fail_at(y, mark, "member name of %zu octets is too long: a domain name has at most %d",
		               strlen(raw_name), PDB_NAME_MAX);
	if (pdb_name_normalise(raw_name, name, &why) != 0)
		return fail_at(y, mark, "bad member name '%s': %s", raw_name, why);
	if (cur_map(y, "a member"))
		return -1;
	pdb_member_init(&m);
	y->scratch_len = 0;
	while ((rc = map_next(y)) == 1) {
		int f = member_field(y, &m, &seen, r->pins);
		if (f == -2)
			return unknown_key(y, "a member", member_keys);
		if (f)
			return -1;
	}
	if (rc)
		return rc;
	if (!(seen & 1))
		return fail_at(y, mark, "member '%s' has no level", name);
	nlen = strlen(name);
	if (grow((void **)&pf->arena, &pf->arena_cap, pf->arena_len + nlen + 1 + PDB_RECORD_MAX, 1) ||
	    grow((void **)&pf->members, &pf->members_cap, pf->nmembers + 1, sizeof(*pf->members)))
		return fail_at(y, mark, "out of memory");
	memcpy(pf->arena + pf->arena_len, name, nlen + 1);
	rc = pdb_member_encode(&m, (uint8_t *)pf->arena + pf->arena_len + nlen + 1,
	                       PDB_RECORD_MAX, &len);
	if (rc)
		return fail_at(y, mark, "member '%s': %s", name, pdb_strerror(rc));
	pf->members[pf->nmembers++] = (struct pf_member){
		.off = pf->arena_len, .name_len = (uint16_t)nlen, .rec_len = (uint16_t)len,
		.line = (uint32_t)mark.line + 1, .col = (uint32_t)mark.column + 1,
	};
	pf->arena_len += nlen + 1 + len;
	if (r->progress && pf->nmembers % 4096 == 0)
		r->progress(r->arg, (size_t)ftell(r->fp), r->size);
	return 0;
}

static int read_members(struct reader *r)
{
	struct yp *y = &r->y;
	int rc;

	/* YAML takes a key of more than 1024 characters for a value, so a
	 * name that long arrives here as a scalar in place of the mapping. */
	if (y->ev.type == YAML_SCALAR_EVENT && y->ev.data.scalar.length > PDB_NAME_MAX)
		return fail(y, "member name too long: a domain name has at most %d octets", PDB_NAME_MAX);
	if (cur_map(&r->y, "members"))
		return -1;
	while ((rc = map_next(&r->y)) == 1) {
		char raw[sizeof(r->y.key)];
		memcpy(raw, r->y.key, sizeof(raw));
		if (read_member(r, raw, r->y.key_mark))
			return -1;
	}
	return rc;
}

static int read_override(struct reader *r)
{
	struct yp *y = &r->y;
	struct policy_file *pf = r->pf;
	struct pf_override o = { .ov = PDB_OVERRIDE_NONE };
	int rc, n = 0;

	if (cur_map(y, "an override (allow: [a, b] or deny: [a, b])"))
		return -1;
	yaml_mark_t at = y->ev.start_mark;
	o.line = (uint32_t)at.line + 1;
	o.col = (uint32_t)at.column + 1;
	while ((rc = map_next(y)) == 1) {
		if (o.ov != PDB_OVERRIDE_NONE)
			return fail_at(y, y->key_mark, "an override has one key, allow or deny");
		if (!strcmp(y->key, "allow"))
			o.ov = PDB_OVERRIDE_ALLOW;
		else if (!strcmp(y->key, "deny"))
			o.ov = PDB_OVERRIDE_DENY;
		else
			return unknown_key(y, "an override", "allow, deny");
		if (cur_seq(y, y->key))
			return -1;
		while ((rc = seq_next(y)) == 1) {
			const char *s;
			if (cur_scalar(y, "a member name", &s))
				return -1;
			if (n >= 2)
				return fail(y, "an override names exactly two members");
			if (name_in(y, s, "member name", n ? o.b : o.a))
				return -1;
			n++;
		}
		if (rc)
			return rc;
	}
	if (rc)
		return rc;
	/* Point at the override itself, not at where its mapping ended. */
	if (o.ov == PDB_OVERRIDE_NONE || n != 2)
		return fail_at(y, at, "an override names exactly two members, as in deny: [a.example, b.example]");
	if (!strcmp(o.a, o.b))
		return fail_at(y, at, "an override names %s twice: a member cannot be paired with itself", o.a);
	if (strcmp(o.a, o.b) > 0) {
		char t[PDB_NAME_MAX + 1];
		strcpy(t, o.a);
		strcpy(o.a, o.b);
		strcpy(o.b, t);
	}
	if (grow((void **)&pf->overrides, &pf->overrides_cap, pf->noverrides + 1, sizeof(o)))
		return fail(y, "out of memory");
	pf->overrides[pf->noverrides++] = o;
	return 0;
}

static int read_overrides(struct reader *r)
{
	int rc;

	if (cur_seq(&r->y, "overrides"))
		return -1;
	while ((rc = seq_next(&r->y)) == 1)
		if (read_override(r))
			return -1;
	return rc;
}

static int read_clearinghouses(struct yp *y, struct pdb_community *c)
{
	int rc;

	if (cur_seq(y, "clearinghouse"))
		return -1;
	c->nch = 0;
	while ((rc = seq_next(y)) == 1) {
		struct pdb_clearinghouse *h;
		unsigned seen = 0;
		unsigned long v;
		if (c->nch >= PDB_MAX_TARGETS)
			return fail(y, "more than %d clearinghouse hosts", PDB_MAX_TARGETS);
		h = &c->ch[c->nch];
		*h = (struct pdb_clearinghouse){ 0 };
		if (cur_map(y, "a clearinghouse (host, port, tls-port)"))
			return -1;
		while ((rc = map_next(y)) == 1) {
			if (!strcmp(y->key, "host")) {
				if (once(y, &seen, 1) || cur_name(y, "clearinghouse host", &h->host))
					return -1;
			} else if (!strcmp(y->key, "port") || !strcmp(y->key, "tls-port")) {
				bool tls = y->key[0] == 't';
				if (once(y, &seen, tls ? 4 : 2) || cur_uint(y, y->key, 65535, &v))
					return -1;
				if (v == 0)
					return fail(y, "%s must be from 1 to 65535", tls ? "tls-port" : "port");
				*(tls ? &h->tls_port : &h->port) = (uint16_t)v;
			} else {
				return unknown_key(y, "a clearinghouse", "host, port, tls-port");
			}
		}
		if (rc)
			return rc;
		if (!h->host.len || (!h->port && !h->tls_port))
			return fail(y, "a clearinghouse needs a host and a port or tls-port");
		c->nch++;
	}
	return rc;
}

static int read_levels(struct yp *y, struct pdb_community *c)
{
	bool named[256] = { false };
	int rc;

	if (cur_map(y, "levels"))
		return -1;
	while ((rc = map_next(y)) == 1) {
		char *end;
		unsigned long lvl;
		pdb_str name;
		errno = 0;
		lvl = strtoul(y->key, &end, 10);
		if (y->key[0] < '0' || y->key[0] > '9' || *end || errno || lvl > 255)
			return fail_at(y, y->key_mark, "a level must be a whole number from 0 to 255, not '%s'", y->key);
		if (named[lvl])
			return fail_at(y, y->key_mark, "level %lu is named twice", lvl);
		named[lvl] = true;
		if (cur_text_value(y, "a level name", &name))
			return -1;
		if (name.len == 0 || name.len > PDB_TAG_MAX)
			return fail(y, "a level name has 1 to %d bytes", PDB_TAG_MAX);
		/* Insert in order: the record keeps levels ascending. */
		unsigned i = c->nlevels;
		while (i > 0 && c->levels[i - 1].level > lvl) {
			c->levels[i] = c->levels[i - 1];
			i--;
		}
		c->levels[i] = (struct pdb_level_name){ (uint8_t)lvl, name };
		c->nlevels++;
	}
	return rc;
}

static int read_community(struct yp *y, struct pdb_community *c)
{
	unsigned seen = 0;
	unsigned long v;
	const char *s;
	int rc;

	if (cur_map(y, "community"))
		return -1;
	while ((rc = map_next(y)) == 1) {
		const char *k = y->key;
		if (!strcmp(k, "zone")) {
			if (once(y, &seen, 1) || cur_name(y, "zone", &c->zone))
				return -1;
		} else if (!strcmp(k, "clearinghouse")) {
			if (once(y, &seen, 2) || read_clearinghouses(y, c))
				return -1;
		} else if (!strcmp(k, "fallback")) {
			if (once(y, &seen, 4) || cur_scalar(y, "fallback", &s))
				return -1;
			if (!strcmp(s, "never")) c->fallback = PDB_FALLBACK_NEVER;
			else if (!strcmp(s, "allowed")) c->fallback = PDB_FALLBACK_ALLOWED;
			else if (!strcmp(s, "always")) c->fallback = PDB_FALLBACK_ALWAYS;
			else return fail(y, "fallback must be always, allowed or never, not '%s'", s);
		} else if (!strcmp(k, "inactive")) {
			if (once(y, &seen, 8) || cur_scalar(y, "inactive", &s))
				return -1;
			if (!strcmp(s, "clearinghouse")) c->inactive = PDB_INACTIVE_CLEARINGHOUSE;
			else if (!strcmp(s, "nxdomain")) c->inactive = PDB_INACTIVE_NXDOMAIN;
			else return fail(y, "inactive must be clearinghouse or nxdomain, not '%s'", s);
		} else if (!strcmp(k, "identity")) {
			if (once(y, &seen, 128) || cur_scalar(y, "identity", &s))
				return -1;
			if (!strcmp(s, "claim")) c->identity = PDB_IDENTITY_CLAIM;
			else if (!strcmp(s, "certificate")) c->identity = PDB_IDENTITY_CERTIFICATE;
			else return fail(y, "identity must be claim or certificate, not '%s'", s);
		} else if (!strcmp(k, "deny-text")) {
			if (once(y, &seen, 256) || cur_scalar(y, "deny-text", &s))
				return -1;
			if (!strcmp(s, "generic")) c->deny_text = PDB_DENY_TEXT_GENERIC;
			else if (!strcmp(s, "rule")) c->deny_text = PDB_DENY_TEXT_RULE;
			else return fail(y, "deny-text must be generic or rule, not '%s'", s);
		} else if (!strcmp(k, "ttl")) {
			/* RFC 2181 section 8 caps TTLs at 2^31 - 1; a policy answer
			 * that lives a week is already far too long. */
			if (once(y, &seen, 16) || cur_uint(y, "ttl", 604800, &v))
				return -1;
			c->ttl = (uint32_t)v;
		} else if (!strcmp(k, "levels")) {
			if (once(y, &seen, 32) || read_levels(y, c))
				return -1;
		} else if (!strcmp(k, "default")) {
			if (once(y, &seen, 64) || policy_map(y, "default", &c->dflt))
				return -1;
		} else {
			return unknown_key(y, "community",
			                   "zone, clearinghouse, fallback, inactive, identity, deny-text, ttl, levels, default");
		}
	}
	if (rc)
		return rc;
	if (!c->zone.len)
		return fail(y, "community has no zone");
	if (!c->nch)
		return fail(y, "community has no clearinghouse host");
	return 0;
}

static int read_document(struct reader *r)
{
	struct yp *y = &r->y;
	unsigned seen = 0;
	int rc;

	if (yp_next(y) || yp_next(y))   /* stream start, document start */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return fail(y, "the policy file is empty");
	if (yp_next(y))
		return -1;
	if (cur_map(y, "a policy file"))
		return -1;
	while ((rc = map_next(y)) == 1) {
		if (!strcmp(y->key, "community")) {
			/* The community keeps its strings for the whole load. */
			char *scratch = y->scratch;
			size_t used = y->scratch_len;
			y->scratch = r->pf->strings;
			y->scratch_len = 0;
			rc = once(y, &seen, 1) || read_community(y, &r->pf->community) ? -1 : 0;
			y->scratch = scratch;
			y->scratch_len = used;
			if (rc)
				return -1;
		} else if (!strcmp(y->key, "members")) {
			if (once(y, &seen, 2) || read_members(r))
				return -1;
		} else if (!strcmp(y->key, "overrides")) {
			if (once(y, &seen, 4) || read_overrides(r))
				return -1;
		} else {
			return unknown_key(y, "the policy file", "community, members, overrides");
		}
	}
	if (rc)
		return rc;
	if (!(seen & 1))
		return fail(y, "the policy file has no community section");
	if (yp_next(y))   /* document end */
		return -1;
	if (yp_next(y))
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return fail(y, "a policy file holds one YAML document");
	return 0;
}

/* ---- after reading: order, uniqueness, references ---- */

static const struct policy_file *sort_pf;

static int member_cmp(const void *a, const void *b)
{
	const struct pf_member *x = a, *y = b;
	return strcmp(sort_pf->arena + x->off, sort_pf->arena + y->off);
}

static bool is_member(const struct policy_file *pf, const char *name)
{
	size_t lo = 0, hi = pf->nmembers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, pf_name(pf, mid));
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static int override_cmp(const void *a, const void *b)
{
	const struct pf_override *x = a, *y = b;
	int c = strcmp(x->a, y->a);
	return c ? c : strcmp(x->b, y->b);
}

static int check_references(struct policy_file *pf, char *err, size_t errlen)
{
	sort_pf = pf;
	/* qsort and bsearch take no NULL array, even of length 0. */
	if (pf->nmembers)
		qsort(pf->members, pf->nmembers, sizeof(*pf->members), member_cmp);
	for (size_t i = 1; i < pf->nmembers; i++) {
		if (strcmp(pf_name(pf, i - 1), pf_name(pf, i)) == 0) {
			const struct pf_member *a = &pf->members[i - 1], *b = &pf->members[i];
			if (a->line > b->line || (a->line == b->line && a->col > b->col)) {
				const struct pf_member *t = a;
				a = b;
				b = t;
			}
			snprintf(err, errlen, "%s:%u:%u: member '%s' is listed twice (first at line %u)",
			         pf->path, b->line, b->col, pf_name(pf, i), a->line);
			return -1;
		}
	}
	for (size_t i = 0; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		const char *missing = !is_member(pf, o->a) ? o->a : !is_member(pf, o->b) ? o->b : NULL;
		if (missing) {
			snprintf(err, errlen, "%s:%u:%u: override names '%s', which is not a member",
			         pf->path, o->line, o->col, missing);
			return -1;
		}
	}
	if (pf->noverrides)
		qsort(pf->overrides, pf->noverrides, sizeof(*pf->overrides), override_cmp);
	for (size_t i = 1; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		if (override_cmp(o - 1, o) == 0) {
			snprintf(err, errlen, "%s:%u:%u: a second override for %s and %s (the other at line %u)",
			         pf->path, o->line, o->col, o->a, o->b, o[-1].line);
			return -1;
		}
	}
	return 0;
}

int pf_read(const char *path, struct policy_file *pf, pf_progress_fn progress, void *arg,
            char *err, size_t errlen)
{
	struct reader *r;
	struct stat st;
	int rc;

	memset(pf, 0, sizeof(*pf));
	pf->path = path;
	pdb_community_init(&pf->community);
	if (!(r = calloc(1, sizeof(*r))) || !(pf->strings = malloc(SCRATCH_MAX)) ||
	    !(r->y.scratch = malloc(SCRATCH_MAX))) {
		if (r)
			free(r->y.scratch);
		free(r);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	r->pf = pf;
	r->progress = progress;
	r->arg = arg;
	r->y.file = path;
	r->y.err = err;
	r->y.errlen = errlen;
	if (!(r->fp = fopen(path, "rb"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(r->y.scratch);
		free(r);
		return -1;
	}
	if (fstat(fileno(r->fp), &st) == 0)
		r->size = (size_t)st.st_size;
	yaml_parser_initialize(&r->y.parser);
	yaml_parser_set_input_file(&r->y.parser, r->fp);
	rc = read_document(r);
	if (r->y.have_ev)
		yaml_event_delete(&r->y.ev);
	yaml_parser_delete(&r->y.parser);
	fclose(r->fp);
	if (rc == 0 && progress)
		progress(arg, r->size, r->size);
	free(r->y.scratch);
	free(r);
	if (rc == 0)
		rc = check_references(pf, err, errlen);
	return rc;
}

void pf_free(struct policy_file *pf)
{
	free(pf->strings);
	free(pf->arena);
	free(pf->members);
	free(pf->overrides);
	memset(pf, 0, sizeof(*pf));
}

/* ---- one key, for policyctl set ---- */

static bool is_policy_key(const char *k)
{
	return !strcmp(k, "min-peer-level") || !strcmp(k, "require-tags") || !strcmp(k, "forbid-tags");
}

int pf_set_member_key(struct pdb_member *m, const char *key, const char *value,
                      struct pf_scratch *s, char *err, size_t errlen)
{
	struct yp y = { .file = NULL, .err = err, .errlen = errlen, .scratch = s->text };
	size_t n = strlen(value) * 2 + strlen(key) + 64;
	char *doc = malloc(n), *p;
	unsigned seen = 0;
	bool text = !strcmp(key, "contact") || !strcmp(key, "note");
	int rc;

	if (!doc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Text is taken as typed; anything else is YAML flow, as in the file. */
	p = doc + sprintf(doc, is_policy_key(key) ? "policy: {%s: " : "%s: ", key);
	if (text) {
		*p++ = '"';
		for (const char *v = value; *v; v++) {
			if (*v == '"' || *v == '\\')
				*p++ = '\\';
			*p++ = *v;
		}
		*p++ = '"';
		*p = '\0';
	} else {
		p += sprintf(p, "%s", value);
	}
	if (is_policy_key(key))
		strcat(p, "}");
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)doc, strlen(doc));
	rc = yp_next(&y) || yp_next(&y) || yp_next(&y) || cur_map(&y, "a setting") ? -1 : 0;
	if (rc == 0 && (rc = map_next(&y)) == 1) {
		/* The policy sub-keys replace only what is given, so start from
		 * the member's own policy. */
		rc = member_field(&y, m, &seen, s->pins);
		if (rc == -2)
			rc = unknown_key(&y, "a member", member_keys);
	} else if (rc == 0) {
		rc = fail(&y, "no value given");
	}
	if (rc == 0 && (map_next(&y) != 0))
		rc = fail(&y, "one KEY VALUE at a time");
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	free(doc);
	return rc ? -1 : 0;
}

/* ---- a member's local service policy ---- */

static int name_list(struct yp *y, const char *what, char (**v)[PDB_NAME_MAX + 1], size_t *n)
{
	size_t cap = 0;
	int rc;

	if (cur_seq(y, what))
		return -1;
	while ((rc = seq_next(y)) == 1) {
		const char *s;
		if (grow((void **)v, &cap, *n + 1, sizeof(**v)))
			return fail(y, "out of memory");
		if (cur_scalar(y, "a domain", &s) || name_in(y, s, "domain", (*v)[*n]))
			return -1;
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*v)[i], (*v)[*n]))
				return fail(y, "'%s' is listed twice in %s", (*v)[*n], what);
		(*n)++;
	}
	return rc;
}

static int read_local(struct yp *y, struct pf_local *lp)
{
	unsigned seen = 0;
	int rc;

	if (yp_next(y) || yp_next(y))   /* stream start, document start */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return fail(y, "the local policy file is empty");
	if (yp_next(y) || cur_map(y, "a local policy"))
		return -1;
	while ((rc = map_next(y)) == 1) {
		int k = policy_key(y, &lp->policy, &seen);
		if (k < 0)
			return -1;
		if (k == 1)
			continue;
		if (!strcmp(y->key, "allow")) {
			if (once(y, &seen, 8) || name_list(y, "allow", &lp->allow, &lp->nallow))
				return -1;
		} else if (!strcmp(y->key, "deny")) {
			if (once(y, &seen, 16) || name_list(y, "deny", &lp->deny, &lp->ndeny))
				return -1;
		} else {
			return unknown_key(y, "a local policy",
			                   "min-peer-level, require-tags, forbid-tags, allow, deny");
		}
	}
	if (rc || yp_next(y) || yp_next(y))   /* document end, stream end */
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return fail(y, "a local policy file holds one YAML document");
	for (size_t i = 0; i < lp->nallow; i++)
		for (size_t j = 0; j < lp->ndeny; j++)
			if (!strcmp(lp->allow[i], lp->deny[j]))
				return fail(y, "'%s' is both allowed and denied", lp->allow[i]);
	return 0;
}

int pf_read_local(const char *path, struct pf_local *lp, char *err, size_t errlen)
{
	struct yp y = { .file = path, .err = err, .errlen = errlen };
	FILE *f;
	int rc;

	memset(lp, 0, sizeof(*lp));
	if (!(lp->scratch = y.scratch = malloc(SCRATCH_MAX))) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (!(f = fopen(path, "rb"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_file(&y.parser, f);
	rc = read_local(&y, lp);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	fclose(f);
	return rc;
}

void pf_local_free(struct pf_local *lp)
{
	free(lp->allow);
	free(lp->deny);
	free(lp->scratch);
	memset(lp, 0, sizeof(*lp));
}
