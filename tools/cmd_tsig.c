/* policyctl tsig-keygen: a fresh TSIG key (RFC 8945) for zone transfers
 * and NOTIFY between dnsd and its secondaries, printed in the forms that
 * dnsd, Knot DNS, NSD and BIND read, so that both ends get the same. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "policyctl.h"

/* Each name goes unquoted into four configuration languages: it is kept
 * to letters, digits, '-' and '_' in dot-separated labels. */
static bool tsig_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		           (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int cmd_tsig_keygen(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *alg = "hmac-sha256", *name;
	/* The HMAC's own output size: RFC 2104 advises no shorter key. */
	unsigned char secret[64], b64[4 * sizeof(secret) / 3 + 4];
	size_t n = 32;
	int o;

	(void)c;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'a' && !strcmp(optarg, "hmac-sha256")) {
			alg = "hmac-sha256";
			n = 32;
		} else if (o == 'a' && !strcmp(optarg, "hmac-sha512")) {
			alg = "hmac-sha512";
			n = 64;
		} else {
			ctl_err("tsig-keygen: --algorithm is hmac-sha256 or hmac-sha512");
			return CTL_USAGE;
		}
	}
	if (ctl_nargs(argc, argv, optind, 1))
		return CTL_USAGE;
	name = argv[optind];
	if (!tsig_name_ok(name)) {
		ctl_err("tsig-keygen: '%s' is not a key name: labels of letters, digits, '-' and '_', "
		        "separated by dots, without a final dot", name);
		return CTL_USAGE;
	}
	if (RAND_bytes(secret, (int)n) != 1) {
		ctl_err("tsig-keygen: no random bytes from OpenSSL");
		return CTL_STORE;
	}
	EVP_EncodeBlock(b64, secret, (int)n);
	OPENSSL_cleanse(secret, sizeof(secret));
	printf("# dnsd (its YAML configuration)\n"
	       "keys:\n"
	       "  - {name: %s, algorithm: %s, secret: \"%s\"}\n"
	       "\n"
	       "# Knot DNS (knot.conf)\n"
	       "key:\n"
	       "  - id: %s\n"
	       "    algorithm: %s\n"
	       "    secret: %s\n"
	       "\n"
	       "# NSD (nsd.conf)\n"
	       "key:\n"
	       "    name: \"%s\"\n"
	       "    algorithm: %s\n"
	       "    secret: \"%s\"\n"
	       "\n"
	       "# BIND (named.conf)\n"
	       "key \"%s\" {\n"
	       "    algorithm %s;\n"
	       "    secret \"%s\";\n"
	       "};\n",
	       name, alg, b64, name, alg, b64, name, alg, b64, name, alg, b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	return CTL_OK;
}
