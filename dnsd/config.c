/* dnsd's configuration file: YAML, the same settings as the command line.
 *
 *   db: /var/lib/clearinghouse
 *   zones: [fed.example.zone]      # relative to this file's directory
 *   listen: ["192.0.2.1:53", "[2001:db8::1]:53"]
 *   threads: 2
 *   cache-size: 64M                # each thread's answer cache
 *   tcp-max: 256
 *   tcp-idle-ms: 10000
 *   removed-grace-s: 604800
 *   metrics: 127.0.0.1:9153
 *   user: clearinghouse            # run as, after binding (started as root)
 *   group: clearinghouse
 *   tcp-io-ms: 500
 *   tcp-max-per-source: 16
 *   rrl: {rate: 20, slip: 2, exempt-queriers: false, exempt: "192.0.2.0/24"}
 *   nsid: "ns1"                    # or hex: 0x6e7331
 *   dnssec: {keys: keys, validity: 1209600, inception-offset: 3600,
 *            refresh: 432000, tlsa-cert: ch.pem}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "dnsd.h"

/* cfg_read() writes up to CFG_LIST_MAX strings into each list. */
_Static_assert(sizeof(((struct dnsd_config *)0)->zones) == CFG_LIST_MAX * sizeof(char *),
               "dnsd_config.zones must hold CFG_LIST_MAX entries");
_Static_assert(sizeof(((struct dnsd_config *)0)->listen) == CFG_LIST_MAX * sizeof(char *),
               "dnsd_config.listen must hold CFG_LIST_MAX entries");

int dnsd_config_grace(const char *s, unsigned *out, char *err, size_t errlen)
{
	if (!s || !out)
		return -EINVAL;
	/* 0 turns the grace off, which cfg_number, for counts, refuses. */
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (cfg_number("removed-grace-s", s, PDB_REMOVED_KEEP, out, err, errlen) != 0) {
		snprintf(err, errlen, "removed-grace-s takes seconds from 0 to %u, not '%s'",
		         (unsigned)PDB_REMOVED_KEEP, s);
		return -EINVAL;
	}
	return 0;
}

int dnsd_cache_size_parse(const char *s, size_t *out, char *err, size_t errlen)
{
	unsigned long long n;
	char *end;

	if (!s || !out)
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (end != s && *s != '-' && errno == 0) {
		int shift = !*end ? 0 : strcmp(end, "K") == 0 ? 10 : strcmp(end, "M") == 0 ? 20
		            : strcmp(end, "G") == 0 ? 30 : -1;
		if (shift >= 0 && n <= (DNSD_CACHE_SIZE_MAX >> shift) &&
		    (n << shift) >= DNSD_CACHE_SIZE_MIN) {
			*out = (size_t)(n << shift);
			return 0;
		}
	}
	snprintf(err, errlen, "cache-size takes bytes with an optional K, M or G, from 1M to 64G, "
	         "not '%s'", s);
	return -EINVAL;
}

/* In the order of the field indexes of dnsd.h (DNSD_KEY_NAME...). */
static const char *const key_fields[] = { "name", "algorithm", "secret", NULL };
static const char *const transfer_fields[] = { "key", "address", "view", NULL };
static const char *const notify_fields[] = { "address", "key", NULL };
/* Response rate limiting and the server's identity (NSID). */
static const char *const rrl_fields[] = { "rate", "slip", "exempt-queriers", "exempt", NULL };

static int config__rrl(const char *path, struct cfg_record *rec, struct dnsd_config *c, char *err,
                       size_t errlen)
{
	char why[160];

	if (!rec->line)
		return 0;
	if (!c->lim.rrl_set)
		dnsd_rrl_conf_default(&c->lim.rrl);
	if (dnsd_rrl_conf_parse(&c->lim.rrl, rec->v[0], rec->v[1], rec->v[2], rec->v[3], why,
	                        sizeof(why)) != 0) {
		snprintf(err, errlen, "%s:%zu:%zu: %s", path, rec->line, rec->column, why);
		return -EINVAL;
	}
	c->lim.rrl_set = true;
	return 0;
}

static int config__nsid(const char *path, const char *text, struct dnsd_config *c, char *err,
                        size_t errlen)
{
	char why[160];

	if (!text)
		return 0;
	if (dnsd_nsid_parse(text, c->nsid, &c->nsid_len, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -EINVAL;
	}
	return 0;
}

enum { DNSSEC_KEYS, DNSSEC_VALIDITY, DNSSEC_INCEPTION, DNSSEC_REFRESH, DNSSEC_TLSA_CERT,
       DNSSEC_TLSA_PIN };
static const char *const dnssec_fields[] = { "keys", "validity", "inception-offset", "refresh",
                                             "tlsa-cert", "tlsa-pin", NULL };

/* One number of the dnssec: mapping, lo..max seconds; unset: dflt. */
static int dnssec_number(const char *path, const struct cfg_record *r, int field, unsigned lo,
                         unsigned max, unsigned dflt, unsigned *out, char *err, size_t errlen)
{
	const char *s = r->v[field];
	char why[160];

	*out = dflt;
	if (!s)
		return 0;
	if (lo == 0 && strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (cfg_number(dnssec_fields[field], s, max, out, why, sizeof(why)) != 0 || *out < lo) {
		snprintf(err, errlen, "%s:%zu:%zu: dnssec: %s takes seconds from %u to %u, not '%s'",
		         path, r->line, r->column, dnssec_fields[field], lo, max, s);
		return DNSD_ECONFIG;
	}
	return 0;
}

/* The dnssec: mapping into d, checked: the signer relies on refresh <
 * validity, or it would re-sign on every look. */
static int dnssec_settings(const char *path, struct cfg_record *r, struct dnsd_dnssec_config *d,
                           char *err, size_t errlen)
{
	struct dnsd_dnssec_config n = { 0 };
	int rc;

	if (!r->v[DNSSEC_KEYS]) {
		snprintf(err, errlen, "%s:%zu:%zu: dnssec needs keys: the directory of the zones' "
		         "K*.key and K*.private files", path, r->line, r->column);
		return DNSD_ECONFIG;
	}
	if ((rc = dnssec_number(path, r, DNSSEC_VALIDITY, 2, DNSD_DNSSEC_VALIDITY_MAX,
	                        DNSD_DNSSEC_VALIDITY_DEFAULT, &n.validity, err, errlen)) ||
	    (rc = dnssec_number(path, r, DNSSEC_INCEPTION, 0, 604800, DNSD_DNSSEC_INCEPTION_DEFAULT,
	                        &n.inception_offset, err, errlen)) ||
	    (rc = dnssec_number(path, r, DNSSEC_REFRESH, 1, DNSD_DNSSEC_VALIDITY_MAX,
	                        DNSD_DNSSEC_REFRESH_DEFAULT, &n.refresh, err, errlen)))
		return rc;
	if (n.refresh >= n.validity) {
		snprintf(err, errlen, "%s:%zu:%zu: dnssec: refresh (%u) must be less than validity (%u)",
		         path, r->line, r->column, n.refresh, n.validity);
		return DNSD_ECONFIG;
	}
	if (!(n.keys = cfg_path(path, r->v[DNSSEC_KEYS])) ||
	    (r->v[DNSSEC_TLSA_CERT] && !(n.tlsa_cert = cfg_path(path, r->v[DNSSEC_TLSA_CERT]))) ||
	    (r->v[DNSSEC_TLSA_PIN] && !(n.tlsa_pin = strdup(r->v[DNSSEC_TLSA_PIN])))) {
		free(n.keys);
		free(n.tlsa_cert);
		return -ENOMEM;
	}
	free(d->keys);
	free(d->tlsa_cert);
	free(d->tlsa_pin);
	*d = n;
	return 0;
}

int dnsd_config_read(const char *path, struct dnsd_config *c, char *err, size_t errlen)
{
	char *grace = NULL, *nsid = NULL, *cache_size = NULL;
	struct cfg_record rrl = { 0 }, dnssec = { 0 };

	if (!path || !c)
		return -EINVAL;
	const struct cfg_key keys[] = {
		{ "db", CFG_PATH, &c->db, NULL, 0, NULL },
		{ "zones", CFG_PATH_LIST, c->zones, &c->nzones, 0, NULL },
		{ "listen", CFG_LIST, c->listen, &c->nlisten, 0, NULL },
		{ "threads", CFG_NUMBER, &c->threads, NULL, 256, NULL },
		{ "cache-size", CFG_STRING, &cache_size, NULL, 0, NULL },
		{ "tcp-max", CFG_NUMBER, &c->lim.tcp_max, NULL, 1000000, NULL },
		{ "tcp-idle-ms", CFG_NUMBER, &c->lim.tcp_idle_ms, NULL, 1000000, NULL },
		{ "removed-grace-s", CFG_STRING, &grace, NULL, 0, NULL },
		{ "keys", CFG_RECORDS, c->keys, &c->nkeys, 0, key_fields },
		{ "transfer", CFG_RECORDS, c->transfer, &c->ntransfer, 0, transfer_fields },
		{ "notify", CFG_RECORDS, c->notify, &c->nnotify, 0, notify_fields },
		{ "catalog", CFG_STRING, &c->catalog, NULL, 0, NULL },
		{ "journal-max", CFG_NUMBER, &c->journal_max, NULL, 1000000, NULL },
		{ "metrics", CFG_STRING, &c->metrics, NULL, 0, NULL },
		{ "user", CFG_STRING, &c->user, NULL, 0, NULL },
		{ "group", CFG_STRING, &c->group, NULL, 0, NULL },
		{ "tcp-io-ms", CFG_NUMBER, &c->lim.tcp_io_ms, NULL, 1000000, NULL },
		{ "tcp-max-per-source", CFG_NUMBER, &c->lim.tcp_max_per_source, NULL, 1000000, NULL },
		{ "rrl", CFG_RECORD, &rrl, NULL, 0, rrl_fields },
		{ "nsid", CFG_STRING, &nsid, NULL, 0, NULL },
		{ "dnssec", CFG_RECORD, &dnssec, NULL, 0, dnssec_fields },
	};
	int rc = cfg_read(path, keys, sizeof(keys) / sizeof(keys[0]), err, errlen);
	if (rc == 0 && grace) {
		char why[128];
		if (dnsd_config_grace(grace, &c->removed_grace_s, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", path, why);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && cache_size) {
		char why[128];
		if (dnsd_cache_size_parse(cache_size, &c->cache_size, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", path, why);
			rc = -EINVAL;
		}
	}
	if (rc == 0)
		rc = config__rrl(path, &rrl, c, err, errlen);
	if (rc == 0)
		rc = config__nsid(path, nsid, c, err, errlen);
	cfg_records_free(&rrl, 1);
	free(nsid);
	free(grace);
	free(cache_size);
	if (rc == 0 && dnssec.line)
		rc = dnssec_settings(path, &dnssec, &c->dnssec, err, errlen);
	cfg_records_free(&dnssec, 1);
	return rc == -EINVAL ? DNSD_ECONFIG : rc;
}

void dnsd_config_free(struct dnsd_config *c)
{
	if (!c)
		return;
	free(c->db);
	for (size_t i = 0; i < c->nzones; i++)
		free(c->zones[i]);
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	cfg_records_free(c->keys, c->nkeys);
	cfg_records_free(c->transfer, c->ntransfer);
	cfg_records_free(c->notify, c->nnotify);
	free(c->catalog);
	free(c->metrics);
	free(c->user);
	free(c->group);
	free(c->dnssec.keys);
	free(c->dnssec.tlsa_cert);
	free(c->dnssec.tlsa_pin);
	memset(c, 0, sizeof(*c));
}
