/* Domain names, tags and addresses: validated and brought to one form, so
 * that a key in the store means one thing only. */
#include <arpa/inet.h>
#include <errno.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policydb.h"

pdb_str pdb_str_of(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return (pdb_str){ .p = s, .len = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n) };
}

bool pdb_str_eq(pdb_str a, pdb_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* An A-label is valid only if it decodes and encodes back to itself under
 * IDNA2008 (RFC 5891 section 5.4): punycode alone accepts strings no
 * registry would issue. */
static bool name_alabel_ok(const char *label, size_t len)
{
	char a[PDB_LABEL_MAX + 1], *u = NULL, *back = NULL;
	bool ok;

	memcpy(a, label, len);
	a[len] = '\0';
	ok = idn2_to_unicode_8z8z(a, &u, 0) == IDN2_OK &&
	     idn2_to_ascii_8z(u, &back, IDN2_NONTRANSITIONAL) == IDN2_OK && strcmp(back, a) == 0;
	idn2_free(u);
	idn2_free(back);
	return ok;
}

/* Check an ASCII name already folded to lower case, without trailing dot. */
static int name_check_ascii(const char *s, const char **why)
{
	size_t n = strlen(s), labels = 0;
	const char *label = s;

	if (n == 0) {
		*why = "empty name";
		return PDB_EBADNAME;
	}
	if (n > PDB_NAME_MAX) {
		*why = "longer than 253 characters";
		return PDB_EBADNAME;
	}
	for (const char *p = s;; p++) {
		if (*p != '.' && *p != '\0') {
			if (!ldh((unsigned char)*p)) {
				*why = "a character other than a letter, digit, hyphen or dot";
				return PDB_EBADNAME;
			}
			continue;
		}
		size_t len = (size_t)(p - label);
		if (len == 0) {
			*why = "empty label";
			return PDB_EBADNAME;
		}
		if (len > PDB_LABEL_MAX) {
			*why = "label longer than 63 characters";
			return PDB_EBADNAME;
		}
		if (label[0] == '-' || label[len - 1] == '-') {
			*why = "label starts or ends with a hyphen";
			return PDB_EBADNAME;
		}
		if (len >= 4 && memcmp(label, "xn--", 4) == 0 && !name_alabel_ok(label, len)) {
			*why = "an xn-- label that is not a valid A-label";
			return PDB_EBADNAME;
		}
		labels++;
		if (*p == '\0') {
			if (strspn(label, "0123456789") == len) {
				*why = "an all-numeric last label (an address, not a name)";
				return PDB_EBADNAME;
			}
			break;
		}
		label = p + 1;
	}
	if (labels < 2) {
		*why = "a single label (a domain needs at least two)";
		return PDB_EBADNAME;
	}
	return 0;
}

int pdb_name_normalise(const char *in, char out[PDB_NAME_MAX + 1], const char **why)
{
	const char *dummy;
	char buf[4 * (PDB_NAME_MAX + 2)];
	bool ascii = true;
	size_t n;

	if (!why)
		why = &dummy;
	*why = "";
	if (!in || !out)
		return -EINVAL;
	n = strlen(in);
	if (n >= sizeof(buf)) {
		*why = "longer than 253 characters";
		return PDB_EBADNAME;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] >= 0x80)
			ascii = false;
	if (ascii) {
		for (size_t i = 0; i <= n; i++) {
			char c = in[i];
			buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
	} else {
		char *a = NULL;
		int rc = idn2_to_ascii_8z(in, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK || strlen(a) >= sizeof(buf)) {
			idn2_free(a);
			*why = "not a valid internationalised name";
			return PDB_EBADNAME;
		}
		strcpy(buf, a);
		idn2_free(a);
		n = strlen(buf);
	}
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	int rc = name_check_ascii(buf, why);
	if (rc < 0)
		return rc;
	memcpy(out, buf, n + 1);
	return 0;
}

int pdb_tag_normalise(const char *in, char out[PDB_TAG_MAX + 1], const char **why)
{
	const char *dummy;
	size_t n;

	if (!why)
		why = &dummy;
	*why = "";
	if (!in || !out)
		return -EINVAL;
	n = strlen(in);
	if (n == 0 || n > PDB_TAG_MAX) {
		*why = n ? "longer than 63 bytes" : "empty tag";
		return PDB_EBADTAG;
	}
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!ldh((unsigned char)c) && c != '.' && c != ':' && c != '_' && c != '/') {
			*why = "a character other than a-z 0-9 . : _ / -";
			return PDB_EBADTAG;
		}
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

int pdb_addr_parse(const char *s, bool allow_prefix, struct pdb_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hlen;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host) || (slash && !allow_prefix))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->bytes) == 1) {
		out->family = 4;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, host, out->bytes) == 1) {
		out->family = 6;
		out->prefix = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		unsigned long prefix;
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end || errno || prefix > out->prefix)
			return -EINVAL;
		/* A prefix with host bits set is almost always a typo; refuse it
		 * rather than guess which network was meant. */
		for (unsigned bit = (unsigned)prefix; bit < out->prefix; bit++)
			if (out->bytes[bit / 8] & (0x80 >> (bit % 8)))
				return -EINVAL;
		out->prefix = (uint8_t)prefix;
	}
	return 0;
}

void pdb_addr_format(const struct pdb_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned full = a->family == 4 ? 32 : 128;

	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	if (a->prefix == full)
		snprintf(buf, len, "%s", host);
	else
		snprintf(buf, len, "%s/%u", host, a->prefix);
}

bool pdb_addr_in(const struct pdb_addr *p, int family, const uint8_t *addr)
{
	unsigned whole, rest;

	if (!p || !addr || p->family != family)
		return false;
	whole = p->prefix / 8;
	rest = p->prefix % 8;
	if (memcmp(p->bytes, addr, whole) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		return (p->bytes[whole] & mask) == (addr[whole] & mask);
	}
	return true;
}
