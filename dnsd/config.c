/* dnsd's configuration file: YAML, the same settings as the command line.
 *
 *   db: /var/lib/clearinghouse
 *   zones: [fed.example.zone]      # relative to this file's directory
 *   listen: ["192.0.2.1:53", "[2001:db8::1]:53"]
 *   threads: 2
 *   tcp-max: 256
 *   tcp-idle-ms: 10000
 *   removed-grace-s: 604800
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

/* In the order of the field indexes of dnsd.h (DNSD_KEY_NAME...). */
static const char *const key_fields[] = { "name", "algorithm", "secret", NULL };
static const char *const transfer_fields[] = { "key", "address", "view", NULL };
static const char *const notify_fields[] = { "address", "key", NULL };
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
	char *grace = NULL;
	struct cfg_record dnssec = { 0 };

	if (!path || !c)
		return -EINVAL;
	const struct cfg_key keys[] = {
		{ "db", CFG_PATH, &c->db, NULL, 0, NULL },
		{ "zones", CFG_PATH_LIST, c->zones, &c->nzones, 0, NULL },
		{ "listen", CFG_LIST, c->listen, &c->nlisten, 0, NULL },
		{ "threads", CFG_NUMBER, &c->threads, NULL, 256, NULL },
		{ "tcp-max", CFG_NUMBER, &c->lim.tcp_max, NULL, 1000000, NULL },
		{ "tcp-idle-ms", CFG_NUMBER, &c->lim.tcp_idle_ms, NULL, 1000000, NULL },
		{ "removed-grace-s", CFG_STRING, &grace, NULL, 0, NULL },
		{ "keys", CFG_RECORDS, c->keys, &c->nkeys, 0, key_fields },
		{ "transfer", CFG_RECORDS, c->transfer, &c->ntransfer, 0, transfer_fields },
		{ "notify", CFG_RECORDS, c->notify, &c->nnotify, 0, notify_fields },
		{ "catalog", CFG_STRING, &c->catalog, NULL, 0, NULL },
		{ "journal-max", CFG_NUMBER, &c->journal_max, NULL, 1000000, NULL },
		{ "dnssec", CFG_MAPPING, &dnssec, NULL, 0, dnssec_fields },
	};
	int rc = cfg_read(path, keys, sizeof(keys) / sizeof(keys[0]), err, errlen);
	if (rc == 0 && grace) {
		char why[128];
		if (dnsd_config_grace(grace, &c->removed_grace_s, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", path, why);
			rc = -EINVAL;
		}
	}
	free(grace);
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
	free(c->dnssec.keys);
	free(c->dnssec.tlsa_cert);
	free(c->dnssec.tlsa_pin);
	memset(c, 0, sizeof(*c));
}
