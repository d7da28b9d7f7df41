/* Names in DNS messages on the wire, read by hand where ldns is not used:
 * the query checks before ldns parses, the fitting of answers, TSIG, and
 * the text of a query's name that policy reads. */
#include <ctype.h>

#include "internal.h"

/* Step over the name at *off in message m (len bytes), checking it: labels
 * of at most 63 bytes, 255 bytes in all, and compression pointers that
 * point back, before the part of the name that led to them (RFC 1035
 * 4.1.4: a pointer names a prior occurrence), so a pointer forward or in a
 * loop is malformed.  If out is not NULL the name is written there
 * uncompressed, in lower case, and *outlen is its length. */
bool dnsd__name_read(const uint8_t *m, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t pos = *off, start = *off, n = 0;
	bool jumped = false;

	for (;;) {
		if (pos >= len)
			return false;
		uint8_t l = m[pos];
		if ((l & 0xc0) == 0xc0) {
			if (len - pos < 2)
				return false;
			size_t target = (size_t)(l & 0x3f) << 8 | m[pos + 1];
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			if (target < LDNS_HEADER_SIZE || target >= start)
				return false;
			start = pos = target;
			continue;
		}
		if (l > 63 || n + 1 + l > 255 || len - pos < 1u + l)
			return false;
		for (size_t i = 0; out && i <= l; i++) {
			uint8_t c = m[pos + i];
			out[n + i] = (i && c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
		}
		n += 1u + l;
		pos += 1u + l;
		if (l == 0)
			break;
	}
	if (!jumped)
		*off = pos;
	if (outlen)
		*outlen = n;
	return true;
}

/* A byte that presentation format writes as itself: printable ASCII, not
 * one of the characters it escapes (RFC 1035 5.1; ldns's choice of them). */
static bool plain_byte(uint8_t c)
{
	return c > ' ' && c < 0x7f && c != '.' && c != ';' && c != '(' && c != ')' && c != '\\';
}

char *dnsd__name_text(const ldns_rdf *name, char buf[DNSD_NAME_TEXT_MAX])
{
	const uint8_t *w = ldns_rdf_data(name);
	size_t len = ldns_rdf_size(name), at = 0, n = 0;

	/* Names of letters, digits, hyphens and underscores, the only ones
	 * policy knows, are written here; one that needs an escape, or is
	 * not a whole wire name, goes to ldns, which writes it as ever. */
	if (len > LDNS_MAX_DOMAINLEN)
		goto slow;
	while (at < len && w[at] != 0) {
		size_t l = w[at];
		if (l > 63 || at + 1 + l >= len)
			goto slow;
		for (size_t i = 1; i <= l; i++) {
			uint8_t c = w[at + i];
			if (!plain_byte(c))
				goto slow;
			buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		buf[n++] = '.';
		at += 1 + l;
	}
	if (at + 1 != len)
		goto slow;
	if (n == 0)
		buf[n++] = '.';
	buf[n] = '\0';
	return buf;
slow:;
	char *s = ldns_rdf2str(name);
	for (char *p = s; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

ldns_rdf *dnsd__name_from_text(const char *text, size_t len)
{
	uint8_t w[LDNS_MAX_DOMAINLEN];
	size_t n = 0, label = 0;

	/* Plain labels are copied as they are, which is what ldns makes of
	 * them; text with an escape, an empty label or past a name's limits
	 * goes to ldns, to be read or refused as ever. */
	if (len == 0 || len + 2 > sizeof(w) || text[len - 1] == '.')
		goto slow;
	w[0] = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)text[i];
		if (c == '.') {
			if (w[label] == 0)
				goto slow;
			label = ++n;
			w[label] = 0;
			continue;
		}
		if (!plain_byte(c) || w[label] == 63)
			goto slow;
		w[++n] = c;
		w[label]++;
	}
	if (w[label] == 0)
		goto slow;
	w[++n] = 0;
	return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, n + 1, w);
slow:;
	char buf[4 * LDNS_MAX_DOMAINLEN + 2];
	if (len + 2 > sizeof(buf))
		return NULL;
	memcpy(buf, text, len);
	buf[len] = '.';
	buf[len + 1] = '\0';
	return ldns_dname_new_frm_str(buf);
}

bool dnsd__name_at_or_below(const ldns_rdf *name, const ldns_rdf *apex)
{
	const uint8_t *n = ldns_rdf_data(name), *a = ldns_rdf_data(apex);
	size_t nlen = ldns_rdf_size(name), alen = ldns_rdf_size(apex), at = 0;

	/* Step over name's first labels to where as much is left as the
	 * apex has: a label boundary, or name is not below it. */
	while (at < nlen && nlen - at > alen && n[at] != 0)
		at += 1u + n[at];
	if (at > nlen || nlen - at != alen)
		return false;
	/* Lengths and bytes alike: a length (at most 63) is never a letter. */
	for (size_t i = 0; i < alen; i++) {
		uint8_t c = n[at + i], d = a[i];
		if (c != d && !((c | 0x20) == (d | 0x20) && (c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			return false;
	}
	return true;
}
