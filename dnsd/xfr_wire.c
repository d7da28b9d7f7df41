/* The messages of a transfer written straight to the wire, with name
 * compression (RFC 1035 4.1.4) within each message.  ldns renders a
 * packet through a tree of every name it wrote, which cost a transfer
 * half its time; a hash of the suffixes written is all a stream of
 * records needs. */
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
		if (!s->off)
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
	while (w->slot[i].off)
		i = (i + 1) & (DNSD_WIRE_SLOTS - 1);
	w->slot[i].off = (uint16_t)off;
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

void dnsd__wire_start(struct dnsd__wire *w, uint16_t id, uint8_t flags2, const ldns_rdf *qname,
                      uint16_t qtype)
{
	memset(w->slot, 0, sizeof(w->slot));
	w->nslots = 0;
	memset(w->buf, 0, LDNS_HEADER_SIZE);
	ldns_write_uint16(w->buf, id);
	w->buf[2] = (uint8_t)(0x80 | 0x04 | (flags2 & 0x01));   /* QR, AA, RD as asked */
	w->buf[3] = (uint8_t)(flags2 & 0x10);                  /* CD as asked */
	ldns_write_uint16(w->buf + 4, 1);
	w->len = LDNS_HEADER_SIZE;
	w->ancount = 0;
	put_name(w, ldns_rdf_data(qname), ldns_rdf_size(qname), true);
	ldns_write_uint16(w->buf + w->len, qtype);
	ldns_write_uint16(w->buf + w->len + 2, LDNS_RR_CLASS_IN);
	w->len += 4;
}

void dnsd__wire_put(struct dnsd__wire *w, const ldns_rr *rr)
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
	ldns_write_uint16(w->buf + 6, ++w->ancount);
}
