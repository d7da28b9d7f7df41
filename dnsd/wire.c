/* Names in DNS messages on the wire, read by hand where ldns is not used:
 * the query checks before ldns parses, the fitting of answers, TSIG. */
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
