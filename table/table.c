/* The policy table: building it from the store, reading it back with
 * every field checked, signing and verifying it, and writing files whole. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "date.h"
#include "sslerr.h"
#include "table.h"

/* An instant, and in the one spelling the signer writes: a table is
 * signed bytes, so two spellings of one time would be two tables. */
static int parse_instant(const char *s, int64_t *out)
{
	char again[CH_INSTANT_LEN];
	int64_t t;

	if (ch_instant_parse(s, &t) != 0)
		return -1;
	ch_instant_format(t, again);
	if (strcmp(again, s))
		return -1;
	*out = t;
	return 0;
}

/* ---- building ---- */

static json_t *member_json(const struct pdb_member *m)
{
	json_t *o = json_object(), *tags = json_array();
	char na[CH_INSTANT_LEN];

	if (!o || !tags) {
		json_decref(o);
		json_decref(tags);
		return NULL;
	}
	json_object_set_new(o, "level", json_integer(m->level));
	json_object_set_new(o, "status", json_string(pdb_status_name(m->status)));
	for (unsigned i = 0; i < m->ntags; i++)
		json_array_append_new(tags, json_stringn(m->tags[i].p, m->tags[i].len));
	json_object_set_new(o, "tags", tags);
	if (m->not_after) {
		/* The last valid second, as the policy file writes it. */
		ch_instant_format(m->not_after - 1, na);
		json_object_set_new(o, "not-after", json_string(na));
	}
	return o;
}

static int add_member(void *arg, const char *name, const struct pdb_member *m)
{
	json_t *v = member_json(m);
	if (!v || json_object_set_new(arg, name, v) != 0)
		return -ENOMEM;
	return 0;
}

int table_build(pdb_txn *txn, int64_t now, int64_t valid, char **out, size_t *len)
{
	struct pdb_community c;
	uint64_t serial;
	json_t *root = json_object(), *members = json_object(), *levels = json_object();
	char made[CH_INSTANT_LEN], expires[CH_INSTANT_LEN];
	int rc;

	if (!root || !members || !levels) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = pdb_get_community(txn, &c)) != 0 || (rc = pdb_serial(txn, &serial)) != 0 ||
	    (rc = pdb_walk_members(txn, add_member, members)) != 0)
		goto out;
	for (unsigned i = 0; i < c.nlevels; i++) {
		char k[4];
		snprintf(k, sizeof(k), "%u", c.levels[i].level);
		json_object_set_new(levels, k, json_stringn(c.levels[i].name.p, c.levels[i].name.len));
	}
	ch_instant_format(now, made);
	ch_instant_format(now + valid, expires);
	json_object_set_new(root, "format", json_integer(TABLE_FORMAT));
	json_object_set_new(root, "zone", json_stringn(c.zone.p, c.zone.len));
	json_object_set_new(root, "serial", json_integer((json_int_t)serial));
	json_object_set_new(root, "made", json_string(made));
	json_object_set_new(root, "expires", json_string(expires));
	json_object_set_new(root, "levels", levels);
	json_object_set_new(root, "members", members);
	levels = members = NULL;
	/* Sorted keys: the same store gives the same bytes. */
	*out = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENSURE_ASCII);
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	*len = strlen(*out);
out:
	json_decref(root);
	json_decref(members);
	json_decref(levels);
	return rc;
}

/* ---- reading ---- */

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Only these keys, each of the right JSON type. */
static int keys_known(json_t *o, const char *where, const char *const *known, char *err,
                      size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		if (!known[i])
			return bad(err, errlen, "%s: unknown key '%s'", where, k);
	}
	return 0;
}

static int get_int(json_t *o, const char *key, const char *where, json_int_t max,
                   json_int_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return bad(err, errlen, "%s: '%s' must be a whole number", where, key);
	*out = json_integer_value(v);
	if (*out < 0 || *out > max)
		return bad(err, errlen, "%s: '%s' is out of range", where, key);
	return 0;
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	/* A NUL inside a JSON string would cut a C string short. */
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool is_normal_name(const char *s)
{
	char n[PDB_NAME_MAX + 1];
	const char *why;
	return pdb_name_normalise(s, n, &why) == 0 && !strcmp(n, s);
}

static bool is_normal_tag(const char *s)
{
	char n[PDB_TAG_MAX + 1];
	const char *why;
	return pdb_tag_normalise(s, n, &why) == 0 && !strcmp(n, s);
}

static int read_member(const char *name, json_t *o, struct table_member *m, char *err,
                       size_t errlen)
{
	static const char *const known[] = { "level", "status", "tags", "not-after", NULL };
	json_int_t level;
	const char *status, *na;
	json_t *tags;

	if (!is_normal_name(name))
		return bad(err, errlen, "member '%s': not a domain name in normal form", name);
	if (!json_is_object(o))
		return bad(err, errlen, "member %s: not an object", name);
	if (keys_known(o, name, known, err, errlen) ||
	    get_int(o, "level", name, 255, &level, err, errlen))
		return -1;
	m->name = name;
	m->level = (uint8_t)level;
	if (!(status = get_str(o, "status")))
		return bad(err, errlen, "member %s: no status", name);
	if (!strcmp(status, "active")) m->status = PDB_ACTIVE;
	else if (!strcmp(status, "suspended")) m->status = PDB_SUSPENDED;
	else if (!strcmp(status, "revoked")) m->status = PDB_REVOKED;
	else return bad(err, errlen, "member %s: unknown status '%s'", name, status);
	m->not_after = 0;
	if (json_object_get(o, "not-after")) {
		if (!(na = get_str(o, "not-after")) || parse_instant(na, &m->not_after) != 0)
			return bad(err, errlen, "member %s: not-after is not an instant "
			                        "like 2027-12-31T23:59:59Z", name);
		m->not_after++;   /* the first second no longer valid */
	}
	tags = json_object_get(o, "tags");
	if (!json_is_array(tags) || json_array_size(tags) > PDB_MAX_TAGS)
		return bad(err, errlen, "member %s: tags must be a list of at most %d", name,
		           PDB_MAX_TAGS);
	m->ntags = json_array_size(tags);
	if (!(m->tags = calloc(m->ntags + 1, sizeof(*m->tags))))
		return bad(err, errlen, "out of memory");
	for (size_t i = 0; i < m->ntags; i++) {
		json_t *t = json_array_get(tags, i);
		const char *s = json_is_string(t) ? json_string_value(t) : NULL;
		if (!s || strlen(s) != json_string_length(t) || !is_normal_tag(s))
			return bad(err, errlen, "member %s: tag %zu is not a tag in normal form", name, i + 1);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(m->tags[j], s))
				return bad(err, errlen, "member %s: tag '%s' twice", name, s);
		m->tags[i] = s;
	}
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct table_member *)a)->name, ((const struct table_member *)b)->name);
}

/* A level key as the signer writes it: decimal digits only, 0..255, no
 * sign, space or leading zero, so that each level has exactly one key.
 * Returns the level or -1. */
static int level_key(const char *k)
{
	size_t n = strlen(k);
	int l = 0;

	if (n == 0 || n > 3 || (k[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (k[i] < '0' || k[i] > '9')
			return -1;
		l = l * 10 + (k[i] - '0');
	}
	return l > 255 ? -1 : l;
}

static int read_levels(json_t *o, struct table *t, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return bad(err, errlen, "levels: not an object");
	json_object_foreach(o, k, v) {
		int l = level_key(k);
		/* Distinct keys are distinct levels, so levels[] cannot overflow;
		 * the count is checked all the same. */
		if (l < 0 || t->nlevels >= sizeof(t->levels) / sizeof(t->levels[0]) || !json_is_string(v) ||
		    json_string_length(v) == 0 || json_string_length(v) > PDB_TAG_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, errlen, "levels: '%s' must be a level 0..255 with a short name", k);
		t->levels[t->nlevels].level = (uint8_t)l;
		t->levels[t->nlevels].name = json_string_value(v);
		t->nlevels++;
	}
	return 0;
}

int table_parse(const char *buf, size_t len, struct table *t, char *err, size_t errlen)
{
	static const char *const known[] = { "format", "zone", "serial", "made", "expires",
		                             "levels", "members", NULL };
	json_error_t je;
	json_t *root, *members, *v;
	json_int_t format, serial;
	const char *k;

	memset(t, 0, sizeof(*t));
	/* Duplicate keys are refused: a second entry for a member must not
	 * quietly replace the first. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return bad(err, errlen, "not a table: line %d column %d: %s", je.line, je.column,
		           je.text);
	t->json = root;
	if (!json_is_object(root))
		return bad(err, errlen, "not a table: the top level is not an object");
	/* The format first: a newer table is refused for that reason, not for
	 * a key this code does not know. */
	if (get_int(root, "format", "table", INT_MAX, &format, err, errlen))
		return -1;
	if (format != TABLE_FORMAT)
		return bad(err, errlen, "table format %lld is %s than this policyctl reads (%d)",
		           (long long)format, format > TABLE_FORMAT ? "newer" : "other", TABLE_FORMAT);
	if (keys_known(root, "table", known, err, errlen) ||
	    get_int(root, "serial", "table", (json_int_t)1 << 53, &serial, err, errlen))
		return -1;
	t->serial = (uint64_t)serial;
	if (!(t->zone = get_str(root, "zone")) || !is_normal_name(t->zone))
		return bad(err, errlen, "table: zone is not a domain name in normal form");
	if (!get_str(root, "made") || parse_instant(get_str(root, "made"), &t->made) ||
	    !get_str(root, "expires") || parse_instant(get_str(root, "expires"), &t->expires))
		return bad(err, errlen, "table: made and expires must be instants like "
		                        "2026-11-27T08:00:00Z");
	if (t->expires <= t->made)
		return bad(err, errlen, "table: it expires before it was made");
	if (read_levels(json_object_get(root, "levels"), t, err, errlen))
		return -1;
	members = json_object_get(root, "members");
	if (!json_is_object(members))
		return bad(err, errlen, "table: members is not an object");
	if (!(t->members = calloc(json_object_size(members) + 1, sizeof(*t->members))))
		return bad(err, errlen, "out of memory");
	json_object_foreach(members, k, v) {
		struct table_member *m = &t->members[t->nmembers++];
		if (read_member(k, v, m, err, errlen))
			return -1;
	}
	qsort(t->members, t->nmembers, sizeof(*t->members), member_cmp);
	return 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; t->members && i < t->nmembers; i++)
		free(t->members[i].tags);
	free(t->members);
	json_decref(t->json);
	memset(t, 0, sizeof(*t));
}

const struct table_member *table_find(const struct table *t, const char *name)
{
	struct table_member key = { .name = name };
	if (!t->nmembers)
		return NULL;
	return bsearch(&key, t->members, t->nmembers, sizeof(key), member_cmp);
}

/* ---- keys and signatures ---- */

static void ossl_err(char *err, size_t errlen, const char *what)
{
	char buf[256];
	snprintf(err, errlen, "%s: %s", what, ch_ssl_reason(buf, sizeof(buf), "unknown reason"));
}

static bool key_ok(EVP_PKEY *k)
{
	char group[64];
	size_t n;

	if (EVP_PKEY_is_a(k, "ED25519"))
		return true;
	return EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                      &n) == 1 &&
	       !strcmp(group, "prime256v1");
}

static FILE *create_new(const char *path, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	return f;
}

int table_keygen(enum table_key_type type, const char *priv, const char *pub, char *err,
                 size_t errlen)
{
	EVP_PKEY *k = type == TABLE_KEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                                        : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f = NULL;
	int rc = -1;

	if (!k) {
		ossl_err(err, errlen, "making the key");
		return -1;
	}
	if (!(f = create_new(priv, 0600, err, errlen)))
		goto out;
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0) {
		f = NULL;
		ossl_err(err, errlen, priv);
		goto out;
	}
	if (!(f = create_new(pub, 0644, err, errlen)))
		goto out;
	if (PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0) {
		f = NULL;
		ossl_err(err, errlen, pub);
		goto out;
	}
	f = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	return rc;
}

EVP_PKEY *table_load_key(const char *path, bool private_key, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		ossl_err(err, errlen, path);
		return NULL;
	}
	if (!key_ok(k)) {
		snprintf(err, errlen, "%s: not an Ed25519 or ECDSA P-256 key", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* Ed25519 signs the message itself; ECDSA signs its SHA-256. */
static const EVP_MD *md_for(EVP_PKEY *k)
{
	return EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256();
}

int table_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	*sig = NULL;
	if (ctx && EVP_DigestSignInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, siglen, msg, len) == 1 && (*sig = malloc(*siglen)) &&
	    EVP_DigestSign(ctx, *sig, siglen, msg, len) == 1)
		rc = 0;
	if (rc) {
		free(*sig);
		*sig = NULL;
	}
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

int table_verify(EVP_PKEY *key, const void *msg, size_t len, const unsigned char *sig,
                 size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	         EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* ---- files ---- */

int file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;

	*out = NULL;
	if (!f)
		return bad(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		fclose(f);
		return bad(err, errlen, "%s: not a regular file of at most %zu bytes", path, max);
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return bad(err, errlen, "%s: out of memory", path);
	}
	*len = fread(buf, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || *len > (size_t)st.st_size) {
		fclose(f);
		free(buf);
		return bad(err, errlen, "%s: changed while being read", path);
	}
	fclose(f);
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return bad(err, errlen, "%s: path too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return bad(err, errlen, "%s: %s", tmp, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	if (left > 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return bad(err, errlen, "%s: %s", tmp, strerror(e ? e : EIO));
	}
	/* A failed close has released the descriptor all the same (Linux):
	 * closing it again could close one another thread just opened. */
	if (close(fd) != 0) {
		int e = errno;
		unlink(tmp);
		return bad(err, errlen, "%s: %s", tmp, strerror(e ? e : EIO));
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return bad(err, errlen, "%s: %s", path, strerror(e));
	}
	/* The rename itself lasts only once the directory is on disk. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path + 1) : 1, slash ? path : ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
