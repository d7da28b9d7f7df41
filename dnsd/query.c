/* Answering one query: dnsd_answer -> a cached answer, or answer_full ->
 * answer_query -> the policy answers of policy.c or the zone's own data
 * (answer.c) -> fit, with the protocol manners of RFC 1034/1035, 6891
 * (EDNS), 2308 (negative answers) and 8482 (ANY). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "edns.h"
#include "internal.h"

/* DNS flag day 2020: the UDP payload we offer and accept. */
#define EDNS_PAYLOAD 1232

int dnsd_engine_new(const dnsd_zones *zones, pdb_t *db, dnsd_engine **out)
{
	dnsd_engine *e;
	int rc;

	if (!zones || !db || !out)
		return -EINVAL;
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->zones = zones;
	e->db = db;
	if (!(e->own_views = malloc(sizeof(*e->own_views))) ||
	    dnsd__views_init(e->own_views) != 0) {
		free(e->own_views);
		free(e);
		return -ENOMEM;
	}
	e->views = e->own_views;
	if (!(e->cache = dnsd__cache_new(DNSD_CACHE_SIZE_DEFAULT)) ||
	    !(e->wire = malloc(sizeof(*e->wire)))) {
		rc = -ENOMEM;
		goto fail;
	}
	dnsd__wire_init(e->wire);
	if ((rc = pdb_read_begin(db, &e->txn)) != 0)
		goto fail;
	pdb_read_reset(e->txn);
	*out = e;
	return 0;
fail:
	free(e->wire);
	dnsd__cache_free(e->cache);
	dnsd__views_fini(e->own_views);
	free(e->own_views);
	free(e);
	return rc;
}

void dnsd_engine_free(dnsd_engine *e)
{
	if (!e)
		return;
	pdb_read_end(e->txn);
	dnsd__cache_free(e->cache);
	free(e->wire);
	dnsd__signer_free(e->signer);
	if (e->own_views) {
		dnsd__views_fini(e->own_views);
		free(e->own_views);
	}
	dnsd__changed_free(&e->epoch.changed);
	free(e);
}

void dnsd_engine_share_views(dnsd_engine *e, dnsd_views *v)
{
	if (!e || !v)
		return;
	if (e->own_views) {
		dnsd__views_fini(e->own_views);
		free(e->own_views);
		e->own_views = NULL;
	}
	e->views = v;
	e->epoch.views_built = false;
}

int dnsd_engine_set_cache_size(dnsd_engine *e, size_t bytes)
{
	struct dnsd_cache *c;

	if (!e || bytes < DNSD_CACHE_SIZE_MIN || bytes > DNSD_CACHE_SIZE_MAX)
		return -EINVAL;
	if (!(c = dnsd__cache_new(bytes)))
		return -ENOMEM;
	dnsd__cache_free(e->cache);
	e->cache = c;
	return 0;
}

void dnsd_engine_set_keys(dnsd_engine *e, const dnsd_tsig_keys *keys)
{
	if (e)
		e->keys = keys;
}

void dnsd_engine_set_zones(dnsd_engine *e, const dnsd_zones *zones)
{
	if (e && zones) {
		e->zones = zones;
		/* Every cached answer and the epoch refer to the old zones. */
		e->zones_gen++;
	}
}

/* ---- the pipeline ---- */

/* Take a fresh snapshot of the policy: every query sees the newest
 * commit, so a change is in the very next answer. */
static int policy_snapshot(dnsd_engine *e, uint64_t *serial)
{
	int rc;

	if ((rc = pdb_read_renew(e->txn)) != 0 || (rc = pdb_serial(e->txn, serial)) != 0 ||
	    (rc = dnsd__epoch_refresh(e, *serial)) != 0)
		return rc;
	/* Cheap: only the events since the commit are read. */
	if ((rc = pdb_served_serial(e->txn, (int64_t)time(NULL), &e->epoch.served,
	                            &e->epoch.next_event)) != 0)
		return rc;
	e->epoch.version = pdb_snapshot_version(e->txn);
	ch_gauge_set(&e->stats.serial, *serial);
	return 0;
}

void dnsd__batch_begin(dnsd_engine *e)
{
	e->in_batch = false;
	e->batch_now = dnsd__now(e);
	e->batch_version = pdb_version(e->db);
	e->in_batch = true;
}

void dnsd__batch_end(dnsd_engine *e)
{
	e->in_batch = false;
}

/* Is the epoch still the newest commit?  Then a cached answer is right
 * without a snapshot: the store's version moves with every commit. */
static bool epoch_current(const dnsd_engine *e)
{
	uint64_t version = e->in_batch ? e->batch_version : pdb_version(e->db);
	int64_t now;

	if (!e->epoch.serial || e->epoch.zones_gen != e->zones_gen || version != e->epoch.version)
		return false;
	if (!e->epoch.next_event)
		return true;
	now = e->in_batch ? e->batch_now : (int64_t)time(NULL);
	return now < e->epoch.next_event;
}

static int answer_query(struct dnsd_query *x)
{
	const struct dnsd_zone *z = dnsd__zone_find(x->e->zones, x->qname);
	bool done = false;
	int rc;

	ldns_pkt_set_aa(x->r, true);
	if ((rc = dnsd__tlsa_answer(x, z, &done)) != 0 || done ||
	    (rc = dnsd__policy_answer(x, z, &done)) != 0 || done)
		return rc;
	if (!z) {
		ldns_pkt_set_aa(x->r, false);
		ldns_pkt_set_rcode(x->r, LDNS_RCODE_REFUSED);
		return 0;
	}
	dnsd__answer_static(x, z);
	return 0;
}

/* ---- the message, checked on the wire ---- */

/* What a walk over a whole query found. */
struct msg_scan {
	uint16_t qtype;               /* of the first question */
	unsigned nopt, ntsig, nother; /* records in the additional section */
	bool opt_ok;                  /* one OPT, well formed: reply with one */
	bool do_bit;
	bool tsig_last;
};

/* Is the OPT record at off (rdata of rdlen bytes at rd) well formed: the
 * root as owner, options that fill the rdata exactly (RFC 6891 6.1.2)? */
static bool opt_valid(const uint8_t *m, size_t off, size_t rd, size_t rdlen)
{
	size_t i = 0;

	if (m[off] != 0)
		return false;
	while (i < rdlen) {
		if (rdlen - i < 4)
			return false;
		i += 4 + (size_t)ldns_read_uint16(m + rd + i + 2);
	}
	return i == rdlen;
}

/* Walk the query: every section, every name.  Returns false for a message
 * that is malformed (cut short, a bad name, bytes left over); what was
 * found up to there is in s either way. */
static bool scan_query(const uint8_t *q, size_t len, struct msg_scan *s)
{
	size_t off = LDNS_HEADER_SIZE;
	unsigned before_ar = (unsigned)LDNS_ANCOUNT(q) + LDNS_NSCOUNT(q);
	unsigned total = before_ar + LDNS_ARCOUNT(q);

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < LDNS_QDCOUNT(q); i++) {
		if (!dnsd__name_read(q, len, &off, NULL, NULL) || len - off < 4)
			return false;
		if (i == 0)
			s->qtype = ldns_read_uint16(q + off);
		off += 4;
	}
	for (unsigned i = 0; i < total; i++) {
		size_t at = off;
		if (!dnsd__name_read(q, len, &off, NULL, NULL) || len - off < 10)
			return false;
		uint16_t type = ldns_read_uint16(q + off);
		size_t rdlen = ldns_read_uint16(q + off + 8);
		if (len - off - 10 < rdlen)
			return false;
		if (i >= before_ar && type == LDNS_RR_TYPE_OPT) {
			s->opt_ok = ++s->nopt == 1 && opt_valid(q, at, off + 10, rdlen);
			s->do_bit = q[off + 6] & 0x80;
		} else if (i >= before_ar && type == LDNS_RR_TYPE_TSIG) {
			s->ntsig++;
			s->tsig_last = i == total - 1;
		} else if (i >= before_ar) {
			s->nother++;
		}
		off += 10 + rdlen;
	}
	if (s->nopt > 1)
		s->opt_ok = false;
	return off == len;
}

/* A reply without a question, to a message dnsd cannot or will not
 * answer: the header, with rcode (12 bits), and an OPT when the query had
 * a valid one (RFC 6891 6.1.1), carrying the upper bits of rcode. */
static size_t short_reply(const uint8_t *q, const struct msg_scan *s, unsigned rcode, uint8_t *out)
{
	size_t n = LDNS_HEADER_SIZE;

	memset(out, 0, LDNS_HEADER_SIZE);
	memcpy(out, q, 2);                        /* ID */
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
	out[3] = rcode & 0x0f;
	if (s->opt_ok) {
		/* Owner root, type OPT, class our payload, TTL: extended RCODE,
		 * version 0, DO as asked (RFC 3225), no options. */
		uint8_t *o = out + n;
		o[0] = 0;
		ldns_write_uint16(o + 1, LDNS_RR_TYPE_OPT);
		ldns_write_uint16(o + 3, EDNS_PAYLOAD);
		o[5] = (uint8_t)(rcode >> 4);
		o[6] = 0;
		o[7] = s->do_bit ? 0x80 : 0;
		o[8] = 0;
		ldns_write_uint16(o + 9, 0);
		ldns_write_uint16(out + 10, 1);
		n += 11;
	}
	return n;
}

/* The RCODE for a query dnsd will not answer, or 0 to go on.  The
 * additional section is checked here, before ldns sees it: a section cut
 * short is malformed (and ldns 1.8.3 leaks the record it was reading when
 * it finds that out, as the fuzzer showed), so is more than one OPT (RFC
 * 6891 6.1.1) or a TSIG that is not the last record (RFC 8945 5.1); any
 * other record there (SIG(0)) asks for something dnsd does not offer. */
static unsigned check_query(const uint8_t *q, size_t len, struct msg_scan *s)
{
	if (!scan_query(q, len, s))
		return LDNS_RCODE_FORMERR;
	if (LDNS_OPCODE_WIRE(q) != LDNS_PACKET_QUERY)
		return LDNS_RCODE_NOTIMPL;
	/* IXFR carries the client's SOA in the authority section (RFC 1995
	 * 3); it is then refused like AXFR. */
	if (LDNS_QDCOUNT(q) != 1 || LDNS_ANCOUNT(q) != 0 ||
	    (LDNS_NSCOUNT(q) != 0 && s->qtype != LDNS_RR_TYPE_IXFR))
		return LDNS_RCODE_FORMERR;
	if (s->nopt > 1 || (s->nopt && !s->opt_ok) || s->ntsig > 1 || (s->ntsig && !s->tsig_last))
		return LDNS_RCODE_FORMERR;
	return s->nother ? LDNS_RCODE_REFUSED : 0;
}

static ldns_pkt *new_response(const ldns_pkt *q)
{
	ldns_pkt *r = ldns_pkt_new();

	if (!r)
		return NULL;
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(r, ldns_pkt_rd(q));
	ldns_pkt_set_cd(r, ldns_pkt_cd(q));
	ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
	if (ldns_pkt_edns(q)) {
		ldns_pkt_set_edns_udp_size(r, EDNS_PAYLOAD);
		ldns_pkt_set_edns_do(r, ldns_pkt_edns_do(q));
	}
	return r;
}

/* ---- the fast path: plain queries, parsed by hand, answered from the
 * cache ---- */

/* Eight bytes in lower case.  Per byte b below 128, b + (128 - 'A') has
 * bit 7 set from 'A' up and b + (127 - 'Z') from above 'Z' up; no carry
 * leaves a byte.  Bytes above 127 are no letters. */
static uint64_t lower8(uint64_t w)
{
	const uint64_t high = 0x8080808080808080ull, low7 = 0x7f7f7f7f7f7f7f7full;
	const uint64_t ones = 0x0101010101010101ull;
	uint64_t b7 = w & low7;

	return w | ((((b7 + ones * (128 - 'A')) ^ (b7 + ones * (127 - 'Z'))) & ~w & high) >> 2);
}

/* Copy the n bytes of a wire name to dst in lower case, eight at a time.
 * Length bytes (0 to 63) are below 'A' and pass unchanged, so the name
 * needs no walk label by label.  The last step overlaps the one before
 * it rather than take fewer bytes: fixed-size copies are single moves. */
static void name_lower(uint8_t *dst, const uint8_t *src, size_t n)
{
	uint64_t w;

	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			dst[i] = (uint8_t)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
		return;
	}
	for (size_t i = 0; i + 8 < n; i += 8) {
		memcpy(&w, src + i, 8);
		w = lower8(w);
		memcpy(dst + i, &w, 8);
	}
	memcpy(&w, src + n - 8, 8);
	w = lower8(w);
	memcpy(dst + n - 8, &w, 8);
}

static bool parse_plain(const uint8_t *q, size_t len, struct plain_query *p)
{
	size_t off = LDNS_HEADER_SIZE;
	/* The name's last byte (its root label) lies before this: in the
	 * message, and at most 255 bytes from the name's start. */
	size_t end = len < LDNS_HEADER_SIZE + 255 ? len : LDNS_HEADER_SIZE + 255;
	uint8_t l;

	if (LDNS_QDCOUNT(q) != 1 || LDNS_ANCOUNT(q) || LDNS_NSCOUNT(q) || LDNS_ARCOUNT(q) > 1)
		return false;
	/* The labels' lengths only: no pointer (a question has nothing
	 * before it to point to). */
	while (off < end && (l = q[off]) != 0) {
		if (l > 63)
			return false;
		off += 1u + l;
	}
	if (off >= end)
		return false;
	off++;   /* the root label */
	p->qname_len = off - LDNS_HEADER_SIZE;
	if (len - off < 4 || ldns_read_uint16(q + off + 2) != LDNS_RR_CLASS_IN)
		return false;
	name_lower(p->key.qname, q + LDNS_HEADER_SIZE, p->qname_len);
	p->qtype = ldns_read_uint16(q + off);
	off += 4;
	p->edns = p->do_bit = false;
	p->payload = 0;   /* not read without EDNS, but never indeterminate */
	if (LDNS_ARCOUNT(q) == 1) {
		/* OPT: root owner, type 41, class = payload, TTL = ext-rcode,
		 * version, flags; rdata of rdlength. */
		if (len - off < 11 || q[off] != 0 || ldns_read_uint16(q + off + 1) != LDNS_RR_TYPE_OPT ||
		    q[off + 6] != 0)
			return false;
		p->edns = true;
		p->payload = ldns_read_uint16(q + off + 3);
		p->do_bit = q[off + 7] & 0x80;
		off += 11 + ldns_read_uint16(q + off + 9);
	}
	return off == len;
}

/* The largest response the client takes (RFC 6891 6.2.5). */
static size_t size_limit(const struct dnsd_client *c, bool edns, uint16_t payload)
{
	size_t n = edns ? payload : 512;

	if (c->tcp)
		return DNSD_MSG_MAX;
	if (n < 512)
		n = 512;
	return n > EDNS_PAYLOAD ? EDNS_PAYLOAD : n;
}

/* Is name (uncompressed, lower case) at or below apex? */
static bool name_below(const uint8_t *name, size_t nlen, const uint8_t *apex, size_t alen)
{
	size_t pos = 0;

	while (nlen - pos > alen)
		pos += 1u + name[pos];
	return nlen - pos == alen && memcmp(name + pos, apex, alen) == 0;
}

/* One record of a response being fitted. */
struct fit_rr {
	size_t at, end;          /* its bytes */
	uint16_t type;
	uint16_t set_type;       /* type, or for an RRSIG the type it covers */
	uint8_t owner[255];      /* uncompressed, lower case */
	size_t owner_len;
};

static bool fit_rr_read(const uint8_t *m, size_t len, size_t *off, struct fit_rr *rr)
{
	rr->at = *off;
	if (!dnsd__name_read(m, len, off, rr->owner, &rr->owner_len) || len - *off < 10)
		return false;
	rr->type = ldns_read_uint16(m + *off);
	size_t rdlen = ldns_read_uint16(m + *off + 8);
	if (len - *off - 10 < rdlen)
		return false;
	rr->set_type = rr->type == LDNS_RR_TYPE_RRSIG && rdlen >= 2 ?
	               ldns_read_uint16(m + *off + 10) : rr->type;
	*off += 10 + rdlen;
	rr->end = *off;
	return true;
}

/* Where the parts of a response are, for fit(). */
struct fit_plan {
	size_t head;             /* the end of the question */
	size_t add;              /* the start of the additional section */
	size_t tail;             /* the start of OPT and TSIG, which ldns writes last */
	unsigned nadd;           /* additional records before the tail */
	bool have_opt;
	struct fit_rr opt;
	uint8_t cut[255];        /* a referral's zone cut, for its glue */
	size_t cut_len;          /* 0: no referral */
};

/* Find the parts of a response ldns wrote.  False if it is not as ldns
 * writes (pl->head and the OPT are good as far as they were found). */
static bool fit_scan(const uint8_t *wire, size_t len, struct fit_plan *pl)
{
	struct fit_rr rr;
	size_t off = LDNS_HEADER_SIZE;
	bool referral = !LDNS_AA_WIRE(wire) && LDNS_ANCOUNT(wire) == 0 && LDNS_RCODE_WIRE(wire) == 0;

	memset(pl, 0, sizeof(*pl));
	pl->head = off;
	for (unsigned i = 0; i < LDNS_QDCOUNT(wire); i++) {
		if (!dnsd__name_read(wire, len, &off, NULL, NULL) || len - off < 4)
			return false;
		off += 4;
	}
	pl->head = off;
	for (unsigned i = 0; i < (unsigned)LDNS_ANCOUNT(wire) + LDNS_NSCOUNT(wire); i++) {
		if (!fit_rr_read(wire, len, &off, &rr))
			return false;
		if (referral && rr.type == LDNS_RR_TYPE_NS) {
			memcpy(pl->cut, rr.owner, rr.owner_len);
			pl->cut_len = rr.owner_len;
		}
	}
	pl->add = off;
	pl->tail = len;
	for (unsigned i = 0; i < LDNS_ARCOUNT(wire); i++) {
		if (!fit_rr_read(wire, len, &off, &rr))
			return false;
		if (rr.type == LDNS_RR_TYPE_OPT || rr.type == LDNS_RR_TYPE_TSIG) {
			if (pl->tail == len)
				pl->tail = rr.at;
			if (rr.type == LDNS_RR_TYPE_OPT) {
				pl->opt = rr;
				pl->have_opt = true;
			}
		} else if (pl->tail != len) {
			return false;   /* a record after the tail */
		} else {
			pl->nadd = i + 1;
		}
	}
	return off == len;
}

/* The end of the longest prefix of the additional section that splits no
 * RRset and fits in limit with the tail; *n is how many records it holds.
 * 0 if what may not go (a referral's glue inside the cut) is not in it. */
static size_t fit_keep(const uint8_t *wire, size_t len, const struct fit_plan *pl, size_t limit,
                       unsigned *n)
{
	struct fit_rr rr, prev = { 0 };
	size_t off = pl->add, tail_len = len - pl->tail;
	size_t keep = off, need = off;   /* nothing kept, nothing needed yet */

	*n = 0;
	for (unsigned i = 0; i < pl->nadd; i++) {
		(void)fit_rr_read(wire, len, &off, &rr);   /* read once by fit_scan */
		/* An RRSIG follows its RRset (sign.c) and goes with it. */
		if (i > 0 && (rr.set_type != prev.set_type || rr.owner_len != prev.owner_len ||
		              memcmp(rr.owner, prev.owner, rr.owner_len) != 0) &&
		    rr.at + tail_len <= limit) {
			keep = rr.at;
			*n = i;
		}
		if (pl->cut_len && (rr.type == LDNS_RR_TYPE_A || rr.type == LDNS_RR_TYPE_AAAA) &&
		    name_below(rr.owner, rr.owner_len, pl->cut, pl->cut_len))
			need = rr.end;
		prev = rr;
	}
	return keep >= need && keep + tail_len <= limit ? keep : 0;
}

/* Copy a response (as ldns wrote it) out, within limit bytes.  What does
 * not fit goes in this order (RFC 2181 9): whole RRsets of the additional
 * section, from the last, since they only spare the client a query; the
 * OPT stays (RFC 6891 7).  TC is set only when what the answer needs does
 * not fit: the answer and authority sections, and the glue of a referral
 * that lies inside the delegated zone (RFC 9471); then the reply is the
 * header, the question and the OPT, and the client asks again over TCP.
 * Names are compressed only backwards, so cutting the additional section
 * short leaves every pointer good; each (owner, type) is in it once, in a
 * row, so a cut between two records of different owner or type splits no
 * RRset; an RRSIG counts as of the type it covers, so it goes with its
 * RRset, never without it. */
static size_t fit(const uint8_t *wire, size_t len, size_t limit, uint8_t *out, size_t cap)
{
	struct fit_plan pl;
	size_t keep = 0, n;
	unsigned nkeep = 0;

	if (limit > cap)
		limit = cap;
	if (len <= limit) {
		memcpy(out, wire, len);
		return len;
	}
	if (fit_scan(wire, len, &pl))
		keep = fit_keep(wire, len, &pl, limit, &nkeep);
	if (keep) {
		memcpy(out, wire, keep);
		memcpy(out + keep, wire + pl.tail, len - pl.tail);
		ldns_write_uint16(out + 10, (uint16_t)(nkeep + LDNS_ARCOUNT(wire) - pl.nadd));
		return keep + (len - pl.tail);
	}
	memcpy(out, wire, pl.head);
	n = pl.head;
	if (pl.have_opt) {
		memcpy(out + n, wire + pl.opt.at, pl.opt.end - pl.opt.at);
		n += pl.opt.end - pl.opt.at;
	}
	LDNS_TC_SET(out);
	ldns_write_uint16(out + 6, 0);
	ldns_write_uint16(out + 8, 0);
	ldns_write_uint16(out + 10, pl.have_opt ? 1 : 0);
	return n;
}

/* The key's fields around the qname parse_plain put in it.  Only the
 * bytes up to the end of the qname are hashed and compared, and the
 * fields before it have no padding between them: nothing to clear. */
_Static_assert(offsetof(struct dnsd_cache_key, qname) ==
               sizeof(unsigned) + sizeof(int32_t) + sizeof(uint16_t) + 2 + sizeof(uint32_t),
               "no padding before the qname of a cache key");
_Static_assert(offsetof(struct dnsd_cache_key, qname) % 8 == 0,
               "a key's name starts on a word of the key (see hash_of)");

static void make_key(const dnsd_engine *e, struct plain_query *p, int32_t view)
{
	struct dnsd_cache_key *k = &p->key;

	k->zones_gen = e->zones_gen;
	k->view = view;
	k->qtype = p->qtype;
	k->edns = p->edns;
	k->do_bit = p->do_bit;
	k->qname_len = (uint32_t)p->qname_len;
}

/* Do answers depend on the querier's view? */
static bool views_needed(const dnsd_engine *e)
{
	return e->epoch.have_c && e->epoch.c.fallback == PDB_FALLBACK_ALLOWED;
}

/* The newest snapshot, and with it, when answers depend on views, the view
 * map held at its serial (dnsd__views_done lets go).  A commit that comes
 * between the two, which another thread has already brought the map to,
 * means a newer snapshot: a few tries at most, each a commit apart. */
static int snapshot_in_views(dnsd_engine *e, uint64_t *serial)
{
	int rc;

	for (int tries = 0;; tries++) {
		if ((rc = policy_snapshot(e, serial)) != 0 || !views_needed(e) ||
		    (rc = dnsd__views_build(e)) != DNSD__EVIEWS_AHEAD || tries == 8)
			return rc;
		pdb_read_reset(e->txn);
	}
}

/* The view that goes into the key: only when the fallback depends on it.
 * The view map is held (snapshot_in_views). */
static int key_view(dnsd_engine *e, const struct dnsd_client *c, int32_t *view)
{
	*view = views_needed(e) ? dnsd__view_of(e, c) : -1;
	return 0;
}

/* The view of c's key when the epoch is current and its views are built
 * as it needs: the fast path, which asks no snapshot.  False: the query
 * takes the full path. */
static bool fast_view(dnsd_engine *e, const struct dnsd_client *c, int32_t *view)
{
	*view = -1;
	if (!epoch_current(e) || e->epoch.views_built != views_needed(e))
		return false;
	if (e->epoch.views_built)
		*view = dnsd__view_of(e, c);
	return *view != DNSD__VIEW_UNKNOWN;
}

void dnsd__prepare(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                   struct dnsd_prepared *pq)
{
	int32_t view;

	pq->hash = 0;
	if (qlen < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q) || LDNS_OPCODE_WIRE(q) != LDNS_PACKET_QUERY ||
	    !parse_plain(q, qlen, &pq->p) || !fast_view(e, c, &view))
		return;
	make_key(e, &pq->p, view);
	pq->hash = dnsd__cache_touch_set(e->cache, &pq->p.key);
}

void dnsd__prefetch_entry(dnsd_engine *e, uint64_t hash)
{
	if (hash)
		dnsd__cache_touch_entry(e->cache, hash);
}

/* A cached response, made this query's: its ID, RD and CD bits, and the
 * qname's case in the question (and in every name compressed to it). */
static size_t serve_cached(const uint8_t *q, const struct plain_query *p, const uint8_t *wire,
                           size_t len, const struct dnsd_client *c, uint8_t *out, size_t cap)
{
	size_t n = fit(wire, len, size_limit(c, p->edns, p->payload), out, cap);

	memcpy(out, q, 2);
	out[2] = (uint8_t)((out[2] & ~0x01) | (q[2] & 0x01));
	out[3] = (uint8_t)((out[3] & ~0x10) | (q[3] & 0x10));
	memcpy(out + LDNS_HEADER_SIZE, q + LDNS_HEADER_SIZE, p->qname_len);
	return n;
}

/* Answer from the cache if the key for view (made into pq->p.key) is
 * there.  A key dnsd__prepare made is used as it is, with its hash, when
 * it was made for this view and these zones; else it is made anew. */
static bool from_cache(dnsd_engine *e, const uint8_t *q, struct dnsd_prepared *pq, int32_t view,
                       const struct dnsd_client *c, uint8_t *out, size_t cap, size_t *outlen,
                       enum dnsd_outcome *outcome)
{
	struct plain_query *p = &pq->p;
	const struct dnsd_cache_deps *deps;
	const uint8_t *hit;
	int64_t until;
	size_t len;
	uint8_t tag;

	if (pq->hash && p->key.view == view && p->key.zones_gen == e->zones_gen) {
		hit = dnsd__cache_get_hashed(e->cache, &p->key, pq->hash, &len, &until, &deps, &tag);
	} else {
		pq->hash = 0;
		make_key(e, p, view);
		hit = dnsd__cache_get(e->cache, &p->key, &len, &until, &deps, &tag);
	}
	if (!hit || !dnsd__epoch_holds(&e->epoch, deps))
		return false;
	/* The clock is read only for answers that end at a time (a member's
	 * not-after, every signed answer): a vDSO call, not a system call. */
	if (until && dnsd__now(e) >= until)
		return false;
	*outlen = serve_cached(q, p, hit, len, c, out, cap);
	*outcome = (enum dnsd_outcome)tag;
	ch_counter_add(&e->stats.cache_hits, 1);
	return true;
}

/* ---- the full path ---- */

/* Classes of RFC 1035 and 2136; any other value is a malformed query. */
static bool known_class(ldns_rr_class c)
{
	return c == LDNS_RR_CLASS_IN || c == LDNS_RR_CLASS_CH || c == LDNS_RR_CLASS_HS ||
	       c == LDNS_RR_CLASS_NONE || c == LDNS_RR_CLASS_ANY;
}

/* How a response may be cut down for the client that asked. */
struct fit_info {
	bool edns;
	uint16_t payload;
};

/* Answer with ldns into wire (DNSD_MSG_MAX bytes), whole.  A query whose
 * TSIG failed (tsig_error) gets NOTAUTH and nothing else (RFC 8945 5.3.2);
 * its TSIG is added by the caller, as for every signed query. */
static int answer_full(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                       uint64_t serial, int snap_rc, uint16_t tsig_error, uint8_t *wire,
                       size_t *wlen, bool *cacheable, int64_t *until, struct dnsd_cache_deps *deps,
                       struct fit_info *fi, enum dnsd_outcome *outcome)
{
	struct dnsd_query x = { .e = e, .txn = e->txn, .client = c, .serial = serial,
	                        .served = e->epoch.served, .grace = e->epoch.grace,
	                        .deps = { .serial = serial, .served = e->epoch.served } };
	struct msg_scan s;
	int rc = snap_rc;

	*cacheable = false;
	if (ldns_wire2pkt(&x.q, q, qlen) != LDNS_STATUS_OK) {
		(void)scan_query(q, qlen, &s);
		*wlen = short_reply(q, &s, LDNS_RCODE_FORMERR, wire);
		return 0;
	}
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(x.q), 0);
	x.qname = ldns_rr_owner(question);
	x.qtype = ldns_rr_get_type(question);
	x.now = dnsd__now(e);
	fi->edns = ldns_pkt_edns(x.q);
	fi->payload = ldns_pkt_edns_udp_size(x.q);
	x.c = e->epoch.have_c ? &e->epoch.c : NULL;
	x.community = e->epoch.community;
	if (!(x.r = new_response(x.q))) {
		ldns_pkt_free(x.q);
		return -ENOMEM;
	}
	if (tsig_error) {
		ldns_pkt_set_rcode(x.r, LDNS_RCODE_NOTAUTH);
	} else if (ldns_pkt_edns(x.q) && ldns_pkt_edns_version(x.q) > 0) {
		/* RFC 6891 6.1.3: BADVERS, extended RCODE 16. */
		ldns_pkt_set_edns_extended_rcode(x.r, 1);
	} else if (!known_class(ldns_rr_get_class(question))) {
		ldns_pkt_set_rcode(x.r, LDNS_RCODE_FORMERR);
	} else if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN ||
	           x.qtype == LDNS_RR_TYPE_AXFR || x.qtype == LDNS_RR_TYPE_IXFR) {
		/* A class that exists but that we do not serve, or a zone
		 * transfer, which we do not offer. */
		ldns_pkt_set_rcode(x.r, LDNS_RCODE_REFUSED);
	} else if (rc == 0) {
		rc = answer_query(&x);
		if (rc == 0 && dnsd__signing(&x))
			rc = dnsd__sign_response(&x);
	}
	if (rc != 0) {
		/* The store failed: say so rather than guess. */
		ldns_pkt_free(x.r);
		if ((x.r = new_response(x.q)))
			ldns_pkt_set_rcode(x.r, LDNS_RCODE_SERVFAIL);
	}
	int wrc = x.r ? dnsd__wire_pkt(e->wire, x.r) : -ENOMEM;
	if (wrc != 0) {
		(void)scan_query(q, qlen, &s);
		*wlen = short_reply(q, &s, LDNS_RCODE_SERVFAIL, wire);
		rc = rc ? rc : wrc;
	} else {
		memcpy(wire, e->wire->buf, e->wire->len);
		*wlen = e->wire->len;
		*cacheable = rc == 0;
		*until = x.until;
		*outcome = x.outcome;
		*deps = x.deps;
	}
	ldns_pkt_free(x.r);
	ldns_pkt_free(x.q);
	return rc;
}

/* Fit the response to a signed query into out, leaving room for its TSIG
 * within the client's limit, and sign it (RFC 8945 5.3; an error of 5.2
 * gets its TSIG as 5.3.2 says).  Never cached: the MAC is this exchange's.
 * A TSIG that does not fit even after the cut turns it into SERVFAIL. */
static size_t fit_signed(struct dnsd_tsig_ctx *t, const uint8_t *q, const struct msg_scan *s,
                         const uint8_t *wire, size_t wlen, size_t limit, uint8_t *out, size_t cap,
                         int64_t now)
{
	size_t space = dnsd_tsig_space(t), n;

	if (limit > cap)
		limit = cap;
	n = fit(wire, wlen, limit > space ? limit - space : 0, out, cap);
	if (dnsd_tsig_sign(t, out, &n, cap, now) != 0)
		n = short_reply(q, s, LDNS_RCODE_SERVFAIL, out);
	return n;
}

static int answer_main(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                       struct dnsd_prepared *pq, uint8_t *out, size_t cap, size_t *outlen)
{
	uint8_t *wire;
	struct fit_info fi = { 0 };
	struct msg_scan scan;
	struct plain_query *p;
	struct dnsd_cache_deps deps;
	struct dnsd_tsig_ctx tsig;    /* filled by dnsd_tsig_verify, read only then */
	enum dnsd_outcome outcome = DNSD_OUTCOME_NONE;
	uint16_t tsig_error = 0;
	uint64_t serial = 0;
	bool plain, cacheable;
	int64_t until = 0, now = 0;
	size_t wlen = 0;
	unsigned rcode;
	int rc = 0, snap;

	if (!e || !q || !c || !pq || !out || !outlen || cap < 512)
		return -EINVAL;
	p = &pq->p;
	wire = e->scratch;
	*outlen = 0;
	/* Too short to carry an ID, or a response: silence (RFC 1035 4.1.1;
	 * answering responses invites loops). */
	if (qlen < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q))
		return 0;
	plain = pq->hash || (LDNS_OPCODE_WIRE(q) == LDNS_PACKET_QUERY && parse_plain(q, qlen, p));
	if (!plain && (rcode = check_query(q, qlen, &scan)) != 0) {
		*outlen = short_reply(q, &scan, rcode, out);
		goto count;
	}
	/* Transfers are never cached: who asks decides what they get. */
	uint16_t qtype = plain ? p->qtype : scan.qtype;
	if (qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR ||
	    dnsd__xfr_is_catalog(e, q, qlen)) {
		rc = dnsd__xfr_answer_one(e, q, qlen, c, out, cap, outlen);
		if (*outlen || rc)
			goto count;
	}
	/* A signed query is never plain: its TSIG is an additional record
	 * other than OPT. */
	if (!plain && scan.ntsig) {
		now = dnsd__now(e);
		if (dnsd_tsig_verify(e->keys, q, qlen, now, &tsig) != 0) {
			*outlen = short_reply(q, &scan, LDNS_RCODE_FORMERR, out);
			goto count;
		}
		tsig_error = tsig.error;
	}
	/* The common case: nothing committed since the last snapshot, and the
	 * answer is cached.  No transaction at all. */
	int32_t view;
	if (plain && fast_view(e, c, &view) && from_cache(e, q, pq, view, c, out, cap, outlen, &outcome))
		goto count;
	snap = snapshot_in_views(e, &serial);
	if (plain && snap == 0 && (snap = key_view(e, c, &view)) == 0 &&
	    from_cache(e, q, pq, view, c, out, cap, outlen, &outcome)) {
		pdb_read_reset(e->txn);
		goto count;
	}
	rc = answer_full(e, q, qlen, c, serial, snap, tsig_error, wire, &wlen, &cacheable, &until,
	                 &deps, &fi, &outcome);
	pdb_read_reset(e->txn);
	ch_counter_add(&e->stats.cache_misses, 1);
	if (plain && cacheable)
		dnsd__cache_put(e->cache, &p->key, wire, wlen, until, &deps, (uint8_t)outcome);
	if (plain)
		*outlen = serve_cached(q, p, wire, wlen, c, out, cap);
	else if (scan.ntsig)
		*outlen = fit_signed(&tsig, q, &scan, wire, wlen, size_limit(c, fi.edns, fi.payload), out,
		                     cap, now);
	else
		*outlen = fit(wire, wlen, size_limit(c, fi.edns, fi.payload), out, cap);
count:
	dnsd__views_done(e);
	/* The answer to a plain query (EDNS version 0 at most, no TSIG)
	 * never has an extended RCODE: its header says it all. */
	if (*outlen)
		dnsd__stats_query(&e->stats, c->tcp, plain ? p->qtype : scan.qtype, out, *outlen, !plain,
		                  outcome);
	return rc;
}

/* The answer, then the EDNS options that depend on who asks and how
 * (edns.c), which the cache does not hold. */
int dnsd__answer_prepared(dnsd_engine *e, const uint8_t *q, size_t qlen,
                          const struct dnsd_client *c, struct dnsd_prepared *pq, uint8_t *out,
                          size_t cap, size_t *outlen)
{
	int rc = answer_main(e, q, qlen, c, pq, out, cap, outlen);

	if (rc != -EINVAL)
		dnsd__edns_finish(e, q, qlen, c, out, cap, outlen);
	return rc;
}

int dnsd_answer(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                uint8_t *out, size_t cap, size_t *outlen)
{
	struct dnsd_prepared own;

	own.hash = 0;
	return dnsd__answer_prepared(e, q, qlen, c, &own, out, cap, outlen);
}

/* ---- transfers: the TCP entry ---- */

/* The query type of message q, if it is a plain query with one question
 * whose name is not compressed (a question has nothing to point back to);
 * 0 otherwise. */
static uint16_t peek_qtype(const uint8_t *q, size_t len)
{
	size_t off = LDNS_HEADER_SIZE;

	if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q) || LDNS_OPCODE_WIRE(q) != LDNS_PACKET_QUERY ||
	    LDNS_QDCOUNT(q) != 1)
		return 0;
	while (off < len && q[off] != 0 && q[off] <= 63)
		off += 1u + q[off];
	if (off >= len || q[off] != 0 || len - off < 5)
		return 0;
	return ldns_read_uint16(q + off + 1);
}

int dnsd_xfr_begin(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                   dnsd_xfr **out)
{
	struct msg_scan scan;
	uint16_t t;

	if (!e || !q || !c || !out)
		return -EINVAL;
	*out = NULL;
	t = peek_qtype(q, qlen);
	/* A malformed one is dnsd_answer's to refuse, before ldns sees it. */
	if ((t != LDNS_RR_TYPE_AXFR && t != LDNS_RR_TYPE_IXFR) || check_query(q, qlen, &scan) != 0)
		return 0;
	return dnsd__xfr_new(e, q, qlen, c, false, out);
}
