/* The policy table of the "policy push" model: every member's level, tags
 * and status, the named levels, the serial, when it was made and until
 * when it holds, as JSON, signed (detached) with Ed25519 or ECDSA P-256.
 * Members' own servers verify it and turn it into their allow-lists. */
#ifndef TABLE_H
#define TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "policydb.h"

/* Errors: functions return 0, a negative errno (-ENOENT, -EACCES, -ENOMEM,
 * -EINVAL for a NULL argument, ...), a policydb code passed through, or a
 * code of this library's range, TABLE_E_FIRST down to TABLE_E_LAST (below
 * every other range, see policydb.h and policyfile.h).  Those that take an
 * err buffer also write a sentence into it on every error: which file,
 * which field, or OpenSSL's reason, which no number carries. */
#define TABLE_E_FIRST (-5001)
#define TABLE_E_LAST  (-5999)

enum {
	TABLE_EINVALID = TABLE_E_FIRST,  /* not a table this code accepts (err: which rule) */
	TABLE_EKEY     = -5002,          /* a key that is not Ed25519 or ECDSA P-256 */
	TABLE_ESSL     = -5003,          /* OpenSSL failed (err: its reason) */
	TABLE_EBADSIG  = -5004,          /* the signature does not match */
};

/** One sentence for any error of this library: its own codes, a negative
 * errno, policydb's codes; "unknown error" for anything else.  Never
 * NULL. */
const char *table_strerror(int err);

#define TABLE_FORMAT 1               /* the format this code writes and reads */
#define TABLE_MAX (512u << 20)       /* a bigger file is refused unread */
#define TABLE_SIG_MAX 512

struct table_member {
	const char *name;                /* normalised; points into the parsed JSON */
	uint8_t level;
	enum pdb_status status;
	int64_t not_after;               /* as in pdb_member: 0 = no end */
	size_t ntags;
	const char **tags;               /* normalised */
};

struct table {
	const char *zone;
	uint64_t serial;
	int64_t made, expires;           /* Unix time; valid while now < expires */
	size_t nlevels;
	struct { uint8_t level; const char *name; } levels[256];
	size_t nmembers;
	struct table_member *members;    /* sorted by name */
	void *json;                      /* owns the strings */
};

/** Make the table's JSON from a store snapshot, made at now and valid for
 * valid seconds.  *out is malloc()ed, *len its length.  Returns 0 or a
 * policydb error (or -ENOMEM). */
int table_build(pdb_txn *txn, int64_t now, int64_t valid, char **out, size_t *len);

/** Parse and check a table: everything above is validated, names and tags
 * must be in their normal form, members unique, the format not newer than
 * TABLE_FORMAT.  Returns 0, TABLE_EINVALID or -ENOMEM, with the reason in
 * err.  t's strings live in its parsed JSON: table_free() either way. */
int table_parse(const char *buf, size_t len, struct table *t, char *err, size_t errlen);
void table_free(struct table *t);

/** Find a member (binary search); NULL if absent. */
const struct table_member *table_find(const struct table *t, const char *name);

/* ---- keys and signatures ---- */

enum table_key_type { TABLE_KEY_ED25519, TABLE_KEY_P256 };

/** Make a key pair; write the private key to priv (PEM, mode 0600) and the
 * public key to pub (PEM), neither of which may exist yet.  Returns 0, a
 * negative errno from creating a file (-EEXIST, -EACCES, ...) or
 * TABLE_ESSL, with the reason in err. */
int table_keygen(enum table_key_type type, const char *priv, const char *pub, char *err,
                 size_t errlen);

/** Load a private or public key (PEM), Ed25519 or P-256 only, into *key
 * (the caller frees it with EVP_PKEY_free; NULL on error).  Returns 0, a
 * negative errno from opening the file, TABLE_ESSL (not PEM, not that kind
 * of key) or TABLE_EKEY (another algorithm), with the reason in err. */
int table_load_key(const char *path, bool private_key, EVP_PKEY **key, char *err, size_t errlen);

/** Sign msg: Ed25519 (pure), or ECDSA P-256 over SHA-256 (DER).  The
 * signature is malloc()ed, the caller frees it.  Returns 0, TABLE_ESSL or
 * -ENOMEM (*sig NULL then). */
int table_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char **sig, size_t *siglen);

/** 0 if sig is key's signature of msg, else TABLE_EBADSIG (or -ENOMEM). */
int table_verify(EVP_PKEY *key, const void *msg, size_t len, const unsigned char *sig,
                 size_t siglen);

/* ---- files ---- */

/** Read a whole file of at most max bytes into a malloc()ed buffer (NUL
 * after its len bytes; the caller frees it).  Returns 0, or with the
 * reason in err: a negative errno from opening it, -EFBIG (larger than
 * max), -EINVAL (not a regular file), -ENOMEM, -EIO (it grew while being
 * read). */
int table_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                    size_t errlen);

/** Write a file so that a reader sees the old content or the new, never a
 * part: a temporary file in the same directory, fsync, rename.  Returns 0,
 * or a negative errno (-ENAMETOOLONG, -EACCES, -ENOSPC, -EIO, ...) with
 * the reason in err; the old file is then untouched. */
int table_file_write_atomic(const char *path, const void *data, size_t len, char *err,
                            size_t errlen);

#endif
