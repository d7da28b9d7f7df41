/* The record codec.  Every value in the store is
 *     kind (1 byte) | version (1 byte) | field*
 *     field = tag (1 byte) | length (2 bytes, big-endian) | value
 * Lists are repeated fields.  The last field is always a check: tag 255,
 * length 4, the FNV-1a hash of every byte before it.  A record cut short
 * at a field boundary would otherwise still parse, as a record with fewer
 * fields; with the check it is refused, and so are most stray bit flips.
 * Decoding checks every length, count and value and refuses anything it
 * does not know, so a corrupt or foreign record is an error and never a
 * crash. */
#include <errno.h>
#include <string.h>

#include "internal.h"

enum {
	/* member */
	F_STATUS = 1, F_LEVEL, F_NOT_AFTER, F_TAG, F_TARGET, F_TLS_TARGET,
	F_ADDR, F_QUERIER, F_PIN, F_CONTACT, F_NOTE,
	/* a policy (the member's own, or the community default) */
	F_POL_SET = 20, F_POL_MIN, F_POL_REQUIRE, F_POL_FORBID,
	/* community */
	F_ZONE = 40, F_CH, F_FALLBACK, F_INACTIVE, F_TTL, F_LEVEL_NAME,
	F_IDENTITY, F_DENY_TEXT,
	/* audit */
	F_TIME = 60, F_USER, F_COMMAND, F_CHANGE, F_UID, F_LOGINUID, F_SUDO_USER, F_PREV,
	F_BROKEN, F_MAC,
	/* the journal: an item, a commit's header */
	F_CH_KIND = 70, F_CH_NAME, F_CH_OTHER, F_CH_BEFORE, F_CH_FLAGS, F_CH_COUNT,
	/* the trailer */
	F_CHECK = 255,
};

#define CHECK_LEN 7  /* tag, length, 4-byte hash */

/* The record's trailer: sensitive to every byte and its position, which is
 * all a truncation check needs. */
uint32_t pdb_fnv1a32(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

uint64_t pdb_fnv1a64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 14695981039346656037u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211u;
	return h;
}

/* ---- writing ---- */

struct wbuf {
	uint8_t *p;
	size_t cap, len;
	int err;
};

static void w_bytes(struct wbuf *w, const void *b, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		w->err = PDB_ELIMIT;
		return;
	}
	if (n)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void w_u8(struct wbuf *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 2);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	w_u16(w, (uint16_t)(v >> 16));
	w_u16(w, (uint16_t)v);
}

static void w_i64(struct wbuf *w, int64_t v)
{
	w_u32(w, (uint32_t)((uint64_t)v >> 32));
	w_u32(w, (uint32_t)v);
}

static void w_head(struct wbuf *w, uint8_t tag, size_t len)
{
	if (len > UINT16_MAX && !w->err)
		w->err = PDB_ELIMIT;
	w_u8(w, tag);
	w_u16(w, (uint16_t)len);
}

static void w_field(struct wbuf *w, uint8_t tag, const void *b, size_t n)
{
	w_head(w, tag, n);
	w_bytes(w, b, n);
}

static void w_str(struct wbuf *w, uint8_t tag, pdb_str s) { w_field(w, tag, s.p, s.len); }

static void w_fail(struct wbuf *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Refuse what the store must never hold: a name or tag not in the one
 * normalised form its key or comparison relies on. */
static void w_check(struct wbuf *w, pdb_str s, size_t max, int err,
                    int (*norm)(const char *, char *, const char **))
{
	char in[PDB_NAME_MAX + 1], out[PDB_NAME_MAX + 1];
	if (s.len == 0 || s.len > max) {
		w_fail(w, err);
		return;
	}
	memcpy(in, s.p, s.len);
	in[s.len] = '\0';
	if (norm(in, out, NULL) != 0 || strcmp(in, out) != 0)
		w_fail(w, err);
}

static int tag_norm(const char *in, char *out, const char **why)
{
	return pdb_tag_normalise(in, out, why);
}

static int name_norm(const char *in, char *out, const char **why)
{
	return pdb_name_normalise(in, out, why);
}

static void w_name(struct wbuf *w, uint8_t tag, pdb_str s)
{
	w_check(w, s, PDB_NAME_MAX, PDB_EBADNAME, name_norm);
	w_str(w, tag, s);
}

static void w_tag(struct wbuf *w, uint8_t tag, pdb_str s)
{
	w_check(w, s, PDB_TAG_MAX, PDB_EBADTAG, tag_norm);
	w_str(w, tag, s);
}

static void w_target(struct wbuf *w, uint8_t tag, const struct pdb_target *t)
{
	if (t->port == 0)
		w_fail(w, -EINVAL);
	w_check(w, t->host, PDB_NAME_MAX, PDB_EBADNAME, name_norm);
	w_head(w, tag, 6 + (size_t)t->host.len);
	w_u16(w, t->port);
	w_u16(w, t->priority);
	w_u16(w, t->weight);
	w_bytes(w, t->host.p, t->host.len);
}

static size_t addr_len(uint8_t family) { return family == 4 ? 4 : 16; }

static void w_addr(struct wbuf *w, uint8_t tag, const struct pdb_addr *a)
{
	if ((a->family != 4 && a->family != 6) || a->prefix > addr_len(a->family) * 8)
		w_fail(w, -EINVAL);
	w_head(w, tag, 2 + addr_len(a->family));
	w_u8(w, a->family);
	w_u8(w, a->prefix);
	w_bytes(w, a->bytes, addr_len(a->family));
}

static void w_text(struct wbuf *w, uint8_t tag, pdb_str s, size_t max)
{
	if (s.len > max)
		w_fail(w, PDB_ELIMIT);
	if (s.len)
		w_str(w, tag, s);
}

static void w_policy(struct wbuf *w, const struct pdb_policy *p)
{
	if (p->nrequire > PDB_MAX_TAGS || p->nforbid > PDB_MAX_TAGS ||
	    (p->set & ~(PDB_POLICY_MIN_LEVEL | PDB_POLICY_REQUIRE | PDB_POLICY_FORBID)) ||
	    (p->nrequire && !(p->set & PDB_POLICY_REQUIRE)) ||
	    (p->nforbid && !(p->set & PDB_POLICY_FORBID))) {
		w_fail(w, p->nrequire > PDB_MAX_TAGS || p->nforbid > PDB_MAX_TAGS ? PDB_ELIMIT : -EINVAL);
		return;
	}
	if (!p->set)
		return;
	w_field(w, F_POL_SET, &p->set, 1);
	if (p->set & PDB_POLICY_MIN_LEVEL)
		w_field(w, F_POL_MIN, &p->min_peer_level, 1);
	for (unsigned i = 0; i < p->nrequire; i++)
		w_tag(w, F_POL_REQUIRE, p->require[i]);
	for (unsigned i = 0; i < p->nforbid; i++)
		w_tag(w, F_POL_FORBID, p->forbid[i]);
}

static void w_start(struct wbuf *w, uint8_t *buf, size_t cap, uint8_t kind)
{
	*w = (struct wbuf){ .p = buf, .cap = cap };
	w_u8(w, kind);
	w_u8(w, PDB__RECORD_VERSION);
}

/* max: the longest record of this kind; a journal item holds a whole
 * member record and so is longer than one. */
static int w_finish_max(struct wbuf *w, size_t *len, size_t max)
{
	if (!w->err) {
		uint32_t h = pdb_fnv1a32(w->p, w->len);
		w_head(w, F_CHECK, 4);
		w_u32(w, h);
	}
	if (w->err)
		return w->err;
	if (w->len > max)
		return PDB_ELIMIT;
	*len = w->len;
	return 0;
}

static int w_finish(struct wbuf *w, size_t *len)
{
	return w_finish_max(w, len, PDB_RECORD_MAX);
}

int pdb_member_encode(const struct pdb_member *m, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w;

	if (!m || !buf || !len)
		return -EINVAL;
	if (m->ntags > PDB_MAX_TAGS || m->ntargets > PDB_MAX_TARGETS ||
	    m->ntls_targets > PDB_MAX_TARGETS || m->naddrs > PDB_MAX_ADDRS ||
	    m->nqueriers > PDB_MAX_QUERIERS || m->npins > PDB_MAX_PINS)
		return PDB_ELIMIT;
	if (m->status > PDB_REVOKED || m->not_after < 0)
		return -EINVAL;
	w_start(&w, buf, cap, PDB__KIND_MEMBER);
	uint8_t status = (uint8_t)m->status;
	w_field(&w, F_STATUS, &status, 1);
	w_field(&w, F_LEVEL, &m->level, 1);
	if (m->not_after) {
		w_head(&w, F_NOT_AFTER, 8);
		w_i64(&w, m->not_after);
	}
	for (unsigned i = 0; i < m->ntags; i++)
		w_tag(&w, F_TAG, m->tags[i]);
	for (unsigned i = 0; i < m->ntargets; i++)
		w_target(&w, F_TARGET, &m->targets[i]);
	for (unsigned i = 0; i < m->ntls_targets; i++)
		w_target(&w, F_TLS_TARGET, &m->tls_targets[i]);
	for (unsigned i = 0; i < m->naddrs; i++)
		w_addr(&w, F_ADDR, &m->addrs[i]);
	for (unsigned i = 0; i < m->nqueriers; i++)
		w_addr(&w, F_QUERIER, &m->queriers[i]);
	for (unsigned i = 0; i < m->npins; i++)
		w_field(&w, F_PIN, m->pins[i], PDB_PIN_LEN);
	w_text(&w, F_CONTACT, m->contact, PDB_TEXT_MAX);
	w_text(&w, F_NOTE, m->note, PDB_TEXT_MAX);
	w_policy(&w, &m->policy);
	return w_finish(&w, len);
}

int pdb_community_encode(const struct pdb_community *c, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w;

	if (!c || !buf || !len)
		return -EINVAL;
	if (c->nch > PDB_MAX_TARGETS || c->nlevels > 256)
		return PDB_ELIMIT;
	if (c->fallback > PDB_FALLBACK_ALWAYS || c->inactive > PDB_INACTIVE_NXDOMAIN ||
	    c->identity > PDB_IDENTITY_CERTIFICATE || c->deny_text > PDB_DENY_TEXT_RULE)
		return -EINVAL;
	w_start(&w, buf, cap, PDB__KIND_COMMUNITY);
	if (c->zone.len)
		w_name(&w, F_ZONE, c->zone);
	for (unsigned i = 0; i < c->nch; i++) {
		const struct pdb_clearinghouse *h = &c->ch[i];
		if (h->port == 0 && h->tls_port == 0)
			w_fail(&w, -EINVAL);
		w_check(&w, h->host, PDB_NAME_MAX, PDB_EBADNAME, name_norm);
		w_head(&w, F_CH, 4 + (size_t)h->host.len);
		w_u16(&w, h->port);
		w_u16(&w, h->tls_port);
		w_bytes(&w, h->host.p, h->host.len);
	}
	uint8_t fb = (uint8_t)c->fallback, in = (uint8_t)c->inactive;
	w_field(&w, F_FALLBACK, &fb, 1);
	w_field(&w, F_INACTIVE, &in, 1);
	/* Written only when set, so a store made before these settings
	 * existed re-encodes to the same bytes. */
	uint8_t id = (uint8_t)c->identity, dt = (uint8_t)c->deny_text;
	if (id)
		w_field(&w, F_IDENTITY, &id, 1);
	if (dt)
		w_field(&w, F_DENY_TEXT, &dt, 1);
	w_head(&w, F_TTL, 4);
	w_u32(&w, c->ttl);
	for (unsigned i = 0; i < c->nlevels; i++) {
		const struct pdb_level_name *l = &c->levels[i];
		if ((i > 0 && l->level <= c->levels[i - 1].level) || l->name.len == 0 ||
		    l->name.len > PDB_TAG_MAX)
			w_fail(&w, -EINVAL);
		w_head(&w, F_LEVEL_NAME, 1 + (size_t)l->name.len);
		w_u8(&w, l->level);
		w_bytes(&w, l->name.p, l->name.len);
	}
	w_policy(&w, &c->dflt);
	return w_finish(&w, len);
}

int pdb__audit_encode(const struct pdb_audit *e, pdb__audit_mac_fn *mac, void *mac_arg,
                      uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w;

	w_start(&w, buf, cap, PDB__KIND_AUDIT);
	w_head(&w, F_TIME, 8);
	w_i64(&w, e->time);
	w_text(&w, F_USER, e->user, PDB_TEXT_MAX);
	w_text(&w, F_COMMAND, e->command, PDB__AUDIT_TEXT_MAX);
	w_text(&w, F_CHANGE, e->change, PDB__AUDIT_TEXT_MAX);
	if (e->has_uid) {
		w_head(&w, F_UID, 4);
		w_u32(&w, e->uid);
	}
	if (e->has_loginuid) {
		w_head(&w, F_LOGINUID, 4);
		w_u32(&w, e->loginuid);
	}
	w_text(&w, F_SUDO_USER, e->sudo_user, PDB_TEXT_MAX);
	if (e->prev)
		w_field(&w, F_PREV, e->prev, PDB_AUDIT_HASH_LEN);
	w_text(&w, F_BROKEN, e->broken, PDB_TEXT_MAX);
	/* The MAC comes last and covers every byte before it, so that no
	 * field can be added, dropped or changed under it. */
	if (mac && !w.err) {
		uint8_t m[PDB_AUDIT_HASH_LEN];
		int rc = mac(mac_arg, w.p, w.len, m);
		if (rc != 0)
			return rc;
		w_field(&w, F_MAC, m, sizeof(m));
	}
	return w_finish(&w, len);
}

int pdb__change_encode(const struct pdb__change_rec *c, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w;

	w_start(&w, buf, cap, PDB__KIND_CHANGE);
	w_field(&w, F_CH_KIND, &c->kind, 1);
	if (c->name.len)
		w_str(&w, F_CH_NAME, c->name);
	if (c->other.len)
		w_str(&w, F_CH_OTHER, c->other);
	if (c->existed)
		w_field(&w, F_CH_BEFORE, c->before, c->before_len);
	return w_finish_max(&w, len, PDB__CHANGE_MAX);
}

int pdb__commit_encode(const struct pdb__commit_rec *h, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w;

	w_start(&w, buf, cap, PDB__KIND_COMMIT);
	w_field(&w, F_CH_FLAGS, &h->flags, 1);
	w_head(&w, F_CH_COUNT, 4);
	w_u32(&w, h->count);
	return w_finish(&w, len);
}

/* ---- reading ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
};

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)get_u16(p) << 16 | get_u16(p + 2);
}

static int64_t get_i64(const uint8_t *p)
{
	return (int64_t)((uint64_t)get_u32(p) << 32 | get_u32(p + 4));
}

static int r_start_max(struct rbuf *r, const void *buf, size_t len, uint8_t kind, size_t max)
{
	const uint8_t *t;

	*r = (struct rbuf){ .p = buf, .len = len, .off = 2 };
	if (!buf || len < 2 + CHECK_LEN || len > max || r->p[0] != kind ||
	    r->p[1] != PDB__RECORD_VERSION)
		return PDB_ECORRUPT;
	t = r->p + len - CHECK_LEN;
	if (t[0] != F_CHECK || get_u16(t + 1) != 4 || get_u32(t + 3) != pdb_fnv1a32(r->p, len - CHECK_LEN))
		return PDB_ECORRUPT;
	r->len = len - CHECK_LEN;
	return 0;
}

static int r_start(struct rbuf *r, const void *buf, size_t len, uint8_t kind)
{
	return r_start_max(r, buf, len, kind, PDB_RECORD_MAX);
}

/* Next field: 1 with *tag, *v, *n set; 0 at the end; PDB_ECORRUPT. */
static int r_next(struct rbuf *r, uint8_t *tag, const uint8_t **v, size_t *n)
{
	if (r->off == r->len)
		return 0;
	if (r->len - r->off < 3)
		return PDB_ECORRUPT;
	*tag = r->p[r->off];
	*n = get_u16(r->p + r->off + 1);
	if (r->len - r->off - 3 < *n)
		return PDB_ECORRUPT;
	*v = r->p + r->off + 3;
	r->off += 3 + *n;
	return 1;
}

bool pdb__name_plausible(const char *p, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > PDB_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (++label > PDB_LABEL_MAX)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

static bool tag_plausible(const uint8_t *v, size_t n)
{
	if (n == 0 || n > PDB_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = (char)v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':' || c == '_' || c == '/'))
			return false;
	}
	return true;
}

static pdb_str str_of(const uint8_t *v, size_t n)
{
	return (pdb_str){ .p = (const char *)v, .len = (uint16_t)n };
}

static int r_target(const uint8_t *v, size_t n, struct pdb_target *t)
{
	if (n < 7 || !pdb__name_plausible((const char *)v + 6, n - 6))
		return PDB_ECORRUPT;
	t->port = get_u16(v);
	t->priority = get_u16(v + 2);
	t->weight = get_u16(v + 4);
	t->host = str_of(v + 6, n - 6);
	return t->port ? 0 : PDB_ECORRUPT;
}

static int r_addr(const uint8_t *v, size_t n, struct pdb_addr *a)
{
	if (n < 2 || (v[0] != 4 && v[0] != 6) || n != 2 + addr_len(v[0]) ||
	    v[1] > addr_len(v[0]) * 8)
		return PDB_ECORRUPT;
	memset(a, 0, sizeof(*a));
	a->family = v[0];
	a->prefix = v[1];
	memcpy(a->bytes, v + 2, n - 2);
	return 0;
}

/* A policy field, if this is one: 1 consumed, 0 not a policy field. */
static int r_policy(struct pdb_policy *p, uint8_t tag, const uint8_t *v, size_t n)
{
	switch (tag) {
	case F_POL_SET:
		if (n != 1 || v[0] == 0 || (v[0] & ~7))
			return PDB_ECORRUPT;
		p->set = v[0];
		return 1;
	case F_POL_MIN:
		if (n != 1 || !(p->set & PDB_POLICY_MIN_LEVEL))
			return PDB_ECORRUPT;
		p->min_peer_level = v[0];
		return 1;
	case F_POL_REQUIRE:
		if (!(p->set & PDB_POLICY_REQUIRE) || p->nrequire >= PDB_MAX_TAGS ||
		    !tag_plausible(v, n))
			return PDB_ECORRUPT;
		p->require[p->nrequire++] = str_of(v, n);
		return 1;
	case F_POL_FORBID:
		if (!(p->set & PDB_POLICY_FORBID) || p->nforbid >= PDB_MAX_TAGS ||
		    !tag_plausible(v, n))
			return PDB_ECORRUPT;
		p->forbid[p->nforbid++] = str_of(v, n);
		return 1;
	}
	return 0;
}

static void policy_init(struct pdb_policy *p)
{
	p->set = 0;
	p->min_peer_level = 0;
	p->nrequire = p->nforbid = 0;
}

void pdb_member_init(struct pdb_member *m)
{
	m->status = PDB_ACTIVE;
	m->level = 0;
	m->not_after = 0;
	m->ntags = m->ntargets = m->ntls_targets = m->naddrs = m->nqueriers = m->npins = 0;
	m->contact = m->note = (pdb_str){ 0 };
	policy_init(&m->policy);
}

bool pdb_member_valid_at(const struct pdb_member *m, int64_t now)
{
	return m->status == PDB_ACTIVE && !(m->not_after && now >= m->not_after);
}

int64_t pdb_member_valid_until(const struct pdb_member *m)
{
	return m->status == PDB_ACTIVE ? m->not_after : 0;
}

unsigned pdb_member_targets(const struct pdb_member *m, bool tls, const struct pdb_target **t)
{
	*t = tls ? m->tls_targets : m->targets;
	return tls ? m->ntls_targets : m->ntargets;
}

bool pdb_member_pinned(const struct pdb_member *m, const uint8_t *spki)
{
	for (unsigned i = 0; spki && i < m->npins; i++)
		if (memcmp(m->pins[i], spki, PDB_PIN_LEN) == 0)
			return true;
	return false;
}

void pdb_community_init(struct pdb_community *c)
{
	c->zone = (pdb_str){ 0 };
	c->nch = 0;
	c->fallback = PDB_FALLBACK_ALLOWED;
	c->inactive = PDB_INACTIVE_CLEARINGHOUSE;
	c->identity = PDB_IDENTITY_CLAIM;
	c->deny_text = PDB_DENY_TEXT_GENERIC;
	c->ttl = 60;
	c->nlevels = 0;
	policy_init(&c->dflt);
}

int pdb_member_decode(const void *buf, size_t len, struct pdb_member *m)
{
	struct rbuf r;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	int rc;
	bool have_status = false, have_level = false;

	if (!m || r_start(&r, buf, len, PDB__KIND_MEMBER) != 0)
		return PDB_ECORRUPT;
	pdb_member_init(m);
	while ((rc = r_next(&r, &tag, &v, &n)) == 1) {
		switch (tag) {
		case F_STATUS:
			if (n != 1 || v[0] > PDB_REVOKED || have_status)
				return PDB_ECORRUPT;
			m->status = (enum pdb_status)v[0];
			have_status = true;
			break;
		case F_LEVEL:
			if (n != 1 || have_level)
				return PDB_ECORRUPT;
			m->level = v[0];
			have_level = true;
			break;
		case F_NOT_AFTER:
			if (n != 8 || (m->not_after = get_i64(v)) <= 0)
				return PDB_ECORRUPT;
			break;
		case F_TAG:
			if (m->ntags >= PDB_MAX_TAGS || !tag_plausible(v, n))
				return PDB_ECORRUPT;
			m->tags[m->ntags++] = str_of(v, n);
			break;
		case F_TARGET:
			if (m->ntargets >= PDB_MAX_TARGETS || r_target(v, n, &m->targets[m->ntargets++]))
				return PDB_ECORRUPT;
			break;
		case F_TLS_TARGET:
			if (m->ntls_targets >= PDB_MAX_TARGETS ||
			    r_target(v, n, &m->tls_targets[m->ntls_targets++]))
				return PDB_ECORRUPT;
			break;
		case F_ADDR:
			if (m->naddrs >= PDB_MAX_ADDRS || r_addr(v, n, &m->addrs[m->naddrs++]))
				return PDB_ECORRUPT;
			break;
		case F_QUERIER:
			if (m->nqueriers >= PDB_MAX_QUERIERS || r_addr(v, n, &m->queriers[m->nqueriers++]))
				return PDB_ECORRUPT;
			break;
		case F_PIN:
			if (m->npins >= PDB_MAX_PINS || n != PDB_PIN_LEN)
				return PDB_ECORRUPT;
			m->pins[m->npins++] = v;
			break;
		case F_CONTACT:
		case F_NOTE:
			if (n == 0 || n > PDB_TEXT_MAX)
				return PDB_ECORRUPT;
			*(tag == F_CONTACT ? &m->contact : &m->note) = str_of(v, n);
			break;
		default:
			rc = r_policy(&m->policy, tag, v, n);
			if (rc != 1)
				return PDB_ECORRUPT;
		}
	}
	if (rc < 0 || !have_status || !have_level)
		return PDB_ECORRUPT;
	return 0;
}

int pdb_community_decode(const void *buf, size_t len, struct pdb_community *c)
{
	struct rbuf r;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	int rc;

	if (!c || r_start(&r, buf, len, PDB__KIND_COMMUNITY) != 0)
		return PDB_ECORRUPT;
	pdb_community_init(c);
	while ((rc = r_next(&r, &tag, &v, &n)) == 1) {
		switch (tag) {
		case F_ZONE:
			if (!pdb__name_plausible((const char *)v, n))
				return PDB_ECORRUPT;
			c->zone = str_of(v, n);
			break;
		case F_CH: {
			struct pdb_clearinghouse *h;
			if (c->nch >= PDB_MAX_TARGETS || n < 5 ||
			    !pdb__name_plausible((const char *)v + 4, n - 4))
				return PDB_ECORRUPT;
			h = &c->ch[c->nch++];
			h->port = get_u16(v);
			h->tls_port = get_u16(v + 2);
			h->host = str_of(v + 4, n - 4);
			break;
		}
		case F_FALLBACK:
			if (n != 1 || v[0] > PDB_FALLBACK_ALWAYS)
				return PDB_ECORRUPT;
			c->fallback = (enum pdb_fallback)v[0];
			break;
		case F_INACTIVE:
			if (n != 1 || v[0] > PDB_INACTIVE_NXDOMAIN)
				return PDB_ECORRUPT;
			c->inactive = (enum pdb_inactive)v[0];
			break;
		case F_IDENTITY:
			if (n != 1 || v[0] > PDB_IDENTITY_CERTIFICATE)
				return PDB_ECORRUPT;
			c->identity = (enum pdb_identity)v[0];
			break;
		case F_DENY_TEXT:
			if (n != 1 || v[0] > PDB_DENY_TEXT_RULE)
				return PDB_ECORRUPT;
			c->deny_text = (enum pdb_deny_text)v[0];
			break;
		case F_TTL:
			if (n != 4)
				return PDB_ECORRUPT;
			c->ttl = get_u32(v);
			break;
		case F_LEVEL_NAME:
			if (n < 2 || n > 1 + PDB_TAG_MAX || c->nlevels >= 256 ||
			    (c->nlevels && v[0] <= c->levels[c->nlevels - 1].level))
				return PDB_ECORRUPT;
			c->levels[c->nlevels].level = v[0];
			c->levels[c->nlevels].name = str_of(v + 1, n - 1);
			c->nlevels++;
			break;
		default:
			rc = r_policy(&c->dflt, tag, v, n);
			if (rc != 1)
				return PDB_ECORRUPT;
		}
	}
	return rc < 0 ? PDB_ECORRUPT : 0;
}

int pdb__audit_decode(const void *buf, size_t len, struct pdb_audit *e, size_t *mac_at)
{
	struct rbuf r;
	uint8_t tag;
	const uint8_t *v;
	size_t n, at;
	int rc;

	if (r_start(&r, buf, len, PDB__KIND_AUDIT) != 0)
		return PDB_ECORRUPT;
	memset(e, 0, sizeof(*e));
	if (mac_at)
		*mac_at = 0;
	for (at = r.off; (rc = r_next(&r, &tag, &v, &n)) == 1; at = r.off) {
		/* Nothing may follow the MAC: it would not be covered. */
		if (e->mac)
			return PDB_ECORRUPT;
		switch (tag) {
		case F_TIME:
			if (n != 8)
				return PDB_ECORRUPT;
			e->time = get_i64(v);
			break;
		case F_USER:    e->user = str_of(v, n); break;
		case F_COMMAND: e->command = str_of(v, n); break;
		case F_CHANGE:  e->change = str_of(v, n); break;
		case F_SUDO_USER: e->sudo_user = str_of(v, n); break;
		case F_BROKEN:  e->broken = str_of(v, n); break;
		case F_UID:
		case F_LOGINUID:
			if (n != 4)
				return PDB_ECORRUPT;
			if (tag == F_UID)
				e->uid = get_u32(v), e->has_uid = true;
			else
				e->loginuid = get_u32(v), e->has_loginuid = true;
			break;
		case F_PREV:
		case F_MAC:
			if (n != PDB_AUDIT_HASH_LEN)
				return PDB_ECORRUPT;
			if (tag == F_PREV) {
				e->prev = v;
			} else {
				e->mac = v;
				if (mac_at)
					*mac_at = at;
			}
			break;
		default:        return PDB_ECORRUPT;
		}
	}
	return rc < 0 ? PDB_ECORRUPT : 0;
}

/* The shape of an item: which names its kind has, and a before-image an
 * override can hold.  Whether a member or community before-image decodes
 * is left to whoever reads it (and to pdb_verify). */
static int change_check(const struct pdb__change_rec *c, bool have_kind)
{
	if (!have_kind)
		return PDB_ECORRUPT;
	switch (c->kind) {
	case PDB_CHANGE_MEMBER:
		if (!c->name.len || c->other.len || !pdb__name_plausible(c->name.p, c->name.len))
			return PDB_ECORRUPT;
		return 0;
	case PDB_CHANGE_OVERRIDE:
		if (!c->name.len || !c->other.len || !pdb__name_plausible(c->name.p, c->name.len) ||
		    !pdb__name_plausible(c->other.p, c->other.len))
			return PDB_ECORRUPT;
		if (c->existed && (c->before_len != 1 || (c->before[0] != PDB_OVERRIDE_ALLOW &&
		                                          c->before[0] != PDB_OVERRIDE_DENY)))
			return PDB_ECORRUPT;
		return 0;
	case PDB_CHANGE_COMMUNITY:
		return c->name.len || c->other.len ? PDB_ECORRUPT : 0;
	}
	return PDB_ECORRUPT;
}

int pdb__change_decode(const void *buf, size_t len, struct pdb__change_rec *c)
{
	struct rbuf r;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	bool have_kind = false;
	int rc;

	if (r_start_max(&r, buf, len, PDB__KIND_CHANGE, PDB__CHANGE_MAX) != 0)
		return PDB_ECORRUPT;
	memset(c, 0, sizeof(*c));
	while ((rc = r_next(&r, &tag, &v, &n)) == 1) {
		switch (tag) {
		case F_CH_KIND:
			if (n != 1 || have_kind)
				return PDB_ECORRUPT;
			c->kind = v[0];
			have_kind = true;
			break;
		case F_CH_NAME:
			if (n == 0 || n > PDB_NAME_MAX || c->name.len)
				return PDB_ECORRUPT;
			c->name = str_of(v, n);
			break;
		case F_CH_OTHER:
			if (n == 0 || n > PDB_NAME_MAX || c->other.len)
				return PDB_ECORRUPT;
			c->other = str_of(v, n);
			break;
		case F_CH_BEFORE:
			if (n == 0 || n > PDB_RECORD_MAX || c->existed)
				return PDB_ECORRUPT;
			c->existed = true;
			c->before = v;
			c->before_len = n;
			break;
		default:
			return PDB_ECORRUPT;
		}
	}
	return rc < 0 ? PDB_ECORRUPT : change_check(c, have_kind);
}

int pdb__commit_decode(const void *buf, size_t len, struct pdb__commit_rec *h)
{
	struct rbuf r;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	int rc, have = 0;

	if (r_start(&r, buf, len, PDB__KIND_COMMIT) != 0)
		return PDB_ECORRUPT;
	memset(h, 0, sizeof(*h));
	while ((rc = r_next(&r, &tag, &v, &n)) == 1) {
		if (tag == F_CH_FLAGS && n == 1 && !(have & 1) && !(v[0] & ~PDB__COMMIT_EVERYTHING)) {
			h->flags = v[0];
			have |= 1;
		} else if (tag == F_CH_COUNT && n == 4 && !(have & 2)) {
			h->count = get_u32(v);
			have |= 2;
		} else {
			return PDB_ECORRUPT;
		}
	}
	if (rc < 0 || have != 3 || ((h->flags & PDB__COMMIT_EVERYTHING) && h->count))
		return PDB_ECORRUPT;
	return 0;
}

/* ---- names of enumerations ---- */

pdb_str pdb_level_name(const struct pdb_community *c, uint8_t level)
{
	for (unsigned i = 0; c && i < c->nlevels; i++)
		if (c->levels[i].level == level)
			return c->levels[i].name;
	return (pdb_str){ 0 };
}

const char *pdb_status_name(enum pdb_status s)
{
	static const char *const names[] = { "active", "suspended", "revoked" };
	return (unsigned)s < 3 ? names[s] : "?";
}

const char *pdb_fallback_name(enum pdb_fallback f)
{
	static const char *const names[] = { "never", "allowed", "always" };
	return (unsigned)f < 3 ? names[f] : "?";
}

const char *pdb_inactive_name(enum pdb_inactive i)
{
	static const char *const names[] = { "clearinghouse", "nxdomain" };
	return (unsigned)i < 2 ? names[i] : "?";
}

const char *pdb_identity_name(enum pdb_identity i)
{
	static const char *const names[] = { "claim", "certificate" };
	return (unsigned)i < 2 ? names[i] : "?";
}

const char *pdb_deny_text_name(enum pdb_deny_text t)
{
	static const char *const names[] = { "generic", "rule" };
	return (unsigned)t < 2 ? names[t] : "?";
}
