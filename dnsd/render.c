/* Messages written straight to the wire, with name compression (RFC 1035
 * 4.1.4) within each: a transfer's stream of records, and every response
 * rendered anew.  ldns renders a packet through a tree of every name it
 * wrote, keyed by names it copies, which cost a transfer half its time
 * and a rendered answer a fifth of its own; a hash of the suffixes
 * written is all a message needs. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* The hash of the lower-cased name at n (len bytes, uncompressed). */
static uint32_t suffix_hash(const uint8_t *n, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = n[i];
		h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
	}
	return h;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Is the name written at off in m the same as n (len bytes, uncompressed),
 * case aside?  Every name in m is one this file wrote: pointers point
 * back, labels are whole. */
static bool same_name(const struct dnsd__wire *w, size_t off, const uint8_t *n, size_t len)
{
	size_t i = 0;

	for (;;) {
		uint8_t l = w->buf[off];
		if ((l & 0xc0) == 0xc0) {
			off = (size_t)(l & 0x3f) << 8 | w->buf[off + 1];
			continue;
		}
		if (i >= len || n[i] != l)
			return false;
		for (size_t k = 1; k <= l; k++)
			if (lower(w->buf[off + k]) != lower(n[i + k]))
				return false;
		i += 1u + l;
		off += 1u + l;
		if (l == 0)
			return i == len;
	}
}

static long lookup(const struct dnsd__wire *w, const uint8_t *n, size_t len, uint32_t h)
{
	for (uint32_t i = h & (DNSD_WIRE_SLOTS - 1);; i = (i + 1) & (DNSD_WIRE_SLOTS - 1)) {
		const struct dnsd__wire_slot *s = &w->slot[i];
		if (s->gen != w->gen)
			return -1;
		if (s->hash == h && same_name(w, s->off, n, len))
			return s->off;
	}
}

static void remember(struct dnsd__wire *w, size_t off, uint32_t h)
{
	/* A pointer reaches 16383 bytes; a full table just compresses less. */
	if (off > 0x3fff || w->nslots >= DNSD_WIRE_SLOTS / 2)
		return;
	uint32_t i = h & (DNSD_WIRE_SLOTS - 1);
	while (w->slot[i].gen == w->gen)
		i = (i + 1) & (DNSD_WIRE_SLOTS - 1);
	w->slot[i].off = (uint16_t)off;
	w->slot[i].gen = w->gen;
	w->slot[i].hash = h;
	w->nslots++;
}

/* Write name n (len bytes, uncompressed), pointing to the longest suffix
 * already in the message; the caller has checked the room. */
static void put_name(struct dnsd__wire *w, const uint8_t *n, size_t len, bool compress)
{
	size_t at = 0;

	while (at < len && n[at] != 0) {
		uint32_t h = suffix_hash(n + at, len - at);
		long off = compress ? lookup(w, n + at, len - at, h) : -1;
		if (off >= 0) {
			w->buf[w->len++] = (uint8_t)(0xc0 | off >> 8);
			w->buf[w->len++] = (uint8_t)off;
			return;
		}
		if (compress)
			remember(w, w->len, h);
		size_t l = 1u + n[at];
		memcpy(w->buf + w->len, n + at, l);
		w->len += l;
		at += l;
	}
	w->buf[w->len++] = 0;
}

/* Types whose names in rdata may be compressed: RFC 1035's (RFC 3597 4). */
static bool rdata_compressible(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_NS || t == LDNS_RR_TYPE_CNAME || t == LDNS_RR_TYPE_SOA ||
	       t == LDNS_RR_TYPE_PTR || t == LDNS_RR_TYPE_MX;
}

size_t dnsd__wire_rr_max(const ldns_rr *rr)
{
	size_t n = ldns_rdf_size(ldns_rr_owner(rr)) + 10;

	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
		n += ldns_rdf_size(ldns_rr_rdf(rr, i));
	return n;
}

void dnsd__wire_init(struct dnsd__wire *w)
{
	memset(w->slot, 0, sizeof(w->slot));
	w->gen = 0;
	w->len = 0;
	w->ancount = 0;
}

/* An empty message: the slots of the one before are made stale by a new
 * generation, not cleared, as a response names a handful of suffixes in
 * a table sized for a transfer's. */
static void begin(struct dnsd__wire *w)
{
	if (++w->gen == 0) {
		memset(w->slot, 0, sizeof(w->slot));
		w->gen = 1;
	}
	w->nslots = 0;
	w->ancount = 0;
	memset(w->buf, 0, LDNS_HEADER_SIZE);
	w->len = LDNS_HEADER_SIZE;
}

static void put_question(struct dnsd__wire *w, const ldns_rdf *qname, uint16_t qtype,
                         uint16_t qclass)
{
	put_name(w, ldns_rdf_data(qname), ldns_rdf_size(qname), true);
	ldns_write_uint16(w->buf + w->len, qtype);
	ldns_write_uint16(w->buf + w->len + 2, qclass);
	w->len += 4;
}

void dnsd__wire_start(struct dnsd__wire *w, uint16_t id, uint8_t flags2, const ldns_rdf *qname,
                      uint16_t qtype)
{
	begin(w);
	ldns_write_uint16(w->buf, id);
	w->buf[2] = (uint8_t)(0x80 | 0x04 | (flags2 & 0x01));   /* QR, AA, RD as asked */
	w->buf[3] = (uint8_t)(flags2 & 0x10);                  /* CD as asked */
	ldns_write_uint16(w->buf + 4, 1);
	put_question(w, qname, qtype, LDNS_RR_CLASS_IN);
}

/* Write rr (room checked by the caller), its rdata's names compressed
 * only for the types of RFC 1035 that allow it. */
static void put_rr(struct dnsd__wire *w, const ldns_rr *rr)
{
	ldns_rr_type t = ldns_rr_get_type(rr);
	bool comp = rdata_compressible(t);

	put_name(w, ldns_rdf_data(ldns_rr_owner(rr)), ldns_rdf_size(ldns_rr_owner(rr)), true);
	ldns_write_uint16(w->buf + w->len, t);
	ldns_write_uint16(w->buf + w->len + 2, ldns_rr_get_class(rr));
	ldns_write_uint32(w->buf + w->len + 4, ldns_rr_ttl(rr));
	size_t rdlen_at = w->len + 8;
	w->len += 10;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		if (ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME) {
			put_name(w, ldns_rdf_data(f), ldns_rdf_size(f), comp);
		} else {
			memcpy(w->buf + w->len, ldns_rdf_data(f), ldns_rdf_size(f));
			w->len += ldns_rdf_size(f);
		}
	}
	ldns_write_uint16(w->buf + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
}

void dnsd__wire_put(struct dnsd__wire *w, const ldns_rr *rr)
{
	put_rr(w, rr);
	ldns_write_uint16(w->buf + 6, ++w->ancount);
}

/* The records of a section, each with its room checked first. */
static int put_section(struct dnsd__wire *w, const ldns_rr_list *l, size_t *count)
{
	*count = ldns_rr_list_rr_count(l);
	for (size_t i = 0; i < *count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		if (dnsd__wire_rr_max(rr) > sizeof(w->buf) - w->len)
			return -EMSGSIZE;
		put_rr(w, rr);
	}
	return 0;
}

int dnsd__wire_pkt(struct dnsd__wire *w, const ldns_pkt *p)
{
	const ldns_rr_list *q = ldns_pkt_question(p);
	size_t counts[4] = { ldns_rr_list_rr_count(q) };
	int rc;

	/* What dnsd never puts in a packet it renders: a list of ldns's EDNS
	 * options (read from the field: ldns's getter would make one of the
	 * raw data, in a packet that is the caller's), a TSIG (signed on the
	 * wire, after fitting). */
	if (p->_edns_list || ldns_pkt_tsig(p))
		return -ENOTSUP;
	begin(w);
	ldns_write_uint16(w->buf, ldns_pkt_id(p));
	w->buf[2] = (uint8_t)(ldns_pkt_qr(p) << 7 | (ldns_pkt_get_opcode(p) & 0x0f) << 3 |
	                      ldns_pkt_aa(p) << 2 | ldns_pkt_tc(p) << 1 | ldns_pkt_rd(p));
	w->buf[3] = (uint8_t)(ldns_pkt_ra(p) << 7 | ldns_pkt_ad(p) << 5 | ldns_pkt_cd(p) << 4 |
	                      (ldns_pkt_get_rcode(p) & 0x0f));
	for (size_t i = 0; i < counts[0]; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(q, i);
		const ldns_rdf *owner = ldns_rr_owner(rr);
		if (ldns_rdf_size(owner) + 4 > sizeof(w->buf) - w->len)
			return -EMSGSIZE;
		put_question(w, owner, ldns_rr_get_type(rr), ldns_rr_get_class(rr));
	}
	if ((rc = put_section(w, ldns_pkt_answer(p), &counts[1])) != 0 ||
	    (rc = put_section(w, ldns_pkt_authority(p), &counts[2])) != 0 ||
	    (rc = put_section(w, ldns_pkt_additional(p), &counts[3])) != 0)
		return rc;
	if (ldns_pkt_edns(p)) {
		/* RFC 6891 6.1: the OPT record, last: the root, the payload
		 * size as class, the extended RCODE, version and flags (DO
		 * among them) as TTL. */
		const ldns_rdf *data = ldns_pkt_edns_data(p);
		size_t dlen = data ? ldns_rdf_size(data) : 0;
		if (11 + dlen > sizeof(w->buf) - w->len)
			return -EMSGSIZE;
		uint8_t *o = w->buf + w->len;
		o[0] = 0;
		ldns_write_uint16(o + 1, LDNS_RR_TYPE_OPT);
		ldns_write_uint16(o + 3, ldns_pkt_edns_udp_size(p));
		o[5] = ldns_pkt_edns_extended_rcode(p);
		o[6] = ldns_pkt_edns_version(p);
		ldns_write_uint16(o + 7, ldns_pkt_edns_z(p));
		ldns_write_uint16(o + 9, (uint16_t)dlen);
		if (dlen)
			memcpy(o + 11, ldns_rdf_data(data), dlen);
		w->len += 11 + dlen;
		counts[3]++;
	}
	for (int i = 0; i < 4; i++) {
		if (counts[i] > UINT16_MAX)
			return -EMSGSIZE;
		ldns_write_uint16(w->buf + 4 + 2 * i, (uint16_t)counts[i]);
	}
	return 0;
}
