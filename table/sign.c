/* Keys and detached signatures of the policy table: Ed25519 (pure) or
 * ECDSA P-256 over SHA-256, PEM files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "internal.h"
#include "sslerr.h"

/* "what: OpenSSL's reason" into err; TABLE_ESSL. */
static int ossl_err(char *err, size_t errlen, const char *what)
{
	char buf[256];
	return table__say(TABLE_ESSL, err, errlen, "%s: %s", what,
	                  ch_ssl_reason(buf, sizeof(buf), "unknown reason"));
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

/* A stream on a file that did not exist yet; 0 or -errno. */
static int create_new(const char *path, mode_t mode, FILE **f, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	int rc;

	if (fd < 0) {
		rc = -errno;
		return table__say(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	if (!(*f = fdopen(fd, "w"))) {
		rc = -errno;
		close(fd);
		return table__say(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	return 0;
}

int table_keygen(enum table_key_type type, const char *priv, const char *pub, char *err,
                 size_t errlen)
{
	EVP_PKEY *k;
	FILE *f = NULL;
	int rc;

	if (!priv || !pub || !err)
		return -EINVAL;
	k = type == TABLE_KEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                              : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k)
		return ossl_err(err, errlen, "making the key");
	if ((rc = create_new(priv, 0600, &f, err, errlen)) != 0)
		goto out;
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0) {
		f = NULL;
		rc = ossl_err(err, errlen, priv);
		goto out;
	}
	f = NULL;
	if ((rc = create_new(pub, 0644, &f, err, errlen)) != 0)
		goto out;
	if (PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0) {
		f = NULL;
		rc = ossl_err(err, errlen, pub);
		goto out;
	}
	f = NULL;
out:
	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	return rc;
}

int table_load_key(const char *path, bool private_key, EVP_PKEY **key, char *err, size_t errlen)
{
	FILE *f;
	EVP_PKEY *k;
	int rc;

	if (!path || !key || !err)
		return -EINVAL;
	*key = NULL;
	if (!(f = fopen(path, "r"))) {
		rc = -errno;
		return table__say(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		return ossl_err(err, errlen, path);
	if (!key_ok(k)) {
		EVP_PKEY_free(k);
		return table__say(TABLE_EKEY, err, errlen, "%s: not an Ed25519 or ECDSA P-256 key", path);
	}
	*key = k;
	return 0;
}

/* Ed25519 signs the message itself; ECDSA signs its SHA-256. */
static const EVP_MD *md_for(EVP_PKEY *k)
{
	return EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256();
}

int table_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx;
	int rc = TABLE_ESSL;

	if (!key || (!msg && len) || !sig || !siglen)
		return -EINVAL;
	*sig = NULL;
	if (!(ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, siglen, msg, len) == 1) {
		if (!(*sig = malloc(*siglen)))
			rc = -ENOMEM;
		else if (EVP_DigestSign(ctx, *sig, siglen, msg, len) == 1)
			rc = 0;
	}
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
	EVP_MD_CTX *ctx;
	int ok;

	if (!key || (!msg && len) || (!sig && siglen))
		return -EINVAL;
	if (!(ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, md_for(key), NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : TABLE_EBADSIG;
}
