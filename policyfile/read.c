/* The policy file: community, members and overrides, read in one pass,
 * then sorted and checked for names given twice and overrides of
 * strangers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* ---- the whole file ---- */

struct reader {
	struct pf__yp y;
	struct policy_file *pf;
	FILE *fp;
	size_t size;
	pf_progress_fn progress;
	void *arg;
	uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN];
};

static int read_member(struct reader *r, const char *raw_name, yaml_mark_t mark)
{
	struct pf__yp *y = &r->y;
	struct policy_file *pf = r->pf;
	struct pdb_member m;
	char name[PDB_NAME_MAX + 1];
	const char *why;
	unsigned seen = 0;
	size_t nlen, len;
	int rc;

	if (strlen(raw_name) > PDB_NAME_MAX)
		return pf__fail_at(y, mark, "member name of %zu octets is too long: a domain name has at most %d",
		               strlen(raw_name), PDB_NAME_MAX);
	if (pdb_name_normalise(raw_name, name, &why) != 0)
		return pf__fail_at(y, mark, "bad member name '%s': %s", raw_name, why);
	if (pf__cur_map(y, "a member"))
		return -1;
	pdb_member_init(&m);
	y->scratch_len = 0;
	while ((rc = pf__map_next(y)) == 1) {
		int f = pf__member_field(y, &m, &seen, r->pins);
		if (f == PF__NOT_A_MEMBER_KEY)
			return pf__unknown_key(y, "a member", pf__member_keys);
		if (f)
			return -1;
	}
	if (rc)
		return rc;
	if (!(seen & 1))
		return pf__fail_at(y, mark, "member '%s' has no level", name);
	nlen = strlen(name);
	if (pf__grow((void **)&pf->arena, &pf->arena_cap, pf->arena_len + nlen + 1 + PDB_RECORD_MAX, 1) ||
	    pf__grow((void **)&pf->members, &pf->members_cap, pf->nmembers + 1, sizeof(*pf->members))) {
		pf__fail_at(y, mark, "out of memory");
		y->error = -ENOMEM;
		return -1;
	}
	memcpy(pf->arena + pf->arena_len, name, nlen + 1);
	rc = pdb_member_encode(&m, (uint8_t *)pf->arena + pf->arena_len + nlen + 1,
	                       PDB_RECORD_MAX, &len);
	if (rc)
		return pf__fail_at(y, mark, "member '%s': %s", name, pdb_strerror(rc));
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
	struct pf__yp *y = &r->y;
	int rc;

	/* YAML takes a key of more than 1024 characters for a value, so a
	 * name that long arrives here as a scalar in place of the mapping. */
	if (y->ev.type == YAML_SCALAR_EVENT && y->ev.data.scalar.length > PDB_NAME_MAX)
		return pf__fail(y, "member name too long: a domain name has at most %d octets", PDB_NAME_MAX);
	if (pf__cur_map(&r->y, "members"))
		return -1;
	while ((rc = pf__map_next(&r->y)) == 1) {
		char raw[sizeof(r->y.key)];
		memcpy(raw, r->y.key, sizeof(raw));
		if (read_member(r, raw, r->y.key_mark))
			return -1;
	}
	return rc;
}

static int read_override(struct reader *r)
{
	struct pf__yp *y = &r->y;
	struct policy_file *pf = r->pf;
	struct pf_override o = { .ov = PDB_OVERRIDE_NONE };
	int rc, n = 0;

	if (pf__cur_map(y, "an override (allow: [a, b] or deny: [a, b])"))
		return -1;
	yaml_mark_t at = y->ev.start_mark;
	o.line = (uint32_t)at.line + 1;
	o.col = (uint32_t)at.column + 1;
	while ((rc = pf__map_next(y)) == 1) {
		if (o.ov != PDB_OVERRIDE_NONE)
			return pf__fail_at(y, y->key_mark, "an override has one key, allow or deny");
		if (!strcmp(y->key, "allow"))
			o.ov = PDB_OVERRIDE_ALLOW;
		else if (!strcmp(y->key, "deny"))
			o.ov = PDB_OVERRIDE_DENY;
		else
			return pf__unknown_key(y, "an override", "allow, deny");
		if (pf__cur_seq(y, y->key))
			return -1;
		while ((rc = pf__seq_next(y)) == 1) {
			const char *s;
			if (pf__cur_scalar(y, "a member name", &s))
				return -1;
			if (n >= 2)
				return pf__fail(y, "an override names exactly two members");
			if (pf__name_in(y, s, "member name", n ? o.b : o.a))
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
		return pf__fail_at(y, at, "an override names exactly two members, as in deny: [a.example, b.example]");
	if (!strcmp(o.a, o.b))
		return pf__fail_at(y, at, "an override names %s twice: a member cannot be paired with itself", o.a);
	if (strcmp(o.a, o.b) > 0) {
		char t[PDB_NAME_MAX + 1];
		strcpy(t, o.a);
		strcpy(o.a, o.b);
		strcpy(o.b, t);
	}
	if (pf__grow((void **)&pf->overrides, &pf->overrides_cap, pf->noverrides + 1, sizeof(o)))
		return pf__oom(y);
	pf->overrides[pf->noverrides++] = o;
	return 0;
}

static int read_overrides(struct reader *r)
{
	int rc;

	if (pf__cur_seq(&r->y, "overrides"))
		return -1;
	while ((rc = pf__seq_next(&r->y)) == 1)
		if (read_override(r))
			return -1;
	return rc;
}

static int read_clearinghouses(struct pf__yp *y, struct pdb_community *c)
{
	int rc;

	if (pf__cur_seq(y, "clearinghouse"))
		return -1;
	c->nch = 0;
	while ((rc = pf__seq_next(y)) == 1) {
		struct pdb_clearinghouse *h;
		unsigned seen = 0;
		unsigned long v;
		if (c->nch >= PDB_MAX_TARGETS)
			return pf__fail(y, "more than %d clearinghouse hosts", PDB_MAX_TARGETS);
		h = &c->ch[c->nch];
		*h = (struct pdb_clearinghouse){ 0 };
		if (pf__cur_map(y, "a clearinghouse (host, port, tls-port)"))
			return -1;
		while ((rc = pf__map_next(y)) == 1) {
			if (!strcmp(y->key, "host")) {
				if (pf__once(y, &seen, 1) || pf__cur_name(y, "clearinghouse host", &h->host))
					return -1;
			} else if (!strcmp(y->key, "port") || !strcmp(y->key, "tls-port")) {
				bool tls = y->key[0] == 't';
				if (pf__once(y, &seen, tls ? 4 : 2) || pf__cur_uint(y, y->key, 65535, &v))
					return -1;
				if (v == 0)
					return pf__fail(y, "%s must be from 1 to 65535", tls ? "tls-port" : "port");
				*(tls ? &h->tls_port : &h->port) = (uint16_t)v;
			} else {
				return pf__unknown_key(y, "a clearinghouse", "host, port, tls-port");
			}
		}
		if (rc)
			return rc;
		if (!h->host.len || (!h->port && !h->tls_port))
			return pf__fail(y, "a clearinghouse needs a host and a port or tls-port");
		c->nch++;
	}
	return rc;
}

static int read_levels(struct pf__yp *y, struct pdb_community *c)
{
	bool named[256] = { false };
	int rc;

	if (pf__cur_map(y, "levels"))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		char *end;
		unsigned long lvl;
		pdb_str name;
		errno = 0;
		lvl = strtoul(y->key, &end, 10);
		if (y->key[0] < '0' || y->key[0] > '9' || *end || errno || lvl > 255)
			return pf__fail_at(y, y->key_mark, "a level must be a whole number from 0 to 255, not '%s'", y->key);
		if (named[lvl])
			return pf__fail_at(y, y->key_mark, "level %lu is named twice", lvl);
		named[lvl] = true;
		if (pf__cur_text_value(y, "a level name", &name))
			return -1;
		if (name.len == 0 || name.len > PDB_TAG_MAX)
			return pf__fail(y, "a level name has 1 to %d bytes", PDB_TAG_MAX);
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

static int read_community(struct pf__yp *y, struct pdb_community *c)
{
	unsigned seen = 0;
	unsigned long v;
	const char *s;
	int rc;

	if (pf__cur_map(y, "community"))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		const char *k = y->key;
		if (!strcmp(k, "zone")) {
			if (pf__once(y, &seen, 1) || pf__cur_name(y, "zone", &c->zone))
				return -1;
		} else if (!strcmp(k, "clearinghouse")) {
			if (pf__once(y, &seen, 2) || read_clearinghouses(y, c))
				return -1;
		} else if (!strcmp(k, "fallback")) {
			if (pf__once(y, &seen, 4) || pf__cur_scalar(y, "fallback", &s))
				return -1;
			if (!strcmp(s, "never")) c->fallback = PDB_FALLBACK_NEVER;
			else if (!strcmp(s, "allowed")) c->fallback = PDB_FALLBACK_ALLOWED;
			else if (!strcmp(s, "always")) c->fallback = PDB_FALLBACK_ALWAYS;
			else return pf__fail(y, "fallback must be always, allowed or never, not '%s'", s);
		} else if (!strcmp(k, "inactive")) {
			if (pf__once(y, &seen, 8) || pf__cur_scalar(y, "inactive", &s))
				return -1;
			if (!strcmp(s, "clearinghouse")) c->inactive = PDB_INACTIVE_CLEARINGHOUSE;
			else if (!strcmp(s, "nxdomain")) c->inactive = PDB_INACTIVE_NXDOMAIN;
			else return pf__fail(y, "inactive must be clearinghouse or nxdomain, not '%s'", s);
		} else if (!strcmp(k, "identity")) {
			if (pf__once(y, &seen, 128) || pf__cur_scalar(y, "identity", &s))
				return -1;
			if (!strcmp(s, "claim")) c->identity = PDB_IDENTITY_CLAIM;
			else if (!strcmp(s, "certificate")) c->identity = PDB_IDENTITY_CERTIFICATE;
			else return pf__fail(y, "identity must be claim or certificate, not '%s'", s);
		} else if (!strcmp(k, "deny-text")) {
			if (pf__once(y, &seen, 256) || pf__cur_scalar(y, "deny-text", &s))
				return -1;
			if (!strcmp(s, "generic")) c->deny_text = PDB_DENY_TEXT_GENERIC;
			else if (!strcmp(s, "rule")) c->deny_text = PDB_DENY_TEXT_RULE;
			else return pf__fail(y, "deny-text must be generic or rule, not '%s'", s);
		} else if (!strcmp(k, "ttl")) {
			/* RFC 2181 section 8 caps TTLs at 2^31 - 1; a policy answer
			 * that lives a week is already far too long. */
			if (pf__once(y, &seen, 16) || pf__cur_uint(y, "ttl", 604800, &v))
				return -1;
			c->ttl = (uint32_t)v;
		} else if (!strcmp(k, "levels")) {
			if (pf__once(y, &seen, 32) || read_levels(y, c))
				return -1;
		} else if (!strcmp(k, "default")) {
			if (pf__once(y, &seen, 64) || pf__policy_map(y, "default", &c->dflt))
				return -1;
		} else {
			return pf__unknown_key(y, "community",
			                   "zone, clearinghouse, fallback, inactive, identity, deny-text, ttl, levels, default");
		}
	}
	if (rc)
		return rc;
	if (!c->zone.len)
		return pf__fail(y, "community has no zone");
	if (!c->nch)
		return pf__fail(y, "community has no clearinghouse host");
	return 0;
}

static int read_document(struct reader *r)
{
	struct pf__yp *y = &r->y;
	unsigned seen = 0;
	int rc;

	if (pf__next(y) || pf__next(y))   /* stream start, document start */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return pf__fail(y, "the policy file is empty");
	if (pf__next(y))
		return -1;
	if (pf__cur_map(y, "a policy file"))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		if (!strcmp(y->key, "community")) {
			/* The community keeps its strings for the whole load. */
			char *scratch = y->scratch;
			size_t used = y->scratch_len;
			y->scratch = r->pf->strings;
			y->scratch_len = 0;
			rc = pf__once(y, &seen, 1) || read_community(y, &r->pf->community) ? -1 : 0;
			y->scratch = scratch;
			y->scratch_len = used;
			if (rc)
				return -1;
		} else if (!strcmp(y->key, "members")) {
			if (pf__once(y, &seen, 2) || read_members(r))
				return -1;
		} else if (!strcmp(y->key, "overrides")) {
			if (pf__once(y, &seen, 4) || read_overrides(r))
				return -1;
		} else {
			return pf__unknown_key(y, "the policy file", "community, members, overrides");
		}
	}
	if (rc)
		return rc;
	if (!(seen & 1))
		return pf__fail(y, "the policy file has no community section");
	if (pf__next(y))   /* document end */
		return -1;
	if (pf__next(y))
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return pf__fail(y, "a policy file holds one YAML document");
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
			return PF_EINVALID;
		}
	}
	for (size_t i = 0; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		const char *missing = !is_member(pf, o->a) ? o->a : !is_member(pf, o->b) ? o->b : NULL;
		if (missing) {
			snprintf(err, errlen, "%s:%u:%u: override names '%s', which is not a member",
			         pf->path, o->line, o->col, missing);
			return PF_EINVALID;
		}
	}
	if (pf->noverrides)
		qsort(pf->overrides, pf->noverrides, sizeof(*pf->overrides), override_cmp);
	for (size_t i = 1; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		if (override_cmp(o - 1, o) == 0) {
			snprintf(err, errlen, "%s:%u:%u: a second override for %s and %s (the other at line %u)",
			         pf->path, o->line, o->col, o->a, o->b, o[-1].line);
			return PF_EINVALID;
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
	if (!(r = calloc(1, sizeof(*r))) || !(pf->strings = malloc(PF_SCRATCH_MAX)) ||
	    !(r->y.scratch = malloc(PF_SCRATCH_MAX))) {
		if (r)
			free(r->y.scratch);
		free(r);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	r->pf = pf;
	r->progress = progress;
	r->arg = arg;
	r->y.file = path;
	r->y.err = err;
	r->y.errlen = errlen;
	if (!(r->fp = fopen(path, "rb"))) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		free(r->y.scratch);
		free(r);
		return rc;
	}
	if (fstat(fileno(r->fp), &st) == 0)
		r->size = (size_t)st.st_size;
	yaml_parser_initialize(&r->y.parser);
	yaml_parser_set_input_file(&r->y.parser, r->fp);
	rc = pf__result(&r->y, read_document(r));
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

