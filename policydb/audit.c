/* The audit log's chain: each entry linked to the one before by a hash,
 * keyed with an HMAC when the writer has the audit key, and a head that
 * names the last entry under the key, so that a cut tail shows.
 *
 *   entry hash  SHA-256(serial (u64 BE) | the stored entry)
 *   entry MAC   HMAC-SHA256(key, TAG_ENTRY | serial | the entry up to its
 *               MAC field)
 *   key id      the first 8 bytes of HMAC-SHA256(key, TAG_ID)
 *   head        key id (8) | first keyed serial (8) | last serial (8) |
 *               last entry's hash (32) | HMAC-SHA256(key, TAG_HEAD | the
 *               56 bytes before)
 *
 * HMAC rather than a signature: whoever writes must hold the secret either
 * way (a signing key is as much a forger's tool as an HMAC key), and the
 * people who write policy are those who check its log; a signature would
 * add only verification by someone who may not write, at the cost of a
 * key pair to manage.  The tags keep the three uses of the key apart. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"

#define HASH_LEN PDB_AUDIT_HASH_LEN
#define KEYID_LEN 8
#define HEAD_LEN (KEYID_LEN + 8 + 8 + HASH_LEN + HASH_LEN)
/* The largest entry: its texts, the user, SUDO_USER and the fixed fields. */
#define ENTRY_MAX (PDB__AUDIT_TEXT_MAX * 2 + PDB_TEXT_MAX * 2 + 256)

static const char TAG_ENTRY[] = "clearinghouse audit entry";
static const char TAG_HEAD[] = "clearinghouse audit head";
static const char TAG_ID[] = "clearinghouse audit key id";

struct part {
	const void *p;
	size_t n;
};

/* OpenSSL fails here only for want of memory. */
static int hmac_parts(const uint8_t *key, const struct part *parts, size_t nparts,
                      uint8_t out[HASH_LEN])
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t len = 0;
	int ok = ctx && EVP_MAC_init(ctx, key, PDB_AUDIT_KEY_LEN, params);

	for (size_t i = 0; ok && i < nparts; i++)
		ok = EVP_MAC_update(ctx, parts[i].p, parts[i].n);
	ok = ok && EVP_MAC_final(ctx, out, &len, HASH_LEN) && len == HASH_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -ENOMEM;
}

static int entry_hash(uint64_t serial, const void *rec, size_t len, uint8_t out[HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t s[8];
	unsigned n = 0;
	int ok;

	pdb__put_be64(s, serial);
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, s, 8) &&
	     EVP_DigestUpdate(ctx, rec, len) && EVP_DigestFinal_ex(ctx, out, &n) && n == HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -ENOMEM;
}

static int key_id(const uint8_t *key, uint8_t id[KEYID_LEN])
{
	struct part p = { TAG_ID, sizeof(TAG_ID) - 1 };
	uint8_t m[HASH_LEN];
	int rc = hmac_parts(key, &p, 1, m);

	memcpy(id, m, KEYID_LEN);
	return rc;
}

struct entry_mac {
	const uint8_t *key;
	uint64_t serial;
};

static int entry_mac(void *arg, const uint8_t *p, size_t n, uint8_t mac[HASH_LEN])
{
	const struct entry_mac *em = arg;
	uint8_t s[8];

	pdb__put_be64(s, em->serial);
	struct part parts[] = { { TAG_ENTRY, sizeof(TAG_ENTRY) - 1 }, { s, 8 }, { p, n } };
	return hmac_parts(em->key, parts, 3, mac);
}

/* ---- the head ---- */

struct head {
	uint8_t id[KEYID_LEN];
	uint64_t first, last;
	uint8_t hash[HASH_LEN];
	uint8_t mac[HASH_LEN];
};

static void head_pack(const struct head *h, uint8_t b[HEAD_LEN])
{
	memcpy(b, h->id, KEYID_LEN);
	pdb__put_be64(b + KEYID_LEN, h->first);
	pdb__put_be64(b + KEYID_LEN + 8, h->last);
	memcpy(b + KEYID_LEN + 16, h->hash, HASH_LEN);
	memcpy(b + KEYID_LEN + 16 + HASH_LEN, h->mac, HASH_LEN);
}

static int head_mac(const uint8_t *key, const struct head *h, uint8_t mac[HASH_LEN])
{
	uint8_t b[HEAD_LEN];

	head_pack(h, b);
	struct part parts[] = { { TAG_HEAD, sizeof(TAG_HEAD) - 1 }, { b, HEAD_LEN - HASH_LEN } };
	return hmac_parts(key, parts, 2, mac);
}

/* 1 with *h, 0 for a log without a head, PDB_ECORRUPT, an LMDB error. */
static int head_get(pdb_txn *t, struct head *h)
{
	MDB_val k = pdb__key(PDB__AUDIT_HEAD_KEY), v;
	const uint8_t *b;
	int rc = mdb_get(t->txn, t->db->meta, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return pdb__lmdb_err(rc);
	if (v.mv_size != HEAD_LEN)
		return PDB_ECORRUPT;
	b = v.mv_data;
	memcpy(h->id, b, KEYID_LEN);
	h->first = pdb__get_be64(b + KEYID_LEN);
	h->last = pdb__get_be64(b + KEYID_LEN + 8);
	memcpy(h->hash, b + KEYID_LEN + 16, HASH_LEN);
	memcpy(h->mac, b + KEYID_LEN + 16 + HASH_LEN, HASH_LEN);
	return 1;
}

int pdb_audit_keyed(pdb_txn *txn)
{
	struct head h;

	if (!txn)
		return -EINVAL;
	return head_get(txn, &h);
}

/* ---- the key ---- */

int pdb_audit_key_set(pdb_t *db, const uint8_t *key)
{
	if (!db)
		return -EINVAL;
	OPENSSL_cleanse(db->audit_key, sizeof(db->audit_key));
	db->has_audit_key = key != NULL;
	if (key)
		memcpy(db->audit_key, key, PDB_AUDIT_KEY_LEN);
	return 0;
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pdb_audit_key_read(const char *path, uint8_t key[PDB_AUDIT_KEY_LEN])
{
	char buf[2 * PDB_AUDIT_KEY_LEN + 8];
	struct stat st;
	ssize_t n = 0;
	size_t end;
	int fd, rc = 0;

	if (!path || !key)
		return -EINVAL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		rc = -EPERM;
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		rc = -errno;
	close(fd);
	if (rc != 0)
		return rc;
	end = (size_t)n;
	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' '))
		end--;
	if (end != 2 * PDB_AUDIT_KEY_LEN)
		rc = -EINVAL;
	for (size_t i = 0; rc == 0 && i < PDB_AUDIT_KEY_LEN; i++) {
		int hi = hex_digit(buf[2 * i]), lo = hex_digit(buf[2 * i + 1]);
		if (hi < 0 || lo < 0)
			rc = -EINVAL;
		else
			key[i] = (uint8_t)(hi << 4 | lo);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc != 0)
		OPENSSL_cleanse(key, PDB_AUDIT_KEY_LEN);
	return rc;
}

int pdb_audit_key_make(const char *path, uint8_t key[PDB_AUDIT_KEY_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char buf[2 * PDB_AUDIT_KEY_LEN + 1];
	int fd, rc = 0;

	if (!path || !key)
		return -EINVAL;
	if (RAND_bytes(key, PDB_AUDIT_KEY_LEN) != 1)
		return -EIO;
	for (size_t i = 0; i < PDB_AUDIT_KEY_LEN; i++) {
		buf[2 * i] = hex[key[i] >> 4];
		buf[2 * i + 1] = hex[key[i] & 15];
	}
	buf[sizeof(buf) - 1] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
	} else {
		/* 0640 whatever the umask: the group is who may write policy. */
		if (fchmod(fd, 0640) != 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		    fsync(fd) != 0)
			rc = errno ? -errno : -EIO;
		if (close(fd) != 0 && rc == 0)
			rc = -errno;
		if (rc != 0)
			unlink(path);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc != 0)
		OPENSSL_cleanse(key, PDB_AUDIT_KEY_LEN);
	return rc;
}

/* ---- appending ---- */

/* The login uid the kernel keeps for the session (set at login, kept
 * across sudo and su); 0 when the system keeps none. */
static int login_uid(uint32_t *uid)
{
	char buf[32];
	unsigned long v;
	char *end;
	ssize_t n;
	int fd = open("/proc/self/loginuid", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtoul(buf, &end, 10);
	/* (uid_t)-1: never set for this session. */
	if (end == buf || v >= 4294967295ul)
		return 0;
	*uid = (uint32_t)v;
	return 1;
}

/* The last entry's serial and hash; 0 with *have false for an empty log. */
static int last_entry(pdb_wtxn *w, bool *have, uint64_t *serial, uint8_t hash[HASH_LEN])
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*have = false;
	if ((rc = pdb__lmdb_err(mdb_cursor_open(w->t.txn, w->t.db->audit, &cur))) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return pdb__lmdb_err(rc);
	if (k.mv_size != 8)
		return PDB_ECORRUPT;
	*have = true;
	*serial = pdb__get_be64(k.mv_data);
	return entry_hash(*serial, v.mv_data, v.mv_size, hash);
}

int pdb__audit_append(pdb_wtxn *w, uint64_t serial, const char *command)
{
	pdb_t *db = w->t.db;
	uint8_t prev[HASH_LEN] = { 0 }, id[KEYID_LEN], key[8], hb[HEAD_LEN];
	uint8_t *rec = NULL;
	uint64_t last = 0;
	struct head h;
	struct pdb_audit e;
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	char user[64], broken[160] = "";
	size_t len, clen = strlen(command);
	bool have;
	int rc, keyed;

	if ((rc = last_entry(w, &have, &last, prev)) != 0 || (keyed = head_get(&w->t, &h)) < 0)
		return rc ? rc : keyed;
	if (db->has_audit_key && (rc = key_id(db->audit_key, id)) != 0)
		return rc;
	if (keyed && (!db->has_audit_key || memcmp(id, h.id, KEYID_LEN) != 0))
		return PDB_EAUDITKEY;
	/* A head that does not name the last entry: the tail was cut or the
	 * log rewritten.  The commit goes on (a revocation must never wait on
	 * the log), and says so in its own keyed entry, where verification
	 * finds it however the log is arranged afterwards. */
	if (keyed && (!have || h.last != last || memcmp(h.hash, prev, HASH_LEN) != 0))
		snprintf(broken, sizeof(broken), "the log's head named entry %llu, the log ended at "
		         "entry %llu", (unsigned long long)h.last, (unsigned long long)last);
	if (pw)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	else
		snprintf(user, sizeof(user), "uid %u", (unsigned)getuid());
	e = (struct pdb_audit){
		.time = w->now,
		.user = pdb_str_of(user),
		.command = { command, (uint16_t)(clen > PDB__AUDIT_TEXT_MAX ? PDB__AUDIT_TEXT_MAX : clen) },
		.change = { w->change, (uint16_t)w->change_len },
		.has_uid = true,
		.uid = (uint32_t)getuid(),
		.sudo_user = sudo ? (pdb_str){ sudo, (uint16_t)strnlen(sudo, PDB_TEXT_MAX) } : (pdb_str){ 0 },
		.prev = prev,
		.broken = broken[0] ? pdb_str_of(broken) : (pdb_str){ 0 },
	};
	e.has_loginuid = login_uid(&e.loginuid);
	if (!(rec = malloc(ENTRY_MAX)))
		return -ENOMEM;
	struct entry_mac em = { db->audit_key, serial };
	rc = pdb__audit_encode(&e, db->has_audit_key ? entry_mac : NULL, &em, rec, ENTRY_MAX, &len);
	pdb__put_be64(key, serial);
	/* APPEND: the log only grows, and a serial is never reused. */
	if (rc == 0) {
		MDB_val k = pdb__val(key, 8), v = pdb__val(rec, len);
		rc = pdb__lmdb_err(mdb_put(w->t.txn, db->audit, &k, &v, MDB_APPEND));
	}
	if (rc == 0 && db->has_audit_key) {
		memcpy(h.id, id, KEYID_LEN);
		h.first = keyed ? h.first : serial;
		h.last = serial;
		if ((rc = entry_hash(serial, rec, len, h.hash)) == 0 &&
		    (rc = head_mac(db->audit_key, &h, h.mac)) == 0) {
			MDB_val k = pdb__key(PDB__AUDIT_HEAD_KEY);
			MDB_val v = pdb__val(hb, HEAD_LEN);
			head_pack(&h, hb);
			rc = pdb__lmdb_err(mdb_put(w->t.txn, db->meta, &k, &v, 0));
		}
	}
	free(rec);
	return rc;
}

/* ---- verifying ---- */

struct check {
	const uint8_t *key;   /* NULL: links only */
	pdb_audit_problem_fn fn;
	void *arg;
	unsigned problems;
	struct pdb_audit_check *out;
	bool have;            /* an entry was walked */
	uint64_t serial;      /* the last one walked, */
	uint8_t hash[HASH_LEN];   /* and its hash */
};

static void problem(struct check *c, uint64_t serial, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct check *c, uint64_t serial, const char *fmt, ...)
{
	char what[320];
	va_list ap;

	c->problems++;
	if (!c->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->fn(c->arg, serial, what);
}

static const uint8_t zeros[HASH_LEN];

/* One entry's link, MAC and recorded break. */
static int check_entry(struct check *c, uint64_t serial, const MDB_val *v)
{
	struct pdb_audit_check *o = c->out;
	struct pdb_audit e;
	uint8_t h[HASH_LEN], m[HASH_LEN];
	size_t mac_at;
	int rc;

	if ((rc = entry_hash(serial, v->mv_data, v->mv_size, h)) != 0)
		return rc;
	if (c->have && serial != c->serial + 1)
		problem(c, serial, "entry %llu follows entry %llu: the entries between them are missing",
		        (unsigned long long)serial, (unsigned long long)c->serial);
	if (pdb__audit_decode(v->mv_data, v->mv_size, &e, &mac_at) != 0) {
		/* Bytes changed without the record's own check made again. */
		problem(c, serial, "entry %llu does not decode: its bytes were changed",
		        (unsigned long long)serial);
	} else {
		if (e.prev) {
			if (!o->chain_from)
				o->chain_from = serial;
			if (memcmp(e.prev, c->have ? c->hash : zeros, HASH_LEN) != 0)
				problem(c, serial, c->have ? "entry %llu does not link to entry %llu before it: "
				        "that one was rewritten, or entries were dropped or moved between them"
				        : "entry %llu links to an entry before it that is not in the log: "
				        "entries were dropped", (unsigned long long)serial,
				        (unsigned long long)c->serial);
		} else if (o->chain_from) {
			problem(c, serial, "entry %llu has no link, though entries before it have: it was "
			        "rewritten", (unsigned long long)serial);
		}
		if (e.mac) {
			if (!o->keyed_from)
				o->keyed_from = serial;
			struct entry_mac em = { c->key, serial };
			if (c->key && (rc = entry_mac(&em, v->mv_data, mac_at, m)) != 0)
				return rc;
			if (c->key && CRYPTO_memcmp(m, e.mac, HASH_LEN) != 0)
				problem(c, serial, "entry %llu fails its MAC: it was rewritten, or moved from "
				        "another serial", (unsigned long long)serial);
		} else if (o->keyed_from) {
			problem(c, serial, "entry %llu has no MAC, though entries before it have: it was "
			        "written without the key, or rewritten", (unsigned long long)serial);
		}
		if (e.broken.len)
			problem(c, serial, "when entry %llu was written, %.*s: entries after that were "
			        "dropped, or the log was rewritten", (unsigned long long)serial,
			        (int)e.broken.len, e.broken.p);
	}
	if (!c->have)
		o->first = serial;
	c->have = true;
	c->serial = serial;
	memcpy(c->hash, h, HASH_LEN);
	o->last = serial;
	o->entries++;
	return 0;
}

/* The head against the log as walked. */
static int check_head(struct check *c, const struct head *h)
{
	struct pdb_audit_check *o = c->out;
	uint8_t m[HASH_LEN];
	int rc;

	if (c->key) {
		if ((rc = head_mac(c->key, h, m)) != 0)
			return rc;
		if (CRYPTO_memcmp(m, h->mac, HASH_LEN) != 0) {
			problem(c, 0, "the log's head fails its MAC: it was rewritten");
			return 0;
		}
	}
	if (h->first != o->keyed_from)
		problem(c, h->first, "the head says the keyed entries begin at entry %llu, the log at "
		        "entry %llu: keyed entries were dropped or stripped of their MACs",
		        (unsigned long long)h->first, (unsigned long long)o->keyed_from);
	if (!c->have || h->last > c->serial)
		problem(c, h->last, "the log ends at entry %llu, but its head names entry %llu: the "
		        "entries after %llu were dropped", (unsigned long long)o->last,
		        (unsigned long long)h->last, (unsigned long long)o->last);
	else if (h->last < c->serial)
		problem(c, c->serial, "the head names entry %llu, but entries up to %llu follow it: they "
		        "were added without the key", (unsigned long long)h->last,
		        (unsigned long long)c->serial);
	else if (memcmp(h->hash, c->hash, HASH_LEN) != 0)
		problem(c, c->serial, "entry %llu is not the entry the head names: it was rewritten",
		        (unsigned long long)c->serial);
	return 0;
}

int pdb_audit_verify(pdb_txn *txn, const uint8_t *key, pdb_audit_problem_fn fn, void *arg,
                     struct pdb_audit_check *out)
{
	struct pdb_audit_check o = { 0 };
	struct check c = { .fn = fn, .arg = arg, .out = &o };
	struct head h;
	uint8_t id[KEYID_LEN];
	uint64_t serial;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, keyed;

	if (!txn)
		return -EINVAL;
	if ((keyed = head_get(txn, &h)) < 0)
		return keyed;
	o.keyed = keyed;
	if (key) {
		if ((rc = key_id(key, id)) != 0)
			return rc;
		if (keyed && memcmp(id, h.id, KEYID_LEN) != 0)
			return PDB_EAUDITKEY;
		c.key = key;
		o.macs_checked = keyed;
	}
	if ((rc = pdb__lmdb_err(mdb_cursor_open(txn->txn, txn->db->audit, &cur))) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		int r;
		if (k.mv_size != 8) {
			mdb_cursor_close(cur);
			return PDB_ECORRUPT;
		}
		if ((r = check_entry(&c, pdb__get_be64(k.mv_data), &v)) != 0) {
			mdb_cursor_close(cur);
			return r;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return pdb__lmdb_err(rc);
	if (keyed && (rc = check_head(&c, &h)) != 0)
		return rc;
	if (!keyed && o.keyed_from)
		problem(&c, o.keyed_from, "entries from %llu on are keyed, but the log has no head: it "
		        "was removed", (unsigned long long)o.keyed_from);
	else if (!keyed && key)
		problem(&c, 0, "a key was given, but no entry is keyed: the log was stripped of its "
		        "MACs, or never keyed (policyctl audit-key)");
	if ((rc = pdb_serial(txn, &serial)) == 0 && c.have && serial != c.serial)
		problem(&c, c.serial, "the log ends at entry %llu, but the store's serial is %llu",
		        (unsigned long long)c.serial, (unsigned long long)serial);
	if (out)
		*out = o;
	if (rc != 0 && rc != PDB_ENOTFOUND)
		return rc;
	return c.problems ? PDB_ETAMPERED : 0;
}
