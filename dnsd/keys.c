/* DNSSEC keys: the K*.key/.private files (BIND's format, as ldns-keygen
 * and dnssec-keygen write them), each key's state in time, and the DNSKEY,
 * DS, CDS and CDNSKEY records made from them.  ldns parses the files and
 * makes the digests; OpenSSL holds the private keys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "date.h"
#include "dnssec.h"

/* The largest key file read. */
#define KEY_FILE_MAX 65536

struct dnsd_keyset {
	struct dnsd_key *v;
	size_t n;
};

/* What a load is working on, for its messages. */
struct loader {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return DNSD_EKEY;
}

/* ---- file names ---- */

/* K<zone>.+<alg>+<tag> (the stem, without .key or .private). */
struct key_name {
	char zone[256];
	unsigned alg, tag;
};

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool key_name_parse(const char *stem, struct key_name *kn)
{
	size_t n = strlen(stem);

	/* "+ddd+ddddd" ends the stem; the zone is what lies between. */
	if (n < 1 + 1 + 10 || stem[0] != 'K' || stem[n - 10] != '+' || stem[n - 6] != '+')
		return false;
	if (!digits(stem + n - 9, 3, &kn->alg) || !digits(stem + n - 5, 5, &kn->tag) ||
	    kn->tag > 65535)
		return false;
	size_t zlen = n - 1 - 10;
	if (zlen >= sizeof(kn->zone))
		return false;
	memcpy(kn->zone, stem + 1, zlen);
	kn->zone[zlen] = '\0';
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- timing fields ---- */

enum { T_PUBLISH, T_ACTIVATE, T_INACTIVE, T_DELETE, T_SYNC_PUBLISH, T_SYNC_DELETE, T_N };
static const char *const timing_names[T_N] = {
	"Publish", "Activate", "Inactive", "Delete", "SyncPublish", "SyncDelete",
};

/* YYYYMMDDHHMMSS, UTC, as BIND writes it. */
static int timing_parse(const char *s, int64_t *out)
{
	char iso[CH_INSTANT_LEN];
	unsigned dummy;

	if (strlen(s) != 14 || !digits(s, 14, &dummy))
		return -EINVAL;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 8,
	         s + 10, s + 12);
	return ch_instant_parse(iso, out);
}

/* If line is "[; ]Name: value[ (...)]" for a timing field, set it.  In a
 * .key file the fields are comments; in a .private file, plain lines. */
static int timing_line(struct loader *l, const char *file, unsigned lineno, const char *line,
                       bool comment, int64_t t[T_N])
{
	char value[32];

	if (comment) {
		if (line[0] != ';')
			return 0;
		line += 1 + strspn(line + 1, " \t");
	}
	for (int i = 0; i < T_N; i++) {
		size_t n = strlen(timing_names[i]);
		if (strncmp(line, timing_names[i], n) != 0 || line[n] != ':')
			continue;
		const char *p = line + n + 1;
		p += strspn(p, " \t");
		size_t vlen = strcspn(p, " \t\r\n");
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, p, vlen);
		value[vlen] = '\0';
		if (timing_parse(value, &t[i]) != 0)
			return fail(l, "%s:%u: %s: '%s' is not a time as YYYYMMDDHHMMSS (UTC)", file,
			            lineno, timing_names[i], value);
		return 0;
	}
	return 0;
}

/* Every timing field of f, from the start.  t[i] is 0 where unset. */
static int timing_read(struct loader *l, const char *file, FILE *f, bool comment,
                       int64_t t[T_N])
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	memset(t, 0, sizeof(int64_t) * T_N);
	rewind(f);
	while (rc == 0 && getline(&line, &cap, f) != -1)
		rc = timing_line(l, file, ++lineno, line, comment, t);
	free(line);
	return rc;
}

/* ---- one pair of files ---- */

/* Open path for reading: a regular file; for a private key, also one no
 * one but its owner may read or write. */
static int open_key_file(struct loader *l, const char *path, bool private, FILE **out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(l, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(l, "%s: not a regular file", path);
	}
	/* Key files are a few hundred bytes: anything much larger is some
	 * other file, not to be read line by line. */
	if (st.st_size > KEY_FILE_MAX) {
		close(fd);
		return fail(l, "%s: larger than %d bytes: not a key file", path, KEY_FILE_MAX);
	}
	if (private && (st.st_mode & 077)) {
		close(fd);
		return fail(l, "%s: the private key may be read or written by others (mode %03o); "
		            "allow only its owner (chmod 600)", path, (unsigned)(st.st_mode & 0777));
	}
	/* Root reads anyone's file: a key another user owns is that user's to
	 * read and replace as well. */
	if (private && st.st_uid != geteuid()) {
		close(fd);
		return fail(l, "%s: the private key belongs to uid %u, not to uid %u that dnsd runs "
		            "as (chown it)", path, (unsigned)st.st_uid, (unsigned)geteuid());
	}
	if (!(*out = fdopen(fd, "r"))) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static const char *alg_name(unsigned alg)
{
	switch (alg) {
	case LDNS_RSASHA1:           return "RSASHA1";
	case LDNS_RSASHA256:         return "RSASHA256";
	case LDNS_RSASHA512:         return "RSASHA512";
	case LDNS_ECDSAP256SHA256:   return "ECDSAP256SHA256";
	case LDNS_ECDSAP384SHA384:   return "ECDSAP384SHA384";
	case LDNS_ED25519:           return "ED25519";
	case LDNS_ED448:             return "ED448";
	}
	return "unknown";
}

/* The one DNSKEY of a .key file, checked against its file name. */
static int read_public(struct loader *l, const char *path, const struct key_name *kn, FILE *f,
                       ldns_rr **out)
{
	ldns_rr *rr = NULL;
	ldns_rdf *origin = NULL, *prev = NULL;
	uint32_t ttl = 3600;
	int line = 0, rc = 0;

	rewind(f);
	/* Each turn reads a line at least; the file is at most KEY_FILE_MAX. */
	for (unsigned turns = 0; !feof(f) && turns < KEY_FILE_MAX; turns++) {
		ldns_rr *one = NULL;
		ldns_status s = ldns_rr_new_frm_fp_l(&one, f, &ttl, &origin, &prev, &line);
		if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
		    s == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (s != LDNS_STATUS_OK) {
			rc = fail(l, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(s));
			break;
		}
		if (rr) {
			ldns_rr_free(one);
			rc = fail(l, "%s:%d: more than one record", path, line);
			break;
		}
		rr = one;
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (rc == 0 && !rr)
		rc = fail(l, "%s: no DNSKEY record", path);
	if (rc == 0 && (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY ||
	                ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(rr) != 4))
		rc = fail(l, "%s: the record is not a DNSKEY of class IN", path);
	if (rc) {
		ldns_rr_free(rr);
		return rc;
	}
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	uint16_t flags = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
	uint8_t proto = ldns_rdf2native_int8(ldns_rr_rdf(rr, 1));
	uint8_t alg = ldns_rdf2native_int8(ldns_rr_rdf(rr, 2));
	uint16_t tag = ldns_calc_keytag(rr);
	if (!owner)
		rc = -ENOMEM;
	else if (strcasecmp(owner, kn->zone) != 0)
		rc = fail(l, "%s: the key is for %s, its file name says %s", path, owner, kn->zone);
	else if (alg != kn->alg || tag != kn->tag)
		rc = fail(l, "%s: the key has algorithm %u and tag %u, its file name says %u and %u",
		          path, alg, tag, kn->alg, kn->tag);
	else if (alg != LDNS_ED25519 && alg != LDNS_ECDSAP256SHA256)
		rc = fail(l, "%s: algorithm %u (%s) is not supported: use 15 (ED25519) or 13 "
		          "(ECDSAP256SHA256)", path, alg, alg_name(alg));
	else if (proto != 3 || (flags != 256 && flags != 257))
		rc = fail(l, "%s: flags %u, protocol %u: a zone key takes flags 256 (ZSK) or 257 "
		          "(KSK, CSK) and protocol 3 (revoked keys are not served)", path, flags, proto);
	free(owner);
	if (rc) {
		ldns_rr_free(rr);
		return rc;
	}
	*out = rr;
	return 0;
}

/* The private key of a .private file, which must be that of dnskey. */
static int read_private(struct loader *l, const char *path, FILE *f, const ldns_rr *dnskey,
                        ldns_key **out)
{
	ldns_key *k = NULL;
	ldns_rr *derived = NULL;
	int line = 0, rc = 0;

	rewind(f);
	ldns_status s = ldns_key_new_frm_fp_l(&k, f, &line);
	if (s == LDNS_STATUS_MEM_ERR)
		return -ENOMEM;
	if (s != LDNS_STATUS_OK)
		return fail(l, "%s: not a private key ldns can read: %s", path,
		            ldns_get_errorstr_by_id(s));
	if ((uint8_t)ldns_key_algorithm(k) != ldns_rdf2native_int8(ldns_rr_rdf(dnskey, 2))) {
		rc = fail(l, "%s: its algorithm is not that of the .key file", path);
		goto out;
	}
	ldns_key_set_flags(k, ldns_rdf2native_int16(ldns_rr_rdf(dnskey, 0)));
	/* The public key ldns derives from the private one must be the
	 * published one, or every signature would fail to validate. */
	if (!(derived = ldns_key2rr(k))) {
		rc = fail(l, "%s: no public key can be derived from it", path);
		goto out;
	}
	if (ldns_rdf_compare(ldns_rr_rdf(derived, 3), ldns_rr_rdf(dnskey, 3)) != 0) {
		rc = fail(l, "%s: the private key is not that of the .key file beside it", path);
		goto out;
	}
	ldns_key_set_pubkey_owner(k, ldns_rdf_clone(ldns_rr_owner(dnskey)));
	ldns_key_set_keytag(k, ldns_calc_keytag(dnskey));
	ldns_key_set_use(k, true);
out:
	ldns_rr_free(derived);
	if (rc) {
		if (k)
			ldns_key_deep_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static void key_clear(struct dnsd_key *k)
{
	if (k->priv)   /* ldns_key_deep_free takes no NULL */
		ldns_key_deep_free(k->priv);
	ldns_rr_free(k->dnskey);
	free((char *)k->file);
	memset(k, 0, sizeof(*k));
}

/* dir/stem.key and dir/stem.private into k. */
static int load_pair(struct loader *l, const char *dir, const char *stem, struct dnsd_key *k)
{
	struct key_name kn;
	char pub[PATH_MAX], priv[PATH_MAX];
	FILE *fpub = NULL, *fpriv = NULL;
	int64_t tpub[T_N], tpriv[T_N];
	int rc;

	if ((size_t)snprintf(pub, sizeof(pub), "%s/%s.key", dir, stem) >= sizeof(pub) ||
	    (size_t)snprintf(priv, sizeof(priv), "%s/%s.private", dir, stem) >= sizeof(priv))
		return fail(l, "%s/%s: the path is too long", dir, stem);
	if (!key_name_parse(stem, &kn))
		return fail(l, "%s: not a key file name as K<zone>.+<alg>+<tag>.key", pub);
	if (!(k->file = strdup(pub)))
		return -ENOMEM;
	if ((rc = open_key_file(l, pub, false, &fpub)) != 0 ||
	    (rc = open_key_file(l, priv, true, &fpriv)) != 0 ||
	    (rc = read_public(l, pub, &kn, fpub, &k->dnskey)) != 0 ||
	    (rc = read_private(l, priv, fpriv, k->dnskey, &k->priv)) != 0 ||
	    (rc = timing_read(l, pub, fpub, true, tpub)) != 0 ||
	    (rc = timing_read(l, priv, fpriv, false, tpriv)) != 0)
		goto out;
	/* dnssec-keygen writes both; the .private is what BIND itself reads. */
	int64_t *t = tpub;
	for (int i = 0; i < T_N; i++)
		if (tpriv[i]) {
			t = tpriv;
			break;
		}
	k->publish = t[T_PUBLISH];
	k->activate = t[T_ACTIVATE];
	k->inactive = t[T_INACTIVE];
	k->del = t[T_DELETE];
	k->sync_publish = t[T_SYNC_PUBLISH];
	k->sync_delete = t[T_SYNC_DELETE];
	k->tag = ldns_calc_keytag(k->dnskey);
	k->alg = ldns_rdf2native_int8(ldns_rr_rdf(k->dnskey, 2));
	k->ksk = ldns_rdf2native_int16(ldns_rr_rdf(k->dnskey, 0)) & LDNS_KEY_SEP_KEY;
out:
	if (fpub)
		fclose(fpub);
	if (fpriv)
		fclose(fpriv);
	return rc;
}

/* ---- the directory ---- */

/* The stems of dir's K*.key files, sorted; a K*.private without its .key
 * is an error, the other way round load_pair finds. */
static int list_stems(struct loader *l, const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;
	int rc = 0;

	*n = 0;
	if (!d)
		return fail(l, "%s: %s", dir, strerror(errno));
	while (rc == 0 && (e = readdir(d))) {
		const char *name = e->d_name;
		if (name[0] != 'K')
			continue;
		if (ends_with(name, ".private")) {
			char pub[PATH_MAX];
			struct stat st;
			snprintf(pub, sizeof(pub), "%s/%.*s.key", dir, (int)(strlen(name) - 8), name);
			if (stat(pub, &st) != 0)
				rc = fail(l, "%s/%s: no %s beside it", dir, name, strrchr(pub, '/') + 1);
			continue;
		}
		if (!ends_with(name, ".key"))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		if (!(v[*n] = strndup(name, strlen(name) - 4)))
			rc = -ENOMEM;
		else
			(*n)++;
	}
	closedir(d);
	if (rc == 0 && *n == 0)
		rc = fail(l, "%s: no keys (K<zone>.+<alg>+<tag>.key and .private)", dir);
	if (rc) {
		for (size_t i = 0; i < *n; i++)
			free(v[i]);
		free(v);
		*n = 0;
		return rc;
	}
	qsort(v, *n, sizeof(*v), cmp_str);
	*out = v;
	return 0;
}

/* No zone may have more keys than its DNSKEY RRset takes. */
static int check_counts(struct loader *l, const char *dir, const dnsd_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		size_t same = 0;
		for (size_t j = 0; j < ks->n; j++)
			same += ldns_dname_compare(ldns_rr_owner(ks->v[i].dnskey),
			                           ldns_rr_owner(ks->v[j].dnskey)) == 0;
		if (same > DNSD_KEYS_PER_ZONE) {
			char *z = ldns_rdf2str(ldns_rr_owner(ks->v[i].dnskey));
			int rc = fail(l, "%s: %zu keys for %s, at most %d", dir, same, z ? z : "?",
			              DNSD_KEYS_PER_ZONE);
			free(z);
			return rc;
		}
	}
	return 0;
}

int dnsd_keyset_load(const char *dir, dnsd_keyset **out, char *err, size_t errlen)
{
	struct loader l = { err, errlen };
	dnsd_keyset *ks;
	char **stems = NULL;
	size_t n = 0;
	int rc;

	if (!dir || !out || !err || !errlen)
		return -EINVAL;
	*out = NULL;
	err[0] = '\0';
	if ((rc = list_stems(&l, dir, &stems, &n)) != 0)
		return rc;
	if (!(ks = calloc(1, sizeof(*ks))) || !(ks->v = calloc(n, sizeof(*ks->v)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = load_pair(&l, dir, stems[i], &ks->v[i]);
		ks->n = i + 1;
	}
	if (rc == 0)
		rc = check_counts(&l, dir, ks);
out:
	for (size_t i = 0; i < n; i++)
		free(stems[i]);
	free(stems);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", dir);
	if (rc) {
		dnsd_keyset_free(ks);
		return rc;
	}
	*out = ks;
	return 0;
}

void dnsd_keyset_free(dnsd_keyset *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; ks->v && i < ks->n; i++)
		key_clear(&ks->v[i]);
	free(ks->v);
	free(ks);
}

size_t dnsd_keyset_count(const dnsd_keyset *ks)
{
	return ks ? ks->n : 0;
}

const struct dnsd_key *dnsd_keyset_key(const dnsd_keyset *ks, size_t i)
{
	return ks && i < ks->n ? &ks->v[i] : NULL;
}

/* ---- state in time ---- */

static bool reached(int64_t t, int64_t now)
{
	return !t || now >= t;
}

static bool before(int64_t t, int64_t now)
{
	return !t || now < t;
}

bool dnsd_key_published(const struct dnsd_key *k, int64_t now)
{
	return k && reached(k->publish, now) && before(k->del, now);
}

bool dnsd_key_active(const struct dnsd_key *k, int64_t now)
{
	return dnsd_key_published(k, now) && reached(k->activate, now) && before(k->inactive, now);
}

/* Should k's DS be at the parent at now?  SyncPublish/SyncDelete say so
 * where given (a KSK rollover times them); else while k is active. */
static bool key_in_cds(const struct dnsd_key *k, int64_t now)
{
	if (!k->ksk || !dnsd_key_published(k, now))
		return false;
	if (k->sync_publish || k->sync_delete)
		return reached(k->sync_publish, now) && before(k->sync_delete, now);
	return dnsd_key_active(k, now);
}

static void next_after(int64_t t, int64_t now, int64_t *next)
{
	if (t > now && (!*next || t < *next))
		*next = t;
}

static bool key_for(const struct dnsd_key *k, const ldns_rdf *apex)
{
	return apex && ldns_dname_compare(ldns_rr_owner(k->dnskey), apex) == 0;
}

static bool push(const struct dnsd_key **v, size_t *n, size_t max, const struct dnsd_key *k)
{
	if (*n >= max)
		return false;
	v[(*n)++] = k;
	return true;
}

int dnsd_keyset_at(const dnsd_keyset *ks, const ldns_rdf *apex, const ldns_rdf *community_apex,
                   int64_t now, struct dnsd_zone_keys *out)
{
	const ldns_rdf *owner = apex;
	bool fits = true;

	if (!ks || !apex || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	bool own = false;
	for (size_t i = 0; i < ks->n && !own; i++)
		own = key_for(&ks->v[i], apex);
	if (!own)
		owner = community_apex;
	for (size_t i = 0; i < ks->n; i++) {
		const struct dnsd_key *k = &ks->v[i];
		if (!key_for(k, owner))
			continue;
		next_after(k->publish, now, &out->next_change);
		next_after(k->activate, now, &out->next_change);
		next_after(k->inactive, now, &out->next_change);
		next_after(k->del, now, &out->next_change);
		next_after(k->sync_publish, now, &out->next_change);
		next_after(k->sync_delete, now, &out->next_change);
		if (dnsd_key_published(k, now))
			fits &= push(out->published, &out->npublished, DNSD_KEYS_PER_ZONE, k);
		if (key_in_cds(k, now))
			fits &= push(out->cds, &out->ncds, DNSD_KEYS_ACTIVE, k);
		if (dnsd_key_active(k, now)) {
			if (k->ksk)
				fits &= push(out->ksk, &out->nksk, DNSD_KEYS_ACTIVE, k);
			else
				fits &= push(out->zsk, &out->nzsk, DNSD_KEYS_ACTIVE, k);
		}
	}
	/* A KSK with no ZSK is a CSK and signs everything; a ZSK with no KSK
	 * signs the DNSKEY RRset too, rather than leave it unsigned. */
	if (out->nzsk == 0) {
		memcpy(out->zsk, out->ksk, sizeof(out->zsk));
		out->nzsk = out->nksk;
	} else if (out->nksk == 0) {
		memcpy(out->ksk, out->zsk, sizeof(out->ksk));
		out->nksk = out->nzsk;
	}
	if (!fits || out->nzsk == 0)
		return DNSD_EKEY;
	return 0;
}

/* ---- signing ---- */

int dnsd_key_signer(const struct dnsd_key *k, const ldns_rdf *apex, ldns_key **out)
{
	ldns_key *s;
	ldns_rdf *owner;
	EVP_PKEY *pkey;

	if (!k || !apex || !out || !(pkey = ldns_key_evp_key(k->priv)))
		return -EINVAL;
	if (!(s = ldns_key_new()))
		return -ENOMEM;
	if (!(owner = ldns_rdf_clone(apex))) {
		ldns_key_free(s);
		return -ENOMEM;
	}
	/* The private key is shared, counted: ldns_key_deep_free of either
	 * drops one reference.  OpenSSL signs with one EVP_PKEY from many
	 * threads at once; what ldns keeps beside it (owner, validity) is
	 * each copy's own. */
	EVP_PKEY_up_ref(pkey);
	ldns_key_set_evp_key(s, pkey);
	ldns_key_set_algorithm(s, ldns_key_algorithm(k->priv));
	ldns_key_set_flags(s, ldns_key_flags(k->priv));
	ldns_key_set_keytag(s, k->tag);
	ldns_key_set_pubkey_owner(s, owner);
	ldns_key_set_origttl(s, ldns_key_origttl(k->priv));
	ldns_key_set_use(s, true);
	*out = s;
	return 0;
}

/* ---- records ---- */

/* k's DNSKEY with owner apex, TTL ttl, and type type (DNSKEY, CDNSKEY). */
static ldns_rr *dnskey_at(const struct dnsd_key *k, const ldns_rdf *apex, uint32_t ttl,
                          ldns_rr_type type)
{
	ldns_rr *rr = ldns_rr_clone(k->dnskey);
	ldns_rdf *owner = ldns_rdf_clone(apex);

	if (!rr || !owner) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rdf_deep_free(ldns_rr_owner(rr));
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_ttl(rr, ttl);
	ldns_rr_set_type(rr, type);
	return rr;
}

int dnsd_keys_dnskey_rrset(const struct dnsd_zone_keys *zk, const ldns_rdf *apex, uint32_t ttl,
                           ldns_rr_list **out)
{
	ldns_rr_list *l;

	if (!zk || !apex || !out)
		return -EINVAL;
	if (!(l = ldns_rr_list_new()))
		return -ENOMEM;
	for (size_t i = 0; i < zk->npublished; i++) {
		ldns_rr *rr = dnskey_at(zk->published[i], apex, ttl, LDNS_RR_TYPE_DNSKEY);
		if (!rr || !ldns_rr_list_push_rr(l, rr)) {
			ldns_rr_free(rr);
			ldns_rr_list_deep_free(l);
			return -ENOMEM;
		}
	}
	*out = l;
	return 0;
}

int dnsd_keys_ds(const struct dnsd_key *k, const ldns_rdf *apex, ldns_rr **out)
{
	ldns_rr *key, *ds;

	if (!k || !apex || !out)
		return -EINVAL;
	/* The digest covers the owner name: the key as the apex's. */
	if (!(key = dnskey_at(k, apex, ldns_rr_ttl(k->dnskey), LDNS_RR_TYPE_DNSKEY)))
		return -ENOMEM;
	ds = ldns_key_rr2ds(key, LDNS_SHA256);
	ldns_rr_free(key);
	if (!ds)
		return -ENOMEM;
	*out = ds;
	return 0;
}

int dnsd_keys_cds_rrsets(const struct dnsd_zone_keys *zk, const ldns_rdf *apex, uint32_t ttl,
                         ldns_rr_list **cds, ldns_rr_list **cdnskey)
{
	ldns_rr_list *a, *b;

	if (!zk || !apex || !cds || !cdnskey)
		return -EINVAL;
	a = ldns_rr_list_new();
	b = ldns_rr_list_new();
	for (size_t i = 0; a && b && i < zk->ncds; i++) {
		ldns_rr *ds = NULL, *key = dnskey_at(zk->cds[i], apex, ttl, LDNS_RR_TYPE_CDNSKEY);
		if (key && dnsd_keys_ds(zk->cds[i], apex, &ds) == 0) {
			ldns_rr_set_type(ds, LDNS_RR_TYPE_CDS);
			ldns_rr_set_ttl(ds, ttl);
		}
		if (!key || !ds || !ldns_rr_list_push_rr(b, key)) {
			ldns_rr_free(key);
			ldns_rr_free(ds);
			goto fail;
		}
		if (!ldns_rr_list_push_rr(a, ds)) {
			ldns_rr_free(ds);
			goto fail;
		}
	}
	if (!a || !b)
		goto fail;
	*cds = a;
	*cdnskey = b;
	return 0;
fail:
	ldns_rr_list_deep_free(a);
	ldns_rr_list_deep_free(b);
	return -ENOMEM;
}
