/* TSIG (RFC 8945): the key table from the configuration, the check of a
 * signed request, and the signing of responses (one or many messages)
 * and of requests of our own.  The MAC is OpenSSL's HMAC (EVP_MAC); it is
 * compared in constant time, and secrets never leave this file except
 * into OpenSSL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "internal.h"

#define TSIG_CLASS_ANY 255
/* The Other Data of a BADTIME response: the server's time, 48 bits. */
#define TSIG_OTHER_TIME 6

struct tsig_alg {
	const char *name;       /* also its wire name: one label */
	const char *digest;     /* OpenSSL's name */
	size_t size;            /* of the whole MAC */
};

/* hmac-md5 is left out on purpose: RFC 8945 6 no longer wants it. */
static const struct tsig_alg algs[] = {
	{ "hmac-sha256", "SHA256", 32 },
	{ "hmac-sha512", "SHA512", 64 },
	{ "hmac-sha384", "SHA384", 48 },
	{ "hmac-sha224", "SHA224", 28 },
	{ "hmac-sha1", "SHA1", 20 },
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

struct dnsd_tsig_key {
	char *text;                  /* the name as configured */
	uint8_t owner[255];          /* canonical wire form: lower case */
	size_t owner_len;
	const struct tsig_alg *alg;
	uint8_t secret[DNSD_TSIG_SECRET_MAX];
	size_t secret_len;
	EVP_MAC *mac;                /* the table's */
};

struct dnsd_tsig_keys {
	struct dnsd_tsig_key *v;
	size_t n;
	EVP_MAC *mac;
};

/* ---- names ---- */

/* A name typed in the configuration as canonical wire form; false for
 * what is not a domain name, and for the root. */
static bool name_wire(const char *text, uint8_t out[255], size_t *len)
{
	ldns_rdf *rdf = NULL;
	bool ok;

	if (!text || !*text || ldns_str2rdf_dname(&rdf, text) != LDNS_STATUS_OK)
		return false;
	ok = ldns_rdf_size(rdf) > 1 && ldns_rdf_size(rdf) <= 255;
	if (ok) {
		ldns_dname2canonical(rdf);
		memcpy(out, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
		*len = ldns_rdf_size(rdf);
	}
	ldns_rdf_deep_free(rdf);
	return ok;
}

static const struct tsig_alg *alg_by_text(const char *s)
{
	for (size_t i = 0; i < NALGS; i++)
		if (s && strcasecmp(s, algs[i].name) == 0)
			return &algs[i];
	return NULL;
}

/* The algorithm whose wire name (lower case) w is, or NULL. */
static const struct tsig_alg *alg_by_wire(const uint8_t *w, size_t len)
{
	for (size_t i = 0; i < NALGS; i++) {
		size_t l = strlen(algs[i].name);
		if (len == l + 2 && w[0] == l && memcmp(w + 1, algs[i].name, l) == 0 && w[l + 1] == 0)
			return &algs[i];
	}
	return NULL;
}

static size_t alg_wire(const struct tsig_alg *a, uint8_t out[255])
{
	size_t l = strlen(a->name);

	out[0] = (uint8_t)l;
	memcpy(out + 1, a->name, l);
	out[l + 1] = 0;
	return l + 2;
}

/* ---- the key table ---- */

/* Strict base64 (RFC 4648 4, padded, no spaces) into out; -1 if it is
 * not, or decodes to more than cap bytes. */
static long base64(const char *s, uint8_t *out, size_t cap)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), pad = 0;
	uint8_t buf[DNSD_TSIG_SECRET_MAX + 3];

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf))
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	if (strspn(s, alphabet) != n - pad)
		return -1;
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) != (int)(n / 4 * 3) ||
	    n / 4 * 3 - pad > cap) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	n = n / 4 * 3 - pad;
	memcpy(out, buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return (long)n;
}

/* Check record r into key k; a message in err (never the secret). */
static int key_read(const struct cfg_record *r, const char *path, struct dnsd_tsig_key *k,
                       char *err, size_t errlen)
{
	const char *name = r->v[DNSD_KEY_NAME], *alg = r->v[DNSD_KEY_ALGORITHM];
	const char *secret = r->v[DNSD_KEY_SECRET];
	long n;

#define FAIL(...) do { \
		int at_ = snprintf(err, errlen, "%s:%zu:%zu: ", path, r->line, r->column); \
		if (at_ >= 0 && (size_t)at_ < errlen) \
			snprintf(err + at_, errlen - (size_t)at_, __VA_ARGS__); \
		return DNSD_ECONFIG; \
	} while (0)
	if (!name)
		FAIL("a key needs a name");
	if (!name_wire(name, k->owner, &k->owner_len))
		FAIL("key name '%s' is not a domain name", name);
	if (!alg)
		FAIL("key %s needs an algorithm (hmac-sha256 or hmac-sha512)", name);
	if (!(k->alg = alg_by_text(alg)))
		FAIL("key %s: unknown algorithm '%s' (hmac-sha256, hmac-sha512, hmac-sha384, "
		     "hmac-sha224 or hmac-sha1)", name, alg);
	if (!secret)
		FAIL("key %s needs a secret (base64; 'policyctl tsig-keygen' makes one)", name);
	if ((n = base64(secret, k->secret, sizeof(k->secret))) < 0)
		FAIL("key %s: the secret is not base64 of at most %d bytes", name, DNSD_TSIG_SECRET_MAX);
	k->secret_len = (size_t)n;
	if (k->secret_len < DNSD_TSIG_SECRET_MIN)
		FAIL("key %s: the secret is %zu bytes; at least %d are needed, or one signed message "
		     "is enough to find it offline ('policyctl tsig-keygen' makes one)",
		     name, k->secret_len, DNSD_TSIG_SECRET_MIN);
#undef FAIL
	if (!(k->text = strdup(name)))
		return -ENOMEM;
	return 0;
}

int dnsd_tsig_keys_new(const struct cfg_record *recs, size_t n, const char *path,
                       dnsd_tsig_keys **out, char *err, size_t errlen)
{
	dnsd_tsig_keys *t;
	int rc = 0;

	if ((!recs && n) || !out || (!err && errlen))
		return -EINVAL;
	*out = NULL;
	if (!path)
		path = "(configuration)";
	if (!(t = calloc(1, sizeof(*t))) || (n && !(t->v = calloc(n, sizeof(*t->v))))) {
		free(t);
		return -ENOMEM;
	}
	if (!(t->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct dnsd_tsig_key *k = &t->v[i];
		if ((rc = key_read(&recs[i], path, k, err, errlen)) != 0)
			break;
		k->mac = t->mac;
		t->n = i + 1;
		for (size_t j = 0; j < i; j++) {
			if (t->v[j].owner_len == k->owner_len &&
			    memcmp(t->v[j].owner, k->owner, k->owner_len) == 0) {
				snprintf(err, errlen, "%s:%zu:%zu: key %s is defined twice (first at line %zu)",
				         path, recs[i].line, recs[i].column, k->text, recs[j].line);
				rc = DNSD_ECONFIG;
				break;
			}
		}
	}
	if (rc != 0) {
		/* The record that failed may hold part of a secret. */
		t->n = n;
		dnsd_tsig_keys_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void dnsd_tsig_keys_free(dnsd_tsig_keys *keys)
{
	if (!keys)
		return;
	for (size_t i = 0; i < keys->n; i++) {
		OPENSSL_cleanse(keys->v[i].secret, sizeof(keys->v[i].secret));
		free(keys->v[i].text);
	}
	free(keys->v);
	EVP_MAC_free(keys->mac);
	free(keys);
}

/* The key of this owner (lower-case wire form), or NULL. */
static const struct dnsd_tsig_key *key_by_owner(const dnsd_tsig_keys *keys, const uint8_t *w,
                                                   size_t len)
{
	for (size_t i = 0; keys && i < keys->n; i++)
		if (keys->v[i].owner_len == len && memcmp(keys->v[i].owner, w, len) == 0)
			return &keys->v[i];
	return NULL;
}

const struct dnsd_tsig_key *dnsd_tsig_key_find(const dnsd_tsig_keys *keys, const char *name)
{
	uint8_t w[255];
	size_t len;

	if (!keys || !name_wire(name, w, &len))
		return NULL;
	return key_by_owner(keys, w, len);
}

const char *dnsd_tsig_key_name(const struct dnsd_tsig_key *key)
{
	return key ? key->text : "(none)";
}

/* ---- the MAC ---- */

struct part {
	const uint8_t *p;
	size_t n;
};

/* HMAC of the parts with key k into out (k->alg->size bytes). */
static int hmac_of(const struct dnsd_tsig_key *k, const struct part *parts, size_t n, uint8_t *out)
{
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)k->alg->digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(k->mac);
	size_t len = 0;
	int ok = c && EVP_MAC_init(c, k->secret, k->secret_len, params);

	for (size_t i = 0; ok && i < n; i++)
		ok = parts[i].n == 0 || EVP_MAC_update(c, parts[i].p, parts[i].n);
	ok = ok && EVP_MAC_final(c, out, &len, k->alg->size) && len == k->alg->size;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -ENOMEM;
}

/* What the MAC of one message covers besides the message (RFC 8945 4.3.3):
 * the TSIG variables in full, or the timers only (5.3.1, every message of
 * a multi-message answer after the first). */
struct vars {
	const uint8_t *name, *alg;
	size_t name_len, alg_len;
	uint64_t time_signed;
	uint16_t fudge, error, other_len;
	const uint8_t *other;
};

static size_t vars_wire(const struct vars *v, bool timers_only, uint8_t *out)
{
	size_t n = 0;

	if (!timers_only) {
		memcpy(out, v->name, v->name_len);
		n = v->name_len;
		ldns_write_uint16(out + n, TSIG_CLASS_ANY);
		ldns_write_uint32(out + n + 2, 0);
		n += 6;
		memcpy(out + n, v->alg, v->alg_len);
		n += v->alg_len;
	}
	ldns_write_uint16(out + n, (uint16_t)(v->time_signed >> 32));
	ldns_write_uint32(out + n + 2, (uint32_t)v->time_signed);
	ldns_write_uint16(out + n + 6, v->fudge);
	n += 8;
	if (!timers_only) {
		ldns_write_uint16(out + n, v->error);
		ldns_write_uint16(out + n + 2, v->other_len);
		if (v->other_len)
			memcpy(out + n + 4, v->other, v->other_len);
		n += 4u + v->other_len;
	}
	return n;
}

/* The MAC of message m (len bytes, without its TSIG; header as it was
 * signed: ID, ARCOUNT) after prev (prev_len bytes, none if 0), with v. */
static int mac_of(const struct dnsd_tsig_key *k, const uint8_t *prev, size_t prev_len,
                  const uint8_t hdr[LDNS_HEADER_SIZE], const uint8_t *m, size_t len,
                  const struct vars *v, bool timers_only, uint8_t *out)
{
	uint8_t plen[2], vw[255 + 6 + 255 + 8 + 4 + 65535];
	struct part parts[5];
	size_t n = 0;

	if (prev_len) {
		ldns_write_uint16(plen, (uint16_t)prev_len);
		parts[n++] = (struct part){ plen, 2 };
		parts[n++] = (struct part){ prev, prev_len };
	}
	parts[n++] = (struct part){ hdr, LDNS_HEADER_SIZE };
	parts[n++] = (struct part){ m + LDNS_HEADER_SIZE, len - LDNS_HEADER_SIZE };
	parts[n++] = (struct part){ vw, vars_wire(v, timers_only, vw) };
	return hmac_of(k, parts, n, out);
}

/* ---- reading a TSIG ---- */

/* A TSIG record as found in a message. */
struct tsig_rr {
	size_t at;                   /* where the record starts: the message without it ends */
	uint8_t name[255], alg[255];
	size_t name_len, alg_len;
	uint64_t time_signed;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
};

/* Find the TSIG of message m: 1 and *t if the last record is one, 0 if
 * there is none, -EBADMSG for a malformed message or TSIG record, or a
 * TSIG anywhere but last (RFC 8945 5.1). */
static int tsig_find(const uint8_t *m, size_t len, struct tsig_rr *t)
{
	uint8_t name[255];
	size_t off = LDNS_HEADER_SIZE, nlen;
	unsigned nrr = (unsigned)LDNS_ANCOUNT(m) + LDNS_NSCOUNT(m) + LDNS_ARCOUNT(m);
	bool found = false;

	if (len < LDNS_HEADER_SIZE)
		return -EBADMSG;
	for (unsigned i = 0; i < LDNS_QDCOUNT(m); i++) {
		if (!dnsd__name_read(m, len, &off, name, &nlen) || len - off < 4)
			return -EBADMSG;
		off += 4;
	}
	for (unsigned i = 0; i < nrr; i++) {
		size_t at = off;
		if (!dnsd__name_read(m, len, &off, name, &nlen) || len - off < 10)
			return -EBADMSG;
		uint16_t type = ldns_read_uint16(m + off);
		size_t rdlen = ldns_read_uint16(m + off + 8);
		if (len - off - 10 < rdlen)
			return -EBADMSG;
		if (type == LDNS_RR_TYPE_TSIG) {
			if (i != nrr - 1 || i < nrr - LDNS_ARCOUNT(m))
				return -EBADMSG;
			if (ldns_read_uint16(m + off + 2) != TSIG_CLASS_ANY ||
			    ldns_read_uint32(m + off + 4) != 0)
				return -EBADMSG;
			t->at = at;
			memcpy(t->name, name, nlen);
			t->name_len = nlen;
			found = true;
			size_t rd = off + 10, end = rd + rdlen;
			if (!dnsd__name_read(m, end, &rd, t->alg, &t->alg_len) || end - rd < 10)
				return -EBADMSG;
			t->time_signed = (uint64_t)ldns_read_uint16(m + rd) << 32 | ldns_read_uint32(m + rd + 2);
			t->fudge = ldns_read_uint16(m + rd + 6);
			t->mac_len = ldns_read_uint16(m + rd + 8);
			rd += 10;
			if (end - rd < (size_t)t->mac_len + 6u)
				return -EBADMSG;
			t->mac = m + rd;
			rd += t->mac_len;
			t->orig_id = ldns_read_uint16(m + rd);
			t->error = ldns_read_uint16(m + rd + 2);
			t->other_len = ldns_read_uint16(m + rd + 4);
			rd += 6;
			if (end - rd != t->other_len)
				return -EBADMSG;
			t->other = m + rd;
		}
		off += 10 + rdlen;
	}
	if (off != len)
		return -EBADMSG;
	return found ? 1 : 0;
}

/* The header of m as it was when signed: the original ID, and ARCOUNT
 * without the TSIG. */
static void signed_header(const uint8_t *m, const struct tsig_rr *t, uint8_t hdr[LDNS_HEADER_SIZE])
{
	memcpy(hdr, m, LDNS_HEADER_SIZE);
	ldns_write_uint16(hdr, t->orig_id);
	ldns_write_uint16(hdr + 10, (uint16_t)(LDNS_ARCOUNT(m) - 1));
}

/* Is the MAC size one RFC 8945 5.2.2.1 lets a receiver take: at most the
 * whole MAC, at least 10 bytes and half of it? */
static bool mac_size_ok(const struct tsig_alg *a, size_t n)
{
	size_t half = (a->size + 1) / 2;

	return n <= a->size && n >= (half > 10 ? half : 10);
}

/* Is t's time within its fudge of now (RFC 8945 5.2.3)? */
static bool time_ok(const struct tsig_rr *t, int64_t now)
{
	int64_t ts = (int64_t)t->time_signed;

	return (now > ts ? now - ts : ts - now) <= (int64_t)t->fudge;
}

static void vars_of(const struct tsig_rr *t, struct vars *v)
{
	*v = (struct vars){ .name = t->name, .name_len = t->name_len, .alg = t->alg,
	                    .alg_len = t->alg_len, .time_signed = t->time_signed, .fudge = t->fudge,
	                    .error = t->error, .other_len = t->other_len, .other = t->other };
}

int dnsd_tsig_verify(const dnsd_tsig_keys *keys, const uint8_t *q, size_t qlen, int64_t now,
                     struct dnsd_tsig_ctx *ctx)
{
	const struct dnsd_tsig_key *k;
	struct tsig_rr t;
	struct vars v;
	uint8_t hdr[LDNS_HEADER_SIZE], mac[64];
	int rc;

	if (!q || !ctx)
		return -EINVAL;
	memset(ctx, 0, sizeof(*ctx));
	if ((rc = tsig_find(q, qlen, &t)) <= 0)
		return rc;
	ctx->time_signed = t.time_signed;
	ctx->fudge = t.fudge;
	ctx->orig_id = t.orig_id;
	memcpy(ctx->name, t.name, t.name_len);
	ctx->name_len = t.name_len;
	memcpy(ctx->alg, t.alg, t.alg_len);
	ctx->alg_len = t.alg_len;
	/* 5.2.1: a key we do not have, or have for another algorithm. */
	k = key_by_owner(keys, t.name, t.name_len);
	if (!k || alg_by_wire(t.alg, t.alg_len) != k->alg) {
		ctx->error = DNSD_TSIG_BADKEY;
		return 0;
	}
	if (!mac_size_ok(k->alg, t.mac_len))
		return -EBADMSG;
	signed_header(q, &t, hdr);
	vars_of(&t, &v);
	if ((rc = mac_of(k, NULL, 0, hdr, q, t.at, &v, false, mac)) != 0)
		return rc;
	ctx->key = k;
	if (CRYPTO_memcmp(mac, t.mac, t.mac_len) != 0) {
		ctx->error = DNSD_TSIG_BADSIG;
		return 0;
	}
	/* The response covers the MAC as received, truncated or not. */
	memcpy(ctx->mac, t.mac, t.mac_len);
	ctx->mac_len = t.mac_len;
	if (!time_ok(&t, now))
		ctx->error = DNSD_TSIG_BADTIME;
	return 0;
}

/* ---- signing ---- */

/* Is the record dnsd_tsig_sign writes for ctx without a MAC? */
static bool is_unsigned(const struct dnsd_tsig_ctx *ctx)
{
	return !ctx->key || ctx->error == DNSD_TSIG_BADKEY || ctx->error == DNSD_TSIG_BADSIG;
}

size_t dnsd_tsig_space(const struct dnsd_tsig_ctx *ctx)
{
	size_t name_len, alg_len;

	if (!ctx || (!ctx->key && !ctx->error))
		return 0;
	name_len = ctx->key ? ctx->key->owner_len : ctx->name_len;
	alg_len = ctx->key ? strlen(ctx->key->alg->name) + 2 : ctx->alg_len;
	return name_len + 10 + alg_len + 16 + (is_unsigned(ctx) ? 0 : ctx->key->alg->size) +
	       (ctx->error == DNSD_TSIG_BADTIME ? TSIG_OTHER_TIME : 0);
}

int dnsd_tsig_sign(struct dnsd_tsig_ctx *ctx, uint8_t *msg, size_t *len, size_t cap, int64_t now)
{
	uint8_t alg[255], other[TSIG_OTHER_TIME], mac[64];
	struct vars v = { 0 };
	size_t need, n;
	bool bare;
	int rc;

	if (!ctx || !msg || !len || *len < LDNS_HEADER_SIZE || *len > cap)
		return -EINVAL;
	if (!ctx->key && !ctx->error)
		return 0;
	bare = is_unsigned(ctx);
	need = dnsd_tsig_space(ctx);
	if (cap - *len < need)
		return -ENOSPC;
	if (ctx->key) {
		v.name = ctx->key->owner;
		v.name_len = ctx->key->owner_len;
		v.alg = alg;
		v.alg_len = alg_wire(ctx->key->alg, alg);
	} else {
		v.name = ctx->name;
		v.name_len = ctx->name_len;
		v.alg = ctx->alg;
		v.alg_len = ctx->alg_len;
	}
	v.error = ctx->error;
	if (ctx->error) {
		/* 5.3.2: an error response keeps the request's times, so that
		 * the client can check it; BADTIME tells the server's time. */
		v.time_signed = ctx->time_signed;
		v.fudge = ctx->fudge;
	} else {
		v.time_signed = (uint64_t)now & 0xffffffffffffu;
		v.fudge = DNSD_TSIG_FUDGE;
	}
	if (ctx->error == DNSD_TSIG_BADTIME) {
		ldns_write_uint16(other, (uint16_t)((uint64_t)now >> 32));
		ldns_write_uint32(other + 2, (uint32_t)now);
		v.other = other;
		v.other_len = TSIG_OTHER_TIME;
	}
	size_t mac_len = bare ? 0 : ctx->key->alg->size;
	if (!bare) {
		/* 5.3.1: after the first message, the previous MAC, the message
		 * and the timers; the first covers the request's MAC, if any. */
		rc = mac_of(ctx->key, ctx->mac, ctx->mac_len, msg, msg, *len, &v, ctx->msgs > 0, mac);
		if (rc != 0)
			return rc;
	}
	n = *len;
	memcpy(msg + n, v.name, v.name_len);
	n += v.name_len;
	ldns_write_uint16(msg + n, LDNS_RR_TYPE_TSIG);
	ldns_write_uint16(msg + n + 2, TSIG_CLASS_ANY);
	ldns_write_uint32(msg + n + 4, 0);
	ldns_write_uint16(msg + n + 8, (uint16_t)(v.alg_len + 16 + mac_len + v.other_len));
	n += 10;
	memcpy(msg + n, v.alg, v.alg_len);
	n += v.alg_len;
	ldns_write_uint16(msg + n, (uint16_t)(v.time_signed >> 32));
	ldns_write_uint32(msg + n + 2, (uint32_t)v.time_signed);
	ldns_write_uint16(msg + n + 6, v.fudge);
	ldns_write_uint16(msg + n + 8, (uint16_t)mac_len);
	n += 10;
	memcpy(msg + n, mac, mac_len);
	n += mac_len;
	memcpy(msg + n, msg, 2);   /* the original ID: this message's */
	ldns_write_uint16(msg + n + 2, v.error);
	ldns_write_uint16(msg + n + 4, v.other_len);
	n += 6;
	if (v.other_len)
		memcpy(msg + n, v.other, v.other_len);
	n += v.other_len;
	ldns_write_uint16(msg + 10, (uint16_t)(LDNS_ARCOUNT(msg) + 1));
	*len = n;
	if (mac_len)
		memcpy(ctx->mac, mac, mac_len);
	ctx->mac_len = mac_len;
	ctx->msgs++;
	return 0;
}

int dnsd_tsig_verify_reply(struct dnsd_tsig_ctx *ctx, const uint8_t *m, size_t len, int64_t now)
{
	const struct dnsd_tsig_key *k;
	struct tsig_rr t;
	struct vars v;
	uint8_t hdr[LDNS_HEADER_SIZE], mac[64];
	bool later;
	int rc;

	if (!ctx || !ctx->key || !m)
		return -EINVAL;
	k = ctx->key;
	if ((rc = tsig_find(m, len, &t)) <= 0)
		return rc < 0 ? rc : -EBADMSG;
	if (t.name_len != k->owner_len || memcmp(t.name, k->owner, t.name_len) != 0 ||
	    alg_by_wire(t.alg, t.alg_len) != k->alg)
		return -EBADMSG;
	ctx->error = 0;
	if (t.error) {
		/* The peer refused our signature; its record may be bare. */
		ctx->error = t.error;
		return 0;
	}
	if (!mac_size_ok(k->alg, t.mac_len))
		return -EBADMSG;
	/* A reply to our request covers our MAC and the full variables; each
	 * message after the first of a reply, the timers only.  msgs counts
	 * the messages signed or verified before this one: the request is 1. */
	later = ctx->msgs > 1;
	signed_header(m, &t, hdr);
	vars_of(&t, &v);
	if ((rc = mac_of(k, ctx->mac, ctx->mac_len, hdr, m, t.at, &v, later, mac)) != 0)
		return rc;
	if (CRYPTO_memcmp(mac, t.mac, t.mac_len) != 0) {
		ctx->error = DNSD_TSIG_BADSIG;
		return 0;
	}
	memcpy(ctx->mac, t.mac, t.mac_len);
	ctx->mac_len = t.mac_len;
	ctx->msgs++;
	if (!time_ok(&t, now))
		ctx->error = DNSD_TSIG_BADTIME;
	return 0;
}
