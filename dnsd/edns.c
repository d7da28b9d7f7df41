/* EDNS options added to a finished answer: the server's identity (NSID,
 * RFC 5001) when the query asks for it, and an Extended DNS Error (RFC
 * 8914) where a bare rcode says too little.  They are added after the
 * answer is made (and cached), so that the cache does not keep one copy
 * per set of options asked for. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edns.h"

#define OPT_NSID 3
#define OPT_EDE 15
#define EDE_NOT_AUTHORITATIVE 20
/* DNS flag day 2020: the UDP payload dnsd offers (query.c's). */
#define UDP_MAX 1232

int dnsd_nsid_parse(const char *s, uint8_t *out, size_t *len, char *err, size_t errlen)
{
	size_t n;

	if (!s || !out || !len || !err)
		return -EINVAL;
	n = strlen(s);
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
		if (n % 2 || n / 2 > DNSD_NSID_MAX || strspn(s, "0123456789abcdefABCDEF") != n) {
			snprintf(err, errlen,
			         "nsid: 0x must be followed by pairs of hex digits, at most %d bytes",
			         DNSD_NSID_MAX);
			return -EINVAL;
		}
		for (size_t i = 0; i < n / 2; i++) {
			unsigned v;
			sscanf(s + 2 * i, "%2x", &v);
			out[i] = (uint8_t)v;
		}
		*len = n / 2;
		return 0;
	}
	if (n == 0 || n > DNSD_NSID_MAX) {
		snprintf(err, errlen, "nsid takes 1 to %d bytes of text, or 0x and hex digits",
		         DNSD_NSID_MAX);
		return -EINVAL;
	}
	memcpy(out, s, n);
	*len = n;
	return 0;
}

int dnsd_engine_set_nsid(dnsd_engine *e, const uint8_t *nsid, size_t len)
{
	if (!e || len > DNSD_NSID_MAX || (len && !nsid))
		return -EINVAL;
	if (len)
		memcpy(e->nsid, nsid, len);
	e->nsid_len = len;
	return 0;
}

/* The OPT record of message m: where it is (*at, *end), and whether it is
 * the message's last record.  False if it has none or m is malformed. */
static bool edns__opt(const uint8_t *m, size_t len, size_t *at, size_t *end, bool *last)
{
	size_t off = LDNS_HEADER_SIZE;
	unsigned before = (unsigned)LDNS_ANCOUNT(m) + LDNS_NSCOUNT(m);
	unsigned total = before + LDNS_ARCOUNT(m);
	bool found = false;

	if (len < LDNS_HEADER_SIZE)
		return false;
	for (unsigned i = 0; i < LDNS_QDCOUNT(m); i++) {
		if (!dnsd__name_read(m, len, &off, NULL, NULL) || len - off < 4)
			return false;
		off += 4;
	}
	for (unsigned i = 0; i < total; i++) {
		size_t start = off;
		if (!dnsd__name_read(m, len, &off, NULL, NULL) || len - off < 10)
			return false;
		size_t rdlen = ldns_read_uint16(m + off + 8);
		if (len - off - 10 < rdlen)
			return false;
		if (i >= before && ldns_read_uint16(m + off) == LDNS_RR_TYPE_OPT) {
			*at = start;
			*end = off + 10 + rdlen;
			*last = i == total - 1;
			found = true;
		}
		off += 10 + rdlen;
	}
	return found && off == len;
}

/* Does the OPT at [at, end) of m carry option code? */
static bool edns__has(const uint8_t *m, size_t at, size_t end, uint16_t code)
{
	size_t i = at + 11;

	while (end - i >= 4) {
		if (ldns_read_uint16(m + i) == code)
			return true;
		i += 4 + (size_t)ldns_read_uint16(m + i + 2);
	}
	return false;
}

/* Append option code with data (n bytes) to the OPT that ends out, if the
 * message stays within limit. */
static void edns__append(uint8_t *out, size_t *len, size_t at, size_t limit, uint16_t code,
                         const uint8_t *data, size_t n)
{
	size_t rdlen = ldns_read_uint16(out + at + 9);

	if (*len + 4 + n > limit || rdlen + 4 + n > 0xffff)
		return;   /* RFC 5001 3: an option that does not fit is left out */
	ldns_write_uint16(out + *len, code);
	ldns_write_uint16(out + *len + 2, (uint16_t)n);
	memcpy(out + *len + 4, data, n);
	*len += 4 + n;
	ldns_write_uint16(out + at + 9, (uint16_t)(rdlen + 4 + n));
}

/* Is response r a refusal of a name of class IN outside the zones?  It
 * has its question (dnsd's other refusals, of messages it will not read,
 * have none) and is no transfer's, whose refusal says why itself. */
static bool edns__not_authoritative(const uint8_t *r, size_t len)
{
	size_t off = LDNS_HEADER_SIZE;

	if (LDNS_RCODE_WIRE(r) != LDNS_RCODE_REFUSED || LDNS_QDCOUNT(r) != 1 ||
	    !dnsd__name_read(r, len, &off, NULL, NULL) || len - off < 4)
		return false;
	uint16_t type = ldns_read_uint16(r + off), cls = ldns_read_uint16(r + off + 2);
	return cls == LDNS_RR_CLASS_IN && type != LDNS_RR_TYPE_AXFR && type != LDNS_RR_TYPE_IXFR;
}

void dnsd__edns_finish(const dnsd_engine *e, const uint8_t *q, size_t qlen,
                       const struct dnsd_client *c, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t qat, qend, rat, rend, limit;
	bool qlast, rlast;

	/* Most answers need nothing: no walk over them then.  Only a reply
	 * with an OPT, which must be its last record: after a TSIG, an
	 * option would break the signature. */
	if (!*outlen || *outlen < LDNS_HEADER_SIZE || qlen < LDNS_HEADER_SIZE ||
	    LDNS_ARCOUNT(q) == 0 || LDNS_ARCOUNT(out) == 0 ||
	    (!e->nsid_len && LDNS_RCODE_WIRE(out) != LDNS_RCODE_REFUSED) || !edns__opt(out, *outlen, &rat, &rend, &rlast) || !rlast ||
	    !edns__opt(q, qlen, &qat, &qend, &qlast))
		return;
	limit = ldns_read_uint16(q + qat + 3);
	limit = c->tcp ? DNSD_MSG_MAX : limit < 512 ? 512 : limit > UDP_MAX ? UDP_MAX : limit;
	if (limit > cap)
		limit = cap;
	if (e->nsid_len && edns__has(q, qat, qend, OPT_NSID) && !edns__has(out, rat, rend, OPT_NSID))
		edns__append(out, outlen, rat, limit, OPT_NSID, e->nsid, e->nsid_len);
	if (edns__not_authoritative(out, *outlen) && !edns__has(out, rat, rend, OPT_EDE)) {
		static const uint8_t ede[] = { 0, EDE_NOT_AUTHORITATIVE };
		edns__append(out, outlen, rat, limit, OPT_EDE, ede, sizeof(ede));
	}
}
